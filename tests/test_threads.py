"""Parallel loops on several threads (codegen.threads): the same results on 1, 2 and 3 threads
(more threads than cores included) for elementwise, per-row reduction, matmul-like and
local-capturing kernels, at odd trip counts and on both sides of the work threshold; the thread
count controls (``GRAPHNN_NUM_THREADS``, ``graphnn_set_num_threads``); and that small loops really
stay on the calling thread while big ones start a team (checked in a fresh process).

Generated code and numpy's BLAS never run at the same time here: references are computed before
or after the generated code, not interleaved (two thread pools on two cores collapse).
"""
from __future__ import annotations

import ctypes
import math
import os
import subprocess
import sys
import textwrap
from typing import Dict, List

import numpy as np
import pytest

from codegen import llvm_backend, threads
from codegen.kernel import (Assign, Const, For, If, Kernel, Launch, Load, Param, ProgramDesc,
                            Store, Var, call, cast)

I, J, K = Var("i", "int64"), Var("j", "int64"), Var("k", "int64")
ZERO = Const(0, "int64")
F = "float32"


def f32(v: float) -> Const:
    return Const(v, F)


class Lib:
    """One compiled program; ``run`` calls it with fresh copies of the arrays."""

    def __init__(self, desc: ProgramDesc, path: str, *, min_work=None, monkeypatch=None):
        if min_work is not None:
            monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", min_work)
        llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)),
                                 path)
        self.path, self.desc = path, desc
        self.lib = ctypes.CDLL(path)
        self.entry = self.lib[desc.entry]
        self.entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.lib.graphnn_set_num_threads.argtypes = [ctypes.c_int]
        self.lib.graphnn_get_num_threads.restype = ctypes.c_int

    def run(self, arrays: List[np.ndarray], symbols: Dict[str, int], nthreads: int):
        self.lib.graphnn_set_num_threads(nthreads)
        assert self.lib.graphnn_get_num_threads() == nthreads
        arrays = [a.copy() for a in arrays]
        slots = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        syms = (ctypes.c_int64 * max(len(self.desc.symbols), 1))(
            *[symbols[s] for s in self.desc.symbols])
        self.entry(slots, syms)
        return arrays


# ---------------------------------------------------------------------------------------------
# kernels
def elementwise_desc() -> ProgramDesc:
    """y = tanh(x*0.5 + 0.1) * exp(-|x|) + sigmoid(x): transcendental-heavy, one parallel loop."""
    n = Var("n", "int64")
    x = Load("x", I, F)
    v = call("add", call("mul", call("tanh", call("add", call("mul", x, f32(0.5)), f32(0.1))),
                         call("exp", call("neg", call("abs", x)))), call("sigmoid", x))
    k = Kernel("ew", [Param("x", F), Param("y", F, "out")],
               [For(I, ZERO, n, [Store("y", I, v)], "parallel")], ["n"])
    return ProgramDesc([k], [Launch("ew", (0, 1))], ["n"], 2)


def rows_desc() -> ProgramDesc:
    """Per-row sum and max: parallel rows, reduction columns (accumulators private per thread)."""
    rows, cols = Var("rows", "int64"), Var("cols", "int64")
    acc, top = Var("acc", F), Var("top", F)
    x = Load("x", call("add", call("mul", I, cols), J), F)
    body = [For(I, ZERO, rows, [
        Assign(acc, f32(0.0)),
        Assign(top, f32(-math.inf)),
        For(J, ZERO, cols, [Assign(acc, call("add", acc, x)),
                            Assign(top, call("maximum", top, x))], "reduction"),
        Store("sums", I, acc),
        Store("maxes", I, top),
    ], "parallel")]
    k = Kernel("rows", [Param("x", F), Param("sums", F, "out"), Param("maxes", F, "out")], body,
               ["rows", "cols"])
    return ProgramDesc([k], [Launch("rows", (0, 1, 2))], ["rows", "cols"], 3)


def matmul_desc() -> ProgramDesc:
    """C = A @ B with the reference lowering's shape: parallel rows, serial j, reduction k."""
    m, n, kk = Var("m", "int64"), Var("n", "int64"), Var("kk", "int64")
    acc = Var("acc", F)
    a = Load("a", call("add", call("mul", I, kk), K), F)
    b = Load("b", call("add", call("mul", K, n), J), F)
    body = [For(I, ZERO, m, [
        For(J, ZERO, n, [
            Assign(acc, f32(0.0)),
            For(K, ZERO, kk, [Assign(acc, call("add", acc, call("mul", a, b)))], "reduction"),
            Store("c", call("add", call("mul", I, n), J), acc)], "serial")], "parallel")]
    k = Kernel("mm", [Param("a", F), Param("b", F), Param("c", F, "out")], body, ["m", "n", "kk"])
    return ProgramDesc([k], [Launch("mm", (0, 1, 2))], ["m", "n", "kk"], 3)


def captured_desc() -> ProgramDesc:
    """Locals declared before the parallel loop are read inside it (captured by value); locals
    declared inside are private; an If in the body; a second kernel without parallel loops; the
    loop starts at a symbol, not 0."""
    n, s = Var("n", "int64"), Var("s", "int64")
    scale, t = Var("scale", F), Var("t", F)
    x = Load("x", I, F)
    body = [
        Assign(scale, call("exp", f32(1.0))),
        For(I, s, n, [
            Assign(t, call("mul", x, scale)),
            If(call("greater", t, f32(0.0)), [Store("y", I, call("log", t))],
               [Store("y", I, call("neg", t))]),
        ], "parallel"),
    ]
    k = Kernel("cap", [Param("x", F), Param("y", F, "out")], body, ["s", "n"])
    fill = Kernel("fill", [Param("y", F, "out")],
                  [For(I, ZERO, s, [Store("y", I, f32(-7.0))], "serial")], ["s"])
    return ProgramDesc([fill, k], [Launch("fill", (1,)), Launch("cap", (0, 1))], ["s", "n"], 2)


def scalar_map_desc() -> ProgramDesc:
    """An int32 loop variable, and a parallel loop nested in a serial one (a region per outer
    iteration): y[r*n + i] = x[r*n + i] + r."""
    n, reps = Var("n", "int64"), Var("reps", "int64")
    r = Var("r", "int64")
    i32 = Var("i32", "int32")
    idx = call("add", call("mul", r, n), cast(i32, "int64"))
    body = [For(r, ZERO, reps, [
        For(i32, Const(0, "int32"), cast(n, "int32"), [
            Store("y", idx, call("add", Load("x", idx, F), cast(r, F)))], "parallel")], "serial")]
    k = Kernel("nest", [Param("x", F), Param("y", F, "out")], body, ["n", "reps"])
    return ProgramDesc([k], [Launch("nest", (0, 1))], ["n", "reps"], 2)


# ---------------------------------------------------------------------------------------------
@pytest.fixture(params=["forced", "default"])
def min_work(request):
    """``forced``: every parallel loop starts threads (threshold 0), so tiny trip counts exercise
    the chunking; ``default``: the real threshold (small sizes stay on one thread)."""
    return 0 if request.param == "forced" else None


def _check_same(lib: Lib, arrays, symbols, outputs, exact=True):
    base = lib.run(arrays, symbols, 1)
    for nt in (2, 3):
        got = lib.run(arrays, symbols, nt)
        for slot in outputs:
            if exact:
                np.testing.assert_array_equal(got[slot], base[slot], err_msg=f"{nt} threads")
            else:
                np.testing.assert_allclose(got[slot], base[slot], rtol=1e-6)
    return base


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000, 65_537, 1_000_003])
def test_elementwise_same_on_any_thread_count(tmp_path, monkeypatch, min_work, n):
    lib = Lib(elementwise_desc(), str(tmp_path / "ew.so"), min_work=min_work,
              monkeypatch=monkeypatch)
    x = np.random.default_rng(n).uniform(-30, 30, n + 3).astype(np.float32)
    y = np.full(n + 3, 123.0, np.float32)
    out = _check_same(lib, [x, y], {"n": n}, [1])[1]
    xs = x[:n].astype(np.float64)
    want = np.tanh(xs * 0.5 + 0.1) * np.exp(-np.abs(xs)) + 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(out[:n], want, rtol=1e-5, atol=1e-6)
    assert (out[n:] == 123.0).all()  # nothing written past the trip count


@pytest.mark.parametrize("rows,cols", [(1, 5), (2, 3), (3, 1000), (1001, 33), (4097, 65)])
def test_row_reductions_same_on_any_thread_count(tmp_path, monkeypatch, min_work, rows, cols):
    lib = Lib(rows_desc(), str(tmp_path / "rows.so"), min_work=min_work, monkeypatch=monkeypatch)
    x = np.random.default_rng(rows).uniform(-1, 1, (rows, cols)).astype(np.float32)
    x[rows // 2, cols // 2] = np.nan
    out = _check_same(lib, [x.ravel(), np.zeros(rows, F), np.zeros(rows, F)],
                      {"rows": rows, "cols": cols}, [1, 2])
    np.testing.assert_allclose(out[1], x.astype(np.float64).sum(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(out[2], x.max(1))


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (3, 5, 7), (2, 64, 3), (257, 129, 65)])
def test_matmul_like_same_on_any_thread_count(tmp_path, monkeypatch, min_work, m, n, k):
    rng = np.random.default_rng(m * n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)  # before the generated code runs
    lib = Lib(matmul_desc(), str(tmp_path / "mm.so"), min_work=min_work, monkeypatch=monkeypatch)
    out = _check_same(lib, [a.ravel(), b.ravel(), np.zeros(m * n, F)], {"m": m, "n": n, "kk": k},
                      [2])
    np.testing.assert_allclose(out[2].reshape(m, n), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("s,n", [(0, 1), (5, 8), (3, 100_003), (10, 3)])
def test_captured_locals_and_branches(tmp_path, monkeypatch, min_work, s, n):
    lib = Lib(captured_desc(), str(tmp_path / "cap.so"), min_work=min_work,
              monkeypatch=monkeypatch)
    size = max(n, s) + 2
    x = np.random.default_rng(n).uniform(-2, 2, size).astype(np.float32)
    y = np.zeros(size, np.float32)
    out = _check_same(lib, [x, y], {"s": s, "n": n}, [1])[1]
    t = x.astype(np.float64) * math.e
    want = np.zeros(size)
    want[:s] = -7.0
    with np.errstate(all="ignore"):
        want[s:n] = np.where(t[s:n] > 0, np.log(t[s:n]), -t[s:n])
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)


def test_parallel_loop_inside_serial_loop_with_int32_variable(tmp_path, monkeypatch, min_work):
    lib = Lib(scalar_map_desc(), str(tmp_path / "nest.so"), min_work=min_work,
              monkeypatch=monkeypatch)
    n, reps = 1001, 3
    x = np.arange(n * reps, dtype=np.float32)
    out = _check_same(lib, [x, np.zeros_like(x)], {"n": n, "reps": reps}, [1])[1]
    np.testing.assert_array_equal(out, x + np.repeat(np.arange(reps, dtype=np.float32), n))


def test_outlined_ir_shape():
    """The parallel loop becomes a body function and a task function that the shared
    ``graphnn.parallel`` helper (and the single-thread path) calls; the module exports the
    thread-count functions."""
    text = llvm_backend.render_module(elementwise_desc())
    assert '@"ew.par0"' in text and '@"ew.par0.task"' in text
    assert '@"graphnn.parallel"(ptr @"ew.par0.task"' in text.replace("void (ptr, i64, i64)* ", "ptr ")
    assert "GOMP_parallel" in text and "atomicrmw add" in text
    assert "define void @\"graphnn_set_num_threads\"" in text
    assert "define i32 @\"graphnn_get_num_threads\"" in text


# ---------------------------------------------------------------------------------------------
# thread-count controls and the threshold, in fresh processes (libgomp's team and the cached
# thread count are per process)
CHILD = textwrap.dedent("""
    import ctypes, os, sys
    import numpy as np
    lib = ctypes.CDLL(sys.argv[1])
    entry = lib.graphnn_entry
    entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    def tasks():
        return len(os.listdir("/proc/self/task"))
    def run(n):
        x = np.linspace(-5, 5, n, dtype=np.float32)
        y = np.zeros(n, np.float32)
        slots = (ctypes.c_void_p * 2)(x.ctypes.data, y.ctypes.data)
        entry(slots, (ctypes.c_int64 * 1)(n))
        ref = np.tanh(x.astype(np.float64) * 0.5 + 0.1) * np.exp(-np.abs(x.astype(np.float64))) \\
            + 1 / (1 + np.exp(-x.astype(np.float64)))
        assert np.allclose(y, ref, rtol=1e-5, atol=1e-6)
    before = tasks()
    run(1000)
    small = tasks()
    run(4_000_000)
    big = tasks()
    print(lib.graphnn_get_num_threads(), before, small, big)
""")


def _child(so: str, env_threads):
    env = dict(os.environ)
    env.pop("GRAPHNN_NUM_THREADS", None)
    # keep numpy's OpenBLAS from starting its own pool in the child (it is not used anyway)
    env["OPENBLAS_NUM_THREADS"] = "1"
    if env_threads is not None:
        env["GRAPHNN_NUM_THREADS"] = str(env_threads)
    out = subprocess.run([sys.executable, "-c", CHILD, so], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [int(v) for v in out.stdout.split()]


@pytest.fixture(scope="module")
def ew_so(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("threads") / "ew.so")
    llvm_backend.link_shared(
        llvm_backend.compile_module(llvm_backend.render_module(elementwise_desc())), path)
    return path


def test_small_loops_stay_on_the_calling_thread(ew_so):
    nt, before, small, big = _child(ew_so, None)
    assert nt == (os.cpu_count() or 1) or "OMP_NUM_THREADS" in os.environ
    assert small == before, "a 1000-element loop started threads"
    if nt > 1:
        assert big == before + nt - 1, "a 4M-element loop did not start the team"


def test_env_one_thread(ew_so):
    nt, before, small, big = _child(ew_so, 1)
    assert nt == 1
    assert small == before and big == before


def test_env_thread_count(ew_so):
    nt, before, small, big = _child(ew_so, 3)
    assert nt == 3
    assert small == before and big == before + 2


def test_set_num_threads_nonpositive_means_automatic(tmp_path):
    lib = Lib(elementwise_desc(), str(tmp_path / "ew.so"))
    lib.lib.graphnn_set_num_threads(5)
    assert lib.lib.graphnn_get_num_threads() == 5
    lib.lib.graphnn_set_num_threads(0)
    assert lib.lib.graphnn_get_num_threads() >= 1


FORK_CHILD = textwrap.dedent("""
    import ctypes, os, sys
    import numpy as np
    lib = ctypes.CDLL(sys.argv[1])
    entry = lib.graphnn_entry
    entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    n = 4_000_000
    x = np.linspace(-5, 5, n, dtype=np.float32)
    def run():
        y = np.zeros(n, np.float32)
        entry((ctypes.c_void_p * 2)(x.ctypes.data, y.ctypes.data), (ctypes.c_int64 * 1)(n))
        return y
    want = run()                     # the parent starts libgomp's team
    pid = os.fork()
    if pid == 0:                     # libgomp's pool does not survive fork: must not hang
        ok = np.array_equal(run(), want) and lib.graphnn_get_num_threads() == 1
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    print(os.WEXITSTATUS(status), lib.graphnn_get_num_threads())
""")


def test_forked_child_runs_on_one_thread(ew_so):
    """A child forked after the parent used threads runs parallel loops on one thread instead of
    hanging in GOMP_parallel (libgomp's pool does not survive fork)."""
    env = dict(os.environ, GRAPHNN_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", FORK_CHILD, ew_so], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "2"]
