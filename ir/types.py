"""Tensor types with symbolic dimensions.

A dimension is an ``int`` or a ``str`` naming a symbol (``"N"`` for the batch).  One compiled program
serves every value of its symbols; generated kernels receive symbol values as arguments.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple, Union

import numpy as np

Dim = Union[int, str]
Shape = Tuple[Dim, ...]

DTYPES = ("float32", "float64", "int32", "int64", "uint32", "bool")
FLOAT_DTYPES = ("float32", "float64")


def normalize_dtype(dtype) -> str:
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"graphnn does not support dtype {name!r} (supported: {', '.join(DTYPES)})")
    return name


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


@dataclass(frozen=True)
class TensorType:
    shape: Shape
    dtype: str

    def __post_init__(self):
        for d in self.shape:
            if not (isinstance(d, str) or (isinstance(d, (int, np.integer)) and d >= 0)):
                raise ValueError(f"bad dimension {d!r} in shape {self.shape}")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(str(d) for d in self.shape)}]"


def symbols_of(shape: Shape) -> set:
    return {d for d in shape if isinstance(d, str)}


def concrete(shape: Shape, env: Dict[str, int]) -> Tuple[int, ...]:
    """Substitute symbol values."""
    try:
        return tuple(env[d] if isinstance(d, str) else int(d) for d in shape)
    except KeyError as e:
        raise ValueError(f"no value for symbol {e.args[0]!r} of shape {shape}") from None


def show_shape(shape: Shape) -> str:
    """Keras-style shape text: the symbol of a free dimension prints as ``None``."""
    parts = ["None" if isinstance(d, str) else str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


class Product:
    """A symbolic product of dimensions: ``coef * sym1 * sym2 ...`` (for element counts)."""

    def __init__(self, dims=()):
        self.coef = 1
        self.syms = []
        for d in dims:
            if isinstance(d, str):
                self.syms.append(d)
            else:
                self.coef *= int(d)
        self.syms.sort()

    def key(self):
        return (self.coef, tuple(self.syms))

    def __eq__(self, other):
        return isinstance(other, Product) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def evaluate(self, env) -> int:
        v = self.coef
        for s in self.syms:
            v *= env[s]
        return v


def same_dim(a: Dim, b: Dim) -> bool:
    return a == b


def broadcast_shapes(a: Shape, b: Shape) -> Shape:
    """numpy broadcasting over symbolic shapes (ranks aligned on the right)."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError(f"shapes {show_shape(a)} and {show_shape(b)} cannot be broadcast together")
    return tuple(out)
