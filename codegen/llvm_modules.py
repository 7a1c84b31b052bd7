"""A program as several small LLVM modules ("units") instead of one, for separate compilation.

:func:`iter_units` / :func:`render_units` render a :class:`~codegen.kernel.ProgramDesc` as:

* one **kernel unit** per kernel: the kernel as an external function with hidden visibility,
  named after a hash of its own IR (``graphnn_k_<hash>``), with its outlined parallel-loop and
  Gemm task functions and the always-inline math it uses (``codegen.vecmath``, Philox, integer
  power) inside as internal functions, so O3 sees the same code as in the whole-program module;
* one **helper unit** per shared ``noinline`` helper (the GEMM micro-kernels, packing and merge
  routines of ``codegen.gemm_llvm``): hidden, defined once per library, declared by the kernels
  that call it;
* the **runtime unit**: the thread runtime of ``codegen.threads`` (the exported
  ``graphnn_set_num_threads`` / ``graphnn_get_num_threads``, the fork guard, and the library's
  mutable globals: thread count, back-off ...), defined once per library with hidden visibility
  and declared by every kernel that uses it;
* the **entry unit**: ``graphnn_entry(slots, symbols)`` calling the kernels by declaration.

A unit's text depends only on what it defines (only the entry unit depends on the program), so
its compiled object can be cached under a key made from its text and reused by every program that
contains the same kernel or helper (``runtime.compiler``): a unit holds the definitions reachable
from its root in the order they were created, then the declarations it uses, sorted by name.
Hidden visibility keeps each library's copy of the runtime state its own, as in the single module
of ``llvm_backend.render_module``.

What is shared is decided from the rendered IR, not from names: an internal function marked
``noinline`` that is not part of the kernel becomes a helper unit, an internal mutable global
becomes library state defined in the runtime unit; internal constants and other internal
functions (always-inline math) are copied into every unit that uses them.  Helpers are generated
once per program: later kernel modules start with their declarations, which the generators
(``module.globals.get(name)``) pick up instead of building them again.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

from llvmlite import ir

from . import llvm_backend as lb
from . import mathlib as ml
from . import threads
from .errors import CompileError
from .kernel import ProgramDesc

__all__ = ["Unit", "Units", "render_units", "iter_units"]

#: the kernel's name while it is rendered; replaced by ``graphnn_k_<hash of the text>``
_PLACEHOLDER = "graphnn_kernel_placeholder"
_HEADER = '; ModuleID = "{name}"\ntarget triple = "unknown-unknown-unknown"\ntarget datalayout = ""\n\n'
_REF = re.compile(r'@"((?:[^"\\]|\\.)*)"|@([-a-zA-Z$._][-a-zA-Z$._0-9]*)')


@dataclass
class Unit:
    """One module to compile: ``kind`` is ``kernel``, ``helper``, ``runtime`` or ``entry``;
    ``symbol`` names the function it defines; ``text`` is its LLVM IR."""
    kind: str
    symbol: str
    text: str
    #: the program's kernels this unit implements (kernel units)
    kernels: List[str] = field(default_factory=list)
    #: not rendered: compiled before (``iter_units``'s ``skip``); ``text`` is empty
    cached: bool = False
    #: kernel units: the helper units it calls and the library state it uses (name -> hidden
    #: definition), for linking it again without rendering it (``helpers`` None: not possible)
    helpers: Optional[List[str]] = field(default_factory=list)
    state: Dict[str, str] = field(default_factory=dict)


@dataclass
class Units:
    units: List[Unit]
    #: kernel name -> symbol of its unit
    symbols: Dict[str, str]

    def text(self) -> str:
        """All units as one text (``GRAPHNN_DEBUG=3``, ``Program.source``)."""
        return "\n".join(f"; ==== {u.kind} unit {u.symbol}"
                         + (f" ({', '.join(u.kernels)})" if u.kernels else "") + f"\n{u.text}"
                         for u in self.units)


def _decorate(text: str) -> str:
    """Add the function attributes llvmlite cannot express to every definition (as
    ``llvm_backend._decorate`` does)."""
    if "define " not in text:
        return text
    out: List[str] = []
    for line in text.splitlines():
        if line.startswith("define "):
            line = f"{line} {lb._FN_ATTRS}"
        out.append(line)
    return "\n".join(out) + "\n"


def _refs(text: str) -> List[str]:
    """Names of the globals ``text`` refers to (``@name`` / ``@"name"``), first occurrence first."""
    names: Dict[str, None] = {}
    for quoted, plain in _REF.findall(text):
        names[plain or quoted.replace("\\22", '"').replace("\\5c", "\\")] = None
    return list(names)


def _is_helper(g, own_prefix: str) -> bool:
    return (isinstance(g, ir.Function) and bool(g.blocks) and g.linkage == "internal"
            and "noinline" in g.attributes and not g.name.startswith(own_prefix))


def _is_state(g) -> bool:
    return isinstance(g, ir.GlobalVariable) and g.linkage == "internal" and not g.global_constant


def _is_definition(g) -> bool:
    if isinstance(g, ir.Function):
        return bool(g.blocks)
    return isinstance(g, ir.GlobalVariable) and g.initializer is not None


def _text(g) -> str:
    """One global as text; library state declared in another unit gets ``hidden``."""
    if isinstance(g, ir.Function):
        return _decorate(str(g))
    g._clear_string_cache()
    text = str(g)
    if getattr(g, "hidden_decl", False):
        ref = g.get_reference()
        kind = "constant" if g.global_constant else "global"
        text = text.replace(f"{ref} = external {kind} ", f"{ref} = external hidden {kind} ", 1)
    return text + "\n"


def _assemble(module: ir.Module, roots: List[str], name: str,
              own: Optional[Dict[str, str]] = None, reached: Optional[set] = None) -> str:
    """A module text with the globals of ``module`` reachable from ``roots``: the definitions in
    creation order, then the declarations sorted by name.  ``own`` overrides the text of some
    globals (a helper's definition after it became a declaration in ``module``)."""
    own = own or {}
    texts: Dict[str, str] = {}

    def text(n: str) -> str:
        if n not in texts:
            texts[n] = own[n] if n in own else _text(module.globals[n])
        return texts[n]

    seen = set(roots)
    stack = list(roots)
    while stack:
        for r in _refs(text(stack.pop())):
            if r not in seen and r in module.globals:
                seen.add(r)
                stack.append(r)
    defs = [n for n in module.globals if n in seen and (n in own or _is_definition(module.globals[n]))]
    decls = sorted(n for n in seen if n not in defs)
    if reached is not None:
        reached.update(seen)
    return _HEADER.format(name=name) + "".join(text(n) for n in defs) + "".join(
        text(n) for n in decls)


class _Helpers:
    """Shared helpers and library state found in kernel modules."""

    def __init__(self):
        self.units: Dict[str, str] = {}        # helper name -> unit text
        self.decls: Dict[str, tuple] = {}      # helper name -> how to declare it again
        self.state: Dict[str, str] = {}        # global name -> hidden definition

    def closure(self, names: set) -> set:
        """``names`` plus every global the helpers among them refer to, transitively (a
        kernel compiled before must bring the helpers its helpers call)."""
        seen, stack = set(names), [n for n in names if n in self.units]
        while stack:
            for ref in _refs(self.units[stack.pop()]):
                if ref not in seen:
                    seen.add(ref)
                    if ref in self.units:
                        stack.append(ref)
        return seen

    def predeclare(self, module: ir.Module) -> None:
        """Declare the helpers seen so far in ``module`` (the generators then reuse them)."""
        for name, (ftype, attrs, args) in self.decls.items():
            _declare(module, name, ftype, attrs, args)

    def split(self, module: ir.Module, own_prefix: str) -> List[str]:
        """Turn the helpers ``module`` defines into hidden declarations (recording their unit
        texts) and its mutable internal globals into external hidden declarations; return the
        names of the helpers not seen before."""
        helpers = [g for g in module.globals.values() if _is_helper(g, own_prefix)]
        for gv in [g for g in module.globals.values() if _is_state(g)]:
            gv.linkage = "hidden"
            text = _text(gv)
            if self.state.setdefault(gv.name, text) != text:
                raise CompileError(f"library state {gv.name!r} is generated differently for two "
                                   "kernels (one definition per library)")
            gv.linkage, gv.initializer, gv.hidden_decl = "external", None, True
        defs = {}
        for fn in helpers:
            fn.linkage = "hidden"
            defs[fn.name] = _text(fn)
        for fn in helpers:
            fn.blocks = []
        new = []
        for fn in helpers:
            unit = _assemble(module, [fn.name], fn.name, {fn.name: defs[fn.name]})
            if fn.name in self.units:    # generated again (not predeclared): must be the same
                if self.units[fn.name] != unit:
                    raise CompileError(f"helper {fn.name!r} is generated differently for two "
                                       "kernels (one definition per library)")
                continue
            self.units[fn.name] = unit
            new.append(fn.name)
            template = (fn.ftype, sorted(fn.attributes),
                        [(a.name, sorted(a.attributes)) for a in fn.args])
            # reuse the declaration only if it prints exactly like this one
            probe = _declare(ir.Module(), fn.name, *template)
            if str(probe) == str(fn):
                self.decls[fn.name] = template
        return new


def _declare(module: ir.Module, name: str, ftype, attrs, args) -> ir.Function:
    fn = ir.Function(module, ftype, name=name)
    fn.linkage = "hidden"
    for a in attrs:
        fn.attributes.add(a)
    for arg, (arg_name, arg_attrs) in zip(fn.args, args):
        arg.name = arg_name
        for a in arg_attrs:
            arg.add_attribute(a)
    return fn


def _annotate(text: str, head: str, note: List[str]) -> str:
    """``note`` lines inserted before the line that starts with ``head``."""
    at = text.find("\n" + head)
    return text if at < 0 else text[:at + 1] + "".join(f"{n}\n" for n in note) + text[at + 1:]


def render_units(desc: ProgramDesc, *, comments: bool = False) -> Units:
    """The units of ``desc`` (see the module docstring): kernel units in the order of
    ``desc.kernels`` (identical kernels once), each helper after the first kernel that uses it,
    then the runtime and the entry."""
    symbols: Dict[str, str] = {}
    units = list(iter_units(desc, comments=comments, symbols=symbols))
    return Units(units, symbols)


def kernel_type(k) -> ir.FunctionType:
    """The type of kernel ``k``'s function: ``void(ptr per param, i64 per symbol)``."""
    return ir.FunctionType(ir.VoidType(), [ir.PointerType()] * len(k.params)
                           + [ir.IntType(64)] * len(k.symbols))


@dataclass
class Compiled:
    """What ``iter_units`` needs to use a kernel compiled before instead of rendering it."""
    symbol: str
    helpers: List[str]
    state: Dict[str, str]


def iter_units(desc: ProgramDesc, *, comments: bool = False, symbols: Dict[str, str] = None,
               skip: Optional[Callable[[object, frozenset], Optional[Compiled]]] = None
               ) -> Iterator[Unit]:
    """:func:`render_units` one unit at a time (compiling can start before rendering ends);
    fills ``symbols`` (kernel name -> symbol) as it goes.  ``skip(kernel, noalias params)`` may
    return a :class:`Compiled` record: the kernel is then not rendered and its unit, and those
    of the helpers it calls, come with ``cached=True`` and no text.  A rendered kernel unit lists
    its helpers and library state (``Unit.helpers``, ``Unit.state``): what such a record needs."""
    kernels = ml.check_program(desc)
    symbols = {} if symbols is None else symbols
    # the runtime first: what it defines is never a helper unit
    runtime = ir.Module(name="graphnn.runtime")
    threads.emit_thread_api(runtime)
    for g in runtime.globals.values():
        if _is_state(g) or _is_helper(g, "\0"):
            g.linkage = "hidden"
            if isinstance(g, ir.GlobalVariable):
                g._clear_string_cache()
    in_runtime = set(runtime.globals)
    helpers = _Helpers()
    by_digest: Dict[str, Unit] = {}
    by_symbol: Dict[str, Unit] = {}
    fn_types: Dict[str, ir.FunctionType] = {}
    helper_units: set = set(in_runtime)      # helper names yielded (or in the runtime)
    state: Dict[str, str] = {}               # library state kernels use
    for k in desc.kernels:
        noalias = {p.name for p in k.params} - ml.shared_slot_params(desc, k)
        done = skip(k, frozenset(noalias)) if skip is not None else None
        if done is not None:
            symbols[k.name] = done.symbol
            fn_types[k.name] = kernel_type(k)
            state.update(done.state)
            if done.symbol in by_symbol:
                by_symbol[done.symbol].kernels.append(k.name)
                continue
            unit = by_symbol[done.symbol] = Unit("kernel", done.symbol, "", [k.name], cached=True,
                                                 helpers=list(done.helpers),
                                                 state=dict(done.state))
            yield unit
            for name in done.helpers:
                if name not in helper_units:
                    helper_units.add(name)
                    yield Unit("helper", name, "", cached=True)
            continue
        module = ir.Module(name="graphnn")
        helpers.predeclare(module)
        fn = lb._KernelEmitter(module, k, noalias, comments, name=_PLACEHOLDER).emit()
        fn.linkage = "hidden"
        new_helpers = helpers.split(module, _PLACEHOLDER)
        reached: set = set()
        text = _assemble(module, [_PLACEHOLDER], "graphnn", reached=reached)
        digest = hashlib.sha256(text.encode()).hexdigest()
        sym = f"graphnn_k_{digest[:24]}"
        symbols[k.name] = sym
        fn_types[k.name] = fn.ftype
        if digest in by_digest:
            by_digest[digest].kernels.append(k.name)
        elif sym in by_symbol:          # compiled before (skipped) under another name
            by_symbol[sym].kernels.append(k.name)
        else:
            if comments:
                note = [f"; kernel {k.name}" + (f" (flops {k.flops})" if k.flops else "")]
                note += [f";   {line}" for line in k.origin.splitlines() if line.strip()]
                text = _annotate(text, f'define hidden void @"{_PLACEHOLDER}"(', note)
            reached = helpers.closure(reached)     # and what the helpers it calls use
            used = sorted(n for n in reached if n in helpers.units and n not in in_runtime)
            used_state = {n: helpers.state[n] for n in sorted(reached) if n in helpers.state}
            if fn.ftype != kernel_type(k):   # never reused without rendering (see Compiled)
                used = None
            unit = Unit("kernel", sym, text.replace(f'@"{_PLACEHOLDER}', f'@"{sym}'), [k.name],
                        helpers=used, state=used_state)
            by_digest[digest] = by_symbol[sym] = unit
            yield unit
        for name in new_helpers:
            if name not in helper_units:
                helper_units.add(name)
                yield Unit("helper", name, helpers.units[name])

    # library state that kernels use and the thread runtime does not define
    state.update(helpers.state)
    extra = "".join(t for n, t in state.items() if n not in in_runtime)
    yield Unit("runtime", "graphnn.runtime", _decorate(str(runtime)) + extra)

    entry = ir.Module(name="graphnn.entry")
    decls = {}
    for name, sym in symbols.items():
        if sym not in entry.globals:
            _declare(entry, sym, fn_types[name], (), ())
        decls[name] = entry.globals[sym]
    lb._emit_entry(entry, desc, kernels, decls)
    lb._emit_entry(entry, desc, kernels, decls, profiled=True)
    yield Unit("entry", desc.entry, _decorate(str(entry)))
