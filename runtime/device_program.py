"""A compiled function on a CUDA device (``GRAPHNN_DEVICE=cuda`` or ``cuda-emulated``).

The whole :class:`~codegen.kernel.ProgramDesc` is rendered as one CUDA C translation unit
(``codegen.cuda_backend``) and handed to a :class:`DeviceBackend` — the GPU through PyCUDA
(``runtime.cuda_device``) or the host emulator (``runtime.emulated_device``) — which compiles it
(disk-cached), allocates device memory and launches kernels.  Everything a call needs is prepared
once per combination of input shapes: device buffers for inputs, outputs and intermediates, and
the list of launches with their grid, block and arguments (``codegen.cuda_launch``).  A call then
copies the inputs in, replays the list, and copies the outputs out; variables stay in device
memory between calls (``runtime.variables`` mirrors, synced when the host side is read/written).
"""
from __future__ import annotations

import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

from codegen import mathlib as ml
from codegen.cuda_launch import launch_config
from ir.graph import Graph
from ir.types import concrete

from . import debug, variables
from .function import STATS


class DeviceBackend:
    """What a device runtime provides (one instance per process and device kind)."""

    name = "device"

    def load(self, desc, source: str) -> Tuple[object, bool]:
        """Compile ``source`` (cached on disk) and load it; return ``(module, cache_hit)``."""
        raise NotImplementedError

    def alloc(self, nbytes: int):
        """A device buffer of at least ``nbytes`` (at least 1); ``int(buf)`` is its address."""
        raise NotImplementedError

    def upload(self, buf, host: np.ndarray) -> None:
        raise NotImplementedError

    def download(self, host: np.ndarray, buf) -> None:
        raise NotImplementedError

    def prepare(self, module, kernel, grid, block, args: Sequence[int]):
        """One launch of ``kernel`` with buffer addresses then symbol values ``args``; returns
        something :meth:`run` replays."""
        raise NotImplementedError

    def run(self, prepared: list) -> None:
        """Launch the prepared list in order."""
        raise NotImplementedError


class VariableMirror:
    """A variable's device buffer (shared by every program of the backend)."""

    def __init__(self, backend: DeviceBackend, nbytes: int):
        self.backend, self.buf = backend, backend.alloc(nbytes)

    def upload(self, host: np.ndarray) -> None:
        self.backend.upload(self.buf, host)

    def download(self, host: np.ndarray) -> None:
        self.backend.download(host, self.buf)


def variable_buffer(backend: DeviceBackend, uid: int):
    """The device buffer of variable ``uid`` on ``backend`` (created and attached on first use)."""
    m = variables.mirror(uid)
    if not (isinstance(m, VariableMirror) and m.backend is backend):
        m = VariableMirror(backend, variables.buffer(uid).nbytes)
        variables.attach_mirror(uid, m)
    return m.buf


class _State:
    """Everything one input-shape signature needs: device buffers and the prepared launches."""

    def __init__(self, inputs, outputs, prepared, keep):
        self.inputs, self.outputs, self.prepared, self.keep = inputs, outputs, prepared, keep


class DeviceProgram:
    """Same calling convention as :class:`runtime.program.Program` (``run(values)``)."""

    def __init__(self, graph: Graph, planned: Graph, desc, backend: DeviceBackend, module,
                 source: str, seconds: float, cache_hit: bool, device: str):
        self.graph, self.planned, self.desc, self.source = graph, planned, desc, source
        self.backend, self.module, self.device = backend, module, device
        self.compile_seconds, self.cache_hit = seconds, cache_hit
        self.n_kernels = len(desc.launches)
        plan = planned.plan
        self._kernels = ml.check_program(desc)
        self._inputs = [(plan.slot_of[n], planned.type(n), planned.attrs(n)["name"])
                        for n in planned.inputs]
        self._in_dtypes = [np.dtype(t.dtype) for _, t, _ in self._inputs]
        self._outputs = [(next(k for k, sl in enumerate(plan.slots)
                               if sl.kind == "output" and sl.ref == i), planned.type(o))
                         for i, o in enumerate(planned.outputs)]
        slots = plan.slots
        self._var_uids = sorted({sl.ref for sl in slots if sl.kind == "variable"})
        written = set()
        for launch in desc.launches:
            k = self._kernels[launch.kernel]
            names = ml.buffers_written(k.body)
            written |= {launch.slots[i] for i, p in enumerate(k.params) if p.name in names}
        self._written_uids = sorted({slots[s].ref for s in written if slots[s].kind == "variable"})
        # constants live on the device for the program's lifetime
        self._constants: Dict[int, object] = {}
        for i, sl in enumerate(slots):
            if sl.kind == "constant":
                a = np.ascontiguousarray(sl.ref)
                buf = backend.alloc(a.nbytes)
                backend.upload(buf, a)
                self._constants[i] = buf
        self._states: Dict[tuple, _State] = {}

    def _bind(self, arrays: Sequence[np.ndarray]) -> Dict[str, int]:
        from .program import Program
        env, _ = Program.bind(self, arrays)   # the same checks (it reads only ``_inputs``)
        missing = [s for s in self.desc.symbols if s not in env]
        if missing:
            raise ValueError(f"symbols {missing} are not determined by the inputs")
        return env

    def _state(self, shapes: tuple, arrays: Sequence[np.ndarray]) -> _State:
        env = self._bind(arrays)
        be, slots = self.backend, self.planned.plan.slots
        addr: Dict[int, int] = {}
        keep: List[object] = []
        outputs = []
        for i, sl in enumerate(slots):
            if sl.kind == "variable":
                buf = variable_buffer(be, sl.ref)
            elif sl.kind == "constant":
                buf = self._constants[i]
            else:
                nbytes = sl.size.evaluate(env) * ml.ITEMSIZE[sl.dtype]
                buf = be.alloc(nbytes)
            keep.append(buf)
            addr[i] = int(buf)
        inputs = [keep[slot] for slot, _, _ in self._inputs]
        for slot, t in self._outputs:
            outputs.append((keep[slot], concrete(t.shape, env), np.dtype(t.dtype)))
        prepared = []
        for launch in self.desc.launches:
            k = self._kernels[launch.kernel]
            grid, block = launch_config(k, env)
            args = [addr[s] for s in launch.slots] + [int(env[s]) for s in k.symbols]
            prepared.append(be.prepare(self.module, k, grid, block, args))
        st = _State(inputs, outputs, prepared, keep)
        self._states[shapes] = st
        return st

    def run(self, values: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Inputs in, the prepared launches, outputs out; variables stay on the device."""
        if len(values) != len(self._inputs):
            raise ValueError(f"expected {len(self._inputs)} inputs, got {len(values)}")
        arrays = [v if type(v) is np.ndarray and v.dtype == dt and v.flags.c_contiguous
                  else np.asarray(v, dtype=dt, order="C")
                  for v, dt in zip(values, self._in_dtypes)]
        shapes = tuple(a.shape for a in arrays)
        st = self._states.get(shapes) or self._state(shapes, arrays)
        be = self.backend
        for uid in self._var_uids:
            variables.to_device(uid)
        for buf, a in zip(st.inputs, arrays):
            be.upload(buf, a)
        be.run(st.prepared)
        outs = []
        for buf, shape, dt in st.outputs:
            o = np.empty(shape, dt)
            be.download(o, buf)
            outs.append(o)
        for uid in self._written_uids:
            variables.device_wrote(uid)
        STATS["foreign_calls"] += 1
        return outs


def build_device_program(graph: Graph, device: str) -> DeviceProgram:
    """Optimize, lower and render ``graph`` as one CUDA C translation unit for ``device``
    (``cuda`` or ``cuda-emulated``), then compile and load it through the device's backend."""
    if device == "cuda":
        from .cuda_device import backend
    else:
        from .emulated_device import backend
    be = backend()   # raises a clear error when the device is unavailable, before compiling
    from codegen.cuda_backend import render_module
    from codegen.lower import lower_graph
    from .program import optimize
    t0 = time.perf_counter()
    planned = optimize(graph, device)
    desc = lower_graph(planned, name="k")
    source = render_module(desc)
    if debug.level() >= 3:
        debug.dump(f"{graph.name}: CUDA C", source)
    module, hit = be.load(desc, source)
    secs = time.perf_counter() - t0
    STATS["compilations"] += 1
    prog = DeviceProgram(graph, planned, desc, be, module, source, secs, hit, device)
    if debug.level() >= 1:
        debug.log(f"compiled {graph.name!r} for {device}: {len(graph)} nodes -> "
                  f"{prog.n_kernels} kernels in {secs:.3f}s"
                  f"{' (disk cache hit)' if hit else ''}")
    return prog
