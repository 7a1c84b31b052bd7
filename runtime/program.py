"""A compiled function as one ``Program``: the buffer plan plus one generated entry point.

On the CPU a call binds the symbols from the input shapes, points the slot table at the inputs,
fresh output arrays, the variables' persistent buffers and a per-shape arena of intermediates,
and makes exactly one foreign call into generated code.
"""
from __future__ import annotations

import ctypes
import os
import time
from typing import Dict, List, Sequence

import numpy as np

from ir.graph import Graph
from ir.passes import run_pipeline
from ir.printer import format_graph
from ir.types import concrete, show_shape

from . import debug, variables
from .costs import kernel_costs
from .function import STATS as _STATS

ALIGN = 64


def _aligned(nbytes: int) -> np.ndarray:
    raw = np.empty(max(nbytes, 1) + ALIGN, np.uint8)
    off = (-raw.ctypes.data) % ALIGN
    return raw[off:off + max(nbytes, 1)]


def optimize(graph: Graph, device: str = "cpu") -> Graph:
    """The pass pipeline, with per-pass dumps at ``GRAPHNN_DEBUG>=2``."""
    dump = None
    if debug.level() >= 2:
        def dump(name, g):
            debug.dump(f"{graph.name}: after {name}", format_graph(g))
    return run_pipeline(graph, dump=dump)


class Program:
    def __init__(self, graph: Graph, planned: Graph, desc, lib, source: str, seconds: float,
                 cache_hit: bool):
        self.graph, self.planned, self.desc = graph, planned, desc
        self.source = source
        self.compile_seconds, self.cache_hit = seconds, cache_hit
        self._lib = lib
        self._entry = lib[desc.entry]
        self._entry.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
        self._entry.restype = None
        plan = planned.plan
        self.n_kernels = len(desc.launches)
        self._inputs = [(plan.slot_of[n], planned.type(n), planned.attrs(n)["name"])
                        for n in planned.inputs]
        self._outputs = [(s, planned.type(o)) for s, o in
                         ((i, o) for i, o in enumerate(planned.outputs))]
        self._output_slots = [next(k for k, sl in enumerate(plan.slots)
                                   if sl.kind == "output" and sl.ref == i)
                              for i in range(len(planned.outputs))]
        self._symbols = desc.symbols
        self._per_env: Dict[tuple, tuple] = {}
        self._signatures: Dict[tuple, tuple] = {}
        self._in_slots = [slot for slot, _, _ in self._inputs]
        self._in_dtypes = [np.dtype(t.dtype) for _, t, _ in self._inputs]
        self._constants = []  # keep constant arrays alive
        self.last_values = None

    # --- per-shape state: the slot table with fixed entries, and the arena of temps
    def _state(self, env: Dict[str, int]):
        key = tuple(env.get(s, 0) for s in self._symbols)
        st = self._per_env.get(key)
        if st is not None:
            return st
        plan = self.planned.plan
        table = (ctypes.c_void_p * max(len(plan.slots), 1))()
        keep = []
        for i, sl in enumerate(plan.slots):
            if sl.kind == "variable":
                table[i] = variables.buffer(sl.ref).ctypes.data
            elif sl.kind == "constant":
                a = np.ascontiguousarray(sl.ref)
                keep.append(a)
                table[i] = a.ctypes.data
            elif sl.kind == "temp":
                nbytes = sl.size.evaluate(env) * np.dtype(sl.dtype).itemsize
                a = _aligned(nbytes)
                keep.append(a)
                table[i] = a.ctypes.data
        syms = (ctypes.c_int64 * max(len(self._symbols), 1))(*[env[s] for s in self._symbols])
        st = (table, syms, keep)
        self._per_env[key] = st
        return st

    def bind(self, values: Sequence[np.ndarray]):
        """Check and convert the inputs; return the symbol values and contiguous arrays."""
        env: Dict[str, int] = {}
        arrays = []
        for (slot, t, name), v in zip(self._inputs, values):
            a = np.asarray(v)
            if a.dtype.name != t.dtype or not a.flags.c_contiguous:
                a = np.asarray(a, dtype=t.dtype, order="C")
            if a.ndim != len(t.shape):
                raise ValueError(f"input {name!r}: expected shape {show_shape(t.shape)} but got "
                                 f"array with shape {a.shape}")
            for d, s in zip(t.shape, a.shape):
                if isinstance(d, str):
                    if env.setdefault(d, s) != s:
                        raise ValueError(f"input {name!r}: dimension {d!r} is {env[d]} in another "
                                         f"input but {s} here (shape {a.shape})")
                elif d != s:
                    raise ValueError(f"input {name!r}: expected shape {show_shape(t.shape)} but "
                                     f"got array with shape {a.shape}")
            arrays.append(a)
        return env, arrays

    def _signature(self, shapes, values):
        """Validate one combination of input shapes (once) and cache what a call needs."""
        env, _ = self.bind(values)
        missing = [s for s in self._symbols if s not in env]
        if missing:
            raise ValueError(f"symbols {missing} are not determined by the inputs")
        table, syms, _ = self._state(env)
        outs = [(concrete(t.shape, env), np.dtype(t.dtype)) for _, t in self._outputs]
        sig = (table, ctypes.addressof(table), ctypes.addressof(syms), outs)
        self._signatures[shapes] = sig
        return sig

    def run(self, values: Sequence[np.ndarray]) -> List[np.ndarray]:
        """One call: inputs of a known shape signature cost a dict lookup and a pointer each."""
        if len(values) != len(self._inputs):
            raise ValueError(f"expected {len(self._inputs)} inputs, got {len(values)}")
        arrays = values
        for i, dt in enumerate(self._in_dtypes):
            v = values[i]
            if type(v) is not np.ndarray or v.dtype != dt or not v.flags.c_contiguous:
                if arrays is values:
                    arrays = list(values)
                arrays[i] = np.asarray(v, dtype=dt, order="C")
        shapes = tuple([a.shape for a in arrays])
        sig = self._signatures.get(shapes) or self._signature(shapes, arrays)
        table, table_addr, syms_addr, out_specs = sig
        for slot, a in zip(self._in_slots, arrays):
            table[slot] = _address(a)
        outs = [np.empty(shape, dt) for shape, dt in out_specs]
        for slot, o in zip(self._output_slots, outs):
            table[slot] = _address(o)
        self._entry(table_addr, syms_addr)
        _STATS["foreign_calls"] += 1
        self.last_values = arrays    # what a profiler replays (a reference, no copy)
        return outs


    # --- per-kernel timings
    def profile(self, values: Sequence[np.ndarray], repeats: int = 10, warmup: int = 2
                ) -> List[dict]:
        """Run the program ``warmup + repeats`` times through its profiled entry point and return
        one record per launch: kernel name, the layers it came from (``origin``), its FLOPs and
        bytes moved (``runtime.costs``; ``bytes`` None for a copy) and the median seconds per call
        over the repeats (the kernels' own time, no Python).  The
        variables are restored afterwards: profiling a train step does not train."""
        saved = [(buf, buf.copy()) for buf in (variables.buffer(sl.ref) for sl in
                                               self.planned.plan.slots if sl.kind == "variable")]
        try:
            return self._profile(values, repeats, warmup)
        finally:
            for buf, old in saved:
                buf[...] = old

    def _profile(self, values, repeats, warmup):
        entry = self._lib[self.desc.entry + "_profiled"]
        entry.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
        entry.restype = None
        n = len(self.desc.launches)
        samples = np.zeros((repeats, n), np.int64)
        plain = self._entry
        for r in range(warmup + repeats):
            ticks = np.zeros(n, np.int64)
            self._entry = lambda t, s: entry(t, s, ticks.ctypes.data)
            try:
                self.run(values)
            finally:
                self._entry = plain
            if r >= warmup:
                samples[r - warmup] = ticks
        per_tick = self._seconds_per_tick()
        kernels = {k.name: k for k in self.desc.kernels}
        env, _ = self.bind(values)
        schedule = self.planned.plan.schedule
        costs = kernel_costs(self.planned, env)
        out = []
        for i, launch in enumerate(self.desc.launches):
            k = kernels[launch.kernel]
            # launches follow the schedule; copies into outputs or variables come last
            flops, moved = costs[schedule[i]] if i < len(schedule) else (0, None)
            out.append(dict(kernel=k.name, origin=k.origin, flops=flops, bytes=moved,
                            seconds=float(np.median(samples[:, i])) * per_tick))
        return out

    def _seconds_per_tick(self) -> float:
        cycles = self._lib[self.desc.entry + "_cycles"]
        cycles.restype = ctypes.c_int64
        c0, t0 = cycles(), time.perf_counter()
        time.sleep(0.02)
        c1, t1 = cycles(), time.perf_counter()
        return (t1 - t0) / max(c1 - c0, 1)


def _address(a: np.ndarray) -> int:
    """The data pointer of a contiguous array (the buffer protocol is faster than ``.ctypes``)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError):   # read-only or empty
        return a.ctypes.data


def build_program(graph: Graph, device: str = "cpu") -> Program:
    if device in ("cuda", "cuda-emulated"):   # one CUDA C translation unit (device_program)
        from .device_program import build_device_program
        return build_device_program(graph, device)
    if device != "cpu":
        raise ValueError(f"unknown device {device!r}: choose 'cpu', 'cuda', 'cuda-emulated' or "
                         "'interpreter'")
    from codegen.lower import lower_graph
    from . import compiler
    from .cache import cached_library
    from .function import STATS
    # seconds per phase (kept on the Program as ``compile_timings``): passes, lowering, key,
    # rendering, parse/optimize/codegen (LLVM, summed over the compile threads), compile
    # (waiting for the objects after rendering), link, load, total
    timings: Dict[str, float] = {}
    t0 = time.perf_counter()
    planned = optimize(graph, device)
    t1 = time.perf_counter()
    desc = lower_graph(planned, name="k")
    t2 = time.perf_counter()
    timings["passes"], timings["lowering"] = t1 - t0, t2 - t1
    # the library is cached under a key computed from the kernel descriptions (no rendering on a
    # warm start); on a miss the program is rendered as separately compiled units whose objects
    # are cached under keys computed from their LLVM IR (and shared with other programs)
    key = compiler.library_key(desc)
    timings["key"] = time.perf_counter() - t2
    units = []

    def build(path):
        units.append(compiler.build_library(desc, path, timings=timings, name=graph.name))

    def load(path):
        t = time.perf_counter()
        try:
            return ctypes.CDLL(path)
        finally:
            timings["load"] = time.perf_counter() - t

    if key is not None:
        lib, hit = cached_library(key, build, load)
    else:   # no stable description: build, load and forget the library
        import tempfile
        from .cache import cache_dir
        with tempfile.TemporaryDirectory(prefix="graphnn-", dir=cache_dir()) as tmp:
            path = os.path.join(tmp, "program.so")
            build(path)
            lib, hit = load(path), False
    source = units[0].text() if units else ""
    if debug.level() >= 3:
        from codegen import llvm_backend
        from codegen.llvm_modules import render_units
        shown = render_units(desc, comments=True)
        debug.dump(f"{graph.name}: LLVM IR", shown.text())
        if debug.level() >= 4:
            debug.dump(f"{graph.name}: assembly",
                       "\n".join(llvm_backend.assembly(u.text) for u in shown.units))
    secs = time.perf_counter() - t0
    timings["total"] = secs
    STATS["compilations"] += 1
    prog = Program(graph, planned, desc, lib, source, secs, hit)
    prog.compile_timings = timings
    if debug.level() >= 1:
        debug.log(f"compiled {graph.name!r} for {device}: {len(graph)} nodes -> "
                  f"{prog.n_kernels} kernels in {secs:.3f}s"
                  f"{' (disk cache hit)' if hit else ''}")
    return prog
