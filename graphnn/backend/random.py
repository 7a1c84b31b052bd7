"""Random tensors drawn from one backend key variable, so every training step gets fresh bits.

The IR's random primitive is counter based: a draw is a pure function of (element, seed, key).
``_rng_key`` is a uint32 scalar variable; ``K.function`` adds the update ``key <- key + 1`` to any
function whose live graph draws random numbers, so each call differs while runs stay reproducible.
"""
from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

from ir import builder as b
from ir.tensor import Tensor

from .common import floatx, on_reset
from .ops import _lift

_KEY: Optional[Tensor] = None
_seeds = itertools.count(1)


@on_reset
def _reset_rng() -> None:
    global _KEY, _seeds
    _KEY = None
    _seeds = itertools.count(1)


def rng_key() -> Tensor:
    global _KEY
    if _KEY is None:
        from .variables import variable
        _KEY = variable(np.uint32(0), dtype="uint32", name="_rng_key")
    return _KEY


def _seed(seed: Optional[int]) -> int:
    return next(_seeds) * 0x9E3779B1 & 0xFFFFFFFF if seed is None else int(seed)


def _shape(shape) -> tuple:
    return tuple(d if isinstance(d, str) else int(d) for d in shape)


def random_uniform(shape, minval: float = 0.0, maxval: float = 1.0, dtype: Optional[str] = None,
                   seed: Optional[int] = None) -> Tensor:
    """``shape`` may hold symbols (``K.shape(x)``) so draws follow the batch size."""
    return b.random_uniform(rng_key(), _shape(shape), _seed(seed), float(minval), float(maxval),
                            dtype or floatx())


def random_normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype: Optional[str] = None,
                  seed: Optional[int] = None) -> Tensor:
    return b.random_normal(rng_key(), _shape(shape), _seed(seed), float(mean), float(stddev),
                           dtype or floatx())


def random_binomial(shape, p: float = 0.0, dtype: Optional[str] = None,
                    seed: Optional[int] = None) -> Tensor:
    u = random_uniform(shape, dtype="float32", seed=seed)
    return b.cast(b.less(u, float(p)), dtype or floatx())


def dropout(x: Tensor, level: float, noise_shape=None, seed: Optional[int] = None) -> Tensor:
    """Zero each element with probability ``level`` and scale the rest by 1/(1-level)."""
    if level < 0.0 or level >= 1:
        raise ValueError("Dropout level must be in interval [0, 1[.")
    x = _lift(x)
    shape = tuple(x.shape) if noise_shape is None else tuple(
        xs if d is None else d for d, xs in zip(noise_shape, x.shape))
    retain = 1.0 - float(level)
    u = b.random_uniform(rng_key(), _shape(shape), _seed(seed))
    keep = b.cast(b.less(u, retain), x.dtype)
    return b.mul(b.mul(x, keep), 1.0 / retain)
