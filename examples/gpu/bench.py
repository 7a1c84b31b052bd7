"""GPU benchmarks for examples/gpu_check.sh: graphnn on ``GRAPHNN_DEVICE=cuda`` beside PyTorch
eager on the same GPU (when torch is importable).

- MLP train step: 784-512-512-10, batch 128, SGD momentum (examples/benchmarks/mlp.py's model);
- CNN train step: examples/benchmarks/cnn.py's model, batch 128;
- SGEMM 4096^3 in float32: the generated kernel alone (inputs already on the device) against
  ``torch.matmul`` with TF32 off, and the largest difference between their results.

graphnn's train steps copy the batch from host memory each step (as ``fit`` does); torch's batch
is already on the GPU.  Prints one JSON line per measurement and a table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples", "benchmarks"))
os.environ["GRAPHNN_DEVICE"] = "cuda"

import numpy as np  # noqa: E402

from _timing import median_time  # noqa: E402

RESULTS = []


def emit(**kw) -> None:
    RESULTS.append(kw)
    print(json.dumps(kw), flush=True)


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def bench_mlp(budget: float, torch) -> None:
    from graphnn.layers import Dense
    from graphnn.models import Sequential
    from graphnn.optimizers import SGD
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    m = Sequential([Dense(512, activation="relu", input_shape=(784,)),
                    Dense(512, activation="relu"), Dense(10, activation="softmax")])
    m.compile(optimizer=SGD(lr=0.01, momentum=0.9), loss="categorical_crossentropy")
    emit(bench="mlp_train", framework="graphnn", seconds=median_time(
        lambda: m.train_on_batch(x, y), budget))
    if torch is None:
        return
    nn = torch.nn
    tm = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                       nn.Linear(512, 10)).cuda()
    opt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y.argmax(1)).cuda()
    lossf = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(tm(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()   # synchronizes, as graphnn's step returns the loss to the host
    emit(bench="mlp_train", framework="torch", seconds=median_time(step, budget))


def bench_cnn(budget: float, torch) -> None:
    from cnn import build_graphnn
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 128).astype(np.int32)
    m = build_graphnn()
    emit(bench="cnn_train", framework="graphnn", seconds=median_time(
        lambda: m.train_on_batch(x, y), budget))
    if torch is None:
        return
    nn = torch.nn
    tm = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                       nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(),
                       nn.Linear(128, 10)).cuda()
    opt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).cuda()
    ty = torch.from_numpy(y.astype(np.int64)).cuda()
    lossf = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(tm(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()
    emit(bench="cnn_train", framework="torch", seconds=median_time(step, budget))


def bench_sgemm(budget: float, torch, n: int = 4096) -> None:
    from ir import builder as b
    from runtime import compile_function
    from runtime.cuda_device import backend
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    c = rng.standard_normal((n, n), dtype=np.float32)
    pa, pc = b.placeholder((n, n), "float32", "a"), b.placeholder((n, n), "float32", "b")
    f = compile_function([pa, pc], [b.matmul(pa, pc)], name="sgemm", device="cuda")
    out = f([a, c])[0]
    prog = f._program
    state = next(iter(prog._states.values()))
    be = backend()

    def kernels():   # the launches alone: operands stay on the device
        be.run(state.prepared)
        be.context.synchronize()
    flops = 2.0 * n ** 3
    secs = median_time(kernels, budget, warmup=2, min_reps=3)
    emit(bench="sgemm_4096", framework="graphnn", seconds=secs, tflops=flops / secs / 1e12,
         kernels=len(prog.desc.launches))
    if torch is None:
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    ta, tc = torch.from_numpy(a).cuda(), torch.from_numpy(c).cuda()

    def mm():
        torch.matmul(ta, tc)
        torch.cuda.synchronize()
    secs = median_time(mm, budget, warmup=2, min_reps=3)
    ref = torch.matmul(ta, tc).cpu().numpy()
    err = float(np.abs(out - ref).max() / np.abs(ref).max())
    emit(bench="sgemm_4096", framework="torch", seconds=secs, tflops=flops / secs / 1e12,
         max_rel_diff_vs_graphnn=err)


def table() -> str:
    rows = ["| benchmark | graphnn | torch eager | graphnn / torch |", "|---|---|---|---|"]
    by = {}
    for r in RESULTS:
        by.setdefault(r["bench"], {})[r["framework"]] = r["seconds"]
    for bench, d in by.items():
        g, t = d.get("graphnn"), d.get("torch")
        ratio = f"{g / t:.2f}x" if g and t else ""
        rows.append(f"| {bench} | {g * 1e3:.3f} ms | "
                    f"{'' if t is None else f'{t * 1e3:.3f} ms'} | {ratio} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per measurement")
    ap.add_argument("--only", choices=["mlp", "cnn", "sgemm"], action="append",
                    help="run only these (repeatable)")
    args = ap.parse_args(argv)
    from runtime.cuda_device import CudaUnavailable, backend
    try:
        be = backend()
    except CudaUnavailable as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    torch = torch_or_none()
    print(f"device: {be.device_name} ({be.arch}); torch: "
          f"{torch.__version__ if torch else 'not available (graphnn only)'}", flush=True)
    t0 = time.perf_counter()
    for name, fn in (("mlp", bench_mlp), ("cnn", bench_cnn), ("sgemm", bench_sgemm)):
        if not args.only or name in args.only:
            fn(args.budget, torch)
    print(table())
    print(f"benchmarks took {time.perf_counter() - t0:.0f} s (medians of repeated runs)",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
