"""Loss functions ``loss(y_true, y_pred)`` -> per-sample loss (the last axis reduced)."""
from __future__ import annotations

from typing import Callable, Union

import numpy as np

from . import backend as K
from .utils.generic_utils import deserialize_object


def mean_squared_error(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    diff = K.abs((y_true - y_pred) / K.clip(K.abs(y_true), K.epsilon(), None))
    return 100.0 * K.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    first = K.log(K.clip(y_pred, K.epsilon(), None) + 1.0)
    second = K.log(K.clip(y_true, K.epsilon(), None) + 1.0)
    return K.mean(K.square(first - second), axis=-1)


def squared_hinge(y_true, y_pred):
    return K.mean(K.square(K.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def hinge(y_true, y_pred):
    return K.mean(K.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def categorical_hinge(y_true, y_pred):
    """Multiclass hinge (Crammer & Singer): the true class's score should beat every other
    class's by a margin of 1."""
    pos = K.sum(y_true * y_pred, axis=-1)
    neg = K.max((1.0 - y_true) * y_pred, axis=-1)
    return K.maximum(neg - pos + 1.0, 0.0)


def logcosh(y_true, y_pred):
    """``log(cosh(error))``: squared error for small errors, absolute error for large ones.
    Written as ``x + softplus(-2x) - log 2`` so large errors do not overflow cosh."""
    x = y_pred - y_true
    return K.mean(x + K.softplus(-2.0 * x) - float(np.log(2.0)), axis=-1)


def categorical_crossentropy(y_true, y_pred):
    return K.categorical_crossentropy(y_pred, y_true)


def sparse_categorical_crossentropy(y_true, y_pred):
    return K.sparse_categorical_crossentropy(y_pred, y_true)


def binary_crossentropy(y_true, y_pred):
    return K.mean(K.binary_crossentropy(y_pred, y_true), axis=-1)


def kullback_leibler_divergence(y_true, y_pred):
    y_true = K.clip(y_true, K.epsilon(), 1)
    y_pred = K.clip(y_pred, K.epsilon(), 1)
    return K.sum(y_true * K.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    return K.mean(y_pred - y_true * K.log(y_pred + K.epsilon()), axis=-1)


def cosine_proximity(y_true, y_pred):
    y_true = K.l2_normalize(y_true, axis=-1)
    y_pred = K.l2_normalize(y_pred, axis=-1)
    return -K.mean(y_true * y_pred, axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence
cosine = cosine_proximity

_ALL = {name: fn for name, fn in dict(globals()).items()
        if callable(fn) and getattr(fn, "__module__", None) == __name__ and not name.startswith("_")
        and name not in ("get", "serialize", "deserialize")}


def serialize(loss: Callable) -> str:
    return loss.__name__


def deserialize(name: str, custom_objects=None) -> Callable:
    return deserialize_object(name, _ALL, "loss function", custom_objects)


def get(identifier: Union[str, Callable]) -> Callable:
    """A name ('mse', 'categorical_crossentropy') or a callable."""
    if identifier is None:
        return None
    return deserialize(identifier)
