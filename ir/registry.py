"""The op registry: one entry per primitive with its four rules kept together.

A primitive is registered with :func:`register` as an :class:`OpDef`:

- ``infer(in_types, attrs) -> TensorType``: shape/dtype rule (raises ``ValueError`` on misuse);
- ``reference(args, attrs, env) -> np.ndarray``: numpy implementation (``env`` maps symbols to ints);
- ``vjp(inputs, output, cotangent, attrs) -> list``: the gradient rule, written with other
  primitives on symbolic :class:`ir.tensor.Tensor` values; ``None`` marks a non-differentiable
  input; ``vjp=None`` means the op has no gradient at all;
- ``fusion``: one of :data:`FUSION_KINDS`, used by the fusion pass;
- ``sample(rng)`` (optional): example inputs and attrs, so the parametrized op tests cover every
  primitive without new test code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

FUSION_KINDS = ("source", "elementwise", "broadcast", "movement", "reduction", "contraction",
                "opaque")


class Attrs(dict):
    """An immutable, hashable mapping of op attributes (values must be hashable)."""

    def __hash__(self):
        return hash(tuple(sorted(self.items())))

    def _immutable(self, *a, **k):
        raise TypeError("op attributes are immutable")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = _immutable

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class OpDef:
    name: str
    infer: Callable
    reference: Callable
    vjp: Optional[Callable]
    fusion: str
    sample: Optional[Callable] = None
    #: scalar operator name in ``codegen.kernel.SCALAR_OPS`` for elementwise ops
    scalar: Optional[str] = None
    #: flops per output element (for benchmarks and kernel metadata)
    cost: int = 1
    doc: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.fusion not in FUSION_KINDS:
            raise ValueError(f"op {self.name}: unknown fusion kind {self.fusion!r}")


REGISTRY: Dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in REGISTRY:
        raise ValueError(f"op {opdef.name!r} registered twice")
    REGISTRY[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown primitive {name!r}") from None
