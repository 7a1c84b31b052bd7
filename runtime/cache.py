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
from typing import Callable, Optional


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


def _entry_path(key: str, suffix: str, subdir: str = "") -> Path:
    d = cache_dir() / subdir if subdir else cache_dir()
    if subdir:
        d.mkdir(parents=True, exist_ok=True)
    return d / f"{key}{suffix}"


def cached_path(key: str, suffix: str, subdir: str = "") -> Optional[str]:
    """The path of the intact entry ``key`` (a file checked against its SHA-256 sidecar), or
    None.  A missing or damaged entry is left for :func:`store` to replace (not deleted here, so
    a writer that has not written its sidecar yet is not disturbed)."""
    path = str(_entry_path(key, suffix, subdir))
    return path if os.path.exists(path) and _intact(path) else None


def store(key: str, data: bytes, suffix: str, subdir: str = "") -> str:
    """Write entry ``key`` and its sidecar atomically; return its path."""
    path = str(_entry_path(key, suffix, subdir))
    atomic_write(path, data)
    atomic_write(path + ".sha256", hashlib.sha256(data).hexdigest().encode())
    return path
