"""``dce``: remove nodes that no output or update needs (inputs always stay)."""
from __future__ import annotations

import networkx as nx

from ..graph import Graph
from . import register_pass


@register_pass("dce")
def dce(g: Graph) -> Graph:
    live = set(g.roots()) | set(g.inputs)
    for r in list(live):
        live |= nx.ancestors(g.nx, r)
    g.remove([n for n in g.nodes() if n not in live])
    return g
