"""Lowering of ``scan``: one kernel whose serial loop over time runs the body's kernels.

The body graph is planned and lowered on its own (``codegen.lower.lower_graph``); its kernels'
statements are then placed inside ``for t`` with their buffers renamed to the enclosing kernel's
parameters: step slices of sequences are read in place at offset ``t * step size``; the carry,
the body's temporaries and the new carry live in scratch slots the memory planner gave the scan
(``Plan.scratch``).  A scan returning every step has its body write the new carry into
``out[t]`` and copies it into the carry; one returning the last carry only (or whose body's
matrix product writes the new carry) copies it from scratch into the carry (and ``out[t]``).
No Python runs per step, and the loop bounds are symbols: one program serves every length.
"""
from __future__ import annotations

from typing import Dict, Tuple

from ir.ops.scan import planned_body, scratch_layout

from .errors import CompileError
from .kernel import (GEMM_ACC, GEMM_BATCH, GEMM_COL, GEMM_ROW, Assign, Call, Const, Expr, For,
                     Gemm, If, Load, Store, Var, call)
from .lower import I64, OP_LOWERINGS, KernelBuilder, dim_expr, lower_graph, size_expr

_FIXED_VARS = {GEMM_ACC, GEMM_ROW, GEMM_COL, GEMM_BATCH}


class _Rename:
    """Rewrites a body kernel's statements: buffers -> (enclosing name, element offset); locals
    get a per-kernel prefix so kernels placed in one function keep their variables apart."""

    def __init__(self, bufs: Dict[str, Tuple[str, Expr]], prefix: str, symbols):
        self.bufs, self.prefix, self.symbols = bufs, prefix, set(symbols)

    def var(self, v: Var) -> Var:
        if v.name in self.symbols or v.name in _FIXED_VARS:
            return v
        return Var(self.prefix + v.name, v.dtype)

    def expr(self, e: Expr) -> Expr:
        if isinstance(e, Var):
            return self.var(e)
        if isinstance(e, Load):
            name, off = self.bufs[e.buf]
            return Load(name, call("add", off, self.expr(e.index)), e.dtype)
        if isinstance(e, Call):
            return Call(e.op, tuple(self.expr(a) for a in e.args), e.dtype)
        return e

    def stmt(self, s):
        if isinstance(s, Assign):
            return Assign(self.var(s.var), self.expr(s.value))
        if isinstance(s, Store):
            name, off = self.bufs[s.buf]
            return Store(name, call("add", off, self.expr(s.index)), self.expr(s.value))
        if isinstance(s, For):
            return For(self.var(s.var), self.expr(s.start), self.expr(s.stop),
                       [self.stmt(b) for b in s.body], s.kind)
        if isinstance(s, If):
            return If(self.expr(s.cond), [self.stmt(b) for b in s.body],
                      [self.stmt(b) for b in s.orelse])
        if isinstance(s, Gemm):
            names = []
            for buf in (s.a, s.b, s.c):
                name, off = self.bufs[buf]
                if not (isinstance(off, Const) and off.value == 0):
                    raise CompileError(f"a matrix product in a scan body reads {buf} at an offset")
                names.append(name)
            epi = self.expr(s.epilogue) if s.epilogue is not None else None
            return Gemm(*names, self.expr(s.m), self.expr(s.n), self.expr(s.k),
                        self.expr(s.batch), s.transpose_a, s.transpose_b, s.dtype, epi)
        raise CompileError(f"unexpected statement {type(s).__name__} in a scan body")


def _copy(kb: KernelBuilder, dst: str, dst_off: Expr, src: str, src_off: Expr, n: Expr,
          dtype: str) -> For:
    i = kb.var("c")
    return For(i, Const(0, I64), n, [Store(dst, call("add", dst_off, i),
                                           Load(src, call("add", src_off, i), dtype))], "vector")


def lower_scan(kb: KernelBuilder, out_slot: int) -> list:
    g, root = kb.g, kb.root
    at = g.attrs(root)
    body, n_seq = at["body"], at["n_seq"]
    bg = planned_body(body)
    bplan = bg.plan
    desc = lower_graph(bg, name=f"{kb.name}_body")
    args = g.args(root)
    seqs, consts = args[1:1 + n_seq], args[1 + n_seq:]
    lag = {i: (j, off) for i, j, off in at["lags"]}
    t = kb.var("t")
    T = dim_expr(g.type(seqs[0]).shape[0])
    zero = Const(0, I64)

    def outer(n, role="in"):
        return kb.param(g.plan.slot_of[n], g.type(n).dtype, role)

    out = kb.param(out_slot, g.type(root).dtype, "out")
    bufs: Dict[int, Tuple[str, Expr]] = {}       # body slot -> (param, offset)
    layout = scratch_layout(body, n_seq, at["lags"])
    for bslot, oslot in zip(layout, g.plan.scratch[root]):
        bufs[bslot] = (kb.param(oslot, bplan.slots[bslot].dtype, "inout"), zero)
    before, step = [], []
    for k, node in enumerate(bg.inputs):
        bslot = bplan.slot_of[node]
        if k == 0:
            continue
        if k <= n_seq:
            i = k - 1
            src = outer(seqs[i])
            n = size_expr(bg.type(node).shape)
            if bslot not in bufs:
                bufs[bslot] = (src, call("mul", t, n))
                continue
            dst = bufs[bslot][0]
            if i in lag:
                j, off = lag[i]
                edge = zero if off < 0 else call("sub", T, Const(1, I64))
                step.append(If(call("equal", t, edge),
                               [_copy(kb, dst, zero, outer(consts[j]), zero, n, bg.type(node).dtype)],
                               [_copy(kb, dst, zero, src, call("mul", call("add", t, Const(off, I64)), n),
                                      n, bg.type(node).dtype)]))
            else:
                step.append(_copy(kb, dst, zero, src, call("mul", t, n), n, bg.type(node).dtype))
        else:
            bufs[bslot] = (outer(consts[k - 1 - n_seq]), zero)
    carry_t = g.type(args[0])
    carry_slot = bplan.slot_of[bg.inputs[0]]
    carry = bufs[carry_slot][0]
    out_slot_b = next(k for k, sl in enumerate(bplan.slots) if sl.kind == "output")
    new = bufs[out_slot_b][0]
    n_carry = size_expr(carry_t.shape)
    kernels = {k.name: k for k in desc.kernels}

    def body_stmts(views, prefix):
        res = []
        for li, launch in enumerate(desc.launches):
            kern = kernels[launch.kernel]
            names = {p.name: views[s] for p, s in zip(kern.params, launch.slots)}
            ren = _Rename(names, f"{prefix}{li}_", kern.symbols)
            res += [ren.stmt(s) for s in kern.body]
        return res
    before.append(_copy(kb, carry, zero, outer(args[0]), zero, n_carry, carry_t.dtype))
    stmts = None
    if not at["last_only"] and out_slot_b != carry_slot:
        # the new carry goes straight into out[t]: one copy per step (into the carry) instead
        # of two; not where a body GEMM writes it (a Gemm has no offset)
        direct = dict(bufs)
        direct[out_slot_b] = (out, call("mul", t, n_carry))
        try:
            stmts = body_stmts(direct, "s")
        except CompileError:
            stmts = None
    if stmts is not None:
        step += stmts + [_copy(kb, carry, zero, out, call("mul", t, n_carry), n_carry,
                               carry_t.dtype)]
    else:
        step += body_stmts(bufs, "s")
        step.append(_copy(kb, carry, zero, new, zero, n_carry, carry_t.dtype))
        if not at["last_only"]:
            step.append(_copy(kb, out, call("mul", t, n_carry), new, zero, n_carry,
                              carry_t.dtype))
    if at["reverse"]:
        # for r in 0..T: t = T - 1 - r
        r = kb.var("r")
        loop = For(r, zero, T, [Assign(t, call("sub", call("sub", T, Const(1, I64)), r))] + step,
                   "serial")
    else:
        loop = For(t, zero, T, step, "serial")
    after = []
    if at["last_only"]:
        after.append(_copy(kb, out, zero, carry, zero, n_carry, carry_t.dtype))
    return before + [loop] + after


OP_LOWERINGS["scan"] = lower_scan
