"""Facts shared by the renderers: dtype classes, constant normalisation and the checks that make
both backends accept (and reject) exactly the same kernels.

Nothing here depends on a backend; renderers import it so that an op unsupported for a dtype fails
with the same message on CPU and GPU instead of producing different code.
"""
from __future__ import annotations

import math
import re
import struct
from typing import Dict, Iterable, Iterator, Set, Tuple

from .errors import CompileError
from .kernel import (COMPARISONS, DTYPES, GEMM_ACC, GEMM_BATCH, GEMM_COL, GEMM_ROW, SCALAR_OPS,
                     Assign, Call, Const, Expr, For, Gemm, If, Kernel, Load, Store, Var, walk_exprs)

FLOATS = ("float32", "float64")
SIGNED = ("int32", "int64")
UNSIGNED = ("uint32",)
INTEGERS = SIGNED + UNSIGNED

#: bytes per element in memory (``bool`` is one byte)
ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "uint32": 4, "bool": 1}

#: transcendental ops: defined only on floats
FLOAT_ONLY = {"exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos"}
#: ops accepted on bool operands (numpy: add = or, mul = and, maximum = or, minimum = and)
BOOL_OK = COMPARISONS | {"where", "add", "mul", "maximum", "minimum"}
#: ops whose arguments may have any dtype (converted to bool with ``!= 0``)
TRUTHY_ARGS = {"logical_and", "logical_or", "logical_not"}

PHILOX_UNIFORM_SCALE = 2.0 ** -24


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def is_unsigned(dtype: str) -> bool:
    """uint32 and bool compare/divide/extend as unsigned."""
    return dtype in UNSIGNED or dtype == "bool"


def to_float32(v: float) -> float:
    """Round a Python float to the nearest float32 (overflow gives inf, like numpy)."""
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


def wrap_int(v: int, dtype: str) -> int:
    """Two's-complement wrap of an integer constant into ``dtype`` (signed view for int types,
    unsigned view for uint32), so out-of-range literals behave like numpy's wrap-around."""
    if dtype == "bool":
        return int(bool(v))
    bits = 8 * ITEMSIZE[dtype]
    v = int(v) & ((1 << bits) - 1)
    if dtype in SIGNED and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def const_value(c: Const):
    """The value of ``c`` as its dtype holds it (float32 rounded, ints wrapped)."""
    if c.dtype == "float32":
        return to_float32(float(c.value))
    if c.dtype == "float64":
        return float(c.value)
    return wrap_int(c.value, c.dtype)


def divisor_may_be_zero(e: Expr) -> bool:
    """Integer division needs a zero guard unless the divisor is a non-zero literal."""
    return not (isinstance(e, Const) and const_value(e) != 0)


# ---------------------------------------------------------------------------------------------
def check_call(e: Call) -> None:
    """Raise CompileError unless ``e`` is an op/dtype combination every renderer implements."""
    op, args = e.op, e.args
    if op == "cast":
        if len(args) != 1 or e.dtype not in DTYPES or args[0].dtype not in DTYPES:
            raise CompileError(f"bad cast {args} -> {e.dtype}")
        return
    if op not in SCALAR_OPS:
        raise CompileError(f"unknown scalar op {op!r}")
    if len(args) != SCALAR_OPS[op]:
        raise CompileError(f"{op} takes {SCALAR_OPS[op]} arguments, got {len(args)}")
    if op in ("philox", "philox_uniform"):
        if any(a.dtype != "uint32" for a in args):
            raise CompileError(f"{op} needs uint32 arguments, got {[a.dtype for a in args]}")
        return
    if op in TRUTHY_ARGS:
        return
    operands = args[1:] if op == "where" else args
    dt = operands[0].dtype
    if any(a.dtype != dt for a in operands):
        raise CompileError(f"{op}: operand dtypes differ: {[a.dtype for a in operands]}")
    if op in FLOAT_ONLY and not is_float(dt):
        raise CompileError(f"{op} is defined on floats only, got {dt}")
    if dt == "bool" and op not in BOOL_OK:
        raise CompileError(f"{op} is not defined on bool")


def stmt_exprs(s) -> Iterator[Expr]:
    """The expressions directly owned by statement ``s`` (not those of nested statements)."""
    if isinstance(s, Assign):
        yield s.value
    elif isinstance(s, Store):
        yield s.index
        yield s.value
    elif isinstance(s, For):
        yield s.start
        yield s.stop
    elif isinstance(s, If):
        yield s.cond
    elif isinstance(s, Gemm):
        yield from (s.m, s.n, s.k, s.batch)
        if s.epilogue is not None:
            yield s.epilogue


def walk_stmts(body: Iterable) -> Iterator:
    """Yield every statement of ``body`` and of nested bodies (pre-order)."""
    for s in body:
        yield s
        if isinstance(s, For):
            yield from walk_stmts(s.body)
        elif isinstance(s, If):
            yield from walk_stmts(s.body)
            yield from walk_stmts(s.orelse)


def all_exprs(body: Iterable) -> Iterator[Expr]:
    for s in walk_stmts(body):
        for e in stmt_exprs(s):
            yield from walk_exprs(e)


def buffers_read(body: Iterable) -> Set[str]:
    gemm = {x for s in walk_stmts(body) if isinstance(s, Gemm) for x in (s.a, s.b)}
    return {e.buf for e in all_exprs(body) if isinstance(e, Load)} | gemm


def buffers_written(body: Iterable) -> Set[str]:
    return {s.c if isinstance(s, Gemm) else s.buf for s in walk_stmts(body)
            if isinstance(s, (Store, Gemm))}


def vars_assigned(body: Iterable) -> Set[str]:
    return {s.var.name for s in walk_stmts(body) if isinstance(s, (Assign, For))}


def vars_read(body: Iterable) -> Set[str]:
    return {e.name for e in all_exprs(body) if isinstance(e, Var)}


def check_kernel(k: Kernel) -> Dict[str, str]:
    """Validate a kernel before rendering; return ``{param name: dtype}``.

    Checks: unique parameter and symbol names, loads/stores name a parameter with the same dtype,
    every call is implemented, symbols are int64, and no local is read before it is assigned
    (an uninitialised local would silently differ between backends).
    """
    params: Dict[str, str] = {}
    for p in k.params:
        if p.name in params:
            raise CompileError(f"kernel {k.name}: duplicate parameter {p.name!r}")
        if p.dtype not in DTYPES:
            raise CompileError(f"kernel {k.name}: parameter {p.name!r} has bad dtype {p.dtype!r}")
        params[p.name] = p.dtype
    if len(set(k.symbols)) != len(k.symbols) or set(k.symbols) & set(params):
        raise CompileError(f"kernel {k.name}: symbol names collide: {k.symbols}")

    defined: Set[Tuple[str, str]] = {(s, "int64") for s in k.symbols}

    def expr(e: Expr) -> None:
        for x in walk_exprs(e):
            if isinstance(x, Var) and (x.name, x.dtype) not in defined:
                raise CompileError(f"kernel {k.name}: {x.dtype} variable {x.name!r} is read before "
                                   "it is assigned (or is not a symbol)")
            if isinstance(x, (Load,)):
                _check_buf(k, params, x.buf, x.dtype)
            if isinstance(x, Call):
                try:
                    check_call(x)
                except CompileError as err:
                    raise CompileError(f"kernel {k.name}: {err}") from None

    def gemm(s: Gemm) -> None:
        """Operands hold the (float) accumulation dtype; C holds the epilogue's dtype; the
        epilogue sees gemm_acc/row/col/batch besides what is defined here.  It may read C only
        as an in-place update does (the old value at the element it writes: the memory plan
        allows no other read), never as an operand."""
        if s.dtype not in FLOATS:
            raise CompileError(f"kernel {k.name}: Gemm accumulates floats only, got {s.dtype}")
        for e in (s.m, s.n, s.k, s.batch):
            if e.dtype not in INTEGERS:
                raise CompileError(f"kernel {k.name}: Gemm sizes must be integers, got {e.dtype}")
            expr(e)
        _check_buf(k, params, s.a, s.dtype)
        _check_buf(k, params, s.b, s.dtype)
        _check_buf(k, params, s.c, s.dtype if s.epilogue is None else s.epilogue.dtype)
        if s.c in (s.a, s.b):
            raise CompileError(f"kernel {k.name}: Gemm output {s.c!r} is also an operand")
        if s.epilogue is not None:
            extra = {(GEMM_ACC, s.dtype), (GEMM_ROW, "int64"), (GEMM_COL, "int64"),
                     (GEMM_BATCH, "int64")} - defined
            defined.update(extra)
            try:
                expr(s.epilogue)
            finally:
                defined.difference_update(extra)

    def stmts(body) -> None:
        for s in body:
            if isinstance(s, Gemm):
                gemm(s)
                continue
            for e in stmt_exprs(s):
                expr(e)
            if isinstance(s, (Assign, For)) and s.var.name in k.symbols:
                raise CompileError(f"kernel {k.name}: assigns to symbol {s.var.name!r}")
            if isinstance(s, Assign):
                if s.var.dtype != s.value.dtype:
                    raise CompileError(f"kernel {k.name}: assigning {s.value.dtype} to "
                                       f"{s.var.dtype} variable {s.var.name!r}")
                defined.add((s.var.name, s.var.dtype))
            elif isinstance(s, Store):
                _check_buf(k, params, s.buf, s.value.dtype)
            elif isinstance(s, For):
                if s.var.dtype not in INTEGERS:
                    raise CompileError(f"kernel {k.name}: loop variable {s.var.name!r} must be "
                                       f"an integer, got {s.var.dtype}")
                defined.add((s.var.name, s.var.dtype))
                stmts(s.body)
            elif isinstance(s, If):
                stmts(s.body)
                stmts(s.orelse)
            else:
                raise CompileError(f"kernel {k.name}: unknown statement {s!r}")

    stmts(k.body)
    return params


def _check_buf(k: Kernel, params: Dict[str, str], buf: str, dtype: str) -> None:
    if buf not in params:
        raise CompileError(f"kernel {k.name}: {buf!r} is not a parameter")
    if params[buf] != dtype:
        raise CompileError(f"kernel {k.name}: {buf!r} holds {params[buf]}, accessed as {dtype}")


def check_program(desc) -> Dict[str, Kernel]:
    """Validate launches against kernels and symbols; return ``{kernel name: kernel}``."""
    kernels: Dict[str, Kernel] = {}
    for k in desc.kernels:
        if k.name in kernels or k.name == desc.entry:
            raise CompileError(f"duplicate kernel name {k.name!r}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k.name):
            raise CompileError(f"kernel name {k.name!r} is not a C identifier")
        kernels[k.name] = k
    for launch in desc.launches:
        k = kernels.get(launch.kernel)
        if k is None:
            raise CompileError(f"launch of unknown kernel {launch.kernel!r}")
        if len(launch.slots) != len(k.params):
            raise CompileError(f"launch of {k.name}: {len(launch.slots)} slots for "
                               f"{len(k.params)} parameters")
        bad = [s for s in launch.slots if not 0 <= s < desc.n_slots]
        if bad:
            raise CompileError(f"launch of {k.name}: slots {bad} out of range 0..{desc.n_slots - 1}")
        missing = [s for s in k.symbols if s not in desc.symbols]
        if missing:
            raise CompileError(f"launch of {k.name}: symbols {missing} not in program symbols")
    return kernels


def shared_slot_params(desc, kernel: Kernel) -> Set[str]:
    """Parameters of ``kernel`` that some launch binds to the same slot as another parameter;
    those must not be declared ``noalias`` / ``__restrict__``."""
    shared: Set[str] = set()
    for launch in desc.launches:
        if launch.kernel != kernel.name:
            continue
        for i, p in enumerate(kernel.params):
            if list(launch.slots).count(launch.slots[i]) > 1:
                shared.add(p.name)
    return shared
