"""Merge layers: Keras 1's ``Merge`` layer and ``merge`` function (modes sum, mul, concat, ave,
cos, dot, max or a callable) and Keras 2's ``Add``, ``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum``, ``Concatenate``, ``Dot`` with their functional forms (``add``,
``concatenate``...).  They take a list of tensors and check every shape before building, so a
mismatch is reported with the layer, the input index and the full shapes."""
from __future__ import annotations

import base64
import marshal
import types
from typing import Callable, List, Optional, Sequence

from .. import backend as K
from ..engine.topology import Layer
from ..utils.generic_utils import to_list


def _shapes_text(shapes) -> str:
    return "[" + ", ".join(str(tuple(s)) for s in shapes) + "]"


def _mismatch(layer: Layer, shapes, i: int) -> str:
    return (" (layer " + layer.name + ": input " + str(i) + " has shape " + str(tuple(shapes[i])) +
            ", input 0 has shape " + str(tuple(shapes[0])) + "; all input shapes: " +
            _shapes_text(shapes) + ")")


def _all_masks(masks):
    """The elementwise AND of the masks that are given (None when none is)."""
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    out = K.cast(masks[0], "bool")
    for m in masks[1:]:
        out = K.logical_and(out, K.cast(m, "bool"))
    return out


def _dot_axes(axes, shapes) -> List[int]:
    """Non-negative contraction axes for two inputs (an int means the same axis in both)."""
    pair = [axes, axes] if isinstance(axes, int) else list(axes)
    return [a % len(s) if a < 0 else a for a, s in zip(pair, shapes)]


def _dot_output_shape(shape1, shape2, axes) -> tuple:
    """``batch_dot``'s shape: both inputs minus their contracted axes, the batch axis once; a
    lone batch axis gets a unit feature axis."""
    s1, s2 = list(shape1), list(shape2)
    s1.pop(axes[0])
    s2.pop(axes[1])
    s2.pop(0)
    out = s1 + s2
    if len(out) == 1:
        out.append(1)
    return tuple(out)


def _batch_dot(x, y, axes: List[int]):
    return K.batch_dot(x, y, axes)


# --- Keras 2 -------------------------------------------------------------------------------------
class _Merge(Layer):
    """Base of the Keras 2 merge layers: a list of at least two inputs; elementwise layers
    broadcast axes of size 1 (or unknown) against each other, as Keras 2 does."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def __call__(self, inputs, mask=None, **kwargs):
        if isinstance(inputs, (list, tuple)) and len(inputs) < 2:
            raise ValueError("A merge layer should be called on a list of at least 2 inputs. "
                             "Got " + str(len(inputs)) + " inputs (layer " + self.name + ").")
        return super().__call__(list(inputs) if isinstance(inputs, tuple) else inputs, mask,
                                **kwargs)

    def _check_list(self, input_shape) -> List[tuple]:
        if not isinstance(input_shape, list):
            raise ValueError("A merge layer should be called on a list of inputs. Layer " +
                             self.name + " got one input of shape " + str(tuple(input_shape)))
        if len(input_shape) < 2:
            raise ValueError("A merge layer should be called on a list of at least 2 inputs. "
                             "Got " + str(len(input_shape)) + " inputs (layer " + self.name +
                             ").")
        return [tuple(s) for s in input_shape]

    def _broadcast_shape(self, shapes) -> tuple:
        out = list(shapes[0])
        for i, shape in enumerate(shapes[1:], 1):
            if len(shape) != len(out):
                raise ValueError("Operands could not be broadcast together with shapes " +
                                 str(tuple(shapes[0])) + " " + str(tuple(shape)) +
                                 _mismatch(self, shapes, i))
            for j, (a, b) in enumerate(zip(out, shape)):
                if a == b or b == 1:
                    continue
                if a == 1 or a is None:
                    out[j] = b if b is not None or j == 0 else a
                elif b is not None:
                    raise ValueError("Operands could not be broadcast together with shapes " +
                                     str(tuple(shapes[0])) + " " + str(tuple(shape)) +
                                     _mismatch(self, shapes, i))
        return tuple(out)

    def build(self, input_shape) -> None:
        self._broadcast_shape(self._check_list(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        return self._broadcast_shape(self._check_list(input_shape))

    def call(self, inputs, mask=None):
        return self._merge_function(list(inputs))

    def _merge_function(self, inputs):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, list) or len(mask) != len(to_list(inputs)):
            raise ValueError("Layer " + self.name + ": `mask` should be a list of one mask per "
                             "input, got " + str(mask))
        return _all_masks(mask)


class Add(_Merge):
    """Sum of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """First input minus the second (exactly two inputs)."""

    def build(self, input_shape) -> None:
        super().build(input_shape)
        if len(input_shape) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs (layer " +
                             self.name + " got " + str(len(input_shape)) + ": " +
                             _shapes_text(input_shape) + ")")

    def _merge_function(self, inputs):
        if len(inputs) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs")
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """Elementwise mean of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out / float(len(inputs))


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = K.maximum(out, x)
        return out


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = K.minimum(out, x)
        return out


class Concatenate(_Merge):
    """Concatenation along ``axis``; every other axis must match."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _check_concat(self, input_shape) -> List[tuple]:
        shapes = self._check_list(input_shape)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError("Layer " + self.name + ": concatenation axis " + str(self.axis) +
                             " is out of range for inputs of rank " + str(rank) + " " +
                             _shapes_text(shapes))
        axis = self.axis % rank
        ref = shapes[0][:axis] + shapes[0][axis + 1:]
        for i, shape in enumerate(shapes[1:], 1):
            rest = shape[:axis] + shape[axis + 1:] if len(shape) == rank else None
            if rest is None or any(a is not None and b is not None and a != b
                                   for a, b in zip(ref, rest)):
                raise ValueError("`Concatenate` layer requires inputs with matching shapes except "
                                 "for the concat axis. Got inputs shapes: " +
                                 _shapes_text(shapes) + _mismatch(self, shapes, i))
        return shapes

    def build(self, input_shape) -> None:
        self._check_concat(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = self._check_concat(input_shape)
        axis = self.axis % len(shapes[0])
        out = list(shapes[0])
        for shape in shapes[1:]:
            out[axis] = None if out[axis] is None or shape[axis] is None else \
                out[axis] + shape[axis]
        for j in range(len(out)):  # a dim unknown in one input may be known in another
            if j != axis and out[j] is None:
                out[j] = next((s[j] for s in shapes if s[j] is not None), None)
        return tuple(out)

    def _merge_function(self, inputs):
        return K.concatenate(inputs, axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        return _concat_masks(inputs, mask, self.axis)

    def get_config(self) -> dict:
        return dict(super().get_config(), axis=self.axis)


def _concat_masks(inputs, mask, axis: int):
    """Masks of concatenated inputs: ones for unmasked inputs, joined along ``axis`` when it is a
    mask axis (time), else ANDed."""
    if mask is None or all(m is None for m in to_list(mask)):
        return None
    inputs = to_list(inputs)
    rank = K.ndim(inputs[0])
    if axis % rank == rank - 1:  # features joined: a step is kept where every input keeps it
        return _all_masks(to_list(mask))
    masks = []
    for x, m in zip(inputs, to_list(mask)):
        if m is None:
            m = K.ones_like(K.sum(x, axis=-1))
        masks.append(K.cast(m, K.floatx()))
    return K.greater(K.concatenate(masks, axis=axis % rank), 0.5)


class Dot(_Merge):
    """``batch_dot`` of two inputs over ``axes`` (an int or one axis per input); with
    ``normalize`` the inputs are L2-normalized along those axes first (cosine proximity)."""

    def __init__(self, axes, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)) or len(axes) != 2 or \
                    not all(isinstance(a, int) for a in axes):
                raise ValueError("Invalid format for `axes` - should contain two elements. "
                                 "Got: " + str(axes))
            axes = list(axes)
        self.axes = axes
        self.normalize = bool(normalize)
        self.supports_masking = True

    def _check_dot(self, input_shape) -> List[int]:
        shapes = self._check_list(input_shape)
        if len(shapes) != 2:
            raise ValueError("A `Dot` layer should be called on a list of 2 inputs (layer " +
                             self.name + " got " + str(len(shapes)) + ": " + _shapes_text(shapes) +
                             ")")
        axes = _dot_axes(self.axes, shapes)
        for i, (a, s) in enumerate(zip(axes, shapes)):
            if not 0 < a < len(s):
                raise ValueError("Layer " + self.name + ": dot axis " + str(a) + " of input " +
                                 str(i) + " is out of range (or the batch axis) for shape " +
                                 str(s))
        d1, d2 = shapes[0][axes[0]], shapes[1][axes[1]]
        if d1 is not None and d2 is not None and d1 != d2:
            raise ValueError("Dimension incompatibility " + str(d1) + " != " + str(d2) +
                             ". Layer shapes: " + str(shapes[0]) + ", " + str(shapes[1]) +
                             " (layer " + self.name + ", axes " + str(axes) + ")")
        return axes

    def build(self, input_shape) -> None:
        self._check_dot(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        axes = self._check_dot(input_shape)
        return _dot_output_shape(input_shape[0], input_shape[1], axes)

    def call(self, inputs, mask=None):
        x1, x2 = inputs
        axes = _dot_axes(self.axes, [K.int_shape(x1), K.int_shape(x2)])
        if self.normalize:
            x1 = K.l2_normalize(x1, axis=axes[0])
            x2 = K.l2_normalize(x2, axis=axes[1])
        return _batch_dot(x1, x2, axes)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        return dict(super().get_config(), axes=self.axes, normalize=self.normalize)


def add(inputs, **kwargs):
    """Functional form of ``Add``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of ``Subtract``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of ``Multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of ``Average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of ``Maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of ``Minimum``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """Functional form of ``Concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes, normalize: bool = False, **kwargs):
    """Functional form of ``Dot``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


# --- Keras 1 -------------------------------------------------------------------------------------
def func_dump(func: Callable) -> tuple:
    """A Python function as JSON-friendly data (base64 marshalled code, defaults, closure), so a
    ``Merge`` with a lambda mode survives ``to_json``.  A loaded function dumps its original data
    (marshal output is not byte-stable across a load), and no source path is kept."""
    if getattr(func, "_func_dump", None) is not None:
        return func._func_dump
    code_obj = func.__code__.replace(co_filename="<func_dump>")
    code = base64.b64encode(marshal.dumps(code_obj)).decode("ascii")
    closure = tuple(c.cell_contents for c in func.__closure__) if func.__closure__ else None
    return code, func.__defaults__, closure


def func_load(data, globs: Optional[dict] = None) -> Callable:
    """Inverse of :func:`func_dump`; the function sees ``K`` (the backend) as a global."""
    code, defaults, closure = data if isinstance(data, (list, tuple)) else (data, None, None)
    code_obj = marshal.loads(base64.b64decode(code.encode("ascii")))
    cells = tuple(types.CellType(v) for v in closure) if closure else None
    globs = dict(globs or {})
    globs.setdefault("K", K)
    func = types.FunctionType(code_obj, globs, code_obj.co_name,
                              tuple(defaults) if defaults is not None else None, cells)
    func._func_dump = (code, defaults, closure)
    return func


_KERAS1_MODES = ("sum", "mul", "concat", "ave", "cos", "dot", "max")


def _dump_callable(value):
    """``(value, type)`` as Keras 1 writes them: raw values, or functions as 'lambda' data."""
    if callable(value) and not isinstance(value, type):
        return list(func_dump(value)), "lambda"
    return value, "raw"


def _load_callable(value, kind: Optional[str], custom_objects=None):
    if kind == "lambda":
        return func_load(value, custom_objects)
    if kind == "function":
        objects = dict(custom_objects or {})
        if value not in objects:
            raise ValueError("Unknown function " + repr(value) + " (pass it in custom_objects)")
        return objects[value]
    if isinstance(value, list) and kind == "raw":
        return tuple(value)
    return value


class Merge(Layer):
    """Keras 1 merge of several layers' outputs (``Merge([left, right], mode='concat')`` as the
    first layer of a Sequential) or tensors (``Merge(mode='sum')([a, b])``).

    ``mode``: 'sum', 'mul', 'concat' (along ``concat_axis``), 'ave', 'cos', 'dot' (over
    ``dot_axes``), 'max', or a callable on the list of tensors (with ``output_shape``, a tuple
    without the batch axis or a function of the input shapes; inferred when omitted).
    """

    def __init__(self, layers=None, mode="sum", concat_axis: int = -1, dot_axes=-1,
                 output_shape=None, output_mask=None, arguments=None, node_indices=None,
                 tensor_indices=None, name: Optional[str] = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not callable(mode) and mode not in _KERAS1_MODES:
            raise ValueError("Invalid merge mode: " + str(mode))
        self.mode = mode
        self.concat_axis = int(concat_axis)
        self.dot_axes = list(dot_axes) if isinstance(dot_axes, (list, tuple)) else dot_axes
        self._output_shape = tuple(output_shape) if isinstance(output_shape, list) else \
            output_shape
        self._output_mask = output_mask
        self.arguments = dict(arguments or {})
        self.supports_masking = True
        self.layers = list(layers) if layers else None
        if layers:
            if not isinstance(layers, (list, tuple)) or len(layers) < 2:
                raise TypeError("A Merge should only be applied to a list of layers with at least "
                                "2 elements. Found: " + str(layers))
            node_indices = list(node_indices or [0] * len(layers))
            tensor_indices = list(tensor_indices or [0] * len(layers))
            tensors = []
            for layer, ni, ti in zip(layers, node_indices, tensor_indices):
                outputs = to_list(layer.get_output_at(ni))
                tensors.append(outputs[ti])
            self(tensors)

    # --- shapes ----------------------------------------------------------------------------------
    def _check(self, input_shape) -> List[tuple]:
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise TypeError("A Merge should only be applied to a list of layers with at least 2 "
                            "elements. Layer " + self.name + " got: " + str(input_shape))
        shapes = [tuple(s) for s in input_shape]
        mode = self.mode
        if mode in ("sum", "mul", "ave", "max"):
            for i, s in enumerate(shapes[1:], 1):
                if len(s) != len(shapes[0]) or any(
                        a is not None and b is not None and a != b for a, b in zip(s, shapes[0])):
                    raise ValueError("Only layers of same output shape can be merged using " +
                                     mode + " mode. Layer shapes: " + _shapes_text(shapes) +
                                     _mismatch(self, shapes, i))
        elif mode in ("dot", "cos"):
            if len(shapes) != 2:
                raise ValueError(mode + " merge takes exactly 2 layers (layer " + self.name +
                                 " got " + _shapes_text(shapes) + ")")
            axes = _dot_axes(self.dot_axes, shapes)
            d1, d2 = shapes[0][axes[0]], shapes[1][axes[1]]
            if d1 is not None and d2 is not None and d1 != d2:
                raise ValueError("Dimension incompatibility using dot mode: " + str(d1) + " != " +
                                 str(d2) + ". Layer shapes: " + str(shapes[0]) + ", " +
                                 str(shapes[1]) + " (layer " + self.name + ")")
        elif mode == "concat":
            rank = len(shapes[0])
            axis = self.concat_axis % rank
            ref = shapes[0][:axis] + shapes[0][axis + 1:]
            for i, s in enumerate(shapes[1:], 1):
                if len(s) != rank or any(a is not None and b is not None and a != b for a, b in
                                         zip(s[:axis] + s[axis + 1:], ref)):
                    raise ValueError('"concat" mode can only merge layers with matching output '
                                     "shapes except for the concat axis. Layer shapes: " +
                                     _shapes_text(shapes) + _mismatch(self, shapes, i))
        return shapes

    def build(self, input_shape) -> None:
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = self._check(input_shape)
        mode = self.mode
        if mode in ("sum", "mul", "ave", "max"):
            return shapes[0]
        if mode == "concat":
            axis = self.concat_axis % len(shapes[0])
            out = list(shapes[0])
            for s in shapes[1:]:
                out[axis] = None if out[axis] is None or s[axis] is None else out[axis] + s[axis]
            return tuple(out)
        if mode in ("dot", "cos"):
            return _dot_output_shape(shapes[0], shapes[1], _dot_axes(self.dot_axes, shapes))
        # callable mode
        if self._output_shape is None:
            xs = [K.placeholder(shape=s) for s in shapes]
            return K.int_shape(self.mode(xs, **self.arguments))
        if callable(self._output_shape):
            return tuple(self._output_shape(shapes))
        return (shapes[0][0],) + tuple(self._output_shape)

    get_output_shape_for = compute_output_shape

    # --- math ------------------------------------------------------------------------------------
    def call(self, inputs, mask=None):
        xs = list(inputs)
        mode = self.mode
        if callable(mode):
            return mode(xs, **self.arguments)
        if mode in ("sum", "ave"):
            out = xs[0]
            for x in xs[1:]:
                out = out + x
            return out / float(len(xs)) if mode == "ave" else out
        if mode == "mul":
            out = xs[0]
            for x in xs[1:]:
                out = out * x
            return out
        if mode == "max":
            out = xs[0]
            for x in xs[1:]:
                out = K.maximum(out, x)
            return out
        if mode == "concat":
            return K.concatenate(xs, axis=self.concat_axis)
        axes = _dot_axes(self.dot_axes, [K.int_shape(x) for x in xs])
        if mode == "dot":
            return _batch_dot(xs[0], xs[1], axes)
        # cos: the dot product over the product of the norms (kept above epsilon)
        if K.ndim(xs[0]) == 2 and K.ndim(xs[1]) == 2:
            norms = K.sqrt(_batch_dot(xs[0], xs[0], axes) * _batch_dot(xs[1], xs[1], axes))
            return _batch_dot(xs[0], xs[1], axes) / K.maximum(norms, K.epsilon())
        return _batch_dot(K.l2_normalize(xs[0], axis=axes[0]),
                          K.l2_normalize(xs[1], axis=axes[1]), axes)

    def compute_mask(self, inputs, mask=None):
        if self._output_mask is not None:
            return self._output_mask(inputs, mask) if callable(self._output_mask) else \
                self._output_mask
        if mask is None or all(m is None for m in to_list(mask)):
            return None
        if self.mode in ("sum", "mul", "ave", "max"):
            return _all_masks(to_list(mask))
        if self.mode == "concat":
            return _concat_masks(inputs, mask, self.concat_axis)
        return None

    # --- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        mode, mode_type = _dump_callable(self.mode)
        output_shape, output_shape_type = _dump_callable(self._output_shape)
        output_mask, output_mask_type = _dump_callable(self._output_mask)
        config = {"mode": mode, "mode_type": mode_type, "concat_axis": self.concat_axis,
                  "dot_axes": self.dot_axes, "output_shape": output_shape,
                  "output_shape_type": output_shape_type, "output_mask": output_mask,
                  "output_mask_type": output_mask_type, "arguments": self.arguments}
        return dict(super().get_config(), **config)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Merge":
        """Keras 1 configs; a ``layers`` entry (a Sequential's first Merge) is rebuilt too."""
        config = dict(config)
        for key in ("mode", "output_shape", "output_mask"):
            config[key] = _load_callable(config.get(key), config.pop(key + "_type", "raw"),
                                         custom_objects)
        layers = config.pop("layers", None)
        if layers:
            from . import deserialize
            config["layers"] = [deserialize(c, custom_objects) if isinstance(c, dict) else c
                                for c in layers]
        return cls(**config)

    _deserializes_layers = True


def merge(inputs, mode="sum", concat_axis: int = -1, dot_axes=-1, output_shape=None,
          output_mask=None, arguments=None, name: Optional[str] = None):
    """Keras 1 functional merge: of Keras tensors (the merged tensor) or of layers (the output
    tensor of a ``Merge`` connected to them)."""
    kwargs = dict(mode=mode, concat_axis=concat_axis, dot_axes=dot_axes,
                  output_shape=output_shape, output_mask=output_mask, arguments=arguments,
                  name=name)
    inputs = list(inputs)
    if all(hasattr(x, "_keras_history") for x in inputs):
        return Merge(**kwargs)(inputs)
    layer = Merge(layers=inputs, **kwargs)
    return layer.inbound_nodes[0].output_tensors[0]


__all__: Sequence[str] = ("Merge", "merge", "Add", "Subtract", "Multiply", "Average", "Maximum",
                          "Minimum", "Concatenate", "Dot", "add", "subtract", "multiply",
                          "average", "maximum", "minimum", "concatenate", "dot")
