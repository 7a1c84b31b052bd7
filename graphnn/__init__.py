"""graphnn: the Keras user experience (1.2.2 and 2.x spellings) on graphnn's own compiler.

Importing the package stays cheap: submodules (``backend``, ``layers``, ``models`` ...) are imported
on first use so ``import graphnn`` never pulls in a device toolchain.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("activations", "backend", "callbacks", "constraints", "datasets", "engine",
               "initializations", "initializers", "layers", "losses", "metrics", "models",
               "objectives", "optimizers", "preprocessing", "regularizers", "utils",
               "wrappers")


def __getattr__(name: str):
    """Lazy submodule access (``graphnn.layers`` works without an explicit import)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'graphnn' has no attribute {name!r}")
