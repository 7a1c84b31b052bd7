"""``Container``: a graph of layers from input tensors to output tensors, usable as a layer."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ir.tensor import Tensor, origin_scope

from .. import backend as K
from ..utils.generic_utils import to_list, unpack_singleton
from .topology import InputLayer, Layer, Node, identity


class Container(Layer):
    """Keras 1 ``Model(input=, output=)`` / Keras 2 ``Model(inputs=, outputs=)`` topology."""

    def __init__(self, inputs=None, outputs=None, name: Optional[str] = None, input=None,
                 output=None):
        inputs = inputs if inputs is not None else input
        outputs = outputs if outputs is not None else output
        super().__init__(name=name)
        self.inputs: List[Tensor] = []
        self.outputs: List[Tensor] = []
        self.layers: List[Layer] = []
        self.input_layers: List[Layer] = []
        self.output_layers: List[Layer] = []
        if inputs is not None and outputs is not None:
            self._init_graph(to_list(inputs), to_list(outputs))

    # --- graph discovery --------------------------------------------------------------------------
    def _init_graph(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor]) -> None:
        for x in list(inputs) + list(outputs):
            if not hasattr(x, "_keras_history"):
                raise TypeError(f"Model {self.name}: {x!r} is not a Keras tensor (the output of "
                                "a layer or of Input()).")
        for x in inputs:
            layer, node_index, _ = x._keras_history
            if not isinstance(layer, InputLayer) or node_index != 0:
                raise TypeError(f"Input tensors to a Model must come from `Input`. Received: {x!r} "
                                f"(produced by layer {layer.name!r}).")
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.input_layers = [x._keras_history[0] for x in inputs]
        self.output_layers = [x._keras_history[0] for x in outputs]
        self.input_names = [layer.name for layer in self.input_layers]
        self.output_names = [layer.name for layer in self.output_layers]
        self._collect_nodes()
        self.inbound_nodes, self.outbound_nodes = [], []
        self.supports_masking = False
        Node(self, [], [], [], self.inputs, self.outputs, [None] * len(self.inputs),
             [getattr(o, "_keras_mask", None) for o in self.outputs])
        self.built = True

    def _collect_nodes(self) -> None:
        """Depth of every node (distance from the outputs) and layers in execution order."""
        node_depth: Dict[int, int] = {}
        nodes: Dict[int, Node] = {}
        layer_order: Dict[int, int] = {}
        stack = [(o._keras_history[0], o._keras_history[1], 0) for o in self.outputs]
        while stack:
            layer, node_index, depth = stack.pop()
            node = layer.inbound_nodes[node_index]
            if node_depth.get(id(node), -1) >= depth:
                continue
            node_depth[id(node)] = depth
            nodes[id(node)] = node
            layer_order.setdefault(id(layer), len(layer_order))
            for inbound, ni in zip(node.inbound_layers, node.node_indices):
                stack.append((inbound, ni, depth + 1))
        input_ids = {id(x) for x in self.inputs}
        for node in nodes.values():
            if not node.inbound_layers and isinstance(node.outbound_layer, InputLayer) and \
                    id(node.output_tensors[0]) not in input_ids:
                raise RuntimeError("Graph disconnected: cannot obtain value for tensor " +
                                   repr(node.output_tensors[0]) + ' at layer "' +
                                   node.outbound_layer.name + '". The following previous layers '
                                   "were accessed without issue: " +
                                   str([n.outbound_layer.name for n in nodes.values()
                                        if n is not node]))
        self.nodes_by_depth: Dict[int, List[Node]] = {}
        for nid, depth in node_depth.items():
            self.nodes_by_depth.setdefault(depth, []).append(nodes[nid])
        layer_depth: Dict[int, int] = {}
        layers: Dict[int, Layer] = {}
        for node in nodes.values():
            lid = id(node.outbound_layer)
            layers[lid] = node.outbound_layer
            layer_depth[lid] = max(layer_depth.get(lid, 0), node_depth[id(node)])
        # inputs first; creation order (the order layers were first reached) breaks ties
        order = sorted(layers, key=lambda lid: (-layer_depth[lid], -layer_order[lid]))
        self.layers = [layers[lid] for lid in order]
        self._node_ids = set(nodes)

    # --- layer protocol ---------------------------------------------------------------------------
    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError("Was asked to retrieve layer at index " + str(index) +
                                 " but model only has " + str(len(self.layers)) + " layers.")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError("No such layer: " + str(name))

    def _unique(self, attr: str) -> List:
        seen, out = set(), []
        for layer in self.layers:
            for w in getattr(layer, attr):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self) -> List[Tensor]:
        return self._unique("trainable_weights") if self.trainable else []

    @trainable_weights.setter
    def trainable_weights(self, weights):
        raise AttributeError("a model's weights come from its layers")

    @property
    def non_trainable_weights(self) -> List[Tensor]:
        weights = self._unique("non_trainable_weights")
        if not self.trainable:
            weights = self._unique("trainable_weights") + weights
        return weights

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights):
        raise AttributeError("a model's weights come from its layers")

    @property
    def weights(self) -> List[Tensor]:
        return self._unique("weights")

    def get_weights(self) -> List[np.ndarray]:
        return K.batch_get_value(self.weights)

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Weights in layer order, as ``get_weights`` returns them."""
        weights = list(weights)
        expected = len(self.weights)
        if len(weights) != expected:
            raise ValueError(f"You called `set_weights(weights)` on model {self.name!r} with a "
                             f"weight list of length {len(weights)}, but the model was expecting "
                             f"{expected} weights.")
        for layer in self.layers:
            n = len(layer.weights)
            if n:
                layer.set_weights(weights[:n])
            weights = weights[n:]

    @property
    def constraints(self) -> Dict[Tensor, object]:
        out = {}
        for layer in self.layers:
            out.update(getattr(layer, "constraints", {}) or {})
        return out

    @constraints.setter
    def constraints(self, value):
        pass  # Layer.__init__ assigns an empty dict; a model's constraints come from its layers

    def _relevant_inputs(self):
        """Input tuples (per layer) of the nodes inside this model: losses/updates keyed by them
        belong to the model."""
        keys = {None}
        for depth_nodes in getattr(self, "nodes_by_depth", {}).values():
            for node in depth_nodes:
                keys.add(tuple(id(x) for x in node.input_tensors))
        return keys

    @property
    def losses(self) -> List[Tensor]:
        keys, out = self._relevant_inputs(), []
        for layer in self.layers:
            if isinstance(layer, Container):
                out += layer.losses
            else:
                out += [loss for k, loss in layer._losses if k in keys]
        return out + [loss for _, loss in self._losses]

    @property
    def updates(self) -> List[tuple]:
        keys, out = self._relevant_inputs(), []
        for layer in self.layers:
            if isinstance(layer, Container):
                out += layer.updates
            else:
                out += [u for k, u in layer._updates if k in keys]
        return out + [u for _, u in self._updates]

    @property
    def uses_learning_phase(self) -> bool:
        return any(getattr(x, "_uses_learning_phase", False) for x in self.outputs)

    def count_params(self) -> int:
        return int(sum(K.count_params(w) for w in self.weights))

    # --- calling on new tensors -------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, mask=None):
        """Re-run the layers' ``call`` on new tensors (no new nodes inside the model)."""
        inputs = to_list(inputs)
        masks = to_list(mask) if isinstance(mask, list) else [mask] * len(inputs)
        computed: Dict[int, tuple] = {id(x): (y, m) for x, y, m in zip(self.inputs, inputs, masks)}
        for depth in sorted(self.nodes_by_depth, reverse=True):
            for node in self.nodes_by_depth[depth]:
                layer = node.outbound_layer
                if isinstance(layer, InputLayer):
                    continue
                args = [computed[id(x)] for x in node.input_tensors]
                xs = [a for a, _ in args]
                ms = [m for _, m in args]
                with origin_scope(layer.name):
                    call_mask = unpack_singleton(ms) if any(m is not None for m in ms) else None
                    out = layer._call_with_mask(unpack_singleton(xs), call_mask, {})
                    out_mask = layer.compute_mask(unpack_singleton(xs), call_mask)
                    outs = [identity(o) if any(o is x for x in xs) else o for o in to_list(out)]
                    if layer.activity_regularizer is not None:
                        for o in outs:
                            layer.add_loss(layer.activity_regularizer(o), inputs=xs)
                out_masks = to_list(out_mask) if isinstance(out_mask, list) else \
                    [out_mask] * len(outs)
                for ref, o, m in zip(node.output_tensors, outs, out_masks):
                    o._keras_shape = tuple(None if isinstance(d, str) else d for d in o.shape)
                    computed[id(ref)] = (o, m)
        outs = [computed[id(o)][0] for o in self.outputs]
        return unpack_singleton(outs)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return unpack_singleton([K.int_shape(o) for o in self.outputs])

    def summary(self, line_length: Optional[int] = None, positions=None, print_fn=print) -> None:
        from ..utils.layer_utils import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)
