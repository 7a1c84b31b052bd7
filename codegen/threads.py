"""Both (all) cores from generated code: ``parallel`` loops through libgomp.

A ``For`` of kind ``parallel`` that is not already inside a threaded region is rendered as::

    body function   void K.parN(bufs..., symbols..., captured locals..., i64 lo, i64 hi)
                    -- the loop over [lo, hi) with the original body (reductions inside stay
                       per thread; any statement may appear, including nested loops and Gemm)
    task function   void K.parN.task(ptr args, i64 lo, i64 hi) -- unpacks the argument struct
                    and calls the body (inlined there: the body's loop is compiled once)
    at the loop     store the arguments in a struct on the stack;
                    if not graphnn.parallel(K.parN.task, &args, start, stop, cost per iteration,
                                            PARALLEL_MIN_WORK):
                        K.parN.task(&args, start, stop)      (the single-thread path)

``graphnn.parallel`` and its team worker are shared helpers (compiled once per library, not per
kernel): when there are several threads, the work (trip count x cost) reaches the threshold and
no back-off is on, it starts ``GOMP_parallel`` with ``graphnn.parallel.worker``, whose threads
claim chunks of [start, stop) with an atomic add (dynamic schedule: a thread that starts late
does less) and call the task on each; else it returns 0 and the kernel runs the task itself.

The context struct holds every buffer pointer, every symbol and the current value of every local
declared so far (locals the body declares itself are private to each thread).  A parallel region
costs a few microseconds with warm threads, so small loops stay on the calling thread.  The part
from "at the loop" on is :func:`run_chunks`, which also starts the tasks of a ``Gemm``
(``codegen.gemm_llvm``, with its own threshold): one team, one thread count, one back-off.

Thread count: ``graphnn_set_num_threads(n)`` (exported by every module; ``n <= 0`` means automatic),
else ``$GRAPHNN_NUM_THREADS`` (read once, on first use), else ``omp_get_max_threads()`` (which is
``$OMP_NUM_THREADS`` or the number of cores).  ``graphnn_get_num_threads()`` returns the count in
use.  Libraries link ``-lgomp`` (``link_shared``).

Safety: libgomp's thread pool does not survive ``fork()`` (a child calling GOMP_parallel after
the parent used it hangs), so each library registers a ``pthread_atfork`` child handler that
makes it single-threaded in forked children.  When the calling thread of a region waits long for
the others (a core busy with another process or thread pool, or a sleeping virtual CPU slow to
wake), the library stays on one thread for about a second (see ``_STALL_CYCLES``).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

from llvmlite import ir

from .llvm_ir import declare as _declare

from . import mathlib as ml
from .kernel import Assign, Call, Expr, For, Gemm, If, Load, Store, Var, cast, walk_exprs

__all__ = ["PARALLEL_MIN_WORK", "emit_thread_api", "parallel_loop", "run_chunks", "work_units"]

_I1, _I8, _I32, _I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
_F64, _PTR, _VOID = ir.DoubleType(), ir.PointerType(), ir.VoidType()

#: work units (about one simple scalar operation each, see :func:`expr_cost`) below which a
#: parallel loop runs on the calling thread.  Measured on this VM's 2 Zen 3 cores with warm
#: threads (examples/benchmarks/elementwise.py --threshold): two threads win once a loop runs
#: ~5-6 us on one; that is ~30K elements for a float32 add (5 units per element, in cache),
#: ~4K for tanh(a*x+b) (15 units), ~1-2K for an expression with four transcendentals (~48
#: units).  2**18 units (add >= 52K elements, exp >= 24K, tanh >= 17K) leaves margin for cold
#: starts (a sleeping thread takes 0.1-8 ms to wake on this VM: see _STALL_CYCLES).
PARALLEL_MIN_WORK = 1 << 18

#: threads claim chunks of iterations dynamically: about this many per thread, each at least
#: ``_MIN_CHUNK_WORK`` work units; a chunk of ``_CHUNK_ALIGN_MIN`` or more iterations is a multiple of
#: ``_CHUNK_ALIGN`` (whole vectors and cache lines)
_CHUNKS_PER_THREAD, _MIN_CHUNK_WORK = 4, 1 << 14
_CHUNK_ALIGN, _CHUNK_ALIGN_MIN = 16, 256

#: guessed trip count of a nested loop whose bounds are not known before the parallel loop
_UNKNOWN_TRIP = 16.0

_COST = {"exp": 8, "log": 8, "tanh": 10, "sigmoid": 10, "pow": 16, "sin": 16, "cos": 16,
         "sqrt": 2, "div": 2, "floordiv": 2, "mod": 4, "philox": 20, "philox_uniform": 20}

_THREADS_VAR = "graphnn.threads"
_BACKOFF_VAR = "graphnn.threads_backoff_until"
_FORKED_VAR = "graphnn.threads_forked"

#: contention guard: when the calling thread of a region waited more than _STALL_CYCLES
#: time-stamp-counter cycles (~0.85 ms at 2.45 GHz) for the others (at the start, or at the join
#: for a thread that arrived after all the work was taken), a core was busy (another process or
#: thread pool: with libgomp's spinning waits this cost 4-10 ms per region here) or slow to wake
#: (this VM's idle second vCPU: 0.1 ms after 10 ms idle, up to 8 ms after 100 ms).  Parallel
#: loops then run on one thread for _BACKOFF_CYCLES (~0.9 s) before trying again.
_STALL_CYCLES, _BACKOFF_CYCLES = 1 << 21, 1 << 31
_NUM_THREADS_FN = "graphnn.num_threads"
_ENV_NAME = "GRAPHNN_NUM_THREADS"


# ---------------------------------------------------------------------------------------------
# thread count


def _threads_var(module: ir.Module) -> ir.GlobalVariable:
    g = module.globals.get(_THREADS_VAR)
    if g is None:
        g = ir.GlobalVariable(module, _I32, name=_THREADS_VAR)
        g.linkage = "internal"
        g.initializer = ir.Constant(_I32, 0)
    return g


def _backoff_var(module: ir.Module) -> ir.GlobalVariable:
    g = module.globals.get(_BACKOFF_VAR)
    if g is None:
        g = ir.GlobalVariable(module, _I64, name=_BACKOFF_VAR)
        g.linkage = "internal"
        g.initializer = ir.Constant(_I64, 0)
    return g


def num_threads_fn(module: ir.Module) -> ir.Function:
    """Internal ``i32 graphnn.num_threads()``: the set count, else $GRAPHNN_NUM_THREADS, else
    ``omp_get_max_threads()``; cached in a global after the first call."""
    fn = module.globals.get(_NUM_THREADS_FN)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(_I32, []), name=_NUM_THREADS_FN)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    var = _threads_var(module)
    text = bytearray(_ENV_NAME.encode() + b"\0")
    env = ir.GlobalVariable(module, ir.ArrayType(_I8, len(text)), name="graphnn.env_threads")
    env.linkage, env.global_constant = "internal", True
    env.initializer = ir.Constant(ir.ArrayType(_I8, len(text)), text)
    entry, lookup, done = (fn.append_basic_block(n) for n in ("entry", "lookup", "done"))
    b = ir.IRBuilder(entry)
    cached = b.load_atomic(var, "monotonic", 4, typ=_I32)
    b.cbranch(b.icmp_signed(">", cached, ir.Constant(_I32, 0)), done, lookup)
    b.position_at_end(lookup)
    s = b.call(_declare(module, "getenv", _PTR, [_PTR]), [env])
    has = b.icmp_unsigned("!=", s, ir.Constant(_PTR, None))
    # atoi(NULL) is undefined: pass "" instead
    empty = b.gep(env, [ir.Constant(_I64, 0), ir.Constant(_I64, len(text) - 1)], inbounds=True,
                  source_etype=env.value_type)
    parsed = b.call(_declare(module, "atoi", _I32, [_PTR]), [b.select(has, s, empty)])
    auto = b.call(_declare(module, "omp_get_max_threads", _I32, []), [])
    n = b.select(b.icmp_signed(">", parsed, ir.Constant(_I32, 0)), parsed, auto)
    n = b.select(b.icmp_signed(">", n, ir.Constant(_I32, 0)), n, ir.Constant(_I32, 1))
    b.store_atomic(n, var, "monotonic", 4)
    b.branch(done)
    b.position_at_end(done)
    phi = b.phi(_I32)
    phi.add_incoming(cached, entry)
    phi.add_incoming(n, lookup)
    # in a child forked after a team existed, libgomp's pool is gone but libgomp does not know
    # it: GOMP_parallel would hang, so one thread only
    forked = b.load_atomic(_forked_var(module), "monotonic", 4, typ=_I32)
    b.ret(b.select(b.icmp_unsigned("!=", forked, ir.Constant(_I32, 0)), ir.Constant(_I32, 1),
                   phi))
    return fn


def _warm_var(module: ir.Module) -> ir.GlobalVariable:
    """1 when the next threaded region's start-up time is judged (see parallel_loop)."""
    g = module.globals.get("graphnn.threads_warm")
    if g is None:
        g = ir.GlobalVariable(module, _I32, name="graphnn.threads_warm")
        g.linkage = "internal"
        g.initializer = ir.Constant(_I32, 0)
    return g


def _forked_var(module: ir.Module) -> ir.GlobalVariable:
    g = module.globals.get(_FORKED_VAR)
    if g is None:
        g = ir.GlobalVariable(module, _I32, name=_FORKED_VAR)
        g.linkage = "internal"
        g.initializer = ir.Constant(_I32, 0)
    return g


def _emit_fork_guard(module: ir.Module) -> None:
    """A constructor registers ``pthread_atfork(NULL, NULL, child)``; ``child`` sets the flag that
    makes :func:`num_threads_fn` return 1 in forked children (glibc unregisters the handler if
    the library is unloaded: ``pthread_atfork`` passes the library's ``__dso_handle``)."""
    child = ir.Function(module, ir.FunctionType(_VOID, []), name="graphnn.forked_child")
    child.linkage = "internal"
    child.attributes.add("nounwind")
    b = ir.IRBuilder(child.append_basic_block("entry"))
    b.store_atomic(ir.Constant(_I32, 1), _forked_var(module), "monotonic", 4)
    b.ret_void()
    ctor = ir.Function(module, ir.FunctionType(_VOID, []), name="graphnn.init_threads")
    ctor.linkage = "internal"
    ctor.attributes.add("nounwind")
    b = ir.IRBuilder(ctor.append_basic_block("entry"))
    atfork = _declare(module, "pthread_atfork", _I32, [_PTR, _PTR, _PTR])
    null = ir.Constant(_PTR, None)
    b.call(atfork, [null, null, child])
    b.ret_void()
    entry_ty = ir.LiteralStructType([_I32, _PTR, _PTR])
    ctors = ir.GlobalVariable(module, ir.ArrayType(entry_ty, 1), name="llvm.global_ctors")
    ctors.linkage = "appending"
    ctors.initializer = ir.Constant(ir.ArrayType(entry_ty, 1), [
        ir.Constant(entry_ty, [ir.Constant(_I32, 65535), ctor, null])])


def emit_thread_api(module: ir.Module) -> None:
    """Exported ``void graphnn_set_num_threads(int n)`` (``n <= 0``: automatic again; also ends a
    contention back-off) and
    ``int graphnn_get_num_threads(void)``, and the fork guard (1 thread in forked children)."""
    var = _threads_var(module)
    fn = ir.Function(module, ir.FunctionType(_VOID, [_I32]), name="graphnn_set_num_threads")
    fn.attributes.add("nounwind")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    n = fn.args[0]
    n.name = "n"
    b.store_atomic(b.select(b.icmp_signed(">", n, ir.Constant(_I32, 0)), n, ir.Constant(_I32, 0)),
                   var, "monotonic", 4)
    # an explicit setting also ends a contention back-off; the next region is not judged
    b.store_atomic(ir.Constant(_I64, 0), _backoff_var(module), "monotonic", 8)
    b.store(ir.Constant(_I32, 0), _warm_var(module))
    b.ret_void()
    get = ir.Function(module, ir.FunctionType(_I32, []), name="graphnn_get_num_threads")
    get.attributes.add("nounwind")
    b = ir.IRBuilder(get.append_basic_block("entry"))
    b.ret(b.call(num_threads_fn(module), []))
    _emit_fork_guard(module)


# ---------------------------------------------------------------------------------------------
# cost model
def expr_cost(e: Expr) -> int:
    """Work units of one evaluation: loads and operators 1, transcendentals and divisions more."""
    total = 0
    for x in walk_exprs(e):
        if isinstance(x, Load):
            total += 1
        elif isinstance(x, Call):
            total += _COST.get(x.op, 1)
    return total


Work = Union[float, ir.Value]


def work_units(em, body: list) -> Work:
    """Work units of one execution of ``body``, as a Python float when it is known now or as an
    IR double computed with ``em``'s builder (nested loops whose bounds depend only on symbols and
    constants are counted exactly, other loops as :data:`_UNKNOWN_TRIP` iterations)."""
    b = em.b
    symbols = set(em.k.symbols)

    def invariant(e: Expr) -> bool:
        return all(not isinstance(x, Load) and (not isinstance(x, Var) or x.name in symbols)
                   for x in walk_exprs(e))

    def count(e: Expr) -> Work:
        """The value of integer expression ``e`` as a double (a guess unless invariant)."""
        if not invariant(e):
            return _UNKNOWN_TRIP
        v = em.expr(e)
        return b.sitofp(v, _F64) if not ml.is_unsigned(e.dtype) else b.uitofp(v, _F64)

    def add(x: Work, y: Work) -> Work:
        if isinstance(x, float) and isinstance(y, float):
            return x + y
        return b.fadd(_val(x), _val(y))

    def mul(x: Work, y: Work) -> Work:
        if isinstance(x, float) and isinstance(y, float):
            return x * y
        return b.fmul(_val(x), _val(y))

    def trip(s: For) -> Work:
        if not (invariant(s.start) and invariant(s.stop)):
            return _UNKNOWN_TRIP
        n = b.fsub(count(s.stop), count(s.start))
        return b.select(b.fcmp_ordered(">", n, _val(0.0)), n, _val(0.0))

    total: Work = 0.0
    for s in body:
        if isinstance(s, Assign):
            total = add(total, float(1 + expr_cost(s.value)))
        elif isinstance(s, Store):
            total = add(total, float(1 + expr_cost(s.index) + expr_cost(s.value)))
        elif isinstance(s, If):
            total = add(total, float(expr_cost(s.cond)))
            total = add(total, add(work_units(em, s.body), work_units(em, s.orelse)))
        elif isinstance(s, For):
            total = add(total, mul(trip(s), add(1.0, work_units(em, s.body))))
        elif isinstance(s, Gemm):
            flops = 2.0
            for e in (s.m, s.n, s.k, s.batch):
                flops = mul(flops, count(e))
            total = add(total, flops)
        else:
            total = add(total, 1.0)
    return total


def _val(x: Work) -> ir.Value:
    return ir.Constant(_F64, x) if isinstance(x, float) else x


# ---------------------------------------------------------------------------------------------
# the parallel loop
def parallel_loop(em, s: For) -> None:
    """Render parallel loop ``s`` with emitter ``em`` (a ``llvm_backend._KernelEmitter``)."""
    b, module = em.b, em.module
    if em.comments:
        b.comment(f"for {s.var.name} (parallel: threaded when the work is large enough)")
    start = em.convert(em.expr(s.start), s.start.dtype, "int64")
    stop = em.convert(em.expr(s.stop), s.stop.dtype, "int64")
    # the body function: the loop over [lo, hi) with every local declared so far passed in
    captured: List[Tuple[str, str]] = list(em.allocas)
    lo_var, hi_var = Var("par.lo", "int64"), Var("par.hi", "int64")
    index = getattr(em, "n_outlined", 0)
    em.n_outlined = index + 1
    name = f"{em.fn.name}.par{index}"
    child = type(em)(module, em.k, em.noalias, em.comments, name=name,
                     scalars=captured + [(lo_var.name, "int64"), (hi_var.name, "int64")],
                     threads=False)
    inner = For(s.var, lo_var, hi_var, s.body, s.kind) if s.var.dtype == "int64" else \
        For(s.var, _narrow(lo_var, s.var.dtype), _narrow(hi_var, s.var.dtype), s.body, s.kind)
    body_fn = child.emit([inner])

    fixed = [em.args[p.name] for p in em.k.params] + [em.symbols[x] for x in em.k.symbols]
    values = [b.load(em.allocas[key], typ=_reg(key[1])) for key in captured]
    per_iter = work_units(em, s.body)
    per_iter = float(per_iter) + 1.0 if isinstance(per_iter, float) else \
        b.fadd(per_iter, _val(1.0))
    run_chunks(em, s.var.name, name, body_fn, fixed + values, start, stop, per_iter)


def run_chunks(em, label: str, name: str, body_fn: ir.Function, args: List[ir.Value],
               start: ir.Value, stop: ir.Value, per_iter: Work, min_work: float = None,
               serial_args: Sequence[Tuple[int, ir.Value]] = (),
               serial_range: Tuple[ir.Value, ir.Value] = None) -> None:
    """Call ``body_fn(*args, lo, hi)`` over ``[start, stop)`` (i64): on the team, in chunks
    claimed dynamically, when :func:`parallel_fn` decides to (several threads, ``trips *
    per_iter >= min_work``, default :data:`PARALLEL_MIN_WORK`, no contention back-off); else
    once on the calling thread, over ``serial_range`` (default ``[start, stop)``) with the
    arguments ``args[i] = v`` of ``serial_args`` replaced.  The kernel only stores its arguments
    in a struct and adds a small ``<name>.task(ptr args, i64 lo, i64 hi)`` that unpacks them:
    the decision, the team and the chunk claiming are shared helpers compiled once per library
    (also used by ``codegen.gemm_llvm`` for a Gemm's tasks: one team, one thread count, one
    back-off), and the body is compiled once, inlined into the task function."""
    b, module = em.b, em.module
    if min_work is None:
        min_work = PARALLEL_MIN_WORK
    struct = ir.LiteralStructType([v.type for v in args])
    packed = em.alloca_b.alloca(struct, name=f"{label}.args")
    for k, v in enumerate(args):
        b.store(v, b.gep(packed, [ir.Constant(_I32, 0), ir.Constant(_I32, k)], inbounds=True))
    task = _task_fn(module, name + ".task", struct, body_fn)
    per = _val(per_iter)
    if isinstance(per, ir.Constant):
        per = ir.Constant(_F64, float(per_iter))
    ran = b.call(parallel_fn(module), [task, packed, start, stop, per,
                                       ir.Constant(_F64, float(min_work))])
    with b.if_then(b.not_(ran)):
        for k, v in serial_args:
            b.store(v, b.gep(packed, [ir.Constant(_I32, 0), ir.Constant(_I32, k)],
                             inbounds=True))
        lo, hi = serial_range if serial_range is not None else (start, stop)
        b.call(task, [packed, lo, hi])


def _task_fn(module: ir.Module, name: str, struct: ir.LiteralStructType,
             body_fn: ir.Function) -> ir.Function:
    """``void name(ptr args, i64 lo, i64 hi)``: ``body_fn(*args, lo, hi)``."""
    fn = ir.Function(module, _TASK_TYPE, name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    packed, lo, hi = fn.args
    packed.name, lo.name, hi.name = "args", "lo", "hi"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    values = [b.load(b.gep(packed, [ir.Constant(_I32, 0), ir.Constant(_I32, k)], inbounds=True,
                           source_etype=struct), typ=ty)
              for k, ty in enumerate(struct.elements)]
    b.call(body_fn, values + [lo, hi])
    b.ret_void()
    return fn


#: ``void task(ptr args, i64 lo, i64 hi)``: what the shared parallel helpers call
_TASK_TYPE = ir.FunctionType(_VOID, [_PTR, _I64, _I64])
_PARALLEL_FN, _WORKER_FN = "graphnn.parallel", "graphnn.parallel.worker"
#: the team's context: task, args, stop, chunk, next (the shared counter), idle (set by a thread
#: that found no work left), when the calling thread started and ran out of work (time stamps)
_TEAM_CTX = ir.LiteralStructType([_PTR, _PTR] + [_I64] * 6)


def parallel_fn(module: ir.Module) -> ir.Function:
    """Shared helper ``i1 graphnn.parallel(ptr task, ptr args, i64 start, i64 stop,
    double per_iter, double min_work)``: runs ``task(args, lo, hi)`` over chunks of
    ``[start, stop)`` on the team and returns 1, or returns 0 without running anything when one
    thread should do it (one thread configured or left, too little work, a back-off)."""
    fn = module.globals.get(_PARALLEL_FN)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(_I1, [_PTR, _PTR, _I64, _I64, _F64, _F64]),
                     name=_PARALLEL_FN)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    task, packed, start, stop, per_iter, min_work = fn.args
    for a, n in zip(fn.args, ("task", "args", "start", "stop", "per_iter", "min_work")):
        a.name = n
    entry = fn.append_basic_block("entry")
    b = ir.IRBuilder(entry)
    vty = _I64
    ctx = b.alloca(_TEAM_CTX, name="team")
    trips = b.sub(stop, start)
    trips = b.select(b.icmp_signed(">", trips, ir.Constant(vty, 0)), trips, ir.Constant(vty, 0))
    work = b.fmul(b.sitofp(trips, _F64), per_iter)
    nt64 = b.sext(b.call(num_threads_fn(module), []), vty)
    use = b.select(b.icmp_signed("<", nt64, trips), nt64, trips)
    go = b.and_(b.icmp_signed(">", use, ir.Constant(vty, 1)),
                b.fcmp_ordered(">=", work, min_work))
    # not while backing off after a stalled region (see _BACKOFF_CYCLES)
    clock = _declare(module, "llvm.readcyclecounter", _I64, [])
    now = b.call(clock, [])
    until = b.load_atomic(_backoff_var(module), "monotonic", 8, typ=_I64)
    go = b.and_(go, b.icmp_unsigned(">=", now, until))
    par = fn.append_basic_block("threads")
    ser = fn.append_basic_block("serial")
    b.cbranch(go, par, ser)
    b.position_at_end(ser)
    b.ret(ir.Constant(_I1, 0))

    b.position_at_end(par)
    chunk = _chunk_size(b, trips, use, per_iter)

    def field(k):
        return b.gep(ctx, [ir.Constant(_I32, 0), ir.Constant(_I32, k)], inbounds=True)

    for k, v in enumerate([task, packed, stop, chunk, start, ir.Constant(vty, 0), now, now]):
        b.store(v, field(k))
    gomp = _declare(module, "GOMP_parallel", _VOID, [_PTR, _PTR, _I32, _I32])
    b.call(gomp, [_worker_fn(module), ctx, b.trunc(use, _I32), ir.Constant(_I32, 0)])
    # Time the calling thread spent not working: before its work started (libgomp waits until
    # the pool's threads are back from the previous region) and, when some thread arrived after
    # all the work was taken, after it ran out of work (waiting at the join for that thread).
    # Much of it means a core was busy (another process, another thread pool) or is slow to
    # wake (an idle virtual CPU: up to 8 ms here): stop threading for a while.  Not judged: a
    # library's first region (libgomp may be creating its threads) and the first region after
    # a back-off (its threads slept through the back-off, so it is expected to start slowly).
    idle = b.load(field(5), typ=vty)
    master_start = b.load(field(6), typ=vty)
    master_done = b.load(field(7), typ=vty)
    later = b.call(clock, [])
    lost = b.add(b.sub(master_start, now),
                 b.select(b.icmp_unsigned("!=", idle, ir.Constant(vty, 0)),
                          b.sub(later, master_done), ir.Constant(vty, 0)))
    warm = _warm_var(module)
    stalled = b.and_(b.icmp_unsigned(">", lost, ir.Constant(vty, _STALL_CYCLES)),
                     b.icmp_unsigned("!=", b.load(warm, typ=_I32), ir.Constant(_I32, 0)))
    stalled = b.and_(stalled, b.icmp_unsigned("!=", now, ir.Constant(vty, 0)))
    with b.if_then(stalled):
        b.store_atomic(b.add(later, ir.Constant(vty, _BACKOFF_CYCLES)), _backoff_var(module),
                       "monotonic", 8)
    b.store(b.select(stalled, ir.Constant(_I32, 0), ir.Constant(_I32, 1)), warm)
    b.ret(ir.Constant(_I1, 1))
    return fn


def _chunk_size(b: ir.IRBuilder, trips: ir.Value, nthreads: ir.Value, per_iter: Work) -> ir.Value:
    """Iterations per dynamically claimed chunk: about ``_CHUNKS_PER_THREAD`` chunks per thread,
    at least ``_MIN_CHUNK_WORK`` work units each, rounded to whole vectors when long."""
    one = ir.Constant(_I64, 1)
    parts = b.mul(nthreads, ir.Constant(_I64, _CHUNKS_PER_THREAD))
    chunk = b.sdiv(b.add(trips, b.sub(parts, one)), parts)
    least = b.fptosi(b.fdiv(ir.Constant(_F64, float(_MIN_CHUNK_WORK)), _val(per_iter)), _I64)
    chunk = b.select(b.icmp_signed(">", least, chunk), least, chunk)
    chunk = b.select(b.icmp_signed(">", chunk, one), chunk, one)
    aligned = b.and_(b.add(chunk, ir.Constant(_I64, _CHUNK_ALIGN - 1)),
                     ir.Constant(_I64, -_CHUNK_ALIGN))
    return b.select(b.icmp_signed(">=", chunk, ir.Constant(_I64, _CHUNK_ALIGN_MIN)), aligned,
                    chunk)


def _worker_fn(module: ir.Module) -> ir.Function:
    """``void graphnn.parallel.worker(ptr team)`` (run by every thread of the team): claim
    chunks of [next, stop) with an atomic add until none is left, running the task on each.  A
    thread that starts late (its core was busy) finds less or nothing to do instead of holding
    up the others with a fixed share."""
    fn = module.globals.get(_WORKER_FN)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(_VOID, [_PTR]), name=_WORKER_FN)
    fn.linkage = "internal"     # not a helper unit of its own: part of graphnn.parallel's
    fn.attributes.add("nounwind")
    ctx = fn.args[0]
    ctx.name = "team"
    entry, claim, run, done = (fn.append_basic_block(n) for n in ("entry", "claim", "run", "done"))
    b = ir.IRBuilder(entry)

    def field(k):
        return b.gep(ctx, [ir.Constant(_I32, 0), ir.Constant(_I32, k)], inbounds=True,
                     source_etype=_TEAM_CTX)

    task = b.load(field(0), typ=_TASK_TYPE.as_pointer())
    packed = b.load(field(1), typ=_PTR)
    stop, chunk = b.load(field(2), typ=_I64), b.load(field(3), typ=_I64)
    nxt, idle, master_start, master_done = field(4), field(5), field(6), field(7)
    clock = _declare(module, "llvm.readcyclecounter", _I64, [])
    tid = b.call(_declare(module, "omp_get_thread_num", _I32, []), [])
    master = b.icmp_unsigned("==", tid, ir.Constant(_I32, 0))
    with b.if_then(master):
        b.atomic_rmw("xchg", master_start, b.call(clock, []), "monotonic")
    before = b.block
    b.branch(claim)
    b.position_at_end(claim)
    claimed = b.phi(_I64, "claimed")
    lo = b.atomic_rmw("add", nxt, chunk, "monotonic")
    b.cbranch(b.icmp_signed("<", lo, stop), run, done)
    b.position_at_end(run)
    hi = b.add(lo, chunk)
    hi = b.select(b.icmp_signed("<", hi, stop), hi, stop)
    b.call(task, [packed, lo, hi])
    more = b.add(claimed, ir.Constant(_I64, 1))
    b.branch(claim)
    claimed.add_incoming(ir.Constant(_I64, 0), before)
    claimed.add_incoming(more, run)
    b.position_at_end(done)
    with b.if_then(b.icmp_unsigned("==", claimed, ir.Constant(_I64, 0))):
        b.atomic_rmw("or", idle, ir.Constant(_I64, 1), "monotonic")
    with b.if_then(master):
        # the calling thread is out of work: from here on it only waits for the others
        b.atomic_rmw("xchg", master_done, b.call(clock, []), "monotonic")
    b.ret_void()
    return fn


def _narrow(v: Var, dtype: str) -> Expr:
    return cast(v, dtype)


def _reg(dtype: str) -> ir.Type:
    return {"float32": ir.FloatType(), "float64": _F64, "int32": _I32, "uint32": _I32,
            "int64": _I64, "bool": _I1}[dtype]
