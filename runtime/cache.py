"""The on-disk cache of compiled programs (shared libraries), keyed by a hash of the generated
code, the target and the compiler versions.

Each entry is the library plus a sidecar with its SHA-256, both written atomically (temp file +
rename).  An entry whose digest does not match, or that fails to load, is deleted and rebuilt:
a damaged entry is never trusted.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
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


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".graphnn-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _intact(path: str) -> bool:
    try:
        with open(path + ".sha256") as f:
            return f.read().strip() == _digest(path)
    except OSError:
        return False


def _discard(path: str) -> None:
    for p in (path, path + ".sha256"):
        try:
            os.unlink(p)
        except OSError:
            pass


def cached_library(key: str, build: Callable[[str], None], load: Callable[[str], object],
                   suffix: str = ".so"):
    """Return ``(load(path), hit)``; on a miss or a damaged entry ``build(path)`` writes it."""
    path = str(cache_dir() / f"{key}{suffix}")
    if os.path.exists(path):
        if _intact(path):
            try:
                return load(path), True
            except OSError:
                pass
        _discard(path)
    build(path)
    atomic_write(path + ".sha256", _digest(path).encode())
    return load(path), False
