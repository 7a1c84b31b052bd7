"""Grid and block sizes for the kernels of a CUDA translation unit (``cuda_backend``).

Both device runtimes (the GPU through PyCUDA and the host emulator) launch every kernel with the
configuration computed here, so the emulator runs exactly the thread mapping the GPU runs:

- a kernel with a ``Gemm``: :func:`codegen.gemm_cuda.gemm_launch_config` (one 16 x 16 block per
  64 x 64 tile of C and batch entry);
- a kernel with a top-level ``parallel`` loop (a grid-stride loop): blocks of
  :data:`BLOCK` threads, one thread per iteration up to :data:`MAX_BLOCKS` blocks (the stride
  covers the rest);
- a kernel without one: a single thread (its code is guarded to thread 0 of block 0).

Sizes come from the kernel's expressions evaluated with the symbol values of the call (e.g. the
batch size); a size that cannot be evaluated gets the largest grid (always correct: grid-stride and
block-stride loops cover any problem with any grid).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from . import mathlib as ml
from .gemm_cuda import gemm_launch_config
from .kernel import Assign, Call, Const, Expr, For, Gemm, Kernel, Var

#: threads per block of a grid-stride loop
BLOCK = 256
#: most blocks of a grid-stride loop (enough to fill a large GPU several times over)
MAX_BLOCKS = 4096

Dim3 = Tuple[int, int, int]

_INT_OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "floordiv": lambda a, b: a // b if b else 0, "mod": lambda a, b: a % b if b else 0,
            "maximum": max, "minimum": min}


def evaluate(e: Expr, env: Dict[str, int]) -> Optional[int]:
    """The integer value of index arithmetic ``e`` given ``env``, or None if it reads memory or
    an unknown variable (the configuration then falls back to a large grid)."""
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Var):
        v = env.get(e.name)
        return None if v is None else int(v)
    if isinstance(e, Call):
        if e.op == "cast" and e.dtype in ml.INTEGERS:
            return evaluate(e.args[0], env)
        fn = _INT_OPS.get(e.op)
        if fn is None or len(e.args) != 2:
            return None
        a, b = evaluate(e.args[0], env), evaluate(e.args[1], env)
        return None if a is None or b is None else int(fn(a, b))
    return None


def launch_config(kernel: Kernel, symbols: Dict[str, int]) -> Tuple[Dim3, Dim3]:
    """``(grid, block)`` of one launch of ``kernel`` with the symbol values ``symbols``."""
    env = dict(symbols)
    for s in kernel.body:   # top-level locals every thread computes (e.g. sizes)
        if isinstance(s, Assign) and s.var.dtype in ml.INTEGERS:
            v = evaluate(s.value, env)
            if v is not None:
                env[s.var.name] = v
    gemm = next((s for s in ml.walk_stmts(kernel.body) if isinstance(s, Gemm)), None)
    if gemm is not None:
        m, n, b = (evaluate(x, env) for x in (gemm.m, gemm.n, gemm.batch))
        big = 2 ** 31 - 1
        return gemm_launch_config(big if m is None else m, big if n is None else n,
                                  big if b is None else b)
    par = next((s for s in kernel.body if isinstance(s, For) and s.kind == "parallel"), None)
    if par is None:
        return (1, 1, 1), (1, 1, 1)
    start, stop = evaluate(par.start, env), evaluate(par.stop, env)
    if start is None or stop is None:
        return (MAX_BLOCKS, 1, 1), (BLOCK, 1, 1)
    blocks = min(max(1, -(-(stop - start) // BLOCK)), MAX_BLOCKS)
    return (blocks, 1, 1), (BLOCK, 1, 1)
