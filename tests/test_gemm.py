"""The Gemm statement on both backends against numpy.

CPU: ``codegen/gemm_llvm.py`` (packed, register-blocked, cache-blocked).
GPU: ``codegen/gemm_cuda.py`` compiled with nvcc, and run on the host through
``codegen/cuda_emu/cuda_host_emu.h`` (the threads of a block are fibers, ``__syncthreads`` is a
real barrier).

To keep the suite fast, each dtype compiles ONE module holding a kernel per (transpose_a,
transpose_b, epilogue) with symbolic m/n/k/batch; one entry call then runs all of them on a shape.
Inputs are small integers, so every product and sum is exact in float32 and float64 whatever the
summation order: results are compared for equality, and the output buffers start as NaN (or 0x55
bytes for bool) with a tail that must stay untouched.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import subprocess
from typing import List

import numpy as np
import pytest

from codegen import cuda_backend, llvm_backend
from codegen import mathlib as ml
from codegen.errors import CompileError
from codegen.gemm_cuda import gemm_launch_config
from codegen.gemm_llvm import KC, MC, NC, micro_tile
from codegen.kernel import (GEMM_ACC, GEMM_BATCH, GEMM_COL, GEMM_ROW, Const, Gemm, Kernel,
                            Launch, Load, Param, ProgramDesc, Var, call)

FLOATS = ["float32", "float64"]
TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]
#: none; relu(acc + bias[col]); 0.5 * acc + rowv[batch*m + row]; acc > bias[col] into a bool C
#: (C cannot hold partial sums: the generator accumulates in scratch instead)
EPILOGUES = ["none", "bias_relu", "scale_row", "greater"]
SYMBOLS = ["m", "n", "k", "nb"]
TAIL = 5
EMU_HEADER = os.path.join(os.path.dirname(__file__), "..", "codegen", "cuda_emu", "cuda_host_emu.h")

SIZES = [1, 3, 17, 129]
EXTRA_SHAPES = [  # (m, n, k, batch)
    (300, 257, 513, 1), (300, 257, 513, 3),   # several MC blocks and K blocks, ragged everywhere
    (2, NC["float32"] + 52, 5, 1),            # more than one NC block (float32)
    (150, NC["float64"] + 6, 20, 2),          # more than one NC block (float64), m > MC
    (5, 7, 0, 2),                              # k = 0: acc = 0, the epilogue still runs
    (0, 5, 3, 2), (4, 0, 3, 1), (3, 4, 5, 0),  # empty outputs
]


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """The numpy references are small products: OpenBLAS's thread pool only gets in the way
    (here 30x slower on two busy cores) and competes with the generated code's threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def epilogue(kind: str, dt: str):
    """(expression, C dtype) of an epilogue kind."""
    acc, row = Var(GEMM_ACC, dt), Var(GEMM_ROW, "int64")
    col, bat = Var(GEMM_COL, "int64"), Var(GEMM_BATCH, "int64")
    bias = Load("bias", col, dt)
    if kind == "none":
        return None, dt
    if kind == "bias_relu":
        return call("maximum", call("add", acc, bias), Const(0.0, dt)), dt
    if kind == "scale_row":
        rowv = Load("rowv", call("add", call("mul", bat, Var("m", "int64")), row), dt)
        return call("add", call("mul", acc, Const(0.5, dt)), rowv), dt
    if kind == "greater":
        return call("greater", acc, bias), "bool"
    raise KeyError(kind)


def variants():
    return [(ta, tb, e) for (ta, tb) in TRANSPOSES for e in EPILOGUES]


def kname(dt, ta, tb, e):
    return f"gemm_{dt}_{'t' if ta else 'n'}{'t' if tb else 'n'}_{e}"


def gemm_program(dt: str) -> ProgramDesc:
    """Slots: 0 a, 1 b, 2 bias, 3 rowv, 4+ one C per variant."""
    kernels, launches = [], []
    m, n, k, nb = (Var(s, "int64") for s in SYMBOLS)
    for i, (ta, tb, e) in enumerate(variants()):
        epi, cdt = epilogue(e, dt)
        params = [Param("a", dt), Param("b", dt), Param("bias", dt), Param("rowv", dt),
                  Param("c", cdt, "out")]
        name = kname(dt, ta, tb, e)
        kernels.append(Kernel(name, params, [Gemm("a", "b", "c", m, n, k, nb, ta, tb, dt, epi)],
                              SYMBOLS, origin=f"test gemm {e}"))
        launches.append(Launch(name, (0, 1, 2, 3, 4 + i)))
    return ProgramDesc(kernels, launches, SYMBOLS, 4 + len(kernels))


def operands(shape, dt, seed=0):
    """Small integers: all arithmetic below is exact."""
    m, n, k, nb = shape
    rng = np.random.default_rng(seed + m * 7 + n * 13 + k * 17 + nb)
    a = rng.integers(-4, 5, nb * m * k).astype(dt)
    b = rng.integers(-4, 5, nb * k * n).astype(dt)
    bias = (rng.integers(-6, 6, max(n, 1)) + 0.5).astype(dt)
    rowv = rng.integers(-9, 10, max(nb * m, 1)).astype(dt)
    return a, b, bias, rowv


def expected(shape, dt, ta, tb, e, a, b, bias, rowv):
    m, n, k, nb = shape
    A = a.reshape(nb, k, m).transpose(0, 2, 1) if ta else a.reshape(nb, m, k)
    B = b.reshape(nb, n, k).transpose(0, 2, 1) if tb else b.reshape(nb, k, n)
    # contiguous float64 copies: numpy's matmul of strided stacks skips BLAS and is slow
    acc = np.matmul(np.ascontiguousarray(A, np.float64), np.ascontiguousarray(B, np.float64))
    acc = acc.astype(dt)
    if e == "none":
        out = acc
    elif e == "bias_relu":
        out = np.maximum(acc + bias[:n], 0)
    elif e == "scale_row":
        out = acc * dt(0.5) + rowv[:nb * m].reshape(nb, m, 1)
    else:
        out = acc > bias[:n]
    return out.reshape(-1)


def out_buffer(size: int, cdt: str) -> np.ndarray:
    if cdt == "bool":
        return np.full(size + TAIL, 0x55, np.uint8).view(np.bool_)
    return np.full(size + TAIL, np.nan, cdt)


def compare(got: np.ndarray, want: np.ndarray, what: str) -> List[str]:
    size = want.size
    if got.dtype == np.bool_:
        g = got.view(np.uint8)
        if not np.array_equal(g[:size], want.astype(np.uint8)):
            return [f"{what}: {int(np.sum(g[:size] != want))} wrong of {size}"]
        if not np.all(g[size:] == 0x55):
            return [f"{what}: wrote past the end"]
        return []
    bad = []
    if not np.array_equal(got[:size], want.astype(got.dtype)):
        diff = np.abs(got[:size] - want)
        bad.append(f"{what}: {int(np.sum(~(diff == 0)))} wrong of {size}, max diff "
                   f"{np.nanmax(np.where(np.isnan(diff), np.inf, diff)) if size else 0}")
    if not np.all(np.isnan(got[size:])):
        bad.append(f"{what}: wrote past the end")
    return bad


def all_shapes():
    return [(m, n, k, nb) for m, n, k in itertools.product(SIZES, SIZES, SIZES)
            for nb in (1, 3)] + EXTRA_SHAPES


# ---------------------------------------------------------------------------------------------
# CPU
class CpuGemms:
    def __init__(self, dt: str, path: str):
        self.dt, self.desc = dt, gemm_program(dt)
        llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(self.desc)),
                                 path)
        self.fn = ctypes.CDLL(path)[self.desc.entry]
        self.fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.fn.restype = None

    def prepare(self, shape):
        """Operands, output buffers and expected results of every variant for ``shape``."""
        dt = np.dtype(self.dt).type
        m, n, k, nb = shape
        a, b, bias, rowv = operands(shape, self.dt)
        outs, wants = [], []
        for ta, tb, e in variants():
            outs.append(out_buffer(nb * m * n, epilogue(e, self.dt)[1]))
            wants.append(expected(shape, dt, ta, tb, e, a, b, bias, rowv))
        return shape, [a, b, bias, rowv] + outs, wants

    def run(self, prepared) -> None:
        shape, bufs, _ = prepared
        slots = (ctypes.c_void_p * len(bufs))(*[x.ctypes.data for x in bufs])
        self.fn(slots, (ctypes.c_int64 * 4)(*shape))

    def verify(self, prepared) -> List[str]:
        shape, bufs, wants = prepared
        bad = []
        for (ta, tb, e), got, want in zip(variants(), bufs[4:], wants):
            bad += compare(got, want, f"{kname(self.dt, ta, tb, e)} {shape}")
        return bad

    def check(self, shape) -> List[str]:
        prepared = self.prepare(shape)
        self.run(prepared)
        return self.verify(prepared)


@pytest.fixture(scope="module", params=FLOATS)
def cpu_gemms(request, tmp_path_factory):
    return CpuGemms(request.param, str(tmp_path_factory.mktemp("gemm") / f"{request.param}.so"))


def test_llvm_gemm_matches_numpy(cpu_gemms):
    """Every transpose combination and epilogue, m/n/k in {1, 3, 17, 129}, batch 1 and 3, and
    shapes crossing the cache blocks (several MC/NC/KC blocks, k = 0, empty outputs)."""
    failures = []
    for shape in all_shapes():
        failures += cpu_gemms.check(shape)
    assert not failures, "\n".join(failures[:20])


def test_llvm_gemm_two_threads_at_once(cpu_gemms):
    """Packing scratch is per call (malloc/free), so concurrent calls do not share it
    (ctypes releases the GIL during the call)."""
    from concurrent.futures import ThreadPoolExecutor
    work = [cpu_gemms.prepare(s) for s in [(129, 129, 300, 3), (300, 257, 513, 1)] * 2]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(cpu_gemms.run, work))
    failures = [f for w in work for f in cpu_gemms.verify(w)]
    assert not failures, "\n".join(failures[:20])


def test_llvm_gemm_float_data_and_constant_shapes(tmp_path):
    """Constant sizes (what lowering emits for static shapes) and ordinary float data: the
    result matches a float64 reference to accumulation rounding."""
    dt, (m, n, k, nb) = "float32", (131, 70, 600, 2)
    kernels, launches = [], []
    for i, (ta, tb) in enumerate(TRANSPOSES):
        epi, _ = epilogue("bias_relu", dt)
        g = Gemm("a", "b", "c", Const(m, "int64"), Const(n, "int64"), Const(k, "int64"),
                 Const(nb, "int64"), ta, tb, dt, epi)
        kernels.append(Kernel(f"g{i}", [Param("a", dt), Param("b", dt), Param("bias", dt),
                                        Param("c", dt, "out")], [g]))
        launches.append(Launch(f"g{i}", (0, 1, 2, 3 + i)))
    desc = ProgramDesc(kernels, launches, [], 7)
    path = str(tmp_path / "const.so")
    llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)), path)
    fn = ctypes.CDLL(path)[desc.entry]
    rng = np.random.default_rng(1)
    a = rng.standard_normal(nb * m * k).astype(dt)
    b = rng.standard_normal(nb * k * n).astype(dt)
    bias = rng.standard_normal(n).astype(dt)
    outs = [np.full(nb * m * n, np.nan, dt) for _ in TRANSPOSES]
    bufs = [a, b, bias] + outs
    fn((ctypes.c_void_p * len(bufs))(*[x.ctypes.data for x in bufs]), None)
    for (ta, tb), got in zip(TRANSPOSES, outs):
        A = a.reshape(nb, k, m).transpose(0, 2, 1) if ta else a.reshape(nb, m, k)
        B = b.reshape(nb, n, k).transpose(0, 2, 1) if tb else b.reshape(nb, k, n)
        want = np.maximum(np.matmul(A.astype(np.float64), B.astype(np.float64)) + bias, 0)
        np.testing.assert_allclose(got.reshape(nb, m, n), want, rtol=1e-5, atol=1e-4,
                                   err_msg=f"transpose_a={ta} transpose_b={tb}")


def test_llvm_gemm_code_shape():
    """The micro-kernel is vector FMAs on the host's vector width, shared by all Gemms of a
    module; packing scratch comes from malloc/free."""
    desc = gemm_program("float32")
    text = llvm_backend.render_module(desc)
    mr, vw, nv = micro_tile("float32")
    assert f"llvm.fma.v{vw}f32" in text
    assert text.count(f'define internal void @"graphnn.gemm.ukr.float32.{mr}x{vw * nv}"') == 1
    assert '@"malloc"' in text and '@"free"' in text
    assert KC["float32"] % 4 == 0 and MC["float32"] >= mr and NC["float32"] % (vw * nv) == 0


def test_gemm_kernel_checks():
    dt = "float32"
    m = Const(4, "int64")
    base = [Param("a", dt), Param("b", dt), Param("c", dt, "out")]

    def kernel(g, params=base):
        return Kernel("k", params, [g])
    ok = Gemm("a", "b", "c", m, m, m, Const(1, "int64"), False, False, dt,
              call("add", Var(GEMM_ACC, dt), Const(1.0, dt)))
    assert ml.check_kernel(kernel(ok)) == {"a": dt, "b": dt, "c": dt}
    assert {"a", "b"} <= ml.buffers_read([ok]) and ml.buffers_written([ok]) == {"c"}
    ints = [Param("a", "int32"), Param("b", "int32"), Param("c", "int32", "out")]
    with pytest.raises(CompileError, match="floats only"):
        ml.check_kernel(kernel(Gemm("a", "b", "c", m, m, m, m, False, False, "int32"), ints))
    reads_c = Gemm("a", "b", "c", m, m, m, m, False, False, dt,
                   call("add", Var(GEMM_ACC, dt), Load("c", Var(GEMM_COL, "int64"), dt)))
    ml.check_kernel(kernel(reads_c))   # an in-place update reads the old value
    with pytest.raises(CompileError, match="also an operand"):
        ml.check_kernel(kernel(Gemm("a", "b", "a", m, m, m, m, False, False, dt)))
    with pytest.raises(CompileError, match="holds float32, accessed as bool"):
        ml.check_kernel(kernel(Gemm("a", "b", "c", m, m, m, m, False, False, dt,
                                    call("greater", Var(GEMM_ACC, dt), Const(0.0, dt)))))
    with pytest.raises(CompileError, match="read before"):  # epilogue vars exist only there
        ml.check_kernel(Kernel("k", base, [ok, ok.__class__(
            "a", "b", "c", m, m, m, Var(GEMM_ROW, "int64"), False, False, dt)]))
    nested = Kernel("k", base, [ok, ok])
    with pytest.raises(CompileError, match="only top-level statement"):
        cuda_backend.render_module(ProgramDesc([nested], [], [], 3))


# ---------------------------------------------------------------------------------------------
# CUDA
needs_nvcc = pytest.mark.skipif(not cuda_backend.nvcc_available(), reason="nvcc not on PATH")
needs_cxx = pytest.mark.skipif(shutil.which("g++") is None, reason="no host g++")

#: small shapes: the emulator runs 256 OS threads per block
EMU_SHAPES = [(1, 1, 1, 1), (3, 17, 5, 3), (17, 3, 33, 1), (70, 65, 19, 2), (2, 3, 0, 1)]


def cuda_variants(dt: str):
    """Every variant in float32; float64 (the same template with ``double``) gets the four
    transposes with one epilogue, and the bool-output one."""
    if dt == "float32":
        return variants()
    return [(ta, tb, "scale_row") for ta, tb in TRANSPOSES] + [(False, False, "greater")]


def cuda_program() -> ProgramDesc:
    kernels = []
    for dt in FLOATS:
        by_name = {k.name: k for k in gemm_program(dt).kernels}
        kernels += [by_name[kname(dt, *v)] for v in cuda_variants(dt)]
    return ProgramDesc(kernels, [], SYMBOLS, 1)


@needs_nvcc
def test_cuda_gemm_compiles():
    src = cuda_backend.render_module(cuda_program())
    assert "__syncthreads()" in src and "__shared__ float" in src and "__shared__ double" in src
    ptx = cuda_backend.compile_ptx(src)
    for kern in cuda_program().kernels:
        assert f".entry {kern.name}(" in ptx, kern.name


def test_gemm_launch_config():
    assert gemm_launch_config(1, 1, 1) == ((1, 1, 1), (16, 16, 1))
    assert gemm_launch_config(130, 65, 3) == ((2, 3, 3), (16, 16, 1))
    assert gemm_launch_config(64 * 70000, 10, 70000) == ((1, 65535, 65535), (16, 16, 1))


class EmulatedCuda:
    """The CUDA source compiled as host C++ with the emulator header; the threads of a block
    are fibers on one OS thread (``cuemu_fibers.inc``: deterministic and ~8x faster to launch
    than OS threads), ``__syncthreads`` switches between them."""

    def __init__(self, desc: ProgramDesc, path: str):
        src = path + ".cu"
        with open(src, "w") as f:
            f.write(cuda_backend.render_module(desc))
            f.write("".join(f"CUEMU_EXPORT({k.name})\n" for k in desc.kernels))
        emu = os.path.abspath(EMU_HEADER)
        cmd = ["g++", "-std=c++20", "-O0", "-pthread", "-fPIC", "-shared", "-x", "c++",
               "-I", os.path.dirname(emu), '-DCUEMU_CUSTOM_RUNTIME="cuemu_fibers.inc"',
               "-include", emu, src, "-o", path]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        self.lib = ctypes.CDLL(path)

    def launch(self, name: str, grid, block, args: list) -> None:
        holders = [ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray)
                   else ctypes.c_longlong(a) for a in args]
        argv = (ctypes.c_void_p * len(holders))(*[ctypes.addressof(h) for h in holders])
        dims = [(ctypes.c_uint * 3)(*d) for d in (grid, block)]
        self.lib[f"cuemu_launch_{name}"](dims[0], dims[1], argv)


@needs_cxx
def test_cuda_gemm_emulated(tmp_path):
    desc = cuda_program()
    emu = EmulatedCuda(desc, str(tmp_path / "gemm_emu.so"))
    failures = []
    for dt in FLOATS:
        npdt = np.dtype(dt).type
        for shape in EMU_SHAPES:
            m, n, k, nb = shape
            a, b, bias, rowv = operands(shape, dt)
            grid, block = gemm_launch_config(m, n, nb)
            for ta, tb, e in cuda_variants(dt):
                # the block-stride loops must also cover a grid smaller than the problem
                g = (1, 1, 1) if (ta, tb) == (True, True) else grid
                out = out_buffer(nb * m * n, epilogue(e, dt)[1])
                emu.launch(kname(dt, ta, tb, e), g, block, [a, b, bias, rowv, out, m, n, k, nb])
                want = expected(shape, npdt, ta, tb, e, a, b, bias, rowv)
                failures += compare(out, want, f"cuda {kname(dt, ta, tb, e)} {shape} grid {g}")
    assert not failures, "\n".join(failures[:20])
