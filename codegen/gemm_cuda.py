"""CUDA C rendering of the :class:`~codegen.kernel.Gemm` statement.

``cuda_backend._KernelPrinter.top_level`` hands a kernel whose body holds a ``Gemm`` to
:func:`render_gemm`.  The Gemm must be the kernel's only top-level statement that writes memory
(lowering guarantees it); top-level ``Assign`` statements of locals are evaluated by every thread
before it.

Tiling: a block of ``THREADS_X x THREADS_Y`` = 16 x 16 threads computes a ``TILE_M x TILE_N``
= 64 x 64 tile of C; thread ``(tx, ty)`` owns the 4 x 4 elements ``(ty + 16*i, tx + 16*j)``
(strided, so shared-memory reads are conflict-free and stores to C are coalesced).  K advances in
steps of ``TILE_K`` = 16: the block stages the ``64 x 16`` slice of op(A) and the ``16 x 64``
slice of op(B) in shared memory (zero-padded past m/n/k), with the global-load mapping chosen per
transpose flag so consecutive threads read consecutive addresses, then ``__syncthreads``.  The
epilogue is applied to each finished element right before its (bounds-checked) store.

Launch: ``blockDim = (16, 16, 1)`` and ``gridDim = (ceil(n/64), ceil(m/64), batch)`` (see
:func:`gemm_launch_config`).  Tiles and batches are walked with block-stride loops, so any
smaller grid (e.g. clamped to the hardware's 65535 limit in y/z) is also correct; the loops are
uniform over a block, so every ``__syncthreads`` is reached by all of its threads.
"""
from __future__ import annotations

from typing import Tuple

from . import mathlib as ml
from .errors import CompileError
from .kernel import GEMM_ACC, GEMM_BATCH, GEMM_COL, GEMM_ROW, Assign, Gemm, Var, walk_exprs

THREADS_X = THREADS_Y = 16
TILE_M = TILE_N = 64
TILE_K = 16
PER_THREAD = TILE_M // THREADS_Y   # 4 x 4 elements per thread

_CTYPE = {"float32": "float", "float64": "double"}


def gemm_launch_config(m: int, n: int, batch: int = 1) -> Tuple[Tuple[int, int, int],
                                                               Tuple[int, int, int]]:
    """``(grid, block)`` for a kernel rendered by :func:`render_gemm`: one block per 64 x 64
    tile of C and batch entry (y and z clamped to the hardware limit of 65535; the kernel's
    block-stride loops cover the rest)."""
    tiles_n = max(1, -(-n // TILE_N))
    tiles_m = max(1, -(-m // TILE_M))
    grid = (min(tiles_n, 2 ** 31 - 1), min(tiles_m, 65535), max(1, min(batch, 65535)))
    return grid, (THREADS_X, THREADS_Y, 1)


def render_gemm(printer, body: list) -> None:
    """Append the body of a Gemm kernel to ``printer.lines`` (a ``cuda_backend._KernelPrinter``)."""
    k = printer.k
    gemms = [s for s in body if isinstance(s, Gemm)]
    others = [s for s in body if not isinstance(s, (Gemm, Assign))]
    nested = [s for s in ml.walk_stmts(body) if isinstance(s, Gemm) and s not in gemms]
    if len(gemms) != 1 or others or nested:
        raise CompileError(f"kernel {k.name}: a Gemm must be the only top-level statement of its "
                           "kernel on the GPU (besides local assignments)")
    for s in body:
        if isinstance(s, Assign):
            printer.stmt(s, 1)
        else:
            _render(printer, s)


def _render(p, s: Gemm) -> None:
    out, fresh = p.lines, p.names.fresh
    T = _CTYPE[s.dtype]
    # the epilogue's variables first, so they keep their names in the source
    v_acc, v_row = p.var(Var(GEMM_ACC, s.dtype)), p.var(Var(GEMM_ROW, "int64"))
    v_col, v_bat = p.var(Var(GEMM_COL, "int64")), p.var(Var(GEMM_BATCH, "int64"))
    n_ = {x: fresh(f"gm_{x}") for x in
          ("M", "N", "K", "batch", "As", "Bs", "acc", "tx", "ty", "tid", "bb", "tm", "tn",
           "row0", "col0", "p0", "e", "idx", "r", "q", "gi", "gp", "kk", "ar", "br", "i", "j",
           "row", "col", "a", "b")}
    M, N, K, BATCH = n_["M"], n_["N"], n_["K"], n_["batch"]
    As, Bs, acc = n_["As"], n_["Bs"], n_["acc"]
    tx, ty, tid = n_["tx"], n_["ty"], n_["tid"]
    bb, tm, tn, row0, col0, p0 = (n_[x] for x in ("bb", "tm", "tn", "row0", "col0", "p0"))
    e, idx, r, q, gi, gp, kk = (n_[x] for x in ("e", "idx", "r", "q", "gi", "gp", "kk"))
    ar, br, i, j, row, col = (n_[x] for x in ("ar", "br", "i", "j", "row", "col"))
    A, B = n_["a"], n_["b"]
    c_dtype = p.params[s.c]
    nthreads = THREADS_X * THREADS_Y
    loads = TILE_M * TILE_K // nthreads
    P = PER_THREAD

    def w(line: str, depth: int) -> None:
        out.append("  " * depth + line)

    if p.comments:
        w(f"// gemm {s.c} = {s.a}{'^T' if s.transpose_a else ''} @ "
          f"{s.b}{'^T' if s.transpose_b else ''} ({s.dtype}): {TILE_M}x{TILE_N} C tile per "
          f"{THREADS_X}x{THREADS_Y}-thread block, {P}x{P} per thread, K step {TILE_K}", 1)
        w(f"// launch: block ({THREADS_X}, {THREADS_Y}, 1), grid (ceil(n/{TILE_N}), "
          f"ceil(m/{TILE_M}), batch); any smaller grid is also correct", 1)
    w(f"__shared__ {T} {As}[{TILE_K}][{TILE_M} + 1];  // op(A) slice, k-major", 1)
    w(f"__shared__ {T} {Bs}[{TILE_K}][{TILE_N} + 1];  // op(B) slice, k-major", 1)
    w(f"const long long {M} = {p.expr(s.m)}, {N} = {p.expr(s.n)}, {K} = {p.expr(s.k)}, "
      f"{BATCH} = {p.expr(s.batch)};", 1)
    w(f"const int {tx} = (int)threadIdx.x, {ty} = (int)threadIdx.y, "
      f"{tid} = {ty} * {THREADS_X} + {tx};", 1)
    used = {e.name for e in walk_exprs(s.epilogue) if isinstance(e, Var)} if s.epilogue else set()
    bind = [(GEMM_ACC, T, v_acc, f"{acc}[{i}][{j}]"), (GEMM_ROW, "long long", v_row, row),
            (GEMM_COL, "long long", v_col, col), (GEMM_BATCH, "long long", v_bat, bb)]
    bind = [x for x in bind if x[0] in used]
    for _, ctype, name, _ in bind:
        w(f"{ctype} {name};", 1)
    w(f"for (long long {bb} = blockIdx.z; {bb} < {BATCH}; {bb} += gridDim.z) {{", 1)
    w(f"const {T}* {A} = {p.buf(s.a)} + {bb} * {M} * {K};", 2)
    w(f"const {T}* {B} = {p.buf(s.b)} + {bb} * {K} * {N};", 2)
    w(f"for (long long {tm} = blockIdx.y; {tm} * {TILE_M} < {M}; {tm} += gridDim.y) {{", 2)
    w(f"for (long long {tn} = blockIdx.x; {tn} * {TILE_N} < {N}; {tn} += gridDim.x) {{", 3)
    w(f"const long long {row0} = {tm} * {TILE_M}, {col0} = {tn} * {TILE_N};", 4)
    w(f"{T} {acc}[{P}][{P}];", 4)
    w(f"for (int {i} = 0; {i} < {P}; ++{i})", 4)
    w(f"for (int {j} = 0; {j} < {P}; ++{j}) {acc}[{i}][{j}] = 0;", 5)
    w(f"for (long long {p0} = 0; {p0} < {K}; {p0} += {TILE_K}) {{", 4)
    # stage op(A)[row0:+64, p0:+16]: consecutive threads read consecutive addresses
    w(f"for (int {e} = 0; {e} < {loads}; ++{e}) {{", 5)
    w(f"const int {idx} = {tid} + {e} * {nthreads};", 6)
    if s.transpose_a:   # stored (k, m): rows of m are contiguous
        w(f"const int {r} = {idx} % {TILE_M}, {q} = {idx} / {TILE_M};", 6)
        addr = f"{A}[{gp} * {M} + {gi}]"
    else:               # stored (m, k)
        w(f"const int {q} = {idx} % {TILE_K}, {r} = {idx} / {TILE_K};", 6)
        addr = f"{A}[{gi} * {K} + {gp}]"
    w(f"const long long {gi} = {row0} + {r}, {gp} = {p0} + {q};", 6)
    w(f"{As}[{q}][{r}] = ({gi} < {M} && {gp} < {K}) ? {addr} : ({T})0;", 6)
    w("}", 5)
    # stage op(B)[p0:+16, col0:+64]
    w(f"for (int {e} = 0; {e} < {loads}; ++{e}) {{", 5)
    w(f"const int {idx} = {tid} + {e} * {nthreads};", 6)
    if s.transpose_b:   # stored (n, k)
        w(f"const int {q} = {idx} % {TILE_K}, {r} = {idx} / {TILE_K};", 6)
        addr = f"{B}[{gi} * {K} + {gp}]"
    else:               # stored (k, n)
        w(f"const int {r} = {idx} % {TILE_N}, {q} = {idx} / {TILE_N};", 6)
        addr = f"{B}[{gp} * {N} + {gi}]"
    w(f"const long long {gi} = {col0} + {r}, {gp} = {p0} + {q};", 6)
    w(f"{Bs}[{q}][{r}] = ({gi} < {N} && {gp} < {K}) ? {addr} : ({T})0;", 6)
    w("}", 5)
    w("__syncthreads();", 5)
    w("#pragma unroll", 5)
    w(f"for (int {kk} = 0; {kk} < {TILE_K}; ++{kk}) {{", 5)
    w(f"{T} {ar}[{P}], {br}[{P}];", 6)
    w("#pragma unroll", 6)
    w(f"for (int {i} = 0; {i} < {P}; ++{i}) {{", 6)
    w(f"{ar}[{i}] = {As}[{kk}][{ty} + {THREADS_Y} * {i}];", 7)
    w(f"{br}[{i}] = {Bs}[{kk}][{tx} + {THREADS_X} * {i}];", 7)
    w("}", 6)
    w("#pragma unroll", 6)
    w(f"for (int {i} = 0; {i} < {P}; ++{i})", 6)
    w("#pragma unroll", 7)
    w(f"for (int {j} = 0; {j} < {P}; ++{j}) {acc}[{i}][{j}] += {ar}[{i}] * {br}[{j}];", 7)
    w("}", 5)
    w("__syncthreads();  // the slices are overwritten by the next K step", 5)
    w("}", 4)
    # epilogue and store
    w(f"for (int {i} = 0; {i} < {P}; ++{i}) {{", 4)
    w(f"for (int {j} = 0; {j} < {P}; ++{j}) {{", 5)
    w(f"const long long {row} = {row0} + {ty} + {THREADS_Y} * {i}, "
      f"{col} = {col0} + {tx} + {THREADS_X} * {j};", 6)
    w(f"if ({row} < {M} && {col} < {N}) {{", 6)
    if s.epilogue is None:
        value = f"{acc}[{i}][{j}]"
    else:
        for _, _, name, value in bind:
            w(f"{name} = {value};", 7)
        value = p.expr(s.epilogue)
    if c_dtype == "bool":
        value = f"(unsigned char){value}"
    w(f"{p.buf(s.c)}[({bb} * {M} + {row}) * {N} + {col}] = {value};", 7)
    w("}", 6)
    w("}", 5)
    w("}", 4)
    w("}", 3)
    w("}", 2)
    w("}", 1)
