"""Metrics ``metric(y_true, y_pred)`` -> per-sample values (averaged over the batch in training)."""
from __future__ import annotations

from typing import Callable, Union

from . import backend as K
from .losses import (binary_crossentropy, categorical_crossentropy, cosine_proximity, hinge,  # noqa: F401
                     kullback_leibler_divergence, mean_absolute_error,
                     mean_absolute_percentage_error, mean_squared_error,
                     mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
                     squared_hinge)
from .utils.generic_utils import deserialize_object


def binary_accuracy(y_true, y_pred):
    return K.mean(K.equal(y_true, K.round(y_pred)), axis=-1)


def categorical_accuracy(y_true, y_pred):
    return K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), K.floatx())


def sparse_categorical_accuracy(y_true, y_pred):
    """``y_true`` holds class indices (a trailing axis of size 1 is allowed)."""
    if K.ndim(y_true) == K.ndim(y_pred):
        y_true = K.max(y_true, axis=-1)
    pred = K.argmax(y_pred, axis=-1)
    return K.cast(K.equal(K.cast(y_true, "int32"), pred), K.floatx())


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """Whether the true class scores among the ``k`` largest predictions."""
    true_score = K.sum(y_true * y_pred, axis=-1, keepdims=True)
    higher = K.sum(K.cast(K.greater(y_pred, true_score), K.floatx()), axis=-1)
    return K.cast(K.less(higher, float(k)), K.floatx())


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
cosine = cosine_proximity

_ALL = {name: fn for name, fn in dict(globals()).items()
        if callable(fn) and not name.startswith("_") and name not in (
            "get", "serialize", "deserialize", "deserialize_object", "K", "Callable", "Union")}


def serialize(metric: Callable) -> str:
    return metric.__name__


def deserialize(name: str, custom_objects=None) -> Callable:
    return deserialize_object(name, _ALL, "metric function", custom_objects)


def get(identifier: Union[str, Callable]) -> Callable:
    """'acc'/'accuracy' are resolved by the model from its loss, not here."""
    return deserialize(identifier)
