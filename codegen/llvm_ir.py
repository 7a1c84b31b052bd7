"""Small llvmlite helpers shared by the LLVM renderer, the GEMM generator and the thread runtime."""
from __future__ import annotations

from typing import List

from llvmlite import ir


def declare(module: ir.Module, name: str, ret: ir.Type, args: List[ir.Type]) -> ir.Function:
    """Declare function ``name`` in ``module`` once and return it (later calls reuse it)."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name=name)
    return fn
