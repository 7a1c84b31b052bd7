"""Activation functions by name (Keras ``activations``)."""
from __future__ import annotations

from typing import Callable, Union

from . import backend as K
from .utils.generic_utils import deserialize_object


def softmax(x):
    return K.softmax(x)


def elu(x, alpha: float = 1.0):
    return K.elu(x, alpha)


def softplus(x):
    return K.softplus(x)


def softsign(x):
    return K.softsign(x)


def relu(x, alpha: float = 0.0, max_value=None):
    return K.relu(x, alpha=alpha, max_value=max_value)


def tanh(x):
    return K.tanh(x)


def sigmoid(x):
    return K.sigmoid(x)


def hard_sigmoid(x):
    return K.hard_sigmoid(x)


def linear(x):
    return x


_ALL = {f.__name__: f for f in (softmax, elu, softplus, softsign, relu, tanh, sigmoid,
                                hard_sigmoid, linear)}


def serialize(activation: Callable) -> str:
    return activation.__name__


def get(identifier: Union[str, Callable, None]) -> Callable:
    """A name ('relu'), a callable, or None (linear)."""
    if identifier is None:
        return linear
    return deserialize_object(identifier, _ALL, "activation function")


def deserialize(name: str, custom_objects=None) -> Callable:
    return deserialize_object(name, _ALL, "activation function", custom_objects)
