"""Symbolic tensors: the expression DAG that user code builds.

A :class:`Tensor` is one op application (op name, ordered inputs, attrs, output type) plus where
it came from (the layer name scope active when it was built).  ``ir.graph.Graph.build`` turns a set
of output tensors into the networkx graph that passes and code generation work on.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Sequence

from .registry import Attrs, get_op
from .types import TensorType

_ids = itertools.count()
_scope = threading.local()


@contextlib.contextmanager
def origin_scope(name: str):
    """Record ``name`` (a layer name) as the origin of every tensor built inside."""
    stack = getattr(_scope, "stack", None)
    if stack is None:
        stack = _scope.stack = []
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


def current_origin() -> str:
    stack = getattr(_scope, "stack", None)
    return "/".join(stack) if stack else ""


class Tensor:
    """A symbolic value.  Arithmetic operators build primitives with numpy broadcasting."""

    __array_priority__ = 1000  # make numpy defer to our operators

    def __init__(self, op: str, inputs: Sequence["Tensor"], attrs: Attrs, type: TensorType,
                 origin: str = ""):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.type = type
        self.origin = origin
        self.id = next(_ids)
        self.name = attrs.get("name") if op in ("placeholder", "variable") else None

    # --- type conveniences
    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return len(self.type.shape)

    def __repr__(self):
        nm = f" {self.name!r}" if self.name else ""
        return f"<Tensor {self.op}{nm} {self.type}>"

    def __hash__(self):
        return self.id

    def __eq__(self, other):  # identity semantics: tensors are graph nodes
        return self is other

    def __bool__(self):
        raise TypeError("a symbolic Tensor has no truth value; use K.switch / where")

    # --- operators (implemented in ir.builder to avoid an import cycle)
    def _b(self):
        from . import builder
        return builder

    def __add__(self, o): return self._b().add(self, o)
    def __radd__(self, o): return self._b().add(o, self)
    def __sub__(self, o): return self._b().sub(self, o)
    def __rsub__(self, o): return self._b().sub(o, self)
    def __mul__(self, o): return self._b().mul(self, o)
    def __rmul__(self, o): return self._b().mul(o, self)
    def __truediv__(self, o): return self._b().div(self, o)
    def __rtruediv__(self, o): return self._b().div(o, self)
    def __pow__(self, o): return self._b().pow(self, o)
    def __rpow__(self, o): return self._b().pow(o, self)
    def __neg__(self): return self._b().neg(self)
    def __abs__(self): return self._b().abs(self)
    def __lt__(self, o): return self._b().less(self, o)
    def __le__(self, o): return self._b().less_equal(self, o)
    def __gt__(self, o): return self._b().greater(self, o)
    def __ge__(self, o): return self._b().greater_equal(self, o)
    def __getitem__(self, key): return self._b().getitem(self, key)

    @property
    def T(self):
        return self._b().transpose(self)


def apply(op: str, inputs: Sequence[Tensor], **attrs) -> Tensor:
    """Build one primitive application, checking it with the op's shape/dtype rule."""
    opdef = get_op(op)
    attrs = Attrs(attrs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: input {i} is {type(t).__name__}, expected a Tensor")
    try:
        out_type = opdef.infer([t.type for t in inputs], attrs)
    except ValueError as e:
        where = f" in layer {current_origin()!r}" if current_origin() else ""
        shapes = ", ".join(str(t.type) for t in inputs)
        raise ValueError(f"{op}{where}: {e} (inputs: {shapes})") from None
    return Tensor(op, inputs, attrs, out_type, current_origin())
