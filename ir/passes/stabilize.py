"""``stabilize``: rewrite numerically unstable patterns into stable forms.

- ``log(exp(a) / sum(exp(a)))`` (log of a softmax) -> ``a - log(sum(exp(a)))``: no log(0) = -inf
  when a probability underflows.
- ``log(sigmoid(x))`` -> ``min(x, 0) - log(1 + exp(-|x|))``.
"""
from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..ops.sources import ConstValue
from . import register_pass


def _through_shape_ops(g, n):
    chain = []
    while g.op(n) in ("reshape", "broadcast"):
        chain.append(n)
        n = g.args(n)[0]
    return n, chain


def _log_softmax(g: Graph, n: int):
    (x,) = g.args(n)
    if g.op(x) != "div":
        return None
    e, denom = g.args(x)
    if g.op(e) != "exp":
        return None
    s, chain = _through_shape_ops(g, denom)
    if g.op(s) != "sum" or g.args(s)[0] != e:
        return None
    a = g.args(e)[0]
    o = g.origin(n)
    lg = g.add("log", [s], None, g.type(s), o)
    cur = lg
    for c in reversed(chain):  # rebuild the same reshape/broadcast chain on log(sum)
        cur = g.add(g.op(c), [cur], g.attrs(c), g.type(c), o)
    return g.add("sub", [a, cur], None, g.type(n), o)


def _const_like(g, n, value):
    t = g.type(n)
    c = g.add("constant", [], {"value": ConstValue(np.asarray(value, t.dtype))},
              type(t)((), t.dtype), g.origin(n))
    if t.shape == ():
        return c
    r = g.add("reshape", [c], {"shape": (1,) * len(t.shape)}, None, g.origin(n))
    return g.add("broadcast", [r], {"shape": t.shape}, None, g.origin(n))


def _log_sigmoid(g: Graph, n: int):
    (s,) = g.args(n)
    if g.op(s) != "sigmoid":
        return None
    (x,) = g.args(s)
    o, t = g.origin(n), g.type(n)
    zero, one = _const_like(g, n, 0), _const_like(g, n, 1)
    neg_abs = g.add("neg", [g.add("abs", [x], None, t, o)], None, t, o)
    softplus = g.add("log", [g.add("add", [one, g.add("exp", [neg_abs], None, t, o)], None, t, o)],
                     None, t, o)
    return g.add("sub", [g.add("minimum", [x, zero], None, t, o), softplus], None, t, o)


@register_pass("stabilize")
def stabilize(g: Graph) -> Graph:
    for n in g.topo():
        if n not in g or g.op(n) != "log":
            continue
        r = _log_softmax(g, n) or _log_sigmoid(g, n)
        if r is not None:
            g.replace_uses(n, r)
            g.remove([n])
    return g
