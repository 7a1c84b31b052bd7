"""Separate compilation: a program's units (``codegen.llvm_modules``) compiled to objects in
parallel, each object cached on disk under a key made from its IR, and linked into one library.

Parallelism: llvmlite serializes every call into LLVM with one process-wide lock, so threads
alone would run one compilation at a time (measured: no speedup).  Each unit therefore gets its
own ``LLVMContext`` (parsed under llvmlite's lock: quick) and each worker thread its own
``TargetMachine``; the two expensive calls -- the optimization pipeline and machine-code emission
-- go straight to the foreign functions, without llvmlite's lock (ctypes releases the GIL), which
LLVM supports for modules in distinct contexts.  Where llvmlite does not expose its foreign
functions that way, the locked calls are used (correct, one at a time).  The pool has
``os.cpu_count()`` threads; rendering (Python, in the calling thread) overlaps compiling.

Pipelines are chosen per unit kind (:data:`PIPELINES`) and are part of the object's key.

A warm start (the library is in the disk cache) loads neither LLVM nor the code generator: the
library's key (:func:`library_key`) is computed from the kernel descriptions, a fingerprint of
the code generator (:func:`codegen_fingerprint`) and the target, and LLVM's view of this host's
CPU is remembered in the cache under a fingerprint of ``/proc/cpuinfo`` (:func:`library_target`).
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import hashlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import llvmlite   # the package only (its version); llvmlite.binding loads LLVM: imported lazily

from . import cache

__all__ = ["Pipeline", "PIPELINES", "Timings", "build_library", "codegen_fingerprint",
           "compile_text", "library_key", "target_id"]

#: bump when the way objects are produced changes (part of every key)
FORMAT = "units-v1"


@dataclass(frozen=True)
class Pipeline:
    """LLVM's default pipeline at ``speed`` (0: no IR passes) with these loop options."""
    speed: int = 3
    vectorize: bool = True
    unroll: bool = True
    interleave: bool = True

    def key(self) -> str:
        return f"O{self.speed}:v{int(self.vectorize)}:u{int(self.unroll)}:i{int(self.interleave)}"


#: per unit kind.  Kernels: LLVM's O1 pipeline with loop vectorization, interleaving and SLP but
#: no loop unrolling; helpers (GEMM drivers, micro-kernels, packing: compiled once per library
#: and cached across programs) also unroll.  Measured on the MLP train step's units
#: (examples/benchmarks/compile_time.py; Zen 3, one thread): kernel units 3.2 s of CPU at O3 ->
#: 2.0 s at O1 -> 1.6 s without unrolling; a row reduction over a short static axis (softmax's
#: max over 10 classes) compiled in 84 ms with unrolling (fully unrolled, then SLP-vectorized)
#: and 41 ms without.  The price: an in-cache gather loop with div/mod index math ran up to 1.4x
#: slower without unrolling; vectorized loops keep their interleaving.  Elementwise kernels and
#: the GEMM shapes of the MLP ran at the same speed at O1 as at O3 within the noise (+-3 %).
#: The thread runtime and the entry point (straight-line calls) need no IR optimization.
PIPELINES: Dict[str, Pipeline] = {
    "kernel": Pipeline(1, unroll=False),
    "helper": Pipeline(1),
    "runtime": Pipeline(1),
    "entry": Pipeline(0),
}


class Timings:
    """Seconds per phase, summed over threads (``parse``, ``optimize``, ``codegen``), plus
    counts of objects compiled and found in the cache."""

    def __init__(self):
        self._lock = threading.Lock()
        self.seconds: Dict[str, float] = {}
        self.compiled = 0
        self.cached = 0

    def add(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds


# ---------------------------------------------------------------------------------------------
# targets
_target_lock = threading.Lock()
_targets: Dict[str, tuple] = {}
_local = threading.local()


def _llvm():
    import llvmlite.binding as llvm
    return llvm


def _cpu_spec(cpu: str) -> tuple:
    """``(LLVM CPU name, features)`` as ``llvm_backend._target_machine`` chooses them."""
    llvm = _llvm()
    if cpu == "host":
        return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    if cpu == "generic":
        return ("x86-64" if _is_x86() else "generic"), ""
    return cpu, ""


def target_id(cpu: str = "host") -> tuple:
    """``(triple, cpu name, features)`` for ``cpu`` (``host``, ``generic`` or an LLVM CPU name)."""
    with _target_lock:
        t = _targets.get(cpu)
        if t is None:
            from codegen import llvm_backend
            tm = llvm_backend._target_machine(cpu)   # initializes LLVM's native target
            t = _targets[cpu] = (tm.triple,) + _cpu_spec(cpu)
        return t


def _machine(cpu: str) -> "llvm.TargetMachine":
    """This thread's target machine for ``cpu`` (a TargetMachine is not shared between threads
    that compile at the same time)."""
    machines = getattr(_local, "machines", None)
    if machines is None:
        machines = _local.machines = {}
    tm = machines.get(cpu)
    if tm is None:
        _, name, features = target_id(cpu)
        target = _llvm().Target.from_default_triple()
        tm = machines[cpu] = target.create_target_machine(
            cpu=name, features=features, opt=3, reloc="pic", codemodel="default")
    return tm


def _is_x86() -> bool:
    import platform
    return platform.machine().lower() in ("x86_64", "amd64")


# ---------------------------------------------------------------------------------------------
# calls into LLVM without llvmlite's lock
def _unlocked(name: str):
    """The foreign function ``name`` of libllvmlite, or its locked wrapper."""
    fn = getattr(_llvm().ffi.lib, name)
    return getattr(fn, "_cfn", fn)


def _run_pipeline(mod: "llvm.ModuleRef", tm, pipeline: Pipeline) -> None:
    if pipeline.speed <= 0:
        return
    llvm = _llvm()
    pto = llvm.create_pipeline_tuning_options(speed_level=pipeline.speed)
    pto.loop_vectorization = pipeline.vectorize
    pto.slp_vectorization = pipeline.vectorize
    pto.loop_unrolling = pipeline.unroll
    pto.loop_interleaving = pipeline.interleave
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    _unlocked("LLVMPY_RunNewModulePassManager")(mpm, mod, pb)


def _emit_object(tm, mod: "llvm.ModuleRef") -> bytes:
    ffi = _llvm().ffi
    with ffi.OutputString() as err:
        mb = _unlocked("LLVMPY_TargetMachineEmitToMemory")(tm, mod, 1, err)
        if not mb:
            raise RuntimeError(str(err))
    start, size = ffi.lib.LLVMPY_GetBufferStart(mb), ffi.lib.LLVMPY_GetBufferSize(mb)
    try:
        return ctypes.string_at(start, size)
    finally:
        ffi.lib.LLVMPY_DisposeMemoryBuffer(mb)


def compile_text(text: str, pipeline: Pipeline, cpu: str = "host",
                 timings: Optional[Timings] = None) -> bytes:
    """Parse, verify, optimize ``text`` with ``pipeline`` and return an object file."""
    from codegen.errors import CompileError
    from codegen.errors import save_failed
    llvm = _llvm()
    tm = _machine(cpu)
    t0 = time.perf_counter()
    ctx = llvm.create_context()
    try:
        mod = llvm.parse_assembly(text, context=ctx)
        mod.verify()
    except RuntimeError as err:
        path = save_failed(text, "module.ll")
        raise CompileError(f"invalid LLVM IR ({err}); source saved to {path}") from None
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    t1 = time.perf_counter()
    _run_pipeline(mod, tm, pipeline)
    t2 = time.perf_counter()
    obj = _emit_object(tm, mod)
    t3 = time.perf_counter()
    mod.close()
    if timings is not None:
        timings.add("parse", t1 - t0)
        timings.add("optimize", t2 - t1)
        timings.add("codegen", t3 - t2)
    return obj


# ---------------------------------------------------------------------------------------------
# the pool and the object cache
_pool_lock = threading.Lock()
_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
_pool_pid = 0


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """The compile pool (a new one in a forked child: the parent's threads do not exist there)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="graphnn-compile")
            _pool_pid = os.getpid()
        return _pool


def object_key(text: str, kind: str, cpu: str = "host") -> str:
    triple, name, features = target_id(cpu)
    return cache.key_of(text, PIPELINES[kind].key(), triple, name, features,
                        llvmlite.__version__, FORMAT)


class ObjectBuilder:
    """Compiles units as they are handed over (:meth:`add`), in the pool, each object looked up
    in and stored to the disk cache; :meth:`paths` waits and returns the object files in the
    order the units were added."""

    def __init__(self, cpu: str = "host", timings: Optional[Timings] = None):
        self.cpu = cpu
        self.timings = timings if timings is not None else Timings()
        self._futures: List[concurrent.futures.Future] = []

    def add(self, kind: str, text: str) -> str:
        """Compile (or find) the object of a unit; return its key."""
        key = object_key(text, kind, self.cpu)
        path = cache.cached_path(key, ".o", "objects")
        if path is not None:
            self.add_path(path)
            return key
        self.timings.compiled += 1
        self._futures.append(_executor().submit(self._build, key, kind, text))
        return key

    def add_path(self, path: str) -> None:
        """An object found in the cache."""
        self.timings.cached += 1
        done = concurrent.futures.Future()
        done.set_result(path)
        self._futures.append(done)

    def _build(self, key: str, kind: str, text: str) -> str:
        obj = compile_text(text, PIPELINES[kind], self.cpu, self.timings)
        return cache.store(key, obj, ".o", "objects")

    def paths(self) -> List[str]:
        return [f.result() for f in self._futures]


# ---------------------------------------------------------------------------------------------
# whole programs
def _plain(v):
    """A canonical text of plain data (numbers, strings, containers of them), or None."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        parts = [_plain(x) for x in v]
        return None if None in parts else "(" + ",".join(parts) + ")"
    if isinstance(v, (set, frozenset)):
        parts = [_plain(x) for x in v]
        return None if None in parts else "{" + ",".join(sorted(parts)) + "}"
    if isinstance(v, dict):
        items = [(_plain(k), _plain(x)) for k, x in v.items()]
        if any(k is None or x is None for k, x in items):
            return None
        return "{" + ",".join(f"{k}:{x}" for k, x in sorted(items)) + "}"
    return None


#: the code generator's modules whose public upper-case constants (tunables: block sizes,
#: thresholds) count when a program changed them at run time
_CODEGEN_MODULES = ("codegen.mathlib", "codegen.llvm_backend", "codegen.gemm_llvm",
                    "codegen.threads", "codegen.vecmath", "codegen.llvm_modules")
_fp_lock = threading.Lock()
_source_digests: Dict[tuple, str] = {}
_source_constants: Dict[tuple, Dict[str, str]] = {}


def _is_constant_name(name: str) -> bool:
    return name[:1].isupper() and name.upper() == name


_ASSIGN = re.compile(r"^([A-Z][A-Z0-9_]*)\s*(?::[^=]*)?=\s*(.*)$")
_BINOPS = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mult": lambda a, b: a * b,
           "Div": lambda a, b: a / b, "FloorDiv": lambda a, b: a // b, "Mod": lambda a, b: a % b,
           "Pow": lambda a, b: a ** b, "LShift": lambda a, b: a << b,
           "RShift": lambda a, b: a >> b, "BitOr": lambda a, b: a | b,
           "BitAnd": lambda a, b: a & b, "BitXor": lambda a, b: a ^ b}


def _constant_value(node):
    """The value of a constant expression: literals, containers, arithmetic (``1 << 18``)."""
    import ast
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_constant_value(e) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else \
            items if isinstance(node, ast.List) else set(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_constant_value(k): _constant_value(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and type(node.op).__name__ in ("USub", "UAdd", "Invert"):
        v = _constant_value(node.operand)
        return {"USub": lambda: -v, "UAdd": lambda: +v, "Invert": lambda: ~v}[
            type(node.op).__name__]()
    if isinstance(node, ast.BinOp) and type(node.op).__name__ in _BINOPS:
        return _BINOPS[type(node.op).__name__](_constant_value(node.left),
                                               _constant_value(node.right))
    raise ValueError("not a constant expression")


def _literal_constants(path: str) -> Dict[str, str]:
    """``{NAME: canonical text}`` of the module-level ``NAME = <constant expression>``
    statements of the source file ``path``: the values the module starts with.  (Line-based:
    parsing only the right-hand sides is much cheaper than parsing the module.)"""
    import ast
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = {}
    i = 0
    while i < len(lines):
        m = _ASSIGN.match(lines[i])
        i += 1
        if not m:
            continue
        rhs = [m.group(2)]
        depth = sum(rhs[0].count(c) for c in "([{") - sum(rhs[0].count(c) for c in ")]}")
        while depth > 0 and i < len(lines):
            rhs.append(lines[i])
            depth += sum(lines[i].count(c) for c in "([{") - sum(lines[i].count(c) for c in ")]}")
            i += 1
        try:
            text = _plain(_constant_value(ast.parse("\n".join(rhs).strip(), mode="eval").body))
        except (ValueError, TypeError, SyntaxError, ArithmeticError, RecursionError):
            continue
        if text is not None:
            out[m.group(1)] = text
    return out


def codegen_fingerprint() -> str:
    """What, besides a ``ProgramDesc``, decides the generated code: the source of the
    ``codegen`` package and of this module, and the public upper-case constants of the LLVM code
    generator's modules that differ from the literal they have in the source (a block size or
    threshold changed at run time by a test or a user).  Imports nothing: a module that is not
    imported has its source values."""
    import codegen
    root = os.path.dirname(os.path.abspath(codegen.__file__))
    files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".py"))
    files.append(os.path.abspath(__file__))
    stamp = tuple((f, st.st_mtime_ns, st.st_size) for f in files for st in [os.stat(f)])
    with _fp_lock:
        digest = _source_digests.get(stamp)
        if digest is None:
            h = hashlib.sha256()
            for f in files:
                with open(f, "rb") as fh:
                    h.update(fh.read())
            digest = _source_digests[stamp] = h.hexdigest()
    changed = []
    for name in _CODEGEN_MODULES:
        mod = sys.modules.get(name)
        path = getattr(mod, "__file__", None)
        if path is None:
            continue
        st = os.stat(path)
        skey = (path, st.st_mtime_ns, st.st_size)
        with _fp_lock:
            defaults = _source_constants.get(skey)
            if defaults is None:
                defaults = _source_constants[skey] = _literal_constants(path)
        for attr, source_text in sorted(defaults.items()):
            if attr in vars(mod):
                now = _plain(vars(mod)[attr])
                if now != source_text:
                    changed.append(f"{name}.{attr}={now}")
    return cache.key_of(digest, *changed)


#: /proc/cpuinfo fields that decide what LLVM reports for the host (x86 and Arm spellings)
_CPUINFO_FIELDS = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags",
                   "Features", "CPU implementer", "CPU architecture", "CPU variant", "CPU part",
                   "CPU revision", "isa", "uarch")
_library_target: Optional[tuple] = None


def _cpuinfo_key() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n", 1)[0]
    except OSError:
        return None
    fields = []
    for line in first.splitlines():
        k, _, v = line.partition(":")
        if k.strip() in _CPUINFO_FIELDS:
            fields.append(f"{k.strip()}={' '.join(v.split())}")
    if not fields:
        return None
    import platform
    return cache.key_of("cpuinfo", platform.machine(), sys.platform, llvmlite.__version__, *fields)


def library_target() -> tuple:
    """:func:`target_id` of the host, without loading LLVM when the disk cache remembers LLVM's
    answer for this ``/proc/cpuinfo`` (CPU model, stepping and feature flags) and llvmlite
    version."""
    global _library_target
    if _library_target is not None:
        return _library_target
    fp = _cpuinfo_key()
    path = cache.cached_path(fp, ".txt", "targets") if fp else None
    if path is not None:
        with open(path) as f:
            t = tuple(f.read().split("\n"))
        if len(t) == 3:
            _library_target = t
            return t
    t = target_id("host")
    if fp:
        cache.store(fp, "\n".join(t).encode(), ".txt", "targets")
    _library_target = t
    return t


def library_key(desc) -> Optional[str]:
    """The disk-cache key of the linked library for ``desc`` (host CPU), computed without
    rendering it: the code is a function of the description, the code generator
    (:func:`codegen_fingerprint`), the pipelines, the target and llvmlite.  None when the
    description has no stable text (an object without a value ``repr``)."""
    text = repr(desc)
    if " object at 0x" in text:
        return None
    pipelines = ";".join(f"{k}={p.key()}" for k, p in sorted(PIPELINES.items()))
    return cache.key_of("library", text, codegen_fingerprint(), pipelines, *library_target(),
                        llvmlite.__version__, FORMAT, sys.platform)


class KernelIndex:
    """Kernels compiled before, by description: a kernel whose description, parameters'
    aliasing, code generator and target equal those of a kernel compiled before is not rendered
    again; its object and those of its helpers are taken from the cache (``kernels/<key>.json``:
    the symbol, the object keys and the library state it uses)."""

    def __init__(self, cpu: str = "host"):
        self.cpu = cpu
        pipelines = ";".join(f"{k}={p.key()}" for k, p in sorted(PIPELINES.items()))
        self._context = (codegen_fingerprint(), pipelines, *target_id(cpu), llvmlite.__version__,
                         FORMAT)
        self.keys: Dict[str, str] = {}          # kernel name -> index key (this program)
        self.objects: Dict[str, str] = {}       # symbol or helper name -> object key

    def key(self, kernel, noalias) -> Optional[str]:
        import dataclasses
        text = repr(dataclasses.replace(kernel, name="", origin=""))
        if " object at 0x" in text:
            return None
        return cache.key_of("kernel", text, ",".join(sorted(noalias)), *self._context)

    def lookup(self, kernel, noalias):
        """``skip`` for ``llvm_modules.iter_units``: a ``Compiled`` record when the kernel's
        object and its helpers' objects are all in the cache."""
        import json

        from codegen.llvm_modules import Compiled
        key = self.key(kernel, noalias)
        if key is None:
            return None
        self.keys[kernel.name] = key
        path = cache.cached_path(key, ".json", "kernels")
        if path is None:
            return None
        try:
            with open(path) as f:
                entry = json.load(f)
            objects = {entry["symbol"]: entry["object"], **entry["helpers"]}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if any(cache.cached_path(k, ".o", "objects") is None for k in objects.values()):
            return None
        self.objects.update(objects)
        return Compiled(entry["symbol"], sorted(entry["helpers"]), dict(entry["state"]))

    def record(self, unit) -> None:
        """Remember a rendered kernel unit (after its objects and its helpers' are built)."""
        import json
        if unit.cached or unit.helpers is None or \
                any(h not in self.objects for h in unit.helpers):
            return
        entry = json.dumps({"symbol": unit.symbol, "object": self.objects[unit.symbol],
                            "helpers": {h: self.objects[h] for h in unit.helpers},
                            "state": unit.state}, sort_keys=True).encode()
        for name in unit.kernels:
            if name in self.keys:
                cache.store(self.keys[name], entry, ".json", "kernels")


def build_library(desc, out_path: str, *, cpu: str = "host", timings: Dict[str, float] = None,
                  comments: bool = False, name: str = "program", extra_objects=()):
    """Render ``desc`` unit by unit, compile the units (in parallel, objects cached) as they
    are rendered, and link them into ``out_path``.  Returns the units
    (``codegen.llvm_modules.Units``).  ``timings`` receives ``rendering``, ``parse``,
    ``optimize``, ``codegen`` (summed over threads), ``compile`` (waiting for the objects after
    rendering) and ``link`` seconds, and the object counts ``objects_compiled`` and
    ``objects_cached``.  ``extra_objects`` (paths) are linked in too (ahead-of-time libraries:
    the embedded weights and the C wrapper)."""
    from codegen import llvm_backend
    from codegen.errors import CompileError
    from codegen.llvm_modules import Units, iter_units
    tim = Timings()
    builder = ObjectBuilder(cpu, tim)
    index = KernelIndex(cpu)
    units, symbols = [], {}
    t0 = time.perf_counter()
    adding = 0.0
    try:
        for unit in iter_units(desc, comments=comments, symbols=symbols, skip=index.lookup):
            units.append(unit)
            a = time.perf_counter()
            if unit.cached:
                builder.add_path(cache.cached_path(index.objects[unit.symbol], ".o", "objects"))
            else:
                index.objects[unit.symbol] = builder.add(unit.kind, unit.text)
            adding += time.perf_counter() - a
    except Exception as e:
        raise CompileError(f"generating LLVM IR for {name!r} failed: {e}") from e
    t1 = time.perf_counter()
    try:
        paths = builder.paths()
        t2 = time.perf_counter()
        llvm_backend.link_shared(list(paths) + [os.fspath(p) for p in extra_objects], out_path)
    except CompileError as e:
        raise CompileError(f"while compiling {name!r}: {e}") from None
    t3 = time.perf_counter()
    for unit in units:
        if unit.kind == "kernel":
            index.record(unit)
    if timings is not None:
        timings["rendering"] = t1 - t0 - adding
        timings["compile"] = t2 - t1 + adding
        for phase in ("parse", "optimize", "codegen"):
            timings[phase] = tim.seconds.get(phase, 0.0)
        timings["link"] = t3 - t2
        timings["objects_compiled"] = tim.compiled
        timings["objects_cached"] = tim.cached
    return Units(units, symbols)
