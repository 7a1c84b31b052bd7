"""``matmul``: (batched) matrix product with transposes as attributes, so the backward pass never
materializes a transposed copy.  ``matmul_flat``: the product of two operands viewed as matrices
whose rows merge all leading axes, so a weight shared by every batch entry is one large product."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..types import Product, Shape, TensorType, concrete, is_float
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


def _vjp_of(op: str):
    """The VJP of a product ``op`` (``matmul`` or ``matmul_flat``): the cotangents of both
    operands are products of the same kind, transposes chosen so none is materialized."""
    def vjp(ins, out, g, attrs):
        A, B = ins
        ta, tb = attrs["transpose_a"], attrs["transpose_b"]

        def mm(x, y, transpose_a=False, transpose_b=False):
            return b.apply(op, [x, y], transpose_a=transpose_a, transpose_b=transpose_b)
        if not ta and not tb:
            return [mm(g, B, transpose_b=True), mm(A, g, transpose_a=True)]
        if not ta and tb:
            return [mm(g, B), mm(g, A, transpose_a=True)]
        if ta and not tb:
            return [mm(B, g, transpose_b=True), mm(A, g)]
        return [mm(B, g, transpose_a=True, transpose_b=True),
                mm(g, A, transpose_a=True, transpose_b=True)]
    return vjp


def _sample(rng, dtype="float32"):
    return [_sample_array(rng, (5, 19), dtype, "any"), _sample_array(rng, (17, 19), dtype, "any")], \
        {"transpose_a": False, "transpose_b": True}


register(OpDef("matmul", _infer, _ref, _vjp_of("matmul"), "contraction", sample=_sample, cost=2))


# --- matmul_flat ---------------------------------------------------------------------------------
def flat_groups(a_shape: Shape, b_shape: Shape, ta: bool, tb: bool
                ) -> Tuple[Shape, Shape, Shape, Shape]:
    """(rows, contraction of A, contraction of B, columns) of a ``matmul_flat``: each operand is
    viewed as the matrix ``(prod(shape[:-1]), shape[-1])``, transposed when asked; the groups are
    the axes each side of that view contributes (the output's shape is ``rows + columns``)."""
    a_lead, a_last = tuple(a_shape[:-1]), (a_shape[-1],)
    b_lead, b_last = tuple(b_shape[:-1]), (b_shape[-1],)
    rows, ka = (a_last, a_lead) if ta else (a_lead, a_last)
    kb, cols = (b_last, b_lead) if tb else (b_lead, b_last)
    return rows, ka, kb, cols


def _flat_infer(types, attrs):
    a, c = types
    if a.ndim < 2 or c.ndim < 2:
        raise ValueError(f"matmul_flat needs operands of rank >= 2, got {a} and {c}")
    if a.dtype != c.dtype or not is_float(a.dtype):
        raise ValueError(f"matmul_flat needs equal float dtypes, got {a.dtype} and {c.dtype}")
    rows, ka, kb, cols = flat_groups(a.shape, c.shape, attrs["transpose_a"], attrs["transpose_b"])
    # several column axes must be static: the VJP views the cotangent as (rows, prod(columns))
    if Product(ka) != Product(kb) or (len(cols) > 1 and any(isinstance(d, str) for d in cols)):
        raise ValueError(f"matmul_flat shapes do not match: {a} @ {c} "
                         f"(transpose_a={attrs['transpose_a']}, transpose_b={attrs['transpose_b']})")
    return TensorType(rows + cols, a.dtype)


def _flat_ref(args, attrs, env):
    x, y = args
    x2 = x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])
    y2 = y.reshape(int(np.prod(y.shape[:-1])), y.shape[-1])
    rows, _, _, cols = flat_groups(x.shape, y.shape, attrs["transpose_a"], attrs["transpose_b"])
    return _ref([x2, y2], attrs, env).reshape(concrete(rows + cols, env))


def _flat_vjp(ins, out, g, attrs):
    """The matrix VJP on the 2-D views: the cotangent as ``(rows, prod(columns))`` and each
    operand's cotangent reshaped back to its shape."""
    A, B = ins
    rows, _, _, cols = flat_groups(A.shape, B.shape, attrs["transpose_a"], attrs["transpose_b"])
    if len(cols) > 1:
        g = b.reshape(g, rows + (int(np.prod(cols)),))
    return [b.reshape(d, x.shape) for d, x in zip(_vjp_of("matmul_flat")([A, B], out, g, attrs), ins)]


def _flat_sample(rng, dtype="float32"):
    """Several column axes (B transposed): its VJP has a batch-sum product and a contraction over
    B's leading axes."""
    return [_sample_array(rng, (3, 5, 7), dtype, "any"), _sample_array(rng, (2, 3, 7), dtype, "any")], \
        {"transpose_a": False, "transpose_b": True}


register(OpDef("matmul_flat", _flat_infer, _flat_ref, _flat_vjp, "contraction", sample=_flat_sample,
               cost=2))
