"""CPU backend: print a :class:`~codegen.kernel.ProgramDesc` as LLVM IR, optimise it with O3 and
link it into a shared library.

Every kernel becomes an internal function ``void name(ptr noalias buf..., i64 sym...)`` and the
entry point ``void entry(ptr slots, ptr symbols)`` calls them in launch order, so O3 inlines them
and sees the whole program.  Float ops carry the ``contract`` fast-math flag everywhere and
``reassoc nsz arcp afn`` inside ``reduction`` loops (so horizontal sums vectorize); never ``nnan``
or ``ninf``: NaN and inf must propagate like numpy.
"""
from __future__ import annotations

import os
import platform
import shlex
import subprocess
import tempfile
import threading
from typing import Dict, List, Tuple

import llvmlite.binding as llvm
from llvmlite import ir

from .llvm_ir import declare as _intrinsic

from . import mathlib as ml
from . import threads, vecmath
from .errors import CompileError, save_failed
from .kernel import (PHILOX_M, PHILOX_ROUNDS, PHILOX_W, Assign, Call, Const, Expr, For, Gemm, If,
                     Kernel, Load, ProgramDesc, Store, Var)

__all__ = ["CompileError", "render_module", "compile_module", "optimized_ir", "assembly",
           "link_shared"]

_I1, _I8, _I32, _I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
_F32, _F64, _PTR = ir.FloatType(), ir.DoubleType(), ir.PointerType()

#: dtype -> type in registers
_REG = {"float32": _F32, "float64": _F64, "int32": _I32, "uint32": _I32, "int64": _I64, "bool": _I1}
#: dtype -> type in memory (bool is a byte)
_MEM = dict(_REG, bool=_I8)

_FM = ("contract",)
_FM_REDUCE = ("contract", "reassoc", "nsz", "arcp", "afn")
_SUFFIX = {"float32": "f32", "float64": "f64", "int32": "i32", "uint32": "i32", "int64": "i64"}

#: string attribute added to every defined function: let the vectorizer use 512-bit vectors on
#: AVX-512 hosts (LLVM defaults to 256 on some Intel cores); harmless elsewhere.
_FN_ATTRS = '"prefer-vector-width"="512"'

_PHILOX_FN = "graphnn.philox"


# ---------------------------------------------------------------------------------------------
# rendering
def render_module(desc: ProgramDesc, *, name: str = "graphnn", comments: bool = True) -> str:
    """LLVM IR text of the whole program (kernels + entry point)."""
    kernels = ml.check_program(desc)
    module = ir.Module(name=name)
    fns = {}
    for k in desc.kernels:
        noalias = {p.name for p in k.params} - ml.shared_slot_params(desc, k)
        fns[k.name] = _KernelEmitter(module, k, noalias, comments).emit()
    _emit_entry(module, desc, kernels, fns)
    _emit_entry(module, desc, kernels, fns, profiled=True)
    threads.emit_thread_api(module)
    return _decorate(str(module), desc, fns, comments)


def _decorate(text: str, desc: ProgramDesc, fns: Dict[str, ir.Function], comments: bool) -> str:
    """Insert ``; origin`` comment lines before kernel definitions and add function attributes
    that llvmlite cannot express."""
    origins = {}
    if comments:
        for k in desc.kernels:
            head = f"define internal void {fns[k.name].get_reference()}("
            note = [f"; kernel {k.name}" + (f" (flops {k.flops})" if k.flops else "")]
            note += [f";   {line}" for line in k.origin.splitlines() if line.strip()]
            origins[head] = note
    out: List[str] = []
    for line in text.splitlines():
        if line.startswith("define "):
            out.extend(next((v for h, v in origins.items() if line.startswith(h)), []))
            line = f"{line} {_FN_ATTRS}"
        out.append(line)
    return "\n".join(out) + "\n"




def _philox_fn(module: ir.Module) -> ir.Function:
    """Internal always-inline Philox-2x32-10 returning the first output word."""
    fn = module.globals.get(_PHILOX_FN)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(_I32, [_I32, _I32, _I32]), name=_PHILOX_FN)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    c0, c1, key = fn.args
    c0.name, c1.name, key.name = "c0", "c1", "key"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    for _ in range(PHILOX_ROUNDS):
        prod = b.mul(b.zext(c0, _I64), ir.Constant(_I64, PHILOX_M), name="prod")
        hi = b.trunc(b.lshr(prod, ir.Constant(_I64, 32)), _I32, name="hi")
        lo = b.trunc(prod, _I32, name="lo")
        c0, c1 = b.xor(b.xor(hi, key), c1, name="c0"), lo
        key = b.add(key, ir.Constant(_I32, ml.wrap_int(PHILOX_W, "int32")), name="key")
    b.ret(c0)
    return fn


def _ipow_fn(module: ir.Module, dtype: str) -> ir.Function:
    """Internal integer power by squaring.  Negative exponents (an error in numpy) give the
    truncated result: 1 for base 1, +-1 for base -1, else 0."""
    name = f"graphnn.ipow.{dtype}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    ty = _REG[dtype]
    fn = ir.Function(module, ir.FunctionType(ty, [ty, ty]), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    base, exp = fn.args
    base.name, exp.name = "base", "exp"
    entry, loop, body, done = (fn.append_basic_block(n) for n in ("entry", "loop", "body", "done"))
    one, zero = ir.Constant(ty, 1), ir.Constant(ty, 0)
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    r, bb, ee = b.phi(ty, "r"), b.phi(ty, "b"), b.phi(ty, "e")
    more = b.icmp_unsigned("!=", ee, zero) if dtype in ml.UNSIGNED else b.icmp_signed(">", ee, zero)
    b.cbranch(more, body, done)
    b.position_at_end(body)
    odd = b.icmp_unsigned("!=", b.and_(ee, one), zero)
    r2 = b.select(odd, b.mul(r, bb), r)
    bb2, ee2 = b.mul(bb, bb), b.lshr(ee, one)
    b.branch(loop)
    for phi, initial, update in ((r, one, r2), (bb, base, bb2), (ee, exp, ee2)):
        phi.add_incoming(initial, entry)
        phi.add_incoming(update, body)
    b.position_at_end(done)
    if dtype in ml.UNSIGNED:
        b.ret(r)
    else:
        odd_e = b.icmp_unsigned("!=", b.and_(exp, one), zero)
        neg_one = b.select(odd_e, ir.Constant(ty, -1), one)
        special = b.select(b.icmp_signed("==", base, one), one,
                           b.select(b.icmp_signed("==", base, ir.Constant(ty, -1)), neg_one, zero))
        b.ret(b.select(b.icmp_signed("<", exp, zero), special, r))
    return fn


class _KernelEmitter:
    """Emits one kernel as an internal function; locals live in entry-block allocas.

    ``name``, ``scalars`` and ``threads`` serve outlined parallel-loop bodies (``codegen.threads``):
    the function gets extra scalar arguments ``scalars`` ((name, dtype) pairs, which initialise
    locals of those names) and, with ``threads=False``, renders parallel loops as plain loops.
    """

    def __init__(self, module: ir.Module, kernel: Kernel, noalias: set, comments: bool, *,
                 name: str = None, scalars=(), threads: bool = True):
        self.module, self.k, self.comments = module, kernel, comments
        self.noalias, self.threads = noalias, threads
        self.params = ml.check_kernel(kernel)
        argtys = [_PTR] * len(kernel.params) + [_I64] * len(kernel.symbols)
        argtys += [_REG[dt] for _, dt in scalars]
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), argtys),
                              name=name or kernel.name)
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        self.args: Dict[str, ir.Argument] = {}
        for arg, p in zip(self.fn.args, kernel.params):
            arg.name = p.name
            if p.name in noalias:
                arg.add_attribute("noalias")
            self.args[p.name] = arg
        self.symbols: Dict[str, ir.Argument] = {}
        for arg, s in zip(self.fn.args[len(kernel.params):], kernel.symbols):
            arg.name = s
            self.symbols[s] = arg
        self.allocas: Dict[Tuple[str, str], ir.AllocaInstr] = {}
        self.entry = self.fn.append_basic_block("entry")
        self.alloca_b = ir.IRBuilder(self.entry)
        self.b = ir.IRBuilder(self.fn.append_basic_block("start"))
        self.fm = _FM
        first = len(kernel.params) + len(kernel.symbols)
        for arg, (var, dt) in zip(self.fn.args[first:], scalars):
            arg.name = var
            self.b.store(arg, self.local(Var(var, dt)))

    def emit(self, body: list = None) -> ir.Function:
        self.stmts(self.k.body if body is None else body)
        self.b.ret_void()
        self.alloca_b.branch(self.fn.blocks[1])
        return self.fn

    # -- statements ---------------------------------------------------------------------------
    def stmts(self, body: list) -> None:
        for s in body:
            if isinstance(s, Assign):
                self.b.store(self.expr(s.value), self.local(s.var))
            elif isinstance(s, Store):
                value = self.expr(s.value)
                if s.value.dtype == "bool":
                    value = self.b.zext(value, _I8)
                self.b.store(value, self.address(s.buf, s.index), align=ml.ITEMSIZE[s.value.dtype])
            elif isinstance(s, For):
                self.loop(s)
            elif isinstance(s, If):
                self.branch(s)
            elif isinstance(s, Gemm):
                from .gemm_llvm import emit_gemm  # the tiled CPU GEMM generator
                emit_gemm(self, s)

    def loop(self, s: For) -> None:
        """header: i < stop ? body : exit; latch: i += 1.  ``stop`` is evaluated once, like
        Python's ``range``.  Parallel loops may run on several threads (``codegen.threads``)."""
        if s.kind == "parallel" and self.threads:
            threads.parallel_loop(self, s)
            return
        b, ty = self.b, _REG[s.var.dtype]
        if self.comments:
            b.comment(f"for {s.var.name} ({s.kind})")
        start = self.convert(self.expr(s.start), s.start.dtype, s.var.dtype)
        stop = self.convert(self.expr(s.stop), s.stop.dtype, s.var.dtype)
        slot = self.local(s.var)
        b.store(start, slot)
        header = self.fn.append_basic_block(f"{s.var.name}.header")
        body = self.fn.append_basic_block(f"{s.var.name}.body")
        b.branch(header)
        b.position_at_end(header)
        i = b.load(slot, typ=ty, name=s.var.name)
        cmp = b.icmp_unsigned if s.var.dtype in ml.UNSIGNED else b.icmp_signed
        in_range = cmp("<", i, stop)
        b.position_at_end(body)
        saved = self.fm
        if s.kind == "reduction":
            self.fm = _FM_REDUCE
        self.stmts(s.body)
        self.fm = saved
        # latch and exit are appended after the body's blocks so the text reads top to bottom
        latch = self.fn.append_basic_block(f"{s.var.name}.latch")
        exit_ = self.fn.append_basic_block(f"{s.var.name}.exit")
        b.branch(latch)
        b.position_at_end(header)
        b.cbranch(in_range, body, exit_)
        b.position_at_end(latch)
        i = b.load(slot, typ=ty)
        nxt = b.add(i, ir.Constant(ty, 1), flags=["nuw" if s.var.dtype in ml.UNSIGNED else "nsw"])
        b.store(nxt, slot)
        b.branch(header)
        b.position_at_end(exit_)

    def branch(self, s: If) -> None:
        b = self.b
        cond = self.truth(self.expr(s.cond), s.cond.dtype)
        head = b.block
        then = self.fn.append_basic_block("then")
        b.position_at_end(then)
        self.stmts(s.body)
        then_end = b.block
        other = other_end = None
        if s.orelse:
            other = self.fn.append_basic_block("else")
            b.position_at_end(other)
            self.stmts(s.orelse)
            other_end = b.block
        merge = self.fn.append_basic_block("endif")
        for block in (then_end, other_end):
            if block is not None:
                b.position_at_end(block)
                b.branch(merge)
        b.position_at_end(head)
        b.cbranch(cond, then, other or merge)
        b.position_at_end(merge)

    def local(self, var: Var) -> ir.AllocaInstr:
        key = (var.name, var.dtype)
        if key not in self.allocas:
            self.allocas[key] = self.alloca_b.alloca(_REG[var.dtype], name=var.name)
        return self.allocas[key]

    def address(self, buf: str, index: Expr) -> ir.Value:
        idx = self.convert(self.expr(index), index.dtype, "int64")
        return self.b.gep(self.args[buf], [idx], inbounds=True, source_etype=_MEM[self.params[buf]])

    # -- expressions --------------------------------------------------------------------------
    def expr(self, e: Expr) -> ir.Value:
        if isinstance(e, Const):
            return _const(e)
        if isinstance(e, Var):
            key = (e.name, e.dtype)
            if key in self.allocas:
                return self.b.load(self.allocas[key], typ=_REG[e.dtype], name=e.name)
            return self.symbols[e.name]
        if isinstance(e, Load):
            v = self.b.load(self.address(e.buf, e.index), typ=_MEM[e.dtype],
                            align=ml.ITEMSIZE[e.dtype], name=e.buf)
            return self.b.icmp_unsigned("!=", v, ir.Constant(_I8, 0)) if e.dtype == "bool" else v
        assert isinstance(e, Call)
        args = [self.expr(a) for a in e.args]
        if e.op == "cast":
            return self.convert(args[0], e.args[0].dtype, e.dtype)
        return getattr(self, "op_" + e.op)(e, *args)

    def convert(self, v: ir.Value, src: str, dst: str) -> ir.Value:
        """numpy-style ``astype`` between register types."""
        b = self.b
        if src == dst:
            return v
        if dst == "bool":
            return self.truth(v, src)
        sty, dty = _REG[src], _REG[dst]
        if ml.is_float(src) and ml.is_float(dst):
            return b.fpext(v, dty) if dst == "float64" else b.fptrunc(v, dty)
        if ml.is_float(src):
            return b.fptoui(v, dty) if dst in ml.UNSIGNED else b.fptosi(v, dty)
        if ml.is_float(dst):
            return b.uitofp(v, dty) if ml.is_unsigned(src) else b.sitofp(v, dty)
        if sty.width == dty.width:
            return v
        if sty.width > dty.width:
            return b.trunc(v, dty)
        return b.zext(v, dty) if ml.is_unsigned(src) else b.sext(v, dty)

    def truth(self, v: ir.Value, dtype: str) -> ir.Value:
        """``v != 0`` (NaN is true, like numpy)."""
        if dtype == "bool":
            return v
        if ml.is_float(dtype):
            return self.b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0))
        return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))

    def intrinsic(self, name: str, dtype: str, *args: ir.Value) -> ir.Value:
        ty = _REG[dtype]
        fn = _intrinsic(self.module, f"llvm.{name}.{_SUFFIX[dtype]}", ty, [a.type for a in args])
        return self.b.call(fn, args, fastmath=self.fm if ml.is_float(dtype) else ())

    def fconst(self, dtype: str, value: float) -> ir.Constant:
        return ir.Constant(_REG[dtype], value)

    # unary math
    def op_neg(self, e, x):
        dt = e.dtype
        return self.b.fneg(x, flags=self.fm) if ml.is_float(dt) else self.b.neg(x)

    def vecmath(self, op: str, dtype: str, *args: ir.Value) -> ir.Value:
        """Our inlinable (vectorizable) implementation of ``op`` (``codegen.vecmath``)."""
        return self.b.call(vecmath.function(self.module, op, dtype), args)

    def op_exp(self, e, x):
        return self.vecmath("exp", e.dtype, x)

    def op_log(self, e, x):
        return self.vecmath("log", e.dtype, x)

    def op_sqrt(self, e, x):
        return self.intrinsic("sqrt", e.dtype, x)

    def op_sin(self, e, x):
        return self.intrinsic("sin", e.dtype, x)

    def op_cos(self, e, x):
        return self.intrinsic("cos", e.dtype, x)

    def op_tanh(self, e, x):
        return self.vecmath("tanh", e.dtype, x)

    def op_sigmoid(self, e, x):
        """exp(-|x|) never overflows: 1/(1+e) or e/(1+e), no NaN, denormals for x << 0."""
        return self.vecmath("sigmoid", e.dtype, x)

    def op_abs(self, e, x):
        if ml.is_float(e.dtype):
            return self.intrinsic("fabs", e.dtype, x)
        if e.dtype in ml.UNSIGNED:
            return x
        return self.intrinsic("abs", e.dtype, x, ir.Constant(_I1, 0))

    def op_sign(self, e, x):
        """np.sign: -1, 0 or 1; for floats 0 and NaN are returned as they are."""
        b, ty = self.b, _REG[e.dtype]
        if ml.is_float(e.dtype):
            pos, neg = b.fcmp_ordered(">", x, self.fconst(e.dtype, 0.0)), \
                b.fcmp_ordered("<", x, self.fconst(e.dtype, 0.0))
            return b.select(pos, self.fconst(e.dtype, 1.0),
                            b.select(neg, self.fconst(e.dtype, -1.0), x))
        zero = ir.Constant(ty, 0)
        if e.dtype in ml.UNSIGNED:
            return b.zext(b.icmp_unsigned("!=", x, zero), ty)
        pos = b.zext(b.icmp_signed(">", x, zero), ty)
        neg = b.zext(b.icmp_signed("<", x, zero), ty)
        return b.sub(pos, neg)

    def op_floor(self, e, x):
        return self.intrinsic("floor", e.dtype, x) if ml.is_float(e.dtype) else x

    def op_logical_not(self, e, x):
        return self.b.not_(self.truth(x, e.args[0].dtype))

    # binary math
    def _arith(self, e, x, y, fop, iop, bop=None):
        dt = e.args[0].dtype
        if ml.is_float(dt):
            return getattr(self.b, fop)(x, y, flags=self.fm)
        if dt == "bool":
            return getattr(self.b, bop)(x, y)
        return getattr(self.b, iop)(x, y)

    def op_add(self, e, x, y):
        return self._arith(e, x, y, "fadd", "add", "or_")

    def op_sub(self, e, x, y):
        return self._arith(e, x, y, "fsub", "sub")

    def op_mul(self, e, x, y):
        return self._arith(e, x, y, "fmul", "mul", "and_")

    def op_div(self, e, x, y):
        """Floats: IEEE division.  Integers: C division (truncates)."""
        if ml.is_float(e.dtype):
            return self.b.fdiv(x, y, flags=self.fm)
        return self._int_divide(e, x, y, "udiv" if ml.is_unsigned(e.dtype) else "sdiv")

    def op_floordiv(self, e, x, y):
        """Integers: C division (the index math only divides non-negative values).
        Floats: floor(x / y)."""
        if ml.is_float(e.dtype):
            return self.intrinsic("floor", e.dtype, self.b.fdiv(x, y, flags=self.fm))
        return self.op_div(e, x, y)

    def _int_divide(self, e, x, y, op):
        """Integer division by zero is undefined in LLVM (SIGFPE on x86); give numpy's 0 unless
        the divisor is a non-zero constant (always so in index math)."""
        b = self.b
        if not ml.divisor_may_be_zero(e.args[1]):
            return getattr(b, op)(x, y)
        zero = ir.Constant(y.type, 0)
        is_zero = b.icmp_unsigned("==", y, zero)
        q = getattr(b, op)(x, b.select(is_zero, ir.Constant(y.type, 1), y))
        return b.select(is_zero, zero, q)

    def op_mod(self, e, x, y):
        """Integers: C remainder.  Floats: numpy's mod (result has the sign of ``y``)."""
        b = self.b
        if not ml.is_float(e.dtype):
            return self._int_divide(e, x, y, "urem" if ml.is_unsigned(e.dtype) else "srem")
        zero = self.fconst(e.dtype, 0.0)
        r = b.frem(x, y, flags=self.fm)
        fix = b.and_(b.fcmp_ordered("!=", r, zero),
                     b.xor(b.fcmp_ordered("<", r, zero), b.fcmp_ordered("<", y, zero)))
        return b.select(fix, b.fadd(r, y, flags=self.fm), r)

    def op_pow(self, e, x, y):
        if vecmath.supports("pow", e.dtype):
            return self.vecmath("pow", e.dtype, x, y)
        if ml.is_float(e.dtype):
            return self.intrinsic("pow", e.dtype, x, y)
        return self.b.call(_ipow_fn(self.module, e.dtype), [x, y])

    def op_maximum(self, e, x, y):
        """NaN-propagating like np.maximum."""
        return self._minmax(e, x, y, "maximum", "smax", "umax", "or_")

    def op_minimum(self, e, x, y):
        return self._minmax(e, x, y, "minimum", "smin", "umin", "and_")

    def _minmax(self, e, x, y, fname, sname, uname, bname):
        dt = e.dtype
        if dt == "bool":
            return getattr(self.b, bname)(x, y)
        name = fname if ml.is_float(dt) else uname if dt in ml.UNSIGNED else sname
        return self.intrinsic(name, dt, x, y)

    # comparisons
    def _compare(self, e, x, y, pred):
        dt = e.args[0].dtype
        if ml.is_float(dt):
            if pred == "!=":
                return self.b.fcmp_unordered(pred, x, y)
            return self.b.fcmp_ordered(pred, x, y)
        if ml.is_unsigned(dt):
            return self.b.icmp_unsigned(pred, x, y)
        return self.b.icmp_signed(pred, x, y)

    def op_equal(self, e, x, y):
        return self._compare(e, x, y, "==")

    def op_not_equal(self, e, x, y):
        return self._compare(e, x, y, "!=")

    def op_less(self, e, x, y):
        return self._compare(e, x, y, "<")

    def op_less_equal(self, e, x, y):
        return self._compare(e, x, y, "<=")

    def op_greater(self, e, x, y):
        return self._compare(e, x, y, ">")

    def op_greater_equal(self, e, x, y):
        return self._compare(e, x, y, ">=")

    def op_logical_and(self, e, x, y):
        return self.b.and_(self.truth(x, e.args[0].dtype), self.truth(y, e.args[1].dtype))

    def op_logical_or(self, e, x, y):
        return self.b.or_(self.truth(x, e.args[0].dtype), self.truth(y, e.args[1].dtype))

    def op_where(self, e, c, x, y):
        return self.b.select(self.truth(c, e.args[0].dtype), x, y)

    # random
    def op_philox(self, e, c0, c1, key):
        return self.b.call(_philox_fn(self.module), [c0, c1, key])

    def op_philox_uniform(self, e, c0, c1, key):
        """(w >> 8) * 2**-24: 24 random bits, exactly representable in float32."""
        w = self.op_philox(e, c0, c1, key)
        f = self.b.uitofp(self.b.lshr(w, ir.Constant(_I32, 8)), _F32)
        return self.b.fmul(f, ir.Constant(_F32, ml.PHILOX_UNIFORM_SCALE))


def _const(c: Const) -> ir.Constant:
    return ir.Constant(_REG[c.dtype], ml.const_value(c))


def _emit_entry(module: ir.Module, desc: ProgramDesc, kernels: Dict[str, Kernel],
                fns: Dict[str, ir.Function], profiled: bool = False) -> None:
    """``void entry(ptr slots, ptr symbols)``: load slot pointers and symbol values, then call the
    kernels in launch order.  With ``profiled`` the function is ``<entry>_profiled(slots, symbols,
    ticks)`` and adds the cycle-counter ticks of launch ``i`` to ``ticks[i]`` (kernel timings for
    the profiler and ``graphnn bench`` without a second build of the kernels)."""
    params = [_PTR, _PTR, _PTR] if profiled else [_PTR, _PTR]
    name = desc.entry + ("_profiled" if profiled else "")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), params), name=name)
    fn.attributes.add("nounwind")
    slots, symbols = fn.args[:2]
    slots.name, symbols.name = "slots", "symbols"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    clock = ticks = None
    if profiled:
        ticks = fn.args[2]
        ticks.name = "ticks"
        clock = _intrinsic(module, "llvm.readcyclecounter", _I64, [])
    sym_vals = {}
    for i, s in enumerate(desc.symbols):
        ptr = b.gep(symbols, [ir.Constant(_I64, i)], inbounds=True, source_etype=_I64)
        sym_vals[s] = b.load(ptr, typ=_I64, align=8, name=s)
    slot_ptrs: Dict[int, ir.Value] = {}
    for i, launch in enumerate(desc.launches):
        k = kernels[launch.kernel]
        args = []
        for slot in launch.slots:
            if slot not in slot_ptrs:
                ptr = b.gep(slots, [ir.Constant(_I64, slot)], inbounds=True, source_etype=_PTR)
                slot_ptrs[slot] = b.load(ptr, typ=_PTR, align=8, name=f"slot{slot}")
            args.append(slot_ptrs[slot])
        args += [sym_vals[s] for s in k.symbols]
        if profiled:
            start = b.call(clock, [])
            b.call(fns[k.name], args)
            spent = b.sub(b.call(clock, []), start)
            at = b.gep(ticks, [ir.Constant(_I64, i)], inbounds=True, source_etype=_I64)
            b.store(b.add(b.load(at, typ=_I64, align=8), spent), at, align=8)
        else:
            b.call(fns[k.name], args)
    b.ret_void()
    if profiled:   # the same counter for Python, to convert ticks into seconds
        cycles = ir.Function(module, ir.FunctionType(_I64, []), name=desc.entry + "_cycles")
        cb = ir.IRBuilder(cycles.append_basic_block("entry"))
        cb.ret(cb.call(clock, []))


# ---------------------------------------------------------------------------------------------
# compiling
_lock = threading.RLock()
_initialized = False
_machines: Dict[str, "llvm.TargetMachine"] = {}


def _target_machine(cpu: str) -> "llvm.TargetMachine":
    """One cached target machine per ``cpu``: ``host`` (this CPU and its features), ``generic``
    (baseline of the architecture) or an LLVM CPU name (its default features)."""
    global _initialized
    with _lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialized = True
        if cpu not in _machines:
            target = llvm.Target.from_default_triple()
            if cpu == "host":
                name, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
            elif cpu == "generic":
                x86 = platform.machine().lower() in ("x86_64", "amd64")
                name, features = ("x86-64" if x86 else "generic"), ""
            else:
                name, features = cpu, ""
            _machines[cpu] = target.create_target_machine(cpu=name, features=features, opt=3,
                                                          reloc="pic", codemodel="default")
        return _machines[cpu]


def _optimize(ir_text: str, cpu: str) -> Tuple["llvm.ModuleRef", "llvm.TargetMachine"]:
    tm = _target_machine(cpu)
    with _lock:
        try:
            mod = llvm.parse_assembly(ir_text)
            mod.verify()
        except RuntimeError as err:
            path = save_failed(ir_text, "module.ll")
            raise CompileError(f"invalid LLVM IR ({err}); source saved to {path}") from None
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_unrolling = True
        pto.loop_interleaving = True
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
        return mod, tm


def compile_module(ir_text: str, *, cpu: str = "host") -> bytes:
    """Parse, verify and O3-optimise ``ir_text``; return an object file for ``cpu``."""
    mod, tm = _optimize(ir_text, cpu)
    with _lock:
        return tm.emit_object(mod)


def optimized_ir(ir_text: str, *, cpu: str = "host") -> str:
    """The module after O3 (for inspecting what vectorized)."""
    return str(_optimize(ir_text, cpu)[0])


def assembly(ir_text: str, *, cpu: str = "host") -> str:
    """Target assembly after O3."""
    mod, tm = _optimize(ir_text, cpu)
    with _lock:
        return tm.emit_assembly(mod)


def link_shared(obj, out_path: str) -> None:
    """Link ``obj`` (an object file's bytes, or a sequence of object file paths) into shared
    library ``out_path`` with ``$CC`` (default ``cc``), in one linker run.

    ``-z defs`` turns an unresolved symbol into a link error instead of a call to address 0 at
    run time.  The library is linked under a temporary name next to ``out_path`` and renamed, so
    a concurrent reader never sees a half-written file.
    """
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    cc = shlex.split(os.environ.get("CC", "cc"))
    with tempfile.TemporaryDirectory(prefix="graphnn-link-") as tmp:
        if isinstance(obj, (bytes, bytearray)):
            obj_paths = [os.path.join(tmp, "module.o")]
            with open(obj_paths[0], "wb") as f:
                f.write(obj)
        else:
            obj_paths = [os.fspath(p) for p in obj]
        fd, tmp_out = tempfile.mkstemp(prefix=".graphnn-", suffix=".so.tmp", dir=out_dir)
        os.close(fd)
        try:
            cmd = cc + ["-shared", "-o", tmp_out, "-Wl,-z,defs"] + obj_paths + [
                "-Wl,--as-needed", "-lgomp", "-lm"]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as err:
                raise CompileError(f"cannot run linker {cc[0]!r}: {err}") from None
            if proc.returncode != 0:
                if isinstance(obj, (bytes, bytearray)):
                    where = f"object saved to {save_failed(obj, 'module.o')}"
                else:
                    where = f"objects: {' '.join(obj_paths)}"
                raise CompileError(f"linking {out_path} failed ({' '.join(cmd)}):\n"
                                   f"{proc.stderr.strip()}\n{where}")
            os.replace(tmp_out, out_path)
        finally:
            if os.path.exists(tmp_out):
                os.unlink(tmp_out)
