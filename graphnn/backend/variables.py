"""Variables (persistent runtime buffers), placeholders, constants and shape queries."""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ir import builder as b
from ir.tensor import Tensor, apply
from ir.types import normalize_dtype
from runtime import variables as rtvars

from .common import floatx, on_reset

_used_names: set = set()


@on_reset
def _forget_names() -> None:
    _used_names.clear()


def _unique_name(name: Optional[str]) -> str:
    """TensorFlow-style uniquing: a taken ``dense_1/kernel:0`` becomes ``dense_1/kernel_1:0``."""
    base = name or "variable"
    suffix = ""
    if base.endswith(":0"):
        base, suffix = base[:-2], ":0"
    cand, i = base, 0
    while cand + suffix in _used_names:
        i += 1
        cand = f"{base}_{i}"
    _used_names.add(cand + suffix)
    return cand + suffix


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def is_variable(x) -> bool:
    return isinstance(x, Tensor) and x.op == "variable"


def variable(value, dtype: Optional[str] = None, name: Optional[str] = None,
             constraint=None) -> Tensor:
    """A tensor backed by a persistent buffer: weights, optimizer slots, counters."""
    if isinstance(value, Tensor):
        value = eval(value)
    dtype = normalize_dtype(dtype or floatx())
    arr = np.asarray(value, dtype=dtype)
    uid = rtvars.new_buffer(arr, dtype)
    v = apply("variable", [], uid=uid, name=_unique_name(name), shape=tuple(arr.shape), dtype=dtype)
    rtvars.release_when_collected(v, uid)
    v._keras_shape = tuple(arr.shape)
    v._uses_learning_phase = False
    v.constraint = constraint
    return v


def _check_variable(x) -> int:
    if not is_variable(x):
        raise TypeError(f"expected a variable (made with K.variable), got {x!r}")
    return x.attrs["uid"]


def get_value(x) -> np.ndarray:
    """A copy of a variable's current value (constants evaluate too)."""
    if isinstance(x, Tensor) and x.op == "constant":
        return np.array(b.const_value(x))
    return rtvars.get_value(_check_variable(x))


def set_value(x, value) -> None:
    """Write in place: compiled functions see the new value without recompiling."""
    rtvars.set_value(_check_variable(x), value)


def batch_get_value(xs: Sequence[Tensor]) -> List[np.ndarray]:
    return [get_value(x) for x in xs]


def batch_set_value(tuples: Iterable[Tuple[Tensor, object]]) -> None:
    for x, value in tuples:
        set_value(x, value)


def _free_shape(shape, ndim) -> tuple:
    if shape is None:
        if ndim is None:
            raise ValueError("placeholder needs a shape or an ndim")
        shape = (None,) * ndim
    out = []
    for axis, d in enumerate(shape):
        if d is None:
            out.append("N" if axis == 0 else f"D{axis}")
        else:
            out.append(d if isinstance(d, str) else int(d))
    return tuple(out)


def placeholder(shape=None, ndim: Optional[int] = None, dtype: Optional[str] = None,
                sparse: bool = False, name: Optional[str] = None) -> Tensor:
    """A function input.  A free (``None``) axis 0 is the batch symbol ``N``; other free axes get
    the symbol ``D<axis>`` (so placeholders with free axes at the same position must agree)."""
    if sparse:
        raise NotImplementedError("graphnn has no sparse tensors")
    keras_shape = tuple(None if d is None or isinstance(d, str) else int(d)
                        for d in (shape if shape is not None else (None,) * (ndim or 0)))
    x = b.placeholder(_free_shape(shape, ndim), normalize_dtype(dtype or floatx()),
                      name or "placeholder")
    x._keras_shape = keras_shape
    x._uses_learning_phase = False
    return x


def constant(value, dtype: Optional[str] = None, shape=None, name: Optional[str] = None) -> Tensor:
    arr = np.asarray(value, dtype=dtype or floatx())
    if shape is not None:
        arr = np.broadcast_to(arr, shape)
    return b.constant(np.ascontiguousarray(arr))


def zeros(shape, dtype: Optional[str] = None, name: Optional[str] = None) -> Tensor:
    return variable(np.zeros(shape), dtype, name)


def ones(shape, dtype: Optional[str] = None, name: Optional[str] = None) -> Tensor:
    return variable(np.ones(shape), dtype, name)


def eye(size: int, dtype: Optional[str] = None, name: Optional[str] = None) -> Tensor:
    return variable(np.eye(size), dtype, name)


def zeros_like(x: Tensor, dtype: Optional[str] = None, name: Optional[str] = None) -> Tensor:
    return b.broadcast_to(b.constant(np.zeros((), dtype or x.dtype)), x.shape)


def ones_like(x: Tensor, dtype: Optional[str] = None, name: Optional[str] = None) -> Tensor:
    return b.broadcast_to(b.constant(np.ones((), dtype or x.dtype)), x.shape)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None) -> Tensor:
    rng = np.random.RandomState(seed) if seed is not None else np.random
    return variable(rng.uniform(low, high, size=shape), dtype, name)


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None) -> Tensor:
    rng = np.random.RandomState(seed) if seed is not None else np.random
    return variable(rng.normal(mean, scale, size=shape), dtype, name)


# --- shapes -------------------------------------------------------------------------------------
def int_shape(x) -> tuple:
    """The Keras shape: ints, with ``None`` for free (symbolic) dimensions."""
    if hasattr(x, "_keras_shape"):
        return tuple(x._keras_shape)
    if isinstance(x, np.ndarray):
        return x.shape
    return tuple(None if isinstance(d, str) else d for d in x.shape)


def shape(x: Tensor) -> tuple:
    """The symbolic shape: ints and symbol names (``'N'``); usable as a shape argument."""
    return tuple(x.shape)


def get_variable_shape(x: Tensor) -> tuple:
    return tuple(x.shape)


def ndim(x) -> int:
    return len(x.shape)


def dtype(x) -> str:
    return x.dtype


def count_params(x: Tensor) -> int:
    return int(np.prod([int(d) for d in x.shape], dtype=np.int64))


def is_keras_tensor(x) -> bool:
    return isinstance(x, Tensor) and hasattr(x, "_keras_history")


def is_sparse(x) -> bool:
    return False


def to_dense(x):
    return x


# --- updates: (variable, new value) pairs, the form K.function accepts --------------------------
def update(x: Tensor, new_x) -> Tuple[Tensor, Tensor]:
    return (x, new_x)


def update_add(x: Tensor, increment) -> Tuple[Tensor, Tensor]:
    return (x, b.add(x, increment))


def update_sub(x: Tensor, decrement) -> Tuple[Tensor, Tensor]:
    return (x, b.sub(x, decrement))


def moving_average_update(variable: Tensor, value, momentum: float) -> Tuple[Tensor, Tensor]:
    return (variable, b.add(b.mul(variable, momentum), b.mul(value, 1.0 - momentum)))


def eval(x: Tensor) -> np.ndarray:  # noqa: A001  (Keras name)
    """Evaluate a tensor that needs no inputs."""
    if is_variable(x):
        return get_value(x)
    if isinstance(x, Tensor) and x.op == "constant":
        return np.array(b.const_value(x))
    from .function import function
    return function([], [x])([])[0]
