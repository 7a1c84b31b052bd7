"""``Bidirectional(layer)``: a recurrent layer run forwards and a copy of it run backwards over
the same inputs, their outputs merged (Keras 1 and 2: ``merge_mode`` concat, sum, mul, ave or
None for the pair).

The backward copy is built from the layer's config with ``go_backwards`` flipped.  ``K.rnn``
returns outputs in time order also when going backwards, so the sequences line up without the
reversal Keras's backend needs.  Weights are the forward layer's, then the backward layer's.
"""
from __future__ import annotations

import copy
import inspect
from typing import List, Optional

from ir.tensor import origin_scope

from .. import backend as K
from ..engine.topology import Layer
from .wrappers import Wrapper

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Wrapper):
    """``Bidirectional(LSTM(8, return_sequences=True))`` maps ``(batch, time, d)`` to
    ``(batch, time, 16)`` (``merge_mode='concat'``)."""

    def __init__(self, layer: Layer, merge_mode: Optional[str] = "concat", weights=None,
                 **kwargs):
        if merge_mode not in _MERGE_MODES:
            raise ValueError("Invalid merge mode. Merge mode should be one of "
                             '{"sum", "mul", "ave", "concat", None}, got ' + repr(merge_mode))
        super().__init__(layer, weights=weights, **kwargs)
        self.merge_mode = merge_mode
        # the forward layer shares the given layer's weight, loss and update lists
        self.forward_layer = copy.copy(layer)
        config = layer.get_config()
        config["go_backwards"] = not config.get("go_backwards", False)
        self.backward_layer = type(layer).from_config(config)
        self.forward_layer.name = "forward_" + layer.name
        self.backward_layer.name = "backward_" + self.backward_layer.name
        # one list of penalties/updates and one constraint map for the pair: the model
        # collects them from the wrapper
        self.backward_layer._losses = self._losses
        self.backward_layer._updates = self._updates
        self.backward_layer.constraints = self.constraints
        self.stateful = bool(getattr(layer, "stateful", False))
        self.return_sequences = bool(getattr(layer, "return_sequences", False))
        self.supports_masking = True

    # --- weights: forward then backward ----------------------------------------------------------
    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self.forward_layer.trainable_weights + self.backward_layer.trainable_weights

    @trainable_weights.setter
    def trainable_weights(self, weights):
        raise AttributeError("a wrapper's weights are its inner layers'")

    @property
    def non_trainable_weights(self):
        pair = (self.forward_layer, self.backward_layer)
        if self.trainable:
            return [w for layer in pair for w in layer.non_trainable_weights]
        return [w for layer in pair for w in layer.trainable_weights + layer.non_trainable_weights]

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights):
        raise AttributeError("a wrapper's weights are its inner layers'")

    # --- the Keras contract ----------------------------------------------------------------------
    def build(self, input_shape) -> None:
        for layer in (self.forward_layer, self.backward_layer):
            with origin_scope(layer.name):
                layer.build(input_shape)
            layer.built = True
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(self.forward_layer.compute_output_shape(input_shape))
        if self.merge_mode == "concat":
            return shape[:-1] + (None if shape[-1] is None else 2 * shape[-1],)
        if self.merge_mode is None:
            return [shape, shape]
        return shape

    def call(self, inputs, mask=None, training=None):
        params = inspect.signature(self.forward_layer.call).parameters
        kwargs = {}
        if "mask" in params:
            kwargs["mask"] = mask
        if "training" in params:
            kwargs["training"] = training
        with origin_scope(self.forward_layer.name):
            y = self.forward_layer.call(inputs, **kwargs)
        with origin_scope(self.backward_layer.name):
            y_rev = self.backward_layer.call(inputs, **kwargs)
        if self.merge_mode == "concat":
            return K.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) * 0.5
        if self.merge_mode == "mul":
            return y * y_rev
        return [y, y_rev]

    def compute_mask(self, inputs, mask=None):
        if not self.return_sequences:
            return [None, None] if self.merge_mode is None else None
        return [mask, mask] if self.merge_mode is None else mask

    def reset_states(self) -> None:
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def get_config(self) -> dict:
        return dict(super().get_config(), merge_mode=self.merge_mode)


__all__: List[str] = ["Bidirectional"]
