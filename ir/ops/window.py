"""Sliding-window movement: ``im2col`` and its adjoint ``col2im``.

A convolution reads the (padded) input once per kernel tap.  Written as one strided ``slice`` per
tap concatenated along the channels, its gradient became a sum of one zero-``pad`` per tap, each
with a bounds test on every axis: large kernels that were slow to compile.  These two ops say the
same thing directly, so the code generator emits one loop nest (``im2col``) or one bounded sum
over the taps per input element (``col2im``).

Layout (channels last): ``x (N, *spatial, C)``; patches ``(N, *out, taps * C)`` with taps in
row-major order and channels innermost, ``patches[n, o, t*C + c] = x[n, o*stride + t*dilation, c]``.
Attributes: ``kernel``, ``strides``, ``dilation`` (one int per spatial axis); ``col2im`` also
``spatial``, the input's spatial shape (several inputs share one patch shape).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..types import TensorType
from .elementwise import _sample_array


def window_out(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               dilation: Sequence[int]) -> Tuple[int, ...]:
    """Output positions per spatial axis of a window sliding over an already padded input."""
    return tuple((n - (k - 1) * d - 1) // s + 1
                 for n, k, s, d in zip(spatial, kernel, strides, dilation))


def _check_attrs(rank: int, attrs) -> None:
    for key in ("kernel", "strides", "dilation"):
        v = tuple(attrs[key])
        if len(v) != rank or any(int(e) < 1 for e in v):
            raise ValueError(f"{key} {v} must be {rank} positive ints")


def _im2col_infer(types, attrs):
    (t,) = types
    rank = t.ndim - 2
    if rank < 1:
        raise ValueError(f"im2col needs (batch, spatial..., channels), got rank {t.ndim}")
    _check_attrs(rank, attrs)
    spatial, c = t.shape[1:-1], t.shape[-1]
    if any(isinstance(d, str) for d in spatial + (c,)):
        raise ValueError("im2col: spatial and channel sizes must be known")
    out = window_out(spatial, attrs["kernel"], attrs["strides"], attrs["dilation"])
    if any(o < 1 for o in out):
        raise ValueError(f"im2col: window {tuple(attrs['kernel'])} does not fit {spatial}")
    taps = int(np.prod(attrs["kernel"]))
    return TensorType((t.shape[0],) + out + (taps * c,), t.dtype)


def _tap_index(tap, out, strides, dilation) -> tuple:
    return (slice(None),) + tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, o, s, d in
                                  zip(tap, out, strides, dilation)) + (slice(None),)


def _im2col_ref(a, at, env):
    x = a[0]
    out = window_out(x.shape[1:-1], at["kernel"], at["strides"], at["dilation"])
    parts = [x[_tap_index(tap, out, at["strides"], at["dilation"])]
             for tap in np.ndindex(*at["kernel"])]
    return np.ascontiguousarray(np.concatenate(parts, axis=-1))


def _im2col_vjp(ins, out, g, at):
    x = ins[0]
    return [b.apply("col2im", [g], kernel=at["kernel"], strides=at["strides"],
                    dilation=at["dilation"], spatial=tuple(x.shape[1:-1]))]


def _col2im_infer(types, attrs):
    (t,) = types
    rank = t.ndim - 2
    if rank < 1:
        raise ValueError(f"col2im needs (batch, out..., taps*channels), got rank {t.ndim}")
    _check_attrs(rank, attrs)
    spatial = tuple(int(s) for s in attrs["spatial"])
    taps = int(np.prod(attrs["kernel"]))
    if len(spatial) != rank or isinstance(t.shape[-1], str) or t.shape[-1] % taps:
        raise ValueError(f"col2im: patches {t.shape} do not match kernel {attrs['kernel']} "
                         f"and spatial shape {spatial}")
    out = window_out(spatial, attrs["kernel"], attrs["strides"], attrs["dilation"])
    if tuple(t.shape[1:-1]) != out:
        raise ValueError(f"col2im: patch positions {t.shape[1:-1]} != {out} for input {spatial}")
    return TensorType((t.shape[0],) + spatial + (t.shape[-1] // taps,), t.dtype)


def _col2im_ref(a, at, env):
    cols = a[0]
    taps = int(np.prod(at["kernel"]))
    c = cols.shape[-1] // taps
    x = np.zeros((cols.shape[0],) + tuple(at["spatial"]) + (c,), cols.dtype)
    for t, tap in enumerate(np.ndindex(*at["kernel"])):
        x[_tap_index(tap, cols.shape[1:-1], at["strides"], at["dilation"])] += \
            cols[..., t * c:(t + 1) * c]
    return x


def _col2im_vjp(ins, out, g, at):
    return [b.apply("im2col", [g], kernel=at["kernel"], strides=at["strides"],
                    dilation=at["dilation"])]


register(OpDef("im2col", _im2col_infer, _im2col_ref, _im2col_vjp, "movement",
               sample=lambda rng, dtype="float32": (
                   [_sample_array(rng, (2, 7, 6, 3), dtype, "any")],
                   {"kernel": (3, 2), "strides": (2, 1), "dilation": (1, 2)})))

register(OpDef("col2im", _col2im_infer, _col2im_ref, _col2im_vjp, "movement",
               sample=lambda rng, dtype="float32": (
                   [_sample_array(rng, (2, 3, 4, 18), dtype, "any")],
                   {"kernel": (3, 2), "strides": (2, 1), "dilation": (1, 2),
                    "spatial": (7, 6)})))
