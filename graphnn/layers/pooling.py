"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and their global forms (Keras 1
names ``pool_length``, ``stride``, ``border_mode``, ``dim_ordering`` accepted).  The math is in
``graphnn.backend.conv.pool_nd`` (elementwise maximum / sum over the window's strided slices)."""
from __future__ import annotations

from .. import backend as K
from ..backend import conv as C
from ..engine.topology import InputSpec, Layer
from .convolutional import _require_rank, _spatial, _with_spatial
from .core import _first


class _Pooling(Layer):
    rank = 2
    pool_mode = "max"

    def __init__(self, pool_size=None, strides=None, padding=None, data_format=None,
                 border_mode=None, dim_ordering=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = C.normalize_tuple(_first(pool_size, 2), self.rank, "pool_size")
        strides = _first(strides, self.pool_size)
        self.strides = C.normalize_tuple(strides, self.rank, "strides")
        self.padding = C.normalize_padding(_first(padding, border_mode, "valid"))
        default = "channels_last" if self.rank == 1 else None
        self.data_format = C.normalize_data_format(_first(data_format, dim_ordering, default))
        self.input_spec = InputSpec(ndim=self.rank + 2)

    @property
    def border_mode(self) -> str:  # Keras 1 name
        return self.padding

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _require_rank(self, input_shape, self.rank)
        out = tuple(C.conv_output_length(n, k, self.padding, s) for n, k, s in
                    zip(_spatial(input_shape, self.data_format), self.pool_size, self.strides))
        if any(o is not None and o <= 0 for o in out):
            raise ValueError("Layer " + self.name + ": the pool of size " + str(self.pool_size) +
                             " does not fit the input of shape " + str(input_shape) +
                             " with padding '" + self.padding + "' (negative dimension size)")
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        return _with_spatial(input_shape, self.data_format, out, channels)

    def call(self, inputs, mask=None):
        self.compute_output_shape(K.int_shape(inputs))
        return C.pool_nd(inputs, self.pool_size, self.strides, self.padding, self.data_format,
                         self.pool_mode, self.rank, self.name)

    def get_config(self) -> dict:
        config = {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return dict(super().get_config(), **config)


class _Pooling1D(_Pooling):
    """Keras 1: ``pool_length``, ``stride``, ``border_mode``."""

    rank = 1

    def __init__(self, pool_size=None, strides=None, padding=None, pool_length=None,
                 stride=None, **kwargs):
        super().__init__(_first(pool_size, pool_length, 2), _first(strides, stride), padding,
                         **kwargs)

    @property
    def pool_length(self) -> int:
        return self.pool_size[0]

    @property
    def stride(self) -> int:
        return self.strides[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config["pool_size"], config["strides"] = self.pool_size[0], self.strides[0]
        return config


class MaxPooling1D(_Pooling1D):
    """Max over windows of steps."""
    pool_mode = "max"


class AveragePooling1D(_Pooling1D):
    """Mean over windows of steps ('same': over the real entries only)."""
    pool_mode = "avg"


class _Pooling2D(_Pooling):
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding=None, data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling2D):
    """Max over windows of rows and columns."""
    pool_mode = "max"


class AveragePooling2D(_Pooling2D):
    """Mean over windows of rows and columns ('same': over the real entries only)."""
    pool_mode = "avg"


class _Pooling3D(_Pooling):
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding=None, data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling3D):
    pool_mode = "max"


class AveragePooling3D(_Pooling3D):
    pool_mode = "avg"


class _GlobalPooling(Layer):
    """Reduce all spatial axes: ``(batch, ..., channels)`` -> ``(batch, channels)``."""

    rank = 2
    reduce = staticmethod(K.max)

    def __init__(self, data_format=None, dim_ordering=None, **kwargs):
        super().__init__(**kwargs)
        default = "channels_last" if self.rank == 1 else None
        self.data_format = C.normalize_data_format(_first(data_format, dim_ordering, default))
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _axes(self) -> tuple:
        if self.data_format == "channels_first":
            return tuple(range(2, self.rank + 2))
        return tuple(range(1, self.rank + 1))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _require_rank(self, input_shape, self.rank)
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        return (input_shape[0], channels)

    def call(self, inputs, mask=None):
        return type(self).reduce(inputs, axis=list(self._axes()))

    def get_config(self) -> dict:
        config = super().get_config()
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class GlobalMaxPooling1D(_GlobalPooling):
    rank = 1
    reduce = staticmethod(K.max)


class GlobalAveragePooling1D(_GlobalPooling):
    rank = 1
    reduce = staticmethod(K.mean)


class GlobalMaxPooling2D(_GlobalPooling):
    rank = 2
    reduce = staticmethod(K.max)


class GlobalAveragePooling2D(_GlobalPooling):
    rank = 2
    reduce = staticmethod(K.mean)


class GlobalMaxPooling3D(_GlobalPooling):
    rank = 3
    reduce = staticmethod(K.max)


class GlobalAveragePooling3D(_GlobalPooling):
    rank = 3
    reduce = staticmethod(K.mean)


# Keras 2 short aliases
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (GlobalMaxPooling1D, GlobalMaxPooling2D,
                                                     GlobalMaxPooling3D)
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D,
                                                     GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
