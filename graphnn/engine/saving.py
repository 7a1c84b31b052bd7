"""Weights files in Keras's HDF5 layout: attribute ``layer_names``; one group per layer with
attribute ``weight_names`` and one dataset per weight."""
from __future__ import annotations

from typing import List

import numpy as np

from .. import backend as K
from .topology import InputLayer, Layer


def _weight_layers(model) -> List[Layer]:
    layers = model._weight_layers() if hasattr(model, "_weight_layers") else model.layers
    return [layer for layer in layers if not isinstance(layer, InputLayer)]


def save_weights(model, filepath: str) -> None:
    """Keras's weights-only HDF5 layout (``layer_names``, per-layer ``weight_names``)."""
    import h5py
    with h5py.File(filepath, "w") as f:
        layers = _weight_layers(model)
        f.attrs["layer_names"] = [layer.name.encode("utf8") for layer in layers]
        f.attrs["backend"] = b"graphnn"
        for layer in layers:
            g = f.create_group(layer.name)
            weights = layer.weights
            names = [w.name.encode("utf8") for w in weights]
            g.attrs["weight_names"] = names
            for name, value in zip(names, K.batch_get_value(weights)):
                g.create_dataset(name, data=value)


def load_weights(model, filepath: str) -> None:
    """Load by layer order from a file written by :func:`save_weights`."""
    import h5py
    with h5py.File(filepath, "r") as f:
        names = [n.decode("utf8") if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        layers = [layer for layer in _weight_layers(model) if layer.weights]
        stored = [n for n in names if len(f[n].attrs["weight_names"])]
        if len(stored) != len(layers):
            raise ValueError("You are trying to load a weight file containing " +
                             str(len(stored)) + " layers into a model with " + str(len(layers)) +
                             " layers.")
        for layer, name in zip(layers, stored):
            g = f[name]
            layer.set_weights([np.asarray(g[w]) for w in g.attrs["weight_names"]])
