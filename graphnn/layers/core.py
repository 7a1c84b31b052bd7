"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Lambda,
ActivityRegularization.  Constructors accept both the Keras 1 and the Keras 2 argument names;
``get_config`` writes the Keras 2 names."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .. import backend as K
from ..engine.topology import InputSpec, Layer
from ..utils.generic_utils import serialize_object


def _first(*values):
    """The first value that is not None (Keras 2 name wins over its Keras 1 alias)."""
    for v in values:
        if v is not None:
            return v
    return None


class Dense(Layer):
    """``output = activation(dot(input, kernel) + bias)``.

    Keras 2: ``Dense(units, activation, use_bias, kernel_initializer, bias_initializer,
    kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
    bias_constraint)``; Keras 1: ``output_dim, init, W_regularizer, b_regularizer,
    W_constraint, b_constraint, bias``.  Weights: ``kernel``/``bias`` (Keras 1 ``W``/``b``), named
    ``<layer>/kernel:0`` and ``<layer>/bias:0``.
    """

    def __init__(self, units: Optional[int] = None, activation=None, use_bias: Optional[bool] = None,
                 kernel_initializer=None, bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, output_dim: Optional[int] = None, init=None,
                 W_regularizer=None, b_regularizer=None, W_constraint=None, b_constraint=None,
                 bias: Optional[bool] = None, input_dim: Optional[int] = None, **kwargs):
        units = _first(units, output_dim)
        if units is None:
            raise TypeError("Dense needs the number of units (Keras 1: output_dim)")
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(_first(use_bias, bias, True))
        self.kernel_initializer = initializers.get(_first(kernel_initializer, init,
                                                          "glorot_uniform"))
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(_first(kernel_regularizer, W_regularizer))
        self.bias_regularizer = regularizers.get(_first(bias_regularizer, b_regularizer))
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(_first(kernel_constraint, W_constraint))
        self.bias_constraint = constraints.get(_first(bias_constraint, b_constraint))
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    @property
    def output_dim(self) -> int:  # Keras 1 name
        return self.units

    def build(self, input_shape) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError("The last dimension of the inputs to `Dense` should be defined. "
                             "Found `None`.")
        self.kernel = self.add_weight((input_dim, self.units), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.W, self.b = self.kernel, self.bias
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs, mask=None):
        output = K.dot(inputs, self.kernel)
        if self.use_bias:
            output = K.bias_add(output, self.bias)
        return self.activation(output)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": serialize_object(self.kernel_regularizer),
            "bias_regularizer": serialize_object(self.bias_regularizer),
            "activity_regularizer": serialize_object(self.activity_regularizer),
            "kernel_constraint": serialize_object(self.kernel_constraint),
            "bias_constraint": serialize_object(self.bias_constraint),
        }
        return dict(super().get_config(), **config)


class Activation(Layer):
    """Applies an activation function by name (``Activation('relu')``) or callable."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)

    def call(self, inputs, mask=None):
        return self.activation(inputs)

    def get_config(self) -> dict:
        return dict(super().get_config(), activation=activations.serialize(self.activation))


class Dropout(Layer):
    """Zeroes a fraction ``rate`` (Keras 1: ``p``) of the inputs while training only."""

    def __init__(self, rate: Optional[float] = None, noise_shape=None, seed: Optional[int] = None,
                 p: Optional[float] = None, **kwargs):
        super().__init__(**kwargs)
        rate = _first(rate, p)
        if rate is None:
            raise TypeError("Dropout needs a rate (Keras 1: p)")
        self.rate = min(1.0, max(0.0, float(rate)))
        self.noise_shape = noise_shape
        self.seed = seed
        self.supports_masking = True

    @property
    def p(self) -> float:  # Keras 1 name
        return self.rate

    def call(self, inputs, mask=None):
        if 0.0 < self.rate < 1.0:
            def dropped():
                return K.dropout(inputs, self.rate, self.noise_shape, seed=self.seed)
            return K.in_train_phase(dropped, inputs)
        return inputs

    def get_config(self) -> dict:
        return dict(super().get_config(), rate=self.rate, noise_shape=self.noise_shape,
                    seed=self.seed)


class Flatten(Layer):
    """(batch, ...) -> (batch, product of the other dimensions)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(min_ndim=3)

    def compute_output_shape(self, input_shape):
        if not all(input_shape[1:]):
            raise ValueError('The shape of the input to "Flatten" is not fully defined (got ' +
                             str(tuple(input_shape[1:])) + '. Make sure to pass a complete '
                             '"input_shape" or "batch_input_shape" argument to the first layer '
                             "in your model.")
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def call(self, inputs, mask=None):
        self.compute_output_shape(K.int_shape(inputs))
        return K.batch_flatten(inputs)


class Reshape(Layer):
    """Reshape to ``target_shape`` (batch axis excluded; one ``-1`` may be inferred)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def _fix_unknown_dimension(self, input_shape, output_shape):
        output_shape = list(output_shape)
        msg = "total size of new array must be unchanged"
        known, unknown = 1, None
        for index, dim in enumerate(output_shape):
            if dim < 0:
                if unknown is not None:
                    raise ValueError("Can only specify one unknown dimension.")
                unknown = index
            else:
                known *= dim
        original = int(np.prod(input_shape, dtype=int))
        if unknown is not None:
            if known == 0 or original % known != 0:
                raise ValueError(msg)
            output_shape[unknown] = original // known
        elif original != known:
            raise ValueError(msg)
        return tuple(output_shape)

    def compute_output_shape(self, input_shape):
        if None in input_shape[1:]:
            return (input_shape[0],) + self.target_shape
        return (input_shape[0],) + self._fix_unknown_dimension(input_shape[1:], self.target_shape)

    def call(self, inputs, mask=None):
        shape = self.compute_output_shape(K.int_shape(inputs))
        target = tuple(-1 if d is None else d for d in shape[1:])
        return K.reshape(inputs, (K.shape(inputs)[0],) + target)

    def get_config(self) -> dict:
        return dict(super().get_config(), target_shape=self.target_shape)


class Permute(Layer):
    """Permute the non-batch axes; ``dims`` is 1-indexed (``Permute((2, 1))``)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs, mask=None):
        return K.permute_dimensions(inputs, (0,) + self.dims)

    def get_config(self) -> dict:
        return dict(super().get_config(), dims=self.dims)


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features)."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, mask=None):
        return K.repeat(inputs, self.n)

    def get_config(self) -> dict:
        return dict(super().get_config(), n=self.n)


class Lambda(Layer):
    """Wraps an arbitrary backend expression ``function(x, **arguments)`` as a layer."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        self.supports_masking = mask is not None
        self._mask = mask

    def call(self, inputs, mask=None):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return input_shape
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        return (input_shape[0],) + tuple(self._output_shape)

    def compute_mask(self, inputs, mask=None):
        if callable(self._mask):
            return self._mask(inputs, mask)
        return self._mask

    def get_config(self) -> dict:
        return dict(super().get_config(), function=getattr(self.function, "__name__", "lambda"),
                    arguments=self.arguments)


class ActivityRegularization(Layer):
    """Identity that adds an L1/L2 penalty on its input to the loss."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.l1, self.l2 = l1, l2
        self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)

    def get_config(self) -> dict:
        return dict(super().get_config(), l1=self.l1, l2=self.l2)
