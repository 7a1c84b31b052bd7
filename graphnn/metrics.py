"""Metrics ``metric(y_true, y_pred)`` -> per-sample values (averaged over the batch in training)."""
from __future__ import annotations

from typing import Callable, Union

from . import backend as K
from .losses import (binary_crossentropy, categorical_crossentropy, cosine_proximity, hinge,  # noqa: F401
                     categorical_hinge, kullback_leibler_divergence, logcosh, mean_absolute_error,
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


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """``top_k_categorical_accuracy`` with class indices as targets."""
    if K.ndim(y_true) == K.ndim(y_pred):
        y_true = K.max(y_true, axis=-1)
    onehot = K.one_hot(K.cast(y_true, "int32"), int(y_pred.shape[-1]))
    return top_k_categorical_accuracy(K.cast(onehot, y_pred.dtype), y_pred, k)


# --- Keras 1 batch-wise metrics (one value per batch, from rounded predictions) ----------------
def _positives(y):
    return K.round(K.clip(y, 0.0, 1.0))


def precision(y_true, y_pred):
    """Of the predicted positives, the fraction that are positive (Keras 1; per batch)."""
    true_positives = K.sum(_positives(y_true * y_pred))
    return true_positives / (K.sum(_positives(y_pred)) + K.epsilon())


def recall(y_true, y_pred):
    """Of the positives, the fraction predicted positive (Keras 1; per batch)."""
    true_positives = K.sum(_positives(y_true * y_pred))
    return true_positives / (K.sum(_positives(y_true)) + K.epsilon())


def fbeta_score(y_true, y_pred, beta: float = 1):
    """Weighted harmonic mean of precision and recall (``beta > 1`` favours recall); 0 when the
    batch has no positives, like scikit-learn (Keras 1; per batch)."""
    if beta < 0:
        raise ValueError("The lowest choosable beta is zero (only precision).")
    p = precision(y_true, y_pred)
    r = recall(y_true, y_pred)
    bb = float(beta) ** 2
    score = (1.0 + bb) * (p * r) / (bb * p + r + K.epsilon())
    return K.switch(K.greater(K.sum(_positives(y_true)), 0.0), score, K.zeros_like(score))


def fmeasure(y_true, y_pred):
    """F1 score (Keras 1; per batch)."""
    return fbeta_score(y_true, y_pred, beta=1)


def matthews_correlation(y_true, y_pred):
    """Correlation between predicted and true binary labels, in [-1, 1] (Keras 1; per batch)."""
    y_pred_pos = _positives(y_pred)
    y_pred_neg = 1.0 - y_pred_pos
    y_pos = _positives(y_true)
    y_neg = 1.0 - y_pos
    tp = K.sum(y_pos * y_pred_pos)
    tn = K.sum(y_neg * y_pred_neg)
    fp = K.sum(y_neg * y_pred_pos)
    fn = K.sum(y_pos * y_pred_neg)
    numerator = tp * tn - fp * fn
    denominator = K.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return numerator / (denominator + K.epsilon())


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
