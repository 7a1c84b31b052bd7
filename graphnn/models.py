"""``Sequential`` (a linear stack of layers) and model (de)serialization helpers."""
from __future__ import annotations

import json
from typing import List, Optional

import numpy as np

from . import backend as K
from .engine.topology import Input, Layer, get_source_inputs, to_snake_case
from .engine.saving import (load_model, load_weights, model_from_config,  # noqa: F401
                            model_from_json, model_from_yaml, save_model, save_weights)
from .engine.training import Model
from .utils.generic_utils import json_default

__all__ = ["Sequential", "Model", "model_from_config", "model_from_json", "model_from_yaml",
           "load_model", "save_model"]


class Sequential(Model):
    """A linear stack of layers.  The first layer needs ``input_shape``/``input_dim``/
    ``batch_input_shape``; its auto-created input is named like Keras 1.2.2 (``dense_input_1``).

    ``model.layers`` lists the added layers; ``model.model`` is the model itself (Keras 1 code
    reached the inner functional model that way).
    """

    def __init__(self, layers: Optional[List[Layer]] = None, name: Optional[str] = None):
        self._seq_layers: List[Layer] = []
        super().__init__(name=name)
        self.input_names: List[str] = []
        self.output_names: List[str] = []
        for layer in layers or []:
            self.add(layer)

    # ``Container`` assigns ``self.layers`` when it walks the graph; for a Sequential the public
    # list is the added layers (the automatic InputLayer is not shown, as in Keras).
    @property
    def layers(self) -> List[Layer]:
        return list(self._seq_layers)

    @layers.setter
    def layers(self, value):
        self._graph_layers = value

    @property
    def model(self) -> "Sequential":
        return self

    def _weight_layers(self) -> List[Layer]:
        """The added layers; a first Keras 1 ``Merge`` brings the layers it merges (their weights
        are this model's, as in Keras 1's ``flattened_layers``)."""
        out: List[Layer] = []
        for i, layer in enumerate(self._seq_layers):
            merged = getattr(layer, "layers", None) if i == 0 and _is_merge(layer) else None
            for item in list(merged or []) + [layer]:
                if not any(item is o for o in out):
                    out.append(item)
        return out

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError("The added layer must be an instance of class Layer. Found: " +
                            str(layer))
        if not self.outputs:
            if not layer.inbound_nodes:
                if not hasattr(layer, "batch_input_shape"):
                    raise ValueError("The first layer in a Sequential model must get an "
                                     "`input_shape` or `batch_input_shape` argument.")
                prefix = to_snake_case(layer.__class__.__name__) + "_input_"
                x = Input(batch_shape=layer.batch_input_shape, dtype=layer.dtype,
                          name=prefix + str(K.get_uid(prefix)))
                layer(x)
            if len(layer.inbound_nodes) != 1:
                raise ValueError("A layer added to a Sequential model must not already be "
                                 "connected somewhere else. Model received layer " + layer.name +
                                 " which has " + str(len(layer.inbound_nodes)) +
                                 " pre-existing inbound connections.")
            if len(layer.inbound_nodes[0].output_tensors) != 1:
                raise ValueError("All layers in a Sequential model should have a single output "
                                 "tensor. For multi-output layers, use the functional API.")
            outputs = [layer.inbound_nodes[0].output_tensors[0]]
            inputs = get_source_inputs(outputs[0])
        else:
            output = layer(self.outputs[0])
            if isinstance(output, list):
                raise TypeError("All layers in a Sequential model should have a single output "
                                "tensor. For multi-output layers, use the functional API.")
            inputs, outputs = self.inputs, [output]
        self._seq_layers.append(layer)
        self._set_graph(inputs, outputs)

    def pop(self) -> None:
        """Remove the last layer (the model must be compiled again)."""
        if not self._seq_layers:
            raise TypeError("There are no layers in the model.")
        self._seq_layers.pop()
        if not self._seq_layers:
            self.inputs, self.outputs = [], []
            self.inbound_nodes, self.outbound_nodes = [], []
            self.built = False
            self._reset_compiled()
            return
        last = self._seq_layers[-1]
        last.outbound_nodes = []
        self._set_graph(self.inputs, [last.inbound_nodes[-1].output_tensors[0]])

    def _set_graph(self, inputs, outputs) -> None:
        self._init_graph(inputs, outputs)
        self._reset_compiled()  # layers changed: compile again before training

    def build(self, input_shape=None) -> None:
        self.built = True

    # --- Sequential-only prediction helpers ------------------------------------------------------
    def predict_proba(self, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        preds = self.predict(x, batch_size, verbose)
        if preds.min() < 0.0 or preds.max() > 1.0:
            import warnings
            warnings.warn("Network returning invalid probability values. The last layer might "
                          "not normalize predictions into probabilities (like softmax or sigmoid "
                          "would).")
        return preds

    def predict_classes(self, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    # --- config ----------------------------------------------------------------------------------
    def get_config(self) -> list:
        """A list of layer configs (Keras 1 / 2.0 format); a first ``Merge`` of layers carries
        their configs under ``layers`` (Keras 1)."""
        config = [{"class_name": layer.__class__.__name__, "config": layer.get_config()}
                  for layer in self._seq_layers]
        if config and _is_merge(self._seq_layers[0]) and self._seq_layers[0].layers:
            config[0]["config"]["layers"] = [
                {"class_name": layer.__class__.__name__, "config": layer.get_config()}
                for layer in self._seq_layers[0].layers]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None) -> "Sequential":
        from .layers import deserialize
        if isinstance(config, dict):
            config = config.get("layers", config)
        model = cls()
        for conf in config:
            model.add(deserialize(conf, custom_objects))
        return model

    def to_json(self, **kwargs) -> str:
        return json.dumps({"class_name": "Sequential", "config": self.get_config()},
                          default=json_default, **kwargs)

    def to_yaml(self, **kwargs) -> str:
        import yaml
        return yaml.safe_dump(json.loads(self.to_json()), **kwargs)


def _is_merge(layer: Layer) -> bool:
    from .layers.merge import Merge
    return isinstance(layer, Merge)


