"""Layers and the functional graph between them (Keras ``engine.topology``).

A layer called on a Keras tensor builds its weights once, computes its output inside
``ir.origin_scope(layer.name)`` (so compiler diagnostics name the layer) and records a ``Node``
linking input and output tensors.  A ``Container`` walks those nodes back from its outputs to its
inputs; it is itself a layer, so models can be called on new tensors and nested.
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ir.tensor import Tensor, apply, origin_scope

from .. import backend as K
from .. import initializers, regularizers, constraints as constraints_module
from ..utils.generic_utils import to_list, unpack_singleton

#: Keras 1 names of Keras 2 weight names (``dense_1/kernel:0`` was ``dense_1_W``)
KERAS1_WEIGHT_ALIASES = {"kernel": "W", "bias": "b"}


def to_snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization`` (Keras 2 automatic names)."""
    s = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    s = re.sub("([a-z])([A-Z])", r"\1_\2", s).lower()
    return s if s[0] != "_" else "private" + s


def shape_text(shape) -> str:
    return str(tuple(shape))


def identity(x: Tensor) -> Tensor:
    """A new tensor equal to ``x`` (so a layer that returns its input still gets its own history)."""
    return apply("reshape", [x], shape=tuple(x.shape))


class InputSpec:
    """What a layer accepts.  Keras 1's ``ndim='2+'`` means ``min_ndim=2``."""

    def __init__(self, dtype: Optional[str] = None, shape=None, ndim=None, max_ndim=None,
                 min_ndim=None, axes: Optional[Dict[int, int]] = None):
        if isinstance(ndim, str) and ndim.endswith("+"):
            min_ndim, ndim = int(ndim[:-1]), None
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = dict(axes or {})


class Node:
    """One call of ``outbound_layer`` on tensors produced by ``inbound_layers``."""

    def __init__(self, outbound_layer: "Layer", inbound_layers: Sequence["Layer"],
                 node_indices: Sequence[int], tensor_indices: Sequence[int],
                 input_tensors: Sequence[Tensor], output_tensors: Sequence[Tensor],
                 input_masks: Sequence, output_masks: Sequence):
        self.outbound_layer = outbound_layer
        self.inbound_layers = list(inbound_layers)
        self.node_indices = list(node_indices)
        self.tensor_indices = list(tensor_indices)
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.input_masks = list(input_masks)
        self.output_masks = list(output_masks)
        self.input_shapes = [K.int_shape(x) for x in self.input_tensors]
        self.output_shapes = [K.int_shape(x) for x in self.output_tensors]
        for layer in self.inbound_layers:
            if layer is not None:
                layer.outbound_nodes.append(self)
        outbound_layer.inbound_nodes.append(self)


_call_takes_mask: Dict[type, bool] = {}


class Layer:
    """Base layer with the Keras contract (``build``/``call``/``compute_output_shape``...)."""

    _ALLOWED_KWARGS = {"input_shape", "batch_input_shape", "batch_size", "input_dtype", "dtype",
                       "name", "trainable", "weights", "input_dim", "create_input_layer"}

    def __init__(self, **kwargs):
        for k in kwargs:
            if k not in self._ALLOWED_KWARGS:
                raise TypeError(f"Keyword argument not understood: {k}")
        name = kwargs.get("name")
        if not name:
            prefix = to_snake_case(self.__class__.__name__)
            name = f"{prefix}_{K.get_uid(prefix)}"
        self.name = name
        self.trainable = kwargs.get("trainable", True)
        self.built = False
        self.supports_masking = False
        self.input_spec = None
        self.inbound_nodes: List[Node] = []
        self.outbound_nodes: List[Node] = []
        self._trainable_weights: List[Tensor] = []
        self._non_trainable_weights: List[Tensor] = []
        self._losses: List[tuple] = []
        self._updates: List[tuple] = []
        self.constraints: Dict[Tensor, Any] = {}
        if not hasattr(self, "activity_regularizer"):
            self.activity_regularizer = None
        batch_input_shape = kwargs.get("batch_input_shape")
        if batch_input_shape is None:
            input_shape = kwargs.get("input_shape")
            if input_shape is None and kwargs.get("input_dim") is not None:
                input_shape = (kwargs["input_dim"],)
            if input_shape is not None:
                batch_input_shape = (kwargs.get("batch_size"),) + tuple(input_shape)
        if batch_input_shape is not None:
            self.batch_input_shape = tuple(batch_input_shape)
        dtype = kwargs.get("dtype") or kwargs.get("input_dtype")
        self.dtype = dtype or K.floatx()
        self._declared_dtype = dtype
        self._initial_weights = kwargs.get("weights")

    # --- weights --------------------------------------------------------------------------------
    @property
    def trainable_weights(self) -> List[Tensor]:
        return list(self._trainable_weights) if self.trainable else []

    @trainable_weights.setter
    def trainable_weights(self, weights):  # Keras 1 layers assign this in build()
        self._trainable_weights = list(weights)

    @property
    def non_trainable_weights(self) -> List[Tensor]:
        if self.trainable:
            return list(self._non_trainable_weights)
        return list(self._trainable_weights) + list(self._non_trainable_weights)

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights):
        self._non_trainable_weights = list(weights)

    @property
    def weights(self) -> List[Tensor]:
        return self.trainable_weights + self.non_trainable_weights

    _ADD_WEIGHT_KERAS1 = ("shape", "initializer", "name", "trainable", "regularizer", "constraint")
    _ADD_WEIGHT_KERAS21 = ("name", "shape", "dtype", "initializer", "regularizer", "trainable",
                           "constraint")

    def add_weight(self, *args, **kwargs) -> Tensor:
        """Create a variable named ``<layer>/<name>:0`` (Keras 2 style; ``.keras1_name`` holds
        the Keras 1 name such as ``dense_1_W``).  Positional arguments follow Keras 1/2.0
        ``(shape, initializer, name, trainable, regularizer, constraint)`` or, when the first one
        is a string, Keras 2.1+ ``(name, shape, dtype, initializer, ...)``."""
        order = self._ADD_WEIGHT_KERAS21 if args and isinstance(args[0], str) else \
            self._ADD_WEIGHT_KERAS1
        if len(args) > len(order):
            raise TypeError(f"add_weight takes at most {len(order)} positional arguments")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"add_weight got multiple values for argument {key!r}")
            kwargs[key] = value
        unknown = set(kwargs) - set(self._ADD_WEIGHT_KERAS21)
        if unknown:
            raise TypeError(f"add_weight got unexpected arguments {sorted(unknown)}")
        return self._add_weight(**kwargs)

    def _add_weight(self, shape, initializer="glorot_uniform", name: Optional[str] = None,
                    trainable: bool = True, regularizer=None, constraint=None,
                    dtype: Optional[str] = None) -> Tensor:
        if initializer is None:
            initializer = "glorot_uniform"
        shape = tuple(int(d) for d in shape)
        name = name or f"weight_{len(self._trainable_weights) + len(self._non_trainable_weights)}"
        full = f"{self.name}/{name}:0"
        value = _initial_value(initializer, shape, dtype or K.floatx(), full)
        var = K.variable(value, dtype=dtype or K.floatx(), name=full)
        var.keras1_name = f"{self.name}_{KERAS1_WEIGHT_ALIASES.get(name, name)}"
        constraint = constraints_module.get(constraint)
        regularizer = regularizers.get(regularizer)
        var.constraint = constraint
        if regularizer is not None:
            with origin_scope(self.name):
                self.add_loss(regularizer(var))
        if constraint is not None:
            self.constraints[var] = constraint
        (self._trainable_weights if trainable else self._non_trainable_weights).append(var)
        return var

    def get_weights(self) -> List[np.ndarray]:
        return K.batch_get_value(self.weights)

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        params = self.weights
        if len(params) != len(weights):
            raise ValueError('You called `set_weights(weights)` on layer "' + self.name +
                             '" with a  weight list of length ' + str(len(weights)) +
                             ", but the layer was expecting " + str(len(params)) +
                             " weights. Provided weights: " + str(weights)[:50] + "...")
        tuples = []
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if tuple(p.shape) != w.shape:
                raise ValueError("Layer weight shape " + str(tuple(p.shape)) +
                                 " not compatible with provided weight shape " + str(w.shape))
            tuples.append((p, w))
        K.batch_set_value(tuples)

    def count_params(self) -> int:
        if not self.built:
            raise RuntimeError("You tried to call `count_params` on " + self.name +
                               ", but the layer isn't built. You can build it manually via: `" +
                               self.name + ".build(batch_input_shape)`.")
        return int(sum(K.count_params(p) for p in self.weights))

    # --- losses and updates (keyed by the inputs they depend on; None: unconditional) ------------
    def add_loss(self, losses, inputs=None) -> None:
        key = None if inputs is None else tuple(id(x) for x in to_list(inputs))
        for loss in to_list(losses):
            self._losses.append((key, loss))

    def add_update(self, updates, inputs=None) -> None:
        key = None if inputs is None else tuple(id(x) for x in to_list(inputs))
        for u in to_list(updates) if isinstance(updates, list) else [updates]:
            self._updates.append((key, u))

    @property
    def losses(self) -> List[Tensor]:
        return [loss for _, loss in self._losses]

    @property
    def updates(self) -> List[tuple]:
        return [u for _, u in self._updates]

    def get_losses_for(self, inputs) -> List[Tensor]:
        key = None if inputs is None else tuple(id(x) for x in to_list(inputs))
        return [loss for k, loss in self._losses if k == key]

    def get_updates_for(self, inputs) -> List[tuple]:
        key = None if inputs is None else tuple(id(x) for x in to_list(inputs))
        return [u for k, u in self._updates if k == key]

    # --- the Keras contract ------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        if type(self).get_output_shape_for is not Layer.get_output_shape_for:
            return self.get_output_shape_for(input_shape)
        return input_shape

    def get_output_shape_for(self, input_shape):
        """Keras 1 name of ``compute_output_shape``; override either."""
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            return self.compute_output_shape(input_shape)
        return input_shape

    def compute_mask(self, inputs, mask=None):
        if not self.supports_masking:
            if mask is not None and any(m is not None for m in to_list(mask)):
                raise TypeError("Layer " + self.name + " does not support masking, but was passed "
                                "an input_mask: " + str(mask))
            return None
        return mask

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if hasattr(self, "batch_input_shape"):
            config["batch_input_shape"] = self.batch_input_shape
        if self._declared_dtype:
            config["dtype"] = self._declared_dtype
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    # --- calling -----------------------------------------------------------------------------------
    def assert_input_compatibility(self, inputs) -> None:
        if not self.input_spec:
            return
        specs = to_list(self.input_spec)
        xs = to_list(inputs)
        if len(xs) != len(specs):
            raise ValueError("Layer " + self.name + " expects " + str(len(specs)) +
                             " inputs, but it received " + str(len(xs)) + " input tensors.")
        for i, (x, spec) in enumerate(zip(xs, specs)):
            if spec is not None:
                self._check_spec(i, x, spec)

    def _check_spec(self, i: int, x: Tensor, spec: InputSpec) -> None:
        shape = K.int_shape(x)
        where = "Input " + str(i) + " is incompatible with layer " + self.name + ": "
        full = ". Full shape received: " + shape_text(shape)
        if spec.ndim is not None and len(shape) != spec.ndim:
            raise ValueError(where + f"expected ndim={spec.ndim}, found ndim={len(shape)}" + full)
        if spec.min_ndim is not None and len(shape) < spec.min_ndim:
            raise ValueError(where + f"expected min_ndim={spec.min_ndim}, "
                             f"found ndim={len(shape)}" + full)
        if spec.max_ndim is not None and len(shape) > spec.max_ndim:
            raise ValueError(where + f"expected max_ndim={spec.max_ndim}, "
                             f"found ndim={len(shape)}" + full)
        if spec.dtype is not None and x.dtype != spec.dtype:
            raise ValueError(where + f"expected dtype={spec.dtype}, found dtype={x.dtype}")
        expected = list(spec.shape) if spec.shape is not None else [None] * len(shape)
        ok = all(e is None or d is None or e == d for e, d in zip(expected, shape))
        for axis, value in spec.axes.items():
            if value is None:
                continue
            expected[axis] = value
            if shape[axis] not in (value, None):
                ok = False
        if not ok:
            raise ValueError(where + "expected shape " + shape_text(expected) +
                             " but got " + shape_text(shape))

    def _check_declared_shape(self, inputs: List[Tensor]) -> None:
        """A layer declared with an input shape (``input_dim=64``) rejects other inputs."""
        declared = getattr(self, "batch_input_shape", None)
        if declared is None or len(inputs) != 1:
            return
        self._check_spec(0, inputs[0], InputSpec(shape=declared))

    def __call__(self, inputs, mask=None, **kwargs):
        input_list = to_list(inputs)
        for x in input_list:
            if not isinstance(x, Tensor):
                raise TypeError(f"Layer {self.name} was called with an input that isn't a "
                                f"symbolic tensor: {x!r}")
        if mask is None:
            masks = [getattr(x, "_keras_mask", None) for x in input_list]
            mask = unpack_singleton(masks) if any(m is not None for m in masks) else None
        with origin_scope(self.name):
            if not self.built:
                self._check_declared_shape(input_list)
                self.assert_input_compatibility(inputs)
                self.build(unpack_singleton([K.int_shape(x) for x in input_list]))
                self.built = True
                if self._initial_weights is not None:
                    self.set_weights(self._initial_weights)
                    self._initial_weights = None
            self.assert_input_compatibility(inputs)
            output = self._call_with_mask(inputs, mask, kwargs)
            output_mask = self.compute_mask(inputs, mask)
            outputs = [identity(o) if any(o is x for x in input_list) else o
                       for o in to_list(output)]
            for o in outputs:
                o._keras_shape = tuple(None if isinstance(d, str) else d for d in o.shape)
            if self.activity_regularizer is not None:
                for o in outputs:
                    self.add_loss(self.activity_regularizer(o), inputs=input_list)
        output_masks = to_list(output_mask) if isinstance(output_mask, list) else \
            [output_mask] * len(outputs)
        for o, m in zip(outputs, output_masks):
            o._keras_mask = m
            o._uses_learning_phase = getattr(o, "_uses_learning_phase", False) or any(
                getattr(x, "_uses_learning_phase", False) for x in input_list)
        if all(hasattr(x, "_keras_history") for x in input_list):
            self._add_inbound_node(input_list, outputs, to_list(mask) if isinstance(mask, list)
                                   else [mask] * len(input_list), output_masks)
        return outputs[0] if not isinstance(output, (list, tuple)) else outputs

    def _call_with_mask(self, inputs, mask, kwargs):
        cls = type(self)
        takes = _call_takes_mask.get(cls)
        if takes is None:
            params = inspect.signature(self.call).parameters
            takes = _call_takes_mask[cls] = "mask" in params or any(
                p.kind == p.VAR_KEYWORD for p in params.values())
        if takes and mask is not None:
            kwargs = dict(kwargs, mask=mask)
        return self.call(inputs, **kwargs)

    def _add_inbound_node(self, input_tensors, output_tensors, input_masks, output_masks):
        layers, node_indices, tensor_indices = [], [], []
        for x in input_tensors:
            layer, node_index, tensor_index = x._keras_history
            layers.append(layer)
            node_indices.append(node_index)
            tensor_indices.append(tensor_index)
        Node(self, layers, node_indices, tensor_indices, input_tensors, output_tensors,
             input_masks, output_masks)
        node_index = len(self.inbound_nodes) - 1
        for i, o in enumerate(output_tensors):
            o._keras_history = (self, node_index, i)

    # --- node accessors ----------------------------------------------------------------------------
    def _node_attr(self, node_index: int, attr: str, what: str):
        if not self.inbound_nodes:
            raise AttributeError("Layer " + self.name + " is not connected, no " + what +
                                 " to return.")
        if node_index >= len(self.inbound_nodes):
            raise ValueError("Asked to get " + what + " at node " + str(node_index) +
                             ", but the layer has only " + str(len(self.inbound_nodes)) +
                             " inbound nodes.")
        return unpack_singleton(getattr(self.inbound_nodes[node_index], attr))

    def _single(self, attr: str, what: str):
        if len(self.inbound_nodes) > 1:
            raise AttributeError("Layer " + self.name + " has multiple inbound nodes, hence the "
                                 'notion of "layer ' + what + '" is ill-defined. Use `get_' +
                                 what.replace(" ", "_") + "_at(node_index)` instead.")
        return self._node_attr(0, attr, what)

    def get_input_at(self, node_index: int):
        return self._node_attr(node_index, "input_tensors", "input")

    def get_output_at(self, node_index: int):
        return self._node_attr(node_index, "output_tensors", "output")

    def get_input_shape_at(self, node_index: int):
        return self._node_attr(node_index, "input_shapes", "input shape")

    def get_output_shape_at(self, node_index: int):
        return self._node_attr(node_index, "output_shapes", "output shape")

    @property
    def input(self):
        return self._single("input_tensors", "input")

    @property
    def output(self):
        return self._single("output_tensors", "output")

    @property
    def input_shape(self):
        shapes = {str(n.input_shapes) for n in self.inbound_nodes}
        if len(shapes) > 1:
            raise AttributeError('The layer "' + self.name + '" has multiple inbound nodes, with '
                                 'different input shapes. Hence the notion of "input shape" is '
                                 "ill-defined for the layer. Use `get_input_shape_at(node_index)`"
                                 " instead.")
        return self._node_attr(0, "input_shapes", "input shape")

    @property
    def output_shape(self):
        shapes = {str(n.output_shapes) for n in self.inbound_nodes}
        if len(shapes) > 1:
            raise AttributeError('The layer "' + self.name + '" has multiple inbound nodes, with '
                                 'different output shapes. Hence the notion of "output shape" is '
                                 "ill-defined for the layer. Use `get_output_shape_at(node_index)`"
                                 " instead.")
        return self._node_attr(0, "output_shapes", "output shape")

    @property
    def input_mask(self):
        return self._single("input_masks", "input mask")

    @property
    def output_mask(self):
        return self._single("output_masks", "output mask")

    def __repr__(self):
        return f"<{self.__class__.__name__} {self.name!r}>"


def _initial_value(initializer, shape, dtype, name):
    """Run a Keras 2 initializer object, a Keras 1 function ``f(shape, name)`` returning a
    variable, or a callable returning an array or a symbolic tensor."""
    init = initializers.get(initializer)
    if isinstance(init, initializers.Initializer):
        return init(shape, dtype)
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):
        params = {}
    if "dtype" in params:
        value = init(shape, dtype=dtype)
    elif "name" in params:
        value = init(shape, name=name)
    else:
        value = init(shape)
    if isinstance(value, Tensor):
        value = K.eval(value)
    return np.asarray(value, dtype=dtype)


class InputLayer(Layer):
    """The source of a model: owns the input placeholder."""

    def __init__(self, input_shape=None, batch_input_shape=None, input_dtype=None,
                 input_tensor=None, sparse: bool = False, name: Optional[str] = None,
                 dtype: Optional[str] = None, batch_size=None):
        if not name:
            name = "input_" + str(K.get_uid("input"))
        super().__init__(name=name, dtype=dtype or input_dtype)
        self.trainable = False
        self.built = True
        self.sparse = sparse
        if input_tensor is not None and batch_input_shape is None:
            batch_input_shape = K.int_shape(input_tensor)
        if batch_input_shape is None:
            if input_shape is None:
                raise ValueError("An Input layer should be passed either a `batch_input_shape` "
                                 "or an `input_shape`.")
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self.batch_input_shape = tuple(batch_input_shape)
        self._declared_dtype = self.dtype
        if input_tensor is None:
            input_tensor = K.placeholder(shape=self.batch_input_shape, dtype=self.dtype,
                                         sparse=sparse, name=self.name)
        input_tensor._uses_learning_phase = False
        input_tensor._keras_history = (self, 0, 0)
        input_tensor._keras_mask = None
        Node(self, [], [], [], [input_tensor], [input_tensor], [None], [None])

    def get_config(self) -> dict:
        return {"batch_input_shape": self.batch_input_shape, "dtype": self.dtype,
                "sparse": self.sparse, "name": self.name}


def Input(shape=None, batch_shape=None, name: Optional[str] = None, dtype: Optional[str] = None,
          sparse: bool = False, tensor=None) -> Tensor:
    """A Keras tensor for the functional API: ``Input(shape=(784,))`` is ``(None, 784)``."""
    if not batch_shape and tensor is None:
        if shape is None:
            raise ValueError("Please provide to Input either a `shape` or a `batch_shape` "
                             "argument. Note that `shape` does not include the batch dimension.")
        batch_shape = (None,) + tuple(shape)
    layer = InputLayer(batch_input_shape=batch_shape, name=name, dtype=dtype or K.floatx(),
                       sparse=sparse, input_tensor=tensor)
    return layer.inbound_nodes[0].output_tensors[0]


def get_source_inputs(tensor: Tensor, layer=None, node_index=None) -> List[Tensor]:
    """The Input tensors a Keras tensor was computed from."""
    if not hasattr(tensor, "_keras_history"):
        return [tensor]
    if layer is None or node_index is None:
        layer, node_index, _ = tensor._keras_history
    if not layer.inbound_nodes:
        return [tensor]
    node = layer.inbound_nodes[node_index]
    if not node.inbound_layers:
        return node.input_tensors
    out = []
    for i, inbound in enumerate(node.inbound_layers):
        for x in get_source_inputs(node.input_tensors[i], inbound, node.node_indices[i]):
            if not any(x is y for y in out):
                out.append(x)
    return out
