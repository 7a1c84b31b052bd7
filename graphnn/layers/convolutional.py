"""Convolutional layers: Conv1D/2D/3D (Keras 1: Convolution1D/2D/3D, AtrousConvolution1D/2D),
SeparableConv2D, Conv2DTranspose (Deconvolution2D), LocallyConnected1D/2D, UpSampling1D/2D/3D,
ZeroPadding1D/2D/3D, Cropping1D/2D/3D.

Constructors accept the Keras 2 and the Keras 1.2.2 argument names; ``get_config`` writes Keras 2
names.  Kernels have the Keras 2 layout ``spatial... + (in_channels, filters)`` whatever the data
format.  The math lives in ``graphnn.backend.conv``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .. import backend as K
from ..backend import conv as C
from ..engine.topology import InputSpec, Layer
from ..utils.generic_utils import serialize_object
from .core import _first, init_kernel_bias, kernel_bias_config


def _require_rank(layer: Layer, input_shape, rank: int) -> None:
    """Keras's ndim check, with the layer's name and the full shape in the message."""
    if len(input_shape) != rank + 2:
        raise ValueError("Input 0 is incompatible with layer " + layer.name + ": expected ndim=" +
                         str(rank + 2) + ", found ndim=" + str(len(input_shape)) +
                         ". Full shape received: " + str(tuple(input_shape)))


def _channels(layer: Layer, input_shape, data_format: str) -> int:
    axis = 1 if data_format == "channels_first" else -1
    if input_shape[axis] is None:
        raise ValueError("The channel dimension of the inputs to `" + layer.name + "` should be "
                         "defined. Found `None` (input shape " + str(tuple(input_shape)) + ").")
    return int(input_shape[axis])


def _spatial(input_shape, data_format: str) -> tuple:
    return tuple(input_shape[2:]) if data_format == "channels_first" else tuple(input_shape[1:-1])


def _with_spatial(input_shape, data_format: str, spatial, channels) -> tuple:
    if data_format == "channels_first":
        return (input_shape[0], channels) + tuple(spatial)
    return (input_shape[0],) + tuple(spatial) + (channels,)


def _kernel_size(rank: int, kernel_size, *keras1) -> tuple:
    """Keras 2 ``kernel_size`` or the Keras 1 per-axis sizes (nb_row, nb_col...)."""
    if kernel_size is None and all(k is not None for k in keras1) and keras1:
        kernel_size = tuple(keras1)
    if kernel_size is None:
        raise TypeError("a convolution needs a kernel size (Keras 2: kernel_size; Keras 1: "
                        + ("filter_length" if rank == 1 else "nb_row, nb_col" if rank == 2 else
                           "kernel_dim1, kernel_dim2, kernel_dim3") + ")")
    return C.normalize_tuple(kernel_size, rank, "kernel_size")


def _positional(rank: int, kernel_size, args: tuple, names: Sequence[str], kwargs: dict):
    """Keras 1 positional kernel sizes (``Convolution2D(32, 3, 3)``, which Keras 2 also reads
    that way) -> ``kernel_size``; further positional arguments fill ``names`` in order."""
    args = list(args)
    if rank > 1 and isinstance(kernel_size, (int, np.integer)) and len(args) >= rank - 1 and \
            all(isinstance(a, (int, np.integer)) for a in args[:rank - 1]):
        kernel_size = (int(kernel_size),) + tuple(int(a) for a in args[:rank - 1])
        args = args[rank - 1:]
    if len(args) > len(names):
        raise TypeError("Layer can receive at most " + str(2 + len(names)) +
                        " positional arguments (besides the kernel sizes).")
    for name, value in zip(names, args):
        if name in kwargs:
            raise TypeError("got multiple values for argument " + repr(name))
        kwargs[name] = value
    return kernel_size


class _Conv(Layer):
    """Shared N-d convolution: weights, config, shape rule, Keras 1 argument names."""

    rank = 2
    _default_format: Optional[str] = None   # None: K.image_data_format()

    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 data_format=None, dilation_rate=None, activation=None, use_bias=None,
                 kernel_initializer=None, bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, nb_filter=None, init=None, border_mode=None,
                 subsample=None, dim_ordering=None, W_regularizer=None, b_regularizer=None,
                 W_constraint=None, b_constraint=None, bias=None, atrous_rate=None, **kwargs):
        filters = _first(filters, nb_filter)
        if filters is None:
            raise TypeError(f"{type(self).__name__} needs the number of filters "
                            "(Keras 1: nb_filter)")
        super().__init__(**kwargs)
        rank = self.rank
        self.filters = int(filters)
        self.kernel_size = C.normalize_tuple(kernel_size, rank, "kernel_size")
        self.strides = C.normalize_tuple(_first(strides, subsample, 1), rank, "strides")
        self.padding = C.normalize_padding(_first(padding, border_mode, "valid"),
                                           self._paddings())
        self.data_format = C.normalize_data_format(
            _first(data_format, dim_ordering, self._default_format))
        self.dilation_rate = C.normalize_tuple(_first(dilation_rate, atrous_rate, 1), rank,
                                               "dilation_rate")
        self.activation = activations.get(activation)
        init_kernel_bias(
            self, use_bias=use_bias, bias=bias, init=init, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            W_regularizer=W_regularizer, bias_regularizer=bias_regularizer,
            b_regularizer=b_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, W_constraint=W_constraint,
            bias_constraint=bias_constraint, b_constraint=b_constraint)
        self.input_spec = InputSpec(ndim=rank + 2)

    def _paddings(self) -> Sequence[str]:
        return ("valid", "same")

    # Keras 1 attribute names
    @property
    def nb_filter(self) -> int:
        return self.filters

    @property
    def border_mode(self) -> str:
        return self.padding

    @property
    def subsample(self) -> tuple:
        return self.strides

    @property
    def dim_ordering(self) -> str:
        return "th" if self.data_format == "channels_first" else "tf"

    def _kernel_shape(self, cin: int) -> tuple:
        return self.kernel_size + (cin, self.filters)

    def build(self, input_shape) -> None:
        _require_rank(self, input_shape, self.rank)
        cin = _channels(self, input_shape, self.data_format)
        self.compute_output_shape(input_shape)   # reject windows that do not fit, early
        self.kernel = self.add_weight(self._kernel_shape(cin), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.W, self.b = self.kernel, self.bias
        axis = 1 if self.data_format == "channels_first" else -1
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={axis: cin})
        self.built = True

    def call(self, inputs, mask=None):
        return C.conv_nd(inputs, self.kernel, self.strides, self.padding, self.data_format,
                         self.dilation_rate, self.rank, self.name, self.bias, self.activation)

    def _spatial_out(self, spatial) -> tuple:
        return tuple(C.conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _require_rank(self, input_shape, self.rank)
        out = self._spatial_out(_spatial(input_shape, self.data_format))
        if any(o is not None and o <= 0 for o in out):
            raise ValueError("Layer " + self.name + ": the kernel of size " +
                             str(self.kernel_size) + " (dilation " + str(self.dilation_rate) +
                             ") does not fit the input of shape " + str(input_shape) +
                             " with padding '" + self.padding + "' (negative dimension size)")
        return _with_spatial(input_shape, self.data_format, out, self.filters)

    def get_config(self) -> dict:
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **kernel_bias_config(self),
        }
        return dict(super().get_config(), **config)


class Conv1D(_Conv):
    """1-d convolution over ``(batch, steps, channels)``; Keras 1 ``Convolution1D(nb_filter,
    filter_length, subsample_length=, input_dim=, input_length=)``.  Padding may also be
    'causal' (left padding only)."""

    rank = 1
    _default_format = "channels_last"

    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 filter_length=None, subsample_length=None, input_length=None,
                 input_dim=None, **kwargs):
        if kwargs.get("input_shape") is None and kwargs.get("batch_input_shape") is None and \
                (input_dim is not None or input_length is not None):
            kwargs["input_shape"] = (input_length, input_dim)
        super().__init__(filters, _kernel_size(1, kernel_size, filter_length),
                         _first(strides, subsample_length), padding, **kwargs)

    def _paddings(self):
        return ("valid", "same", "causal")

    @property
    def filter_length(self) -> int:
        return self.kernel_size[0]

    @property
    def subsample_length(self) -> int:
        return self.strides[0]


class Conv2D(_Conv):
    """2-d convolution; Keras 1 ``Convolution2D(nb_filter, nb_row, nb_col, subsample=,
    border_mode=, dim_ordering=)``."""

    rank = 2

    def __init__(self, filters=None, kernel_size=None, *args, nb_row=None, nb_col=None,
                 **kwargs):
        kernel_size = _positional(2, kernel_size, args, self._positional_names, kwargs)
        super().__init__(filters, _kernel_size(2, kernel_size, nb_row, nb_col), **kwargs)

    _positional_names = ("strides", "padding", "data_format")

    @property
    def nb_row(self) -> int:
        return self.kernel_size[0]

    @property
    def nb_col(self) -> int:
        return self.kernel_size[1]


class Conv3D(_Conv):
    """3-d convolution; Keras 1 ``Convolution3D(nb_filter, kernel_dim1, kernel_dim2,
    kernel_dim3)``."""

    rank = 3

    def __init__(self, filters=None, kernel_size=None, *args, kernel_dim1=None,
                 kernel_dim2=None, kernel_dim3=None, **kwargs):
        kernel_size = _positional(3, kernel_size, args, ("strides", "padding", "data_format"),
                                  kwargs)
        super().__init__(filters, _kernel_size(3, kernel_size, kernel_dim1, kernel_dim2,
                                               kernel_dim3), **kwargs)


class AtrousConvolution1D(Conv1D):
    """Keras 1 dilated 1-d convolution (``atrous_rate``); Keras 2 is ``Conv1D(dilation_rate=)``."""


class AtrousConvolution2D(Conv2D):
    """Keras 1 dilated 2-d convolution (``atrous_rate``); Keras 2 is ``Conv2D(dilation_rate=)``."""


class Convolution1D(Conv1D):
    """Keras 1 name of ``Conv1D`` (a subclass so Keras 1 configs deserialize by name)."""


class Convolution2D(Conv2D):
    """Keras 1 name of ``Conv2D``."""


class Convolution3D(Conv3D):
    """Keras 1 name of ``Conv3D``."""


class SeparableConv2D(Conv2D):
    """Depthwise convolution (``depth_multiplier`` filters per input channel) then a 1x1
    convolution to ``filters`` channels: far fewer weights than a full convolution.  Weights
    ``depthwise_kernel (rows, cols, in, multiplier)``, ``pointwise_kernel (1, 1, in*multiplier,
    filters)``, ``bias``."""

    def __init__(self, filters=None, kernel_size=None, *args, depth_multiplier: int = 1,
                 depthwise_initializer=None,
                 pointwise_initializer=None, depthwise_regularizer=None,
                 pointwise_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, *args, **kwargs)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = initializers.get(_first(depthwise_initializer,
                                                             self.kernel_initializer))
        self.pointwise_initializer = initializers.get(_first(pointwise_initializer,
                                                             self.kernel_initializer))
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape) -> None:
        _require_rank(self, input_shape, 2)
        cin = _channels(self, input_shape, self.data_format)
        self.compute_output_shape(input_shape)
        self.depthwise_kernel = self.add_weight(
            self.kernel_size + (cin, self.depth_multiplier), self.depthwise_initializer,
            name="depthwise_kernel", regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            (1, 1, cin * self.depth_multiplier, self.filters), self.pointwise_initializer,
            name="pointwise_kernel", regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        axis = 1 if self.data_format == "channels_first" else -1
        self.input_spec = InputSpec(ndim=4, axes={axis: cin})
        self.built = True

    def call(self, inputs, mask=None):
        y = C.depthwise_conv_nd(inputs, self.depthwise_kernel, self.strides, self.padding,
                                self.data_format, self.dilation_rate, 2, self.name)
        return C.conv_nd(y, self.pointwise_kernel, 1, "valid", self.data_format, 1, 2, self.name,
                         self.bias, self.activation)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "depthwise_regularizer": serialize_object(self.depthwise_regularizer),
            "pointwise_regularizer": serialize_object(self.pointwise_regularizer),
            "depthwise_constraint": serialize_object(self.depthwise_constraint),
            "pointwise_constraint": serialize_object(self.pointwise_constraint),
        })
        return config


class SeparableConvolution2D(SeparableConv2D):
    """Keras 1 name of ``SeparableConv2D``."""


class Conv2DTranspose(Conv2D):
    """Transposed convolution ("deconvolution"): maps a convolution's output shape back to its
    input shape (upsampling with learned filters).  Kernel ``(rows, cols, filters, in)``.
    Keras 1 ``Deconvolution2D(nb_filter, nb_row, nb_col, output_shape, ...)``: ``output_shape``
    is checked against the computed one."""

    _positional_names = ("output_shape", "strides", "padding", "data_format")

    def __init__(self, filters=None, kernel_size=None, *args, **kwargs):
        if kwargs.get("dilation_rate", 1) not in (1, (1, 1)):
            raise ValueError("Conv2DTranspose does not support dilation_rate")
        kernel_size = _positional(2, kernel_size, args, self._positional_names, kwargs)
        output_shape = kwargs.pop("output_shape", None)
        super().__init__(filters, kernel_size, **kwargs)
        self.output_shape_arg = tuple(output_shape) if output_shape is not None else None

    def _kernel_shape(self, cin: int) -> tuple:
        return self.kernel_size + (self.filters, cin)

    def call(self, inputs, mask=None):
        return C.conv_transpose_nd(inputs, self.kernel, self.output_shape_arg, self.strides,
                                   self.padding, self.data_format, 2, self.name, self.bias,
                                   self.activation)

    def _spatial_out(self, spatial) -> tuple:
        return tuple(C.deconv_output_length(n, k, self.padding, s)
                     for n, k, s in zip(spatial, self.kernel_size, self.strides))

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("dilation_rate")
        if self.output_shape_arg is not None:
            config["output_shape"] = self.output_shape_arg
        return config


class Deconvolution2D(Conv2DTranspose):
    """Keras 1 name of ``Conv2DTranspose``."""


class _LocallyConnected(Layer):
    """Like a convolution, but with a separate (unshared) kernel at each output position:
    kernel ``(positions, window * in, filters)``, bias ``(*out, filters)``.  'valid' only."""

    rank = 1

    def __init__(self, filters, kernel_size, strides, padding, data_format, activation=None,
                 use_bias=None, kernel_initializer=None, bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, nb_filter=None, init=None,
                 border_mode=None, W_regularizer=None, b_regularizer=None, W_constraint=None,
                 b_constraint=None, bias=None, **kwargs):
        filters = _first(filters, nb_filter)
        if filters is None:
            raise TypeError(f"{type(self).__name__} needs the number of filters "
                            "(Keras 1: nb_filter)")
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = kernel_size
        self.strides = C.normalize_tuple(_first(strides, 1), self.rank, "strides")
        self.padding = _first(padding, border_mode, "valid")
        if self.padding != "valid":
            raise ValueError("Invalid border mode for LocallyConnected" + str(self.rank) +
                             "D (only \"valid\" is supported): " + str(self.padding))
        self.data_format = C.normalize_data_format(data_format)
        self.activation = activations.get(activation)
        init_kernel_bias(
            self, use_bias=use_bias, bias=bias, init=init, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            W_regularizer=W_regularizer, bias_regularizer=bias_regularizer,
            b_regularizer=b_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, W_constraint=W_constraint,
            bias_constraint=bias_constraint, b_constraint=b_constraint)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _out(self, input_shape) -> tuple:
        spatial = _spatial(input_shape, self.data_format)
        if any(n is None for n in spatial):
            raise ValueError("The spatial dimensions of the inputs to `" + self.name + "` should "
                             "be defined (a locally connected layer has one kernel per output "
                             "position). Found input shape " + str(tuple(input_shape)))
        out = tuple(C.conv_output_length(n, k, "valid", s, 1)
                    for n, k, s in zip(spatial, self.kernel_size, self.strides))
        if any(o <= 0 for o in out):
            raise ValueError("Layer " + self.name + ": the window of size " +
                             str(self.kernel_size) + " does not fit the input of shape " +
                             str(tuple(input_shape)) + " (negative dimension size)")
        return out

    def build(self, input_shape) -> None:
        _require_rank(self, input_shape, self.rank)
        cin = _channels(self, input_shape, self.data_format)
        out = self._out(input_shape)
        shape = (int(np.prod(out)), int(np.prod(self.kernel_size)) * cin, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(out + (self.filters,), self.bias_initializer,
                                        name="bias", regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.W, self.b = self.kernel, self.bias
        axis = 1 if self.data_format == "channels_first" else -1
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={axis: cin})
        self.built = True

    def call(self, inputs, mask=None):
        x = C._to_last(inputs, self.data_format)
        out = self._out(K.int_shape(inputs))
        patches, _ = C.im2col(x, self.kernel_size, self.strides, "valid", (1,) * self.rank,
                              self.name)
        if self.data_format == "channels_first":
            # Keras flattens a channels-first window channel-major: (in, *window)
            taps, cin = int(np.prod(self.kernel_size)), x.shape[-1]
            patches = K.reshape(patches, (x.shape[0],) + out + (taps, cin))
            patches = K.permute_dimensions(patches, tuple(range(self.rank + 1)) +
                                           (self.rank + 2, self.rank + 1))
        positions = int(np.prod(out))
        patches = K.reshape(patches, (x.shape[0], positions, self.kernel.shape[1]))
        y = K.permute_dimensions(patches, (1, 0, 2))          # (positions, batch, window*in)
        y = K.permute_dimensions(K.batch_dot(y, self.kernel), (1, 0, 2))
        y = K.reshape(y, (x.shape[0],) + out + (self.filters,))
        if self.use_bias:
            y = y + self.bias
        return self.activation(C._from_last(y, self.data_format))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _require_rank(self, input_shape, self.rank)
        return _with_spatial(input_shape, self.data_format, self._out(input_shape), self.filters)

    def get_config(self) -> dict:
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **kernel_bias_config(self),
        }
        return dict(super().get_config(), **config)


class LocallyConnected1D(_LocallyConnected):
    """Keras 1 ``LocallyConnected1D(nb_filter, filter_length, subsample_length=, input_dim=,
    input_length=)``."""

    rank = 1

    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 data_format=None, filter_length=None, subsample_length=None, input_dim=None,
                 input_length=None, **kwargs):
        if kwargs.get("input_shape") is None and kwargs.get("batch_input_shape") is None and \
                (input_dim is not None or input_length is not None):
            kwargs["input_shape"] = (input_length, input_dim)
        super().__init__(filters, _kernel_size(1, kernel_size, filter_length),
                         _first(strides, subsample_length), padding,
                         _first(data_format, "channels_last"), **kwargs)


class LocallyConnected2D(_LocallyConnected):
    """Keras 1 ``LocallyConnected2D(nb_filter, nb_row, nb_col, subsample=, dim_ordering=)``."""

    rank = 2

    def __init__(self, filters=None, kernel_size=None, *args, nb_row=None, nb_col=None,
                 subsample=None, dim_ordering=None, **kwargs):
        kernel_size = _positional(2, kernel_size, args, ("strides", "padding", "data_format"),
                                  kwargs)
        strides, padding = kwargs.pop("strides", None), kwargs.pop("padding", None)
        data_format = kwargs.pop("data_format", None)
        super().__init__(filters, _kernel_size(2, kernel_size, nb_row, nb_col),
                         _first(strides, subsample), padding, _first(data_format, dim_ordering),
                         **kwargs)


# --- upsampling, padding, cropping ----------------------------------------------------------------
class _Spatial(Layer):
    """Base of the shape-only layers over ``rank`` spatial axes."""

    rank = 2

    def __init__(self, data_format=None, dim_ordering=None, **kwargs):
        super().__init__(**kwargs)
        default = "channels_last" if self.rank == 1 else None
        self.data_format = C.normalize_data_format(_first(data_format, dim_ordering, default))
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _axes(self) -> tuple:
        return tuple(range(2, self.rank + 2)) if self.data_format == "channels_first" else \
            tuple(range(1, self.rank + 1))

    def _check(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        _require_rank(self, input_shape, self.rank)
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class _UpSampling(_Spatial):
    def __init__(self, size=2, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = C.normalize_tuple(size, self.rank, "size")

    def compute_output_shape(self, input_shape):
        shape = list(self._check(input_shape))
        for axis, f in zip(self._axes(), self.size):
            shape[axis] = None if shape[axis] is None else shape[axis] * f
        return tuple(shape)

    def call(self, inputs, mask=None):
        self._check(K.int_shape(inputs))
        y = inputs
        for axis, f in zip(self._axes(), self.size):
            if f != 1:
                y = K.repeat_elements(y, f, axis)
        return y

    def get_config(self) -> dict:
        size = self.size[0] if self.rank == 1 else self.size
        return dict(super().get_config(), size=size)


class UpSampling1D(_UpSampling):
    """Repeat each step ``size`` times (Keras 1: ``length``)."""

    rank = 1

    def __init__(self, size=None, length=None, **kwargs):
        super().__init__(_first(size, length, 2), **kwargs)

    @property
    def length(self) -> int:
        return self.size[0]


class UpSampling2D(_UpSampling):
    """Repeat rows and columns (nearest-neighbour upsampling)."""

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)


class UpSampling3D(_UpSampling):
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)


def _pad_pairs(value, rank: int, name: str):
    """Keras's accepted spellings: int; ``rank`` ints (symmetric); ``rank`` pairs; Keras 1.2's
    flat ``(top, bottom, left, right)`` or dict ``{'top_pad': ...}``."""
    if isinstance(value, dict):
        keys = {1: ("left_pad", "right_pad"),
                2: ("top_pad", "bottom_pad", "left_pad", "right_pad")}.get(rank)
        if keys is None or set(value) - set(keys):
            raise ValueError("Unexpected key found in `" + name + "` dictionary: " + str(value))
        flat = [int(value.get(k, 0)) for k in keys]
        return tuple(zip(flat[::2], flat[1::2]))
    if isinstance(value, (int, np.integer)):
        return ((int(value), int(value)),) * rank
    value = tuple(value)
    if rank == 1 and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return ((int(value[0]), int(value[1])),)
    if len(value) == 2 * rank and all(isinstance(v, (int, np.integer)) for v in value):
        return tuple((int(value[2 * i]), int(value[2 * i + 1])) for i in range(rank))
    if len(value) != rank:
        raise ValueError("`" + name + "` should have " + str(rank) + " elements. Found: " +
                         str(value))
    out = []
    for v in value:
        if isinstance(v, (int, np.integer)):
            out.append((int(v), int(v)))
        else:
            v = tuple(int(a) for a in v)
            if len(v) != 2:
                raise ValueError("`" + name + "` entries should be ints or pairs of ints. "
                                 "Found: " + str(value))
            out.append(v)
    return tuple(out)


class _ZeroPadding(_Spatial):
    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pad_pairs(padding, self.rank, "padding")

    def compute_output_shape(self, input_shape):
        shape = list(self._check(input_shape))
        for axis, (lo, hi) in zip(self._axes(), self.padding):
            shape[axis] = None if shape[axis] is None else shape[axis] + lo + hi
        return tuple(shape)

    def call(self, inputs, mask=None):
        shape = self._check(K.int_shape(inputs))
        for axis in self._axes():
            if shape[axis] is None:
                raise ValueError("Layer " + self.name + " cannot pad an undefined dimension; "
                                 "input shape " + str(shape))
        return C.zero_pad(inputs, self.padding, self._axes())

    def get_config(self) -> dict:
        padding = self.padding[0] if self.rank == 1 else self.padding
        return dict(super().get_config(), padding=padding)


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the steps: ``padding`` int or ``(left, right)``."""

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """``padding``: int, ``(rows, cols)`` symmetric, or ``((top, bottom), (left, right))``."""

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    rank = 3

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pad_pairs(cropping, self.rank, "cropping")

    def compute_output_shape(self, input_shape):
        shape = list(self._check(input_shape))
        for axis, (lo, hi) in zip(self._axes(), self.cropping):
            if shape[axis] is not None:
                shape[axis] -= lo + hi
                if shape[axis] <= 0:
                    raise ValueError("Layer " + self.name + ": cropping " +
                                     str(self.cropping) + " removes the whole input of shape " +
                                     str(tuple(input_shape)))
        return tuple(shape)

    def call(self, inputs, mask=None):
        shape = self.compute_output_shape(K.int_shape(inputs))
        spec = [slice(None)] * len(shape)
        for axis, (lo, hi) in zip(self._axes(), self.cropping):
            if shape[axis] is None:
                raise ValueError("Layer " + self.name + " cannot crop an undefined dimension; "
                                 "input shape " + str(K.int_shape(inputs)))
            spec[axis] = slice(lo, lo + shape[axis])
        return K.getitem(inputs, tuple(spec))

    def get_config(self) -> dict:
        cropping = self.cropping[0] if self.rank == 1 else self.cropping
        return dict(super().get_config(), cropping=cropping)


class Cropping1D(_Cropping):
    """Remove steps at the start and end: ``cropping=(start, end)``."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    """``cropping``: int, ``(rows, cols)`` symmetric, or ``((top, bottom), (left, right))``."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)
