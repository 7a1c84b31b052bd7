"""``compile_function``: the one contract between the API and the compiler.

``compile_function(inputs, outputs, updates)`` turns symbolic tensors into a callable that takes
numpy arrays (one per input, in order) and returns numpy arrays (one per output), applying the
updates to the variables' persistent buffers.  Compilation is lazy: it happens on the first call.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ir.graph import Graph
from ir.interpreter import evaluate
from ir.tensor import Tensor

from . import variables

#: counts calls into compiled code (tests use it to prove "one foreign call per step")
STATS = {"foreign_calls": 0, "compilations": 0}


def default_device() -> str:
    return os.environ.get("GRAPHNN_DEVICE", "cpu")


class Function:
    """A compiled function of numpy arrays.  ``device='interpreter'`` runs the numpy reference."""

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor],
                 updates: Sequence[Tuple[Tensor, Tensor]] = (), name: str = "function",
                 givens: Dict[Tensor, object] = None, device: str = None):
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.updates = list(updates)
        self.name = name
        self.graph, _ = Graph.build(self.inputs, self.outputs, self.updates, name, givens)
        self.device = device or default_device()
        self._program = None

    def __call__(self, values: Sequence) -> List[np.ndarray]:
        values = list(values)
        if len(values) != len(self.inputs):
            raise ValueError(f"{self.name} expects {len(self.inputs)} inputs, got {len(values)}")
        if self.device == "interpreter":
            outs, ups, _ = evaluate(self.graph, values, lambda a: variables.buffer(a["uid"]))
            for (var, _), val in zip(self.graph.updates, ups):
                variables.buffer(self.graph.attrs(var)["uid"])[...] = val
            return [np.array(o) for o in outs]
        if self._program is None:
            from .program import build_program
            self._program = build_program(self.graph, device=self.device)
        return self._program.run(values)


def compile_function(inputs: Sequence[Tensor], outputs: Sequence[Tensor],
                     updates: Sequence[Tuple[Tensor, Tensor]] = (), name: str = "function",
                     givens: Dict[Tensor, object] = None, device: str = None) -> Function:
    return Function(inputs, outputs, updates, name, givens, device)
