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
from .noise import GaussianDropout, GaussianNoise  # noqa: F401
from .normalization import BatchNormalization  # noqa: F401


#: the modules whose Layer classes ``deserialize`` knows by class name (a new layer module adds
#: its import above and its name here)
_MODULES = ("core", "embeddings", "normalization", "advanced_activations", "noise")


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
    """A layer from ``{'class_name': 'Dense', 'config': {...}}``."""
    return deserialize_object(config, _registry(), "layer", custom_objects)


layer_from_config = deserialize  # Keras 1 name
