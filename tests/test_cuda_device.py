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


@needs_cxx
def test_emulated_training_matches_cpu(monkeypatch):
    """A train step (GEMMs with epilogues, reductions, dropout's random bits, in-place updates)
    gives the CPU's weights; get/set_weights see and change the device copies."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 5)]
    results = {}
    for device in ("cpu", "cuda-emulated"):
        monkeypatch.setenv("GRAPHNN_DEVICE", device)
        model = _dense_model(3)
        losses = [model.train_on_batch(x, y) for _ in range(3)]
        results[device] = (losses, model.get_weights(), model.predict(x), model)
    (cl, cw, cp, _), (el, ew, ep, model) = results["cpu"], results["cuda-emulated"]
    np.testing.assert_allclose(np.array(el, np.float64), np.array(cl, np.float64), rtol=1e-5)
    for a, b in zip(ew, cw):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ep, cp, rtol=1e-5, atol=1e-6)
    # set_weights reaches the device copy before the next launch
    monkeypatch.setenv("GRAPHNN_DEVICE", "cuda-emulated")
    zero = [np.zeros_like(w) for w in ew]
    model.set_weights(zero)
    np.testing.assert_allclose(model.predict(x), np.full((5, 3), 1 / 3, np.float32), rtol=1e-6)
    fn = model.predict_function._fn._program
    assert fn.device == "cuda-emulated" and "__global__" in fn.source


@needs_cxx
def test_emulated_program_takes_any_batch_size():
    from ir import builder as b
    from runtime import compile_function
    x = b.placeholder(("N", 3), "float32", "x")
    f = compile_function([x], [b.sum(b.exp(x), axis=1)], device="cuda-emulated")
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
