"""The on-disk cache of compiled programs (shared libraries), keyed by a hash of the generated
code, the target and the compiler versions.  Entries are written atomically; an entry that fails
to load is deleted and rebuilt, never trusted."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable


def cache_dir() -> Path:
    d = os.environ.get("GRAPHNN_CACHE_DIR")
    p = Path(d) if d else Path.home() / ".cache" / "graphnn"
    p.mkdir(parents=True, exist_ok=True)
    return p


def key_of(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def cached_library(key: str, build: Callable[[str], None], load: Callable[[str], object],
                   suffix: str = ".so"):
    """Return ``(load(path), hit)``; on a miss (or a damaged entry) ``build(path)`` writes it."""
    path = str(cache_dir() / f"{key}{suffix}")
    if os.path.exists(path):
        try:
            return load(path), True
        except OSError:
            try:
                os.unlink(path)  # damaged: rebuild
            except OSError:
                pass
    build(path)
    return load(path), False
