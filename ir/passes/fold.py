"""``fold``: evaluate nodes whose arguments are all constants (with the op's numpy reference),
when the result has a static shape and is small."""
from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..ops.sources import ConstValue
from ..registry import get_op
from ..types import symbols_of
from . import register_pass

MAX_FOLD_ELEMENTS = 1 << 16


@register_pass("fold")
def fold(g: Graph) -> Graph:
    for n in g.topo():
        op = g.op(n)
        args = g.args(n)
        if not args or get_op(op).fusion == "source" or op == "random_uniform":
            continue
        if not all(g.op(a) == "constant" for a in args):
            continue
        t = g.type(n)
        if symbols_of(t.shape) or int(np.prod(t.shape, dtype=np.int64)) > MAX_FOLD_ELEMENTS:
            continue
        value = get_op(op).reference([g.attrs(a)["value"].array for a in args], g.attrs(n), {})
        c = g.add("constant", [], {"value": ConstValue(np.asarray(value, t.dtype))}, t, g.origin(n))
        g.replace_uses(n, c)
        g.remove([n])
    return g
