"""``verify``: the graph is acyclic, every node's type is what its op's rule infers from its
arguments, inputs are placeholders, and every placeholder that is used is an input."""
from __future__ import annotations

import networkx as nx

from ..graph import Graph
from ..registry import get_op
from . import register_pass


class GraphError(ValueError):
    pass


def verify(g: Graph) -> Graph:
    if not nx.is_directed_acyclic_graph(g.nx):
        raise GraphError(f"graph {g.name!r} has a cycle")
    inputs = set(g.inputs)
    for n in g.nodes():
        op = g.op(n)
        args = g.args(n)
        keys = sorted(k for _, _, k in g.nx.in_edges(n, keys=True))
        if keys != list(range(len(args))):
            raise GraphError(f"{g.describe(n)}: argument positions {keys} have gaps")
        try:
            t = get_op(op).infer([g.type(a) for a in args], g.attrs(n))
        except (ValueError, KeyError) as e:
            raise GraphError(f"{g.describe(n)}: {e}") from None
        if t != g.type(n):
            raise GraphError(f"{g.describe(n)}: rule infers {t}")
        if op == "placeholder" and n not in inputs:
            raise GraphError(f"placeholder {g.attrs(n)['name']!r} is used but not an input of "
                             f"{g.name!r}")
    for n in inputs:
        if n not in g or g.op(n) != "placeholder":
            raise GraphError(f"input {n} is not a placeholder")
    for var, val in g.updates:
        if g.op(var) != "variable" or g.type(var) != g.type(val):
            raise GraphError(f"bad update {g.describe(var)} <- {g.describe(val)}")
    return g


register_pass("verify")(verify)
