"""The backend-neutral kernel description.

Every fused group of the IR is lowered (by ``codegen.lower``) to one :class:`Kernel`: a small loop
program over flat buffers.  Renderers (``codegen.llvm_backend``, ``codegen.cuda_backend``) only print
this description; every decision (what to fuse, loop order, which loop is parallel) is made before.

Expressions are immutable trees with a dtype.  Index arithmetic is ``int64``.  Scalar operators are
named after the IR's elementwise primitives (``add``, ``exp``, ``where`` ...) plus a few index helpers,
so a new elementwise primitive needs one entry in each renderer's operator table.

Dtypes (strings): ``float32 float64 int32 int64 uint32 bool``.  In memory ``bool`` is one byte.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

DTYPES = ("float32", "float64", "int32", "int64", "uint32", "bool")

#: scalar operators every renderer implements: name -> arity.
#: Result dtype: comparisons/logical ops give bool; ``cast`` gives its own dtype; others the
#: dtype of their (equal-typed) arguments except ``where`` (dtype of args 1 and 2).
SCALAR_OPS = {
    # unary math
    "neg": 1, "exp": 1, "log": 1, "sqrt": 1, "tanh": 1, "sigmoid": 1, "abs": 1, "sign": 1,
    "sin": 1, "cos": 1, "floor": 1, "logical_not": 1,
    # binary math
    "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "maximum": 2, "minimum": 2,
    # integer division / modulo with C semantics on non-negative operands (index math)
    "floordiv": 2, "mod": 2,
    # comparisons -> bool
    "equal": 2, "not_equal": 2, "less": 2, "less_equal": 2, "greater": 2, "greater_equal": 2,
    "logical_and": 2, "logical_or": 2,
    # select
    "where": 3,
    # counter-based random: philox2x32-10 of (counter: uint32, counter_hi: uint32, key: uint32)
    # -> first uint32 output word.  ``philox_uniform`` maps it to float32 in [0, 1): (w >> 8) * 2**-24.
    "philox": 3, "philox_uniform": 3,
}

COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
               "logical_and", "logical_or", "logical_not"}


class Expr:
    """Base of expression nodes; every node has a ``dtype``."""
    dtype: str

    # small conveniences for building index math in lowering code
    def __add__(self, other): return call("add", self, as_expr(other, self.dtype))
    def __radd__(self, other): return call("add", as_expr(other, self.dtype), self)
    def __sub__(self, other): return call("sub", self, as_expr(other, self.dtype))
    def __mul__(self, other): return call("mul", self, as_expr(other, self.dtype))
    def __rmul__(self, other): return call("mul", as_expr(other, self.dtype), self)
    def __floordiv__(self, other): return call("floordiv", self, as_expr(other, self.dtype))
    def __mod__(self, other): return call("mod", self, as_expr(other, self.dtype))


@dataclass(frozen=True, eq=True)
class Const(Expr):
    value: Union[int, float, bool]
    dtype: str


@dataclass(frozen=True, eq=True)
class Var(Expr):
    """A loop variable, a local scalar, or a symbol parameter (``Kernel.symbols``, int64)."""
    name: str
    dtype: str


@dataclass(frozen=True, eq=True)
class Load(Expr):
    """``buf[index]`` where ``buf`` names a kernel parameter and ``index`` counts elements."""
    buf: str
    index: Expr
    dtype: str


@dataclass(frozen=True, eq=True)
class Call(Expr):
    """A scalar operator from :data:`SCALAR_OPS`, or ``cast``."""
    op: str
    args: Tuple[Expr, ...]
    dtype: str


class Stmt:
    pass


@dataclass
class Assign(Stmt):
    """Declare (on first assignment) or update a local scalar variable."""
    var: Var
    value: Expr


@dataclass
class Store(Stmt):
    buf: str
    index: Expr
    value: Expr


@dataclass
class For(Stmt):
    """``for var in range(start, stop)``.

    kind: ``serial``; ``parallel`` (iterations independent: GPU threads / CPU threads);
    ``vector`` (innermost, independent, contiguous: a vectorization hint); ``reduction``
    (iterations only accumulate into locals with an associative op: may be reassociated).
    """
    var: Var
    start: Expr
    stop: Expr
    body: list
    kind: str = "serial"


@dataclass
class If(Stmt):
    cond: Expr
    body: list
    orelse: list = field(default_factory=list)


#: variables a :class:`Gemm` epilogue may use: the accumulated dot product and its position
GEMM_ACC = "gemm_acc"
GEMM_ROW = "gemm_row"
GEMM_COL = "gemm_col"
GEMM_BATCH = "gemm_batch"


@dataclass
class Gemm(Stmt):
    """A (batched) matrix product with a fused elementwise epilogue, rendered by each backend's
    dedicated tiled generator (a naive loop nest is 20-50x slower than the machine).

    For ``b < batch, i < m, j < n``::

        acc = sum_k opA[b, i, k] * opB[b, k, j]
        c[b*m*n + i*n + j] = epilogue            (epilogue None means acc)

    ``opA`` is ``a`` viewed as row-major ``(batch, m, k)``, or ``(batch, k, m)`` transposed when
    ``transpose_a``; likewise ``opB`` is ``(batch, k, n)`` or ``(batch, n, k)`` when
    ``transpose_b``.  The epilogue is a scalar expression over ``Var(GEMM_ACC, dtype)``,
    ``Var(GEMM_ROW, "int64")``, ``Var(GEMM_COL, "int64")``, ``Var(GEMM_BATCH, "int64")``, loads from
    other params and kernel symbols (e.g. ``maximum(acc + bias[col], 0)``).  It must not read ``c``.
    """
    a: str
    b: str
    c: str
    m: "Expr"
    n: "Expr"
    k: "Expr"
    batch: "Expr"
    transpose_a: bool
    transpose_b: bool
    dtype: str
    epilogue: Optional["Expr"] = None


@dataclass(frozen=True)
class Param:
    """A buffer parameter.  ``role`` is ``in``, ``out`` or ``inout``."""
    name: str
    dtype: str
    role: str = "in"


@dataclass
class Kernel:
    """One generated function: ``name(params..., symbols...)``; ``origin`` names the IR nodes and
    layers it came from (printed as a comment by renderers)."""
    name: str
    params: list
    body: list
    symbols: list = field(default_factory=list)
    origin: str = ""
    flops: int = 0


@dataclass
class Launch:
    """Call ``kernel`` with buffer slots ``slots`` (one per kernel param, in order)."""
    kernel: str
    slots: Tuple[int, ...]


@dataclass
class ProgramDesc:
    """A whole compiled function: kernels, and the ordered launches of its single entry point.

    The entry point is ``void <entry>(void **slots, int64_t *symbols)``: ``slots`` holds one buffer
    pointer per slot, ``symbols`` the values of ``symbols`` in order (e.g. the batch size).
    """
    kernels: list
    launches: list
    symbols: list
    n_slots: int
    entry: str = "graphnn_entry"


# ---------------------------------------------------------------------------------------------
def as_expr(x, dtype: str = "int64") -> Expr:
    if isinstance(x, Expr):
        return x
    return Const(x, dtype)


def result_dtype(op: str, args) -> str:
    if op in COMPARISONS:
        return "bool"
    if op == "where":
        return args[1].dtype
    if op == "philox":
        return "uint32"
    if op == "philox_uniform":
        return "float32"
    return args[0].dtype


def call(op: str, *args) -> Expr:
    """Build ``Call`` with folding of trivial integer identities (keeps index math readable)."""
    if op not in SCALAR_OPS:
        raise KeyError(f"unknown scalar op {op!r}")
    args = tuple(args)
    if op in ("add", "sub", "mul", "floordiv", "mod") and all(isinstance(a, Const) for a in args) \
            and args[0].dtype in ("int64", "int32"):
        a, b = args[0].value, args[1].value
        v = {"add": a + b, "sub": a - b, "mul": a * b,
             "floordiv": a // b if b else 0, "mod": a % b if b else 0}[op]
        return Const(v, args[0].dtype)
    if len(args) == 2 and args[0].dtype in ("int64", "int32"):
        a, b = args
        if op == "add":
            if isinstance(b, Const) and b.value == 0:
                return a
            if isinstance(a, Const) and a.value == 0:
                return b
        if op == "sub" and isinstance(b, Const) and b.value == 0:
            return a
        if op == "mul":
            if isinstance(b, Const) and b.value == 1:
                return a
            if isinstance(a, Const) and a.value == 1:
                return b
            if (isinstance(b, Const) and b.value == 0) or (isinstance(a, Const) and a.value == 0):
                return Const(0, a.dtype)
        if op == "floordiv" and isinstance(b, Const) and b.value == 1:
            return a
        if op == "mod" and isinstance(b, Const) and b.value == 1:
            return Const(0, a.dtype)
    return Call(op, args, result_dtype(op, args))


def cast(x: Expr, dtype: str) -> Expr:
    if x.dtype == dtype:
        return x
    if isinstance(x, Const):
        return Const(_py_cast(x.value, dtype), dtype)
    return Call("cast", (x,), dtype)


def _py_cast(v, dtype):
    if dtype == "bool":
        return bool(v)
    if dtype.startswith("float"):
        return float(v)
    return int(v)


def walk_exprs(e: Expr):
    """Yield ``e`` and all sub-expressions (pre-order)."""
    yield e
    if isinstance(e, Load):
        yield from walk_exprs(e.index)
    elif isinstance(e, Call):
        for a in e.args:
            yield from walk_exprs(a)


def format_kernel(k: Kernel) -> str:
    """Human-readable pseudo-code of a kernel (for dumps and golden tests)."""
    lines = [f"kernel {k.name}({', '.join(f'{p.role} {p.dtype}* {p.name}' for p in k.params)}"
             + ("".join(f", int64 {s}" for s in k.symbols)) + ")" + (f"  # {k.origin}" if k.origin else "")]

    def ex(e):
        if isinstance(e, Const):
            return repr(e.value)
        if isinstance(e, Var):
            return e.name
        if isinstance(e, Load):
            return f"{e.buf}[{ex(e.index)}]"
        if e.op == "cast":
            return f"{e.dtype}({ex(e.args[0])})"
        return f"{e.op}({', '.join(ex(a) for a in e.args)})"

    def st(s, ind):
        p = "  " * ind
        if isinstance(s, Assign):
            lines.append(f"{p}{s.var.name} = {ex(s.value)}")
        elif isinstance(s, Store):
            lines.append(f"{p}{s.buf}[{ex(s.index)}] = {ex(s.value)}")
        elif isinstance(s, For):
            lines.append(f"{p}for {s.var.name} in {ex(s.start)}..{ex(s.stop)} ({s.kind}):")
            for b in s.body:
                st(b, ind + 1)
        elif isinstance(s, If):
            lines.append(f"{p}if {ex(s.cond)}:")
            for b in s.body:
                st(b, ind + 1)
            if s.orelse:
                lines.append(f"{p}else:")
                for b in s.orelse:
                    st(b, ind + 1)
    for s in k.body:
        st(s, 1)
    return "\n".join(lines)


def gemm_loop_nest(s: Gemm, direct: bool, outer: str = "serial") -> list:
    """``s`` as plain loops (its reference semantics; the lowering's fallback for a Gemm):
    C's row accumulates ``A[i, k] * B[k, :]`` along contiguous rows of
    B (or dot products along k when B is transposed or C cannot hold partial sums), then the
    epilogue.  ``direct``: C has the accumulation dtype; ``outer``: kind of the row loop."""
    i64, dt = "int64", s.dtype
    r, j, kk = Var("gemm_r", i64), Var("gemm_j", i64), Var("gemm_k", i64)
    M, N, K = s.m, s.n, s.k
    bv, i = call("floordiv", r, M), call("mod", r, M)
    a_off, b_off, c_off = bv * (M * K), bv * (K * N), bv * (M * N)
    zero, z64 = Const(0.0, dt), Const(0, i64)

    def aidx(k_):
        return a_off + (k_ * M + i if s.transpose_a else i * K + k_)

    def bidx(k_, j_):
        return b_off + (j_ * K + k_ if s.transpose_b else k_ * N + j_)
    cidx = c_off + (i * N + j)

    def final(acc):
        if s.epilogue is None:
            return [Store(s.c, cidx, acc)]
        return [Assign(Var(GEMM_ACC, dt), acc), Assign(Var(GEMM_ROW, i64), i),
                Assign(Var(GEMM_COL, i64), j), Assign(Var(GEMM_BATCH, i64), bv),
                Store(s.c, cidx, s.epilogue)]
    if direct and not s.transpose_b:
        av = Var("gemm_a", dt)
        body = [For(j, z64, N, [Store(s.c, cidx, zero)], "vector"),
                For(kk, z64, K, [
                    Assign(av, Load(s.a, aidx(kk), dt)),
                    For(j, z64, N, [Store(s.c, cidx, call("add", Load(s.c, cidx, dt),
                                                           call("mul", av, Load(s.b, bidx(kk, j), dt))))],
                        "vector")], "serial")]
        if s.epilogue is not None:
            body.append(For(j, z64, N, final(Load(s.c, cidx, dt)), "vector"))
    else:
        acc = Var("gemm_sum", dt)
        body = [For(j, z64, N, [
            Assign(acc, zero),
            For(kk, z64, K, [Assign(acc, call("add", acc, call("mul", Load(s.a, aidx(kk), dt),
                                                               Load(s.b, bidx(kk, j), dt))))],
                "reduction")] + final(acc), "serial")]
    return [For(r, z64, call("mul", s.batch, M), body, outer)]


# ---------------------------------------------------------------------------------------------
#: Philox-2x32-10 constants.  The same bits on every backend and in ``ir``'s numpy reference.
PHILOX_M = 0xD256D193
PHILOX_W = 0x9E3779B9
PHILOX_ROUNDS = 10
