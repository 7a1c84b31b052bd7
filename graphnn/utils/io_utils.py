"""Atomic file writes: a save, a checkpoint or a CSV log is written to a temporary file in the
target's directory, flushed to disk and renamed over the target, so a crash in the middle leaves
the previous file intact (``os.replace`` is atomic within one file system)."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    try:
        _fsync_path(directory)
    except OSError:  # some file systems (and Windows) cannot open directories
        pass


@contextlib.contextmanager
def atomic_write_path(filepath: str) -> Iterator[str]:
    """Yields a temporary path next to ``filepath``; when the block ends without an error the
    temporary file is synced and renamed to ``filepath``, otherwise it is removed."""
    filepath = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(filepath) + ".", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


@contextlib.contextmanager
def atomic_open(filepath: str, mode: str = "w", **kwargs) -> Iterator:
    """``open`` for writing through :func:`atomic_write_path`; mode 'a' starts from a copy of
    the existing file, so appending is atomic too."""
    with atomic_write_path(filepath) as tmp:
        if "a" in mode and os.path.exists(filepath):
            with open(filepath, "rb") as src, open(tmp, "wb") as dst:
                dst.write(src.read())
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def ask_to_proceed_with_overwrite(filepath: str) -> bool:
    """Keras's prompt before overwriting a file when ``overwrite=False``."""
    answer = input("[WARNING] %s already exists - overwrite? [y/n]" % filepath).strip().lower()
    while answer not in ("y", "n"):
        answer = input('Enter "y" (overwrite) or "n" (cancel).').strip().lower()
    if answer == "n":
        return False
    print("[TIP] Next time specify overwrite=True!")
    return True
