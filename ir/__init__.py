"""graphnn's intermediate representation: typed symbolic tensors, the primitive registry, the
networkx graph, autodiff, passes, a reference interpreter and printers."""
from . import ops  # noqa: F401  (registers the primitives)
from .registry import REGISTRY, OpDef, get_op, register
from .tensor import Tensor, apply, origin_scope
from .types import TensorType

__all__ = ["REGISTRY", "OpDef", "get_op", "register", "Tensor", "apply", "origin_scope", "TensorType"]
