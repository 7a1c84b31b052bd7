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


def json_default(obj):
    """``json.dumps(..., default=json_default)`` for configs: numpy scalars as numbers, tuples
    as lists; anything else is not part of a config and raises TypeError."""
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"Not JSON serializable: {obj!r}")


def serialize_object(obj) -> Any:
    """``{'class_name', 'config'}`` for configurable objects, the name for plain functions."""
    if obj is None:
        return None
    if hasattr(obj, "get_config"):
        return {"class_name": obj.__class__.__name__, "config": obj.get_config()}
    if hasattr(obj, "__name__"):
        return obj.__name__
    raise ValueError(f"Cannot serialize {obj!r}")


#: objects registered by ``custom_object_scope`` / ``get_custom_objects()`` (Keras's global
#: registry): every name lookup below consults it, so nested configs find custom classes too
_GLOBAL_CUSTOM_OBJECTS: Dict[str, Any] = {}


class CustomObjectScope:
    """``with CustomObjectScope({'MyLayer': MyLayer}):`` makes the names known to every
    deserialization inside the block (and restores the previous registry after it)."""

    def __init__(self, *args: Dict[str, Any]):
        self.custom_objects = args
        self.backup: Optional[Dict[str, Any]] = None

    def __enter__(self) -> "CustomObjectScope":
        self.backup = dict(_GLOBAL_CUSTOM_OBJECTS)
        for objects in self.custom_objects:
            _GLOBAL_CUSTOM_OBJECTS.update(objects or {})
        return self

    def __exit__(self, *args) -> None:
        _GLOBAL_CUSTOM_OBJECTS.clear()
        _GLOBAL_CUSTOM_OBJECTS.update(self.backup or {})


def custom_object_scope(*args: Dict[str, Any]) -> CustomObjectScope:
    """Keras's helper: ``with custom_object_scope({'MyLayer': MyLayer}): load_model(...)``."""
    return CustomObjectScope(*args)


def get_custom_objects() -> Dict[str, Any]:
    """The global registry itself (``get_custom_objects()['MyLayer'] = MyLayer``)."""
    return _GLOBAL_CUSTOM_OBJECTS


def unknown_name_error(kind: str, name: Any, known) -> ValueError:
    """Keras's ``Unknown layer: X`` plus the known names and the ``custom_objects`` hint."""
    names = sorted(str(n) for n in known)
    return ValueError(f"Unknown {kind}: {name}. Known {kind}s: {', '.join(names)}. If {name} is "
                      "a custom object, pass it in `custom_objects` (e.g. "
                      f"load_model(path, custom_objects={{{name!r}: {name}}})) or register it "
                      "with `custom_object_scope`.")


def deserialize_object(identifier, module_objects: Dict[str, Any], kind: str,
                       custom_objects: Optional[Dict[str, Any]] = None):
    """Resolve a name, a ``{'class_name', 'config'}`` dict or an object of the given kind.
    ``custom_objects`` and the global registry take precedence over the module's names."""
    objects = dict(module_objects)
    objects.update(_GLOBAL_CUSTOM_OBJECTS)
    objects.update(custom_objects or {})
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in objects:
            raise unknown_name_error(kind, name, module_objects)
        cls = objects[name]
        config = identifier.get("config", {})
        with CustomObjectScope(custom_objects or {}):
            return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    if isinstance(identifier, str):
        if identifier not in objects:
            raise unknown_name_error(kind, identifier, module_objects)
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


#: whether deserialization may run Python bytecode stored in a file (a Lambda's function);
#: refused unless a caller passes ``safe_mode=False``
_SAFE_MODE = [True]


class SafeModeScope:
    """``with SafeModeScope(False):`` lets deserialization inside the block load bytecode."""

    def __init__(self, safe_mode: bool = True):
        self.safe_mode = bool(safe_mode)

    def __enter__(self) -> "SafeModeScope":
        _SAFE_MODE.append(self.safe_mode)
        return self

    def __exit__(self, *args) -> None:
        _SAFE_MODE.pop()


def in_safe_mode() -> bool:
    return _SAFE_MODE[-1]


def func_dump(func) -> str:
    """A function's code as base64 text of ``marshal`` (Keras's format for a Lambda's function).
    Defaults and closures are not kept: a Lambda's function should be self-contained."""
    import base64
    import marshal
    return base64.b64encode(marshal.dumps(func.__code__)).decode("ascii")


def func_load(code: str, globs: Optional[Dict[str, Any]] = None):
    """Inverse of :func:`func_dump`; runs only outside safe mode (bytecode can do anything)."""
    import base64
    import marshal
    import types
    if in_safe_mode():
        raise ValueError("Refusing to load a function stored as Python bytecode (a Lambda layer "
                         "or output_shape): loading it can execute arbitrary code. If you trust "
                         "the source of this model, pass `safe_mode=False` to `load_model` / "
                         "`model_from_json` / `model_from_yaml` / `model_from_config`.")
    if isinstance(code, (list, tuple)):  # Keras stores (code, defaults, closure)
        code = code[0]
    raw = base64.b64decode(code.encode("ascii") if isinstance(code, str) else code)
    try:
        compiled = marshal.loads(raw)
    except (ValueError, EOFError, TypeError) as e:
        raise ValueError("Could not load a Lambda function stored as bytecode: it was written "
                         "by another Python version or is corrupt (" + str(e) + ")") from e
    return types.FunctionType(compiled, globs if globs is not None else {})
