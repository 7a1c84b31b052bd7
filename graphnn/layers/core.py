"""Core layers: Dense, Activation, Dropout, SpatialDropout1D/2D/3D, Flatten, Reshape, Permute,
RepeatVector, Lambda, ActivityRegularization, Masking, Highway, MaxoutDense, TimeDistributedDense.
Constructors accept both the Keras 1 and the Keras 2 argument names; ``get_config`` writes the
Keras 2 names."""
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


def init_kernel_bias(layer: Layer, *, use_bias, bias, init, kernel_initializer,
                     bias_initializer, kernel_regularizer, W_regularizer, bias_regularizer,
                     b_regularizer, activity_regularizer, kernel_constraint, W_constraint,
                     bias_constraint, b_constraint) -> None:
    """Set a kernel-and-bias layer's options from Keras 2 or Keras 1 names (the counterpart of
    :func:`kernel_bias_config`); shared by Dense, the convolutions and others."""
    layer.use_bias = bool(_first(use_bias, bias, True))
    layer.kernel_initializer = initializers.get(_first(kernel_initializer, init,
                                                       "glorot_uniform"))
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer = regularizers.get(_first(kernel_regularizer, W_regularizer))
    layer.bias_regularizer = regularizers.get(_first(bias_regularizer, b_regularizer))
    layer.activity_regularizer = regularizers.get(activity_regularizer)
    layer.kernel_constraint = constraints.get(_first(kernel_constraint, W_constraint))
    layer.bias_constraint = constraints.get(_first(bias_constraint, b_constraint))

def kernel_bias_config(layer: Layer) -> dict:
    """The config entries of a layer with a kernel and a bias (Keras 2 names): initializers,
    regularizers (activity too) and constraints; shared by Dense, the convolutions and others."""
    return {
        "kernel_initializer": initializers.serialize(layer.kernel_initializer),
        "bias_initializer": initializers.serialize(layer.bias_initializer),
        "kernel_regularizer": serialize_object(layer.kernel_regularizer),
        "bias_regularizer": serialize_object(layer.bias_regularizer),
        "activity_regularizer": serialize_object(layer.activity_regularizer),
        "kernel_constraint": serialize_object(layer.kernel_constraint),
        "bias_constraint": serialize_object(layer.bias_constraint),
    }


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
        init_kernel_bias(
            self, use_bias=use_bias, bias=bias, init=init, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            W_regularizer=W_regularizer, bias_regularizer=bias_regularizer,
            b_regularizer=b_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, W_constraint=W_constraint,
            bias_constraint=bias_constraint, b_constraint=b_constraint)
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
            **kernel_bias_config(self),
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
        """Keras's format: a named function by name (``function_type: 'function'``, found again
        through ``custom_objects``), a lambda as bytecode (``'lambda'``, loaded only with
        ``safe_mode=False``)."""
        function, function_type = _dump_callable(self.function)
        config = dict(super().get_config(), function=function, function_type=function_type,
                      arguments=self.arguments)
        if callable(self._output_shape):
            config["output_shape"], config["output_shape_type"] = \
                _dump_callable(self._output_shape)
        else:
            config["output_shape"], config["output_shape_type"] = self._output_shape, "raw"
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Lambda":
        config = dict(config)
        config["function"] = _load_callable(config.pop("function"),
                                            config.pop("function_type", "function"))
        shape_type = config.pop("output_shape_type", "raw")
        if shape_type != "raw" and config.get("output_shape") is not None:
            config["output_shape"] = _load_callable(config["output_shape"], shape_type)
        elif isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        return cls(**config)


def _dump_callable(fn):
    from ..utils.generic_utils import func_dump
    name = getattr(fn, "__name__", "<lambda>")
    if name == "<lambda>" or "<locals>" in getattr(fn, "__qualname__", ""):
        return func_dump(fn), "lambda"
    return name, "function"


def _load_callable(value, kind: str):
    """A named function from ``custom_objects`` (or this module, e.g. a backend function); bytecode
    through ``func_load`` (which refuses in safe mode)."""
    from ..utils.generic_utils import _GLOBAL_CUSTOM_OBJECTS, func_load, unknown_name_error
    if kind == "function":
        if value in _GLOBAL_CUSTOM_OBJECTS:
            return _GLOBAL_CUSTOM_OBJECTS[value]
        if callable(getattr(K, value, None)):
            return getattr(K, value)
        raise unknown_name_error("function", value, sorted(_GLOBAL_CUSTOM_OBJECTS))
    if kind == "lambda":
        return func_load(value, globs=dict(globals(), K=K))
    raise TypeError("Unknown function_type: " + str(kind))


class ActivityRegularization(Layer):
    """Identity that adds an L1/L2 penalty on its input to the loss."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.l1, self.l2 = l1, l2
        self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)

    def get_config(self) -> dict:
        return dict(super().get_config(), l1=self.l1, l2=self.l2)



def _data_format(data_format: Optional[str], dim_ordering: Optional[str]) -> str:
    """Keras 2 ``data_format`` or Keras 1 ``dim_ordering`` ('tf'/'th'), else the backend's."""
    if data_format is None and dim_ordering is not None and dim_ordering != "default":
        data_format = {"tf": "channels_last", "th": "channels_first"}.get(dim_ordering)
        if data_format is None:
            raise ValueError("dim_ordering must be in {tf, th}, got " + str(dim_ordering))
    data_format = data_format or K.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of \"channels_first\", "
                         "\"channels_last\". Received: " + str(data_format))
    return data_format


class _SpatialDropout(Dropout):
    """Drops whole feature maps (one draw per sample and channel): neighbouring activations of a
    convolution are correlated, so element-wise dropout would barely regularize them."""

    _rank = 1

    def __init__(self, rate: Optional[float] = None, data_format: Optional[str] = None,
                 p: Optional[float] = None, dim_ordering: Optional[str] = None, **kwargs):
        super().__init__(rate=rate, p=p, **kwargs)
        self.data_format = "channels_last" if self._rank == 1 else \
            _data_format(data_format, dim_ordering)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _noise_shape(self, inputs):
        ones = (1,) * self._rank
        if self.data_format == "channels_first":
            return (None, inputs.shape[1]) + ones
        return (None,) + ones + (inputs.shape[-1],)

    def call(self, inputs, mask=None):
        if 0.0 < self.rate < 1.0:
            noise_shape = self._noise_shape(inputs)

            def dropped():
                return K.dropout(inputs, self.rate, noise_shape, seed=self.seed)
            return K.in_train_phase(dropped, inputs)
        return inputs

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("noise_shape", None)
        if self._rank > 1:
            config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of ``(batch, steps, channels)`` inputs."""
    _rank = 1

    def __init__(self, rate: Optional[float] = None, p: Optional[float] = None, **kwargs):
        super().__init__(rate=rate, p=p, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole 2-d feature maps (channels last, or first with ``data_format``)."""
    _rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole 3-d feature maps."""
    _rank = 3


class Masking(Layer):
    """Marks timesteps whose features all equal ``mask_value`` as padding: the output mask is
    ``any(x != mask_value, axis=-1)`` and those timesteps are zeroed."""

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.mask_value = mask_value

    def compute_mask(self, inputs, mask=None):
        return K.any(K.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs, mask=None):
        keep = K.any(K.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return inputs * K.cast(keep, inputs.dtype)

    def get_config(self) -> dict:
        return dict(super().get_config(), mask_value=self.mask_value)


class _DenseLike(Layer):
    """Shared argument handling of the Keras 1 dense variants (Keras 1 and Keras 2 names)."""

    def _init_dense(self, units, output_dim, init, kernel_initializer, bias_initializer,
                    kernel_regularizer, W_regularizer, bias_regularizer, b_regularizer,
                    activity_regularizer, kernel_constraint, W_constraint, bias_constraint,
                    b_constraint, use_bias, bias) -> None:
        units = _first(units, output_dim)
        if units is None:
            raise TypeError(type(self).__name__ + " needs the number of units (Keras 1: "
                                                  "output_dim)")
        self.units = int(units)
        init_kernel_bias(
            self, use_bias=use_bias, bias=bias, init=init, kernel_initializer=kernel_initializer,
            bias_initializer=_first(bias_initializer, "zeros"), kernel_regularizer=kernel_regularizer,
            W_regularizer=W_regularizer, bias_regularizer=bias_regularizer,
            b_regularizer=b_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, W_constraint=W_constraint,
            bias_constraint=bias_constraint, b_constraint=b_constraint)

    @property
    def output_dim(self) -> int:  # Keras 1 name
        return self.units

    def _dense_config(self) -> dict:
        return {
            "units": self.units,
            "use_bias": self.use_bias,
            **kernel_bias_config(self),
        }


def _input_dim_error(layer: Layer, input_shape) -> ValueError:
    return ValueError("The last dimension of the inputs to `" + type(layer).__name__ +
                      "` (layer " + layer.name + ") should be defined. Found `None` in input "
                      "shape " + str(tuple(input_shape)) + ".")


class Highway(_DenseLike):
    """Highway network layer (Srivastava et al. 2015): ``y = t * h(x W + b) + (1 - t) * x`` with
    the transform gate ``t = sigmoid(x W_carry + b_carry)``.  ``transform_bias`` (default -2)
    starts the gate closed so deep stacks initially pass their input through.  Weights in Keras 1
    order: ``W, W_carry, b, b_carry``."""

    def __init__(self, init=None, transform_bias: float = -2.0, activation=None,
                 W_regularizer=None, b_regularizer=None, activity_regularizer=None,
                 W_constraint=None, b_constraint=None, bias: Optional[bool] = None,
                 input_dim: Optional[int] = None, kernel_initializer=None,
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, use_bias: Optional[bool] = None, **kwargs):
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(**kwargs)
        self._init_dense(0, None, init, kernel_initializer, None, kernel_regularizer,
                         W_regularizer, bias_regularizer, b_regularizer, activity_regularizer,
                         kernel_constraint, W_constraint, bias_constraint, b_constraint,
                         use_bias, bias)
        self.transform_bias = float(transform_bias)
        self.activation = activations.get(activation)
        self.input_spec = InputSpec(ndim=2)

    def build(self, input_shape) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise _input_dim_error(self, input_shape)
        self.units = input_dim
        self.W = self.add_weight((input_dim, input_dim), self.kernel_initializer, name="W",
                                 regularizer=self.kernel_regularizer,
                                 constraint=self.kernel_constraint)
        self.W_carry = self.add_weight((input_dim, input_dim), self.kernel_initializer,
                                       name="W_carry")
        self.b = self.b_carry = None
        if self.use_bias:
            self.b = self.add_weight((input_dim,), "zeros", name="b",
                                     regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint)
            self.b_carry = self.add_weight((input_dim,),
                                           initializers.Constant(self.transform_bias),
                                           name="b_carry")
        self.input_spec = InputSpec(ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs, mask=None):
        gate = K.dot(inputs, self.W_carry)
        h = K.dot(inputs, self.W)
        if self.use_bias:
            gate = K.bias_add(gate, self.b_carry)
            h = K.bias_add(h, self.b)
        gate = K.sigmoid(gate)
        return self.activation(h) * gate + inputs * (1.0 - gate)

    def get_config(self) -> dict:
        config = self._dense_config()
        for key in ("units", "bias_initializer"):
            config.pop(key)
        config.update(activation=activations.serialize(self.activation),
                      transform_bias=self.transform_bias)
        return dict(super().get_config(), **config)


class MaxoutDense(_DenseLike):
    """Maxout (Goodfellow et al. 2013): the maximum of ``nb_feature`` dense projections,
    ``max_k (x W[k] + b[k])``; a learned piecewise-linear activation."""

    def __init__(self, units: Optional[int] = None, nb_feature: int = 4, init=None,
                 W_regularizer=None, b_regularizer=None, activity_regularizer=None,
                 W_constraint=None, b_constraint=None, bias: Optional[bool] = None,
                 input_dim: Optional[int] = None, output_dim: Optional[int] = None,
                 kernel_initializer=None, bias_initializer=None, kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_bias: Optional[bool] = None, **kwargs):
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(**kwargs)
        self._init_dense(units, output_dim, init, kernel_initializer, bias_initializer,
                         kernel_regularizer, W_regularizer, bias_regularizer, b_regularizer,
                         activity_regularizer, kernel_constraint, W_constraint,
                         bias_constraint, b_constraint, use_bias, bias)
        self.nb_feature = int(nb_feature)
        self.input_spec = InputSpec(ndim=2)

    def build(self, input_shape) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise _input_dim_error(self, input_shape)
        self.W = self.add_weight((self.nb_feature, input_dim, self.units),
                                 self.kernel_initializer, name="W",
                                 regularizer=self.kernel_regularizer,
                                 constraint=self.kernel_constraint)
        self.b = None
        if self.use_bias:
            self.b = self.add_weight((self.nb_feature, self.units), self.bias_initializer,
                                     name="b", regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint)
        self.input_spec = InputSpec(ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs, mask=None):
        output = K.dot(inputs, self.W)  # (batch, nb_feature, units)
        if self.use_bias:
            output = output + self.b
        return K.max(output, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self) -> dict:
        return dict(super().get_config(), nb_feature=self.nb_feature, **self._dense_config())


class TimeDistributedDense(Dense):
    """Keras 1's Dense applied at every timestep of ``(batch, steps, features)`` inputs (Keras 2
    spells it ``TimeDistributed(Dense(...))``; ``Dense`` itself accepts 3-d inputs)."""

    def __init__(self, units: Optional[int] = None, input_dim: Optional[int] = None,
                 input_length: Optional[int] = None, **kwargs):
        if input_dim is not None and "input_shape" not in kwargs and \
                "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length, input_dim)
        super().__init__(units, **kwargs)
        self.input_length = input_length
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.input_spec = InputSpec(ndim=3, axes={-1: input_shape[-1]})

    def get_config(self) -> dict:
        return dict(super().get_config(), input_length=self.input_length)
