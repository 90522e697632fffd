"""The random-weight causal language models of marketplace/demo_lm.py, as the tests use them:

    folder = build_causal_lm("llama", tmp_path)              # a Hugging Face folder
    archive = zip_folder(folder, tmp_path / "llama.zip")     # what a vendor uploads
    archive = cached_causal_lm_zip("qwen2", sharded=True)    # built once per test session
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from marketplace.demo_lm import BOS, EOS, FAMILIES, build_causal_lm, zip_folder

__all__ = ["BOS", "EOS", "FAMILIES", "build_causal_lm", "cached_causal_lm_zip", "zip_folder"]

_CACHE: dict[tuple[str, bool], Path] = {}


def cached_causal_lm_zip(family: str, *, sharded: bool = False) -> Path:
    """The zip of ``build_causal_lm(family)``, built once per process (the build is deterministic)."""
    key = (family, sharded)
    if key not in _CACHE or not _CACHE[key].exists():
        root = Path(tempfile.mkdtemp(prefix="mb-llm-fixture-"))
        atexit.register(shutil.rmtree, root, True)
        folder = build_causal_lm(family, root, sharded=sharded)
        _CACHE[key] = zip_folder(folder, root / f"{folder.name}.zip")
    return _CACHE[key]
