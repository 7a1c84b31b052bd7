"""``fusion``: decide which nodes become kernels and which are inlined into their consumers.

The classic lattice: elementwise, broadcast and movement ops are inlined into whatever consumes
them (chains, and into a following reduction), so a fused group is one kernel that reads its
materialized inputs once.  A node is materialized (a kernel "root") when it is a reduction,
contraction or opaque op, a graph output or update value, an operand of a contraction or scatter
(those read operands many times), or an elementwise value with several consumers (computing it
once beats recomputing it; cheap movement of a buffer is still inlined everywhere).

A contraction also absorbs its elementwise epilogue: when a matmul's only consumer is a chain of
same-shape elementwise ops (bias add, activation, scaling, a gradient mask) and reshapes, the matmul is
inlined into that chain's kernel, which then is a tiled matmul that applies the chain to each
accumulated value before storing it (``g.kernel_contraction[root] = matmul node``).

Results are node annotations: ``fusion`` = ``"source" | "root" | "inline"``, and on the graph
``g.kernel_reads[root]`` = the materialized nodes a root's kernel reads and
``g.kernel_members[root]`` = the nodes it computes.
"""
from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..registry import get_op
from . import register_pass

CHEAP_MOVEMENT = {"broadcast", "reshape", "transpose", "slice", "im2col"}


def _is_small_constant(g, n):
    return g.op(n) == "constant" and g.attrs(n)["value"].array.size == 1


def _needs_buffer_operand(g, user):
    return get_op(g.op(user)).fusion in ("contraction", "opaque")


def _must_materialize(g: Graph, n: int, roots: set) -> bool:
    kind = get_op(g.op(n)).fusion
    if kind in ("reduction", "contraction", "opaque"):
        return True
    if n in roots:
        return True
    users = g.users(n)
    if any(_needs_buffer_operand(g, u) for u, _ in users):
        return True
    if len({u for u, _ in users}) > 1:
        # cheap index remapping of an existing buffer is recomputed by every consumer
        src = n
        while g.op(src) in CHEAP_MOVEMENT:
            src = g.args(src)[0]
        return not (src != n and (_is_buffer(g, src) or _is_cheap_unary(g, src)))
    return False


def _is_buffer(g: Graph, n: int) -> bool:
    return get_op(g.op(n)).fusion == "source" or _is_small_constant(g, n)


def _is_cheap_unary(g: Graph, n: int) -> bool:
    """A single-consumer elementwise op of one value and scalar constants (an activation such
    as ``maximum(x, 0)``): recomputing it under a movement chain (e.g. a pooling's patches read
    by its argmax and by its selection) is cheaper than storing the moved copy."""
    if get_op(g.op(n)).fusion != "elementwise" or g.op(n) == "random_uniform" \
            or len(g.users(n)) != 1:
        return False
    def scalar(a: int) -> bool:
        while g.op(a) in CHEAP_MOVEMENT:
            a = g.args(a)[0]
        return _is_small_constant(g, a)
    return sum(not scalar(a) for a in g.args(n)) <= 1


def _groups(g: Graph):
    g.kernel_reads, g.kernel_members = {}, {}
    for n in g.topo():
        if g.nx.nodes[n]["fusion"] != "root":
            continue
        reads, members, stack = [], [n], list(g.args(n))
        seen = set()
        while stack:
            a = stack.pop()
            if a in seen:
                continue
            seen.add(a)
            mark = g.nx.nodes[a]["fusion"]
            if mark == "inline":
                members.append(a)
                stack.extend(g.args(a))
            elif not _is_small_constant(g, a):
                reads.append(a)
        g.kernel_reads[n] = sorted(reads)
        g.kernel_members[n] = sorted(members)


def _epilogue_root(g: Graph, c: int):
    """The root of the kernel that can absorb contraction ``c`` as its epilogue, or None: the
    single-consumer chain above ``c`` must be same-shape elementwise ops and reshapes (which keep
    the flat order, e.g. a convolution's weight gradient viewed as the kernel's shape)."""
    shape = g.type(c).shape
    node = c
    while True:
        users = g.users(node)
        if len(users) != 1:
            return None
        u = users[0][0]
        if g.op(u) == "reshape":
            shape = g.type(u).shape
        elif get_op(g.op(u)).fusion != "elementwise" or g.op(u) == "random_uniform" \
                or g.type(u).shape != shape or not g.type(u).dtype.startswith("float"):
            return None
        if g.nx.nodes[u]["fusion"] == "root":
            return u
        node = u


def _absorb_epilogues(g: Graph, roots: set):
    g.kernel_contraction = {}
    for c in g.topo():
        if get_op(g.op(c)).fusion != "contraction" or c in roots:
            continue
        r = _epilogue_root(g, c)
        if r is None or r in g.kernel_contraction:
            continue
        g.nx.nodes[c]["fusion"] = "inline"
        g.kernel_contraction[r] = c


@register_pass("fusion")
def fusion(g: Graph) -> Graph:
    roots = set(g.roots())
    for n in g.topo():
        op = g.op(n)
        if get_op(op).fusion == "source":
            mark = "source"
        else:
            mark = "root" if _must_materialize(g, n, roots) else "inline"
        g.nx.nodes[n]["fusion"] = mark
    _absorb_epilogues(g, roots)
    _groups(g)
    return g


def kernel_count(g: Graph) -> int:
    return int(np.sum([1 for n in g.nodes() if g.nx.nodes[n].get("fusion") == "root"]))
