"""The CNN benchmark of issue 4: one train step of a small MNIST-shaped CNN.

    python examples/benchmarks/cnn.py [--budget 3]

28x28x1 -> Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2) -> Flatten ->
Dense(128, relu) -> Dense(10, softmax); batch 128, SGD with momentum.  Prints the median
``train_on_batch`` time, the first call (compilation included) and numpy doing the step's
matmuls on im2col patches (its BLAS, every core) as a floor.
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from _timing import first_call, median_time  # noqa: E402


def build_graphnn():
    from graphnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from graphnn.models import Sequential
    from graphnn.optimizers import SGD
    m = Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                    Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)), Flatten(),
                    Dense(128, activation="relu"), Dense(10, activation="softmax")])
    m.compile(optimizer=SGD(lr=0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    return m


def graphnn_results(budget):
    rng = np.random.default_rng(0)
    m = build_graphnn()
    x = rng.standard_normal((128, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 128).astype(np.int32)
    cold = first_call(lambda: m.train_on_batch(x, y))
    return {"cnn_train": median_time(lambda: m.train_on_batch(x, y), budget),
            "first_call": cold}


def floor_results(budget):
    """numpy's matmuls of the same step (forward, input and weight gradients) on patches."""
    rng = np.random.default_rng(0)
    p1 = rng.standard_normal((128 * 26 * 26, 9), dtype=np.float32)
    p2 = rng.standard_normal((128 * 24 * 24, 288), dtype=np.float32)
    w1 = rng.standard_normal((9, 32), dtype=np.float32)
    w2 = rng.standard_normal((288, 64), dtype=np.float32)
    h = rng.standard_normal((128, 9216), dtype=np.float32)
    w3 = rng.standard_normal((9216, 128), dtype=np.float32)
    w4 = rng.standard_normal((128, 10), dtype=np.float32)

    def step():
        a1 = p1 @ w1
        a2 = p2 @ w2
        z = (h @ w3) @ w4
        g3 = z @ w4.T
        gh = g3 @ w3.T
        return a1, p2.T @ a2, a2 @ w2.T, p1.T @ a1, h.T @ g3, gh
    return {"cnn_train": median_time(step, budget)}


def fmt(s):
    return "–" if s is None else f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.2f} s"


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=3.0, help="seconds of timing per measurement")
    a = p.parse_args()
    t0 = time.time()
    g = graphnn_results(a.budget)
    floor = floor_results(a.budget)
    print("| benchmark | graphnn | numpy matmul floor | graphnn / floor |")
    print("|---|---|---|---|")
    for bench in ("cnn_train", "first_call"):
        fl = floor.get(bench)
        print(f"| {bench} | {fmt(g[bench])} | {fmt(fl)} | "
              f"{f'{g[bench] / fl:.2f}x' if fl else '–'} |")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
