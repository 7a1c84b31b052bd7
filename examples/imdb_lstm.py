"""Keras's imdb_lstm example on a synthetic sentiment task (offline, fixed seed).

Reviews are random word sequences (vocabulary 200, lengths 10-40, zero-padded at the end).  A
review is positive when the "good" words (ids 3-12) outnumber the "bad" ones (ids 13-22), and an
occurrence of "not" (id 2) right before a word flips it: the label depends on counts and on
order.  Embedding(mask_zero=True) -> LSTM(32) -> Dense(1, sigmoid), Adam, binary cross-entropy.

Run: ``python examples/imdb_lstm.py``; prints ``test accuracy: 0.9x`` in well under a minute.
"""
from __future__ import print_function

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphnn.layers import Dense, Embedding, LSTM  # noqa: E402
from graphnn.models import Sequential  # noqa: E402

VOCAB, MAXLEN = 200, 40
GOOD, BAD, NOT = range(3, 13), range(13, 23), 2


def make_data(n: int, rng) -> tuple:
    x = np.zeros((n, MAXLEN), np.int32)
    y = np.zeros(n, np.float32)
    for i in range(n):
        length = rng.integers(10, MAXLEN + 1)
        words = rng.integers(23, VOCAB, length)
        k = rng.integers(1, 6)
        pos = rng.choice(length - 1, k, replace=False) + 1
        words[pos] = rng.integers(3, 23, k)
        for p in pos:
            if rng.random() < 0.3:
                words[p - 1] = NOT
        score = 0
        for t in range(length):
            s = 1 if words[t] in GOOD else -1 if words[t] in BAD else 0
            if t > 0 and words[t - 1] == NOT:
                s = -s
            score += s
        if score == 0:
            score = 1 if words[pos[0]] in GOOD else -1
        x[i, :length] = words
        y[i] = score > 0
    return x, y


def main(epochs: int = 6, verbose: int = 1) -> float:
    rng = np.random.default_rng(1337)
    np.random.seed(1337)
    x_train, y_train = make_data(4000, rng)
    x_test, y_test = make_data(1000, rng)
    model = Sequential([Embedding(VOCAB, 32, mask_zero=True), LSTM(32),
                        Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose,
              validation_data=(x_test, y_test))
    score, acc = model.evaluate(x_test, y_test, batch_size=32, verbose=0)
    print("test score:", score)
    print("test accuracy: %.2f" % acc)
    return acc


if __name__ == "__main__":
    main()
