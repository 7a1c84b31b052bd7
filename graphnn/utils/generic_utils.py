"""Progress bar and name-to-object lookup helpers (Keras ``generic_utils``)."""
from __future__ import annotations

import sys
import time
from typing import Any, Dict, Iterable, List, Optional

import numpy as np


def to_list(x) -> List:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def unpack_singleton(x):
    return x[0] if isinstance(x, list) and len(x) == 1 else x


def serialize_object(obj) -> Any:
    """``{'class_name', 'config'}`` for configurable objects, the name for plain functions."""
    if obj is None:
        return None
    if hasattr(obj, "get_config"):
        return {"class_name": obj.__class__.__name__, "config": obj.get_config()}
    if hasattr(obj, "__name__"):
        return obj.__name__
    raise ValueError(f"Cannot serialize {obj!r}")


def deserialize_object(identifier, module_objects: Dict[str, Any], kind: str,
                       custom_objects: Optional[Dict[str, Any]] = None):
    """Resolve a name, a ``{'class_name', 'config'}`` dict or an object of the given kind."""
    objects = dict(module_objects)
    objects.update(custom_objects or {})
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in objects:
            raise ValueError(f"Unknown {kind}: {name}")
        cls = objects[name]
        config = identifier.get("config", {})
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    if isinstance(identifier, str):
        if identifier not in objects:
            raise ValueError(f"Unknown {kind}: {identifier}")
        obj = objects[identifier]
        return obj() if isinstance(obj, type) else obj
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}")


class Progbar:
    """Keras's text progress bar.  ``verbose=1``: a live bar; ``verbose=2``: one line at the end.
    Redraws at most every ``interval`` seconds, so per-batch cost stays tiny."""

    def __init__(self, target: int, width: int = 30, verbose: int = 1, interval: float = 0.05,
                 stream=None):
        self.width = width
        self.target = target
        self.sum_values: Dict[str, list] = {}
        self.unique_values: List[str] = []
        self.start = time.time()
        self.last_update = 0.0
        self.interval = interval
        self.total_width = 0
        self.seen_so_far = 0
        self.verbose = verbose
        self.stream = stream

    def _out(self):
        return self.stream or sys.stdout

    def update(self, current: int, values: Iterable = (), force: bool = False) -> None:
        """``values``: (name, value) pairs averaged over the samples seen (weighted by step)."""
        for k, v in values:
            step = current - self.seen_so_far
            if k not in self.sum_values:
                self.sum_values[k] = [v * step, step]
                self.unique_values.append(k)
            else:
                self.sum_values[k][0] += v * step
                self.sum_values[k][1] += step
        self.seen_so_far = current
        now = time.time()
        out = self._out()
        if self.verbose == 1:
            if not force and (now - self.last_update) < self.interval:
                return
            prev_total_width = self.total_width
            out.write("\b" * prev_total_width)
            out.write("\r")
            numdigits = int(np.floor(np.log10(self.target))) + 1 if self.target else 1
            barstr = "%%%dd/%%%dd [" % (numdigits, numdigits)
            bar = barstr % (current, self.target)
            prog = float(current) / self.target if self.target else 1.0
            prog_width = int(self.width * prog)
            if prog_width > 0:
                bar += "=" * (prog_width - 1)
                bar += ">" if current < self.target else "="
            bar += "." * (self.width - prog_width)
            bar += "]"
            out.write(bar)
            self.total_width = len(bar)
            time_per_unit = (now - self.start) / current if current else 0
            eta = time_per_unit * (self.target - current)
            info = " - ETA: %ds" % eta if current < self.target else " - %ds" % (now - self.start)
            info += self._values_text()
            self.total_width += len(info)
            if prev_total_width > self.total_width:
                info += (prev_total_width - self.total_width) * " "
            out.write(info)
            out.flush()
            if current >= self.target:
                out.write("\n")
        elif self.verbose == 2 and current >= self.target:
            out.write(" - %ds" % (now - self.start) + self._values_text() + "\n")
            out.flush()
        self.last_update = now

    def _values_text(self) -> str:
        info = ""
        for k in self.unique_values:
            total, count = self.sum_values[k]
            avg = total / max(1, count)
            info += " - %s:" % k
            info += " %.4f" % avg if abs(avg) > 1e-3 else " %.4e" % avg
        return info

    def add(self, n: int, values: Iterable = ()) -> None:
        self.update(self.seen_so_far + n, values)
