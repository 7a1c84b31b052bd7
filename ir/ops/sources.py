"""Graph sources: placeholders (inputs), variables (persistent buffers owned by the runtime) and
constants."""
from __future__ import annotations

import hashlib

import numpy as np

from ..registry import OpDef, register
from ..types import TensorType, normalize_dtype


class ConstValue:
    """A hashable, immutable wrapper of a numpy array used as a constant attribute."""

    __slots__ = ("array", "_hash")

    def __init__(self, array):
        a = np.array(array)  # copy
        a.setflags(write=False)
        self.array = a
        self._hash = hash((a.dtype.name, a.shape,
                           hashlib.blake2b(a.tobytes(), digest_size=8).digest()))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (isinstance(other, ConstValue) and self._hash == other._hash
                and self.array.dtype == other.array.dtype and self.array.shape == other.array.shape
                and np.array_equal(self.array, other.array, equal_nan=True))

    def __lt__(self, other):  # attrs are sorted for hashing
        return self._hash < other._hash

    def __repr__(self):
        if self.array.size <= 4:
            return repr(self.array.tolist())
        return f"<{self.array.dtype.name}{list(self.array.shape)}>"


def _src_infer(types, attrs):
    if types:
        raise ValueError("a source op takes no inputs")
    return TensorType(tuple(attrs["shape"]), attrs["dtype"])


def _no_ref(args, attrs, env):
    raise RuntimeError("sources are bound by the interpreter, not computed")


def _const_infer(types, attrs):
    a = attrs["value"].array
    return TensorType(a.shape, normalize_dtype(a.dtype))


def _const_ref(args, attrs, env):
    return attrs["value"].array


register(OpDef("placeholder", _src_infer, _no_ref, None, "source",
               doc="A function input; attrs name, shape (symbols allowed), dtype."))
register(OpDef("variable", _src_infer, _no_ref, None, "source",
               doc="A persistent buffer; attrs uid, name, shape, dtype.  The runtime owns the data."))
register(OpDef("constant", _const_infer, _const_ref, None, "source",
               doc="A literal array; attrs value (ConstValue)."))
