"""Models and weights in Keras 2's HDF5 layout, and model configs (JSON / YAML).

A full save (``save_model``) holds the root attributes ``keras_version``, ``backend``,
``model_config`` and ``training_config`` (JSON text), the group ``model_weights`` (attribute
``layer_names``; one group per layer with attribute ``weight_names`` and one dataset per weight,
named like ``dense_1/kernel:0``) and the group ``optimizer_weights`` (attribute
``weight_names``).  A weights-only file (``save_weights``) is the ``model_weights`` group at
the root.  So files written by Keras 2 load here and files written here load in Keras.

Every write goes to a temporary file that is renamed over the target (``io_utils``): a crash in
the middle of a checkpoint leaves the previous one intact.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, List, Optional

import numpy as np

def _bytes_array(names) -> np.ndarray:
    """Fixed-length byte strings, the attribute type Keras 2 (h5py 2) wrote for name lists."""
    return np.array([n.encode("utf8") for n in names], dtype="S")


from .. import backend as K
from ..utils.generic_utils import CustomObjectScope, SafeModeScope, json_default
from ..utils.io_utils import ask_to_proceed_with_overwrite, atomic_write_path
from .topology import InputLayer, Layer

#: the Keras version whose file layout these files follow
KERAS_VERSION = "2.0.8"


# --- small helpers --------------------------------------------------------------------------------
def _text(value) -> str:
    """HDF5 attributes come back as bytes, numpy bytes or str depending on the writer."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf8")
    return str(value)


def _names(attr) -> List[str]:
    return [_text(n) for n in attr]


def _json_default(obj):
    """``json_default`` plus what a training config holds: arrays, functions by name, objects
    by class name and config."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if callable(obj) and hasattr(obj, "__name__"):
        return obj.__name__  # a loss or metric function: stored by name, found via custom_objects
    if hasattr(obj, "get_config"):
        return {"class_name": obj.__class__.__name__, "config": obj.get_config()}
    return json_default(obj)


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a dependency
        raise ImportError("`save_model` / `load_model` / weights files require h5py.") from e
    return h5py


class _ReadFile:
    """Opens an HDF5 file for reading; a missing, corrupt or truncated file, or a read error
    inside it, becomes an error that names the file."""

    def __init__(self, filepath):
        self.filepath = os.fspath(filepath)
        self.f = None

    def __enter__(self):
        h5py = _h5py()
        if not os.path.exists(self.filepath):
            raise FileNotFoundError("Unable to open file " + repr(self.filepath) +
                                    ": no such file.")
        try:
            self.f = h5py.File(self.filepath, "r")
        except OSError as e:
            raise OSError("Unable to open file " + repr(self.filepath) + ": it is not a readable "
                          "HDF5 file (corrupt or truncated?). " + str(e)) from e
        return self.f

    def __exit__(self, exc_type, exc, tb):
        self.f.close()
        if exc_type is not None and issubclass(exc_type, (OSError, KeyError, RuntimeError)) \
                and not isinstance(exc, FileNotFoundError):
            raise OSError("Error reading " + repr(self.filepath) + " (corrupt or truncated "
                          "file, or not written by Keras/graphnn): " + str(exc)) from exc
        return False


# --- weights --------------------------------------------------------------------------------------
def _saved_layers(model) -> List[Layer]:
    """The layers whose weights a file holds: a Keras 1 ``Merge`` of Sequentials in a
    Sequential contributes its branches' layers too (``_weight_layers``)."""
    layers = model._weight_layers() if hasattr(model, "_weight_layers") else model.layers
    return list(layers)


def _unique_names(weights) -> List[str]:
    """Dataset names inside one layer group: the variable names, made unique."""
    out: List[str] = []
    for w in weights:
        name = getattr(w, "name", None) or "param_" + str(len(out))
        base, i = name, 0
        while name in out:
            i += 1
            name = base.replace(":0", "") + "_" + str(i) + (":0" if base.endswith(":0") else "")
        out.append(name)
    return out


def save_weights_to_hdf5_group(group, layers: List[Layer]) -> None:
    group.attrs["layer_names"] = _bytes_array(layer.name for layer in layers)
    group.attrs["backend"] = b"graphnn"
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in layers:
        g = group.create_group(layer.name)
        weights = layer.weights
        names = _unique_names(weights)
        g.attrs["weight_names"] = _bytes_array(names)
        for name, value in zip(names, K.batch_get_value(weights)):
            g.create_dataset(name, data=value)


def _stored_weights(group, name: str) -> List[np.ndarray]:
    g = group[name]
    return [np.asarray(g[w]) for w in _names(g.attrs["weight_names"])]


def _check_shapes(layer: Layer, values: List[np.ndarray], where: str) -> None:
    for w, v in zip(layer.weights, values):
        if tuple(w.shape) != tuple(v.shape):
            raise ValueError("Layer " + where + " (named \"" + layer.name + "\") weight " +
                             repr(w.name) + " has shape " + str(tuple(w.shape)) + ", but the "
                             "saved weight has shape " + str(tuple(v.shape)) + ".")


def load_weights_from_hdf5_group(group, layers: List[Layer]) -> None:
    """Topological loading: the i-th layer with weights gets the i-th stored layer with
    weights (names may differ)."""
    layers = [layer for layer in layers if layer.weights]
    stored = [n for n in _names(group.attrs["layer_names"])
              if len(group[n].attrs["weight_names"])]
    if len(stored) != len(layers):
        raise ValueError("You are trying to load a weight file containing " + str(len(stored)) +
                         " layers into a model with " + str(len(layers)) + " layers.")
    pairs = []
    for k, (layer, name) in enumerate(zip(layers, stored)):
        values = _stored_weights(group, name)
        if len(values) != len(layer.weights):
            raise ValueError("Layer #" + str(k) + " (named \"" + layer.name + "\" in the current "
                             "model) was found to correspond to layer " + name + " in the save "
                             "file. However the new layer " + layer.name + " expects " +
                             str(len(layer.weights)) + " weights, but the saved weights have " +
                             str(len(values)) + " elements.")
        _check_shapes(layer, values, "#" + str(k))
        pairs += list(zip(layer.weights, values))
    K.batch_set_value(pairs)


def load_weights_from_hdf5_group_by_name(group, layers: List[Layer],
                                         skip_mismatch: bool = False) -> None:
    """Loading by layer name: layers absent from the file keep their weights (for transfer
    learning into a different architecture)."""
    stored = set(_names(group.attrs["layer_names"]))
    pairs = []
    for k, layer in enumerate(layers):
        if layer.name not in stored or not layer.weights:
            continue
        values = _stored_weights(group, layer.name)
        if len(values) != len(layer.weights) or any(
                tuple(w.shape) != v.shape for w, v in zip(layer.weights, values)):
            if skip_mismatch:
                warnings.warn("Skipping loading of weights for layer " + layer.name + " due to "
                              "mismatch in shape or number of weights.")
                continue
            if len(values) != len(layer.weights):
                raise ValueError("Layer #" + str(k) + " (named \"" + layer.name + "\") expects " +
                                 str(len(layer.weights)) + " weight(s), but the saved weights "
                                 "have " + str(len(values)) + " element(s).")
            _check_shapes(layer, values, "#" + str(k))
        pairs += list(zip(layer.weights, values))
    K.batch_set_value(pairs)


def save_weights(model, filepath: str, overwrite: bool = True) -> None:
    """Keras's weights-only HDF5 layout (``layer_names``, per-layer ``weight_names``)."""
    if not overwrite and os.path.isfile(filepath) and not ask_to_proceed_with_overwrite(filepath):
        return
    h5py = _h5py()
    with atomic_write_path(filepath) as tmp:
        with h5py.File(tmp, "w") as f:
            save_weights_to_hdf5_group(f, _saved_layers(model))


def load_weights(model, filepath: str, by_name: bool = False, skip_mismatch: bool = False) -> None:
    """Weights from a ``save_weights`` file or a full ``save_model`` file (also Keras 2's)."""
    with _ReadFile(filepath) as f:
        if "layer_names" not in f.attrs and "model_weights" in f:
            f = f["model_weights"]
        if "layer_names" not in f.attrs:
            raise ValueError("File " + repr(os.fspath(filepath)) + " holds no model weights "
                             "(no `layer_names` attribute).")
        if by_name:
            load_weights_from_hdf5_group_by_name(f, _saved_layers(model), skip_mismatch)
        else:
            load_weights_from_hdf5_group(f, _saved_layers(model))


# --- optimizer state ------------------------------------------------------------------------------
def optimizer_state(optimizer) -> List:
    """The optimizer's variables that make training continue exactly: its ``weights`` (slots),
    plus the step counter and Nadam's momentum schedule where ``weights`` leaves them out."""
    state = list(getattr(optimizer, "weights", []) or [])
    for attr, first in (("iterations", True), ("m_schedule", False)):
        v = getattr(optimizer, attr, None)
        if v is not None and K.is_variable(v) and not any(v is w for w in state):
            state.insert(0, v) if first else state.append(v)
    return state


# --- model configs --------------------------------------------------------------------------------
def functional_config(model) -> Dict[str, Any]:
    """Keras 2's functional config: layers with their ``inbound_nodes`` (node indices renumbered
    to the nodes inside this model), ``input_layers``, ``output_layers``."""
    from ..layers import serialize
    node_ids = getattr(model, "_node_ids", None)
    index_map: Dict[tuple, int] = {}
    for layer in model.layers:
        k = 0
        for i, node in enumerate(layer.inbound_nodes):
            if node_ids is None or id(node) in node_ids:
                index_map[(id(layer), i)] = k
                k += 1
    layer_configs = []
    for layer in model.layers:
        nodes = []
        for i, node in enumerate(layer.inbound_nodes):
            if (id(layer), i) not in index_map or not node.inbound_layers:
                continue
            nodes.append([[inbound.name, index_map.get((id(inbound), ni), ni), ti, {}]
                          for inbound, ni, ti in zip(node.inbound_layers, node.node_indices,
                                                     node.tensor_indices)])
        conf = serialize(layer)
        layer_configs.append({"name": layer.name, "class_name": conf["class_name"],
                              "config": conf["config"], "inbound_nodes": nodes})

    def refs(tensors):
        out = []
        for x in tensors:
            layer, ni, ti = x._keras_history
            out.append([layer.name, index_map.get((id(layer), ni), ni), ti])
        return out
    return {"name": model.name, "layers": layer_configs, "input_layers": refs(model.inputs),
            "output_layers": refs(model.outputs)}


def functional_from_config(cls, config: Dict[str, Any], custom_objects=None):
    """Rebuild the layers, then call each on its inbound tensors, node by node in order (a
    layer's k-th call makes its k-th node), deferring nodes whose inputs are not ready."""
    from ..layers import deserialize
    created: Dict[str, Layer] = {}
    outputs: Dict[tuple, List] = {}
    pending: List[tuple] = []
    for conf in config["layers"]:
        layer = deserialize({"class_name": conf["class_name"], "config": conf["config"]},
                            custom_objects)
        created[conf["name"]] = layer
        if isinstance(layer, InputLayer):
            outputs[(layer.name, 0)] = list(layer.inbound_nodes[0].output_tensors)
        for k, node in enumerate(conf.get("inbound_nodes", [])):
            pending.append((layer, k, node))
    next_node: Dict[str, int] = {}
    while pending:
        left = []
        for layer, k, node in pending:
            if next_node.get(layer.name, 0) != k or \
                    not all((ref[0], ref[1]) in outputs for ref in node):
                left.append((layer, k, node))
                continue
            xs = [outputs[(ref[0], ref[1])][ref[2]] for ref in node]
            kwargs = node[0][3] if node and len(node[0]) > 3 and node[0][3] else {}
            out = layer(xs[0] if len(xs) == 1 else xs, **kwargs)
            outputs[(layer.name, k)] = out if isinstance(out, list) else [out]
            next_node[layer.name] = k + 1
        if len(left) == len(pending):
            raise ValueError("Cannot rebuild the model from its config: the inbound nodes of "
                             "layer(s) " + ", ".join(sorted({p[0].name for p in left})) +
                             " refer to tensors that are never produced.")
        pending = left
    inputs = [outputs[(r[0], r[1])][r[2]] for r in config["input_layers"]]
    outs = [outputs[(r[0], r[1])][r[2]] for r in config["output_layers"]]
    return cls(inputs=inputs, outputs=outs, name=config.get("name"))


def model_to_config(model) -> Dict[str, Any]:
    return {"class_name": model.__class__.__name__, "config": model.get_config()}


def model_from_config(config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None,
                      safe_mode: bool = True):
    """A model from ``{'class_name': 'Sequential' | 'Model' | custom, 'config': ...}``."""
    from ..layers import deserialize
    if isinstance(config, list):
        raise TypeError("`model_from_config` expects a dictionary, not a list. Maybe you meant "
                        "to use `Sequential.from_config(config)`?")
    with SafeModeScope(safe_mode), CustomObjectScope(custom_objects or {}):
        return deserialize(config, custom_objects)


def model_from_json(json_string: str, custom_objects: Optional[Dict[str, Any]] = None,
                    safe_mode: bool = True):
    return model_from_config(json.loads(json_string), custom_objects, safe_mode)


def model_from_yaml(yaml_string: str, custom_objects: Optional[Dict[str, Any]] = None,
                    safe_mode: bool = True):
    """YAML is read with the safe loader: a file cannot construct Python objects."""
    import yaml
    return model_from_config(yaml.safe_load(yaml_string), custom_objects, safe_mode)


# --- whole models ---------------------------------------------------------------------------------
def _training_config(model) -> Optional[Dict[str, Any]]:
    if not getattr(model, "_compiled", False) or model.optimizer is None:
        return None
    return {"optimizer_config": {"class_name": model.optimizer.__class__.__name__,
                                 "config": model.optimizer.get_config()},
            "loss": model.loss, "metrics": model.metrics,
            "sample_weight_mode": model.sample_weight_mode, "loss_weights": model.loss_weights}


def save_model(model, filepath: str, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Architecture, weights, training configuration and optimizer state in one HDF5 file."""
    if not overwrite and os.path.isfile(filepath) and not ask_to_proceed_with_overwrite(filepath):
        return
    h5py = _h5py()
    model_config = json.dumps(model_to_config(model), default=_json_default)
    training = _training_config(model) if include_optimizer else None
    with atomic_write_path(filepath) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
            f.attrs["backend"] = b"graphnn"
            f.attrs["model_config"] = model_config.encode("utf8")
            save_weights_to_hdf5_group(f.create_group("model_weights"), _saved_layers(model))
            if training is not None:
                f.attrs["training_config"] = json.dumps(training,
                                                        default=_json_default).encode("utf8")
                # before the first training step the state is the initial one: nothing to keep
                state = optimizer_state(model.optimizer) if model.train_function else []
                if state:
                    g = f.create_group("optimizer_weights")
                    names = _unique_names(state)
                    g.attrs["weight_names"] = _bytes_array(names)
                    for name, value in zip(names, K.batch_get_value(state)):
                        g.create_dataset(name, data=value)


def load_model(filepath: str, custom_objects: Optional[Dict[str, Any]] = None,
               compile: bool = True, safe_mode: bool = True):  # noqa: A002 (Keras name)
    """The model saved by ``save_model`` (or Keras 2), compiled with its saved optimizer state
    unless ``compile=False``, so ``fit`` continues where it stopped."""
    from .. import optimizers
    with _ReadFile(filepath) as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ValueError("No model found in config file: " + repr(os.fspath(filepath)))
        try:
            config = json.loads(_text(raw))
        except ValueError as e:
            raise ValueError("Corrupt model_config in " + repr(os.fspath(filepath)) + ": " +
                             str(e)) from e
        model = model_from_config(config, custom_objects, safe_mode)
        load_weights_from_hdf5_group(f["model_weights"], _saved_layers(model))
        raw = f.attrs.get("training_config")
        if not compile or raw is None:
            if compile:
                warnings.warn("No training configuration found in save file: the model was "
                              "*not* compiled. Compile it manually.")
            return model
        training = json.loads(_text(raw))
        with CustomObjectScope(custom_objects or {}):
            optimizer = optimizers.deserialize(training["optimizer_config"], custom_objects)
            model.compile(optimizer=optimizer, loss=training["loss"],
                          metrics=training.get("metrics"),
                          loss_weights=training.get("loss_weights"),
                          sample_weight_mode=training.get("sample_weight_mode"))
        if "optimizer_weights" in f:
            g = f["optimizer_weights"]
            values = [np.asarray(g[n]) for n in _names(g.attrs["weight_names"])]
            model._make_train_function()  # creates the optimizer's slots (compiles nothing)
            state = optimizer_state(model.optimizer)
            if len(state) != len(values) or any(tuple(s.shape) != v.shape
                                                 for s, v in zip(state, values)):
                warnings.warn("Error in loading the saved optimizer state. As a result, your "
                              "model is starting with a freshly initialized optimizer.")
            else:
                K.batch_set_value(zip(state, values))
    return model


class ModelSavingMixin:
    """``Model``'s saving and config methods (kept out of ``training.py``)."""

    def save(self, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
        save_model(self, filepath, overwrite, include_optimizer)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        save_weights(self, filepath, overwrite)

    def load_weights(self, filepath: str, by_name: bool = False,
                     skip_mismatch: bool = False) -> None:
        load_weights(self, filepath, by_name, skip_mismatch)

    def get_config(self) -> Dict[str, Any]:
        from .container import Container
        if "get_config" in vars(Container):  # the engine's own functional config, if it has one
            return Container.get_config(self)
        return functional_config(self)

    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects=None):
        from .container import Container
        if "from_config" in vars(Container):
            return Container.from_config.__func__(cls, config, custom_objects)
        return functional_from_config(cls, config, custom_objects)

    def to_json(self, **kwargs) -> str:
        return json.dumps(model_to_config(self), default=_json_default, **kwargs)

    def to_yaml(self, **kwargs) -> str:
        import yaml
        return yaml.safe_dump(json.loads(self.to_json()), **kwargs)
