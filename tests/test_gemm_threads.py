"""The CPU Gemm on several threads (``codegen/gemm_llvm.py`` + ``codegen/threads.py``).

A Gemm is split into tasks (batch entries x row ranges x column ranges) run by libgomp's team.
The same module computes the same bits on 1, 2, 3 and 4 threads: every C element gets its whole K
sum, in the same order, from one task (K blocks do not depend on the split), and the epilogue
runs once per element.  The integer-data test sets ``GEMM_MIN_FLOPS = 0`` (and the small-m
path's ``SMALL_MIN_FLOPS = 0``) so even tiny products are split; the float-data test keeps the
real thresholds.

Thread counts and the shapes they exercise (see ``_GemmEmitter.grid``): 2 threads split one
product by rows or columns (whichever packs less again) and odd batches too, even batches by
batch entry; 3 threads split into 3 ranges; 4 threads also make 2 x 2 grids (200 x 192).

Generated code and numpy's BLAS never run at the same time: references are computed first, on
one BLAS thread (test_gemm's autouse fixture is imported here).
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from codegen import gemm_llvm, llvm_backend
from codegen.kernel import (GEMM_ACC, GEMM_COL, GEMM_ROW, Assign, Const, For, Gemm, Kernel, Launch, Load,
                            Param, ProgramDesc, Var, call, cast)

from test_gemm import (FLOATS, SYMBOLS, TAIL, TRANSPOSES, compare, epilogue, expected,
                       gemm_program, kname, operands, out_buffer, variants)
from test_gemm import one_blas_thread  # noqa: F401  (autouse: references on one BLAS thread)

THREADS = (2, 3, 4)
#: (m, n, k, batch): odd shapes below and above the threshold, ragged everywhere
SHAPES = [
    (1, 1, 1, 1), (3, 17, 5, 3), (7, 1, 9, 2), (1, 33, 4, 5), (17, 17, 17, 1),
    (70, 65, 19, 2), (129, 129, 129, 1), (131, 70, 600, 3), (200, 192, 37, 1),
    (300, 257, 513, 1), (33, 1100, 40, 1), (5, 7, 0, 3), (0, 5, 3, 2), (4, 0, 3, 3),
    (4, 1000, 33, 1), (1, 130, 300, 2),
]




class Lib:
    def __init__(self, desc: ProgramDesc, path: str):
        llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)),
                                 path)
        self.desc = desc
        self.lib = ctypes.CDLL(path)
        self.entry = self.lib[desc.entry]
        self.entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.entry.restype = None
        self.lib.graphnn_set_num_threads.argtypes = [ctypes.c_int]
        self.lib.graphnn_get_num_threads.restype = ctypes.c_int

    def run(self, bufs, symbols, nthreads: int):
        """Fresh copies of ``bufs`` after one call on ``nthreads`` threads."""
        self.lib.graphnn_set_num_threads(nthreads)
        assert self.lib.graphnn_get_num_threads() == nthreads
        bufs = [x.copy() for x in bufs]
        slots = (ctypes.c_void_p * len(bufs))(*[x.ctypes.data for x in bufs])
        syms = (ctypes.c_int64 * max(len(symbols), 1))(*symbols)
        self.entry(slots, syms)
        return bufs


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return np.array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("dt", FLOATS)
def test_gemm_same_results_on_any_thread_count(tmp_path, monkeypatch, dt):
    """Threading forced for every size: all transposes and epilogues (incl. the bool C, which
    accumulates in scratch), batch 1 to 5: exact against numpy (integer data) and bit for bit
    equal to the one-thread run, output tails untouched."""
    monkeypatch.setattr(gemm_llvm, "GEMM_MIN_FLOPS", 0)
    monkeypatch.setattr(gemm_llvm, "SMALL_MIN_FLOPS", 0)   # small m: column blocks on the team
    monkeypatch.setattr(gemm_llvm, "SMALL_COLS", 24)
    lib = Lib(gemm_program(dt), str(tmp_path / f"{dt}.so"))
    npdt = np.dtype(dt).type
    failures = []
    for shape in SHAPES:
        m, n, k, nb = shape
        a, b, bias, rowv = operands(shape, dt)
        outs = [out_buffer(nb * m * n, epilogue(e, dt)[1]) for _, _, e in variants()]
        wants = [expected(shape, npdt, ta, tb, e, a, b, bias, rowv) for ta, tb, e in variants()]
        base = lib.run([a, b, bias, rowv] + outs, shape, 1)
        for nt in (1,) + THREADS:
            got = base if nt == 1 else lib.run([a, b, bias, rowv] + outs, shape, nt)
            for i, (ta, tb, e) in enumerate(variants()):
                what = f"{kname(dt, ta, tb, e)} {shape} on {nt} threads"
                failures += compare(got[4 + i], wants[i], what)
                if not _same_bits(got[4 + i], base[4 + i]):
                    failures.append(f"{what}: differs from one thread")
    assert not failures, "\n".join(failures[:20])


@pytest.fixture(scope="module")
def float_lib(tmp_path_factory):
    """float32, every transpose, relu(acc + bias[col]), symbolic sizes, the real threshold."""
    dt = "float32"
    size = [Var(s, "int64") for s in SYMBOLS]
    kernels, launches = [], []
    for i, (ta, tb) in enumerate(TRANSPOSES):
        g = Gemm("a", "b", "c", *size, ta, tb, dt, epilogue("bias_relu", dt)[0])
        kernels.append(Kernel(f"g{i}", [Param("a", dt), Param("b", dt), Param("bias", dt),
                                        Param("c", dt, "out")], [g], SYMBOLS))
        launches.append(Launch(f"g{i}", (0, 1, 2, 3 + i)))
    desc = ProgramDesc(kernels, launches, SYMBOLS, 3 + len(TRANSPOSES))
    return Lib(desc, str(tmp_path_factory.mktemp("gemm_threads") / "float.so"))


@pytest.mark.parametrize("shape", [(131, 70, 600, 1), (200, 192, 300, 1), (96, 700, 1000, 3)])
def test_gemm_float_data_bit_identical(float_lib, shape):
    """Ordinary float data (rounding in every sum): 2, 3 and 4 threads give exactly the bits of
    one thread, for every transpose with a bias + relu epilogue; close to a float64 reference."""
    dt = "float32"
    m, n, k, nb = shape
    rng = np.random.default_rng(7)
    a = rng.standard_normal(nb * m * k).astype(dt)
    b = rng.standard_normal(nb * k * n).astype(dt)
    bias = rng.standard_normal(n).astype(dt)
    bufs = [a, b, bias] + [np.full(nb * m * n + TAIL, np.nan, dt) for _ in TRANSPOSES]
    wants = []
    for ta, tb in TRANSPOSES:
        A = a.reshape(nb, k, m).transpose(0, 2, 1) if ta else a.reshape(nb, m, k)
        B = b.reshape(nb, n, k).transpose(0, 2, 1) if tb else b.reshape(nb, k, n)
        wants.append(np.maximum(np.matmul(A.astype(np.float64), B.astype(np.float64)) + bias, 0))
    base = float_lib.run(bufs, shape, 1)
    for (ta, tb), got, want in zip(TRANSPOSES, base[3:], wants):
        np.testing.assert_allclose(got[:-TAIL].reshape(nb, m, n), want, rtol=1e-4, atol=1e-4,
                                   err_msg=f"transpose_a={ta} transpose_b={tb}")
        assert np.isnan(got[-TAIL:]).all()
    for nt in THREADS:
        outs = float_lib.run(bufs, shape, nt)
        for (ta, tb), got, one in zip(TRANSPOSES, outs[3:], base[3:]):
            assert _same_bits(got, one), f"{nt} threads, transpose_a={ta} transpose_b={tb}"


def test_gemm_with_locals_and_inside_loops(tmp_path, monkeypatch):
    """The task function receives the locals declared before the Gemm (read by the epilogue);
    a Gemm inside a serial loop starts threads at every iteration; a Gemm inside a parallel
    loop's body runs on that loop's thread (no team inside a team)."""
    monkeypatch.setattr(gemm_llvm, "GEMM_MIN_FLOPS", 0)
    dt, m, n, k = "float32", 37, 45, 29
    size = [Const(v, "int64") for v in (m, n, k)]
    scale, r, p = Var("scale", dt), Var("r", "int64"), Var("p", "int64")
    acc, col = Var(GEMM_ACC, dt), Var(GEMM_COL, "int64")
    epi = call("add", call("mul", acc, scale), call("add", cast(r, dt), Load("bias", col, dt)))
    params = [Param("a", dt), Param("b", dt), Param("bias", dt), Param("c", dt, "out")]
    serial = Kernel("serial", params, [
        Assign(scale, Const(0.5, dt)),
        For(r, Const(0, "int64"), Const(3, "int64"),
            [Gemm("a", "b", "c", *size, Const(1, "int64"), False, True, dt, epi)], "serial")])
    nested = Kernel("nested", params[:3] + [Param("d", dt, "out")], [
        Assign(scale, Const(0.5, dt)),
        For(p, Const(0, "int64"), Const(1, "int64"), [
            Assign(r, Const(2, "int64")),
            Gemm("a", "b", "d", *size, Const(1, "int64"), False, True, dt, epi)], "parallel")])
    desc = ProgramDesc([serial, nested], [Launch("serial", (0, 1, 2, 3)),
                                          Launch("nested", (0, 1, 2, 4))], [], 5)
    text = llvm_backend.render_module(desc)
    assert '@"serial.small0.task"' in text     # the small-m path may use the team too
    assert '@"serial.gemm1"' in text and '@"serial.gemm1.task"' in text
    assert '@"nested.par0.gemm0"' in text and '@"nested.par0.gemm0.task"' not in text
    assert '@"nested.par0.small' not in text
    lib = Lib(desc, str(tmp_path / "loops.so"))
    rng = np.random.default_rng(3)
    a = rng.integers(-4, 5, m * k).astype(dt)
    b = rng.integers(-4, 5, n * k).astype(dt)
    bias = rng.integers(-4, 5, n).astype(dt)
    want = (a.reshape(m, k).astype(np.float64) @ b.reshape(n, k).T) * 0.5 + 2 + bias
    for nt in (1, 2):
        out = lib.run([a, b, bias, np.zeros(m * n, dt), np.zeros(m * n, dt)], [], nt)
        np.testing.assert_array_equal(out[3].reshape(m, n), want, err_msg=f"{nt} threads")
        np.testing.assert_array_equal(out[4].reshape(m, n), want, err_msg=f"{nt} threads")


# ---------------------------------------------------------------------------------------------
# the threshold and fork safety, in fresh processes (libgomp's team is per process)
CHILD = textwrap.dedent("""
    import ctypes, os, sys
    import numpy as np
    lib = ctypes.CDLL(sys.argv[1])
    entry = lib.graphnn_entry
    entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    def tasks():
        return len(os.listdir("/proc/self/task"))
    def run(m, n, k):
        rng = np.random.default_rng(m)
        a = rng.integers(-3, 4, (m, k)).astype(np.float32)
        b = rng.integers(-3, 4, (k, n)).astype(np.float32)
        c = np.zeros((m, n), np.float32)
        slots = (ctypes.c_void_p * 3)(a.ctypes.data, b.ctypes.data, c.ctypes.data)
        entry(slots, (ctypes.c_int64 * 3)(m, n, k))
        return np.array_equal(c, a.astype(np.float64) @ b)
    before = tasks()
    ok = run(20, 30, 40)                    # 48 KFLOP: below the threshold
    small = tasks()
    ok &= run(300, 200, 100)                # 12 MFLOP: above
    big = tasks()
    if sys.argv[2] == "fork":               # libgomp's pool does not survive fork
        pid = os.fork()
        if pid == 0:
            good = run(300, 200, 100) and lib.graphnn_get_num_threads() == 1
            os._exit(0 if good else 3)
        _, status = os.waitpid(pid, 0)
        ok &= os.WEXITSTATUS(status) == 0
    print(int(ok), lib.graphnn_get_num_threads(), before, small, big)
""")


@pytest.fixture(scope="module")
def plain_so(tmp_path_factory):
    dt = "float32"
    m, n, k = (Var(s, "int64") for s in ("m", "n", "k"))
    kern = Kernel("mm", [Param("a", dt), Param("b", dt), Param("c", dt, "out")],
                  [Gemm("a", "b", "c", m, n, k, Const(1, "int64"), False, False, dt)],
                  ["m", "n", "k"])
    desc = ProgramDesc([kern], [Launch("mm", (0, 1, 2))], ["m", "n", "k"], 3)
    path = str(tmp_path_factory.mktemp("gemm_threads") / "mm.so")
    llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)), path)
    return path


def _child(so: str, mode: str):
    env = dict(os.environ, GRAPHNN_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, so, mode], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [int(v) for v in out.stdout.split()]


def test_small_gemms_stay_on_the_calling_thread(plain_so):
    assert 2 * 20 * 30 * 40 < gemm_llvm.GEMM_MIN_FLOPS <= 2 * 300 * 200 * 100
    ok, nt, before, small, big = _child(plain_so, "plain")
    assert ok and nt == 2
    assert small == before, "a 48 KFLOP Gemm started threads"
    assert big == before + 1, "a 12 MFLOP Gemm did not start the team"


def test_forked_child_runs_gemm_on_one_thread(plain_so):
    ok, nt, *_ = _child(plain_so, "fork")
    assert ok and nt == 2


@pytest.mark.parametrize("shape", [(3, 40, 20), (70, 50, 900)])
def test_gemm_epilogue_reading_its_output_updates_in_place(tmp_path, monkeypatch, shape):
    """``C = 0.9*C - 0.1*(A @ B)`` with C read by the epilogue (an in-place update): the sums
    stay in scratch until the epilogue has read the old C (small-m path; several K blocks on
    two threads)."""
    monkeypatch.setattr(gemm_llvm, "GEMM_MIN_FLOPS", 0)
    dt = "float32"
    m, n, k = shape
    row, col = Var(GEMM_ROW, "int64"), Var(GEMM_COL, "int64")
    old = Load("c", call("add", call("mul", row, Const(n, "int64")), col), dt)
    epi = call("sub", call("mul", old, Const(0.9, dt)), call("mul", Var(GEMM_ACC, dt), Const(0.1, dt)))
    g = Gemm("a", "b", "c", Const(m, "int64"), Const(n, "int64"), Const(k, "int64"),
             Const(1, "int64"), False, False, dt, epi)
    kern = Kernel("upd", [Param("a", dt), Param("b", dt), Param("c", dt, "out")], [g])
    lib = Lib(ProgramDesc([kern], [Launch("upd", (0, 1, 2))], [], 3), str(tmp_path / "u.so"))
    rng = np.random.default_rng(5)
    a = rng.standard_normal(m * k).astype(dt)
    b = rng.standard_normal(k * n).astype(dt)
    c = rng.standard_normal(m * n).astype(dt)
    want = 0.9 * c.astype(np.float64) - 0.1 * (a.reshape(m, k).astype(np.float64)
                                               @ b.reshape(k, n)).reshape(-1)
    for nt in (1, 2):
        got = lib.run([a, b, c], [], nt)[2]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
