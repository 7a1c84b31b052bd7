"""Weight and activity penalties, added to the model's total loss (Keras 2 semantics:
``l1 * sum(|x|) + l2 * sum(x**2)``)."""
from __future__ import annotations

from . import backend as K
from .utils.generic_utils import deserialize_object, serialize_object


class Regularizer:
    def __call__(self, x):
        return 0.0

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = None
        if self.l1:
            penalty = K.sum(K.abs(x)) * self.l1
        if self.l2:
            term = K.sum(K.square(x)) * self.l2
            penalty = term if penalty is None else penalty + term
        return penalty if penalty is not None else K.constant(0.0)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


def l1(l: float = 0.01) -> L1L2:  # noqa: E741
    return L1L2(l1=l)


def l2(l: float = 0.01) -> L1L2:  # noqa: E741
    return L1L2(l2=l)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: F811
    return L1L2(l1=l1, l2=l2)


l1l2 = l1_l2
# Keras 1 activity regularizers: same penalty, applied to a layer's output
activity_l1, activity_l2, activity_l1l2 = l1, l2, l1_l2
WeightRegularizer = ActivityRegularizer = L1L2


def serialize(regularizer):
    return serialize_object(regularizer)


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, str):  # a name is the default-strength penalty ('l2' = l2(0.01))
        return deserialize_object(identifier, {"l1": l1, "l2": l2, "l1_l2": l1_l2, "l1l2": l1_l2},
                                  "regularizer")()
    return deserialize_object(identifier, {"L1L2": L1L2, "WeightRegularizer": L1L2,
                                           "ActivityRegularizer": L1L2}, "regularizer")
