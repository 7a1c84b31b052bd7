"""The CUDA devices: ``cuda-emulated`` (the generated CUDA C translation unit run through the host
emulator with the GPU's grid and block) end to end, the variable mirrors, launch configuration,
and ``cuda``'s clear errors when pycuda, a driver, a GPU or nvcc is missing (monkeypatched: no
GPU here).  A GPU run of the same code is ``examples/gpu_check.sh``."""
from __future__ import annotations

import importlib
import shutil
import sys
import types

import numpy as np
import pytest

from codegen.cuda_launch import BLOCK, MAX_BLOCKS, launch_config
from codegen.kernel import Assign, Const, For, Gemm, Kernel, Param, Store, Var, call
from runtime import variables

needs_cxx = pytest.mark.skipif(shutil.which("g++") is None, reason="no host g++")


@pytest.fixture(params=["cuda-emulated", "cuda"])
def device(request):
    """The emulated GPU everywhere (needs g++); the real one where there is one."""
    if request.param == "cuda":
        from runtime import cuda_device
        try:
            cuda_device.backend()
        except cuda_device.CudaUnavailable as e:
            pytest.skip(e.reason)
    elif shutil.which("g++") is None:
        pytest.skip("no host g++ for the CUDA emulator")
    return request.param
I64 = "int64"


# -- launch configuration ---------------------------------------------------------------------
def _loop_kernel(stop, kind="parallel", pre=()):
    i = Var("i", I64)
    body = list(pre) + [For(i, Const(0, I64), stop, [Store("o", i, Const(1.0, "float32"))], kind)]
    return Kernel("k", [Param("o", "float32", "out")], body, ["N"])


def test_launch_config_grid_stride_gemm_and_serial():
    n = Var("N", I64)
    assert launch_config(_loop_kernel(call("mul", n, Const(3, I64))), {"N": 100}) == \
        ((2, 1, 1), (BLOCK, 1, 1))
    assert launch_config(_loop_kernel(n), {"N": 10 ** 9}) == ((MAX_BLOCKS, 1, 1), (BLOCK, 1, 1))
    assert launch_config(_loop_kernel(n), {"N": 0}) == ((1, 1, 1), (BLOCK, 1, 1))
    # a size computed in a top-level local is evaluated too
    m = Var("m", I64)
    assert launch_config(_loop_kernel(m, pre=[Assign(m, call("add", n, Const(300, I64)))]),
                         {"N": 1}) == ((2, 1, 1), (BLOCK, 1, 1))
    # no parallel loop: one thread runs the (guarded) body
    assert launch_config(_loop_kernel(n, kind="serial"), {"N": 5}) == ((1, 1, 1), (1, 1, 1))
    gemm = Kernel("g", [Param("a", "float32"), Param("b", "float32"), Param("c", "float32", "out")],
                  [Gemm("a", "b", "c", n, Const(65, I64), Const(4, I64), Const(2, I64), False,
                        False, "float32")], ["N"])
    assert launch_config(gemm, {"N": 130}) == ((2, 3, 2), (16, 16, 1))


# -- variable mirrors -------------------------------------------------------------------------
class _Mirror:
    def __init__(self):
        self.device, self.uploads, self.downloads = None, 0, 0

    def upload(self, host):
        self.device, self.uploads = host.copy(), self.uploads + 1

    def download(self, host):
        host[...] = self.device
        self.downloads += 1


def test_variable_mirror_syncs_only_what_changed():
    uid = variables.new_buffer(np.arange(3.0), "float64")
    m = _Mirror()
    variables.attach_mirror(uid, m)
    variables.to_device(uid)
    variables.to_device(uid)
    assert m.uploads == 1   # unchanged host side: uploaded once
    m.device[...] = 7.0     # a kernel updates the device copy
    variables.device_wrote(uid)
    assert variables.get_value(uid).tolist() == [7.0] * 3 and m.downloads == 1
    assert variables.get_value(uid).tolist() == [7.0] * 3 and m.downloads == 1
    variables.set_value(uid, [1.0, 2.0, 3.0])
    variables.to_device(uid)
    assert m.device.tolist() == [1.0, 2.0, 3.0] and m.uploads == 2
    m.device[...] = 5.0
    variables.device_wrote(uid)
    variables.buffer(uid)[0] = 9.0   # the live buffer: pulled first, pushed before the next launch
    variables.to_device(uid)
    assert m.device.tolist() == [9.0, 5.0, 5.0]
    variables.release(uid)


# -- cuda-emulated end to end -----------------------------------------------------------------
def _dense_model(seed):
    from graphnn import backend as K
    from graphnn.layers import Dense, Dropout
    from graphnn.models import Sequential
    K.clear_session()   # the same dropout seeds and a fresh random key variable
    np.random.seed(seed)
    model = Sequential()
    model.add(Dense(16, activation="relu", input_shape=(6,)))
    model.add(Dropout(0.3))
    model.add(Dense(3, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    return model


def test_training_matches_cpu(monkeypatch, device):
    """A train step (GEMMs with epilogues, reductions, dropout's random bits, in-place updates)
    gives the CPU's weights; get/set_weights see and change the device copies."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 5)]
    results = {}
    for d in ("cpu", device):
        monkeypatch.setenv("GRAPHNN_DEVICE", d)
        model = _dense_model(3)
        losses = [model.train_on_batch(x, y) for _ in range(3)]
        results[d] = (losses, model.get_weights(), model.predict(x), model)
    (cl, cw, cp, _), (el, ew, ep, model) = results["cpu"], results[device]
    np.testing.assert_allclose(np.array(el, np.float64), np.array(cl, np.float64), rtol=1e-5)
    for a, b in zip(ew, cw):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ep, cp, rtol=1e-5, atol=1e-6)
    # set_weights reaches the device copy before the next launch
    monkeypatch.setenv("GRAPHNN_DEVICE", device)
    zero = [np.zeros_like(w) for w in ew]
    model.set_weights(zero)
    np.testing.assert_allclose(model.predict(x), np.full((5, 3), 1 / 3, np.float32), rtol=1e-6)
    fn = model.predict_function._fn._program
    assert fn.device == device and "__global__" in fn.source


def test_program_takes_any_batch_size(device):
    from ir import builder as b
    from runtime import compile_function
    x = b.placeholder(("N", 3), "float32", "x")
    f = compile_function([x], [b.sum(b.exp(x), axis=1)], device=device)
    for n in (1, 7, 300):
        a = np.linspace(-1, 1, n * 3, dtype=np.float32).reshape(n, 3)
        np.testing.assert_allclose(f([a])[0], np.exp(a).sum(1), rtol=1e-6)
    assert len(f._program._states) == 3


# -- cuda: clear errors without pycuda / driver / GPU / nvcc -----------------------------------
def _cuda_error():
    from runtime import cuda_device
    with pytest.raises(cuda_device.CudaUnavailable) as info:
        cuda_device.CudaBackend()
    return str(info.value)


def test_cuda_without_pycuda_says_so(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pycuda" else real(name, *a))
    msg = _cuda_error()
    assert "pycuda is not installed" in msg and "GRAPHNN_DEVICE='cuda'" in msg


def _fake_pycuda(monkeypatch, driver):
    pkg = types.ModuleType("pycuda")
    pkg.__path__ = []
    pkg.__spec__ = importlib.machinery.ModuleSpec("pycuda", None, is_package=True)
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)


def test_cuda_without_driver_library_says_so(monkeypatch):
    _fake_pycuda(monkeypatch, None)   # ``import pycuda.driver`` raises ImportError
    assert "CUDA driver library could not be loaded" in _cuda_error()


class _DriverError(Exception):
    pass


def test_cuda_without_gpu_says_so(monkeypatch):
    drv = types.ModuleType("pycuda.driver")

    def no_device(flags=0):
        raise _DriverError("cuInit failed: no CUDA-capable device is detected")
    drv.init = no_device
    _fake_pycuda(monkeypatch, drv)
    msg = _cuda_error()
    assert "failed to initialise (no GPU?)" in msg and "no CUDA-capable device" in msg
    drv.init = lambda flags=0: None
    drv.Device = types.SimpleNamespace(count=lambda: 0)
    assert "found no GPU" in _cuda_error()


def test_cuda_without_nvcc_says_so(monkeypatch):
    from runtime import cuda_device
    drv = types.ModuleType("pycuda.driver")
    drv.init = lambda flags=0: None
    drv.Device = types.SimpleNamespace(count=lambda: 1)
    _fake_pycuda(monkeypatch, drv)
    cuda_device._nvcc.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name, *a: None)
    try:
        assert "nvcc" in _cuda_error()
    finally:
        cuda_device._nvcc.cache_clear()


def test_choosing_cuda_fails_before_compiling(monkeypatch):
    """Through the public API: one RuntimeError naming the missing piece."""
    from ir import builder as b
    from runtime import compile_function
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pycuda" else real(name, *a))
    monkeypatch.setattr("runtime.cuda_device._backend", None)
    x = b.placeholder((2,), "float32", "x")
    f = compile_function([x], [b.exp(x)], device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available: pycuda is not installed"):
        f([np.zeros(2, np.float32)])


# -- cuda's own code paths (cubin cache, device memory, prepared calls) on a fake pycuda ---------
class _FakeFunction:
    """``pycuda.driver.Function``'s prepare/prepared_call, launching through the emulator."""

    def __init__(self, launcher):
        self.launcher, self.fmt = launcher, None

    def prepare(self, fmt):
        self.fmt = fmt

    def prepared_call(self, grid, block, *args):
        import ctypes
        assert len(args) == len(self.fmt) and len(grid) == 3 and len(block) == 3
        holders = [ctypes.c_void_p(int(a)) if f == "P" else ctypes.c_longlong(a)
                   for f, a in zip(self.fmt, args)]
        argv = (ctypes.c_void_p * max(len(holders), 1))(*[ctypes.addressof(h) for h in holders])
        self.launcher((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), argv)


def _fake_driver_over_emulator():
    """Enough of ``pycuda.driver`` for runtime.cuda_device, backed by host memory and the
    emulator (``module_from_buffer`` gets the CUDA source: ``compile_cubin`` is patched)."""
    import ctypes
    import re
    from runtime import emulated_device as ed
    drv = types.ModuleType("pycuda.driver")
    drv.calls = {"htod": 0, "dtoh": 0, "modules": 0}

    class Device:
        def __init__(self, i):
            assert i == 0

        @staticmethod
        def count():
            return 1

        def compute_capability(self):
            return (9, 0)

        def name(self):
            return "fake H200"

        def retain_primary_context(self):
            return types.SimpleNamespace(push=lambda: None, pop=lambda: None)

    class Module:
        def __init__(self, source):
            names = re.findall(r'extern "C" __global__ void (\w+)\(', source)
            desc = types.SimpleNamespace(kernels=[types.SimpleNamespace(name=n) for n in names])
            self.lib, _ = ed.backend().load(desc, source)
            drv.calls["modules"] += 1

        def get_function(self, name):
            fn = self.lib[f"cuemu_launch_{name}"]
            fn.argtypes, fn.restype = (ctypes.c_void_p,) * 3, None
            return _FakeFunction(fn)

    def htod(dst, src):
        drv.calls["htod"] += 1
        ctypes.memmove(int(dst), src.ctypes.data, src.nbytes)

    def dtoh(dst, src):
        drv.calls["dtoh"] += 1
        ctypes.memmove(dst.ctypes.data, int(src), dst.nbytes)
    drv.init, drv.Device, drv.mem_alloc = (lambda flags=0: None), Device, ed.HostBuffer
    drv.memcpy_htod, drv.memcpy_dtoh = htod, dtoh
    drv.module_from_buffer = lambda data: Module(data.decode())
    return drv


@needs_cxx
def test_cuda_runtime_on_a_fake_driver(monkeypatch):
    """GRAPHNN_DEVICE=cuda end to end with pycuda.driver replaced by a host fake: the cubin
    cache, prepared calls with the launch configuration, and weights that stay on the device
    (copied back only when read)."""
    from runtime import cuda_device
    drv = _fake_driver_over_emulator()
    _fake_pycuda(monkeypatch, drv)
    monkeypatch.setattr(cuda_device, "_nvcc", lambda: ("nvcc", "fake nvcc"))
    monkeypatch.setattr(cuda_device, "compile_cubin", lambda source, arch: source.encode())
    monkeypatch.setattr(cuda_device, "_backend", None)
    monkeypatch.setenv("GRAPHNN_DEVICE", "cuda")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    model = _dense_model(5)
    for _ in range(3):
        model.train_on_batch(x, y)
    prog = model.train_function._fn._program
    assert prog.device == "cuda" and cuda_device.backend().arch == "sm_90"
    before = dict(drv.calls)
    model.train_on_batch(x, y)
    # one step: the two inputs (and learning phase) in, the outputs out, no weight traffic
    assert drv.calls["htod"] - before["htod"] == len(prog._inputs)
    assert drv.calls["dtoh"] - before["dtoh"] == len(prog._outputs)
    weights = model.get_weights()
    monkeypatch.setenv("GRAPHNN_DEVICE", "cpu")
    cpu = _dense_model(5)
    for _ in range(4):
        cpu.train_on_batch(x, y)
    for a, b in zip(weights, cpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_compile_cubin_for_the_cards_architecture():
    from codegen.errors import CompileError
    from runtime.cuda_device import compile_cubin
    cubin = compile_cubin('extern "C" __global__ void f(float* a) { a[threadIdx.x] = 1.0f; }',
                          "sm_90")
    assert cubin[:4] == b"\x7fELF"
    with pytest.raises(CompileError, match="nvcc failed"):
        compile_cubin("not CUDA", "sm_90")


@pytest.mark.slow   # about 40 s emulated on 2 cores: the emulator runs every GPU thread of 2 epochs
def test_mnist_mlp_trains_through_cuda(monkeypatch, device):
    """examples/mnist_mlp.py's model (Dense 512-512-10, dropout, RMSprop) on the digits, two
    epochs through the generated CUDA C: the CPU's accuracy."""
    import importlib.util as iu
    import os
    from graphnn import backend as K
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "mnist_mlp.py")
    spec = iu.spec_from_file_location("mnist_mlp_example", path)
    example = iu.module_from_spec(spec)
    spec.loader.exec_module(example)
    accuracy = {}
    for d in ("cpu", device):
        monkeypatch.setenv("GRAPHNN_DEVICE", d)
        K.clear_session()
        accuracy[d] = example.main(epochs=2, verbose=0, validate=False)
    assert accuracy["cpu"] > 0.85
    assert abs(accuracy[device] - accuracy["cpu"]) <= 0.02, accuracy
