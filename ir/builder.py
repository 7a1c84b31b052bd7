"""Functions that build primitives the way numpy code reads: broadcasting, Python scalars,
negative axes, ``keepdims``.  Every VJP rule and the backend ``K`` are written with these."""
from __future__ import annotations

import builtins
import numbers
from typing import Optional, Sequence

import numpy as np

from .ops.sources import ConstValue
from .tensor import Tensor, apply
from .types import broadcast_shapes, is_float, normalize_dtype

__all__ = ["apply", "constant", "placeholder"]


# --- sources -----------------------------------------------------------------------------------
def constant(value, dtype: Optional[str] = None) -> Tensor:
    a = np.asarray(value, dtype=dtype)
    if a.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
        a = a.astype(np.float32)
    if a.dtype.kind in "iu" and dtype is None and not isinstance(value, np.ndarray):
        a = a.astype(np.int32)
    normalize_dtype(a.dtype)
    return apply("constant", [], value=ConstValue(a))


def placeholder(shape, dtype="float32", name="input") -> Tensor:
    shape = tuple(d if isinstance(d, str) else int(d) for d in shape)
    return apply("placeholder", [], name=name, shape=shape, dtype=normalize_dtype(dtype))


def const_value(t: Tensor):
    """The numpy value of a constant tensor, else None."""
    return t.attrs["value"].array if t.op == "constant" else None


def _lift(x, like: Optional[Tensor]) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (numbers.Number, np.number, bool, np.bool_)) and like is not None:
        return constant(np.asarray(x, dtype=like.dtype))
    return constant(x)


def _pair(x, y):
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
    x, y = _lift(x, like), _lift(y, like)
    if x.dtype != y.dtype:
        # promote like numpy for the few mixes that occur in layer code (int index vs float)
        if is_float(x.dtype) and not is_float(y.dtype):
            y = cast(y, x.dtype)
        elif is_float(y.dtype) and not is_float(x.dtype):
            x = cast(x, y.dtype)
        else:
            raise TypeError(f"dtype mismatch: {x.dtype} and {y.dtype}")
    shape = broadcast_shapes(x.shape, y.shape)
    return broadcast_to(x, shape), broadcast_to(y, shape)


# --- elementwise -------------------------------------------------------------------------------
def _unary(name):
    def f(x):
        return apply(name, [_lift(x, None)])
    f.__name__ = name
    return f


def _binary(name):
    def f(x, y):
        x, y = _pair(x, y)
        return apply(name, [x, y])
    f.__name__ = name
    return f


neg, exp, log, sqrt, tanh, sigmoid, abs, sign, sin, cos, floor, logical_not, stop_gradient = (
    _unary(n) for n in ("neg", "exp", "log", "sqrt", "tanh", "sigmoid", "abs", "sign", "sin",
                        "cos", "floor", "logical_not", "stop_gradient"))
add, sub, mul, div, pow, maximum, minimum = (
    _binary(n) for n in ("add", "sub", "mul", "div", "pow", "maximum", "minimum"))
equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or = (
    _binary(n) for n in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                         "logical_and", "logical_or"))


def where(cond, x, y) -> Tensor:
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
    x, y = _pair(_lift(x, like), _lift(y, like))
    cond = _lift(cond, None)
    shape = broadcast_shapes(cond.shape, x.shape)
    return apply("where", [broadcast_to(cond, shape), broadcast_to(x, shape), broadcast_to(y, shape)])


def cast(x, dtype) -> Tensor:
    x = _lift(x, None)
    dtype = normalize_dtype(dtype)
    if x.dtype == dtype:
        return x
    return apply("cast", [x], dtype=dtype)


def square(x):
    return mul(x, x)


def clip(x, lo, hi):
    return minimum(maximum(x, lo), hi)


# --- shapes ------------------------------------------------------------------------------------
def _axes(axis, ndim) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = tuple(sorted({int(a) % ndim for a in axis})) if ndim else ()
    return out


def reshape(x, shape) -> Tensor:
    x = _lift(x, None)
    shape = tuple(shape)
    if -1 in shape:
        known = [d for d in shape if d != -1]
        from .types import Product
        pin, pk = Product(x.shape), Product(known)
        syms = list(pin.syms)
        for s in pk.syms:
            if s not in syms:
                raise ValueError(f"cannot infer -1 in reshape of {x.shape} to {shape}")
            syms.remove(s)
        if pk.coef == 0 or pin.coef % pk.coef or len(syms) > 1 or (syms and pin.coef // pk.coef != 1):
            raise ValueError(f"cannot reshape {x.shape} to {shape}")
        fill = syms[0] if syms else pin.coef // pk.coef
        shape = tuple(fill if d == -1 else d for d in shape)
    if shape == tuple(x.shape):
        return x
    return apply("reshape", [x], shape=shape)


def broadcast_to(x, shape) -> Tensor:
    x = _lift(x, None)
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    if x.ndim < len(shape):
        x = reshape(x, (1,) * (len(shape) - x.ndim) + tuple(x.shape))
    if tuple(x.shape) == shape:
        return x
    return apply("broadcast", [x], shape=shape)


def expand_dims(x, axis=-1) -> Tensor:
    n = x.ndim + 1
    axis = axis % n
    return reshape(x, tuple(x.shape[:axis]) + (1,) + tuple(x.shape[axis:]))


def squeeze(x, axis) -> Tensor:
    axis = axis % x.ndim
    if x.shape[axis] != 1:
        raise ValueError(f"cannot squeeze axis {axis} of shape {x.shape}")
    return reshape(x, tuple(x.shape[:axis]) + tuple(x.shape[axis + 1:]))


def transpose(x, perm: Optional[Sequence[int]] = None) -> Tensor:
    perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(int(p) % x.ndim for p in perm)
    if perm == tuple(range(x.ndim)):
        return x
    return apply("transpose", [x], perm=perm)


def concat(xs, axis=-1) -> Tensor:
    xs = [_lift(x, None) for x in xs]
    if len(xs) == 1:
        return xs[0]
    return apply("concat", xs, axis=axis % xs[0].ndim)


def slice_axes(x, slices) -> Tensor:
    """``slices``: one python ``slice`` per axis (steps > 0)."""
    specs = []
    for d, s in zip(x.shape, slices):
        if isinstance(d, str):
            if s != slice(None):
                raise ValueError(f"cannot slice the symbolic dimension {d!r} partially")
            specs.append((0, None, 1))
        else:
            st, sp, stp = s.indices(d)
            if stp <= 0:
                raise ValueError("negative slice steps are not supported")
            sp = builtins.max(sp, st)
            specs.append((st, None if (st, sp, stp) == (0, d, 1) else sp, stp))
    if all(s == (0, None, 1) for s in specs):
        return x
    return apply("slice", [x], slices=tuple(specs))


def getitem(x, key) -> Tensor:
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - len(key) + 1) + key[i + 1:]
    key = key + (slice(None),) * (x.ndim - len(key))
    slices, drop = [], []
    for axis, k in enumerate(key):
        if isinstance(k, (int, np.integer)):
            d = x.shape[axis]
            k = int(k) % d if not isinstance(d, str) else int(k)
            slices.append(slice(k, k + 1))
            drop.append(axis)
        elif isinstance(k, slice):
            slices.append(k)
        else:
            raise TypeError(f"unsupported index {k!r}")
    y = slice_axes(x, slices)
    if drop:
        y = reshape(y, tuple(d for i, d in enumerate(y.shape) if i not in drop))
    return y


# --- reductions --------------------------------------------------------------------------------
def _reduce(op, x, axis, keepdims):
    x = _lift(x, None)
    axes = _axes(axis, x.ndim)
    if not axes:
        return x
    y = apply(op, [x], axes=axes)
    if keepdims:
        y = reshape(y, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return y


def sum(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    return _reduce("sum", x, axis, keepdims)


def max(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    return _reduce("min", x, axis, keepdims)


def count(x, axes) -> Tensor:
    """Number of elements in ``axes`` of ``x`` as a scalar of ``x``'s dtype (symbolic-safe)."""
    n, syms = 1, []
    for a in axes:
        d = x.shape[a]
        if isinstance(d, str):
            syms.append(d)
        else:
            n *= d
    c = constant(np.asarray(n, dtype=x.dtype))
    for s in syms:
        c = mul(c, dim_size(x, s))
    return c


def dim_size(x: Tensor, sym: str) -> Tensor:
    """The value of symbol ``sym`` as a scalar of ``x``'s dtype, computed from ``x``'s shape."""
    axis = list(x.shape).index(sym)
    ones = constant(np.asarray(1, dtype=x.dtype))
    shape = tuple(1 if i != axis else d for i, d in enumerate(x.shape))
    col = broadcast_to(reshape(ones, (1,) * x.ndim), shape)
    return sum(col)


def mean(x, axis=None, keepdims=False) -> Tensor:
    x = _lift(x, None)
    axes = _axes(axis, x.ndim)
    return div(sum(x, axes, keepdims), count(x, axes))


def argmax(x, axis=-1) -> Tensor:
    return apply("argmax", [x], axes=(axis % x.ndim,))


# --- contraction, gather, random ---------------------------------------------------------------
def matmul(a, c, transpose_a=False, transpose_b=False) -> Tensor:
    return apply("matmul", [a, c], transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))


def gather(table, indices) -> Tensor:
    indices = _lift(indices, None)
    if indices.dtype not in ("int32", "int64"):
        indices = cast(indices, "int32")
    return apply("gather", [table, indices])


def random_uniform(key: Tensor, shape, seed: int, low=0.0, high=1.0, dtype="float32") -> Tensor:
    u = apply("random_uniform", [key], shape=tuple(shape), seed=int(seed) & 0xFFFFFFFF)
    if dtype != "float32":
        u = cast(u, dtype)
    if (low, high) != (0.0, 1.0):
        u = add(mul(u, high - low), low)
    return u


def random_normal(key: Tensor, shape, seed: int, mean=0.0, stddev=1.0, dtype="float32") -> Tensor:
    """Box-Muller transform of two independent uniform draws."""
    u1 = random_uniform(key, shape, seed)
    u2 = random_uniform(key, shape, seed ^ 0x5BD1E995)
    r = sqrt(mul(log(sub(1.0, u1)), -2.0))          # 1 - u1 is in (0, 1]
    z = mul(r, cos(mul(u2, 2 * np.pi)))
    if dtype != "float32":
        z = cast(z, dtype)
    return add(mul(z, stddev), mean)
