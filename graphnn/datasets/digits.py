"""scikit-learn's bundled 8x8 handwritten digits (1797 images, works offline), shaped like the
MNIST loader: ``((x_train, y_train), (x_test, y_test))`` with 64 features scaled to [0, 1]."""
from __future__ import annotations

import importlib.util
import os
from typing import Optional, Tuple

import numpy as np


def _bundled_file() -> Optional[str]:
    """Path of scikit-learn's ``digits.csv.gz`` found without importing scikit-learn (whose
    import takes seconds), or None."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.origin:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    return path if os.path.exists(path) else None


def _load_arrays() -> Tuple[np.ndarray, np.ndarray]:
    path = _bundled_file()
    if path is not None:
        data = np.loadtxt(path, delimiter=",")
        return data[:, :-1], data[:, -1]
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("graphnn.datasets.digits needs scikit-learn (it ships the data): "
                          "pip install scikit-learn, or pip install graphnn[examples]") from e
    digits = load_digits()
    return digits.data, digits.target


def load_data(test_split: float = 0.2, seed: int = 113) -> Tuple[Tuple[np.ndarray, np.ndarray],
                                                                  Tuple[np.ndarray, np.ndarray]]:
    """Shuffle with ``seed`` and hold out the last ``test_split`` fraction.  ``x`` is float32
    (n, 64) in [0, 1]; ``y`` is int64 class labels 0-9."""
    data, target = _load_arrays()
    x = (data / 16.0).astype("float32")
    y = target.astype("int64")
    order = np.random.RandomState(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(len(x) * (1 - test_split))
    return (x[:split], y[:split]), (x[split:], y[split:])
