"""``cse``: merge nodes that apply the same op with the same attrs to the same arguments."""
from __future__ import annotations

from ..graph import Graph
from . import register_pass


@register_pass("cse")
def cse(g: Graph) -> Graph:
    seen = {}
    inputs = set(g.inputs)
    for n in g.topo():
        if n in inputs:
            continue
        key = (g.op(n), g.attrs(n), tuple(g.args(n)), g.type(n))
        other = seen.get(key)
        if other is None:
            seen[key] = n
        else:
            g.replace_uses(n, other)
            g.remove([n])
    return g
