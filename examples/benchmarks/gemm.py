"""Single-thread GEMM benchmark: the generated LLVM GEMM (``codegen/gemm_llvm.py``) against numpy.

For each shape it builds a ``ProgramDesc`` with one kernel holding one ``Gemm`` statement, compiles
it with ``llvm_backend.compile_module`` + ``link_shared`` into a temporary directory and prints
GFLOP/s (median of several runs, taking turns) for graphnn and numpy, one thread each.

numpy's OpenBLAS is limited to one thread (``OPENBLAS_NUM_THREADS=1`` and threadpoolctl), and
``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are removed from the environment so OpenBLAS picks its
own kernel for this CPU (the script re-executes itself when they are set); the kernel OpenBLAS
reports is printed.

    python3 examples/benchmarks/gemm.py [--reps 9] [--dtype float32] [--epilogue]
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time

_CLEAN = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(v in os.environ for v in _CLEAN) or os.environ.get("OPENBLAS_NUM_THREADS") != "1":
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN}
    env["OPENBLAS_NUM_THREADS"] = "1"
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from codegen import llvm_backend  # noqa: E402
from codegen.gemm_llvm import micro_tile  # noqa: E402
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


def median_times(fns, reps: int, min_time: float = 0.25):
    """Median seconds per call of each function in ``fns``.  The functions take turns within
    every repetition, so clock changes on a shared machine hit all of them alike."""
    inner = []
    for fn in fns:
        fn()
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-7)
        inner.append(max(1, int(min_time / reps / once)))
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, count, out in zip(fns, inner, times):
            t0 = time.perf_counter()
            for _ in range(count):
                fn()
            out.append((time.perf_counter() - t0) / count)
    return [float(np.median(t)) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--epilogue", action="store_true", help="fuse relu(acc + bias[col])")
    ap.add_argument("--quick", action="store_true", help="skip the 2048^3 case")
    args = ap.parse_args()
    shapes = [s for s in SHAPES if not (args.quick and s[1] >= 2048)]
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
        threadpool_limits(1)
        blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} kernel "
                         f"{i.get('architecture')} threads {i.get('num_threads')}"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        blas = "threadpoolctl not installed"
    mr, vw, nv = micro_tile(args.dtype)
    print(f"numpy BLAS: {blas}")
    print(f"graphnn: {args.dtype} micro-tile {mr}x{vw * nv}, epilogue "
          f"{'relu(acc+bias)' if args.epilogue else 'none'}, 1 thread")

    rng = np.random.default_rng(0)
    dt = np.dtype(args.dtype)
    print(f"{'':9s} {'op(A) @ op(B)':26s} {'graphnn':>8s} {'numpy':>8s} {'ratio':>6s}  "
          f"{'compile':>7s}  rel err")
    print(f"{'':9s} {'':26s} {'GFLOP/s':>8s} {'GFLOP/s':>8s}")
    with tempfile.TemporaryDirectory(prefix="graphnn-gemm-bench-") as tmp:
        for i, (label, m, n, k, ta, tb) in enumerate(shapes):
            desc = build(m, n, k, ta, tb, args.dtype, args.epilogue)
            t0 = time.perf_counter()
            path = os.path.join(tmp, f"gemm{i}.so")
            llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)),
                                     path)
            compile_s = time.perf_counter() - t0
            lib = ctypes.CDLL(path)
            if hasattr(lib, "graphnn_set_num_threads"):  # one thread for any parallel loop
                lib.graphnn_set_num_threads(1)
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
            want = opa.astype(np.float64) @ opb.astype(np.float64)
            if bias is not None:
                want = np.maximum(want + bias, 0)
            entry(slots, None)
            err = float(np.max(np.abs(c - want)) / max(np.max(np.abs(want)), 1e-30))
            out = np.empty_like(c)

            def numpy_gemm():
                np.matmul(opa, opb, out=out)
                if bias is not None:
                    np.add(out, bias, out=out)
                    np.maximum(out, 0, out=out)
            ours, theirs = median_times([lambda: entry(slots, None), numpy_gemm], args.reps)
            flops = 2.0 * m * n * k
            print(f"{label:9s} {describe(m, n, k, ta, tb):26s} {flops / ours / 1e9:8.1f} "
                  f"{flops / theirs / 1e9:8.1f} {theirs / ours:6.2f}  {compile_s:6.2f}s  {err:.1e}")


if __name__ == "__main__":
    main()
