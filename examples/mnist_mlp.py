"""Keras's mnist_mlp example on the 8x8 digits bundled with scikit-learn.

A simple deep multilayer perceptron: Dense(512)-Dropout-Dense(512)-Dropout-Dense(10, softmax),
RMSprop, 20 epochs.  Reaches about 0.97-0.98 test accuracy in a few seconds.

Run: ``python examples/mnist_mlp.py`` (``GRAPHNN_DEVICE=interpreter`` uses the numpy reference).
"""
from __future__ import print_function

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphnn.datasets import digits  # noqa: E402
from graphnn.layers import Dense, Dropout  # noqa: E402
from graphnn.models import Sequential  # noqa: E402
from graphnn.optimizers import RMSprop  # noqa: E402
from graphnn.utils import np_utils  # noqa: E402


def main(epochs: int = 20, batch_size: int = 128, verbose: int = 1, validate: bool = True) -> float:
    np.random.seed(1337)  # for reproducibility
    nb_classes = 10

    (X_train, y_train), (X_test, y_test) = digits.load_data()
    print(X_train.shape[0], "train samples")
    print(X_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    Y_train = np_utils.to_categorical(y_train, nb_classes)
    Y_test = np_utils.to_categorical(y_test, nb_classes)

    model = Sequential()
    model.add(Dense(512, activation="relu", input_shape=(64,)))
    model.add(Dropout(0.2))
    model.add(Dense(512, activation="relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10, activation="softmax"))
    model.summary()

    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])
    model.fit(X_train, Y_train, batch_size=batch_size, epochs=epochs, verbose=verbose,
              validation_data=(X_test, Y_test) if validate else None)
    score = model.evaluate(X_test, Y_test, verbose=0)
    print("test loss: %.4f" % score[0])
    print("test accuracy: %.3f" % score[1])
    return float(score[1])


if __name__ == "__main__":
    main()
