"""``simplify``: algebraic identities that remove work (x+0, x*1, x/1, double negation,
reshape/transpose chains, no-op broadcasts and casts, gradient stops, constant selects, x**2)."""
from __future__ import annotations

from ..graph import Graph
from . import register_pass
from .patterns import const_scalar, is_const


def _rewrite(g: Graph, n: int):
    """Return a node that computes the same value as ``n`` more simply, or None."""
    op, args, t = g.op(n), g.args(n), g.type(n)
    if op == "stop_gradient":
        return args[0]
    if op in ("add",):
        if is_const(g, args[1], 0):
            return args[0]
        if is_const(g, args[0], 0):
            return args[1]
    if op == "sub" and is_const(g, args[1], 0):
        return args[0]
    if op == "mul":
        if is_const(g, args[1], 1):
            return args[0]
        if is_const(g, args[0], 1):
            return args[1]
    if op == "div" and is_const(g, args[1], 1):
        return args[0]
    if op == "neg" and g.op(args[0]) == "neg":
        return g.args(args[0])[0]
    if op in ("reshape", "broadcast") and g.type(args[0]).shape == t.shape:
        return args[0]
    if op == "reshape" and g.op(args[0]) == "reshape":
        inner = g.args(args[0])[0]
        if g.type(inner).shape == t.shape:
            return inner
        return g.add("reshape", [inner], {"shape": t.shape}, t, g.origin(n))
    if op == "transpose" and g.op(args[0]) == "transpose":
        inner = g.args(args[0])[0]
        p1, p2 = g.attrs(args[0])["perm"], g.attrs(n)["perm"]
        perm = tuple(p1[p] for p in p2)
        if perm == tuple(range(len(perm))):
            return inner
        return g.add("transpose", [inner], {"perm": perm}, t, g.origin(n))
    if op == "cast" and g.type(args[0]).dtype == t.dtype:
        return args[0]
    if op == "where":
        c = const_scalar(g, args[0])
        if c is not None:
            return args[1] if c else args[2]
        if args[1] == args[2]:
            return args[1]
    if op == "pow":
        e = const_scalar(g, args[1])
        if e == 1:
            return args[0]
        if e == 2:
            return g.add("mul", [args[0], args[0]], None, t, g.origin(n))
    return None


@register_pass("simplify")
def simplify(g: Graph) -> Graph:
    changed = True
    while changed:
        changed = False
        for n in g.topo():
            if n not in g:
                continue
            r = _rewrite(g, n)
            if r is not None and r != n:
                g.replace_uses(n, r)
                if not g.users(n) and n not in g.inputs:
                    g.remove([n])
                changed = True
    return g
