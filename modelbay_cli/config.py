"""Where the site URL and the API key come from: `--url`/`--key`, then `MODELBAY_URL` /
`MODELBAY_API_KEY`, then the file `modelbay login` wrote
(`$XDG_CONFIG_HOME/modelbay/config.toml`, else `~/.config/modelbay/config.toml`).

The file holds a secret, so it is created 0600 in a 0700 directory (never readable by others, not
even for an instant: it is written under a temporary name with those permissions and renamed).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from modelbay_cli.errors import CliError, Exit

DEFAULT_URL = "http://127.0.0.1:8000"  # what `make run` serves


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "modelbay" / "config.toml"


@dataclass(frozen=True)
class Settings:
    url: str
    api_key: str | None

    def require_key(self) -> str:
        if not self.api_key:
            raise CliError("No API key: run `modelbay login`, set MODELBAY_API_KEY or pass --key.",
                           exit_code=Exit.AUTH, code="no_api_key")
        return self.api_key


def read_config(path: Path | None = None) -> dict[str, str]:
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror}.", exit_code=Exit.BAD_INPUT) from exc
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        print(f"warning: {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`.",
              file=sys.stderr)
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not valid TOML ({exc}); fix it or run `modelbay login` again.",
                       exit_code=Exit.BAD_INPUT) from exc
    return {k: v for k, v in data.items() if k in ("url", "api_key") and isinstance(v, str)}


def write_config(values: dict[str, str], path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # json.dumps of a str is a valid TOML basic string (same escapes, \uXXXX included).
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")  # created 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def resolve(url: str | None, key: str | None) -> Settings:
    stored = read_config()
    return Settings(
        url=(url or os.environ.get("MODELBAY_URL") or stored.get("url") or DEFAULT_URL).rstrip("/"),
        api_key=key or os.environ.get("MODELBAY_API_KEY") or stored.get("api_key") or None,
    )
