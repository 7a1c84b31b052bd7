"""Keras's mnist_cnn example on the 8x8 digits bundled with scikit-learn.

Conv2D(32, 3x3, relu, same) - Conv2D(32, 3x3, relu) - MaxPooling2D(2) - Dropout - Flatten -
Dense(128, relu) - Dropout - Dense(10, softmax), Adam.  The images are 8x8 instead of MNIST's
28x28, so the network is smaller; it reaches about 0.97-0.99 test accuracy in seconds.

Run: ``python examples/mnist_cnn.py`` (``GRAPHNN_DEVICE=interpreter`` uses the numpy reference).
"""
from __future__ import print_function

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphnn.datasets import digits  # noqa: E402
from graphnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from graphnn.models import Sequential  # noqa: E402
from graphnn.optimizers import Adam  # noqa: E402
from graphnn.utils import np_utils  # noqa: E402


def main(epochs: int = 15, batch_size: int = 64, verbose: int = 1, validate: bool = True) -> float:
    np.random.seed(1337)  # for reproducibility
    nb_classes = 10
    img_rows, img_cols = 8, 8

    (X_train, y_train), (X_test, y_test) = digits.load_data()
    # channels last: (samples, rows, cols, 1)
    X_train = X_train.reshape(X_train.shape[0], img_rows, img_cols, 1)
    X_test = X_test.reshape(X_test.shape[0], img_rows, img_cols, 1)
    print("X_train shape:", X_train.shape)
    print(X_train.shape[0], "train samples")
    print(X_test.shape[0], "test samples")

    Y_train = np_utils.to_categorical(y_train, nb_classes)
    Y_test = np_utils.to_categorical(y_test, nb_classes)

    model = Sequential()
    model.add(Conv2D(32, (3, 3), padding="same", activation="relu",
                     input_shape=(img_rows, img_cols, 1)))
    model.add(Conv2D(32, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(nb_classes, activation="softmax"))
    model.summary()

    model.compile(loss="categorical_crossentropy", optimizer=Adam(), metrics=["accuracy"])
    model.fit(X_train, Y_train, batch_size=batch_size, epochs=epochs, verbose=verbose,
              validation_data=(X_test, Y_test) if validate else None)
    score = model.evaluate(X_test, Y_test, verbose=0)
    print("test loss: %.4f" % score[0])
    print("test accuracy: %.3f" % score[1])
    return float(score[1])


if __name__ == "__main__":
    main()
