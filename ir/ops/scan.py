"""``scan``: a structured loop over the leading (time) axis of sequences, with a carried state.

Inputs ``[init, seq_0 .. seq_{n_seq-1}, const_0 ..]``; attrs ``body`` (a :class:`Body`: the step
function as a small graph), ``n_seq``, ``reverse``, ``last_only`` and ``lags``.  For each time
index ``t`` (ascending, or descending when ``reverse``) the body maps
``(carry, seq_0[t], .., const_0, ..)`` to the new carry; the output is the carry after every step,
``[T] + carry shape`` (``out[t]`` = the carry after step ``t``), or only the final carry when
``last_only``.  A lag ``(i, j, off)`` makes the body read ``seq_i[t + off]`` instead, and
``const_j`` where ``t + off`` falls outside ``[0, T)``: the gradient scans read the forward
states one step back that way.

The time dimension may be a symbol: one compiled loop serves every sequence length.  The carry
is one tensor (recurrent layers concatenate their states), so the op keeps the IR's
one-value-per-node schema.

The VJP is more scans (:func:`_scan_vjp`): a reverse scan carries the state's cotangent through
the body's VJP (reading the stored forward states, recomputing the cell's internals); separate
scans accumulate the constants' gradients (``last_only``) and give the sequences' gradients.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..tensor import Tensor, apply
from ..types import TensorType, is_float
from .elementwise import _sample_array


class Body:
    """A scan's step function: placeholders ``inputs`` (carry, per-step slices, constants) and
    the new carry ``output``.  Compared by identity (a graph is not a value); the compiled
    forms are cached on it."""

    def __init__(self, inputs: Sequence[Tensor], output: Tensor, name: str = "scan_body"):
        from ..graph import Graph
        self.inputs = tuple(inputs)
        self.output = output
        self.name = name
        self.graph, _ = Graph.build(self.inputs, [output], name=name)
        self.cache = {}

    @property
    def in_types(self) -> List[TensorType]:
        return [t.type for t in self.inputs]

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __lt__(self, other):
        return id(self) < id(other)

    def __repr__(self):
        return f"<scan body {self.name}: {len(self.graph)} nodes>"

    def call(self, args: Sequence[Tensor]) -> Tensor:
        """The body applied to other tensors: a copy of its expression DAG."""
        return self.call_mapped(args)[self.output.id]

    def call_mapped(self, args: Sequence[Tensor]) -> dict:
        """Like :meth:`call`, returning the copy of every body tensor by the original's id (the
        VJP reads a copy's intermediate values)."""
        if [a.type for a in args] != self.in_types:
            raise ValueError(f"scan body {self.name} takes {[str(t) for t in self.in_types]}, "
                             f"got {[str(a.type) for a in args]}")
        mapped = {p.id: a for p, a in zip(self.inputs, args)}
        stack = [(self.output, False)]
        while stack:
            t, done = stack.pop()
            if t.id in mapped:
                continue
            if not t.inputs:
                mapped[t.id] = t      # constants are shared
            elif done:
                mapped[t.id] = Tensor(t.op, [mapped[a.id] for a in t.inputs], t.attrs, t.type,
                                      t.origin)
            else:
                stack.append((t, True))
                stack.extend((a, False) for a in t.inputs if a.id not in mapped)
        return mapped


def _step_type(t: TensorType) -> TensorType:
    if t.ndim < 1:
        raise ValueError(f"a scanned sequence needs a leading time axis, got {t}")
    return TensorType(t.shape[1:], t.dtype)


def _scan_infer(types, at):
    body, n_seq = at["body"], at["n_seq"]
    if n_seq < 1 or len(types) < 1 + n_seq:
        raise ValueError("scan needs an initial carry and at least one sequence")
    init, seqs, consts = types[0], types[1:1 + n_seq], types[1 + n_seq:]
    T = seqs[0].shape[0] if seqs[0].ndim else None
    for s in seqs:
        if s.ndim < 1 or s.shape[0] != T:
            raise ValueError(f"scanned sequences disagree on the time axis: "
                             f"{', '.join(str(x) for x in seqs)}")
    for i, j, off in at["lags"]:
        if not (0 <= i < n_seq and 0 <= j < len(consts) and off in (-1, 1)):
            raise ValueError(f"bad lag {(i, j, off)}")
        if consts[j] != _step_type(seqs[i]):
            raise ValueError(f"lag boundary {consts[j]} does not match a step of {seqs[i]}")
    want = [init] + [_step_type(s) for s in seqs] + list(consts)
    if want != body.in_types:
        raise ValueError(f"scan body {body.name} takes {[str(t) for t in body.in_types]}, "
                         f"the scan gives {[str(t) for t in want]}")
    if body.output.type != init:
        raise ValueError(f"scan body returns {body.output.type}, the carry is {init}")
    return init if at["last_only"] else TensorType((T,) + init.shape, init.dtype)


def _scan_ref(args, at, env):
    from ..interpreter import evaluate
    body, n_seq = at["body"], at["n_seq"]
    carry, seqs, consts = args[0], args[1:1 + n_seq], list(args[1 + n_seq:])
    T = seqs[0].shape[0]
    lag = {i: (j, off) for i, j, off in at["lags"]}
    outs = np.empty((T,) + carry.shape, carry.dtype)
    for t in (range(T - 1, -1, -1) if at["reverse"] else range(T)):
        step = []
        for i, s in enumerate(seqs):
            if i in lag:
                j, off = lag[i]
                step.append(s[t + off] if 0 <= t + off < T else consts[j])
            else:
                step.append(s[t])
        carry = evaluate(body.graph, [carry] + step + consts, env=env)[0][0]
        outs[t] = carry
    return carry if at["last_only"] else outs


# --- building scans ----------------------------------------------------------------------------
#: a sequence argument: the tensor, or (tensor, (boundary tensor, offset)) for a lagged read
SeqSpec = object


def _depends(t: Tensor, ids: set, memo: dict) -> bool:
    """Whether ``t`` depends on a tensor of ``ids`` (memoized per tensor in ``memo``)."""
    stack = [(t, False)]
    while stack:
        x, done = stack.pop()
        if x.id in memo:
            continue
        if done:
            memo[x.id] = x.id in ids or any(memo[a.id] for a in x.inputs)
        else:
            stack.append((x, True))
            stack.extend((a, False) for a in x.inputs if a.id not in memo)
    return memo[t.id]


def scan(init: Tensor, seqs: Sequence[SeqSpec], consts: Sequence[Tensor],
         step: Callable[[Tensor, List[Tensor], List[Tensor]], Tensor], *, reverse: bool = False,
         last_only: bool = False, name: str = "scan_body") -> Tensor:
    """Build a ``scan`` from a Python step function ``step(carry, slices, consts) -> carry``,
    traced once on placeholders.  Tensors the step uses but does not receive (weights it
    closes over) become constants of the scan; inputs the body does not use are dropped."""
    seq_ts, lag_of = [], {}
    for i, s in enumerate(seqs):
        if isinstance(s, tuple):
            t, (boundary, off) = s
            lag_of[i] = (boundary, off)
            seq_ts.append(t)
        else:
            seq_ts.append(s)
    c_ph = b.placeholder(init.shape, init.dtype, "carry")
    s_ph = [b.placeholder(t.shape[1:], t.dtype, f"seq{i}") for i, t in enumerate(seq_ts)]
    k_ph = [b.placeholder(t.shape, t.dtype, f"const{i}") for i, t in enumerate(consts)]
    out = step(c_ph, list(s_ph), list(k_ph))
    if out.type != init.type:
        raise ValueError(f"scan step {name} returns {out.type}, the carry is {init.type}")
    # tensors reached from the output that do not depend on a placeholder: captured values
    own = {p.id for p in [c_ph] + s_ph + k_ph}
    memo: dict = {}
    _depends(out, own, memo)
    captured, seen, stack = [], set(), [out]
    while stack:
        x = stack.pop()
        if x.id in seen:
            continue
        seen.add(x.id)
        if not memo.get(x.id, False) and x.op != "constant" and x.id not in own:
            captured.append(x)
            continue
        stack.extend(x.inputs)
    used = seen
    cap_ph = []
    if captured:
        subst = {}
        for i, x in enumerate(captured):
            subst[x.id] = b.placeholder(x.shape, x.dtype, f"captured{i}")
        tmp = Body([c_ph] + s_ph + k_ph + [x for x in captured], out, name)
        cap_ph = [subst[x.id] for x in captured]
        out = tmp.call([c_ph] + s_ph + k_ph + cap_ph)
        used = set()
        stack = [out]
        while stack:
            x = stack.pop()
            if x.id not in used:
                used.add(x.id)
                stack.extend(x.inputs)
    keep_seq = [i for i, p in enumerate(s_ph) if p.id in used]
    if not keep_seq:   # the time axis comes from the sequences: keep one
        keep_seq = [0]
    const_args = [c for c, p in zip(consts, k_ph) if p.id in used] + list(captured)
    const_phs = [p for p in k_ph if p.id in used] + cap_ph
    lags = []
    for pos, i in enumerate(keep_seq):
        if i in lag_of:
            boundary, off = lag_of[i]
            const_args.append(boundary)
            const_phs.append(b.placeholder(boundary.shape, boundary.dtype, f"boundary{pos}"))
            lags.append((pos, len(const_args) - 1, off))
    body = Body([c_ph] + [s_ph[i] for i in keep_seq] + const_phs, out, name)
    return apply("scan", [init] + [seq_ts[i] for i in keep_seq] + const_args, body=body,
                 n_seq=len(keep_seq), reverse=bool(reverse), last_only=bool(last_only),
                 lags=tuple(lags))


def last_step(y: Tensor, reverse: bool = False) -> Tensor:
    """``y[T-1]`` (``y[0]`` when ``reverse``) of a sequence with a possibly symbolic length."""
    return scan(_zeros(_step_type(y.type)), [y], [], lambda c, s, k: s[0], reverse=reverse, last_only=True,
                name="last_step")


# --- the gradient ------------------------------------------------------------------------------
def _zeros(t) -> Tensor:
    """Zeros of a tensor's (or a TensorType's) shape and dtype."""
    return b.broadcast_to(b.constant(np.zeros((), t.dtype)), t.shape)


def _matmul_uses(body: Body, pos: int) -> Optional[List[Tensor]]:
    """The body's ``matmul(a, const)`` nodes (plain, 2-D) if they are the only uses of input
    ``pos``: the constant's gradient is then ``sum_t a_t^T @ dm_t``, one large product after
    the loop instead of a small one per step."""
    ph = body.inputs[pos]
    uses, seen, stack = [], set(), [body.output]
    while stack:
        t = stack.pop()
        if t.id in seen:
            continue
        seen.add(t.id)
        if any(a.id == ph.id for a in t.inputs):
            uses.append(t)
        stack.extend(t.inputs)
    for u in uses:
        if u.op != "matmul" or u.inputs[1].id != ph.id or u.inputs[0].id == ph.id or \
                u.attrs["transpose_a"] or u.attrs["transpose_b"] or u.ndim != 2:
            return None
    return uses or None


def _last_step_vjp(ins, g, rev: bool) -> list:
    """The VJP of :func:`last_step`: ``g`` at the last step, zeros elsewhere (one scan reading
    ``g`` as the lag boundary past the end), with no recomputed states."""
    c0, s = ins
    dseq = scan(_zeros(c0), [(_zeros(s.type), (g, -1 if rev else 1))], [],
                lambda c, x, k: x[0], reverse=rev, name="last_step_grad")
    return [_zeros(c0) if is_float(c0.dtype) else None, dseq]


def _scan_vjp(ins, out, g, at):
    """One reverse scan whose carry is the state's cotangent followed by per-step values (the
    sequences' cotangents; for constants used only as ``a @ const``, ``a`` and the product's
    cotangent), so the gates are recomputed once per step and weight gradients are GEMMs over
    ``T * N`` rows after the loop.  Carries that are not matrices, or per-step values of other
    row counts, fall back to one scan per cotangent."""
    from ..autodiff import grad
    body, n_seq, rev = at["body"], at["n_seq"], at["reverse"]
    c0, seqs, consts = ins[0], list(ins[1:1 + n_seq]), list(ins[1 + n_seq:])
    lag = {i: (j, off) for i, j, off in at["lags"]}
    lagged_consts = {j for j, _ in lag.values()}
    if at["last_only"] and n_seq == 1 and not lag and body.output.id == body.inputs[1].id:
        return _last_step_vjp(ins, g, rev)
    if at["last_only"]:
        states = apply("scan", ins, **{**at, "last_only": False})
        a_init, g_seq = g, []
    else:
        states, a_init, g_seq = out, _zeros(c0), [g]
    d = 1 if rev else -1          # the previously processed step is t + d
    seq_specs = [(s, (consts[lag[i][0]], lag[i][1])) if i in lag else s for i, s in enumerate(seqs)]
    prev = (states, (c0, d))
    ng = len(g_seq)
    float_seqs = [i for i, s in enumerate(seqs) if is_float(s.dtype)]
    for i in float_seqs:
        if i in lag:
            raise NotImplementedError("gradient of a lagged scan sequence (a second derivative "
                                      "of a scan)")
    for j, k in enumerate(consts):
        if is_float(k.dtype) and j in lagged_consts:
            raise NotImplementedError("gradient of a scan's lag boundary (a second derivative "
                                      "of a scan)")
    flat = {j: _matmul_uses(body, 1 + n_seq + j) for j, k in enumerate(consts)
            if is_float(k.dtype)}
    flat = {j: u for j, u in flat.items() if u is not None}
    uses = [u for j in sorted(flat) for u in flat[j]]
    pieces = [c0.type] + [_step_type(seqs[i].type) for i in float_seqs] + \
        [t for u in uses for t in (u.type, u.inputs[0].type)]
    fused = c0.ndim == 2 and all(t.ndim == 2 and t.shape[0] == c0.shape[0] and
                                 t.dtype == c0.dtype for t in pieces)

    def split(phs, with_lam):
        k = ng + (1 if with_lam else 0)
        g_t = phs[0] if ng else None
        lam_prev = phs[ng] if with_lam else None
        return g_t, lam_prev, phs[k], phs[k + 1:]

    def vjp_step(phs, kph, with_lam, carry_lam=None):
        g_t, lam_prev, cprev, xs = split(phs, with_lam)
        lam = carry_lam if carry_lam is not None else lam_prev
        if g_t is not None:
            lam = lam + g_t
        x_in = [cprev] + list(xs) + list(kph)
        mapped = body.call_mapped(x_in)
        return x_in, b.sum(b.mul(mapped[body.output.id], lam)), mapped

    grads: List[Optional[Tensor]] = [None] * len(ins)
    width = c0.shape[1] if c0.ndim == 2 else None
    if fused:
        def parts_of(lam, phs, kph):
            """The per-step values in carry order (lam's cotangent first)."""
            x_in, obj, mapped = vjp_step(phs, kph, False, carry_lam=lam)
            targets = [x_in[0]] + [x_in[1 + i] for i in float_seqs] + \
                [mapped[u.id] for u in uses]
            gs = grad(obj, targets)
            return gs[:1 + len(float_seqs)] + \
                [p for u, dm in zip(uses, gs[1 + len(float_seqs):])
                 for p in (dm, mapped[u.inputs[0].id])]
        # a dry trace finds values that are one tensor (an LSTM's gate cotangent is both the
        # input's and the recurrent product's): the carry holds each once
        step_ins = g_seq + [states] + seqs
        dry = parts_of(b.placeholder(c0.shape, c0.dtype, "lam"),
                       [b.placeholder(t.shape[1:], t.dtype, "x") for t in step_ins],
                       [b.placeholder(k.shape, k.dtype, "k") for k in consts])
        first = {}
        where = [first.setdefault(p.id, k) for k, p in enumerate(dry)]
        kept = sorted(set(where))
        offsets, at_ = {}, 0
        for k in kept:
            offsets[k] = at_
            at_ += pieces[k].shape[1]

        def step_f(carry, phs, kph):
            parts = parts_of(carry[:, :width], phs, kph)
            return b.concat([parts[k] for k in kept], axis=1)
        init = b.concat([a_init] + [_zeros(pieces[k]) for k in kept[1:]], axis=1)
        F = scan(init, g_seq + [prev] + seq_specs, consts, step_f, reverse=not rev,
                 name=f"{body.name}_grad")

        def piece(k):
            k = where[k]
            return F[:, :, offsets[k]:offsets[k] + pieces[k].shape[1]]
        dprev = piece(0)
        if is_float(c0.dtype):
            grads[0] = last_step(F, reverse=not rev)[:, :width]
        for k, i in enumerate(float_seqs):
            grads[1 + i] = piece(1 + k)
        k = 1 + len(float_seqs)
        for j in sorted(flat):
            total = None
            for _ in flat[j]:
                prod = apply("matmul_flat", [piece(k + 1), piece(k)], transpose_a=True,
                             transpose_b=False)
                total = prod if total is None else total + prod
                k += 2
            grads[1 + n_seq + j] = total
    else:
        # A: the state's cotangent, backwards through time
        def step_a(lam, phs, kph):
            x_in, obj, _ = vjp_step(phs, kph, False, carry_lam=lam)
            return grad(obj, [x_in[0]])[0]
        dprev = scan(a_init, g_seq + [prev] + seq_specs, consts, step_a, reverse=not rev,
                     name=f"{body.name}_grad_state")
        if is_float(c0.dtype):
            grads[0] = last_step(dprev, reverse=not rev)
    lam_spec = (dprev, (a_init, -d))     # the cotangent of the carry after step t
    common = g_seq + [lam_spec, prev] + seq_specs
    for j, k in enumerate(consts):
        if not is_float(k.dtype) or (fused and j in flat):
            continue

        def step_b(acc, phs, kph, j=j):
            x_in, obj, _ = vjp_step(phs, kph, True)
            return acc + grad(obj, [x_in[1 + len(seqs) + j]])[0]
        grads[1 + n_seq + j] = scan(_zeros(k), common, consts, step_b, reverse=rev,
                                    last_only=True, name=f"{body.name}_grad_const{j}")
    if not fused:
        for i in float_seqs:
            zero = _zeros(_step_type(seqs[i].type))

            def step_c(_, phs, kph, i=i):
                x_in, obj, _m = vjp_step(phs, kph, True)
                return grad(obj, [x_in[1 + i]])[0]
            grads[1 + i] = scan(zero, common, consts, step_c, reverse=rev,
                                name=f"{body.name}_grad_seq{i}")
    return grads


# --- sample for the registry-driven op tests ---------------------------------------------------
def _sample(rng, dtype="float32"):
    T, N, S, D = 4, 2, 3, 3
    args = [_sample_array(rng, (N, S), dtype, "any"), _sample_array(rng, (T, N, D), dtype, "any"),
            (_sample_array(rng, (S, S), dtype, "any") * 0.5).astype(dtype)]
    c, x, u = (b.placeholder(a.shape[1:] if i == 1 else a.shape, dtype, f"p{i}")
               for i, a in enumerate(args))
    body = Body([c, x, u], b.tanh(b.matmul(c, u) + x * 0.5), "sample_rnn")
    return args, {"body": body, "n_seq": 1, "reverse": False, "last_only": False, "lags": ()}


SCAN = register(OpDef("scan", _scan_infer, _scan_ref, _scan_vjp, "opaque", sample=_sample,
                      doc="A loop over the time axis with a carried state (see ir.ops.scan)."))


# --- what code generation needs: the planned body and its buffers ------------------------------
def planned_body(body: Body):
    """The body graph after the whole pass pipeline (fused and planned), cached on the body."""
    if "planned" not in body.cache:
        from ..passes import run_pipeline
        body.cache["planned"] = run_pipeline(body.graph)
    return body.cache["planned"]


def scratch_layout(body: Body, n_seq: int, lags) -> List[int]:
    """The body's buffer slots that need a buffer of their own in the enclosing program (one per
    scan): the carry, temporaries, constants and the new carry, plus the step slices that are
    copied each step (lagged reads, and operands of a matrix product, which has no offset)."""
    bg = planned_body(body)
    plan = bg.plan
    in_slot = {plan.slot_of[n]: k for k, n in enumerate(bg.inputs)}
    lagged = {i for i, _, _ in lags}
    gemm_operands = set()
    for r in plan.schedule:
        c = getattr(bg, "kernel_contraction", {}).get(r, r)
        if bg.op(c) == "matmul":
            gemm_operands |= {plan.slot_of.get(a) for a in bg.args(c)}
    out = []
    for s, sl in enumerate(plan.slots):
        k = in_slot.get(s)
        if k is None or k == 0:
            out.append(s)
        elif k <= n_seq and (k - 1 in lagged or s in gemm_operands):
            out.append(s)
    return out


def _scan_scratch(g, n):
    """Buffers of one scan for the memory planner: (kind, dtype, size, ref) per layout slot."""
    at = g.attrs(n)
    plan = planned_body(at["body"]).plan
    res = []
    for s in scratch_layout(at["body"], at["n_seq"], at["lags"]):
        sl = plan.slots[s]
        kind = "constant" if sl.kind == "constant" else "temp"
        res.append((kind, sl.dtype, sl.size, sl.ref if kind == "constant" else None))
    return res


SCAN.extra["scratch"] = _scan_scratch
