"""Every registered primitive, automatically: compiled (LLVM) result equals the numpy reference,
its gradient matches central finite differences in float64, its CUDA C compiles with nvcc and runs
through the CUDA emulator (``cuda-emulated``) matching the reference.
A new primitive with a ``sample`` is covered without new test code."""
import shutil

import numpy as np
import pytest

import ir
from ir import builder as b
from ir.autodiff import grad
from ir.graph import Graph
from ir.interpreter import evaluate
from ir.registry import REGISTRY
from ir.types import is_float
from runtime import compile_function

SAMPLED = sorted(n for n, d in REGISTRY.items() if d.sample is not None)
UNSAMPLED = sorted(n for n, d in REGISTRY.items() if d.sample is None)


def test_every_op_is_tested():
    # sources are exercised by every test; everything else must bring samples
    assert set(UNSAMPLED) <= {"placeholder", "variable", "constant"}, UNSAMPLED


def _build(name, args, attrs):
    phs = [b.placeholder(a.shape, a.dtype.name, f"x{i}") for i, a in enumerate(args)]
    return phs, ir.apply(name, phs, **attrs)


def _tol(dtype):
    return dict(rtol=2e-6, atol=2e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SAMPLED)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_llvm_matches_reference(name, dtype):
    rng = np.random.default_rng(abs(hash(name)) % 2 ** 32)
    args, attrs = REGISTRY[name].sample(rng, dtype)
    phs, out = _build(name, args, attrs)
    compiled = compile_function(phs, [out], name=f"test_{name}")([*args])[0]
    ref = compile_function(phs, [out], device="interpreter")([*args])[0]
    assert compiled.dtype == ref.dtype and compiled.shape == ref.shape
    if is_float(out.dtype):
        np.testing.assert_allclose(compiled, ref, **_tol(out.dtype), equal_nan=True)
    else:
        np.testing.assert_array_equal(compiled, ref)


def _float_inputs(args):
    return [i for i, a in enumerate(args) if a.dtype.kind == "f"]


GRAD_OPS = [n for n in SAMPLED if REGISTRY[n].vjp is not None]


@pytest.mark.parametrize("name", GRAD_OPS)
def test_gradient_finite_differences(name):
    rng = np.random.default_rng(1 + abs(hash(name)) % 2 ** 32)
    args, attrs = REGISTRY[name].sample(rng, "float64")
    phs, out = _build(name, args, attrs)
    if not is_float(out.dtype):
        pytest.skip("integer output")
    wrt = _float_inputs(args)
    weights = rng.standard_normal(np.shape(REGISTRY[name].reference(args, ir.registry.Attrs(attrs), {})))
    loss = b.sum(b.mul(out, b.constant(weights)))
    grads = grad(loss, [phs[i] for i in wrt])
    g, _ = Graph.build(phs, [loss] + grads)

    def f(vals):
        return evaluate(g, vals)[0][0]

    analytic = evaluate(g, args)[0][1:]
    eps = 1e-6
    for gi, i in zip(analytic, wrt):
        num = np.zeros_like(args[i])
        for idx in np.ndindex(args[i].shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            num[idx] = (f(plus) - f(minus)) / (2 * eps)
        np.testing.assert_allclose(gi, num, rtol=1e-5, atol=1e-6, err_msg=f"{name} input {i}")
    # and the compiled gradient agrees with the interpreter
    compiled = compile_function(phs, [loss] + grads, name=f"grad_{name}")(args)
    for c, a in zip(compiled[1:], analytic):
        np.testing.assert_allclose(c, a, rtol=1e-9, atol=1e-9)


@pytest.mark.skipif(not __import__("shutil").which("nvcc"), reason="nvcc not installed")
def test_cuda_source_of_every_op_compiles_with_nvcc():
    """All ops' kernels in one translation unit (nvcc costs ~0.3 s per call)."""
    from codegen import cuda_backend
    from codegen.kernel import ProgramDesc
    from codegen.lower import lower_graph
    from runtime.program import optimize
    kernels, launches = [], []
    for name in SAMPLED:
        args, attrs = REGISTRY[name].sample(np.random.default_rng(0), "float32")
        phs, out = _build(name, args, attrs)
        g, _ = Graph.build(phs, [out], name=name)
        desc = lower_graph(optimize(g), name=f"op_{name}")
        kernels += desc.kernels
        launches += desc.launches
    src = cuda_backend.render_module(ProgramDesc(kernels, [], [], 0))
    ptx = cuda_backend.compile_ptx(src)
    for k in kernels:
        assert k.name in ptx


def _op_program(name, dtype="float32"):
    """The sampled op as a planned graph and its kernels (named after the op, so the kernels of
    every op fit in one translation unit)."""
    from codegen.lower import lower_graph
    from runtime.program import optimize
    args, attrs = REGISTRY[name].sample(np.random.default_rng(0), dtype)
    phs, out = _build(name, args, attrs)
    g, _ = Graph.build(phs, [out], name=name)
    planned = optimize(g)
    return g, planned, lower_graph(planned, name=f"op_{name}"), args


@pytest.fixture(scope="module", params=["cuda-emulated", "cuda"])
def cuda_ops(request):
    """Every op's kernels in one translation unit, compiled once (and disk-cached), for the
    emulator and (where there is one) the GPU."""
    from codegen import cuda_backend
    from codegen.kernel import ProgramDesc
    if request.param == "cuda":
        from runtime import cuda_device
        try:
            be = cuda_device.backend()
        except cuda_device.CudaUnavailable as e:
            pytest.skip(e.reason)
    else:
        if shutil.which("g++") is None:
            pytest.skip("no host g++ for the CUDA emulator")
        from runtime.emulated_device import backend
        be = backend()
    programs = {name: _op_program(name) for name in SAMPLED}
    descs = [p[2] for p in programs.values()]
    unit = ProgramDesc([k for d in descs for k in d.kernels], [l for d in descs for l in d.launches],
                       sorted({s for d in descs for s in d.symbols}), max(d.n_slots for d in descs))
    module, _ = be.load(unit, cuda_backend.render_module(unit))
    return be, module, programs


@pytest.mark.parametrize("name", SAMPLED)
def test_cuda_run_matches_reference(name, cuda_ops):
    """The op's generated CUDA C launched with the GPU's grid and block, through the emulator
    (and on the GPU when there is one)."""
    from runtime.device_program import DeviceProgram
    be, module, programs = cuda_ops
    g, planned, desc, args = programs[name]
    prog = DeviceProgram(g, planned, desc, be, module, "", 0.0, True, be.name)
    got = prog.run(args)[0]
    want = evaluate(g, args)[0][0]
    assert got.dtype == want.dtype and got.shape == want.shape
    if is_float(got.dtype.name):
        np.testing.assert_allclose(got, want, **_tol(got.dtype.name), equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)
