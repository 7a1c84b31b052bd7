"""CPU generator for the :class:`~codegen.kernel.Gemm` statement (LLVM IR).

``llvm_backend._KernelEmitter.stmts`` hands every ``Gemm`` to :func:`emit_gemm`.  A kernel holds
only what is its own: the epilogue function (``<kernel>.epi``, called on finished blocks of C
with the kernel's arguments packed in a struct), a task function (``<kernel>.gemmN``) started on
one or all threads, and calls of shared helpers compiled once per library (and cached across
programs): the blocked driver ``graphnn.gemm.tasks.*`` (one per dtype, tile, transposes and
accumulation mode), the small-m kernel ``graphnn.gemm.small.*``, the task grid, micro-kernels,
packing and merge routines.

Design (BLIS-style):

* **Micro-kernel** ``graphnn.gemm.ukr.<dt>.<MR>x<NR>``: an ``MR x NR`` tile of C held in
  ``MR * NV`` vector accumulators (``NR = NV * VW``, ``VW`` lanes per register) for the whole K
  loop; per k step it loads ``NV`` vectors of the packed B row, broadcasts ``MR`` packed A scalars
  and issues ``MR * NV`` ``llvm.fma`` calls.  The K loop is unrolled by :data:`K_UNROLL`; C's rows
  are prefetched before it.  Tiles come from the host's features (:func:`micro_tile`): AVX2/FMA
  (16 registers): 6x16 float32, 6x8 float64; AVX-512 (32 registers): 8x32 float32, 8x16 float64.
  The kernel stores its tile to C (``C = acc`` on the first K block, ``C += acc`` after) with
  unaligned vector stores.  Variants with fewer rows (same packed-A stride) serve the ragged
  bottom tiles, so 128 rows cost 128, not 132, rows of FMAs.
* **Cache blocking**: ``for jc (NC cols) / for kb (KC depth) / pack B / for ic (MC rows) /
  pack A / for jr (NR) / for ir (MR) / micro-kernel``.  ``KC`` is balanced over the K blocks
  (float32 k=784 gives 3 blocks of 264, not 2x384 + 16).  A ``KC x NR`` B micro-panel stays in L1 while
  the ``MC x KC`` packed A block streams from L2; the ``KC x NC`` packed B block lives in L2/L3.
* **Packing** (where the transposes are handled; no transposed copy of a whole matrix is made):
  B into NR-column micro-panels (``Bp[p*NR + j]``), A into MR-row micro-panels (``Ap[p*MR + i]``),
  both zero-padded to whole panels, so the micro-kernel never needs a masked path.  One routine
  serves all four cases: a panel row is either contiguous in memory (B, A^T: copied row by row
  with vector loads) or strided (B^T, A: W rows read side by side).  Tiles narrower than NR (the
  last column of tiles) are computed into a stack tile and only their valid part is added to C.
  Any m, n, k (k = 0 gives acc = 0 and still runs the epilogue) and batch work.
* **K blocking and the epilogue**: partial sums accumulate in C between K blocks (C is the
  accumulator), and the epilogue is applied exactly once per element, after the last K block.
  When C's dtype differs from the accumulation dtype (an epilogue with a cast or a comparison)
  or C shares its buffer with another parameter (an in-place update whose epilogue reads the
  old value), C cannot hold partial sums: the loops become ``jc / ic / kb`` and the partial
  sums live in an ``MC x NC`` scratch block instead.
* **Epilogue** (store, then a loop over the finished tiles): once the last K block of an
  ``mc x NR`` strip of tiles is stored (the strip is hot in L1), the driver calls the kernel's
  epilogue function on it: a loop over its rows and columns binds ``gemm_acc/row/col/batch`` and
  evaluates the epilogue with the kernel's own scalar emitter (``_KernelEmitter.expr``); the
  inner loop runs along a row of C, so LLVM vectorizes it (loads indexed ``f + col`` become
  vector loads).  No epilogue: no call, no extra pass.
* **Small m** (at most :data:`SMALL_M` rows per product, e.g. batch-1 inference): no packing;
  :func:`_small` computes each row of C in one pass over B (blocks of the row in registers over
  all of K) and hands it to the same epilogue function.
* **Threads** (``codegen.threads``: libgomp's team, the thread count, the contention back-off and
  the fork guard are shared with parallel loops): a Gemm of at least :data:`GEMM_MIN_FLOPS` is
  cut into ``batch x tm x tn`` independent tasks -- product ``b``, a range of rows and a range of
  whole NR panels of columns -- claimed dynamically by the team's threads (a thread that starts
  late does fewer tasks).  ``tm * tn = threads / gcd(batch, threads)``, so the tasks divide
  evenly; of the factorizations, :func:`_grid_fn` takes the one with the smallest
  estimated task time (its multiply-adds plus :data:`PACK_COST` per element it packs: every
  task packs its own A rows and B columns, so a row split packs B again per row range and a
  column split A; 128 x 784 @ 784 x 512 on 2 threads splits the columns, (784 x 128)^T @ 128 x
  512 the rows, 2048^3 the columns, one NC block each).  Each task runs the whole blocked
  algorithm (all K blocks) on its part of C, so the epilogue still runs once per element after
  its full K sum, and since K blocks do not depend on the split, the results are bit for bit
  those of one thread.  Smaller Gemms, Gemms inside a parallel loop's body, and any Gemm while
  threads are off run as one task per product on the calling thread.
* **Scratch**: one ``malloc`` per call of the task function, i.e. per thread and claimed chunk of
  tasks (packed B ``KC x NC`` + packed A ``MC x KC`` + the optional accumulator block, each no
  larger than the largest task needs, 64-byte aligned) released with ``free`` at the end
  (``abort`` if malloc fails).  Nothing is global or static, so any number of threads may run
  GEMMs at once, and worker-thread stack sizes do not matter (the only stack object is one
  ``MR x NR`` tile); glibc keeps the freed block for the next call, so only the first call pays
  page faults.
* **Code size and compile time**: everything but the epilogue is a ``noinline`` helper shared by
  every Gemm of a library, compiled once (a Gemm kernel of the MLP's train step compiles in
  ~40 ms of LLVM time instead of ~200 ms with its own driver).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional, Tuple

import llvmlite.binding as llvm
from llvmlite import ir

from .llvm_ir import declare as _declare

from . import mathlib as ml
from . import threads
from .kernel import GEMM_ACC, GEMM_BATCH, GEMM_COL, GEMM_ROW, Gemm, Load, Var, walk_exprs

_I1, _I8, _I32, _I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
_F64, _PTR = ir.DoubleType(), ir.PointerType()
_FTY = {"float32": ir.FloatType(), "float64": ir.DoubleType()}
_SUF = {"float32": "f32", "float64": "f64"}
#: dtype -> type in memory (bool is a byte), as in llvm_backend
_MEM = {"float32": _FTY["float32"], "float64": _FTY["float64"], "int32": _I32, "uint32": _I32,
        "int64": _I64, "bool": _I8}

#: K loop unroll factor of the micro-kernel
K_UNROLL = 4
#: cache blocking: depth of a K block, rows of an A block (rounded to MR), columns of a B block.
#: Measured on Zen 3 (examples/benchmarks/gemm.py and variations): float32 KC 384 beat 256 by
#: 2-4 % (fewer passes over C), NC 1024 beat 2048 by 3-5 % at 2048^3 (a 1.5 MiB packed B block),
#: MC 96 and 144 tied; float64 choices were within noise of each other.
KC = {"float32": 384, "float64": 256}
MC = {"float32": 96, "float64": 96}
NC = {"float32": 1024, "float64": 1024}
#: a Gemm with fewer flops (2*m*n*k*batch) runs on the calling thread.  Measured on this VM's 2
#: Zen 3 cores with warm threads, threading forced (GEMM_MIN_FLOPS = 0): 64^3 (0.5 MFLOP, ~10 us
#: on one thread) gains nothing on two, 0.8 MFLOP gains 1.3-1.4x, 1 MFLOP 1.2-1.5x, 4 MFLOP 1.6x
GEMM_MIN_FLOPS = 1 << 20
#: cost of packing one element, in multiply-adds (choosing how to split a product; measured:
#: packing A or B runs at about 0.3 ns per element, a multiply-add at 0.03 ns)
PACK_COST = 8

_FEATURES: Optional[dict] = None


def _host_features() -> dict:
    global _FEATURES
    if _FEATURES is None:
        try:
            _FEATURES = dict(llvm.get_host_cpu_features())
        except RuntimeError:  # pragma: no cover - some hosts cannot report features
            _FEATURES = {}
    return _FEATURES


def micro_tile(dtype: str, features: Optional[dict] = None) -> Tuple[int, int, int]:
    """``(MR, VW, NV)``: rows, lanes per vector register and vectors per row of the micro-tile
    (``NR = VW * NV`` columns) for ``dtype`` on a CPU with ``features`` (default: this host)."""
    f = _host_features() if features is None else features
    lanes32 = 16 if f.get("avx512f") else 8 if (f.get("avx2") or f.get("avx")) else 4
    vw = lanes32 if dtype == "float32" else lanes32 // 2
    if f.get("avx512f"):
        return 8, vw, 2        # 16 accumulators + 2 B vectors + 1 broadcast of 32 registers
    return 6, vw, 2            # 12 accumulators + 2 B vectors + 1 broadcast of 16 registers


# ---------------------------------------------------------------------------------------------
class _Ctx:
    """IR-building conveniences around one builder and function."""

    def __init__(self, b: ir.IRBuilder, fn: ir.Function):
        self.b, self.fn = b, fn

    def c64(self, v: int) -> ir.Constant:
        return ir.Constant(_I64, v)

    @contextmanager
    def loop(self, start, stop, step=1, name="i"):
        """``for i in range(start, stop, step)`` (step > 0) with a phi counter; yields ``i``."""
        b = self.b
        start = start if isinstance(start, ir.Value) else self.c64(start)
        step = step if isinstance(step, ir.Value) else self.c64(step)
        pre = b.block
        header = self.fn.append_basic_block(f"{name}.head")
        body = self.fn.append_basic_block(f"{name}.body")
        b.branch(header)
        b.position_at_end(header)
        i = b.phi(_I64, name=name)
        i.add_incoming(start, pre)
        cond = b.icmp_signed("<", i, stop)
        b.position_at_end(body)
        yield i
        nxt = b.add(i, step, name=f"{name}.next", flags=["nsw"])
        i.add_incoming(nxt, b.block)
        exit_ = self.fn.append_basic_block(f"{name}.exit")
        b.branch(header)
        b.position_at_end(header)
        b.cbranch(cond, body, exit_)
        b.position_at_end(exit_)

    @contextmanager
    def if_(self, cond, name="if"):
        b = self.b
        then = self.fn.append_basic_block(f"{name}.then")
        merge = self.fn.append_basic_block(f"{name}.end")
        b.cbranch(cond, then, merge)
        b.position_at_end(then)
        yield
        b.branch(merge)
        b.position_at_end(merge)

    @contextmanager
    def if_else(self, cond, name="if"):
        """``with ctx.if_else(c) as other: ...then...; other(); ...else...``"""
        b = self.b
        then = self.fn.append_basic_block(f"{name}.then")
        other = self.fn.append_basic_block(f"{name}.else")
        merge = self.fn.append_basic_block(f"{name}.end")
        b.cbranch(cond, then, other)
        b.position_at_end(then)

        def switch():
            b.branch(merge)
            b.position_at_end(other)
        yield switch
        b.branch(merge)
        b.position_at_end(merge)

    def gep(self, ptr, idx, ety):
        return self.b.gep(ptr, [idx], inbounds=True, source_etype=ety)

    def min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)

    def max(self, x, y):
        return self.b.select(self.b.icmp_signed(">", x, y), x, y)

    def ceil_div(self, x, d):
        d = d if isinstance(d, ir.Value) else self.c64(d)
        return self.b.sdiv(self.b.add(x, self.b.sub(d, self.c64(1))), d)

    def round_up(self, x, d: int):
        return self.b.mul(self.ceil_div(x, d), self.c64(d))




def _new_helper(module: ir.Module, name: str, args, names):
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")   # one copy per module, however many Gemms call it
    for a, n in zip(fn.args, names):
        a.name = n
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    return fn, _Ctx(b, fn)


# ---------------------------------------------------------------------------------------------
# shared helpers (one definition per module and configuration)
def _ukernel(module: ir.Module, dtype: str, mr: int, vw: int, nv: int,
             rows: Optional[int] = None) -> ir.Function:
    """``ukr(kc, Ap, Bp, C, ldc, accumulate)``: ``C[r*ldc + j] (+)= sum_p Ap[p*MR+r]*Bp[p*NR+j]``
    for ``r < rows`` (default MR) and ``j < NR``: the full tile, or the first rows of an A panel
    (ragged bottom tiles cost ``rows``, not ``MR``, rows of FMAs)."""
    nr = vw * nv
    stride, mr = mr, (mr if rows is None else rows)
    name = f"graphnn.gemm.ukr.{dtype}.{mr}x{nr}" + ("" if mr == stride else f".s{stride}")
    if name in module.globals:
        return module.globals[name]
    ty = _FTY[dtype]
    vty = ir.VectorType(ty, vw)
    size = ml.ITEMSIZE[dtype]
    fn, cx = _new_helper(module, name, [_I64, _PTR, _PTR, _PTR, _I64, _I1],
                         ["kc", "ap", "bp", "c", "ldc", "accumulate"])
    for i in (1, 2):
        fn.args[i].add_attribute("noalias")
    fn.args[3].add_attribute("noalias")
    kc, ap, bp, c, ldc, accumulate = fn.args
    fma = _declare(module, f"llvm.fma.v{vw}{_SUF[dtype]}", vty, [vty, vty, vty])
    b = cx.b
    zero = ir.Constant(vty, [0.0] * vw)
    undef = ir.Constant(vty, ir.Undefined)
    mask0 = ir.Constant(ir.VectorType(_I32, vw), [0] * vw)

    def step(p, accs):
        """One k step at index ``p``: returns the updated accumulators."""
        bvec = []
        boff = b.mul(p, cx.c64(nr))
        for v in range(nv):
            ptr = cx.gep(bp, b.add(boff, cx.c64(v * vw)), ty)
            bvec.append(b.load(ptr, typ=vty, align=vw * size))
        aoff = b.mul(p, cx.c64(stride))
        out = []
        for r in range(mr):
            a = b.load(cx.gep(ap, b.add(aoff, cx.c64(r)), ty), typ=ty, align=size)
            splat = b.shuffle_vector(b.insert_element(undef, a, ir.Constant(_I32, 0)), undef, mask0)
            for v in range(nv):
                out.append(b.call(fma, [splat, bvec[v], accs[r * nv + v]]))
        return out

    def k_loop(start, stop, step_by, accs_in, label):
        pre = b.block
        header = fn.append_basic_block(f"{label}.head")
        body = fn.append_basic_block(f"{label}.body")
        exit_ = fn.append_basic_block(f"{label}.exit")
        b.branch(header)
        b.position_at_end(header)
        p = b.phi(_I64, name="p")
        p.add_incoming(start, pre)
        phis = []
        for i, a in enumerate(accs_in):
            ph = b.phi(vty, name=f"acc{i}")
            ph.add_incoming(a, pre)
            phis.append(ph)
        b.cbranch(b.icmp_signed("<", p, stop), body, exit_)
        b.position_at_end(body)
        accs = list(phis)
        for u in range(step_by):
            accs = step(b.add(p, cx.c64(u)) if u else p, accs)
        nxt = b.add(p, cx.c64(step_by), flags=["nsw"])
        p.add_incoming(nxt, b.block)
        for ph, a in zip(phis, accs):
            ph.add_incoming(a, b.block)
        b.branch(header)
        b.position_at_end(exit_)
        return phis

    # C's rows are far apart (stride ldc): start fetching them now, they are needed after K
    prefetch = _declare(module, "llvm.prefetch.p0", ir.VoidType(), [_PTR, _I32, _I32, _I32])
    for r in range(mr):
        row = b.mul(cx.c64(r), ldc)
        for off in sorted({0, nr - 1}):
            b.call(prefetch, [cx.gep(c, b.add(row, cx.c64(off)), ty), ir.Constant(_I32, 1),
                              ir.Constant(_I32, 3), ir.Constant(_I32, 1)])
    kmain = b.and_(kc, cx.c64(~(K_UNROLL - 1)), name="kmain")
    accs = k_loop(cx.c64(0), kmain, K_UNROLL, [zero] * (mr * nv), "kmain")
    # remainder loop starts where the main loop stopped: the exit value of its counter is kmain
    accs = k_loop(kmain, kc, 1, accs, "krest")
    with cx.if_else(accumulate, "acc") as other:
        for r in range(mr):
            row = b.mul(cx.c64(r), ldc)
            for v in range(nv):
                ptr = cx.gep(c, b.add(row, cx.c64(v * vw)), ty)
                old = b.load(ptr, typ=vty, align=size)
                b.store(b.fadd(old, accs[r * nv + v], flags=("contract",)), ptr, align=size)
        other()
        for r in range(mr):
            row = b.mul(cx.c64(r), ldc)
            for v in range(nv):
                b.store(accs[r * nv + v], cx.gep(c, b.add(row, cx.c64(v * vw)), ty), align=size)
    b.ret_void()
    return fn


def _pack(module: ir.Module, dtype: str, width: int, contiguous: bool) -> ir.Function:
    """``pack(src, ld, kc, count, dst)``: ``dst[q*kc*W + p*W + x] = S(p, q*W + x)`` for
    ``p < kc`` and ``x < W`` (``W = width``), zero where ``q*W + x >= count``.

    ``S(p, x) = src[p*ld + x]`` when ``contiguous`` (a panel row is contiguous in memory: B, or
    A transposed), else ``src[x*ld + p]`` (B transposed, or A).  B packs with ``W = NR`` and A
    with ``W = MR``, so one routine serves all four transpose cases."""
    name = f"graphnn.gemm.pack.{dtype}.{width}.{'c' if contiguous else 's'}"
    if name in module.globals:
        return module.globals[name]
    ty = _FTY[dtype]
    size = ml.ITEMSIZE[dtype]
    store_align = 64 if (width * size) % 64 == 0 else size  # dst is 64-byte aligned
    fn, cx = _new_helper(module, name, [_PTR, _I64, _I64, _I64, _PTR],
                         ["src", "ld", "kc", "count", "dst"])
    fn.args[0].add_attribute("noalias")
    fn.args[4].add_attribute("noalias")
    src, ld, kc, count, dst = fn.args
    b = cx.b
    w = cx.c64(width)
    full = b.sdiv(count, w, name="full")
    panel = b.mul(kc, w, name="panel")
    vty = ir.VectorType(ty, width)
    if contiguous:
        # source row by source row, each read once front to back; W elements per panel
        with cx.loop(0, kc, 1, "p") as p:
            row = cx.gep(src, b.mul(p, ld), ty)
            out = cx.gep(dst, b.mul(p, w), ty)
            with cx.loop(0, full, 1, "q") as q:
                v = b.load(cx.gep(row, b.mul(q, w), ty), typ=vty, align=size)
                b.store(v, cx.gep(out, b.mul(q, panel), ty), align=store_align)
    else:
        # panel by panel: W source rows read side by side, one element of each per step
        with cx.loop(0, full, 1, "q") as q:
            out = cx.gep(dst, b.mul(q, panel), ty)
            x0 = b.mul(q, w)
            rows = [cx.gep(src, b.mul(b.add(x0, cx.c64(x)), ld), ty) for x in range(width)]
            with cx.loop(0, kc, 1, "p") as p:
                v = ir.Constant(vty, ir.Undefined)
                for x in range(width):
                    e = b.load(cx.gep(rows[x], p, ty), typ=ty, align=size)
                    v = b.insert_element(v, e, ir.Constant(_I32, x))
                b.store(v, cx.gep(out, b.mul(p, w), ty), align=store_align)
    # the ragged last panel: the valid part copied, the rest zero
    x0 = b.mul(full, w)
    valid = b.sub(count, x0)
    with cx.if_(b.icmp_signed(">", valid, cx.c64(0)), "ragged"):
        out = cx.gep(dst, b.mul(full, panel), ty)
        with cx.loop(0, kc, 1, "p") as p:
            line = cx.gep(out, b.mul(p, w), ty)
            with cx.loop(0, valid, 1, "x") as x:
                col = b.add(x0, x)
                idx = b.add(b.mul(p, ld), col) if contiguous else b.add(b.mul(col, ld), p)
                b.store(b.load(cx.gep(src, idx, ty), typ=ty, align=size), cx.gep(line, x, ty),
                        align=size)
            with cx.loop(valid, w, 1, "z") as x:
                b.store(ir.Constant(ty, 0.0), cx.gep(line, x, ty), align=size)
    b.ret_void()
    return fn


#: vectors of C's row kept in registers by the small-m kernel (a 32-column block on AVX2)
SMALL_NV = 4
#: small-m products of at least this many flops run on the team, in blocks of SMALL_COLS columns
#: (a matrix-vector product streams B once: 784 x 512 float32 is 1.6 MB, 0.8 MFLOP)
SMALL_MIN_FLOPS = 1 << 18
SMALL_COLS = 64


def _small(module: ir.Module, dtype: str, vw: int, transpose_a: bool, transpose_b: bool
           ) -> ir.Function:
    """Shared helper ``graphnn.gemm.small.<dt>.<ab>(A, B, C, m, n, k, batch, j0, j1, epi,
    epi_args)``: columns ``[j0, j1)`` of products of few rows (batch-1 inference: a matrix times
    a vector) without packing, one pass over B per row of C.  Without a transposed B, blocks of ``SMALL_NV`` vectors of the row stay
    in registers over the whole K loop (B read in short contiguous runs, each row of C written
    once); with B transposed, each output is a dot product along K.  With no epilogue (``epi``
    null, C of the accumulation dtype) rows go straight to C; otherwise each row is computed
    into a scratch row and handed to ``epi`` as a 1 x (j1 - j0) block."""
    name = (f"graphnn.gemm.small.{dtype}.{'t' if transpose_a else 'n'}"
            f"{'t' if transpose_b else 'n'}")
    if name in module.globals:
        return module.globals[name]
    ty, size = _FTY[dtype], ml.ITEMSIZE[dtype]
    vty = ir.VectorType(ty, vw)
    fn, cx = _new_helper(module, name, [_PTR] * 3 + [_I64] * 6 + [_EPI_TYPE.as_pointer(), _PTR],
                         ["a", "b", "c", "m", "n", "k", "batch", "j0", "j1", "epi", "epi_args"])
    a_arg, b_arg, c_arg, m, n, k, batch, j0, j1, epi, epi_args = fn.args
    b = cx.b
    fma = _declare(module, f"llvm.fma.v{vw}{_SUF[dtype]}", vty, [vty, vty, vty])
    zero_v = ir.Constant(vty, [0.0] * vw)
    acc_s = b.alloca(ty, name="acc")            # scalar accumulator of the tails
    acc_v = b.alloca(vty, name="accv")
    has_epi = b.icmp_unsigned("!=", epi, ir.Constant(epi.type, None))
    malloc = _declare(module, "malloc", _PTR, [_I64])
    free = _declare(module, "free", ir.VoidType(), [_PTR])
    nbytes = b.add(b.mul(n, cx.c64(size)), cx.c64(64))
    scratch = b.call(malloc, [b.select(has_epi, nbytes, cx.c64(1))])
    with cx.if_(b.icmp_unsigned("==", scratch, ir.Constant(_PTR, None)), "small.oom"):
        b.call(_declare(module, "abort", ir.VoidType(), []), [])

    def splat(x):
        v = b.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(_I32, 0))
        return b.shuffle_vector(v, ir.Constant(vty, ir.Undefined),
                                ir.Constant(ir.VectorType(_I32, vw), [0] * vw))

    def k_loop(accs, step):
        """``accs = step(p, accs)`` for p < k, the accumulators in registers (phis)."""
        pre = b.block
        head = fn.append_basic_block("small.k.head")
        body = fn.append_basic_block("small.k.body")
        done = fn.append_basic_block("small.k.done")
        b.branch(head)
        b.position_at_end(head)
        p = b.phi(_I64, "p")
        phis = [b.phi(a.type) for a in accs]
        p.add_incoming(cx.c64(0), pre)
        for ph, a0 in zip(phis, accs):
            ph.add_incoming(a0, pre)
        b.cbranch(b.icmp_signed("<", p, k), body, done)
        b.position_at_end(body)
        new = step(p, phis)
        p.add_incoming(b.add(p, cx.c64(1)), b.block)
        for ph, v in zip(phis, new):
            ph.add_incoming(v, b.block)
        b.branch(head)
        b.position_at_end(done)
        return phis

    width_all = b.sub(j1, j0)
    with cx.loop(0, b.mul(batch, m), 1, "small.r") as r:
        bv = b.sdiv(r, m)
        i = b.sub(r, b.mul(bv, m))
        a_b = cx.gep(a_arg, b.mul(bv, b.mul(m, k)), ty)
        b_b = cx.gep(b_arg, b.mul(bv, b.mul(k, n)), ty)
        c_row = cx.gep(c_arg, b.add(b.mul(bv, b.mul(m, n)), b.mul(i, n)), ty)
        row = b.select(has_epi, scratch, c_row)

        def a_at(p):
            idx = b.add(b.mul(p, m), i) if transpose_a else b.add(b.mul(i, k), p)
            return b.load(cx.gep(a_b, idx, ty), typ=ty, align=size)

        if not transpose_b:     # B stored (k, n): C's row in blocks of columns
            def columns(j, nvec):
                def step(p, accs):
                    av = splat(a_at(p))
                    brow = cx.gep(b_b, b.add(b.mul(p, n), j), ty)
                    return [b.call(fma, [av, b.load(cx.gep(brow, cx.c64(x * vw), ty), typ=vty,
                                                    align=size), acc])
                            for x, acc in enumerate(accs)]
                for x, acc in enumerate(k_loop([zero_v] * nvec, step)):
                    b.store(acc, cx.gep(row, b.add(j, cx.c64(x * vw)), ty), align=size)

            wide = SMALL_NV * vw
            width = b.sub(j1, j0)
            n_wide = b.add(j0, b.mul(b.sdiv(width, cx.c64(wide)), cx.c64(wide)))
            with cx.loop(j0, n_wide, wide, "small.jb") as j:
                columns(j, SMALL_NV)
            n_vec = b.add(j0, b.mul(b.sdiv(width, cx.c64(vw)), cx.c64(vw)))
            with cx.loop(n_wide, n_vec, vw, "small.jv") as j:
                columns(j, 1)
            with cx.loop(n_vec, j1, 1, "small.js") as j:
                def step(p, accs):
                    bx = b.load(cx.gep(b_b, b.add(b.mul(p, n), j), ty), typ=ty, align=size)
                    return [b.call(_declare(module, f"llvm.fma.{_SUF[dtype]}", ty, [ty] * 3),
                                   [a_at(p), bx, accs[0]])]
                b.store(k_loop([ir.Constant(ty, 0.0)], step)[0], cx.gep(row, j, ty),
                        align=size)
        else:                   # B stored (n, k): dot products of A's row with B's rows
            k_vec = b.mul(b.sdiv(k, cx.c64(vw)), cx.c64(vw))
            contiguous_a = not transpose_a
            with cx.loop(j0, j1, 1, "small.j") as j:
                brow = cx.gep(b_b, b.mul(j, k), ty)
                b.store(zero_v, acc_v)
                with cx.loop(0, k_vec, vw, "small.kv") as p:
                    if contiguous_a:
                        av = b.load(cx.gep(a_b, b.add(b.mul(i, k), p), ty), typ=vty,
                                    align=size)
                    else:
                        av = ir.Constant(vty, ir.Undefined)
                        for x in range(vw):
                            av = b.insert_element(av, a_at(b.add(p, cx.c64(x))),
                                                  ir.Constant(_I32, x))
                    bvv = b.load(cx.gep(brow, p, ty), typ=vty, align=size)
                    b.store(b.call(fma, [av, bvv, b.load(acc_v, typ=vty)]), acc_v)
                v = b.load(acc_v, typ=vty)
                total = b.extract_element(v, ir.Constant(_I32, 0))
                for x in range(1, vw):
                    total = b.fadd(total, b.extract_element(v, ir.Constant(_I32, x)))
                b.store(total, acc_s)
                with cx.loop(k_vec, k, 1, "small.kt") as p:
                    prod = b.fmul(a_at(p), b.load(cx.gep(brow, p, ty), typ=ty, align=size))
                    b.store(b.fadd(b.load(acc_s, typ=ty), prod), acc_s)
                b.store(b.load(acc_s, typ=ty), cx.gep(row, j, ty), align=size)
        with cx.if_(has_epi, "small.epi"):
            b.call(epi, [epi_args, cx.gep(scratch, j0, ty), n, bv, i, j0, cx.c64(1), width_all])
    b.call(free, [scratch])
    b.ret_void()
    return fn


def _merge(module: ir.Module, dtype: str, nr: int) -> ir.Function:
    """``merge(tile, c, ldc, mr, nr, first)``: ``c[r*ldc + j] = (first ? 0 : c[r*ldc + j]) +
    tile[r*NR + j]`` for ``r < mr, j < nr`` (the valid part of a ragged tile)."""
    name = f"graphnn.gemm.merge.{dtype}.{nr}"
    if name in module.globals:
        return module.globals[name]
    ty = _FTY[dtype]
    size = ml.ITEMSIZE[dtype]
    fn, cx = _new_helper(module, name, [_PTR, _PTR, _I64, _I64, _I64, _I1],
                         ["tile", "c", "ldc", "mr", "nr", "first"])
    fn.args[0].add_attribute("noalias")
    fn.args[1].add_attribute("noalias")
    tile, c, ldc, mr, nr_v, first = fn.args
    b = cx.b
    with cx.loop(0, mr, 1, "r") as r:
        crow = cx.gep(c, b.mul(r, ldc), ty)
        trow = cx.gep(tile, b.mul(r, cx.c64(nr)), ty)
        with cx.loop(0, nr_v, 1, "j") as j:
            t = b.load(cx.gep(trow, j, ty), typ=ty, align=size)
            cp = cx.gep(crow, j, ty)
            old = b.select(first, ir.Constant(ty, 0.0), b.load(cp, typ=ty, align=size))
            b.store(b.fadd(old, t, flags=("contract",)), cp, align=size)
    b.ret_void()
    return fn


# ---------------------------------------------------------------------------------------------
class _GemmEmitter:
    """The driver of one Gemm statement.  :meth:`emit` (with the kernel's emitter) outlines the
    task function and starts it on one or several threads; :meth:`emit_task` (with the task
    function's emitter) emits the blocked algorithm over a range of tasks."""

    def __init__(self, em, s: Gemm, features: Optional[dict] = None):
        self.em, self.s, self.features = em, s, features
        self.cx = _Ctx(em.b, em.fn)
        self.dt = s.dtype
        self.ty = _FTY[s.dtype]
        self.size = ml.ITEMSIZE[s.dtype]
        self.mr, self.vw, self.nv = micro_tile(s.dtype, features)
        self.nr = self.vw * self.nv
        self.c_dtype = em.params[s.c]
        #: partial sums can live in C itself: C has the accumulation dtype and is no other
        #: parameter's buffer (an in-place update such as ``v = mu*v - lr*(A @ B)`` writes the
        #: variable it reads: its sums go to the scratch block and C is written only by the
        #: epilogue, after it read the old value at the same index)
        reads_c = s.epilogue is not None and any(
            isinstance(x, Load) and x.buf == s.c for x in walk_exprs(s.epilogue))
        self.direct = self.c_dtype == s.dtype and s.c in em.noalias and not reads_c

    def i64(self, e):
        return self.em.convert(self.em.expr(e), e.dtype, "int64")

    # -- in the kernel: outline, split, start ----------------------------------------------------
    def emit(self) -> None:
        em, s, b = self.em, self.s, self.em.b
        if em.comments:
            b.comment(f"gemm {s.c} = {s.a}{'^T' if s.transpose_a else ''} @ "
                      f"{s.b}{'^T' if s.transpose_b else ''} ({self.dt}, {self.mr}x{self.nr} "
                      f"micro-tile, tasks on {'all threads' if em.threads else 'this thread'})")
        # the epilogue: this kernel's function, called by the shared drivers with every buffer,
        # symbol and local declared so far packed in a struct on the stack
        captured = list(em.allocas)
        epi, packed = self._epilogue(captured)
        m, n, k, batch = (self.i64(e) for e in (s.m, s.n, s.k, s.batch))
        small = b.icmp_signed("<=", m, ir.Constant(_I64, SMALL_M))
        with self.cx.if_else(small, "gemm.small") as otherwise:
            self._small(m, n, k, batch, epi, packed)
            otherwise()
            self._blocked(captured, epi, packed)

    def _small(self, m, n, k, batch, epi, packed) -> None:
        """The small-m helper over all columns, on the team (blocks of :data:`SMALL_COLS`
        columns claimed by the threads) when the product has :data:`SMALL_MIN_FLOPS` or more:
        batch-1 inference is bound by reading the weights, which two cores do faster."""
        em, s, b = self.em, self.s, self.em.b
        helper = _small(em.module, self.dt, self.vw, s.transpose_a, s.transpose_b)
        operands = [em.args[s.a], em.args[s.b], em.args[s.c], m, n, k, batch]
        zero = ir.Constant(_I64, 0)
        if not em.threads:
            b.call(helper, operands + [zero, n, epi, packed])
            return
        index = getattr(em, "n_outlined", 0)
        em.n_outlined = index + 1
        name = f"{em.fn.name}.small{index}"
        body = ir.Function(em.module, ir.FunctionType(ir.VoidType(), [_PTR] * 3 + [_I64] * 4
                                                      + [_PTR, _I64, _I64]), name=name)
        body.linkage = "internal"
        body.attributes.add("nounwind")
        bb = ir.IRBuilder(body.append_basic_block("entry"))
        *ops, args_ptr, lo, hi = body.args
        cols = ir.Constant(_I64, SMALL_COLS)
        j1 = bb.mul(hi, cols)
        j1 = bb.select(bb.icmp_signed("<", j1, ops[4]), j1, ops[4])
        bb.call(helper, list(ops) + [bb.mul(lo, cols), j1, epi, args_ptr])
        bb.ret_void()
        blocks = b.sdiv(b.add(n, ir.Constant(_I64, SMALL_COLS - 1)), ir.Constant(_I64, SMALL_COLS))
        per_block = b.fmul(ir.Constant(_F64, 2.0 * SMALL_COLS),
                           b.sitofp(b.mul(b.mul(m, k), batch), _F64))
        threads.run_chunks(em, f"small{index}", name, body, operands + [packed], zero, blocks,
                           per_block, min_work=SMALL_MIN_FLOPS)

    def _blocked(self, captured, epi, packed) -> None:
        """The blocked algorithm: the task function (every buffer, symbol and local declared so
        far passed in, as for a parallel loop's body, then the epilogue's arguments, the task
        grid tm x tn and the task range [lo, hi)) started on the team or run here."""
        em, s, b = self.em, self.s, self.em.b
        index = getattr(em, "n_outlined", 0)
        em.n_outlined = index + 1
        name = f"{em.fn.name}.gemm{index}"
        grid = [Var(f"gemm.{v}", "int64") for v in ("epi.args", "tm", "tn", "lo", "hi")]
        child = type(em)(em.module, em.k, em.noalias, em.comments, name=name,
                         scalars=captured + [(v.name, "int64") for v in grid], threads=False)
        _GemmEmitter(child, s, self.features).emit_task(epi, *grid)
        task_fn = child.emit([])
        args = [em.args[p.name] for p in em.k.params] + [em.symbols[x] for x in em.k.symbols]
        args += [b.load(em.allocas[key], typ=task_fn.args[len(args) + i].type)
                 for i, key in enumerate(captured)]
        args.append(b.ptrtoint(packed, _I64))
        m, n, k, batch = (self.i64(e) for e in (s.m, s.n, s.k, s.batch))
        one, zero = self.cx.c64(1), self.cx.c64(0)

        if not em.threads:  # already on a thread of a parallel loop: one task per product
            b.call(task_fn, args + [one, one, zero, batch])
            return
        nt = b.sext(b.call(threads.num_threads_fn(em.module), []), _I64)
        tm, tn = self.grid(m, n, k, batch, nt)
        g = b.mul(tm, tn)
        tasks = b.mul(batch, g)
        flops = b.fmul(ir.Constant(_F64, 2.0), b.sitofp(b.mul(b.mul(m, n), k), _F64))
        per_task = b.fdiv(flops, b.sitofp(g, _F64))
        # on one thread: one task per product (tm = tn = 1)
        threads.run_chunks(em, f"gemm{index}", name, task_fn, args + [tm, tn], zero, tasks,
                           per_task, min_work=GEMM_MIN_FLOPS,
                           serial_args=[(len(args), one), (len(args) + 1, one)],
                           serial_range=(zero, batch))

    def grid(self, m, n, k, batch, nt):
        """``(tm, tn)`` from the shared helper :func:`_grid_fn`."""
        b = self.em.b
        fn = _grid_fn(self.em.module, self.dt, self.nr)
        both = b.call(fn, [m, n, k, batch, nt])
        return b.extract_value(both, 0), b.extract_value(both, 1)

    def _epilogue(self, captured):
        """``(epi, args)``: this Gemm's epilogue function (see :meth:`_epilogue_fn`) and the
        struct of its arguments, or two nulls when C simply receives the sums."""
        em, s, b = self.em, self.s, self.em.b
        if s.epilogue is None and self.direct:
            return ir.Constant(_EPI_TYPE.as_pointer(), None), ir.Constant(_PTR, None)
        values = [em.args[p.name] for p in em.k.params] + [em.symbols[x] for x in em.k.symbols]
        values += [b.load(em.allocas[key], typ=threads._reg(key[1])) for key in captured]
        struct = ir.LiteralStructType([v.type for v in values])
        packed = em.alloca_b.alloca(struct, name="gemm.epi.args")
        for i, v in enumerate(values):
            b.store(v, b.gep(packed, [ir.Constant(_I32, 0), ir.Constant(_I32, i)], inbounds=True))
        return self._epilogue_fn(captured, struct), packed

    # -- in the task function: call the shared driver -----------------------------------------
    def emit_task(self, epi, args_var: Var, tm_var: Var, tn_var: Var, lo_var: Var, hi_var: Var
                  ) -> None:
        """Call the shared driver (:func:`_driver`) for tasks ``[lo, hi)`` with the kernel's
        epilogue function ``epi`` and the address of its arguments (``args_var``)."""
        em, s, b = self.em, self.s, self.em.b
        m, n, k = (self.i64(e) for e in (s.m, s.n, s.k))
        tm, tn, lo, hi = (em.expr(v) for v in (tm_var, tn_var, lo_var, hi_var))
        packed = b.inttoptr(em.expr(args_var), _PTR)
        driver = _driver(em.module, self.dt, self.mr, self.vw, self.nv, s.transpose_a,
                         s.transpose_b, self.direct)
        b.call(driver, [em.args[s.a], em.args[s.b], em.args[s.c], m, n, k, tm, tn, lo, hi,
                        epi, packed])

    def _epilogue_fn(self, captured, struct: ir.LiteralStructType) -> ir.Function:
        """``void <task>.epi(ptr args, ptr acc, i64 ld, i64 batch, i64 row0, i64 col0,
        i64 rows, i64 cols)``: ``C[batch, row, col] = epilogue(acc)`` over a finished block of
        tiles (acc in L1), with the kernel's arguments unpacked from ``args``."""
        em = self.em
        extra = [Var(f"gemm.epi.{v}", "int64")
                 for v in ("acc", "ld", "batch", "row0", "col0", "rows", "cols")]
        index = getattr(em, "n_epilogues", 0)   # several Gemms in one kernel (a scan's step)
        em.n_epilogues = index + 1
        base = f"{em.fn.name}.epi" + (f"{index}" if index else "")
        child = type(em)(em.module, em.k, em.noalias, em.comments, name=f"{base}.body",
                         scalars=list(captured) + [(v.name, "int64") for v in extra],
                         threads=False)
        g = _GemmEmitter(child, self.s, self.features)
        acc, ld, bb, row0, col0, rows, cols = (child.expr(v) for v in extra)
        g.bb = bb
        g.n = g.i64(self.s.n)
        g.c_off = child.b.mul(bb, child.b.mul(g.i64(self.s.m), g.n))
        g.epilogue(child.b.inttoptr(acc, _PTR), ld, row0, col0, rows, cols)
        body = child.emit([])
        fn = ir.Function(em.module, _EPI_TYPE, name=base)
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        packed = fn.args[0]
        values = [b.load(b.gep(packed, [ir.Constant(_I32, 0), ir.Constant(_I32, i)],
                               inbounds=True, source_etype=struct), typ=ty)
                  for i, ty in enumerate(struct.elements)]
        b.call(body, values + [b.ptrtoint(fn.args[1], _I64)] + list(fn.args[2:]))
        b.ret_void()
        return fn

    def epilogue(self, accp, acc_ld, row0, col0, mr_v, nr_v):
        """``C[b, row, col] = epilogue(acc)`` over the finished tile (acc read at ``accp``)."""
        em, s, ty = self.em, self.s, self.ty
        cx, b = self.cx, self.em.b
        c_arg = em.args[s.c]
        v_acc, v_row = Var(GEMM_ACC, s.dtype), Var(GEMM_ROW, "int64")
        v_col, v_bat = Var(GEMM_COL, "int64"), Var(GEMM_BATCH, "int64")
        b.store(self.bb, em.local(v_bat))
        with cx.loop(0, mr_v, 1, "gemm.pr") as r:
            row = b.add(row0, r)
            b.store(row, em.local(v_row))
            arow = cx.gep(accp, b.mul(r, acc_ld), ty)
            crow = b.add(self.c_off, b.add(b.mul(row, self.n), col0))
            with cx.loop(0, nr_v, 1, "gemm.pj") as j:
                acc = b.load(cx.gep(arow, j, ty), typ=ty, align=self.size)
                if s.epilogue is None:
                    value, vdt = acc, s.dtype
                else:
                    b.store(acc, em.local(v_acc))
                    b.store(b.add(col0, j), em.local(v_col))
                    value, vdt = em.expr(s.epilogue), s.epilogue.dtype
                if vdt == "bool":
                    value = b.zext(value, _I8)
                ptr = cx.gep(c_arg, b.add(crow, j), _MEM[self.c_dtype])
                b.store(value, ptr, align=ml.ITEMSIZE[self.c_dtype])


_PAIR = ir.LiteralStructType([_I64, _I64])


def _grid_fn(module: ir.Module, dt: str, nr: int) -> ir.Function:
    """Shared helper ``{i64, i64} graphnn.gemm.grid.<dt>.<NR>(m, n, k, batch, nt)``: ``(tm,
    tn)``, each product split into ``tm`` row ranges x ``tn`` column ranges (of
    whole NR panels), so that ``batch * tm * tn`` tasks are a multiple of the thread count
    ``nt`` (``tm * tn = nt / gcd(batch, nt)``).  The factorization minimises one task's
    estimated time: its multiply-adds plus :data:`PACK_COST` per element it packs (a row
    split packs B again in every task, a column split A)."""
    name = f"graphnn.gemm.grid.{dt}.{nr}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(_PAIR, [_I64] * 5), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    for a, nm in zip(fn.args, ("m", "n", "k", "batch", "nt")):
        a.name = nm
    m, n, k, batch, nt = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    cx = _Ctx(b, fn)
    one, zero = cx.c64(1), cx.c64(0)
    # g = nt / gcd(batch, nt)
    x = b.alloca(_I64, name="gemm.gcd.x")
    y = b.alloca(_I64, name="gemm.gcd.y")
    b.store(nt, x)
    b.store(batch, y)
    head = fn.append_basic_block("gemm.gcd.head")
    body = fn.append_basic_block("gemm.gcd.body")
    done = fn.append_basic_block("gemm.gcd.done")
    b.branch(head)
    b.position_at_end(head)
    yv = b.load(y, typ=_I64)
    b.cbranch(b.icmp_signed(">", yv, zero), body, done)
    b.position_at_end(body)
    xv, yv = b.load(x, typ=_I64), b.load(y, typ=_I64)
    b.store(yv, x)
    b.store(b.srem(xv, yv), y)
    b.branch(head)
    b.position_at_end(done)
    g = b.sdiv(nt, cx.max(b.load(x, typ=_I64), one))
    # the best factorization g = tm * tn (tn whole panels, tm rows at most); none: 1 x 1
    panels = cx.max(cx.ceil_div(n, nr), one)
    rows_avail = cx.max(m, one)
    best = b.alloca(_I64, name="gemm.best")
    best_tn = b.alloca(_I64, name="gemm.best.tn")
    b.store(cx.c64(-1), best)
    b.store(zero, best_tn)
    with cx.loop(1, b.add(g, one), 1, "gemm.split") as d:
        tm = b.sdiv(g, d)
        ok = b.and_(b.icmp_signed("==", b.srem(g, d), zero),
                    b.and_(b.icmp_signed("<=", d, panels),
                           b.icmp_signed("<=", tm, rows_avail)))
        rows = cx.ceil_div(m, tm)
        cols = b.mul(cx.ceil_div(panels, d), cx.c64(nr))
        njc = cx.ceil_div(cols, NC[dt])
        packed = b.add(b.mul(rows, njc), cols)
        cost = b.add(b.mul(rows, cols), b.mul(packed, cx.c64(PACK_COST)))
        old = b.load(best, typ=_I64)
        # ascending d with <=: of equal costs the larger column split wins
        better = b.and_(ok, b.or_(b.icmp_signed("<", old, zero),
                                  b.icmp_signed("<=", cost, old)))
        b.store(b.select(better, cost, old), best)
        b.store(b.select(better, d, b.load(best_tn, typ=_I64)), best_tn)
    tn = b.load(best_tn, typ=_I64)
    found = b.icmp_signed(">", tn, zero)
    tn = b.select(found, tn, one)
    tm = b.select(found, b.sdiv(g, tn), one)
    pair = ir.Constant(_PAIR, ir.Undefined)
    b.ret(b.insert_value(b.insert_value(pair, tm, 0), tn, 1))
    return fn


#: the epilogue callback the shared driver calls (see ``_GemmEmitter._epilogue_fn``)
_EPI_TYPE = ir.FunctionType(ir.VoidType(), [_PTR, _PTR] + [_I64] * 6)


def _driver(module: ir.Module, dt: str, mr: int, vw: int, nv: int, transpose_a: bool,
            transpose_b: bool, direct: bool) -> ir.Function:
    """Shared helper ``graphnn.gemm.tasks.<dt>.<MR>x<NR>.<ab>.<c|s>(A, B, C, m, n, k, tm, tn,
    lo, hi, epi, epi_args)``: the blocked algorithm over tasks ``[lo, hi)``, compiled once per
    library for every Gemm of this configuration.  ``c``: partial sums in C; ``s``: in the
    scratch block.  ``epi`` (null: none) is called with ``epi_args`` on every finished
    ``mc x NR`` strip of tiles."""
    nr = vw * nv
    name = (f"graphnn.gemm.tasks.{dt}.{mr}x{nr}.{'t' if transpose_a else 'n'}"
            f"{'t' if transpose_b else 'n'}.{'c' if direct else 's'}")
    if name in module.globals:
        return module.globals[name]
    fn, cx = _new_helper(module, name, [_PTR] * 3 + [_I64] * 7 + [_EPI_TYPE.as_pointer(), _PTR],
                         ["a", "b", "c", "m", "n", "k", "tm", "tn", "lo", "hi", "epi",
                          "epi_args"])
    _Tasks(module, fn, cx, dt, mr, vw, nv, transpose_a, transpose_b, direct).emit()
    cx.b.ret_void()
    return fn


class _Tasks:
    """Emits the body of a :func:`_driver` helper: tasks ``[lo, hi)`` of the blocked algorithm.
    Task ``t`` is part ``(t mod g) div tn, (t mod g) mod tn`` (``g = tm * tn``) of the row x
    column ranges of product ``t div g``.  One scratch block (sized for the largest task) serves
    all tasks of the call."""

    def __init__(self, module, fn, cx, dt, mr, vw, nv, transpose_a, transpose_b, direct):
        self.module, self.fn, self.cx, self.b = module, fn, cx, cx.b
        self.dt, self.ty, self.size = dt, _FTY[dt], ml.ITEMSIZE[dt]
        self.mr, self.vw, self.nv, self.nr = mr, vw, nv, vw * nv
        self.transpose_a, self.transpose_b, self.direct = transpose_a, transpose_b, direct

    def emit(self) -> None:
        cx, b, module, dt, ty = self.cx, self.b, self.module, self.dt, self.ty
        mr, nr = self.mr, self.nr
        a_arg, b_arg, c_arg, m, n, k, tm, tn, lo, hi, epi, epi_args = self.fn.args
        self.c_arg, self.epi, self.epi_args = c_arg, epi, epi_args
        self.has_epi = b.icmp_unsigned("!=", epi, ir.Constant(epi.type, None))
        # one MR x NR tile for ragged edges (entry-block alloca: no stack growth in loops)
        self.tile = b.alloca(ir.ArrayType(ty, mr * nr), name="gemm.tile")
        self.tile.align = 64
        self.m, self.n, self.k = m, n, k
        self.ukr = _ukernel(module, dt, mr, self.vw, self.nv)
        #: kernels for the ragged bottom row of tiles: rows[r] computes r rows
        self.ukr_rows = {r: _ukernel(module, dt, mr, self.vw, self.nv, rows=r)
                         for r in range(1, mr)}
        self.merge = _merge(module, dt, nr)
        self.packa = _pack(module, dt, mr, contiguous=self.transpose_a)
        self.packb = _pack(module, dt, nr, contiguous=not self.transpose_b)

        # block sizes for this call: K blocks balanced (the same in every task, so results do
        # not depend on the split), A/B blocks no larger than the largest task needs
        zero, one = cx.c64(0), cx.c64(1)
        panels = cx.ceil_div(n, nr)
        nkb = cx.max(cx.ceil_div(k, KC[dt]), one)
        kc_max = cx.round_up(cx.ceil_div(k, nkb), 4)
        kc_max = cx.min(kc_max, cx.max(k, zero))
        task_cols = b.mul(cx.ceil_div(panels, tn), cx.c64(nr))
        nc_max = cx.min(task_cols, cx.c64(NC[dt]))
        mc_blk = MC[dt] // mr * mr
        mc_max = cx.min(cx.round_up(cx.ceil_div(m, tm), mr), cx.c64(mc_blk))
        self.nkb, self.kc_max, self.mc_blk, self.nc_max = nkb, kc_max, mc_blk, nc_max

        b_elems = b.mul(kc_max, nc_max)
        a_elems = b.mul(kc_max, mc_max)
        acc_elems = zero if self.direct else b.mul(mc_max, nc_max)
        total = b.add(b.add(b_elems, a_elems), acc_elems)
        nbytes = b.add(b.mul(total, cx.c64(self.size)), cx.c64(128))
        malloc = _declare(module, "malloc", _PTR, [_I64])
        free = _declare(module, "free", ir.VoidType(), [_PTR])
        raw = b.call(malloc, [nbytes], name="gemm.scratch")
        with cx.if_(b.icmp_unsigned("==", raw, ir.Constant(_PTR, None)), "gemm.oom"):
            # out of memory: stop rather than pack into addresses near 0
            b.call(_declare(module, "abort", ir.VoidType(), []), [])
        base = b.inttoptr(b.and_(b.add(b.ptrtoint(raw, _I64), cx.c64(63)), cx.c64(~63)), _PTR)
        self.bp = base
        self.ap = cx.gep(base, b_elems, ty)
        self.accbuf = cx.gep(self.ap, a_elems, ty)

        g = b.mul(tm, tn)
        with cx.loop(lo, hi, 1, "gemm.task") as t:
            bb = b.sdiv(t, g)
            cell = b.sub(t, b.mul(bb, g))
            ri = b.sdiv(cell, tn)
            ci = b.sub(cell, b.mul(ri, tn))
            # rows [r0, r1): an even share (ragged tiles cost their rows only); columns
            # [c0, c1): whole panels, so a tile is ragged only at the right edge of C
            r0 = b.sdiv(b.mul(m, ri), tm)
            r1 = b.sdiv(b.mul(m, b.add(ri, one)), tm)
            c0 = cx.min(b.mul(b.sdiv(b.mul(panels, ci), tn), cx.c64(nr)), n)
            c1 = cx.min(b.mul(b.sdiv(b.mul(panels, b.add(ci, one)), tn), cx.c64(nr)), n)
            self.bb = bb
            self.a_b = cx.gep(a_arg, b.mul(bb, b.mul(m, k)), ty)
            self.b_b = cx.gep(b_arg, b.mul(bb, b.mul(k, n)), ty)
            self.c_off = b.mul(bb, b.mul(m, n))
            with cx.loop(c0, c1, cx.c64(NC[dt]), "gemm.jc") as jc:
                nc = cx.min(cx.c64(NC[dt]), b.sub(c1, jc))

                def k_outer():
                    # B packed once per K block, A blocks stream past it
                    with cx.loop(0, nkb, 1, "gemm.kb") as kb:
                        pc, kc = self.k_block(kb)
                        self.pack_b(pc, kc, jc, nc)
                        with cx.loop(r0, r1, cx.c64(mc_blk), "gemm.ic") as ic:
                            mc = cx.min(cx.c64(mc_blk), b.sub(r1, ic))
                            self.pack_a(pc, kc, ic, mc)
                            self.block(kb, kc, ic, mc, jc, nc)
                if self.direct:
                    k_outer()
                else:
                    # C cannot hold partial sums: they live in the mc x nc scratch block, so an
                    # A block must see all of K before the next one starts (K innermost, B
                    # packed again per A block) -- unless K is one block (the weight gradient
                    # of a batch: K = batch), where the order above is right as it is
                    with cx.if_else(b.icmp_signed("==", nkb, one), "gemm.onek") as otherwise:
                        k_outer()
                        otherwise()
                        with cx.loop(r0, r1, cx.c64(mc_blk), "gemm.ic") as ic:
                            mc = cx.min(cx.c64(mc_blk), b.sub(r1, ic))
                            with cx.loop(0, nkb, 1, "gemm.kb") as kb:
                                pc, kc = self.k_block(kb)
                                self.pack_b(pc, kc, jc, nc)
                                self.pack_a(pc, kc, ic, mc)
                                self.block(kb, kc, ic, mc, jc, nc)
        b.call(free, [raw])

    def k_block(self, kb):
        b, cx = self.b, self.cx
        pc = b.mul(kb, self.kc_max)
        kc = cx.max(cx.min(self.kc_max, b.sub(self.k, pc)), cx.c64(0))
        return pc, kc

    def pack_b(self, pc, kc, jc, nc):
        b, cx = self.b, self.cx
        if self.transpose_b:   # B^T stored (n, k): B(p, j) = src[j*k + p]
            src, ld = cx.gep(self.b_b, b.add(b.mul(jc, self.k), pc), self.ty), self.k
        else:                  # B stored (k, n)
            src, ld = cx.gep(self.b_b, b.add(b.mul(pc, self.n), jc), self.ty), self.n
        b.call(self.packb, [src, ld, kc, nc, self.bp])

    def pack_a(self, pc, kc, ic, mc):
        b, cx = self.b, self.cx
        if self.transpose_a:   # A^T stored (k, m): A(i, p) = src[p*m + i]
            src, ld = cx.gep(self.a_b, b.add(b.mul(pc, self.m), ic), self.ty), self.m
        else:                  # A stored (m, k)
            src, ld = cx.gep(self.a_b, b.add(b.mul(ic, self.k), pc), self.ty), self.k
        b.call(self.packa, [src, ld, kc, mc, self.ap])

    def block(self, kb, kc, ic, mc, jc, nc):
        """All micro-tiles of the ``mc x nc`` block for K block ``kb``."""
        cx, b, ty = self.cx, self.b, self.ty
        mr, nr = self.mr, self.nr
        first = b.icmp_signed("==", kb, cx.c64(0))
        last = b.icmp_signed("==", kb, b.sub(self.nkb, cx.c64(1)))
        n = self.n
        if self.direct:        # partial sums in C: acc(r, j) at C[c_off + (ic+r)*n + jc + j]
            acc_base = cx.gep(self.c_arg, b.add(self.c_off, b.add(b.mul(ic, n), jc)), ty)
            acc_ld = n
        else:                  # partial sums in the scratch block (mc_max x nc_max)
            acc_base, acc_ld = self.accbuf, self.nc_max
        tile = b.bitcast(self.tile, _PTR)
        with cx.loop(0, nc, cx.c64(nr), "gemm.jr") as jr:
            nr_v = cx.min(cx.c64(nr), b.sub(nc, jr))
            wide = b.icmp_signed("==", nr_v, cx.c64(nr))
            bp = cx.gep(self.bp, b.mul(jr, kc), ty)
            with cx.loop(0, mc, cx.c64(mr), "gemm.ir") as ir_:
                mr_v = cx.min(cx.c64(mr), b.sub(mc, ir_))
                ap = cx.gep(self.ap, b.mul(ir_, kc), ty)
                cptr = cx.gep(acc_base, b.add(b.mul(ir_, acc_ld), jr), ty)
                # full-width tiles go straight to C; the ragged right column of tiles goes
                # through the stack tile and only its valid part is added to C
                dst = b.select(wide, cptr, tile)
                ld = b.select(wide, acc_ld, cx.c64(nr))
                args = [kc, ap, bp, dst, ld, b.and_(wide, b.not_(first))]
                self.switch_rows(mr_v, lambda fn: b.call(fn, args))
                with cx.if_(b.not_(wide), "gemm.narrow"):
                    b.call(self.merge, [tile, cptr, acc_ld, mr_v, nr_v, first])
            # the mc x nr strip is finished after the last K block: the kernel's epilogue
            # runs on it while it is in L1
            with cx.if_(b.and_(last, self.has_epi), "gemm.last"):
                b.call(self.epi, [self.epi_args, cx.gep(acc_base, jr, ty), acc_ld, self.bb, ic,
                             b.add(jc, jr), mc, nr_v])

    def switch_rows(self, mr_v, call) -> None:
        """``call(kernel for mr_v rows)``: the full-tile kernel, or a shorter one at the bottom."""
        b, fn = self.b, self.fn
        full = fn.append_basic_block("gemm.rows.full")
        done = fn.append_basic_block("gemm.rows.done")
        sw = b.switch(mr_v, full)
        for r, kernel in self.ukr_rows.items():
            block = fn.append_basic_block(f"gemm.rows.{r}")
            sw.add_case(ir.Constant(_I64, r), block)
            b.position_at_end(block)
            call(kernel)
            b.branch(done)
        b.position_at_end(full)
        call(self.ukr)
        b.branch(done)
        b.position_at_end(done)


#: products with at most this many rows (per batch entry) skip packing: one pass over B per row
#: of C beats packing all of B for a row or two (batch-1 inference is a matrix-vector product)
SMALL_M = 4


def emit_gemm(em, s: Gemm) -> None:
    """Emit ``s`` into the kernel being built by ``em`` (a ``llvm_backend._KernelEmitter``):
    the small-m helper or the blocked, packed algorithm, chosen at run time from m."""
    _GemmEmitter(em, s).emit()
