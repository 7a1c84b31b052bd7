"""Movement primitives: reshape, transpose, broadcast, slice, pad, concat.

They move data without arithmetic, so the fusion pass inlines them into their consumers as index
arithmetic (``codegen.lower``) instead of materializing copies.
"""
from __future__ import annotations

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..types import Product, TensorType, concrete, show_shape
from .elementwise import _sample_array


# --- reshape -----------------------------------------------------------------------------------
def _reshape_infer(types, attrs):
    (t,) = types
    shape = tuple(attrs["shape"])
    if Product(t.shape) != Product(shape):
        raise ValueError(f"cannot reshape {show_shape(t.shape)} to {show_shape(shape)}")
    return TensorType(shape, t.dtype)


register(OpDef("reshape", _reshape_infer,
               lambda a, at, env: a[0].reshape(concrete(at["shape"], env)),
               lambda ins, out, g, at: [b.reshape(g, ins[0].shape)], "movement",
               sample=lambda rng, dtype="float32": ([_sample_array(rng, (6, 35), dtype, "any")],
                                                    {"shape": (5, 3, 14)})))


# --- transpose ---------------------------------------------------------------------------------
def _transpose_infer(types, attrs):
    (t,) = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(t.ndim)):
        raise ValueError(f"transpose: {perm} is not a permutation of rank {t.ndim}")
    return TensorType(tuple(t.shape[p] for p in perm), t.dtype)


def _transpose_vjp(ins, out, g, at):
    inv = tuple(int(i) for i in np.argsort(at["perm"]))
    return [b.transpose(g, inv)]


register(OpDef("transpose", _transpose_infer,
               lambda a, at, env: np.ascontiguousarray(np.transpose(a[0], at["perm"])),
               _transpose_vjp, "movement",
               sample=lambda rng, dtype="float32": ([_sample_array(rng, (3, 5, 17), dtype, "any")],
                                                    {"perm": (2, 0, 1)})))


# --- broadcast ---------------------------------------------------------------------------------
def _broadcast_infer(types, attrs):
    (t,) = types
    shape = tuple(attrs["shape"])
    if len(shape) != t.ndim or any(d != s and d != 1 for d, s in zip(t.shape, shape)):
        raise ValueError(f"cannot broadcast {show_shape(t.shape)} to {show_shape(shape)} "
                         "(ranks must match and each dimension be equal or 1)")
    return TensorType(shape, t.dtype)


def _broadcast_vjp(ins, out, g, at):
    x = ins[0]
    axes = tuple(i for i, (d, s) in enumerate(zip(x.shape, at["shape"])) if d != s)
    if not axes:
        return [g]
    return [b.reshape(b.apply("sum", [g], axes=axes), x.shape)]


register(OpDef("broadcast", _broadcast_infer,
               lambda a, at, env: np.ascontiguousarray(np.broadcast_to(a[0], concrete(at["shape"], env))),
               _broadcast_vjp, "broadcast",
               sample=lambda rng, dtype="float32": ([_sample_array(rng, (3, 1, 17), dtype, "any")],
                                                    {"shape": (3, 4, 17)})))


# --- slice -------------------------------------------------------------------------------------
def slice_dim(d, start, stop, step):
    if stop is None and start == 0 and step == 1:
        return d
    if isinstance(d, str):
        raise ValueError(f"cannot slice the symbolic dimension {d!r} partially")
    return len(range(*slice(start, stop, step).indices(d)))


def _slice_infer(types, attrs):
    (t,) = types
    specs = attrs["slices"]
    if len(specs) != t.ndim:
        raise ValueError("slice needs one (start, stop, step) per axis")
    for (st, sp, stp), d in zip(specs, t.shape):
        if stp <= 0 or st < 0 or (sp is not None and sp < st):
            raise ValueError(f"slice ({st}, {sp}, {stp}) must be normalized (non-negative, step > 0)")
    return TensorType(tuple(slice_dim(d, *s) for d, s in zip(t.shape, specs)), t.dtype)


def _slice_ref(a, at, env):
    return np.ascontiguousarray(a[0][tuple(slice(*s) for s in at["slices"])])


def _slice_vjp(ins, out, g, at):
    x = ins[0]
    return [b.apply("pad", [g], before=tuple(s[0] for s in at["slices"]),
                    steps=tuple(s[2] for s in at["slices"]),
                    shape=x.shape)]


register(OpDef("slice", _slice_infer, _slice_ref, _slice_vjp, "movement",
               sample=lambda rng, dtype="float32": ([_sample_array(rng, (4, 37), dtype, "any")],
                                                    {"slices": ((1, 3, 1), (2, 35, 3))})))


# --- pad (zero fill; the inverse of slice: out[before + i*step] = x[i]) -------------------------
def _pad_infer(types, attrs):
    (t,) = types
    shape = tuple(attrs["shape"])
    if len(shape) != t.ndim:
        raise ValueError("pad: rank mismatch")
    for d, s, bf, st in zip(t.shape, shape, attrs["before"], attrs["steps"]):
        if isinstance(d, str) or isinstance(s, str):
            if not (d == s and bf == 0 and st == 1):
                raise ValueError("cannot pad a symbolic dimension")
        elif bf + (d - 1) * st >= s and d > 0:
            raise ValueError(f"pad: {d} elements from {bf} by {st} do not fit in {s}")
    return TensorType(shape, t.dtype)


def _pad_ref(a, at, env):
    out = np.zeros(concrete(at["shape"], env), a[0].dtype)
    idx = tuple(slice(bf, bf + st * n, st) for bf, st, n in zip(at["before"], at["steps"], a[0].shape))
    out[idx] = a[0]
    return out


def _pad_vjp(ins, out, g, at):
    x = ins[0]
    slices = tuple((bf, bf + st * (n - 1) + 1 if not isinstance(n, str) else None, st)
                   for bf, st, n in zip(at["before"], at["steps"], x.shape))
    return [b.apply("slice", [g], slices=slices)]


register(OpDef("pad", _pad_infer, _pad_ref, _pad_vjp, "movement",
               sample=lambda rng, dtype="float32": ([_sample_array(rng, (3, 17), dtype, "any")],
                                                    {"before": (1, 2), "steps": (1, 2),
                                                     "shape": (5, 37)})))


# --- concat ------------------------------------------------------------------------------------
def _concat_infer(types, attrs):
    axis = attrs["axis"]
    if not types:
        raise ValueError("concat of nothing")
    t0 = types[0]
    if not (0 <= axis < t0.ndim):
        raise ValueError(f"concat axis {axis} invalid for rank {t0.ndim}")
    total = 0
    for t in types:
        if t.ndim != t0.ndim or t.dtype != t0.dtype or any(
                i != axis and d != e for i, (d, e) in enumerate(zip(t.shape, t0.shape))):
            raise ValueError(f"concat: {t} does not match {t0} outside axis {axis}")
        if isinstance(t.shape[axis], str):
            raise ValueError("cannot concatenate along a symbolic dimension")
        total += t.shape[axis]
    return TensorType(t0.shape[:axis] + (total,) + t0.shape[axis + 1:], t0.dtype)


def _concat_vjp(ins, out, g, at):
    axis, start, grads = at["axis"], 0, []
    for x in ins:
        n = x.shape[axis]
        sl = tuple((start, start + n, 1) if i == axis else (0, None, 1) for i in range(x.ndim))
        grads.append(b.apply("slice", [g], slices=sl))
        start += n
    return grads


register(OpDef("concat", _concat_infer,
               lambda a, at, env: np.concatenate(a, axis=at["axis"]), _concat_vjp, "movement",
               sample=lambda rng, dtype="float32": ([_sample_array(rng, (3, n), dtype, "any")
                                                     for n in (5, 17, 1)], {"axis": 1})))
