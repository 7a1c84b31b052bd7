"""FLOPs and bytes of a planned graph's kernels for concrete symbol values (``graphnn bench``,
``Program.profile``): the arithmetic a kernel must do and the memory it must move at least,
so measured times become GFLOP/s and GB/s."""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ir.graph import Graph
from ir.registry import get_op
from ir.types import concrete

#: ops that move or view data without arithmetic
_FREE = {"movement", "source"}


def _numel(g: Graph, n: int, env: Dict[str, int]) -> int:
    return int(np.prod(concrete(g.type(n).shape, env), dtype=np.int64))


def _nbytes(g: Graph, n: int, env: Dict[str, int]) -> int:
    return _numel(g, n, env) * np.dtype(g.type(n).dtype).itemsize


def op_flops(g: Graph, n: int, env: Dict[str, int]) -> int:
    """A multiply-add is 2 FLOPs, any other arithmetic 1 per output element (a reduction: 1 per
    input element); movement ops count 0."""
    op = g.op(n)
    kind = get_op(op).fusion
    if op == "matmul":
        a = g.args(n)[0]
        at = g.attrs(n)
        ka = -2 if at.get("transpose_a") else -1
        k = concrete(g.type(a).shape, env)[ka]
        return 2 * _numel(g, n, env) * int(k)
    if op == "matmul_flat":   # A as (all leading axes merged, last axis)
        a = g.args(n)[0]
        shape = concrete(g.type(a).shape, env)
        k = int(np.prod(shape[:-1], dtype=np.int64)) if g.attrs(n).get("transpose_a") \
            else int(shape[-1])
        return 2 * _numel(g, n, env) * k
    if kind in _FREE:
        return 0
    if kind == "reduction":
        return _numel(g, g.args(n)[0], env)
    return _numel(g, n, env)


def kernel_costs(g: Graph, env: Dict[str, int]) -> Dict[int, Tuple[int, int]]:
    """``root -> (flops, bytes)`` for every kernel of planned graph ``g``: the FLOPs of its
    member ops, the bytes of the buffers it reads plus the one it writes."""
    out = {}
    for root in g.plan.schedule:
        flops = sum(op_flops(g, m, env) for m in g.kernel_members[root])
        moved = sum(_nbytes(g, r, env) for r in set(g.kernel_reads[root])) + _nbytes(g, root, env)
        out[root] = (flops, moved)
    return out
