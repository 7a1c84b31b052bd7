"""Files in the exact HDF5 layout that Keras 2.x (TensorFlow backend) writes, made with h5py, so
loading them is tested without Keras: ``save_weights`` files (root ``layer_names``; a group per
layer with ``weight_names``; datasets ``<layer>/<layer>/kernel:0``) and ``model.save`` files
(``model_config`` / ``training_config`` JSON attributes, ``model_weights``,
``optimizer_weights``).  Attributes are bytes, as Keras writes them under Python 3."""
from __future__ import annotations

import json
from typing import Dict, List, Tuple

import h5py
import numpy as np

def _bytes_array(names) -> np.ndarray:
    """Fixed-length byte strings, the attribute type Keras 2 (h5py 2) wrote for name lists."""
    return np.array([n.encode("utf8") for n in names], dtype="S")


#: (layer name, [(weight name, array)]) in the model's order
LayerWeights = List[Tuple[str, List[Tuple[str, np.ndarray]]]]


def _write_weights_group(g, layers: LayerWeights) -> None:
    g.attrs["layer_names"] = _bytes_array(name for name, _ in layers)
    g.attrs["backend"] = b"tensorflow"
    g.attrs["keras_version"] = b"2.1.6"
    for layer_name, weights in layers:
        lg = g.create_group(layer_name)
        names = [layer_name + "/" + w + ":0" for w, _ in weights]
        lg.attrs["weight_names"] = _bytes_array(names)
        for n, (_, value) in zip(names, weights):
            lg.create_dataset(n, data=value)  # "dense_1/kernel:0" makes the nested group dense_1


def write_weights_file(path, layers: LayerWeights) -> None:
    with h5py.File(path, "w") as f:
        _write_weights_group(f, layers)


def write_model_file(path, model_config: Dict, layers: LayerWeights,
                     training_config: Dict = None,
                     optimizer_weights: List[Tuple[str, np.ndarray]] = ()) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.1.6"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        _write_weights_group(f.create_group("model_weights"), layers)
        if optimizer_weights:
            g = f.create_group("optimizer_weights")
            g.attrs["weight_names"] = _bytes_array(n for n, _ in optimizer_weights)
            for n, value in optimizer_weights:
                g.create_dataset(n, data=value)


def _init(name: str) -> Dict:
    if name == "glorot_uniform":
        return {"class_name": "VarianceScaling",
                "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform",
                           "seed": None}}
    return {"class_name": name.capitalize(), "config": {}}


def keras2_dense_config(name: str, units: int, activation: str, batch_input_shape=None) -> Dict:
    """A Dense config exactly as Keras 2.1 writes it."""
    config = {"name": name, "trainable": True, "units": units, "activation": activation,
              "use_bias": True, "kernel_initializer": _init("glorot_uniform"),
              "bias_initializer": _init("zeros"), "kernel_regularizer": None,
              "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
              "bias_constraint": None}
    if batch_input_shape is not None:
        config = dict({"batch_input_shape": list(batch_input_shape), "dtype": "float32"},
                      **config)
    return {"class_name": "Dense", "config": config}
