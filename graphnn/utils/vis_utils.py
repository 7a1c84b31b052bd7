"""``plot_model``: the layer graph as graphviz DOT text, rendered to PNG/SVG/PDF when graphviz's
``dot`` program is installed (pydot is not needed)."""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from typing import List



def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _shape(shape) -> str:
    return str(shape).replace("None", "?")


def model_to_dot(model, show_shapes: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB") -> str:
    """DOT text with one record node per layer and an edge per connection inside the model."""
    from ..engine.topology import InputLayer
    layers = list(model.layers)
    first = model.inputs[0]._keras_history[0] if getattr(model, "inputs", None) else None
    if isinstance(first, InputLayer) and first not in layers:  # Sequential hides its input
        layers = [first] + layers
    node_ids = getattr(model, "_node_ids", None)
    lines: List[str] = ["digraph G {", "  rankdir=" + rankdir + ";",
                        "  node [shape=record];"]
    for layer in layers:
        label = layer.__class__.__name__
        if show_layer_names:
            label = layer.name + ": " + label
        if show_shapes:
            try:
                out_shape = _shape(layer.output_shape)
            except (AttributeError, ValueError, RuntimeError):
                out_shape = "multiple"
            try:
                in_shape = _shape(layer.input_shape)
            except (AttributeError, ValueError, RuntimeError):
                in_shape = "multiple"
            label = "%s\\n|{input:|output:}|{{%s}|{%s}}" % (label, in_shape, out_shape)
        lines.append("  %s [label=%s];" % (_quote(str(id(layer))), _quote(label)))
    shown = {id(layer) for layer in layers}
    for layer in layers:
        for node in layer.inbound_nodes:
            if node_ids is not None and id(node) not in node_ids and \
                    not isinstance(layer, InputLayer) and node.inbound_layers and \
                    not any(id(i) in shown for i in node.inbound_layers):
                continue
            for inbound in node.inbound_layers:
                if id(inbound) in shown:
                    lines.append("  %s -> %s;" % (_quote(str(id(inbound))),
                                                 _quote(str(id(layer)))))
    lines.append("}")
    return "\n".join(dict.fromkeys(lines)) + "\n"  # shared layers: each edge once


def plot_model(model, to_file: str = "model.png", show_shapes: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB") -> str:
    """Write the DOT text next to ``to_file`` (``model.dot`` for ``model.png``; ``to_file``
    itself when it ends in ``.dot``) and render ``to_file`` with ``dot`` when graphviz is
    installed; otherwise warn how to render it.  Returns the path of the DOT file."""
    dot = model_to_dot(model, show_shapes, show_layer_names, rankdir)
    base, ext = os.path.splitext(to_file)
    fmt = ext[1:].lower() or "png"
    dot_path = to_file if fmt in ("dot", "gv") else base + ".dot"
    from .io_utils import atomic_open
    with atomic_open(dot_path, "w") as f:
        f.write(dot)
    if fmt in ("dot", "gv"):
        return dot_path
    program = shutil.which("dot")
    if program is None:
        warnings.warn("graphviz's `dot` program was not found on PATH, so " + repr(to_file) +
                      " was not rendered; the graph was written as DOT text to " +
                      repr(dot_path) + " (render it with `dot -T" + fmt + " " + dot_path +
                      " -o " + to_file + "` once graphviz is installed).")
        return dot_path
    subprocess.run([program, "-T" + fmt, dot_path, "-o", to_file], check=True,
                   capture_output=True)
    return dot_path

