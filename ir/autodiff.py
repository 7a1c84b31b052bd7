"""Reverse-mode automatic differentiation as a graph-to-graph transformation.

``grad(y, xs)`` walks the expression DAG from ``y`` back to ``xs`` in reverse topological order,
applies each primitive's VJP rule (itself written with primitives) and sums the cotangents of
values used more than once.  The result is more graph: the gradient tensors are compiled exactly
like the forward computation, fused with it, and share its intermediate values.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from . import builder as b
from .registry import get_op
from .tensor import Tensor, origin_scope
from .types import is_float


def _topo(y: Tensor) -> List[Tensor]:
    order, seen, stack = [], set(), [(y, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if t.id in seen:
            continue
        seen.add(t.id)
        stack.append((t, True))
        stack.extend((a, False) for a in t.inputs if a.id not in seen)
    return order  # inputs before users


def zeros_like(x: Tensor) -> Tensor:
    return b.broadcast_to(b.constant(np.zeros((), dtype=x.dtype)), x.shape)


def grad(y: Tensor, xs: Sequence[Tensor]) -> List[Tensor]:
    """d(y)/d(x) for each x; ``y`` must be a float scalar.  Unreached xs get zeros."""
    if y.shape != () or not is_float(y.dtype):
        raise ValueError(f"gradients need a float scalar to differentiate, got {y.type}")
    order = _topo(y)
    # only propagate through nodes that depend on some x
    targets = {x.id for x in xs}
    depends = set()
    for t in order:
        if t.id in targets or any(a.id in depends for a in t.inputs):
            depends.add(t.id)
    cot: Dict[int, Tensor] = {y.id: b.constant(np.ones((), dtype=y.dtype))}
    for t in reversed(order):
        g = cot.get(t.id)
        if g is None or not t.inputs:
            continue
        opdef = get_op(t.op)
        if opdef.vjp is None or not any(a.id in depends for a in t.inputs):
            continue
        with origin_scope(f"{t.origin or t.op}:grad"):
            grads = opdef.vjp(list(t.inputs), t, g, t.attrs)
            for a, ga in zip(t.inputs, grads):
                if ga is None or a.id not in depends:
                    continue
                if ga.type != a.type:
                    raise AssertionError(f"VJP of {t.op} gave {ga.type} for input {a.type}")
                cot[a.id] = ga if a.id not in cot else b.add(cot[a.id], ga)
    return [cot.get(x.id) if x.id in cot else zeros_like(x) for x in xs]
