"""Reductions over a set of axes (the reduced axes are removed; ``ir.builder`` adds keepdims)."""
from __future__ import annotations

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..types import TensorType
from .elementwise import _sample_array


def _norm_axes(axes, ndim):
    axes = tuple(sorted({a % ndim for a in axes}))
    return axes


def _reduce_infer(name):
    def infer(types, attrs):
        (t,) = types
        axes = attrs["axes"]
        if any(not (0 <= a < t.ndim) for a in axes) or tuple(sorted(set(axes))) != tuple(axes):
            raise ValueError(f"{name}: axes {axes} invalid for rank {t.ndim} (normalize them)")
        if name == "argmax":
            if len(axes) != 1:
                raise ValueError("argmax reduces exactly one axis")
            dtype = "int32"
        else:
            dtype = t.dtype
        if name != "sum" and any(t.shape[a] == 0 for a in axes):
            raise ValueError(f"{name} of an empty axis")
        return TensorType(tuple(d for i, d in enumerate(t.shape) if i not in axes), dtype)
    return infer


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _sum_vjp(ins, out, g, attrs):
    x = ins[0]
    return [b.broadcast_to(b.reshape(g, _kept_shape(x.shape, attrs["axes"])), x.shape)]


def _max_vjp(ins, out, g, attrs):
    x = ins[0]
    kept = _kept_shape(x.shape, attrs["axes"])
    mask = b.cast(b.equal(x, b.broadcast_to(b.reshape(out, kept), x.shape)), x.dtype)
    count = b.reshape(b.apply("sum", [mask], axes=attrs["axes"]), kept)
    share = b.div(b.reshape(g, kept), count)
    return [b.mul(mask, b.broadcast_to(share, x.shape))]


def _sample(rng, dtype="float32"):
    return [_sample_array(rng, (3, 37, 5), dtype, "any")], {"axes": (1,)}


def _sample_all(rng, dtype="float32"):
    return [_sample_array(rng, (3, 37, 5), dtype, "any")], {"axes": (0, 2)}


register(OpDef("sum", _reduce_infer("sum"),
               lambda a, at, env: np.sum(a[0], axis=at["axes"]).astype(a[0].dtype),
               _sum_vjp, "reduction", sample=_sample_all))
register(OpDef("max", _reduce_infer("max"),
               lambda a, at, env: np.max(a[0], axis=at["axes"]), _max_vjp, "reduction",
               sample=_sample))
register(OpDef("min", _reduce_infer("min"),
               lambda a, at, env: np.min(a[0], axis=at["axes"]), _max_vjp, "reduction",
               sample=_sample))
register(OpDef("argmax", _reduce_infer("argmax"),
               lambda a, at, env: np.argmax(a[0], axis=at["axes"][0]).astype(np.int32), None,
               "reduction", sample=_sample))
