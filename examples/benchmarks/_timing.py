"""Timing helpers shared by the benchmark scripts (median of repeated runs after warm-up)."""
import json
import statistics
import sys
import time


def median_time(fn, budget: float = 3.0, warmup: int = 3, min_reps: int = 5) -> float:
    """Median seconds per call of ``fn`` over about ``budget`` seconds."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    per_rep = max(1, int(0.05 / one))
    reps = max(min_reps, int(budget / (one * per_rep)))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(per_rep):
            fn()
        times.append((time.perf_counter() - t0) / per_rep)
    return statistics.median(times)


def first_call(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def emit(**kw):
    print(json.dumps(kw), flush=True)


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)
