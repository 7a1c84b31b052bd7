"""``flatten_batch``: batched matmuls whose batch axes fold into a single large product.

The IR cannot merge the symbolic batch axis with a static one in a reshape, so ``K.dot`` of a
sequence ``(N, T, C)`` with a weight ``(C, U)`` -- Dense on sequences and every convolution's
im2col product -- is a batched ``matmul`` whose second operand is the weight broadcast to
``(N, C, U)``, and its weight gradient (the VJP of that broadcast) sums a per-sample product
``A_b^T G_b`` over the batch.  Both are one ``matmul_flat`` of the operands' 2-D views:

- ``matmul(A, broadcast(W))`` (A not transposed) -> ``matmul_flat(A, W)``: rows ``N*T``, and
  the broadcast weight is never materialized;
- ``sum(matmul(A, G, transpose_a=True), batch axes)`` -> ``matmul_flat(A, G, transpose_a=True)``:
  the batch joins the contraction, so neither the ``(N, C, U)`` temporary nor the reduction exist.

Runs before ``simplify``, which then merges the reshapes around the rewritten nodes.
"""
from __future__ import annotations

from typing import Optional

from ..graph import Graph
from . import register_pass


def _shared_matrix(g: Graph, n: int, last) -> Optional[int]:
    """If ``n`` is a broadcast over leading axes of size 1 of a matrix (the weight of a batched
    product), the node holding that matrix's values with ``last`` as its last axis -- through
    reshapes, so a convolution kernel ``(kh, kw, in, out)`` is read as it is; else None."""
    if g.op(n) != "broadcast":
        return None
    src = g.args(n)[0]
    shape = g.type(src).shape
    if len(shape) < 3 or any(d != 1 for d in shape[:-2]) \
            or tuple(shape[-2:]) != tuple(g.type(n).shape[-2:]):
        return None
    found = None
    while True:
        if g.type(src).ndim >= 2 and g.type(src).shape[-1] == last and g.op(src) != "broadcast":
            found = src
        if g.op(src) != "reshape":
            break
        src = g.args(src)[0]
    return found


def _flat(g: Graph, n: int, a: int, c: int, ta: bool, tb: bool) -> int:
    """``matmul_flat(a, c)`` with ``n``'s origin, reshaped to ``n``'s shape when its columns
    are several axes (a transposed weight read in its own shape)."""
    r = g.add("matmul_flat", [a, c], {"transpose_a": ta, "transpose_b": tb}, None, g.origin(n))
    if g.type(r).shape != g.type(n).shape:
        r = g.add("reshape", [r], {"shape": g.type(n).shape}, None, g.origin(n))
    return r


def _rewrite(g: Graph, n: int) -> Optional[int]:
    """A ``matmul_flat`` node computing ``n``'s value, or None."""
    op = g.op(n)
    if op == "matmul":
        a, c = g.args(n)
        at = g.attrs(n)
        if at["transpose_a"] or g.type(n).ndim < 3:
            return None
        tb = at["transpose_b"]
        w = _shared_matrix(g, c, g.type(c).shape[-1])
        return None if w is None else _flat(g, n, a, w, False, tb)
    if op == "sum":
        (m,) = g.args(n)
        if g.op(m) != "matmul" or len(g.users(m)) != 1:
            return None
        at = g.attrs(m)
        rank = g.type(m).ndim
        if not at["transpose_a"] or at["transpose_b"] or rank < 3 \
                or tuple(g.attrs(n)["axes"]) != tuple(range(rank - 2)):
            return None
        a, c = g.args(m)
        return _flat(g, n, a, c, True, False)
    return None


@register_pass("flatten_batch")
def flatten_batch(g: Graph) -> Graph:
    for n in g.topo():
        r = _rewrite(g, n)
        if r is None:
            continue
        assert g.type(r) == g.type(n), (g.describe(n), g.type(r))
        g.replace_uses(n, r)
        if n not in g.inputs:
            g.remove([n])
    return g
