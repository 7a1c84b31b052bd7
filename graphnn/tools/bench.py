"""``graphnn bench``: time every generated kernel of a model's predict and train functions.

For each function: the median time of each kernel launch (through the program's profiled entry
point, so no Python is counted), its FLOPs and bytes (``runtime.costs``), GFLOP/s and GB/s and
their fractions of this machine's peaks, which the tool measures itself (float32 matrix multiply
through numpy's BLAS, and copy bandwidth); and the whole call's median time with the share spent
outside kernels (argument checks, the foreign call, allocating outputs).
"""
from __future__ import annotations

import time
from typing import Dict, List

import numpy as np


def machine_peaks(seconds: float = 0.3) -> Dict[str, float]:
    """``matmul_gflops`` (float32 1024^3 through numpy's BLAS, best of a few) and ``copy_gbs``
    (bytes read + written per second copying 64 MiB), measured now."""
    n = 1024
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    c = np.empty_like(a)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == float("inf"):
        t = time.perf_counter()
        np.matmul(a, a, out=c)
        best = min(best, time.perf_counter() - t)
    src = np.ones(16 << 20, np.float32)
    dst = np.empty_like(src)
    copy = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(dst, src)
        copy = min(copy, time.perf_counter() - t)
    return {"matmul_gflops": 2 * n ** 3 / best / 1e9, "copy_gbs": 2 * src.nbytes / copy / 1e9}


def _random_inputs(model, batch: int, rng) -> List[np.ndarray]:
    xs = []
    for t in model.inputs:
        shape = (batch,) + tuple(int(d) for d in t.shape[1:])
        if np.issubdtype(np.dtype(t.dtype), np.integer):
            xs.append(rng.integers(0, 2, shape).astype(t.dtype))
        else:
            xs.append(rng.standard_normal(shape).astype(t.dtype))
    return xs


def _random_targets(model, batch: int, rng) -> List[np.ndarray]:
    ys = []
    losses = model.loss if isinstance(model.loss, (list, tuple)) else [model.loss] * len(model.outputs)
    for out, loss in zip(model.outputs, losses):
        classes = int(out.shape[-1])
        name = loss if isinstance(loss, str) else getattr(loss, "__name__", "")
        if "sparse" in name:
            ys.append(rng.integers(0, classes, (batch,)).astype(np.int32))
        else:
            shape = (batch,) + tuple(int(d) for d in out.shape[1:])
            ys.append(rng.random(shape, dtype=np.float32))
    return ys


def _time_calls(fn, seconds: float) -> float:
    ts = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(ts) < 5:
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def bench_function(program, values, peaks: Dict[str, float], seconds: float = 1.0,
                   repeats: int = 20) -> dict:
    """One compiled function: per-kernel records and the whole call's time."""
    records = program.profile(values, repeats=repeats)
    step = _time_calls(lambda: program.run(values), seconds)
    total = sum(r["seconds"] for r in records)
    for r in records:
        s = max(r["seconds"], 1e-12)
        r["gflops"] = r["flops"] / s / 1e9 if r["flops"] else 0.0
        r["gbs"] = r["bytes"] / s / 1e9 if r["bytes"] else 0.0
        r["of_matmul_peak"] = r["gflops"] / peaks["matmul_gflops"]
        r["of_copy_peak"] = r["gbs"] / peaks["copy_gbs"]
        r["share"] = r["seconds"] / total if total else 0.0
    return {"kernels": records, "kernel_seconds": total, "call_seconds": step,
            "outside_kernels": max(0.0, 1.0 - total / step) if step else 0.0,
            "n_kernels": len(records)}


def bench(model, batch: int = 128, seconds: float = 1.0, functions=("predict", "train")
          ) -> dict:
    """Benchmark ``model``'s compiled functions at ``batch`` (random data of the model's
    shapes).  Training functions run on copies of the weights: the model is left unchanged."""
    rng = np.random.default_rng(0)
    peaks = machine_peaks()
    result = {"model": model.name, "batch": batch, "peaks": peaks, "functions": {}}
    x = _random_inputs(model, batch, rng)
    for which in functions:
        if which == "predict":
            model.predict_on_batch(x if len(x) > 1 else x[0])
            f = model.predict_function
            values = x
        elif which == "train":
            weights = model.get_weights()
            y = _random_targets(model, batch, rng)
            xs, ys, sws = model._standardize_user_data(x, y)
            values = xs + ys + sws
            f = model._make_train_function()
            f(values)
        else:
            raise ValueError(f"unknown function {which!r}: choose predict or train")
        program = (f._fn or f._build())._program
        result["functions"][which] = bench_function(program, values, peaks, seconds)
        if which == "train":
            model.set_weights(weights)
    return result


def format_table(result: dict, top: int = 0) -> str:
    """The readable report: one table per function, kernels by time."""
    peaks = result["peaks"]
    lines = [f"model {result['model']}, batch {result['batch']}; this machine: float32 matmul "
             f"{peaks['matmul_gflops']:.1f} GFLOP/s, copy {peaks['copy_gbs']:.1f} GB/s"]
    for which, r in result["functions"].items():
        lines += ["", f"{which}: {r['n_kernels']} kernels, {r['kernel_seconds'] * 1e3:.3f} ms in "
                  f"kernels, {r['call_seconds'] * 1e3:.3f} ms per call "
                  f"({100 * r['outside_kernels']:.0f}% outside kernels)",
                  f"{'time':>10} {'share':>6} {'GFLOP/s':>8} {'%mm':>5} {'GB/s':>7} {'%bw':>5}  "
                  "kernel: ops, layers"]
        recs = sorted(r["kernels"], key=lambda k: -k["seconds"])
        for k in recs[:top or None]:
            lines.append(f"{k['seconds'] * 1e6:8.1f}us {100 * k['share']:5.1f}% "
                         f"{k['gflops']:8.1f} {100 * k['of_matmul_peak']:4.0f}% "
                         f"{k['gbs']:7.1f} {100 * k['of_copy_peak']:4.0f}%  "
                         f"{k['kernel']}: {k['origin']}")
    return "\n".join(lines)
