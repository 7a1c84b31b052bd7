"""``GRAPHNN_DEVICE=cuda``: the generated CUDA C on an NVIDIA GPU through PyCUDA.

The program's translation unit is compiled by our own call of ``nvcc --cubin`` for the card's
architecture (disk-cached by source, architecture and nvcc version: a warm start runs no nvcc)
and loaded with ``pycuda.driver.module_from_buffer``; each launch is a ``prepared_call`` from the
list :class:`~runtime.device_program.DeviceProgram` builds once per input shapes.

PyCUDA is imported on first use (``import graphnn`` never needs it).  Without pycuda, a driver,
a GPU or nvcc, choosing this device raises one :class:`CudaUnavailable` that says which is
missing.  The device's primary context is made current (no ``pycuda.autoinit``).
"""
from __future__ import annotations

import atexit
import functools
import importlib
import importlib.util
import shutil
import subprocess
from typing import Tuple

import numpy as np

from .cache import cached_path, key_of, store
from .device_program import DeviceBackend

#: kernel argument formats for ``Function.prepare``: a pointer per buffer, int64 per symbol
_PTR, _SYM = "P", "q"


class CudaUnavailable(RuntimeError):
    """The ``cuda`` device was chosen but cannot run here."""

    def __init__(self, reason: str):
        super().__init__(f"GRAPHNN_DEVICE='cuda': CUDA is not available: {reason} "
                         "(GRAPHNN_DEVICE='cuda-emulated' runs the same CUDA C on the CPU)")
        self.reason = reason


def load_driver():
    """``pycuda.driver``, initialised, with at least one GPU; raise CudaUnavailable naming what
    is missing (pycuda, the driver library, a GPU)."""
    if importlib.util.find_spec("pycuda") is None:
        raise CudaUnavailable("pycuda is not installed (pip install pycuda; on a machine without "
                              "network see examples/gpu_check.sh)")
    try:
        drv = importlib.import_module("pycuda.driver")
    except (ImportError, OSError) as e:   # pycuda's extension links libcuda.so.1
        raise CudaUnavailable(f"the CUDA driver library could not be loaded by pycuda "
                              f"(no NVIDIA driver installed?): {e}") from None
    try:
        drv.init()
        count = drv.Device.count()
    except Exception as e:   # pycuda.driver.Error: e.g. CUDA_ERROR_NO_DEVICE
        raise CudaUnavailable(f"the CUDA driver failed to initialise (no GPU?): {e}") from None
    if count == 0:
        raise CudaUnavailable("the CUDA driver found no GPU")
    return drv


@functools.lru_cache(maxsize=None)
def _nvcc() -> Tuple[str, str]:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise CudaUnavailable("nvcc (the CUDA toolkit's compiler) is not on PATH")
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    return nvcc, version


def compile_cubin(source: str, arch: str) -> bytes:
    """``nvcc --cubin -O3 -arch=<arch>`` of one translation unit; CompileError with nvcc's
    messages and the kept source on failure."""
    from codegen.cuda_backend import run_nvcc
    nvcc, _ = _nvcc()
    return run_nvcc(source, "cubin", arch, nvcc)


class CudaBackend(DeviceBackend):
    name = "cuda"

    def __init__(self, drv=None):
        self.drv = drv or load_driver()
        _nvcc()
        dev = self.drv.Device(0)
        major, minor = dev.compute_capability()
        self.arch = f"sm_{major}{minor}"
        self.device_name = dev.name()
        self.context = dev.retain_primary_context()
        self.context.push()
        atexit.register(self._close)

    def _close(self) -> None:
        try:
            self.context.pop()
        except Exception:
            pass

    def load(self, desc, source: str):
        key = key_of("cuda", source, self.arch, _nvcc()[1])
        path = cached_path(key, ".cubin", "cuda")
        hit = path is not None
        if not hit:
            path = store(key, compile_cubin(source, self.arch), ".cubin", "cuda")
        with open(path, "rb") as f:
            return self.drv.module_from_buffer(f.read()), hit

    def alloc(self, nbytes: int):
        return self.drv.mem_alloc(max(int(nbytes), 1))

    def upload(self, buf, host: np.ndarray) -> None:
        if host.nbytes:
            self.drv.memcpy_htod(buf, host)

    def download(self, host: np.ndarray, buf) -> None:
        if host.nbytes:
            self.drv.memcpy_dtoh(host, buf)

    def prepare(self, module, kernel, grid, block, args):
        fn = module.get_function(kernel.name)
        fn.prepare(_PTR * len(kernel.params) + _SYM * len(kernel.symbols))
        return fn.prepared_call, tuple(grid), tuple(block), tuple(args)

    def run(self, prepared: list) -> None:
        for call, grid, block, args in prepared:
            call(grid, block, *args)


_backend = None


def backend() -> CudaBackend:
    """The process's GPU (created on first use; raises CudaUnavailable)."""
    global _backend
    if _backend is None:
        _backend = CudaBackend()
    return _backend
