"""Layer wrappers: ``TimeDistributed(layer)`` applies one layer (one set of weights) at every
timestep of ``(batch, time, ...)`` inputs.

Keras merges batch and time with a reshape; with a symbolic batch axis that reshape has no form in
this IR, so a layer whose math acts on the last axis only (``Dense`` through ``K.dot``, activations,
dropout and noise, ``BatchNormalization`` over the last axis) runs once on the whole 3-d tensor,
and any other layer runs once per timestep on ``inputs[:, t]`` (the time axis must be known) with
the results stacked back along axis 1.
"""
from __future__ import annotations

from typing import List

from ir.tensor import origin_scope

from .. import backend as K
from ..engine.topology import InputSpec, Layer


class Wrapper(Layer):
    """A layer around another layer: the inner layer's weights, penalties, updates and
    constraints are the wrapper's (the lists are shared, so the inner layer's regularizers reach
    the model's loss)."""

    _deserializes_layers = True

    def __init__(self, layer: Layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError("A wrapper takes a Layer instance; got " + repr(layer))
        self.layer = layer
        super().__init__(**kwargs)
        self._losses = layer._losses
        self._updates = layer._updates
        self.constraints = layer.constraints

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights if self.trainable else []

    @trainable_weights.setter
    def trainable_weights(self, weights):
        raise AttributeError("a wrapper's weights are its inner layer's")

    @property
    def non_trainable_weights(self):
        if self.trainable:
            return self.layer.non_trainable_weights
        return self.layer.trainable_weights + self.layer.non_trainable_weights

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights):
        raise AttributeError("a wrapper's weights are its inner layer's")

    def get_config(self) -> dict:
        return dict(super().get_config(), layer={"class_name": self.layer.__class__.__name__,
                                                 "config": self.layer.get_config()})

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Wrapper":
        from . import deserialize
        config = dict(config)
        layer = deserialize(config.pop("layer"), custom_objects)
        return cls(layer, **config)


def _acts_on_last_axis(layer: Layer) -> bool:
    """Layers whose math on ``(batch, time, ...)`` equals their math on each timestep."""
    from .advanced_activations import ELU, LeakyReLU, ThresholdedReLU
    from .core import Activation, Dense, Dropout, TimeDistributedDense, _SpatialDropout
    from .noise import GaussianDropout, GaussianNoise
    from .normalization import BatchNormalization
    if isinstance(layer, (TimeDistributedDense, _SpatialDropout)):
        return False
    if isinstance(layer, (Dense, Activation, Dropout, ELU, LeakyReLU, ThresholdedReLU,
                          GaussianDropout, GaussianNoise)):
        return True
    if isinstance(layer, BatchNormalization):
        return layer.axis == -1 or layer.mode == 1
    return False


class TimeDistributed(Wrapper):
    """Apply ``layer`` to every timestep (axis 1) of the input, with weights shared across time:
    ``TimeDistributed(Dense(8))`` maps ``(batch, 10, 16)`` to ``(batch, 10, 8)``."""

    def __init__(self, layer: Layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.supports_masking = True
        self.input_spec = InputSpec(min_ndim=3)

    def _child_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError("Input 0 is incompatible with layer " + self.name + ": expected "
                             "min_ndim=3, found ndim=" + str(len(input_shape)) +
                             ". Full shape received: " + str(input_shape))
        return (input_shape[0],) + input_shape[2:]

    def build(self, input_shape) -> None:
        if isinstance(input_shape, list):
            raise ValueError("TimeDistributed (layer " + self.name + ") takes one input, got " +
                             str(len(input_shape)) + ": " + str(input_shape))
        child = self._child_shape(input_shape)
        if not self.layer.built:
            with origin_scope(self.layer.name):
                self.layer.build(child)
            self.layer.built = True
        self.input_spec = InputSpec(shape=(None,) + tuple(input_shape)[1:])
        self.built = True

    def compute_output_shape(self, input_shape):
        child_out = tuple(self.layer.compute_output_shape(self._child_shape(input_shape)))
        return (child_out[0], tuple(input_shape)[1]) + child_out[1:]

    def call(self, inputs, mask=None):
        shape = K.int_shape(inputs)
        expected = self.compute_output_shape(shape)
        with origin_scope(self.layer.name):
            if _acts_on_last_axis(self.layer):
                output = self.layer.call(inputs)
            else:
                output = self._unrolled(inputs, shape)
        got = K.int_shape(output)
        if tuple(got[1:]) != tuple(expected[1:]):
            raise ValueError("TimeDistributed (layer " + self.name + "): the inner layer " +
                             self.layer.name + " computed shape " + str(got) + " from input " +
                             "shape " + str(shape) + ", expected " + str(expected))
        return output

    def _unrolled(self, inputs, shape):
        steps = shape[1]
        if steps is None:
            raise ValueError("TimeDistributed (layer " + self.name + ") around " +
                             self.layer.__class__.__name__ + " needs a known number of "
                             "timesteps (axis 1); got input shape " + str(shape) + ". Pass the "
                             "full `input_shape` (or `batch_input_shape`).")
        before = len(self.layer._updates)
        outputs: List = []
        for t in range(steps):
            outputs.append(K.expand_dims(self.layer.call(inputs[:, t]), 1))
        if len(self.layer._updates) != before:
            raise ValueError("TimeDistributed (layer " + self.name + "): the inner layer " +
                             self.layer.name + " updates state at each call (e.g. "
                             "BatchNormalization over a non-last axis); run per timestep, it "
                             "would update it " + str(steps) + " times per batch. Not supported.")
        return outputs[0] if steps == 1 else K.concatenate(outputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return mask


__all__ = ("Wrapper", "TimeDistributed")
