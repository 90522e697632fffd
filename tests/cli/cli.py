"""Running the installed `modelbay` console script as a user would: a real process, its own config
directory, the site URL and key from its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MODELBAY = Path(sys.executable).parent / "modelbay"  # put there by `make install` ([project.scripts])


def cli_env(home: Path, url: str, key: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), MODELBAY_URL=url, COLUMNS="200", **extra)
    if key is not None:
        env["MODELBAY_API_KEY"] = key
    return env


def modelbay(*args: str, env: dict[str, str], timeout: float = 120, stdin: str | None = None,
             ) -> subprocess.CompletedProcess:
    return subprocess.run([str(MODELBAY), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          input=stdin)


def start(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([str(MODELBAY), *args], env=env, stdout=out, stderr=subprocess.STDOUT)
