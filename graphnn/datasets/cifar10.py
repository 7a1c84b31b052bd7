"""CIFAR-10 from Keras's extracted ``cifar-10-batches-py`` directory, found locally."""
from __future__ import annotations

import os
import pickle

import numpy as np

from .. import backend as K
from ._files import find_file


def load_batch(fpath: str, label_key: str = "labels"):
    """One pickled batch: ``(data (n, 3, 32, 32) uint8, labels)``.  These are plain pickles of
    dicts of arrays, as the CIFAR authors distribute them; only load files from that source."""
    with open(fpath, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    d = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in d.items()}
    data = np.asarray(d["data"]).reshape(-1, 3, 32, 32)
    return data, d[label_key]


def load_data(path: str = "cifar-10-batches-py"):
    """``((x_train, y_train), (x_test, y_test))``; images channels_last unless
    ``K.image_data_format()`` is channels_first; labels (n, 1) uint8."""
    root = find_file(path, "CIFAR-10")
    xs, ys = [], []
    for i in range(1, 6):
        data, labels = load_batch(os.path.join(root, "data_batch_" + str(i)))
        xs.append(data)
        ys.append(labels)
    x_train = np.concatenate(xs).astype("uint8")
    y_train = np.reshape(np.concatenate(ys), (-1, 1)).astype("uint8")
    x_test, y_test = load_batch(os.path.join(root, "test_batch"))
    x_test = x_test.astype("uint8")
    y_test = np.reshape(y_test, (-1, 1)).astype("uint8")
    if K.image_data_format() == "channels_last":
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)
