"""Weight initializers (Keras 2 objects; the Keras 1 formulas, drawn with numpy's global RNG).

An initializer is called as ``init(shape, dtype=None)`` and returns a numpy array; layers turn it
into a variable.  ``np.random.seed`` therefore makes initial weights reproducible, as in Keras 1.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .backend import floatx
from .utils.generic_utils import deserialize_object, serialize_object


def get_fans(shape) -> tuple:
    """(fan_in, fan_out); convolution kernels are channels-last ``(..., in, out)``."""
    shape = tuple(shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) > 2:
        rf = int(np.prod(shape[:-2]))
        return shape[-2] * rf, shape[-1] * rf
    n = int(np.sqrt(np.prod(shape))) if shape else 1
    return n, n


class Initializer:
    seed: Optional[int] = None

    def _rng(self):
        return np.random.RandomState(self.seed) if self.seed is not None else np.random

    def __call__(self, shape, dtype: Optional[str] = None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype or floatx())


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype or floatx())


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype or floatx())

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Optional[int] = None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, size=shape).astype(dtype or floatx())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, size=shape).astype(dtype or floatx())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal draws outside two standard deviations are redrawn."""

    def __call__(self, shape, dtype=None):
        rng = self._rng()
        out = rng.normal(0.0, 1.0, size=shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * self.stddev + self.mean).astype(dtype or floatx())


class _FanScaled(Initializer):
    """Uniform or normal draws whose scale is a function of the fans (Keras 1 formulas)."""
    distribution = "uniform"

    def __init__(self, seed: Optional[int] = None):
        self.seed = seed

    def scale(self, fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def __call__(self, shape, dtype=None):
        s = self.scale(*get_fans(shape))
        rng = self._rng()
        if self.distribution == "uniform":
            v = rng.uniform(-s, s, size=shape)
        else:
            v = rng.normal(0.0, s, size=shape)
        return v.astype(dtype or floatx())

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_FanScaled):
    def scale(self, fan_in, fan_out):
        return np.sqrt(6.0 / (fan_in + fan_out))


class GlorotNormal(_FanScaled):
    distribution = "normal"

    def scale(self, fan_in, fan_out):
        return np.sqrt(2.0 / (fan_in + fan_out))


class HeUniform(_FanScaled):
    def scale(self, fan_in, fan_out):
        return np.sqrt(6.0 / fan_in)


class HeNormal(_FanScaled):
    distribution = "normal"

    def scale(self, fan_in, fan_out):
        return np.sqrt(2.0 / fan_in)


class LecunUniform(_FanScaled):
    def scale(self, fan_in, fan_out):
        return np.sqrt(3.0 / fan_in)


class LecunNormal(_FanScaled):
    distribution = "normal"

    def scale(self, fan_in, fan_out):
        return np.sqrt(1.0 / fan_in)


class Orthogonal(Initializer):
    def __init__(self, gain: float = 1.0, seed: Optional[int] = None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        flat_shape = (shape[0], int(np.prod(shape[1:])))
        a = self._rng().normal(0.0, 1.0, flat_shape)
        u, _, v = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat_shape else v
        return (self.gain * q.reshape(shape)).astype(dtype or floatx())

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices.")
        return (self.gain * np.eye(*shape)).astype(dtype or floatx())

    def get_config(self):
        return {"gain": self.gain}


class VarianceScaling(Initializer):
    """Keras 2's general form of the fan-scaled initializers (files written by Keras 2 name it
    in place of ``glorot_uniform``): variance ``scale / n``, ``n`` the fan in, out or their mean;
    a normal distribution is truncated at two standard deviations."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal",
                 seed: Optional[int] = None):
        if scale <= 0.0:
            raise ValueError("`scale` must be a positive float. Got:", scale)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError("Invalid `mode` argument: expected on of {\"fan_in\", \"fan_out\", "
                             "\"fan_avg\"} but got", mode)
        if distribution not in ("normal", "uniform"):
            raise ValueError("Invalid `distribution` argument: expected one of {\"normal\", "
                             "\"uniform\"} but got", distribution)
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = get_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * scale)
            return self._rng().uniform(-limit, limit, size=shape).astype(dtype or floatx())
        return TruncatedNormal(0.0, np.sqrt(scale), seed=self.seed)(shape, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


# Keras 2 lower-case factories
def zeros() -> Initializer: return Zeros()  # noqa: E704
def ones() -> Initializer: return Ones()  # noqa: E704
def glorot_uniform(seed=None) -> Initializer: return GlorotUniform(seed)  # noqa: E704
def glorot_normal(seed=None) -> Initializer: return GlorotNormal(seed)  # noqa: E704
def he_uniform(seed=None) -> Initializer: return HeUniform(seed)  # noqa: E704
def he_normal(seed=None) -> Initializer: return HeNormal(seed)  # noqa: E704
def lecun_uniform(seed=None) -> Initializer: return LecunUniform(seed)  # noqa: E704
def lecun_normal(seed=None) -> Initializer: return LecunNormal(seed)  # noqa: E704


_CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, RandomUniform, RandomNormal,
                                     TruncatedNormal, GlorotUniform, GlorotNormal, HeUniform,
                                     HeNormal, LecunUniform, LecunNormal, Orthogonal, Identity,
                                     VarianceScaling)}
_NAMES = {
    "zero": Zeros, "zeros": Zeros, "one": Ones, "ones": Ones, "constant": Constant,
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity, "variance_scaling": VarianceScaling,
}


def serialize(initializer) -> object:
    return serialize_object(initializer)


def deserialize(config, custom_objects=None):
    return deserialize_object(config, {**_CLASSES, **_NAMES}, "initializer", custom_objects)


def get(identifier):
    """A name ('glorot_uniform', Keras 1 'uniform'/'zero' too), a config dict, an instance, or a
    callable ``f(shape, ...)`` returning an array or a variable (Keras 1 style)."""
    if identifier is None:
        return None
    return deserialize(identifier)
