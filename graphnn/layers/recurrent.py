"""Recurrent layers: SimpleRNN, GRU, LSTM (Keras 1 and Keras 2 arguments, Keras 2 weights).

Each layer projects the inputs of all timesteps at once (``x @ kernel + bias``: one GEMM over
``samples * time`` rows) and hands only the recurrent part to ``K.rnn``, so the compiled loop
(one ``scan`` kernel) does ``h @ recurrent_kernel`` and the gate arithmetic per step.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .. import backend as K
from ..engine.topology import InputSpec, Layer
from ..utils.generic_utils import serialize_object
from .core import _first


class Recurrent(Layer):
    """Shared machinery: argument names, masks, stateful carry-over, dropout masks.
    Subclasses define ``n_gates``, ``n_states`` and ``step(x_proj_t, states)``."""

    n_gates = 1
    n_states = 1

    def __init__(self, units: Optional[int] = None, activation="tanh",
                 recurrent_activation=None, use_bias: bool = True, kernel_initializer=None,
                 recurrent_initializer=None, bias_initializer="zeros", unit_forget_bias=None,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout: Optional[float] = None,
                 recurrent_dropout: Optional[float] = None, return_sequences: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 implementation: int = 0, output_dim: Optional[int] = None, init=None,
                 inner_init=None, inner_activation=None, forget_bias_init=None,
                 W_regularizer=None, U_regularizer=None, b_regularizer=None, dropout_W=None,
                 dropout_U=None, consume_less=None, input_dim: Optional[int] = None,
                 input_length: Optional[int] = None, **kwargs):
        units = _first(units, output_dim)
        if units is None:
            raise TypeError(f"{type(self).__name__} needs the number of units "
                            "(Keras 1: output_dim)")
        if input_dim is not None and "input_shape" not in kwargs and \
                "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length, input_dim)
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(
            _first(recurrent_activation, inner_activation, "hard_sigmoid"))
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(_first(kernel_initializer, init, "glorot_uniform"))
        self.recurrent_initializer = initializers.get(_first(recurrent_initializer, inner_init,
                                                             "orthogonal"))
        self.bias_initializer = initializers.get(bias_initializer)
        # Keras 1's forget_bias_init='one' is Keras 2's unit_forget_bias=True
        self.unit_forget_bias = bool(_first(unit_forget_bias,
                                            None if forget_bias_init is None else
                                            forget_bias_init in ("one", "ones"), True))
        self.kernel_regularizer = regularizers.get(_first(kernel_regularizer, W_regularizer))
        self.recurrent_regularizer = regularizers.get(_first(recurrent_regularizer, U_regularizer))
        self.bias_regularizer = regularizers.get(_first(bias_regularizer, b_regularizer))
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = float(_first(dropout, dropout_W, 0.0))
        self.recurrent_dropout = float(_first(recurrent_dropout, dropout_U, 0.0))
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.implementation = implementation if consume_less is None else consume_less
        self.supports_masking = True
        self.input_spec = InputSpec(ndim=3)
        self.states: List = []

    @property
    def output_dim(self) -> int:  # Keras 1 name
        return self.units

    def build(self, input_shape) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"The last dimension of the inputs to `{type(self).__name__}` "
                             f"should be defined. Found `None` (input shape {input_shape}).")
        width = self.n_gates * self.units
        self.kernel = self.add_weight((input_dim, width), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                name="recurrent_kernel",
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            init = self.bias_initializer
            if self.unit_forget_bias and self.n_gates == 4:
                base = init

                def init(shape, dtype=None, _u=self.units):
                    v = np.array(base((shape[0],), dtype))
                    v[_u:2 * _u] = 1.0
                    return v
            self.bias = self.add_weight((width,), init, name="bias",
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        if self.stateful:
            batch = input_shape[0]
            if batch is None:
                raise ValueError(f"{self.name}: a stateful RNN needs a fixed batch size: give "
                                 "`batch_input_shape` (got input shape "
                                 f"{tuple(input_shape)})")
            self.states = [K.zeros((batch, self.units)) for _ in range(self.n_states)]
        self.input_spec = InputSpec(ndim=3, axes={-1: input_dim})
        self.built = True

    def reset_states(self, states=None) -> None:
        if not self.stateful:
            raise AttributeError(f"Layer {self.name} must be stateful to reset its states.")
        for i, s in enumerate(self.states):
            value = np.zeros(K.int_shape(s)) if states is None else np.asarray(to_list(states)[i])
            K.set_value(s, value)

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def _initial_states(self, inputs):
        if self.stateful:
            return list(self.states)
        return [_filled(inputs, self.units, 0.0)] * self.n_states

    def call(self, inputs, mask=None, training=None):
        x = inputs
        if 0.0 < self.dropout < 1.0:
            x = K.in_train_phase(lambda: K.dropout(inputs, self.dropout,
                                                   noise_shape=(None, 1, None)),
                                 inputs, training=training)
        proj = K.dot(x, self.kernel)
        if self.use_bias:
            proj = K.bias_add(proj, self.bias)
        rec_mask = None
        if 0.0 < self.recurrent_dropout < 1.0:
            ones = _filled(inputs, self.units, 1.0)
            rec_mask = K.in_train_phase(lambda: K.dropout(ones, self.recurrent_dropout), ones,
                                        training=training)

        def step(x_t, states):
            return self.step(x_t, states, rec_mask)
        last, outputs, states = K.rnn(step, proj, self._initial_states(inputs),
                                      go_backwards=self.go_backwards, mask=mask,
                                      unroll=self.unroll)
        if self.stateful:
            self.add_update([(s, n) for s, n in zip(self.states, states)], inputs)
        return outputs if self.return_sequences else last

    def _recurrent(self, h, rec_mask, cols):
        """``h @ recurrent_kernel[:, cols]`` (with the recurrent dropout mask on h)."""
        if rec_mask is not None:
            h = h * rec_mask
        return K.dot(h, self.recurrent_kernel[:, cols])

    def get_config(self) -> dict:
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": serialize_object(self.kernel_regularizer),
            "recurrent_regularizer": serialize_object(self.recurrent_regularizer),
            "bias_regularizer": serialize_object(self.bias_regularizer),
            "activity_regularizer": serialize_object(self.activity_regularizer),
            "kernel_constraint": serialize_object(self.kernel_constraint),
            "recurrent_constraint": serialize_object(self.recurrent_constraint),
            "bias_constraint": serialize_object(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "implementation": self.implementation,
        }
        return dict(super().get_config(), **config)


def _filled(inputs, units: int, value: float):
    """A (samples, units) matrix of ``value`` for the batch of ``inputs`` (symbolic size)."""
    from ir import builder as b
    return b.broadcast_to(b.constant(np.full((), value, inputs.dtype)), (inputs.shape[0], units))


def to_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class SimpleRNN(Recurrent):
    """``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``."""

    def step(self, x_t, states, rec_mask):
        h = self.activation(x_t + self._recurrent(states[0], rec_mask, slice(None)))
        return h, [h]


class GRU(Recurrent):
    """Keras 2's GRU (gates z, r, h; the reset gate applied before the recurrent product)."""
    n_gates = 3

    def step(self, x_t, states, rec_mask):
        h, u = states[0], self.units
        zr = x_t[:, :2 * u] + self._recurrent(h, rec_mask, slice(0, 2 * u))
        z = self.recurrent_activation(zr[:, :u])
        r = self.recurrent_activation(zr[:, u:])
        hh = self.activation(x_t[:, 2 * u:] + self._recurrent(r * h, rec_mask, slice(2 * u, None)))
        h_new = z * h + (1.0 - z) * hh
        return h_new, [h_new]


class LSTM(Recurrent):
    """Keras 2's LSTM (gates i, f, c, o; ``unit_forget_bias`` sets the forget bias to 1)."""
    n_gates = 4
    n_states = 2

    def step(self, x_t, states, rec_mask):
        h, c, u = states[0], states[1], self.units
        z = x_t + self._recurrent(h, rec_mask, slice(None))
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u:2 * u])
        c_new = f * c + i * self.activation(z[:, 2 * u:3 * u])
        o = self.recurrent_activation(z[:, 3 * u:])
        h_new = o * self.activation(c_new)
        return h_new, [h_new, c_new]
