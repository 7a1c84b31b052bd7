"""Readable text and graphviz DOT for graphs (dumps, ``GRAPHNN_DEBUG=2``, inspection)."""
from __future__ import annotations

from .graph import Graph


def _attrs_text(attrs) -> str:
    if not attrs:
        return ""
    return " {" + ", ".join(f"{k}={v!r}" for k, v in sorted(attrs.items())) + "}"


def format_node(g: Graph, n: int) -> str:
    args = ", ".join(f"%{a}" for a in g.args(n))
    fusion = g.nx.nodes[n].get("fusion")
    tag = f"  [{fusion}]" if fusion and fusion != "source" else ""
    origin = f"  # {g.origin(n)}" if g.origin(n) else ""
    return f"%{n}: {g.type(n)} = {g.op(n)}({args}){_attrs_text(g.attrs(n))}{tag}{origin}"


def format_graph(g: Graph) -> str:
    lines = [f"graph {g.name}({', '.join(f'%{i}' for i in g.inputs)}):"]
    lines += ["  " + format_node(g, n) for n in g.topo()]
    lines.append("  return " + ", ".join(f"%{o}" for o in g.outputs))
    for var, val in g.updates:
        lines.append(f"  update %{var} <- %{val}")
    return "\n".join(lines)


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(g: Graph) -> str:
    """DOT text; nodes of one fused kernel share a cluster when the fusion pass has run."""
    lines = [f'digraph "{_dot_escape(g.name)}" {{', "  rankdir=TB; node [shape=box, fontsize=10];"]
    members = getattr(g, "kernel_members", {})
    in_cluster = set()
    for k, (root, ms) in enumerate(sorted(members.items())):
        layers = sorted({g.origin(n) for n in ms if g.origin(n)})
        label = f"kernel {k}" + (f": {', '.join(layers)}" if layers else "")
        lines.append(f'  subgraph cluster_{k} {{ label="{_dot_escape(label)}"; style=dashed;')
        for m in ms:
            lines.append(f"    n{m};")
            in_cluster.add(m)
        lines.append("  }")
    for n in g.topo():
        label = f"%{n} {g.op(n)}\\n{g.type(n)}"
        if g.origin(n):
            label += f"\\n{g.origin(n)}"
        lines.append(f'  n{n} [label="{_dot_escape(label)}"];')
    for u, v, k in sorted(g.nx.edges(keys=True)):
        lines.append(f'  n{u} -> n{v} [label="{k}"];')
    lines.append("}")
    return "\n".join(lines)
