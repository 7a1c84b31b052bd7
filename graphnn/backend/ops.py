"""Tensor math with Keras backend names and semantics, written on ``ir.builder`` primitives."""
from __future__ import annotations

import builtins
import numbers
from typing import List, Optional, Sequence

import numpy as np

from ir import builder as b
from ir.tensor import Tensor, apply
from ir.types import is_float

from .common import floatx


def _lift(x, like: Optional[Tensor] = None) -> Tensor:
    """Tensors pass through; Python/numpy values become constants of ``like``'s dtype (else of
    floatx for floats) so float64 numpy data never clashes with float32 graphs."""
    if isinstance(x, Tensor):
        return x
    a = np.asarray(x)
    if like is not None and (a.dtype.kind in "biuf" and (is_float(like.dtype) or a.dtype.kind != "f")):
        return b.constant(np.asarray(a, dtype=like.dtype))
    if a.dtype.kind == "f":
        return b.constant(np.asarray(a, dtype=floatx()))
    return b.constant(a if a.dtype.kind == "b" else np.asarray(a, dtype=np.int32))


def _two(x, y):
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
    return _lift(x, like), _lift(y, like)


def _floaty(x: Tensor) -> Tensor:
    return x if is_float(x.dtype) else b.cast(x, floatx())


# --- elementwise --------------------------------------------------------------------------------
def cast(x, dtype: str) -> Tensor:
    return b.cast(_lift(x), dtype)


def square(x) -> Tensor:
    x = _lift(x)
    return b.mul(x, x)


def abs(x) -> Tensor:  # noqa: A001
    return b.abs(_lift(x))


def sqrt(x) -> Tensor:
    """Keras clips at 0 first so tiny negative round-off never gives NaN."""
    x = _lift(x)
    return b.sqrt(b.maximum(x, 0.0))


def exp(x) -> Tensor:
    return b.exp(_lift(x))


def log(x) -> Tensor:
    return b.log(_lift(x))


def sign(x) -> Tensor:
    return b.sign(_lift(x))


def sin(x) -> Tensor:
    return b.sin(_lift(x))


def cos(x) -> Tensor:
    return b.cos(_lift(x))


def round(x) -> Tensor:  # noqa: A001
    """Round half to even, like numpy and TensorFlow."""
    x = _lift(x)
    r = b.floor(b.add(x, 0.5))
    half = b.equal(b.sub(r, x), 0.5)
    odd = b.not_equal(b.sub(r, b.mul(b.floor(b.mul(r, 0.5)), 2.0)), 0.0)
    return b.where(b.logical_and(half, odd), b.sub(r, 1.0), r)


def pow(x, a) -> Tensor:  # noqa: A001
    x, a = _two(x, a)
    return b.pow(x, a)


def clip(x, min_value, max_value) -> Tensor:
    x = _lift(x)
    if min_value is None:
        min_value = -np.inf
    if max_value is None:
        max_value = np.inf
    if not isinstance(min_value, Tensor) and not isinstance(max_value, Tensor) \
            and max_value < min_value:
        max_value = min_value
    return b.minimum(b.maximum(x, _lift(min_value, x)), _lift(max_value, x))


def minimum(x, y) -> Tensor:
    return b.minimum(*_two(x, y))


def maximum(x, y) -> Tensor:
    return b.maximum(*_two(x, y))


def equal(x, y) -> Tensor:
    return b.equal(*_two(x, y))


def not_equal(x, y) -> Tensor:
    return b.not_equal(*_two(x, y))


def greater(x, y) -> Tensor:
    return b.greater(*_two(x, y))


def greater_equal(x, y) -> Tensor:
    return b.greater_equal(*_two(x, y))


def less(x, y) -> Tensor:
    return b.less(*_two(x, y))


def less_equal(x, y) -> Tensor:
    return b.less_equal(*_two(x, y))


def logical_and(x, y) -> Tensor:
    return b.logical_and(*_two(x, y))


def logical_or(x, y) -> Tensor:
    return b.logical_or(*_two(x, y))


def stop_gradient(variables):
    if isinstance(variables, (list, tuple)):
        return [b.stop_gradient(v) for v in variables]
    return b.stop_gradient(_lift(variables))


def bias_add(x: Tensor, bias: Tensor, data_format: Optional[str] = None) -> Tensor:
    """Add a bias along the channel axis (the last one; channels_last layout)."""
    if data_format == "channels_first" and x.ndim > 2:
        return b.add(x, b.reshape(bias, (bias.shape[0],) + (1,) * (x.ndim - 2)))
    return b.add(x, bias)


# --- reductions ---------------------------------------------------------------------------------
def _axis(axis):
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = _lift(x)
    if x.dtype == "bool":
        x = b.cast(x, floatx())
    return b.sum(x, _axis(axis), keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    x = _lift(x)
    if not is_float(x.dtype):
        x = b.cast(x, floatx())
    return b.mean(x, _axis(axis), keepdims)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return b.max(_lift(x), _axis(axis), keepdims)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return b.min(_lift(x), _axis(axis), keepdims)


def prod(x, axis=None, keepdims: bool = False) -> Tensor:
    """Product over axes of known size (IR has no product reduction: multiplies slices)."""
    x = _lift(x)
    axes = b._axes(_axis(axis), x.ndim)
    out = x
    for a in axes:
        n = out.shape[a]
        if isinstance(n, str):
            raise ValueError(f"prod over the free dimension {n!r} is not supported")
        acc = slice_axes(out, [slice(0, 1) if i == a else slice(None) for i in range(out.ndim)])
        for k in range(1, n):
            acc = b.mul(acc, slice_axes(out, [slice(k, k + 1) if i == a else slice(None)
                                              for i in range(out.ndim)]))
        out = acc
    if not keepdims:
        out = b.reshape(out, tuple(d for i, d in enumerate(out.shape) if i not in axes))
    return out


def var(x, axis=None, keepdims: bool = False) -> Tensor:
    x = _floaty(_lift(x))
    m = b.mean(x, _axis(axis), True)
    return b.mean(square(b.sub(x, m)), _axis(axis), keepdims)


def std(x, axis=None, keepdims: bool = False) -> Tensor:
    return sqrt(var(x, axis, keepdims))


def any(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = _lift(x)
    nz = x if x.dtype == "bool" else b.not_equal(x, 0)
    return b.greater(b.max(b.cast(nz, "int32"), _axis(axis), keepdims), 0)


def all(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = _lift(x)
    nz = x if x.dtype == "bool" else b.not_equal(x, 0)
    return b.greater(b.min(b.cast(nz, "int32"), _axis(axis), keepdims), 0)


def argmax(x, axis: int = -1) -> Tensor:
    return b.argmax(_lift(x), axis)


def argmin(x, axis: int = -1) -> Tensor:
    """The first minimum: argmax of the negation keeps numpy's first-occurrence rule."""
    return b.argmax(b.neg(_lift(x)), axis)


# --- contraction --------------------------------------------------------------------------------
def _matmul_nd_2d(x: Tensor, y: Tensor) -> Tensor:
    """(..., D) @ (D, U).  Folds the leading axes into one with a reshape when they are all known
    or only the first is free; a free leading axis cannot be merged with known ones in the IR
    (no ``N*T`` dimension), so that case uses a batched matmul with the matrix broadcast, which
    the compiler's ``flatten_batch`` pass turns back into one product over ``N*T`` rows."""
    lead, d = tuple(x.shape[:-1]), x.shape[-1]
    u = y.shape[-1]
    if all_known(lead):
        x2 = b.reshape(x, (int(np.prod(lead)), d))
        return b.reshape(b.matmul(x2, y), lead + (u,))
    if len(lead) == 1:
        return b.matmul(x, y)
    first, rest = lead[0], lead[1:]
    if len(rest) == 1:      # (N, T, D) with T free too (a variable-length sequence)
        x3 = x
    elif not all_known(rest):
        raise ValueError(f"dot of {x.shape} with {y.shape}: only the first two axes may be free")
    else:
        x3 = b.reshape(x, (first, int(np.prod(rest)), d))
    w = b.broadcast_to(b.reshape(y, (1,) + tuple(y.shape)), (first,) + tuple(y.shape))
    return b.reshape(b.matmul(x3, w), lead + (u,))


def all_known(shape) -> bool:
    return not builtins.any(isinstance(d, str) for d in shape)


def dot(x, y) -> Tensor:
    """Keras ``dot``: for N-d inputs, contracts the last axis of ``x`` with the second-to-last of
    ``y``; result shape ``x.shape[:-1] + y.shape[:-2] + y.shape[-1:]``."""
    x, y = _two(x, y)
    if x.ndim == 1:
        return b.reshape(dot(b.reshape(x, (1,) + tuple(x.shape)), y), tuple(y.shape[:-2]) + (y.shape[-1],))
    if y.ndim == 1:
        return b.reshape(dot(x, b.reshape(y, tuple(y.shape) + (1,))), tuple(x.shape[:-1]))
    if y.ndim == 2:
        return _matmul_nd_2d(x, y)
    perm = (y.ndim - 2,) + tuple(range(y.ndim - 2)) + (y.ndim - 1,)
    yt = b.transpose(y, perm)
    y2 = b.reshape(yt, (y.shape[-2], -1))
    out = _matmul_nd_2d(x, y2)
    return b.reshape(out, tuple(x.shape[:-1]) + tuple(y.shape[:-2]) + (y.shape[-1],))


def batch_dot(x: Tensor, y: Tensor, axes=None) -> Tensor:
    """Batched contraction: 2-d x 2-d is the row-wise dot ``(batch, 1)``; 3-d x 3-d a batched
    matrix product, ``axes`` choosing which axes contract; a 2-d operand is treated as a 3-d one
    with a unit axis that is dropped from the result (``(N, T, D) . (N, D) -> (N, T)``)."""
    x, y = _two(x, y)
    if isinstance(axes, int):
        axes = (axes, axes)
    if x.ndim == 2 and y.ndim == 2:
        return b.sum(b.mul(x, y), 1, keepdims=True)
    if x.ndim not in (2, 3) or y.ndim not in (2, 3):
        raise NotImplementedError(f"batch_dot of ranks {x.ndim} and {y.ndim} (shapes "
                                  f"{tuple(x.shape)} and {tuple(y.shape)})")
    ax, ay = axes if axes is not None else (x.ndim - 1, y.ndim - 2)
    ax, ay = ax % x.ndim, ay % y.ndim
    x_vec, y_vec = x.ndim == 2, y.ndim == 2
    if x_vec:
        x, ax = b.expand_dims(x, 1), 2
    if y_vec:
        y, ay = b.expand_dims(y, 2), 1
    out = b.matmul(x, y, transpose_a=(ax == 1), transpose_b=(ay == 2))
    if x_vec:
        out = b.squeeze(out, 1)
    if y_vec:
        out = b.squeeze(out, -1)
    return out


def transpose(x) -> Tensor:
    return b.transpose(_lift(x))


def gather(reference: Tensor, indices) -> Tensor:
    return b.gather(reference, _lift(indices) if not isinstance(indices, Tensor) else indices)


# --- shapes -------------------------------------------------------------------------------------
def _shape_arg(shape) -> tuple:
    return tuple(d if isinstance(d, str) else int(d) for d in shape)


def reshape(x, shape) -> Tensor:
    return b.reshape(_lift(x), _shape_arg(shape))


def flatten(x) -> Tensor:
    return b.reshape(_lift(x), (-1,))


def batch_flatten(x) -> Tensor:
    x = _lift(x)
    return b.reshape(x, (x.shape[0], -1))


def expand_dims(x, axis: int = -1, dim: Optional[int] = None) -> Tensor:
    """Keras 1 spelled the axis ``dim``."""
    return b.expand_dims(_lift(x), dim if dim is not None else axis)


def squeeze(x, axis: int) -> Tensor:
    return b.squeeze(_lift(x), axis)


def permute_dimensions(x, pattern: Sequence[int]) -> Tensor:
    return b.transpose(_lift(x), tuple(pattern))


def concatenate(tensors: Sequence, axis: int = -1) -> Tensor:
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    return b.concat([_lift(t, like) for t in tensors], axis)


def stack(tensors: Sequence, axis: int = 0) -> Tensor:
    return concatenate([expand_dims(t, axis) for t in tensors], axis)


def repeat_elements(x, rep: int, axis: int) -> Tensor:
    """Repeat each element ``rep`` times along ``axis`` (whose size must be known)."""
    x = _lift(x)
    axis %= x.ndim
    y = b.expand_dims(x, axis + 1)
    shape = list(y.shape)
    shape[axis + 1] = rep
    y = b.broadcast_to(y, tuple(shape))
    d = x.shape[axis]
    if isinstance(d, str):
        raise ValueError("repeat_elements along a free dimension is not supported")
    return b.reshape(y, tuple(x.shape[:axis]) + (d * rep,) + tuple(x.shape[axis + 1:]))


def repeat(x, n: int) -> Tensor:
    """(batch, dim) -> (batch, n, dim)."""
    x = _lift(x)
    return b.broadcast_to(b.expand_dims(x, 1), (x.shape[0], n, x.shape[1]))


def tile(x, n) -> Tensor:
    x = _lift(x)
    if isinstance(n, int):
        n = [n]
    n = [1] * (x.ndim - len(n)) + list(n)
    for axis, k in enumerate(n):
        if k == 1:
            continue
        d = x.shape[axis]
        if isinstance(d, str):
            raise ValueError("tile along a free dimension is not supported")
        y = b.reshape(x, tuple(x.shape[:axis]) + (1,) + tuple(x.shape[axis:]))
        y = b.broadcast_to(y, tuple(x.shape[:axis]) + (k,) + tuple(x.shape[axis:]))
        x = b.reshape(y, tuple(x.shape[:axis]) + (k * d,) + tuple(x.shape[axis + 1:]))
    return x


def arange(start, stop=None, step=1, dtype: str = "int32") -> Tensor:
    return b.constant(np.arange(start, stop, step).astype(dtype))


def one_hot(indices, nb_classes: int) -> Tensor:
    """(..., ) integer indices -> (..., nb_classes) floats."""
    indices = _lift(indices)
    if indices.dtype != "int32":
        indices = b.cast(indices, "int32")
    classes = b.constant(np.arange(nb_classes, dtype=np.int32))
    return b.cast(b.equal(b.expand_dims(indices, -1), classes), floatx())


def slice_axes(x: Tensor, slices) -> Tensor:
    """One python ``slice`` per axis (positive steps)."""
    return b.slice_axes(x, slices)


def getitem(x: Tensor, key) -> Tensor:
    """``x[key]`` with ints, slices and Ellipsis (tensors support ``x[...]`` directly too)."""
    return b.getitem(x, key)


def _list(x) -> List:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def is_number(x) -> bool:
    return isinstance(x, numbers.Number)


# --- Keras 1 extras -----------------------------------------------------------------------------
def _known_axis(x: Tensor, axis: int, what: str) -> tuple:
    axis %= x.ndim
    n = x.shape[axis]
    if isinstance(n, str):
        raise ValueError(f"{what} along the free dimension {n!r} of shape {tuple(x.shape)} is "
                         "not supported")
    return axis, int(n)


def _along_last(x: Tensor, axis: int, fn) -> Tensor:
    """Apply ``fn`` to ``x`` with ``axis`` moved last, then move it back."""
    if axis == x.ndim - 1:
        return fn(x)
    perm = [i for i in range(x.ndim) if i != axis] + [axis]
    inverse = [perm.index(i) for i in range(x.ndim)]
    return b.transpose(fn(b.transpose(x, tuple(perm))), tuple(inverse))


def cumsum(x, axis: int = 0) -> Tensor:
    """Running sum along an axis of known size: one product with a triangular matrix of ones
    (a GEMM the compiler already generates; its gradient is the transposed product)."""
    x = _floaty(_lift(x))
    axis, n = _known_axis(x, axis, "cumsum")
    tri = b.constant(np.triu(np.ones((n, n))).astype(x.dtype))
    return _along_last(x, axis, lambda y: _matmul_nd_2d(y, tri))


def cumprod(x, axis: int = 0) -> Tensor:
    """Running product along an axis of known size (slices multiplied in turn; exact for zeros
    and negative values, unlike ``exp(cumsum(log x))``)."""
    x = _lift(x)
    axis, n = _known_axis(x, axis, "cumprod")

    def piece(k):
        return slice_axes(x, [slice(k, k + 1) if i == axis else slice(None)
                              for i in range(x.ndim)])
    acc = piece(0)
    parts = [acc]
    for k in range(1, n):
        acc = b.mul(acc, piece(k))
        parts.append(acc)
    return b.concat(parts, axis) if n > 1 else acc


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` shifted by the maximum so large inputs do not overflow."""
    x = _lift(x)
    m = b.stop_gradient(b.max(x, _axis(axis), True))
    out = b.add(b.log(b.sum(b.exp(b.sub(x, m)), _axis(axis), True)), m)
    if not keepdims:
        axes = b._axes(_axis(axis), x.ndim)
        out = b.reshape(out, tuple(d for i, d in enumerate(out.shape) if i not in axes))
    return out


def reverse(x, axes) -> Tensor:
    """Reverse along the given axes (of known size)."""
    x = _lift(x)
    for axis in (axes if isinstance(axes, (list, tuple)) else [axes]):
        axis, n = _known_axis(x, axis, "reverse")
        index = b.constant(np.arange(n - 1, -1, -1, dtype=np.int32))
        perm = [axis] + [i for i in range(x.ndim) if i != axis]
        inverse = [perm.index(i) for i in range(x.ndim)]
        moved = b.transpose(x, tuple(perm)) if axis else x
        flipped = b.gather(moved, index)
        x = b.transpose(flipped, tuple(inverse)) if axis else flipped
    return x


def identity(x) -> Tensor:
    """A new tensor with the value of ``x``."""
    x = _lift(x)
    return apply("reshape", [x], shape=tuple(x.shape))


def print_tensor(x, message: str = "") -> Tensor:
    """Keras prints the value when evaluated; compiled code has no print, so this is the
    identity (use ``K.function`` or ``GRAPHNN_DEBUG`` to look at values)."""
    return identity(x)


def cast_to_floatx(x) -> np.ndarray:
    """A numpy array in the default float type."""
    return np.asarray(x, dtype=floatx())


def in_top_k(predictions: Tensor, targets, k: int) -> Tensor:
    """Whether each target class is among the ``k`` highest predictions (ties count in favour of
    the target, as for top_k_categorical_accuracy); bool of shape (batch,)."""
    predictions = _lift(predictions)
    onehot = b.cast(one_hot(targets, int(predictions.shape[-1])), predictions.dtype)
    true_score = b.sum(b.mul(onehot, predictions), -1, keepdims=True)
    higher = b.sum(b.cast(b.greater(predictions, true_score), "int32"), -1)
    return b.less(higher, k)


def temporal_padding(x, padding=(1, 1)) -> Tensor:
    """Zeros before and after the middle axis of (batch, steps, features); Keras 1 also took a
    single int for both sides."""
    x = _lift(x)
    if isinstance(padding, int):
        padding = (padding, padding)
    left, right = int(padding[0]), int(padding[1])
    _, steps = _known_axis(x, 1, "temporal_padding")
    return apply("pad", [x], shape=(x.shape[0], steps + left + right, x.shape[2]),
                 before=(0, left, 0), steps=(1, 1, 1))
