"""``Container``: a graph of layers from input tensors to output tensors, usable as a layer."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ir.tensor import Tensor, origin_scope

from .. import backend as K
from ..utils.generic_utils import json_default, to_list, unpack_singleton
from .topology import InputLayer, Layer, Node, identity


class Container(Layer):
    """Keras 1 ``Model(input=, output=)`` / Keras 2 ``Model(inputs=, outputs=)`` topology."""

    #: ``layers.deserialize`` passes ``custom_objects`` on to ``from_config``
    _deserializes_layers = True

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
        self._network_layers: List[Layer] = []
        self._node_ids: set = set()
        self._call_losses: List[tuple] = []   # (inputs key, loss) made by calls on new tensors
        self._call_updates: List[tuple] = []
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
        self._network_layers = [layers[lid] for lid in order]
        self.layers = list(self._network_layers)
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

    def _weight_layers(self) -> List[Layer]:
        """The layers whose weights are the model's, in ``get_weights`` order."""
        return list(self.layers)

    def _unique(self, attr: str) -> List:
        seen, out = set(), []
        for layer in self._weight_layers():
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
        seen = set()
        for layer in self._weight_layers():
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            n = len(layer.weights)
            if n:
                layer.set_weights(weights[:n])
            weights = weights[n:]

    @property
    def constraints(self) -> Dict[Tensor, object]:
        out = {}
        for layer in self._weight_layers():
            out.update(getattr(layer, "constraints", {}) or {})
        return out

    @constraints.setter
    def constraints(self, value):
        pass  # Layer.__init__ assigns an empty dict; a model's constraints come from its layers

    def _collect(self, what: str) -> List:
        """Losses or updates of this model: each layer's entries keyed by the inputs of its nodes
        inside the model, its unconditional ones, then the model's own.  Entries made when a
        layer was called elsewhere (other placeholders) are left out."""
        seen, out = set(), []

        def add(items):
            for item in items:
                if id(item) not in seen:
                    seen.add(id(item))
                    out.append(item)

        getter = "get_losses_for" if what == "losses" else "get_updates_for"
        for layer in getattr(self, "_network_layers", []):
            for node in layer.inbound_nodes:
                if id(node) in self._node_ids and node.inbound_layers:
                    add(getattr(layer, getter)(node.input_tensors))
            add(getattr(layer, getter)(None))
        add(item for _, item in (self._losses if what == "losses" else self._updates))
        return out

    @property
    def losses(self) -> List[Tensor]:
        return self._collect("losses")

    @property
    def updates(self) -> List[tuple]:
        return self._collect("updates")

    def get_losses_for(self, inputs) -> List[Tensor]:
        """Layer protocol for a model used as a layer: the losses its call on ``inputs`` made
        (``None``: unconditional ones, such as weight penalties)."""
        key = None if inputs is None else tuple(id(x) for x in to_list(inputs))
        return super().get_losses_for(inputs) + [v for k, v in self._call_losses if k == key]

    def get_updates_for(self, inputs) -> List[tuple]:
        key = None if inputs is None else tuple(id(x) for x in to_list(inputs))
        return super().get_updates_for(inputs) + [v for k, v in self._call_updates if k == key]

    @property
    def uses_learning_phase(self) -> bool:
        return any(getattr(x, "_uses_learning_phase", False) for x in self.outputs)

    def count_params(self) -> int:
        return int(sum(K.count_params(w) for w in self.weights))

    def reset_states(self) -> None:
        """Zero the carried states of the stateful layers (recurrent layers, wrappers of them,
        nested models)."""
        for layer in self.layers:
            if getattr(layer, "stateful", False) or isinstance(layer, Container):
                layer.reset_states()

    # --- calling on new tensors -------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, mask=None):
        """Re-run the layers' ``call`` on new tensors (no new nodes inside the model)."""
        inputs = to_list(inputs)
        key = tuple(id(x) for x in inputs)
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
                self._record_call(layer, xs, key)
                out_masks = to_list(out_mask) if isinstance(out_mask, list) else \
                    [out_mask] * len(outs)
                for ref, o, m in zip(node.output_tensors, outs, out_masks):
                    o._keras_shape = tuple(None if isinstance(d, str) else d for d in o.shape)
                    computed[id(ref)] = (o, m)
        outs = [computed[id(o)][0] for o in self.outputs]
        return unpack_singleton(outs)

    def _record_call(self, layer: Layer, xs: List[Tensor], key: tuple) -> None:
        """Keep what ``layer`` added for inputs ``xs`` (and unconditionally) under this call's
        inputs, so an enclosing model finds the BN updates and activity penalties of the call."""
        for store, items in ((self._call_losses, [(key, v) for v in layer.get_losses_for(xs)] +
                              [(None, v) for v in layer.get_losses_for(None)]),
                             (self._call_updates, [(key, v) for v in layer.get_updates_for(xs)] +
                              [(None, v) for v in layer.get_updates_for(None)])):
            known = {(k, id(v)) for k, v in store}
            for k, v in items:
                if (k, id(v)) not in known:
                    known.add((k, id(v)))
                    store.append((k, v))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return unpack_singleton([K.int_shape(o) for o in self.outputs])

    # --- config ----------------------------------------------------------------------------------
    def _node_index_map(self) -> Dict[int, int]:
        """Index of each of this model's nodes among its layer's nodes that belong to the model
        (a layer shared with other models keeps only these); a model used as a layer starts at 1,
        its node 0 being the one that links its own inputs to its outputs."""
        out: Dict[int, int] = {}
        for layer in self._network_layers:
            kept = 1 if isinstance(layer, Container) else 0
            for node in layer.inbound_nodes:
                if id(node) in self._node_ids:
                    out[id(node)] = kept
                    kept += 1
        return out

    def get_config(self) -> dict:
        """Keras's functional config: ``layers`` (each with ``inbound_nodes``, one list per call
        of ``[layer_name, node_index, tensor_index, kwargs]``), ``input_layers``,
        ``output_layers``."""
        node_map = self._node_index_map()

        def ref(layer: Layer, node_index: int, tensor_index: int) -> list:
            return [layer.name, node_map.get(id(layer.inbound_nodes[node_index]), 0),
                    tensor_index]

        layer_configs = []
        for layer in self._network_layers:
            inbound = []
            for node in layer.inbound_nodes:
                if id(node) in self._node_ids and node.inbound_layers:
                    inbound.append([ref(il, ni, ti) + [{}] for il, ni, ti in
                                    zip(node.inbound_layers, node.node_indices,
                                        node.tensor_indices)])
            layer_configs.append({"name": layer.name, "class_name": layer.__class__.__name__,
                                  "config": layer.get_config(), "inbound_nodes": inbound})
        return {"name": self.name, "layers": layer_configs,
                "input_layers": [ref(*x._keras_history) for x in self.inputs],
                "output_layers": [ref(*x._keras_history) for x in self.outputs]}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Container":
        """Rebuild the layers, then call each on its inbound tensors in the order of its nodes.
        A node whose inputs do not exist yet (a shared layer fed by a later layer) waits."""
        from ..layers import deserialize
        created: Dict[str, Layer] = {}
        pending: Dict[str, List] = {}
        for data in config["layers"]:
            layer = deserialize({"class_name": data["class_name"], "config": data["config"]},
                                custom_objects)
            layer.name = data["name"]  # a Sequential's list config does not carry its name
            created[data["name"]] = layer
            pending[data["name"]] = list(data.get("inbound_nodes") or [])

        def tensor(entry) -> Tensor:
            name, node_index, tensor_index = entry[0], entry[1], entry[2]
            if name not in created:
                raise ValueError("Unknown layer " + repr(name) + " in the model config")
            return created[name].inbound_nodes[node_index].output_tensors[tensor_index]

        def ready(entry) -> bool:
            return len(created[entry[0]].inbound_nodes) > entry[1]

        while any(pending.values()):
            progressed = False
            for name, queue in pending.items():
                while queue and all(ready(e) for e in queue[0]):
                    node_data = queue.pop(0)
                    kwargs = node_data[0][3] if len(node_data[0]) > 3 and node_data[0][3] else {}
                    created[name](unpack_singleton([tensor(e) for e in node_data]), **kwargs)
                    progressed = True
            if not progressed:
                stuck = {n: q[0] for n, q in pending.items() if q}
                raise ValueError("Model config: cannot connect the layers " + str(stuck) +
                                 " (their inbound nodes never appear)")
        return cls(inputs=[tensor(e) for e in config["input_layers"]],
                   outputs=[tensor(e) for e in config["output_layers"]],
                   name=config.get("name"))

    def to_json(self, **kwargs) -> str:
        import json
        return json.dumps({"class_name": self.__class__.__name__, "config": self.get_config()},
                          default=json_default, **kwargs)

    def to_yaml(self, **kwargs) -> str:
        import json
        import yaml
        return yaml.dump(json.loads(self.to_json()), **kwargs)

    def summary(self, line_length: Optional[int] = None, positions=None, print_fn=print) -> None:
        from ..utils.layer_utils import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)


