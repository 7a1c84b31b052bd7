"""``graphnn inspect``: what the compiler makes of a model, as files in one folder.

For each function (predict, train): the IR before and after each pass (``<fn>/passes/``), the
fused kernel groups as kernel descriptions (``kernels.txt``), the generated LLVM IR with each
kernel's ops and layers (``program.ll``), its assembly (``program.s``) and the CUDA C
(``program.cu``), and graphviz drawings: the model's layers (``model.dot``) and the kernel graph
(``kernels.dot``, kernels as clusters labelled with the layers they came from); ``.svg`` too
when the ``dot`` program is installed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, List


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def model_dot(model) -> str:
    """The layer graph of ``model`` in DOT: one box per layer (name, class, output shape)."""
    lines = ["digraph model {", "  rankdir=TB;", "  node [shape=record, fontsize=10];"]
    ids: Dict[int, str] = {}
    for i, layer in enumerate(model.layers):
        ids[id(layer)] = f"l{i}"
        shape = getattr(layer, "output_shape", "?")
        label = f"{layer.name}|{type(layer).__name__}|{shape}".replace('"', "'")
        lines.append(f'  l{i} [label="{{{label}}}"];')
    for layer in model.layers:
        for node in getattr(layer, "inbound_nodes", []):
            for src in getattr(node, "inbound_layers", []):
                if id(src) in ids and id(layer) in ids:
                    lines.append(f"  {ids[id(src)]} -> {ids[id(layer)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_svg(dot_path: str) -> bool:
    exe = shutil.which("dot")
    if exe is None:
        return False
    proc = subprocess.run([exe, "-Tsvg", dot_path, "-o", dot_path[:-4] + ".svg"],
                          capture_output=True, text=True)
    return proc.returncode == 0


def inspect_function(graph, out_dir: str) -> List[str]:
    """Write the compiler's view of one function's ``graph`` into ``out_dir``; return the files."""
    from codegen import cuda_backend, llvm_backend
    from codegen.kernel import format_kernel
    from codegen.lower import lower_graph
    from ir.passes import run_pipeline
    from ir.printer import format_graph, to_dot
    written: List[str] = []

    def put(rel: str, text: str) -> None:
        path = os.path.join(out_dir, rel)
        _write(path, text)
        written.append(path)

    put("passes/00_input.txt", format_graph(graph))
    step = [0]

    def dump(name, g):
        step[0] += 1
        put(f"passes/{step[0]:02d}_{name}.txt", format_graph(g))
    planned = run_pipeline(graph, dump=dump)
    desc = lower_graph(planned, name="k")
    put("kernels.txt", "\n\n".join(format_kernel(k) for k in desc.kernels) + "\n")
    put("kernels.dot", to_dot(planned))
    llvm_text = llvm_backend.render_module(desc, comments=True)
    put("program.ll", llvm_text)
    try:
        put("program.s", llvm_backend.assembly(llvm_text))
    except Exception as err:  # noqa: BLE001 - the other views are still useful
        put("program.s", f"; assembly not available: {err}\n")
    try:
        put("program.cu", cuda_backend.render_module(desc))
    except Exception as err:  # noqa: BLE001 - a kernel kind the CUDA renderer refuses
        put("program.cu", f"// CUDA C not available for this program: {err}\n")
    return written


def inspect(model, out_dir: str, functions=("predict", "train")) -> List[str]:
    """All views of ``model``'s ``functions`` under ``out_dir/<function>/`` plus
    ``out_dir/model.dot``; SVG drawings when graphviz's ``dot`` is installed."""
    written = []
    path = os.path.join(out_dir, "model.dot")
    _write(path, model_dot(model))
    written.append(path)
    for which in functions:
        if which == "predict":
            f = model._make_predict_function()
        elif which == "train":
            f = model._make_train_function()
        else:
            raise ValueError(f"unknown function {which!r}: choose predict or train")
        graph = (f._fn or f._build()).graph
        written += inspect_function(graph, os.path.join(out_dir, which))
    for p in list(written):
        if p.endswith(".dot") and _render_svg(p):
            written.append(p[:-4] + ".svg")
    return written
