"""numpy helpers for preparing data."""
from __future__ import annotations

from typing import Optional

import numpy as np


def to_categorical(y, num_classes: Optional[int] = None, nb_classes: Optional[int] = None) -> np.ndarray:
    """Class vector (ints 0..C-1) -> one-hot matrix; Keras 1 spelled the count ``nb_classes``."""
    y = np.asarray(y, dtype="int64").ravel()
    n = num_classes or nb_classes or int(np.max(y)) + 1
    out = np.zeros((len(y), n), dtype="float32")
    out[np.arange(len(y)), y] = 1.0
    return out


def categorical_probas_to_classes(p) -> np.ndarray:
    return np.argmax(p, axis=1)
