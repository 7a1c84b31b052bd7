"""Small helpers shared by rewrite passes."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..graph import Graph


def const_scalar(g: Graph, n: int) -> Optional[float]:
    """If ``n`` is a constant whose elements are all equal (possibly behind reshape/broadcast),
    that value, else None."""
    while g.op(n) in ("broadcast", "reshape"):
        n = g.args(n)[0]
    if g.op(n) != "constant":
        return None
    a = g.attrs(n)["value"].array
    if a.size == 0:
        return None
    first = a.flat[0]
    if a.size > 1 and not np.all(a == first):
        return None
    return first.item()


def is_const(g: Graph, n: int, value) -> bool:
    v = const_scalar(g, n)
    return v is not None and v == value and not (isinstance(v, float) and np.isnan(v))
