"""The graph that passes and code generation work on: a ``networkx.MultiDiGraph``.

Node schema (node attributes): ``op`` (primitive name), ``attrs`` (:class:`ir.registry.Attrs`),
``type`` (:class:`ir.types.TensorType`), ``origin`` (layer scope it was built in).  An edge
``u -> v`` with key ``i`` says "u is argument i of v" (an argument used twice gives two edges).
Graph-level lists: ``inputs`` (placeholder nodes, in call order), ``outputs`` (nodes, in order;
may repeat), ``updates`` (``(variable_node, value_node)`` pairs applied after the outputs).
Node ids are ints; new nodes get larger ids, so sorting by id is a deterministic tie-break.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

import networkx as nx

from .registry import Attrs, get_op
from .tensor import Tensor
from .types import TensorType


class Graph:
    def __init__(self):
        self.nx = nx.MultiDiGraph()
        self.inputs: List[int] = []
        self.outputs: List[int] = []
        self.updates: List[Tuple[int, int]] = []
        self.name = "function"
        self._next = 0

    # --- construction
    def add(self, op: str, args: Sequence[int], attrs=None, type: TensorType = None,
            origin: str = "") -> int:
        attrs = attrs if isinstance(attrs, Attrs) else Attrs(attrs or {})
        if type is None:
            type = get_op(op).infer([self.type(a) for a in args], attrs)
        n = self._next
        self._next += 1
        self.nx.add_node(n, op=op, attrs=attrs, type=type, origin=origin)
        for i, a in enumerate(args):
            self.nx.add_edge(a, n, key=i)
        return n

    @classmethod
    def build(cls, inputs: Sequence[Tensor], outputs: Sequence[Tensor],
              updates: Sequence[Tuple[Tensor, Tensor]] = (), name: str = "function",
              givens: Dict[Tensor, object] = None) -> Tuple["Graph", Dict[int, int]]:
        """Collect the tensors reachable from ``outputs`` and update values into a graph.
        ``givens`` replaces tensors by constant values (e.g. the learning phase), so constant
        folding can remove what they switch off.  Returns the graph and the map from tensor id to
        node id."""
        import numpy as np
        from .ops.sources import ConstValue
        g = cls()
        given = {t.id: np.asarray(v, dtype=t.dtype).reshape(()) if t.shape == () else
                 np.asarray(v, dtype=t.dtype) for t, v in (givens or {}).items()}
        g.name = name
        ids: Dict[int, int] = {}
        roots = list(outputs) + [v for _, v in updates] + [var for var, _ in updates] + list(inputs)
        # iterative post-order so deep graphs do not hit the recursion limit
        for root in roots:
            stack = [(root, False)]
            while stack:
                t, expanded = stack.pop()
                if t.id in ids:
                    continue
                if t.id in given:
                    ids[t.id] = g.add("constant", [], {"value": ConstValue(given[t.id])}, t.type,
                                      t.origin)
                elif expanded:
                    ids[t.id] = g.add(t.op, [ids[a.id] for a in t.inputs], t.attrs, t.type, t.origin)
                else:
                    stack.append((t, True))
                    stack.extend((a, False) for a in reversed(t.inputs) if a.id not in ids)
        g.inputs = [ids[t.id] for t in inputs]
        g.outputs = [ids[t.id] for t in outputs]
        for var, val in updates:
            if var.op != "variable":
                raise ValueError(f"an update target must be a variable, got {var}")
            if var.type != val.type:
                raise ValueError(f"update of variable {var.name!r}: value type {val.type} "
                                 f"differs from the variable's {var.type}")
            g.updates.append((ids[var.id], ids[val.id]))
        return g, ids

    def copy(self) -> "Graph":
        h = Graph()
        h.nx = self.nx.copy()
        h.inputs, h.outputs, h.updates = list(self.inputs), list(self.outputs), list(self.updates)
        h.name, h._next = self.name, self._next
        return h

    # --- queries
    def __contains__(self, n):
        return n in self.nx

    def __len__(self):
        return self.nx.number_of_nodes()

    def nodes(self) -> List[int]:
        return sorted(self.nx.nodes)

    def op(self, n) -> str:
        return self.nx.nodes[n]["op"]

    def attrs(self, n) -> Attrs:
        return self.nx.nodes[n]["attrs"]

    def type(self, n) -> TensorType:
        return self.nx.nodes[n]["type"]

    def origin(self, n) -> str:
        return self.nx.nodes[n]["origin"]

    def args(self, n) -> List[int]:
        edges = sorted(self.nx.in_edges(n, keys=True), key=lambda e: e[2])
        return [u for u, _, _ in edges]

    def users(self, n) -> List[Tuple[int, int]]:
        """(user node, argument position) pairs, sorted."""
        return sorted((v, k) for _, v, k in self.nx.out_edges(n, keys=True))

    def roots(self) -> List[int]:
        """Nodes whose values leave the graph (outputs, update values) or are update targets."""
        out = list(self.outputs)
        for var, val in self.updates:
            out += [val, var]
        return out

    def topo(self) -> List[int]:
        return list(nx.lexicographical_topological_sort(self.nx))

    def symbols(self) -> List[str]:
        syms = set()
        for n in self.nx.nodes:
            syms |= {d for d in self.type(n).shape if isinstance(d, str)}
        return sorted(syms)

    # --- rewriting
    def replace_uses(self, old: int, new: int):
        """Make every user of ``old`` (and graph outputs/updates) use ``new`` instead."""
        if old == new:
            return
        for _, v, k in list(self.nx.out_edges(old, keys=True)):
            self.nx.remove_edge(old, v, key=k)
            self.nx.add_edge(new, v, key=k)
        self.outputs = [new if o == old else o for o in self.outputs]
        self.updates = [(var, new if val == old else val) for var, val in self.updates]

    def set_args(self, n: int, args: Sequence[int]):
        for u, _, k in list(self.nx.in_edges(n, keys=True)):
            self.nx.remove_edge(u, n, key=k)
        for i, a in enumerate(args):
            self.nx.add_edge(a, n, key=i)

    def remove(self, nodes: Iterable[int]):
        self.nx.remove_nodes_from(list(nodes))

    def describe(self, n) -> str:
        """One line naming a node for error messages: id, op, type and the layer it came from."""
        origin = self.origin(n)
        where = f" (layer {origin!r})" if origin else ""
        return f"node %{n} = {self.op(n)} -> {self.type(n)}{where}"
