"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from .. import backend as K


def _sequential_like(model) -> bool:
    if model.__class__.__name__ == "Sequential":
        return True
    for nodes in getattr(model, "nodes_by_depth", {}).values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(nodes[0].inbound_layers) > 1):
            return False
    return True


def print_summary(model, line_length: Optional[int] = None, positions: Optional[Sequence] = None,
                  print_fn: Callable[[str], None] = print) -> None:
    sequential_like = _sequential_like(model)
    if sequential_like:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    relevant = {id(n) for nodes in getattr(model, "nodes_by_depth", {}).values() for n in nodes}

    def print_row(fields):
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                line = line[:-1] + " "
            line += str(field)
            line = line[:positions[i]]
            line += " " * (positions[i] - len(line))
        print_fn(line)

    print_fn("_" * line_length)
    print_row(to_display)
    print_fn("=" * line_length)
    layers = model.layers
    for i, layer in enumerate(layers):
        try:
            output_shape = layer.output_shape
        except (AttributeError, ValueError):
            output_shape = "multiple"
        fields = [layer.name + " (" + layer.__class__.__name__ + ")", output_shape,
                  layer.count_params() if layer.built else 0]
        if sequential_like:
            print_row(fields)
        else:
            connections = []
            for node in layer.inbound_nodes:
                if relevant and id(node) not in relevant:
                    continue
                for inbound, ni, ti in zip(node.inbound_layers, node.node_indices,
                                           node.tensor_indices):
                    connections.append(f"{inbound.name}[{ni}][{ti}]")
            print_row(fields + [connections[0] if connections else ""])
            for c in connections[1:]:
                print_row(["", "", "", c])
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    trainable = sum(K.count_params(p) for p in _unique(model.trainable_weights))
    non_trainable = sum(K.count_params(p) for p in _unique(model.non_trainable_weights))
    print_fn("Total params: {:,}".format(trainable + non_trainable))
    print_fn("Trainable params: {:,}".format(trainable))
    print_fn("Non-trainable params: {:,}".format(non_trainable))
    print_fn("_" * line_length)


def _unique(weights):
    seen, out = set(), []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out
