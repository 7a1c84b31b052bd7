"""Keras 1 ``initializations``: functions ``f(shape, name=None)`` returning a variable."""
from __future__ import annotations

from typing import Optional

from . import backend as K
from . import initializers as _init


def _make(factory):
    def init(shape, name: Optional[str] = None, dim_ordering: str = "th", **kwargs):
        return K.variable(factory()(tuple(shape)), name=name)
    init.__name__ = factory.__name__ if hasattr(factory, "__name__") else str(factory)
    return init


uniform = _make(_init.RandomUniform)
normal = _make(_init.RandomNormal)
glorot_uniform = _make(_init.GlorotUniform)
glorot_normal = _make(_init.GlorotNormal)
he_uniform = _make(_init.HeUniform)
he_normal = _make(_init.HeNormal)
lecun_uniform = _make(_init.LecunUniform)
orthogonal = _make(_init.Orthogonal)
identity = _make(_init.Identity)
zero = _make(_init.Zeros)
one = _make(_init.Ones)
for _f, _n in ((uniform, "uniform"), (normal, "normal"), (glorot_uniform, "glorot_uniform"),
               (glorot_normal, "glorot_normal"), (he_uniform, "he_uniform"),
               (he_normal, "he_normal"), (lecun_uniform, "lecun_uniform"),
               (orthogonal, "orthogonal"), (identity, "identity"), (zero, "zero"), (one, "one")):
    _f.__name__ = _n


def get(identifier, **kwargs):
    """Layers accept these names directly; this returns the Keras 1 function for a name."""
    if callable(identifier):
        return identifier
    fn = globals().get(identifier)
    if not callable(fn) or identifier.startswith("_") or identifier in ("get", "K"):
        raise ValueError(f"Invalid initialization: {identifier}")
    return fn
