"""Finding Keras-format dataset files locally (graphnn downloads nothing)."""
from __future__ import annotations

import os
from typing import List


def search_dirs() -> List[str]:
    """``$GRAPHNN_DATA`` (if set), then Keras's cache ``~/.keras/datasets``."""
    dirs = []
    if os.environ.get("GRAPHNN_DATA"):
        dirs.append(os.environ["GRAPHNN_DATA"])
    dirs.append(os.path.join(os.path.expanduser("~"), ".keras", "datasets"))
    return dirs


def find_file(path: str, what: str) -> str:
    """``path`` itself if it exists, else ``path`` inside each search directory; a clear error
    naming the file and every place looked at otherwise."""
    candidates = [path] if os.path.isabs(path) or os.path.exists(path) else []
    candidates += [os.path.join(d, path) for d in search_dirs() if not os.path.isabs(path)]
    for c in candidates:
        if os.path.exists(c):
            return c
    looked = candidates or [path]
    raise FileNotFoundError(
        "The " + what + " dataset file " + repr(path) + " was not found. Looked in: " +
        ", ".join(repr(c) for c in looked) + ". graphnn cannot download it: copy the file "
        "Keras downloads (the same name) into one of those places, set $GRAPHNN_DATA to its "
        "directory, or pass its path.")
