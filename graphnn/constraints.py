"""Constraints on weights, applied to each new value inside the compiled optimizer update."""
from __future__ import annotations

from . import backend as K
from .utils.generic_utils import deserialize_object, serialize_object


class Constraint:
    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    """Rescale each slice along ``axis`` whose L2 norm exceeds ``max_value``."""

    def __init__(self, max_value: float = 2, axis: int = 0, m=None):
        self.max_value = m if m is not None else max_value
        self.axis = axis

    def __call__(self, w):
        norms = K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True))
        desired = K.clip(norms, 0, self.max_value)
        return w * (desired / (K.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return w * K.cast(K.greater_equal(w, 0.0), K.floatx())


class UnitNorm(Constraint):
    def __init__(self, axis: int = 0):
        self.axis = axis

    def __call__(self, w):
        return w / (K.epsilon() + K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True)))

    def get_config(self):
        return {"axis": self.axis}


max_norm = maxnorm = MaxNorm
non_neg = nonneg = NonNeg
unit_norm = unitnorm = UnitNorm

_ALL = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "max_norm": MaxNorm,
        "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg, "unit_norm": UnitNorm,
        "unitnorm": UnitNorm}


def serialize(constraint):
    return serialize_object(constraint)


def get(identifier):
    if identifier is None:
        return None
    return deserialize_object(identifier, _ALL, "constraint")
