"""The reference interpreter: runs a graph node by node with each primitive's numpy reference.
It defines what compiled code must compute, and backs the checking mode and the gradient tests."""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Sequence

import numpy as np

from .graph import Graph
from .registry import get_op
from .types import concrete, show_shape


def bind_symbols(graph: Graph, feeds: Sequence[np.ndarray]) -> Dict[str, int]:
    """Symbol values from the shapes of the fed inputs (checking the fixed dimensions)."""
    env: Dict[str, int] = {}
    for n, a in zip(graph.inputs, feeds):
        shape = graph.type(n).shape
        a = np.asarray(a)
        if a.ndim != len(shape):
            raise ValueError(f"input {graph.attrs(n)['name']!r}: expected {len(shape)} dimensions "
                             f"{show_shape(shape)}, got array with shape {a.shape}")
        for d, v in zip(shape, a.shape):
            if isinstance(d, str):
                if env.setdefault(d, v) != v:
                    raise ValueError(f"inputs disagree on dimension {d!r}: {env[d]} and {v}")
            elif d != v:
                raise ValueError(f"input {graph.attrs(n)['name']!r}: expected shape "
                                 f"{show_shape(shape)}, got array with shape {a.shape}")
    return env


def evaluate(graph: Graph, feeds: Sequence[np.ndarray],
             variable_value: Callable[[Mapping], np.ndarray] = None,
             env: Dict[str, int] = None, keep_all: bool = False):
    """Return ``(outputs, update_values, values)``; ``values`` holds every node when keep_all."""
    if len(feeds) != len(graph.inputs):
        raise ValueError(f"expected {len(graph.inputs)} inputs, got {len(feeds)}")
    env = dict(env or {})
    env.update(bind_symbols(graph, feeds))
    values: Dict[int, np.ndarray] = {}
    for n, a in zip(graph.inputs, feeds):
        values[n] = np.asarray(a, dtype=graph.type(n).dtype)
    roots = set(graph.roots())
    order = graph.topo()
    last_use = {}
    for i, n in enumerate(order):
        for a in graph.args(n):
            last_use[a] = i
    for i, n in enumerate(order):
        op = graph.op(n)
        if n in values:
            continue
        if op == "placeholder":
            raise ValueError(f"no value fed for placeholder {graph.attrs(n)['name']!r}")
        if op == "variable":
            if variable_value is None:
                raise ValueError("variables need a variable_value callback")
            values[n] = variable_value(graph.attrs(n))
            continue
        args = [values[a] for a in graph.args(n)]
        out = np.asarray(get_op(op).reference(args, graph.attrs(n), env))
        want = graph.type(n)
        if out.dtype.name != want.dtype or out.shape != concrete(want.shape, env):
            raise AssertionError(f"reference of {graph.describe(n)} returned "
                                 f"{out.dtype}{list(out.shape)}")
        values[n] = out
        if not keep_all:
            for a in graph.args(n):
                if last_use.get(a) == i and a not in roots and graph.op(a) != "variable":
                    values.pop(a, None)
    outputs = [values[o] for o in graph.outputs]
    updates = [values[v] for _, v in graph.updates]
    return outputs, updates, values
