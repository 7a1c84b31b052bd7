"""Layers (Keras ``layers``) and their (de)serialization."""
from __future__ import annotations

from ..engine.topology import Input, InputLayer, InputSpec, Layer  # noqa: F401
from ..utils.generic_utils import deserialize_object
from .advanced_activations import (ELU, PReLU, LeakyReLU, ParametricSoftplus,  # noqa: F401
                                   SReLU, ThresholdedReLU)
from .core import (Activation, ActivityRegularization, Dense, Dropout, Flatten,  # noqa: F401
                   Highway, Lambda, Masking, MaxoutDense, Permute, RepeatVector, Reshape,
                   SpatialDropout1D, SpatialDropout2D, SpatialDropout3D, TimeDistributedDense)
from .embeddings import Embedding  # noqa: F401
from .recurrent import GRU, LSTM, SimpleRNN  # noqa: F401
from .noise import GaussianDropout, GaussianNoise  # noqa: F401
from .normalization import BatchNormalization  # noqa: F401
from .convolutional import (AtrousConvolution1D, AtrousConvolution2D, Conv1D,  # noqa: F401
                            Conv2D, Conv2DTranspose, Conv3D, Convolution1D, Convolution2D,
                            Convolution3D, Cropping1D, Cropping2D, Cropping3D, Deconvolution2D,
                            LocallyConnected1D, LocallyConnected2D, SeparableConv2D,
                            SeparableConvolution2D, UpSampling1D, UpSampling2D, UpSampling3D,
                            ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .merge import (Add, Average, Concatenate, Dot, Maximum, Merge, Minimum,  # noqa: F401
                    Multiply, Subtract, add, average, concatenate, dot, maximum, merge, minimum,
                    multiply, subtract)
from .wrappers import TimeDistributed, Wrapper  # noqa: F401
from .bidirectional import Bidirectional  # noqa: F401
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D,  # noqa: F401
                      AvgPool1D, AvgPool2D, AvgPool3D, GlobalAveragePooling1D,
                      GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D,
                      GlobalMaxPool3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)


#: the modules whose Layer classes ``deserialize`` knows by class name (a new layer module adds
#: its import above and its name here)
_MODULES = ("core", "convolutional", "pooling", "embeddings", "normalization",
            "advanced_activations", "noise", "merge", "wrappers", "recurrent", "bidirectional")


def _registry() -> dict:
    import importlib
    from ..models import Sequential
    from ..engine.training import Model
    found = {c.__name__: c for c in (InputLayer, Sequential, Model)}
    for name in _MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Layer) and \
                    value.__module__ == module.__name__ and not value.__name__.startswith("_"):
                found.setdefault(value.__name__, value)
    return found


def serialize(layer: Layer) -> dict:
    return {"class_name": layer.__class__.__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects=None) -> Layer:
    """A layer from ``{'class_name': 'Dense', 'config': {...}}``.  Models and wrappers get
    ``custom_objects`` too: the layers inside them may be custom."""
    registry = _registry()
    if isinstance(config, dict):
        cls = dict(registry, **(custom_objects or {})).get(config.get("class_name"))
        if isinstance(cls, type) and getattr(cls, "_deserializes_layers", False):
            return cls.from_config(config.get("config", {}), custom_objects)
    return deserialize_object(config, registry, "layer", custom_objects)


layer_from_config = deserialize  # Keras 1 name
