"""``gather`` rows of a table by integer indices, and its adjoint ``scatter_add``.
Indices are clamped into range (a bad index never reads or writes out of bounds)."""
from __future__ import annotations

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..types import TensorType, concrete
from .elementwise import _sample_array


def _gather_infer(types, attrs):
    table, idx = types
    if idx.dtype not in ("int32", "int64"):
        raise ValueError(f"gather indices must be integers, got {idx.dtype}")
    if table.ndim < 1:
        raise ValueError("gather needs a table of rank >= 1")
    return TensorType(tuple(idx.shape) + tuple(table.shape[1:]), table.dtype)


def _gather_ref(args, attrs, env):
    table, idx = args
    return table[np.clip(idx, 0, table.shape[0] - 1)]


def _gather_vjp(ins, out, g, attrs):
    table, idx = ins
    return [b.apply("scatter_add", [idx, g], shape=table.shape), None]


register(OpDef("gather", _gather_infer, _gather_ref, _gather_vjp, "movement",
               sample=lambda rng, dtype="float32": (
                   [_sample_array(rng, (11, 7), dtype, "any"),
                    rng.integers(0, 11, size=(3, 5)).astype(np.int32)], {})))


def _scatter_infer(types, attrs):
    idx, upd = types
    shape = tuple(attrs["shape"])
    if tuple(upd.shape) != tuple(idx.shape) + shape[1:]:
        raise ValueError(f"scatter_add: updates {upd} do not match indices {idx} and rows {shape}")
    return TensorType(shape, upd.dtype)


def _scatter_ref(args, attrs, env):
    idx, upd = args
    shape = concrete(attrs["shape"], env)
    out = np.zeros(shape, upd.dtype)
    np.add.at(out, np.clip(idx, 0, shape[0] - 1), upd)
    return out


register(OpDef("scatter_add", _scatter_infer, _scatter_ref,
               lambda ins, out, g, at: [None, b.apply("gather", [g, ins[0]])], "opaque",
               sample=lambda rng, dtype="float32": (
                   [rng.integers(0, 11, size=(3, 5)).astype(np.int32),
                    _sample_array(rng, (3, 5, 7), dtype, "any")], {"shape": (11, 7)})))
