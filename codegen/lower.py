"""Lower a fused, planned graph to the backend-neutral :class:`ProgramDesc`.

One kernel per fused group (``g.kernel_members[root]``): the root decides the loop structure
(elementwise loop nest, register or memory-accumulator reduction, matmul loop nest, scatter), and
inlined members become scalar expressions evaluated at an index.  Movement ops are pure index
arithmetic here: a transpose permutes the index, a broadcast zeroes it, a reshape goes through the
flat index, so no copy is ever made for them.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ir.graph import Graph
from ir.ops.matmul import flat_groups
from ir.registry import get_op
from ir.types import Product

from .errors import CompileError
from .kernel import (GEMM_ACC, GEMM_BATCH, GEMM_COL, GEMM_ROW, Assign, Call, Const, Expr, For,
                     Gemm, Kernel, Launch, Load, Param, ProgramDesc, Store, Var, call, cast,
                     gemm_loop_nest)

I64 = "int64"


def dim_expr(d) -> Expr:
    return Var(d, I64) if isinstance(d, str) else Const(int(d), I64)


def size_expr(shape) -> Expr:
    e = Const(1, I64)
    for d in shape:
        e = call("mul", e, dim_expr(d))
    return e


#: constant trip counts of the loop variables of the kernel being lowered (name -> extent), so
#: index splits can drop a div/mod whose operand is known to be in range
_EXTENTS: Dict[str, int] = {}


def _split(e: Expr, d, op: str) -> Expr:
    """``e // d`` or ``e % d`` (``op``), simplified when ``e`` is a loop variable below ``d``
    or such a variable plus a multiple of ``d`` (a tap offset plus a channel, say)."""
    if isinstance(d, int):
        if isinstance(e, Var) and 0 < _EXTENTS.get(e.name, d + 1) <= d:
            return Const(0, I64) if op == "floordiv" else e
        if isinstance(e, Call) and e.op == "add" and isinstance(e.args[0], Const) \
                and e.args[0].value % d == 0 and e.args[0].value >= 0:
            rest = _split(e.args[1], d, op)
            return call("add", Const(e.args[0].value // d, I64), rest) if op == "floordiv" \
                else rest
    return call(op, e, dim_expr(d))


class Index:
    """A position in a tensor of ``shape``, known as a multi-index, a flat index, or both; the
    other form is derived on demand (so buffers of equal layout are read with the flat index and
    no div/mod)."""

    def __init__(self, shape, multi: Optional[List[Expr]] = None, flat: Optional[Expr] = None):
        self.shape = tuple(shape)
        self._multi = list(multi) if multi is not None else None
        self._flat = flat
        assert multi is not None or flat is not None

    @property
    def flat(self) -> Expr:
        if self._flat is None:
            e = Const(0, I64)
            for i, d in zip(self._multi, self.shape):
                e = call("add", call("mul", e, dim_expr(d)), i)
            self._flat = e
        return self._flat

    @property
    def multi(self) -> List[Expr]:
        if self._multi is None:
            rest, out = self._flat, []
            for d in reversed(self.shape[1:]):
                out.append(_split(rest, d, "mod"))
                rest = _split(rest, d, "floordiv")
            out.append(rest if self.shape else None)
            self._multi = [e for e in reversed(out) if e is not None] if self.shape else []
        return self._multi


def _reshape_groups(dst, src):
    """Pair runs of ``dst`` axes with runs of ``src`` axes of equal size (a reshape only merges
    or splits within a run), or None when symbolic sizes do not line up."""
    groups, i, j = [], 0, 0
    while i < len(dst) and j < len(src):
        di, sj, pd, ps = [i], [j], dst[i], src[j]
        i, j = i + 1, j + 1
        while pd != ps:
            if isinstance(pd, str) or isinstance(ps, str):
                return None
            if pd < ps and i < len(dst):
                pd *= dst[i]
                di.append(i)
                i += 1
            elif ps < pd and j < len(src):
                ps *= src[j]
                sj.append(j)
                j += 1
            else:
                return None
        groups.append((di, sj))
    if not groups or any(d != 1 for d in dst[i:]) or any(d != 1 for d in src[j:]):
        return None
    groups[-1] = (groups[-1][0] + list(range(i, len(dst))),
                  groups[-1][1] + list(range(j, len(src))))
    return groups


def reshape_index(idx: Index, src_shape) -> Index:
    """The same element seen through a reshape.  With a multi-index at hand, axes a reshape
    leaves alone keep their index and merged or split runs are recombined locally, so an inner
    channel axis stays the loop variable (contiguous, vectorizable) instead of a div/mod of
    the flat position."""
    groups = _reshape_groups(idx.shape, tuple(src_shape)) if idx._multi is not None else None
    if groups is None:
        return Index(src_shape, flat=idx.flat)
    multi: List[Expr] = [None] * len(src_shape)
    for di, sj in groups:
        di = [a for a in di if idx.shape[a] != 1]
        sj_real = [a for a in sj if src_shape[a] != 1]
        for a in sj:
            multi[a] = Const(0, I64)
        if not sj_real:
            continue
        if len(di) == 1 and len(sj_real) == 1:
            multi[sj_real[0]] = idx.multi[di[0]]
            continue
        flat = Index([idx.shape[a] for a in di], [idx.multi[a] for a in di]).flat if di \
            else Const(0, I64)
        sub = Index([src_shape[a] for a in sj_real], flat=flat).multi
        for a, e in zip(sj_real, sub):
            multi[a] = e
    return Index(src_shape, multi, idx._flat)


def clamp(e: Expr, lo: int, hi: Expr) -> Expr:
    return call("minimum", call("maximum", e, Const(lo, e.dtype)), hi)


class KernelBuilder:
    """Builds one kernel: parameter names for the buffers it touches, and scalar expressions for
    the inlined nodes of its group."""

    def __init__(self, g: Graph, root: int, name: str):
        self.g, self.root, self.name = g, root, name
        self.params: List[Param] = []
        self.param_slots: List[int] = []
        self._param_of: Dict[int, str] = {}
        self._tmp = 0
        self.contraction = None   # (matmul node, accumulator Var) inside a fused epilogue

    def param(self, slot: int, dtype: str, role: str) -> str:
        key = slot
        if key in self._param_of:
            name = self._param_of[key]
            if role != "in":
                i = [p.name for p in self.params].index(name)
                self.params[i] = Param(name, dtype, "inout")
            return name
        name = f"b{len(self.params)}"
        self._param_of[key] = name
        self.params.append(Param(name, dtype, role))
        self.param_slots.append(slot)
        return name

    def var(self, prefix: str, dtype: str = I64) -> Var:
        self._tmp += 1
        return Var(f"{prefix}{self._tmp}", dtype)

    # --- values of nodes at an index
    def load(self, n: int, idx: Index) -> Expr:
        g = self.g
        t = g.type(n)
        buf = self.param(g.plan.slot_of[n], t.dtype, "in")
        return Load(buf, idx.flat, t.dtype)

    def value(self, n: int, idx: Index) -> Expr:
        g = self.g
        op = g.op(n)
        t = g.type(n)
        if op == "constant":
            a = g.attrs(n)["value"].array
            if a.size == 1:
                v = a.reshape(()).item()
                return Const(v, t.dtype)
        if self.contraction is not None and n == self.contraction[0]:
            return self.contraction[1]
        if n != self.root and n in g.plan.slot_of:
            return self.load(n, idx)
        args = g.args(n)
        at = g.attrs(n)
        od = get_op(op)
        if od.fusion == "elementwise" and op not in ("random_uniform", "cast", "stop_gradient"):
            return call(od.scalar, *[self.value(a, idx) for a in args])
        if op == "stop_gradient":
            return self.value(args[0], idx)
        if op == "cast":
            return cast(self.value(args[0], idx), at["dtype"])
        if op == "random_uniform":
            key = self.value(args[0], Index((), flat=Const(0, I64)))
            return call("philox_uniform", cast(idx.flat, "uint32"), Const(at["seed"], "uint32"), key)
        src_shape = g.type(args[0]).shape if args else ()
        if op == "reshape":
            return self.value(args[0], reshape_index(idx, src_shape))
        if op == "broadcast":
            multi = [Const(0, I64) if s == 1 and d != 1 else i
                     for i, s, d in zip(idx.multi, src_shape, t.shape)]
            return self.value(args[0], Index(src_shape, multi))
        if op == "transpose":
            perm = at["perm"]
            multi = [None] * len(perm)
            for out_axis, in_axis in enumerate(perm):
                multi[in_axis] = idx.multi[out_axis]
            return self.value(args[0], Index(src_shape, multi))
        if op == "slice":
            multi = [call("add", Const(st, I64), call("mul", i, Const(stp, I64)))
                     for i, (st, _, stp) in zip(idx.multi, at["slices"])]
            return self.value(args[0], Index(src_shape, multi))
        if op == "pad":
            inside, multi = None, []
            for i, bf, st, d in zip(idx.multi, at["before"], at["steps"], src_shape):
                rel = call("sub", i, Const(bf, I64))
                q = call("floordiv", rel, Const(st, I64)) if st != 1 else rel
                conds = [call("greater_equal", rel, Const(0, I64)),
                         call("less", q, dim_expr(d))]
                if st != 1:
                    conds.append(call("equal", call("mod", rel, Const(st, I64)), Const(0, I64)))
                for c in conds:
                    inside = c if inside is None else call("logical_and", inside, c)
                multi.append(clamp(q, 0, call("sub", dim_expr(d), Const(1, I64))))
            v = self.value(args[0], Index(src_shape, multi))
            return v if inside is None else call("where", inside, v, Const(0, t.dtype))
        if op == "concat":
            axis = at["axis"]
            offsets, o = [], 0
            for a in args:
                offsets.append(o)
                o += g.type(a).shape[axis]
            i_ax = idx.multi[axis]
            result = None
            for a, off in reversed(list(zip(args, offsets))):
                n_a = g.type(a).shape[axis]
                multi = list(idx.multi)
                multi[axis] = clamp(call("sub", i_ax, Const(off, I64)), 0, Const(n_a - 1, I64))
                v = self.value(a, Index(g.type(a).shape, multi))
                result = v if result is None else call(
                    "where", call("less", i_ax, Const(off + n_a, I64)), v, result)
            return result
        if op == "im2col":
            return self._im2col_value(n, idx)
        if op == "col2im":
            return self._col2im_value(n, idx)
        if op == "gather":
            table, ids = args
            ishape = g.type(ids).shape
            k = len(ishape)
            row = cast(self.value(ids, Index(ishape, idx.multi[:k])), I64)
            rows = g.type(table).shape[0]
            row = clamp(row, 0, call("sub", dim_expr(rows), Const(1, I64)))
            return self.value(table, Index(g.type(table).shape, [row] + idx.multi[k:]))
        raise NotImplementedError(f"cannot inline {g.describe(n)}")

    def im2col_source(self, n: int, outer: List[Expr], taps: List[Expr], c: Expr) -> Expr:
        """Value of the im2col input read by output position ``outer`` (batch, spatial...),
        kernel tap ``taps`` (one index per spatial axis) and channel ``c``."""
        at = self.g.attrs(n)
        (x,) = self.g.args(n)
        multi = [outer[0]] + [call("add", call("mul", o, Const(s, I64)),
                                   call("mul", t, Const(d, I64)))
                              for o, t, s, d in zip(outer[1:], taps, at["strides"],
                                                    at["dilation"])] + [c]
        return self.value(x, Index(self.g.type(x).shape, multi))

    def _im2col_value(self, n: int, idx: Index) -> Expr:
        """One patch element: the channel and the tap come from the last axis by div/mod."""
        kernel = self.g.attrs(n)["kernel"]
        cin = self.g.type(self.g.args(n)[0]).shape[-1]
        j = idx.multi[-1]
        tap = Index(tuple(kernel), flat=call("floordiv", j, Const(cin, I64)))
        return self.im2col_source(n, idx.multi[:-1], tap.multi if len(kernel) > 1 else [tap.flat],
                                  call("mod", j, Const(cin, I64)))

    def _col2im_value(self, n: int, idx: Index) -> Expr:
        """One input-gradient element: the sum over the kernel taps whose window covers it,
        each term a load of the patch gradient guarded by a per-axis bounds test."""
        g = self.g
        at = g.attrs(n)
        (cols,) = g.args(n)
        cshape = g.type(cols).shape
        kernel, strides, dilation = at["kernel"], at["strides"], at["dilation"]
        cin = g.type(n).shape[-1]
        # per axis and tap position: (inside?, patch position)
        axis_terms = []
        for i, k, s, d, o in zip(idx.multi[1:-1], kernel, strides, dilation, cshape[1:-1]):
            terms = []
            for t in range(k):
                rel = call("sub", i, Const(t * d, I64))
                q = call("floordiv", rel, Const(s, I64)) if s != 1 else rel
                ok = call("logical_and", call("greater_equal", rel, Const(0, I64)),
                          call("less", q, Const(o, I64)))
                if s != 1:
                    ok = call("logical_and", ok, call("equal", call("mod", rel, Const(s, I64)),
                                                      Const(0, I64)))
                # a select, not a clamp: an in-range index for the discarded load that LLVM's
                # loop strength reduction does not try to rewrite (min/max made it slow)
                terms.append((ok, call("where", ok, q, Const(0, I64))))
            axis_terms.append(terms)
        total = None
        for flat_tap, tap in enumerate(np.ndindex(*kernel)):
            ok, pos = None, []
            for terms, t in zip(axis_terms, tap):
                c, q = terms[t]
                ok = c if ok is None else call("logical_and", ok, c)
                pos.append(q)
            chan = call("add", Const(flat_tap * cin, I64), idx.multi[-1])
            v = self.value(cols, Index(cshape, [idx.multi[0]] + pos + [chan]))
            v = call("where", ok, v, Const(0, g.type(n).dtype))
            total = v if total is None else call("add", total, v)
        return total


# --- loop nests --------------------------------------------------------------------------------
def _loop_nest(kb: KernelBuilder, shape, body_fn, inner_kind="vector"):
    """Loops over ``shape`` (outermost parallel, innermost ``inner_kind``); ``body_fn(vars)``
    returns the statements of the innermost body."""
    vars_ = [kb.var("i") for _ in shape]
    for v, d in zip(vars_, shape):
        if isinstance(d, int):
            _EXTENTS[v.name] = d
    body = body_fn(vars_)
    for k in reversed(range(len(shape))):
        if k == len(shape) - 1:
            kind = inner_kind if len(shape) > 1 else "parallel"
        else:
            kind = "parallel" if k == 0 else "serial"
        body = [For(vars_[k], Const(0, I64), dim_expr(shape[k]), body, kind)]
    return body


def _pure_elementwise(g: Graph, root: int) -> bool:
    """True if the group needs no index remapping, so one flat loop covers it."""
    shape = Product(g.type(root).shape)
    for m in g.kernel_members[root]:
        if get_op(g.op(m)).fusion != "elementwise":
            return False
    return all(Product(g.type(r).shape) == shape or g.type(r).shape == ()
               and g.op(r) != "random_uniform" for r in g.kernel_reads[root])


def _output_concat(g: Graph, root: int) -> Optional[int]:
    """The concat (or im2col) node whose values a kernel stores, looking through reshapes (which keep the
    flat order), when it is computed inline; else None."""
    n = root
    while g.op(n) == "reshape":
        n = g.args(n)[0]
        if n in g.plan.slot_of:
            return None
    return n if g.op(n) in ("concat", "im2col") else None


def lower_concat(kb: KernelBuilder, out: str, cat: int) -> list:
    """A concatenation stored part by part: each input's loop nest writes its own slab of the
    output, so no element evaluates the select chain over all inputs (im2col concatenates one
    strided slice per kernel tap).  The parts share one parallel loop over axis 0 when the
    concatenation is along another axis."""
    g = kb.g
    shape, axis = g.type(cat).shape, g.attrs(cat)["axis"]
    outer = kb.var("i") if axis != 0 else None
    body, offset = [], 0
    for a in g.args(cat):
        ashape = g.type(a).shape
        dims = ashape[1:] if outer is not None else ashape
        vs = [kb.var("i") for _ in dims]
        multi = ([outer] if outer is not None else []) + vs
        omulti = list(multi)
        if offset:
            omulti[axis] = call("add", multi[axis], Const(offset, I64))
        stmts = [Store(out, Index(shape, omulti).flat, kb.value(a, Index(ashape, multi)))]
        for k in reversed(range(len(vs))):
            stmts = [For(vs[k], Const(0, I64), dim_expr(dims[k]), stmts,
                         "vector" if k == len(vs) - 1 else "serial")]
        body += stmts
        offset += ashape[axis]
    if outer is None:
        return body
    return [For(outer, Const(0, I64), dim_expr(shape[0]), body, "parallel")]


def lower_im2col(kb: KernelBuilder, out: str, n: int) -> list:
    """Patches stored tap by tap: loops over (batch, output positions, taps, channels) with the
    channels innermost, so the tap and channel need no div/mod and the inner loop is a
    contiguous copy of one input pixel's channels."""
    g = kb.g
    shape = g.type(n).shape
    kernel = g.attrs(n)["kernel"]
    cin = g.type(g.args(n)[0]).shape[-1]
    outer = [kb.var("i") for _ in shape[:-1]]
    taps = [kb.var("t") for _ in kernel]
    c = kb.var("c")
    _EXTENTS[c.name] = cin
    j = call("add", call("mul", Index(tuple(kernel), taps).flat, Const(cin, I64)), c)
    body = [Store(out, Index(shape, outer + [j]).flat, kb.im2col_source(n, outer, taps, c))]
    body = [For(c, Const(0, I64), Const(cin, I64), body, "vector")]
    for v, k in reversed(list(zip(taps, kernel))):
        body = [For(v, Const(0, I64), Const(k, I64), body, "serial")]
    for k in reversed(range(len(outer))):
        body = [For(outer[k], Const(0, I64), dim_expr(shape[k]), body,
                    "parallel" if k == 0 else "serial")]
    return body


def lower_elementwise(kb: KernelBuilder, out_slot: int) -> list:
    g, root = kb.g, kb.root
    t = g.type(root)
    out = kb.param(out_slot, t.dtype, "out")
    cat = _output_concat(g, root)
    if cat is not None and len(g.args(cat)) > 1:
        return lower_concat(kb, out, cat)
    if cat is not None and g.op(cat) == "im2col":
        return lower_im2col(kb, out, cat)
    if _pure_elementwise(kb.g, root) and len(t.shape) != 1:
        i = kb.var("i")
        idx = Index(t.shape, flat=i)
        return [For(i, Const(0, I64), size_expr(t.shape),
                    [Store(out, i, kb.value(root, idx))], "parallel")]
    if not t.shape:
        idx = Index((), flat=Const(0, I64))
        return [Store(out, Const(0, I64), kb.value(root, idx))]

    def body(vs):
        idx = Index(t.shape, multi=vs)
        return [Store(out, idx.flat, kb.value(root, idx))]
    return _loop_nest(kb, t.shape, body)


def _init_value(op, dtype):
    if op == "sum":
        return Const(0.0 if dtype.startswith("float") else 0, dtype)
    big = float("inf") if dtype.startswith("float") else (2 ** 31 - 1 if dtype != "int64" else 2 ** 63 - 1)
    if dtype == "bool":
        return Const(op == "min", "bool")
    return Const(-big if op in ("max", "argmax") else big, dtype)


def _combine(op, acc, v):
    return call({"sum": "add", "max": "maximum", "min": "minimum"}[op], acc, v)


def lower_reduction(kb: KernelBuilder, out_slot: int) -> list:
    g, root = kb.g, kb.root
    op = g.op(root)
    (x,) = g.args(root)
    xshape = g.type(x).shape
    axes = g.attrs(root)["axes"]
    t = g.type(root)
    out = kb.param(out_slot, t.dtype, "out")
    kept = [i for i in range(len(xshape)) if i not in axes]
    kept_shape = [xshape[i] for i in kept]
    red_shape = [xshape[i] for i in axes]
    vdtype = g.type(x).dtype

    def full_index(kvars, rvars):
        multi = [None] * len(xshape)
        for a, v in zip(kept, kvars):
            multi[a] = v
        for a, v in zip(axes, rvars):
            multi[a] = v
        return Index(xshape, multi)

    register_form = (len(xshape) - 1) in axes or op == "argmax" or not kept
    if register_form:
        def body(kvars):
            acc = kb.var("acc", vdtype)
            arg = kb.var("arg") if op == "argmax" else None
            rvars = [kb.var("r") for _ in axes]
            v = kb.value(x, full_index(kvars, rvars))
            if op == "argmax":
                flat_r = Index(red_shape, rvars).flat
                better = call("greater", v, acc)
                inner = [Assign(arg, call("where", better, flat_r, arg)),
                         Assign(acc, call("where", better, v, acc))]
            else:
                inner = [Assign(acc, _combine(op, acc, v))]
            for k in reversed(range(len(axes))):
                kind = "reduction" if k == len(axes) - 1 else "serial"
                inner = [For(rvars[k], Const(0, I64), dim_expr(red_shape[k]), inner, kind)]
            init = [Assign(acc, _init_value(op, vdtype))]
            if arg is not None:
                init.append(Assign(arg, Const(0, I64)))
            result = cast(arg, t.dtype) if arg is not None else acc
            return init + inner + [Store(out, Index(kept_shape, kvars).flat if kept else
                                         Const(0, I64), result)]
        if not kept:
            return body([])
        return _loop_nest(kb, kept_shape, body, inner_kind="serial")
    # memory form: the innermost axis is kept, so accumulate rows into the output (contiguous)
    init = _loop_nest(kb, kept_shape, lambda kv: [
        Store(out, Index(kept_shape, kv).flat, _init_value(op, vdtype))])
    rvars = [kb.var("r") for _ in axes]

    def acc_body(kvars):
        oidx = Index(kept_shape, kvars).flat
        v = kb.value(x, full_index(kvars, rvars))
        return [Store(out, oidx, _combine(op, Load(out, oidx, t.dtype), v))]
    kvars = [kb.var("i") for _ in kept]
    inner = acc_body(kvars)
    for k in reversed(range(len(kept))):
        inner = [For(kvars[k], Const(0, I64), dim_expr(kept_shape[k]), inner,
                     "vector" if k == len(kept) - 1 else "serial")]
    for k in reversed(range(len(axes))):
        inner = [For(rvars[k], Const(0, I64), dim_expr(red_shape[k]), inner, "serial")]
    return init + inner


#: render contractions as ``Gemm`` statements (each backend's tiled generator); when False they
#: lower to ``gemm_loop_nest``, the plain loops that define a Gemm
USE_GEMM = True


def _gemm_shape(g: Graph, c: int):
    """(batch, rows, columns, contraction) of contraction ``c`` as a Gemm: the axes whose
    products are ``batch``, ``m``, ``n`` and ``k`` (a ``matmul_flat`` merges several axes into
    its rows, columns or contraction; e.g. ``m = N*T``, or ``k = N*T`` for a weight gradient)."""
    at = g.attrs(c)
    ta, tb = at["transpose_a"], at["transpose_b"]
    a, bnode = g.args(c)
    shape = g.type(c).shape
    if g.op(c) == "matmul_flat":
        rows, ka, _, cols = flat_groups(g.type(a).shape, g.type(bnode).shape, ta, tb)
        return (), rows, cols, ka
    ashape = g.type(a).shape
    return shape[:-2], (shape[-2],), (shape[-1],), (ashape[-2] if ta else ashape[-1],)


def _epilogue(kb: KernelBuilder, c: int, dt: str, batch_shape, rows, cols):
    """The root's value as an expression of the accumulated dot product of contraction ``c``,
    or None when the kernel is the bare contraction."""
    g, root = kb.g, kb.root
    if root == c:
        return None

    def split(flat: Var, axes) -> list:
        return Index(axes, flat=flat).multi if len(axes) > 1 else [flat]
    shape = g.type(c).shape
    row, col = Var(GEMM_ROW, I64), Var(GEMM_COL, I64)
    bmulti = split(Var(GEMM_BATCH, I64), batch_shape) if batch_shape else []
    flat = None if batch_shape else call("add", call("mul", row, size_expr(cols)), col)
    idx = Index(shape, multi=bmulti + split(row, rows) + split(col, cols), flat=flat)
    if g.type(root).shape != shape:   # reshapes in the chain: same flat position
        idx = Index(g.type(root).shape, flat=idx.flat)
    kb.contraction = (c, Var(GEMM_ACC, dt))
    return kb.value(root, idx)


def lower_matmul(kb: KernelBuilder, out_slot: int) -> list:
    """One Gemm statement: a batched ``matmul`` runs ``batch`` products, a ``matmul_flat`` one
    product over the merged axes (``m`` or ``k`` then is a product of symbols and sizes)."""
    g, root = kb.g, kb.root
    c = getattr(g, "kernel_contraction", {}).get(root, root)
    a, bnode = g.args(c)
    at = g.attrs(c)
    ta, tb = at["transpose_a"], at["transpose_b"]
    dt = g.type(c).dtype
    batch, m, n, k = _gemm_shape(g, c)
    A = kb.param(g.plan.slot_of[a], dt, "in")
    B = kb.param(g.plan.slot_of[bnode], dt, "in")
    epi = _epilogue(kb, c, dt, batch, m, n)
    C = kb.param(out_slot, g.type(root).dtype, "out")
    M, N, K = size_expr(m), size_expr(n), size_expr(k)
    if USE_GEMM:
        return [Gemm(A, B, C, M, N, K, size_expr(batch), ta, tb, dt, epi)]
    return gemm_loop_nest(Gemm(A, B, C, M, N, K, size_expr(batch), ta, tb, dt, epi),
                          direct=g.type(root).dtype == dt, outer="parallel")


def lower_scatter_add(kb: KernelBuilder, out_slot: int) -> list:
    g, root = kb.g, kb.root
    ids, upd = g.args(root)
    t = g.type(root)
    out = kb.param(out_slot, t.dtype, "out")
    ishape, ushape = g.type(ids).shape, g.type(upd).shape
    rows, rest = t.shape[0], t.shape[1:]
    i, r, z = kb.var("i"), kb.var("r"), kb.var("z")
    rest_size = size_expr(rest)
    zero = [For(z, Const(0, I64), size_expr(t.shape), [Store(out, z, Const(0.0, t.dtype))], "parallel")]
    row = clamp(cast(kb.value(ids, Index(ishape, flat=i)), I64), 0,
                call("sub", dim_expr(rows), Const(1, I64)))
    oidx = call("add", call("mul", row, rest_size), r)
    v = kb.value(upd, Index(ushape, flat=call("add", call("mul", i, rest_size), r)))
    acc = [For(i, Const(0, I64), size_expr(ishape), [
        For(r, Const(0, I64), rest_size, [Store(out, oidx, call("add", Load(out, oidx, t.dtype), v))],
            "vector")], "serial")]
    return zero + acc


def lower_copy(kb: KernelBuilder, node: int, dst_slot: int) -> list:
    g = kb.g
    t = g.type(node)
    out = kb.param(dst_slot, t.dtype, "out")
    i = kb.var("i")
    return [For(i, Const(0, I64), size_expr(t.shape),
                [Store(out, i, kb.value(node, Index(t.shape, flat=i)))], "parallel")]


def _demote_parallel(s):
    """Only a kernel's sole top-level loop may be parallel (a GPU grid has no barrier between
    top-level statements); demote the others to serial."""
    if isinstance(s, For):
        kind = "serial" if s.kind == "parallel" else s.kind
        return For(s.var, s.start, s.stop, [_demote_parallel(b) for b in s.body], kind)
    return s


LOWERINGS = {"reduction": lower_reduction, "contraction": lower_matmul}
#: lowerings of single ops with a structure of their own (``scan``: ``codegen.scan``)
OP_LOWERINGS: Dict[str, object] = {}


def _lowering(g: Graph, root: int):
    if root in getattr(g, "kernel_contraction", {}):
        return LOWERINGS["contraction"]
    return LOWERINGS.get(get_op(g.op(root)).fusion, lower_elementwise)


def _origin_text(g: Graph, nodes) -> str:
    layers = sorted({g.origin(n) for n in nodes if g.origin(n)})
    ops = ",".join(sorted({g.op(n) for n in nodes}))
    return f"ops [{ops}]" + (f" from {', '.join(layers)}" if layers else "")


def lower_graph(g: Graph, name: str = "f") -> ProgramDesc:
    """The whole program of a planned graph (after the ``fusion`` and ``memory`` passes)."""
    plan = g.plan
    symbols = g.symbols()
    kernels, launches = [], []

    def add_kernel(kb, body, members):
        if len(body) > 1:
            body = [_demote_parallel(s) for s in body]
        flops = sum(get_op(g.op(m)).cost for m in members)
        kernels.append(Kernel(kb.name, kb.params, body, symbols, _origin_text(g, members), flops))
        launches.append(Launch(kb.name, tuple(kb.param_slots)))

    for idx, root in enumerate(plan.schedule):
        _EXTENTS.clear()
        kb = KernelBuilder(g, root, f"{name}_k{idx}_{g.op(root)}")
        out_slot = plan.writes[root]
        try:
            if g.op(root) == "scatter_add":
                body = lower_scatter_add(kb, out_slot)
            elif g.op(root) in OP_LOWERINGS:
                body = OP_LOWERINGS[g.op(root)](kb, out_slot)
            else:
                body = _lowering(g, root)(kb, out_slot)
        except Exception as e:
            raise CompileError(f"cannot generate the kernel of {g.describe(root)} "
                               f"({_origin_text(g, g.kernel_members[root])}): {e}") from e
        add_kernel(kb, body, g.kernel_members[root])
    for j, (dst, node) in enumerate(plan.copies):
        kb = KernelBuilder(g, -1, f"{name}_copy{j}")
        add_kernel(kb, lower_copy(kb, node, dst), [node])
    return ProgramDesc(kernels, launches, symbols, len(plan.slots))


from . import scan as _scan  # noqa: E402,F401  (registers the scan lowering)
