"""Layers (Keras ``layers``) and their (de)serialization."""
from __future__ import annotations

from ..engine.topology import Input, InputLayer, InputSpec, Layer  # noqa: F401
from ..utils.generic_utils import deserialize_object
from .core import (Activation, ActivityRegularization, Dense, Dropout, Flatten,  # noqa: F401
                   Lambda, Permute, RepeatVector, Reshape)


def _registry() -> dict:
    from ..models import Sequential
    from ..engine.training import Model
    classes = (InputLayer, Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
               Lambda, ActivityRegularization, Sequential, Model)
    return {c.__name__: c for c in classes}


def serialize(layer: Layer) -> dict:
    return {"class_name": layer.__class__.__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects=None) -> Layer:
    """A layer from ``{'class_name': 'Dense', 'config': {...}}``."""
    return deserialize_object(config, _registry(), "layer", custom_objects)


layer_from_config = deserialize  # Keras 1 name
