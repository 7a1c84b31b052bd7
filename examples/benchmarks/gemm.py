"""GEMM benchmark: the generated LLVM GEMM (``codegen/gemm_llvm.py``) vs numpy, 1 and 2 threads.

For each shape it builds a ``ProgramDesc`` with one kernel holding one ``Gemm`` statement, compiles
it with ``llvm_backend.compile_module`` + ``link_shared`` into a temporary directory and prints
GFLOP/s (median of several runs, taking turns) for graphnn and numpy on each thread count: graphnn
through ``graphnn_set_num_threads``, numpy's OpenBLAS through threadpoolctl.

The two thread pools never run at the same time: they take turns in blocks of calls, and after a
multi-threaded block the script pauses (``PAUSE`` s) until that pool's threads stop spinning
(OpenBLAS's spin for ~0.1 s, libgomp's for a few ms), so neither finds a core busy with the
other's idle threads.  Before its blocks graphnn's thread count is set again (which also ends a
contention back-off of ``codegen.threads``) and one untimed call wakes the team.  "other load" is
the share of the machine's CPU time other processes used while a row was timed: on a shared
machine, two-thread numbers mean little unless it is near 0.

``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are removed from the environment (they slow numpy
here) and ``OPENBLAS_NUM_THREADS`` is set to the largest thread count (the script re-executes
itself when needed); the kernel OpenBLAS reports is printed.

    python3 examples/benchmarks/gemm.py [--reps 9] [--threads 1 2] [--dtype float32] [--epilogue]
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time


def _thread_counts(argv) -> list:
    """``--threads`` from the command line before argparse runs (the environment depends on it)."""
    if "--threads" not in argv:
        return [1, 2]
    i, out = argv.index("--threads") + 1, []
    while i < len(argv) and argv[i].isdigit():
        out.append(int(argv[i]))
        i += 1
    return out or [1, 2]


_CLEAN = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_BLAS_THREADS = str(max(_thread_counts(sys.argv)))
if any(v in os.environ for v in _CLEAN) or os.environ.get("OPENBLAS_NUM_THREADS") != _BLAS_THREADS:
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN}
    env["OPENBLAS_NUM_THREADS"] = _BLAS_THREADS
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from codegen import llvm_backend  # noqa: E402
from codegen.gemm_llvm import GEMM_MIN_FLOPS, micro_tile  # noqa: E402
from codegen.kernel import (  # noqa: E402
    GEMM_ACC, GEMM_COL, Const, Gemm, Kernel, Launch, Load, Param, ProgramDesc, Var, call)

#: (label, m, n, k, transpose_a, transpose_b): C (m, n) = op(A) @ op(B), contraction over k
SHAPES = [
    ("x @ W", 128, 512, 784, False, False),       # MNIST MLP forward, first layer
    ("h @ W", 128, 512, 512, False, False),       # hidden layer
    ("x^T @ dy", 784, 512, 128, True, False),     # weight gradient: A stored (128, 784)
    ("dy @ W^T", 128, 784, 512, False, True),     # input gradient: B stored (784, 512)
    ("square", 2048, 2048, 2048, False, False),
]


def describe(m, n, k, ta, tb) -> str:
    a = f"({k}x{m})^T" if ta else f"{m}x{k}"
    b = f"({n}x{k})^T" if tb else f"{k}x{n}"
    return f"{a} @ {b}"


def build(m: int, n: int, k: int, ta: bool, tb: bool, dtype: str, epilogue: bool) -> ProgramDesc:
    """One program, one kernel, one Gemm statement (slots: a, b, c[, bias])."""
    params = [Param("a", dtype), Param("b", dtype), Param("c", dtype, "out")]
    epi = None
    if epilogue:  # relu(acc + bias[col])
        params.append(Param("bias", dtype))
        epi = call("maximum", call("add", Var(GEMM_ACC, dtype),
                                   Load("bias", Var(GEMM_COL, "int64"), dtype)),
                   Const(0.0, dtype))
    g = Gemm("a", "b", "c", Const(m, "int64"), Const(n, "int64"), Const(k, "int64"),
             Const(1, "int64"), ta, tb, dtype, epi)
    kernel = Kernel("gemm", params, [g], origin=f"benchmark {m}x{n}x{k}", flops=2 * m * n * k)
    return ProgramDesc([kernel], [Launch("gemm", tuple(range(len(params))))], [], len(params))


#: seconds to wait after a multi-threaded block before the other pool runs
PAUSE = 0.2


def _cpu_ticks():
    """(busy, total) clock ticks of all CPUs from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = v[0] + v[1] + v[2] + sum(v[5:8])
    return busy, busy + v[3] + v[4]


class OtherLoad:
    """``with OtherLoad() as load: ...``; then ``load.share``: the share of the machine's CPU time
    that other processes used meanwhile (None where /proc/stat is missing).  Two-thread numbers
    mean little when it is far above 0 (shared machines)."""

    def __enter__(self):
        self.start, self.own = _cpu_ticks(), sum(os.times()[:2])
        return self

    def __exit__(self, *exc):
        end = _cpu_ticks()
        self.share = None
        if self.start is not None and end is not None:
            hz = os.sysconf("SC_CLK_TCK")
            busy, total = end[0] - self.start[0], end[1] - self.start[1]
            own = (sum(os.times()[:2]) - self.own) * hz
            self.share = max(0.0, (busy - own) / max(total, 1))


def median_times(fns, reps: int, min_time: float = 0.25):
    """Median seconds per call of each ``(fn, before)`` in ``fns``.  The functions take turns
    within every repetition, so clock changes on a shared machine hit all of them alike;
    ``before()`` runs (untimed) before each of ``fn``'s blocks and returns seconds to pause
    after it (0: none)."""
    inner = []
    for fn, before in fns:
        pause = before()
        fn()
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-7)
        inner.append(max(1, int(min_time / reps / once)))
        time.sleep(pause)
    times = [[] for _ in fns]
    for _ in range(reps):
        for (fn, before), count, out in zip(fns, inner, times):
            pause = before()
            t0 = time.perf_counter()
            for _ in range(count):
                fn()
            out.append((time.perf_counter() - t0) / count)
            time.sleep(pause)
    return [float(np.median(t)) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts (graphnn and numpy alike)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--epilogue", action="store_true", help="fuse relu(acc + bias[col])")
    ap.add_argument("--quick", action="store_true", help="skip the 2048^3 case")
    args = ap.parse_args()
    shapes = [s for s in SHAPES if not (args.quick and s[1] >= 2048)]
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
        blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} kernel "
                         f"{i.get('architecture')} threads {i.get('num_threads')}"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        sys.exit("threadpoolctl is needed to set numpy's thread count")
    mr, vw, nv = micro_tile(args.dtype)
    print(f"numpy BLAS: {blas}")
    print(f"graphnn: {args.dtype} micro-tile {mr}x{vw * nv}, epilogue "
          f"{'relu(acc+bias)' if args.epilogue else 'none'}, GEMM_MIN_FLOPS {GEMM_MIN_FLOPS}")
    print("GFLOP/s; ratio = graphnn / numpy on the same number of threads")

    rng = np.random.default_rng(0)
    dt = np.dtype(args.dtype)
    head = "".join(f" | {f'{nt} thread' + ('s' if nt > 1 else ''):22s}" for nt in args.threads)
    print(f"{'':9s} {'op(A) @ op(B)':26s}{head} | other  compile  rel err")
    print(f"{'':9s} {'':26s}" + " | graphnn   numpy  ratio" * len(args.threads) + " |  load")
    with tempfile.TemporaryDirectory(prefix="graphnn-gemm-bench-") as tmp:
        for i, (label, m, n, k, ta, tb) in enumerate(shapes):
            desc = build(m, n, k, ta, tb, args.dtype, args.epilogue)
            t0 = time.perf_counter()
            path = os.path.join(tmp, f"gemm{i}.so")
            llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)),
                                     path)
            compile_s = time.perf_counter() - t0
            lib = ctypes.CDLL(path)
            lib.graphnn_set_num_threads.argtypes = [ctypes.c_int]
            entry = lib[desc.entry]
            entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            entry.restype = None
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
            c = np.empty((m, n), dt)
            bias = rng.standard_normal(n).astype(dt) if args.epilogue else None
            bufs = [a, b, c] + ([bias] if bias is not None else [])
            slots = (ctypes.c_void_p * len(bufs))(*[x.ctypes.data for x in bufs])
            opa, opb = (a.T if ta else a), (b.T if tb else b)   # views: BLAS gets the flags
            with threadpool_limits(1, user_api="blas"):
                want = opa.astype(np.float64) @ opb.astype(np.float64)
            if bias is not None:
                want = np.maximum(want + bias, 0)
            err = 0.0
            for nt in args.threads:   # results (bit-identical on any thread count) checked on each
                c.fill(np.nan)
                lib.graphnn_set_num_threads(nt)
                entry(slots, None)
                err = max(err, float(np.max(np.abs(c - want)) / max(np.max(np.abs(want)), 1e-30)))
            time.sleep(PAUSE)
            out = np.empty_like(c)

            def numpy_gemm():
                np.matmul(opa, opb, out=out)
                if bias is not None:
                    np.add(out, bias, out=out)
                    np.maximum(out, 0, out=out)

            def ours_before(nt):
                def before():
                    lib.graphnn_set_num_threads(nt)   # also ends a contention back-off
                    entry(slots, None)                # wakes the team
                    return PAUSE if nt > 1 else 0.0
                return before

            def numpy_before(nt):
                def before():
                    threadpool_limits(nt, user_api="blas")   # stays set until changed
                    numpy_gemm()
                    return PAUSE if nt > 1 else 0.0
                return before

            original = threadpool_limits(args.threads[0], user_api="blas")
            cols = ""
            flops = 2.0 * m * n * k
            with OtherLoad() as load:
                for nt in args.threads:
                    ours, theirs = median_times([(lambda: entry(slots, None), ours_before(nt)),
                                                 (numpy_gemm, numpy_before(nt))], args.reps)
                    cols += f" | {flops / ours / 1e9:7.1f} {flops / theirs / 1e9:7.1f} " \
                            f"{theirs / ours:6.2f}"
            original.restore_original_limits()
            other = "    -" if load.share is None else f"{100 * load.share:4.0f}%"
            print(f"{label:9s} {describe(m, n, k, ta, tb):26s}{cols} | {other}  "
                  f"{compile_s:6.2f}s  {err:.1e}", flush=True)


if __name__ == "__main__":
    main()
