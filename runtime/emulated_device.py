"""``GRAPHNN_DEVICE=cuda-emulated``: the generated CUDA C run on the host, for machines without
a GPU.

The translation unit the GPU would get is compiled as host C++ with the emulator header
(``codegen/cuda_emu/cuda_host_emu.h`` with the fiber runtime ``cuemu_fibers.inc``: the threads
of a block are fibers on one OS thread, ``__syncthreads`` switches between them, ``__shared__``
memory is shared by the block).  Every kernel is exported as ``cuemu_launch_<name>(grid, block,
args)`` with ``cuLaunchKernel``'s argument convention and launched with the grid and block the
GPU would get.  "Device memory" is separate host buffers, so the variable mirrors and copies in
and out are exercised exactly as on a GPU.  Slow: for tests and for checking models.
"""
from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
import tempfile
import threading
from typing import Sequence, Tuple

import numpy as np

from codegen.errors import CompileError, save_failed

from .cache import cached_library, key_of
from .device_program import DeviceBackend

EMU_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codegen",
                       "cuda_emu")
HEADER, RUNTIME = "cuda_host_emu.h", "cuemu_fibers.inc"
FLAGS = ("-std=c++20", "-O1", "-pthread", "-fPIC", "-shared", "-U_FORTIFY_SOURCE", "-x", "c++",
         f'-DCUEMU_CUSTOM_RUNTIME="{RUNTIME}"')
ALIGN = 256   # cudaMalloc's alignment


class EmulatorUnavailable(RuntimeError):
    pass


class HostBuffer:
    """Host memory standing in for one device allocation."""

    def __init__(self, nbytes: int):
        raw = np.empty(max(nbytes, 1) + ALIGN, np.uint8)
        off = (-raw.ctypes.data) % ALIGN
        self.array, self.nbytes = raw[off:off + max(nbytes, 1)], nbytes
        self.address = self.array.ctypes.data

    def __int__(self) -> int:
        return self.address


@functools.lru_cache(maxsize=None)
def _compiler() -> Tuple[str, str]:
    cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("g++")
    if cxx is None:
        raise EmulatorUnavailable("GRAPHNN_DEVICE='cuda-emulated' needs a host C++20 compiler "
                                  "(g++) on PATH to compile the generated CUDA C; none found")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    return cxx, version


def _read(name: str) -> str:
    with open(os.path.join(EMU_DIR, name)) as f:
        return f.read()


def emulated_source(source: str, kernel_names: Sequence[str]) -> str:
    """The translation unit plus one ``CUEMU_EXPORT`` launcher per kernel."""
    return source + "\n" + "".join(f"CUEMU_EXPORT({k})\n" for k in kernel_names)


def compile_library(source: str, path: str) -> None:
    """``g++`` the emulated translation unit into the shared library ``path``."""
    cxx, _ = _compiler()
    with tempfile.TemporaryDirectory(prefix="graphnn-emu-") as tmp:
        src = os.path.join(tmp, "module.cu")
        with open(src, "w") as f:
            f.write(source)
        cmd = [cxx, *FLAGS, "-I", EMU_DIR, "-include", os.path.join(EMU_DIR, HEADER), src,
               "-o", path]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            saved = save_failed(source, "module.cu")
            raise CompileError(f"emulated CUDA build failed ({' '.join(cmd)}):\n"
                               f"{proc.stderr.strip()[-4000:]}\nsource saved to {saved}")


class EmulatedBackend(DeviceBackend):
    name = "cuda-emulated"

    def __init__(self):
        _compiler()
        self._lock = threading.Lock()   # the fiber runtime has one global scheduler

    def load(self, desc, source: str):
        full = emulated_source(source, [k.name for k in desc.kernels])
        key = key_of("cuda-emulated", full, _read(HEADER), _read(RUNTIME), _compiler()[1],
                     " ".join(FLAGS))
        return cached_library(key, lambda path: compile_library(full, path), ctypes.CDLL)

    def alloc(self, nbytes: int) -> HostBuffer:
        return HostBuffer(nbytes)

    def upload(self, buf: HostBuffer, host: np.ndarray) -> None:
        ctypes.memmove(buf.address, host.ctypes.data, host.nbytes)

    def download(self, host: np.ndarray, buf: HostBuffer) -> None:
        ctypes.memmove(host.ctypes.data, buf.address, host.nbytes)

    def prepare(self, module, kernel, grid, block, args):
        fn = module[f"cuemu_launch_{kernel.name}"]
        fn.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
        fn.restype = None
        nbuf = len(kernel.params)
        holders = [ctypes.c_void_p(a) for a in args[:nbuf]] + \
            [ctypes.c_longlong(a) for a in args[nbuf:]]
        argv = (ctypes.c_void_p * max(len(holders), 1))(*[ctypes.addressof(h) for h in holders])
        dims = ((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block))
        return fn, dims[0], dims[1], argv, holders

    def run(self, prepared: list) -> None:
        with self._lock:
            for fn, grid, block, argv, _ in prepared:
                fn(grid, block, argv)


_backend = None


def backend() -> EmulatedBackend:
    """The process's emulated device (raises EmulatorUnavailable without g++)."""
    global _backend
    if _backend is None:
        _backend = EmulatedBackend()
    return _backend
