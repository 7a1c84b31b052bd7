"""The LSTM benchmark of issue 5: Embedding(20000, 128) -> LSTM(128) -> Dense(1, sigmoid),
binary cross-entropy, Adam, batch 32, length 80 (Keras's imdb_lstm shapes).

    python examples/benchmarks/lstm.py [--budget 3]

Prints the first call (compilation included) and the median train step.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from _timing import first_call, median_time  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=3.0, help="seconds per measurement")
    args = ap.parse_args()
    from graphnn.layers import LSTM, Dense, Embedding
    from graphnn.models import Sequential
    rng = np.random.default_rng(0)
    model = Sequential([Embedding(20000, 128), LSTM(128), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    x = rng.integers(1, 20000, (32, 80)).astype(np.int32)
    y = rng.integers(0, 2, 32).astype(np.float32)
    cold = first_call(lambda: model.train_on_batch(x, y))
    step = median_time(lambda: model.train_on_batch(x, y), args.budget)
    print(f"lstm first train call (compile included): {cold:.2f} s")
    print(f"lstm train step (batch 32, length 80): {step * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
