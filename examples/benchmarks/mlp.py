"""The MLP benchmarks of issue 3: graphnn beside the peers, in one run on one machine.

    python examples/benchmarks/mlp.py [--budget 3] [--peer-python PATH]

graphnn runs in this process; each peer that imports in ``--peer-python`` (default: this
interpreter) runs in a subprocess right after, one at a time, so they never share the cores.
Prints a table of medians with the ratio of graphnn to the best peer and to the FLOP floor
(numpy's matmuls of the same train step: 3 forward and 5 backward products).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import first_call, log, median_time  # noqa: E402

BENCHES = ["mlp_train", "mlp_predict_b1", "mlp_predict_b1024", "mlp_fit_epoch"]


def build_graphnn():
    from graphnn.layers import Dense
    from graphnn.models import Sequential
    from graphnn.optimizers import SGD
    m = Sequential([Dense(512, activation="relu", input_dim=784), Dense(512, activation="relu"),
                    Dense(10, activation="softmax")])
    m.compile(optimizer=SGD(lr=0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    return m


def graphnn_results(budget):
    rng = np.random.default_rng(0)
    m = build_graphnn()
    x = rng.standard_normal((128, 784), dtype=np.float32)
    y = rng.integers(0, 10, 128).astype(np.int32)
    out = {}
    cold = first_call(lambda: m.train_on_batch(x, y))
    out["mlp_train"] = median_time(lambda: m.train_on_batch(x, y), budget)
    x1 = rng.standard_normal((1, 784), dtype=np.float32)
    xb = rng.standard_normal((1024, 784), dtype=np.float32)
    out["mlp_predict_b1"] = median_time(lambda: m.predict_on_batch(x1), budget)
    out["mlp_predict_b1_predict"] = median_time(lambda: m.predict(x1, verbose=0), budget)
    out["mlp_predict_b1024"] = median_time(lambda: m.predict_on_batch(xb), budget)
    X = rng.standard_normal((60000, 784), dtype=np.float32)
    Y = rng.integers(0, 10, 60000).astype(np.int32)
    out["mlp_fit_epoch"] = median_time(lambda: m.fit(X, Y, batch_size=128, epochs=1, verbose=0),
                                       budget, warmup=1, min_reps=3)
    out["first_call"] = cold
    return out


def floor_results(budget):
    """numpy doing the matmuls of the same step (its BLAS uses every core)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784), dtype=np.float32)
    w1, w2, w3 = (rng.standard_normal(s, dtype=np.float32) for s in ((784, 512), (512, 512), (512, 10)))

    def step():
        h1 = x @ w1
        h2 = h1 @ w2
        z = h2 @ w3
        g2 = z @ w3.T
        g1 = g2 @ w2.T
        return x.T @ g1, h1.T @ g2, h2.T @ z
    x1 = x[:1]
    xb = rng.standard_normal((1024, 784), dtype=np.float32)
    return {"mlp_train": median_time(step, budget),
            "mlp_predict_b1": median_time(lambda: ((x1 @ w1) @ w2) @ w3, budget),
            "mlp_predict_b1024": median_time(lambda: ((xb @ w1) @ w2) @ w3, budget)}


def peer_results(python, script, budget):
    try:
        proc = subprocess.run([python, os.path.join(HERE, script), str(budget)], capture_output=True,
                              text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        log(f"{script}: {e}")
        return {}
    if proc.returncode != 0:
        log(f"{script}: not run ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode})")
        return {}
    res = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        res[r["bench"]] = r["seconds"]
        if "first_call_s" in r:
            res["first_call"] = r["first_call_s"]
    return res


def fmt(s):
    if s is None:
        return "–"
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=3.0, help="seconds of timing per measurement")
    p.add_argument("--peer-python", default=sys.executable, help="interpreter that has the peers")
    a = p.parse_args()
    t0 = time.time()
    g = graphnn_results(a.budget)
    floor = floor_results(a.budget)
    peers = {name: peer_results(a.peer_python, script, a.budget)
             for name, script in (("torch", "peer_torch.py"), ("jax", "peer_jax.py"))}
    peers = {k: v for k, v in peers.items() if v}
    cols = ["benchmark", "graphnn"] + list(peers) + ["numpy floor", "graphnn / best peer",
                                                    "graphnn / floor"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for bench in BENCHES + ["mlp_predict_b1_predict", "first_call"]:
        row = [bench, fmt(g.get(bench))] + [fmt(v.get(bench)) for v in peers.values()]
        best = min((v[bench] for v in peers.values() if bench in v), default=None)
        fl = floor.get(bench)
        row += [fmt(fl), f"{g[bench] / best:.2f}x" if best else "–",
                f"{g[bench] / fl:.2f}x" if fl else "–"]
        print("| " + " | ".join(row) + " |")
    print(f"\n({time.time() - t0:.0f} s; peers from {a.peer_python})")


if __name__ == "__main__":
    main()
