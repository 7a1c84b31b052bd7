"""Elementwise kernels from the LLVM backend vs numpy and vs memory bandwidth.

    python examples/benchmarks/elementwise.py             # bandwidth table (16 Mi float32)
    python examples/benchmarks/elementwise.py --threshold # 1 vs N threads by size (calibrates
                                                          # codegen.threads.PARALLEL_MIN_WORK)

Kernels are built by hand as ``codegen.kernel`` descriptions (one ``parallel`` loop each),
compiled with ``llvm_backend`` and called through ctypes exactly like the runtime does.  Bandwidth
counts the bytes each kernel must move (reads + writes); ``np.copyto`` of the same array is the
reference for what the memory system delivers.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from codegen import llvm_backend, threads  # noqa: E402
from codegen.kernel import (Const, For, Kernel, Launch, Load, Param, ProgramDesc, Store,  # noqa: E402
                            Var, call)

I, N = Var("i", "int64"), Var("n", "int64")


class Compiled:
    """One kernel ``out[i] = fn(loads...)`` for i < n, as a shared library."""

    def __init__(self, name, n_in, fn, dtype="float32"):
        params = [Param(f"a{j}", dtype) for j in range(n_in)] + [Param("out", dtype, "out")]
        loads = [Load(f"a{j}", I, dtype) for j in range(n_in)]
        body = [For(I, Const(0, "int64"), N, [Store("out", I, fn(*loads))], "parallel")]
        desc = ProgramDesc([Kernel(name, params, body, ["n"])],
                           [Launch(name, tuple(range(n_in + 1)))], ["n"], n_in + 1)
        path = os.path.join(tempfile.mkdtemp(prefix="graphnn-bench-"), f"{name}.so")
        llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)), path)
        self.lib = ctypes.CDLL(path)
        self.entry = self.lib["graphnn_entry"]
        self.entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.lib.graphnn_set_num_threads.argtypes = [ctypes.c_int]
        self.n_in = n_in

    def set_threads(self, n: int) -> None:
        self.lib.graphnn_set_num_threads(n)

    def bind(self, *arrays):
        """A zero-argument callable running the kernel on ``arrays`` (inputs..., output)."""
        slots = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        syms = (ctypes.c_int64 * 1)(arrays[-1].size)
        return lambda: self.entry(slots, syms)


def best(fn, seconds=0.3, min_reps=3) -> float:
    fn()
    times, t_end = [], time.perf_counter() + seconds
    while len(times) < min_reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def f32(v):
    return Const(v, "float32")


def heavy(v):
    """A compute-bound elementwise expression (four transcendental functions per element)."""
    gauss = call("exp", call("neg", call("mul", v, v)))
    log1p = call("log", call("add", f32(1.0), call("abs", v)))
    return call("add", call("add", call("mul", call("tanh", v), gauss), call("sigmoid", v)), log1p)


def bandwidth_table(n: int, nthreads: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    tmp = np.empty_like(x)
    a, b = np.float32(0.5), np.float32(0.1)
    copy_t = best(lambda: np.copyto(out, x), seconds=1.0)
    copy_gbs = 8 * n / copy_t / 1e9
    kernels = [
        ("copy      y = x", Compiled("copy", 1, lambda v: v), (x,), 8,
         lambda: np.copyto(out, x)),
        ("add       z = x + y", Compiled("add", 2, lambda u, v: call("add", u, v)), (x, y), 12,
         lambda: np.add(x, y, out=out)),
        ("fused     y = tanh(x*a + b)",
         Compiled("tanh_axb", 1, lambda v: call("tanh", call("add", call("mul", v, f32(0.5)),
                                                           f32(0.1)))), (x,), 8,
         lambda: (np.multiply(x, a, out=tmp), np.add(tmp, b, out=tmp), np.tanh(tmp, out=out))),
        ("exp       y = exp(x)", Compiled("exp", 1, lambda v: call("exp", v)), (x,), 8,
         lambda: np.exp(x, out=out)),
        ("sigmoid   y = sigmoid(x)", Compiled("sigmoid", 1, lambda v: call("sigmoid", v)), (x,), 8,
         lambda: np.divide(1, 1 + np.exp(-x), out=out)),
        ("log       y = log(|x|)", Compiled("log", 1, lambda v: call("log", call("abs", v))), (x,),
         8, lambda: np.log(np.abs(x), out=out)),
    ]
    print(f"n = {n} float32 ({4 * n / 2**20:.0f} MiB per array); np.copyto (one thread, best of "
          f"1 s): {copy_gbs:.1f} GB/s; GB/s count bytes read + written; %copy is of np.copyto")
    hdr = "  ".join(f"{t} thr GB/s  %copy" for t in sorted({1, nthreads}))
    print(f"{'kernel':30s} {hdr}   numpy GB/s  speedup vs numpy")
    for label, k, ins, bytes_per, np_fn in kernels:
        run = k.bind(*ins, out)
        cols = []
        for t in sorted({1, nthreads}):
            k.set_threads(t)
            gbs = bytes_per * n / best(run) / 1e9
            cols.append(f"{gbs:10.1f}  {100 * gbs / copy_gbs:5.0f}%")
            last = gbs
        np_gbs = bytes_per * n / best(np_fn) / 1e9
        print(f"{label:30s} {'  '.join(cols)}   {np_gbs:10.1f}  {last / np_gbs:6.1f}x")


def threshold_table(nthreads: int) -> None:
    """Time 1 vs ``nthreads`` threads by size with the work threshold off (always threaded)."""
    saved = threads.PARALLEL_MIN_WORK
    threads.PARALLEL_MIN_WORK = 0
    try:
        ks = [(label, Compiled(name, n_in, fn), n_in, fn) for label, name, n_in, fn in [
            ("add", "add_t", 2, lambda u, v: call("add", u, v)),
            ("exp", "exp_t", 1, lambda v: call("exp", v)),
            ("tanh(x*a+b)", "tanh_t", 1,
             lambda v: call("tanh", call("add", call("mul", v, f32(0.5)), f32(0.1)))),
            ("heavy: tanh(x)*exp(-x*x) + sigmoid(x) + log(1+|x|)", "heavy_t", 1, heavy)]]
    finally:
        threads.PARALLEL_MIN_WORK = saved
    rng = np.random.default_rng(0)
    print(f"time per call (us), 1 thread vs {nthreads}, threading forced on; current "
          f"PARALLEL_MIN_WORK = {threads.PARALLEL_MIN_WORK}")
    for label, k, n_in, fn in ks:
        loads = [Load(f"a{j}", I, "float32") for j in range(n_in)]
        units = 2 + threads.expr_cost(fn(*loads))  # store + loop, as codegen.threads counts
        print(f"{label} ({units} work units per element)")
        for logn in range(8, 23):
            n = 1 << logn
            arrays = [rng.standard_normal(n).astype(np.float32) for _ in range(n_in + 1)]
            run = k.bind(*arrays)
            k.set_threads(1)
            t1 = best(run, 0.05)
            k.set_threads(nthreads)
            tn = best(run, 0.05)
            print(f"  n = 2**{logn:2d} {n:9d}: {1e6 * t1:9.1f} {1e6 * tn:9.1f}  speedup {t1 / tn:4.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--threshold", action="store_true", help="1 vs N threads by size")
    args = ap.parse_args()
    if args.threshold:
        threshold_table(args.threads)
    else:
        bandwidth_table(args.n, args.threads)


if __name__ == "__main__":
    main()
