"""MNIST from Keras's ``mnist.npz`` (x_train, y_train, x_test, y_test), found locally."""
from __future__ import annotations

import numpy as np

from ._files import find_file


def load_data(path: str = "mnist.npz"):
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (n, 28, 28), uint8 labels."""
    with np.load(find_file(path, "MNIST"), allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
