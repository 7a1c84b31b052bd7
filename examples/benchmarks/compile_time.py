"""Compile time of the benchmark MLP's train, test and predict functions, cold and warm.

Cold: a fresh process with an empty ``GRAPHNN_CACHE_DIR``.  Warm: another fresh process with the
cache the cold run left (the disk cache; nothing in memory).  Each run compiles the train function
(``train_on_batch``), then the test function (``test_on_batch``) and the predict function
(``predict_on_batch``); the test and predict functions share most kernels with the train function,
so their cold compiles find many objects in the cache already.

Printed per phase (seconds, from ``Program.compile_timings``, the median of ``--repeat`` runs):
passes, lowering, key (the library's cache key), rendering (LLVM IR text, Python), LLVM optimize and codegen (summed over the
compile threads: CPU work, not wall time), compile (waiting for the objects after rendering),
link, load, and the total wall time of ``build_program``.

    python3 examples/benchmarks/compile_time.py [--repeat 3] [--step]

``--step`` also times the train step (median of 50 ``train_on_batch`` after warm-up).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PHASES = ("passes", "lowering", "key", "rendering", "optimize", "codegen", "compile", "link",
          "load", "total")
FUNCTIONS = ("train", "test", "predict")


def child(step: bool) -> None:
    """One run in this process: compile the three functions, print their timings as JSON."""
    sys.path.insert(0, ROOT)
    import time

    import numpy as np

    from graphnn.layers import Dense
    from graphnn.models import Sequential
    from graphnn.optimizers import SGD

    m = Sequential([Dense(512, activation="relu", input_dim=784), Dense(512, activation="relu"),
                    Dense(10, activation="softmax")])
    m.compile(optimizer=SGD(lr=0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    x, y = np.zeros((128, 784), np.float32), np.zeros(128, np.int32)
    m.train_on_batch(x, y)
    m.test_on_batch(x, y)
    m.predict_on_batch(x)
    out = {}
    for name in FUNCTIONS:
        prog = getattr(m, f"{name}_function")._fn._program
        t = dict(getattr(prog, "compile_timings", {"total": prog.compile_seconds}))
        t["hit"] = prog.cache_hit
        out[name] = t
    if step:
        rng = np.random.default_rng(0)
        x = rng.random((128, 784), dtype=np.float32)
        y = rng.integers(0, 10, 128).astype(np.int32)
        for _ in range(10):
            m.train_on_batch(x, y)
        ts = []
        for _ in range(50):
            t0 = time.perf_counter()
            m.train_on_batch(x, y)
            ts.append(time.perf_counter() - t0)
        out["step_ms"] = float(np.median(ts) * 1e3)
    print(json.dumps(out))


def run(cache: str, step: bool) -> dict:
    env = dict(os.environ, GRAPHNN_CACHE_DIR=cache)
    env.pop("GRAPHNN_DEBUG", None)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"]
                          + (["--step"] if step else []),
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--step", action="store_true", help="also time the train step")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the raw runs as JSON")
    args = ap.parse_args()
    if args.child:
        child(args.step)
        return
    runs = {"cold": [], "warm": []}
    for _ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix="graphnn-compile-time-")
        try:
            runs["cold"].append(run(cache, args.step))
            runs["warm"].append(run(cache, args.step))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    if args.json:
        print(json.dumps(runs, indent=1))
    cols = [(state, fn) for state in ("cold", "warm") for fn in FUNCTIONS]
    print(f"seconds, median of {args.repeat} run(s); optimize/codegen: CPU summed over threads "
          f"({os.cpu_count()} CPUs)")
    print(f"{'phase':10s}" + "".join(f"{s + ' ' + f:>15s}" for s, f in cols))
    for phase in PHASES:
        row = []
        for state, fn in cols:
            vals = [r[fn][phase] for r in runs[state] if phase in r[fn]]
            row.append(f"{median(vals):15.3f}" if vals else f"{'-':>15s}")
        print(f"{phase:10s}" + "".join(row))
    hits = ["hit" if all(r[fn]["hit"] for r in runs[s]) else "miss" for s, fn in cols]
    print(f"{'library':10s}" + "".join(f"{h:>15s}" for h in hits))
    objs = []
    for s, fn in cols:
        r = runs[s][0][fn]
        objs.append(f"{r['objects_compiled']}+{r['objects_cached']}" if "objects_cached" in r
                    else "-")
    print(f"{'objects':10s}" + "".join(f"{o:>15s}" for o in objs) + "   (compiled+cached)")
    if args.step:
        for state in ("cold", "warm"):
            print(f"train step ({state} process): "
                  f"{median([r['step_ms'] for r in runs[state]]):.2f} ms")


if __name__ == "__main__":
    main()
