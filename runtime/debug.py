"""``GRAPHNN_DEBUG`` levels: 1 logs each compilation as one stderr line beginning
``graphnn: compiled``; 2 adds the graph after each pass; 3 the generated LLVM IR / CUDA C with
comments naming each kernel's source layer and ops; 4 the assembly."""
from __future__ import annotations

import os
import sys


def level() -> int:
    try:
        return int(os.environ.get("GRAPHNN_DEBUG", "0") or 0)
    except ValueError:
        return 1


def log(msg: str) -> None:
    print(f"graphnn: {msg}", file=sys.stderr, flush=True)


def dump(title: str, text: str) -> None:
    print(f"graphnn: ---- {title} ----\n{text}", file=sys.stderr, flush=True)
