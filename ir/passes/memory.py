"""``memory``: schedule the kernels and plan their buffers.

- Kernels run in a topological order that defers optimizer updates as late as possible, so the
  old value of a variable has been read before its update is written.
- Every materialized value gets a buffer *slot*.  Intermediates share slots by liveness (two values
  share a slot when their lifetimes do not overlap and their sizes are equal for every value of
  the symbols), so the arena of a train step is a few buffers, not one per op.
- An update ``var <- value`` is done in place (the kernel writes straight into the variable's
  buffer) when the value is an elementwise kernel, reads the variable only at the index it writes,
  and nothing scheduled later reads the old value; otherwise a copy runs at the end.
The result is ``g.plan`` (:class:`Plan`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import networkx as nx

from ..graph import Graph
from ..registry import get_op
from ..types import Product
from . import register_pass


@dataclass
class Slot:
    kind: str        # input | output | variable | constant | temp
    dtype: str
    size: Product
    ref: object = None   # input index, output index, variable uid or constant array


@dataclass
class Plan:
    schedule: List[int]                           # kernel roots in launch order
    slot_of: Dict[int, int]                       # node -> slot
    slots: List[Slot]
    copies: List[Tuple[int, int]] = field(default_factory=list)  # (dst slot, node) at the end
    writes: Dict[int, int] = field(default_factory=dict)         # root -> slot it writes
    #: root -> extra slots its kernel works in (ops with ``extra["scratch"]``, e.g. ``scan``)
    scratch: Dict[int, List[int]] = field(default_factory=dict)


def _elementwise_reader(g: Graph, root: int, var: int) -> bool:
    """True if ``root``'s fused group reads ``var`` only through elementwise ops (same index)
    and is not a GEMM with an epilogue (see below)."""
    members = set(g.kernel_members[root])
    if get_op(g.op(root)).fusion != "elementwise":
        return False
    if root in getattr(g, "kernel_contraction", {}):
        # correct (the CPU generator then keeps the partial sums in its scratch block, CUDA in
        # registers) but slower: the MLP's weight-gradient GEMMs ran at 66-70 GFLOP/s that way
        # against 99-106 writing a temporary, whose copy costs less (80-90 us against ~900)
        return False
    for u, _ in g.users(var):
        if u in members and get_op(g.op(u)).fusion != "elementwise":
            return False
    return True


@register_pass("memory")
def memory(g: Graph) -> Graph:
    roots = [n for n in g.nodes() if g.nx.nodes[n].get("fusion") == "root"]
    update_values = {val for _, val in g.updates}
    dag = nx.DiGraph()
    dag.add_nodes_from(roots)
    for r in roots:
        for a in g.kernel_reads[r]:
            if a in dag:
                dag.add_edge(a, r)
    schedule = list(nx.lexicographical_topological_sort(
        dag, key=lambda n: (n in update_values, n)))
    pos = {r: i for i, r in enumerate(schedule)}
    end = len(schedule)

    slots: List[Slot] = []
    slot_of: Dict[int, int] = {}

    def new_slot(kind, n, ref=None):
        t = g.type(n)
        slots.append(Slot(kind, t.dtype, Product(t.shape), ref))
        return len(slots) - 1

    for i, n in enumerate(g.inputs):
        slot_of[n] = new_slot("input", n, i)
    for n in g.nodes():
        op = g.op(n)
        if op == "variable":
            slot_of[n] = new_slot("variable", n, g.attrs(n)["uid"])
        elif op == "constant" and g.attrs(n)["value"].array.size != 1:
            slot_of[n] = new_slot("constant", n, g.attrs(n)["value"].array)

    readers: Dict[int, List[int]] = {}
    for r in roots:
        for a in g.kernel_reads[r]:
            readers.setdefault(a, []).append(r)

    copies: List[Tuple[int, int]] = []
    writes: Dict[int, int] = {}
    # outputs: the first occurrence of a kernel root writes its output slot directly
    out_slots = [new_slot("output", o, i) for i, o in enumerate(g.outputs)]
    direct_out = {}
    for o, s in zip(g.outputs, out_slots):
        if g.nx.nodes[o].get("fusion") == "root" and o not in direct_out:
            direct_out[o] = s
            slot_of[o] = s
        else:
            copies.append((s, o))
    # updates: in place where safe
    for var, val in g.updates:
        vslot = slot_of[var]
        ok = g.nx.nodes[val].get("fusion") == "root" and val not in slot_of
        if ok and var in g.kernel_reads[val]:
            ok = _elementwise_reader(g, val, var)
        if ok:
            later = [r for r in readers.get(var, []) if r != val and pos[r] > pos[val]]
            ok = not later
        if ok:
            slot_of[val] = vslot
        else:
            copies.append((vslot, val))

    # temps: greedy reuse by liveness among equal (dtype, size) buffers
    last_read: Dict[int, int] = {}
    for r in schedule:
        for a in g.kernel_reads[r]:
            last_read[a] = max(last_read.get(a, -1), pos[r])
    for _, n in copies:
        last_read[n] = end
    free: Dict[tuple, List[int]] = {}
    releases: Dict[int, List[int]] = {}
    for r in schedule:
        i = pos[r]
        if r not in slot_of:
            t = g.type(r)
            key = (t.dtype, Product(t.shape))
            pool = free.get(key)
            if pool:
                slot_of[r] = pool.pop()
            else:
                slot_of[r] = new_slot("temp", r)
            if slots[slot_of[r]].kind == "temp":
                releases.setdefault(max(last_read.get(r, i), i), []).append(r)
        writes[r] = slot_of[r]
        for done in releases.pop(i, []):
            t = g.type(done)
            free.setdefault((t.dtype, Product(t.shape)), []).append(slot_of[done])
    # kernels that loop over a sub-graph (scan) keep its buffers in slots of their own
    scratch: Dict[int, List[int]] = {}
    for r in schedule:
        fn = get_op(g.op(r)).extra.get("scratch")
        if fn is not None:
            scratch[r] = []
            for kind, dtype, size, ref in fn(g, r):
                slots.append(Slot(kind, dtype, size, ref))
                scratch[r].append(len(slots) - 1)
    g.plan = Plan(schedule, slot_of, slots, copies, writes, scratch)
    return g
