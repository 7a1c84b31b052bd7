"""The optimization pipeline: small, named, deterministic ``Graph -> Graph`` passes.

Each pass is registered once with :func:`register_pass`; :func:`run_pipeline` runs them in order,
can skip passes by name (argument or ``GRAPHNN_SKIP_PASSES=cse,fold``), verifies the graph after
each pass when asked (``GRAPHNN_VERIFY_PASSES=1``, on in the tests), times them and hands each
intermediate graph to a dump callback.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Optional

from ..graph import Graph

PIPELINE: List[str] = []
PASSES: Dict[str, Callable[[Graph], Graph]] = {}


def register_pass(name: str):
    def deco(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        PASSES[name] = fn
        PIPELINE.append(name)
        fn.pass_name = name
        return fn
    return deco


def skipped_from_env() -> set:
    return {s.strip() for s in os.environ.get("GRAPHNN_SKIP_PASSES", "").split(",") if s.strip()}


def verify_each_from_env() -> bool:
    """``GRAPHNN_VERIFY_PASSES=1`` (the test suite sets it): verify the graph after every pass."""
    return os.environ.get("GRAPHNN_VERIFY_PASSES", "") not in ("", "0")


def run_pipeline(graph: Graph, skip=(), dump: Optional[Callable[[str, Graph], None]] = None,
                 verify_each: Optional[bool] = None,
                 timings: Optional[Dict[str, float]] = None) -> Graph:
    """Run the passes in order.  The ``verify`` pass (first) always checks the input graph;
    ``verify_each`` (default: ``GRAPHNN_VERIFY_PASSES``) also verifies after every pass."""
    from .verify import verify
    if verify_each is None:
        verify_each = verify_each_from_env()
    skip = set(skip) | skipped_from_env()
    unknown = skip - set(PASSES)
    if unknown:
        raise ValueError(f"unknown pass(es) {sorted(unknown)}; passes are {PIPELINE}")
    g = graph.copy()
    for name in PIPELINE:
        if name in skip:
            continue
        t0 = time.perf_counter()
        g = PASSES[name](g)
        if timings is not None:
            timings[name] = time.perf_counter() - t0
        if verify_each:
            verify(g)
        if dump is not None:
            dump(name, g)
    return g


# registration order is pipeline order
from . import verify as _verify  # noqa: E402,F401
from . import stabilize as _stabilize  # noqa: E402,F401
from . import fold as _fold  # noqa: E402,F401
from . import flatten_batch as _flatten_batch  # noqa: E402,F401
from . import simplify as _simplify  # noqa: E402,F401
from . import cse as _cse  # noqa: E402,F401
from . import dce as _dce  # noqa: E402,F401
from . import fusion as _fusion  # noqa: E402,F401
from . import memory as _memory  # noqa: E402,F401
