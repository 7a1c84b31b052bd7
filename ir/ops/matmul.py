"""``matmul``: (batched) matrix product with transposes as attributes, so the backward pass never
materializes a transposed copy."""
from __future__ import annotations

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..types import TensorType, is_float
from .elementwise import _sample_array


def matmul_dims(ta_shape, tb_shape, ta, tb):
    """(batch, m, k, n) of a matmul given the stored operand shapes."""
    m, k = (ta_shape[-1], ta_shape[-2]) if ta else (ta_shape[-2], ta_shape[-1])
    k2, n = (tb_shape[-1], tb_shape[-2]) if tb else (tb_shape[-2], tb_shape[-1])
    return tuple(ta_shape[:-2]), m, k, k2, n


def _infer(types, attrs):
    a, c = types
    if a.ndim < 2 or a.ndim != c.ndim:
        raise ValueError(f"matmul needs operands of equal rank >= 2, got {a} and {c}")
    if a.dtype != c.dtype or not is_float(a.dtype):
        raise ValueError(f"matmul needs equal float dtypes, got {a.dtype} and {c.dtype}")
    batch, m, k, k2, n = matmul_dims(a.shape, c.shape, attrs["transpose_a"], attrs["transpose_b"])
    if k != k2 or tuple(c.shape[:-2]) != batch:
        raise ValueError(f"matmul shapes do not match: {a} @ {c} "
                         f"(transpose_a={attrs['transpose_a']}, transpose_b={attrs['transpose_b']})")
    return TensorType(batch + (m, n), a.dtype)


def _ref(args, attrs, env):
    x, y = args
    if attrs["transpose_a"]:
        x = np.swapaxes(x, -1, -2)
    if attrs["transpose_b"]:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


def _vjp(ins, out, g, attrs):
    A, B = ins
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    mm = b.matmul
    if not ta and not tb:
        return [mm(g, B, transpose_b=True), mm(A, g, transpose_a=True)]
    if not ta and tb:
        return [mm(g, B), mm(g, A, transpose_a=True)]
    if ta and not tb:
        return [mm(B, g, transpose_b=True), mm(A, g)]
    return [mm(B, g, transpose_a=True, transpose_b=True), mm(g, A, transpose_a=True, transpose_b=True)]


def _sample(rng, dtype="float32"):
    return [_sample_array(rng, (5, 19), dtype, "any"), _sample_array(rng, (17, 19), dtype, "any")], \
        {"transpose_a": False, "transpose_b": True}


register(OpDef("matmul", _infer, _ref, _vjp, "contraction", sample=_sample, cost=2))
