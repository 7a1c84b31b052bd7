"""GPU backend: print a :class:`~codegen.kernel.ProgramDesc` as one CUDA C translation unit and
compile it to PTX with nvcc.

Each kernel becomes ``extern "C" __global__ void name(T* __restrict__ buf..., long long sym...)``.
The first top-level ``parallel`` loop becomes a grid-stride loop; a kernel without one runs in
thread 0 of block 0.  Helpers reproduce numpy's semantics where C's differ (NaN-propagating
maximum/minimum, np.sign, float mod) so GPU and CPU results agree.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, List, Set

import numpy as np

from . import mathlib as ml
from .errors import CompileError, save_failed
from .kernel import (PHILOX_M, PHILOX_ROUNDS, PHILOX_W, Assign, Call, Const, Expr, For, Gemm, If,
                     Kernel, Load, ProgramDesc, Store, Var)

__all__ = ["CompileError", "render_module", "compile_ptx", "nvcc_available"]

_CTYPE = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long",
          "uint32": "unsigned int", "bool": "bool"}
#: element type in memory: bool is one byte
_MEMTYPE = dict(_CTYPE, bool="unsigned char")

#: float math functions: op -> (float32 name, float64 name)
_FMATH = {"exp": ("expf", "exp"), "log": ("logf", "log"), "sqrt": ("sqrtf", "sqrt"),
          "tanh": ("tanhf", "tanh"), "sin": ("sinf", "sin"), "cos": ("cosf", "cos"),
          "floor": ("floorf", "floor"), "abs": ("fabsf", "fabs"), "pow": ("powf", "pow"),
          "sigmoid": ("gn_sigmoid", "gn_sigmoid"), "mod": ("gn_mod", "gn_mod"),
          "floordiv": ("gn_floordiv", "gn_floordiv")}
#: ops rendered by an overloaded helper of the prelude (all dtypes)
_HELPERS = {"maximum": "gn_max", "minimum": "gn_min", "sign": "gn_sign"}
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "/", "mod": "%",
          "equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=", "greater": ">",
          "greater_equal": ">="}

_PRELUDE = """\
#include <stdint.h>

#define GN_DEVICE static __device__ __forceinline__

/* np.maximum / np.minimum: NaN in either argument gives NaN (fmaxf would drop it). */
GN_DEVICE float gn_max(float a, float b) { return (a != a || a > b) ? a : b; }
GN_DEVICE double gn_max(double a, double b) { return (a != a || a > b) ? a : b; }
GN_DEVICE float gn_min(float a, float b) { return (a != a || a < b) ? a : b; }
GN_DEVICE double gn_min(double a, double b) { return (a != a || a < b) ? a : b; }
GN_DEVICE int gn_max(int a, int b) { return a > b ? a : b; }
GN_DEVICE long long gn_max(long long a, long long b) { return a > b ? a : b; }
GN_DEVICE unsigned int gn_max(unsigned int a, unsigned int b) { return a > b ? a : b; }
GN_DEVICE bool gn_max(bool a, bool b) { return a || b; }
GN_DEVICE int gn_min(int a, int b) { return a < b ? a : b; }
GN_DEVICE long long gn_min(long long a, long long b) { return a < b ? a : b; }
GN_DEVICE unsigned int gn_min(unsigned int a, unsigned int b) { return a < b ? a : b; }
GN_DEVICE bool gn_min(bool a, bool b) { return a && b; }

/* np.sign: 0 and NaN are returned unchanged. */
GN_DEVICE float gn_sign(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); }
GN_DEVICE double gn_sign(double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x); }
GN_DEVICE int gn_sign(int x) { return (x > 0) - (x < 0); }
GN_DEVICE long long gn_sign(long long x) { return (long long)((x > 0) - (x < 0)); }
GN_DEVICE unsigned int gn_sign(unsigned int x) { return x != 0u; }

/* integer abs that wraps at the minimum like numpy (no signed overflow). */
GN_DEVICE int gn_abs(int x) { return x < 0 ? (int)(0u - (unsigned int)x) : x; }
GN_DEVICE long long gn_abs(long long x) {
  return x < 0 ? (long long)(0ull - (unsigned long long)x) : x;
}
GN_DEVICE unsigned int gn_abs(unsigned int x) { return x; }

/* integer division and remainder by zero give 0 like numpy (C leaves them undefined). */
GN_DEVICE int gn_div(int a, int b) { return b == 0 ? 0 : a / b; }
GN_DEVICE long long gn_div(long long a, long long b) { return b == 0 ? 0 : a / b; }
GN_DEVICE unsigned int gn_div(unsigned int a, unsigned int b) { return b == 0u ? 0u : a / b; }
GN_DEVICE int gn_rem(int a, int b) { return b == 0 ? 0 : a %% b; }
GN_DEVICE long long gn_rem(long long a, long long b) { return b == 0 ? 0 : a %% b; }
GN_DEVICE unsigned int gn_rem(unsigned int a, unsigned int b) { return b == 0u ? 0u : a %% b; }

/* 1 / (1 + exp(-x)): exp overflows to inf for very negative x and 1/inf = 0, so no NaN. */
GN_DEVICE float gn_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
GN_DEVICE double gn_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* numpy's float mod: the result has the sign of the divisor. */
GN_DEVICE float gn_mod(float a, float b) {
  float r = fmodf(a, b);
  return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r;
}
GN_DEVICE double gn_mod(double a, double b) {
  double r = fmod(a, b);
  return (r != 0.0 && ((r < 0.0) != (b < 0.0))) ? r + b : r;
}
GN_DEVICE float gn_floordiv(float a, float b) { return floorf(a / b); }
GN_DEVICE double gn_floordiv(double a, double b) { return floor(a / b); }

/* integer power by squaring; negative exponents give the truncated result (1, +-1 or 0). */
template <typename T> GN_DEVICE T gn_ipow(T base, T e) {
  if (e < 0) return base == 1 ? 1 : (base == (T)-1 ? ((e & 1) ? (T)-1 : 1) : 0);
  T r = 1;
  while (e != 0) {
    if (e & 1) r *= base;
    base *= base;
    e >>= 1;
  }
  return r;
}
GN_DEVICE unsigned int gn_ipow(unsigned int base, unsigned int e) {
  unsigned int r = 1u;
  while (e != 0u) {
    if (e & 1u) r *= base;
    base *= base;
    e >>= 1;
  }
  return r;
}

/* Philox-2x32-%(rounds)d, first output word; bit-identical to the CPU backend and numpy. */
GN_DEVICE unsigned int gn_philox(unsigned int c0, unsigned int c1, unsigned int key) {
#pragma unroll
  for (int r = 0; r < %(rounds)d; ++r) {
    unsigned long long prod = (unsigned long long)c0 * %(m)#xull;
    unsigned int hi = (unsigned int)(prod >> 32), lo = (unsigned int)prod;
    c0 = hi ^ key ^ c1;
    c1 = lo;
    key += %(w)#xu;
  }
  return c0;
}
/* 24 random bits scaled by 2**-24: exactly representable, in [0, 1). */
GN_DEVICE float gn_philox_uniform(unsigned int c0, unsigned int c1, unsigned int key) {
  return (float)(gn_philox(c0, c1, key) >> 8) * 5.9604644775390625e-08f;
}
""" % {"rounds": PHILOX_ROUNDS, "m": PHILOX_M, "w": PHILOX_W}

_RESERVED = set("""auto bool break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static struct
switch typedef union unsigned void volatile while class template typename new delete this true
false operator namespace using private public protected virtual friend explicit mutable
threadIdx blockIdx blockDim gridDim warpSize""".split())


# ---------------------------------------------------------------------------------------------
def render_module(desc: ProgramDesc, *, comments: bool = True) -> str:
    """One CUDA C translation unit holding the helpers and every kernel of ``desc``."""
    ml.check_program(desc)
    parts = [_PRELUDE]
    for k in desc.kernels:
        parts.append(_KernelPrinter(k, ml.shared_slot_params(desc, k), comments).render())
    return "\n".join(parts)


class _Names:
    """C identifiers for kernel names: sanitised, not reserved, unique."""

    def __init__(self):
        self.taken: Set[str] = set()
        self.map: Dict[tuple, str] = {}

    def fresh(self, base: str) -> str:
        name = re.sub(r"\W", "_", base) or "v"
        if name[0].isdigit() or name in _RESERVED or name.startswith(("gn_", "__")):
            name = "v_" + name
        cand, n = name, 1
        while cand in self.taken:
            cand, n = f"{name}_{n}", n + 1
        self.taken.add(cand)
        return cand

    def get(self, key: tuple, base: str) -> str:
        if key not in self.map:
            self.map[key] = self.fresh(base)
        return self.map[key]


class _KernelPrinter:
    def __init__(self, kernel: Kernel, shared: Set[str], comments: bool):
        self.k, self.comments = kernel, comments
        self.params = ml.check_kernel(kernel)
        self.shared = shared
        self.names = _Names()
        self.lines: List[str] = []

    def render(self) -> str:
        k, names = self.k, self.names
        written = ml.buffers_written(k.body)
        args = []
        for p in k.params:
            const = "" if p.name in written else "const "
            restrict = "" if p.name in self.shared else " __restrict__"
            args.append(f"{const}{_MEMTYPE[p.dtype]}*{restrict} {names.get(('buf', p.name), p.name)}")
        args += [f"long long {names.get(('var', s, 'int64'), s)}" for s in k.symbols]
        head = []
        if self.comments:
            head.append(f"// kernel {k.name}" + (f" (flops {k.flops})" if k.flops else ""))
            head += [f"//   {line}" for line in k.origin.splitlines() if line.strip()]
        head.append(f'extern "C" __global__ void {k.name}({", ".join(args)}) {{')
        body = k.body
        if not any(isinstance(s, Gemm) for s in body):
            # a Gemm inside a loop (a scan's step) becomes its defining loops, in one thread
            body = [_expand_gemms(s) for s in body]
        locals_ = {(s.var.name, s.var.dtype) for s in ml.walk_stmts(body) if isinstance(s, Assign)}
        for name, dtype in sorted(locals_):
            self.lines.append(f"  {_CTYPE[dtype]} {names.get(('var', name, dtype), name)};")
        self.top_level(body)
        return "\n".join(head + self.lines + ["}", ""])

    # -- thread mapping -----------------------------------------------------------------------
    def top_level(self, body: list) -> None:
        """The first top-level parallel loop is spread over the grid.  Other top-level
        statements that store run once (thread 0 of block 0); those that only compute locals run
        in every thread so the parallel loop can read them."""
        if any(isinstance(s, Gemm) for s in body):
            from .gemm_cuda import render_gemm  # shared-memory tiled GEMM
            render_gemm(self, body)
            return
        par = next((s for s in body if isinstance(s, For) and s.kind == "parallel"), None)
        if par is None:
            self.guarded(body)
            return
        self.check_no_sync_needed(body, par)
        pending: List = []
        for s in body:
            if s is not par and ml.buffers_written([s]):
                pending.append(s)
                continue
            if pending:
                self.guarded(pending)
                pending = []
            if s is par:
                self.grid_stride(s)
            else:
                self.stmt(s, 1)
        if pending:
            self.guarded(pending)

    def check_no_sync_needed(self, body: list, par: For) -> None:
        """Refuse kernels whose once-only statements and parallel loop depend on each other:
        that would need a grid-wide barrier."""
        at = body.index(par)
        par_r, par_w = ml.buffers_read([par]), ml.buffers_written([par])
        for i, s in enumerate(body):
            if s is par or not ml.buffers_written([s]):
                continue
            r, w = ml.buffers_read([s]), ml.buffers_written([s])
            clash = (w & (par_r | par_w)) if i < at else ((r | w) & par_w) | (w & par_r)
            later_reads = ml.vars_read(body[i + 1:])
            leaked = ml.vars_assigned([s]) & later_reads
            if clash or leaked:
                what = f"buffers {sorted(clash)}" if clash else f"locals {sorted(leaked)}"
                raise CompileError(f"kernel {self.k.name}: a top-level statement outside the "
                                   f"parallel loop shares {what} with it; that needs a grid-wide "
                                   "barrier, which this backend does not emit")

    def guarded(self, body: list) -> None:
        self.lines.append("  if (blockIdx.x == 0 && threadIdx.x == 0) {")
        for s in body:
            self.stmt(s, 2)
        self.lines.append("  }")

    def grid_stride(self, s: For) -> None:
        ty, i = _CTYPE[s.var.dtype], self.var(s.var)
        stop = self.names.fresh(f"{i}_end")
        if self.comments:
            self.lines.append(f"  // for {s.var.name} ({s.kind}): grid-stride")
        self.lines.append(
            f"  for ({ty} {i} = {self.expr(s.start)} + ({ty})(blockIdx.x * (long long)blockDim.x"
            f" + threadIdx.x), {stop} = {self.expr(s.stop)}; {i} < {stop};"
            f" {i} += ({ty})(blockDim.x * (long long)gridDim.x)) {{")
        for b in s.body:
            self.stmt(b, 2)
        self.lines.append("  }")

    # -- statements ---------------------------------------------------------------------------
    def stmt(self, s, depth: int) -> None:
        pad, out = "  " * depth, self.lines
        if isinstance(s, Assign):
            out.append(f"{pad}{self.var(s.var)} = {self.expr(s.value)};")
        elif isinstance(s, Store):
            value = self.expr(s.value)
            if s.value.dtype == "bool":
                value = f"(unsigned char){value}"
            out.append(f"{pad}{self.buf(s.buf)}[{self.expr(s.index)}] = {value};")
        elif isinstance(s, For):
            ty, i = _CTYPE[s.var.dtype], self.var(s.var)
            stop = self.names.fresh(f"{i}_end")
            note = f"  // {s.kind}" if self.comments and s.kind != "serial" else ""
            out.append(f"{pad}for ({ty} {i} = {self.expr(s.start)}, {stop} = {self.expr(s.stop)};"
                       f" {i} < {stop}; ++{i}) {{{note}")
            for b in s.body:
                self.stmt(b, depth + 1)
            out.append(f"{pad}}}")
        elif isinstance(s, If):
            out.append(f"{pad}if ({self.truth(s.cond)}) {{")
            for b in s.body:
                self.stmt(b, depth + 1)
            if s.orelse:
                out.append(f"{pad}}} else {{")
                for b in s.orelse:
                    self.stmt(b, depth + 1)
            out.append(f"{pad}}}")

    def var(self, v: Var) -> str:
        return self.names.get(("var", v.name, v.dtype), v.name)

    def buf(self, name: str) -> str:
        return self.names.get(("buf", name), name)

    # -- expressions --------------------------------------------------------------------------
    def expr(self, e: Expr) -> str:
        if isinstance(e, Const):
            return _literal(e)
        if isinstance(e, Var):
            return self.var(e)
        if isinstance(e, Load):
            ref = f"{self.buf(e.buf)}[{self.expr(e.index)}]"
            return f"({ref} != 0)" if e.dtype == "bool" else ref
        assert isinstance(e, Call)
        return self.call(e)

    def truth(self, e: Expr) -> str:
        """``e != 0`` as C bool (NaN is true, like numpy)."""
        return self.expr(e) if e.dtype == "bool" else f"({self.expr(e)} != 0)"

    def call(self, e: Call) -> str:
        op, a = e.op, [self.expr(x) for x in e.args]
        dt = e.args[-1].dtype if op == "where" else e.args[0].dtype
        if op == "cast":
            return self.truth(e.args[0]) if e.dtype == "bool" else f"(({_CTYPE[e.dtype]}){a[0]})"
        if op in ("philox", "philox_uniform"):
            return f"gn_{op}({', '.join(a)})"
        if op in ("logical_and", "logical_or"):
            sym = "&&" if op == "logical_and" else "||"
            return f"({self.truth(e.args[0])} {sym} {self.truth(e.args[1])})"
        if op == "logical_not":
            return f"(!{self.truth(e.args[0])})"
        if op == "where":
            return f"({self.truth(e.args[0])} ? {a[1]} : {a[2]})"
        if ml.is_float(dt) and op in _FMATH:
            return f"{_FMATH[op][dt == 'float64']}({', '.join(a)})"
        if op in _HELPERS:
            return f"{_HELPERS[op]}({', '.join(a)})"
        if dt == "bool" and op in ("add", "mul"):
            return f"({a[0]} {'||' if op == 'add' else '&&'} {a[1]})"
        if op in ("div", "floordiv", "mod") and dt in ml.INTEGERS and ml.divisor_may_be_zero(e.args[1]):
            return f"{'gn_rem' if op == 'mod' else 'gn_div'}({a[0]}, {a[1]})"
        if op in _INFIX:
            return f"({a[0]} {_INFIX[op]} {a[1]})"
        if op == "neg":
            return f"(0u - {a[0]})" if dt in ml.UNSIGNED else f"(-{a[0]})"
        if op == "abs":
            return f"gn_abs({a[0]})"
        if op == "floor":  # integer floor is the identity
            return a[0]
        if op == "pow":
            return f"gn_ipow(({_CTYPE[dt]}){a[0]}, ({_CTYPE[dt]}){a[1]})"
        raise CompileError(f"kernel {self.k.name}: no CUDA rendering of {op} on {dt}")


def _expand_gemms(s):
    """``s`` with nested Gemm statements replaced by their plain loop nests."""
    from .kernel import gemm_loop_nest
    if isinstance(s, Gemm):
        return For(Var(f"gemm_blk_{s.c}", "int64"), Const(0, "int64"), Const(1, "int64"),
                   gemm_loop_nest(s, direct=False), "serial")
    if isinstance(s, For):
        return For(s.var, s.start, s.stop, [_expand_gemms(b) for b in s.body], s.kind)
    if isinstance(s, If):
        return If(s.cond, [_expand_gemms(b) for b in s.body], [_expand_gemms(b) for b in s.orelse])
    return s


def _literal(c: Const) -> str:
    """A C literal of exactly the constant's value and type."""
    v, dt = ml.const_value(c), c.dtype
    if dt == "bool":
        return "true" if v else "false"
    if dt == "float32":
        if not np.isfinite(v):
            bits = {"nan": 0x7FC00000, "inf": 0x7F800000, "-inf": 0xFF800000}[repr(v)]
            return f"__int_as_float({bits:#x})"
        text = str(np.float32(v))  # shortest string that rounds back to this float32
        return f"{text if ('.' in text or 'e' in text) else text + '.0'}f"
    if dt == "float64":
        if not np.isfinite(v):
            bits = {"nan": 0x7FF8000000000000, "inf": 0x7FF0000000000000,
                    "-inf": 0xFFF0000000000000}[repr(v)]
            return f"__longlong_as_double({bits:#x}LL)"
        return repr(v)
    if dt == "uint32":
        return f"{v}u"
    if dt == "int32":
        return "(-2147483647 - 1)" if v == -2 ** 31 else (f"({v})" if v < 0 else str(v))
    if v == -2 ** 63:
        return "(-9223372036854775807LL - 1)"
    return f"({v}LL)" if v < 0 else f"{v}LL"


# ---------------------------------------------------------------------------------------------
def nvcc_available() -> bool:
    return shutil.which("nvcc") is not None


def run_nvcc(source: str, kind: str, arch: str, nvcc: str = None) -> bytes:
    """``nvcc --<kind> -O3 -arch=<arch>`` of one translation unit (``kind``: ``ptx`` or
    ``cubin``); the output file's bytes.  On failure raise CompileError with nvcc's messages
    and the path where the source was kept."""
    nvcc = nvcc or shutil.which("nvcc")
    if nvcc is None:
        raise CompileError("nvcc not found on PATH")
    with tempfile.TemporaryDirectory(prefix="graphnn-nvcc-") as tmp:
        src, out = os.path.join(tmp, "module.cu"), os.path.join(tmp, f"module.{kind}")
        with open(src, "w") as f:
            f.write(source)
        cmd = [nvcc, f"--{kind}", f"-arch={arch}", "-O3", "-o", out, src]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            saved = save_failed(source, "module.cu")
            raise CompileError(f"nvcc failed ({' '.join(cmd)}):\n{proc.stderr.strip()}\n"
                               f"source saved to {saved}")
        with open(out, "rb") as f:
            return f.read()


def compile_ptx(source: str, arch: str = "sm_90") -> str:
    """Compile a translation unit to PTX text with ``nvcc --ptx -O3`` (see :func:`run_nvcc`)."""
    return run_nvcc(source, "ptx", arch).decode()
