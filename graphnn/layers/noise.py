"""Noise layers: regularizers that perturb their input in the training phase only (identity in
inference)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import backend as K
from ..engine.topology import Layer
from .core import _first


class GaussianNoise(Layer):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` (Keras 1: ``sigma``)."""

    def __init__(self, stddev: Optional[float] = None, sigma: Optional[float] = None, **kwargs):
        super().__init__(**kwargs)
        stddev = _first(stddev, sigma)
        if stddev is None:
            raise TypeError("GaussianNoise needs a stddev (Keras 1: sigma)")
        self.supports_masking = True
        self.stddev = float(stddev)

    @property
    def sigma(self) -> float:  # Keras 1 name
        return self.stddev

    def call(self, inputs, mask=None):
        def noised():
            return inputs + K.random_normal(K.shape(inputs), 0.0, self.stddev,
                                            dtype=inputs.dtype)
        return K.in_train_phase(noised, inputs)

    def get_config(self) -> dict:
        return dict(super().get_config(), stddev=self.stddev)


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and variance ``rate / (1 - rate)`` (Keras 1:
    ``p``): dropout's variance without zeroing units."""

    def __init__(self, rate: Optional[float] = None, p: Optional[float] = None, **kwargs):
        super().__init__(**kwargs)
        rate = _first(rate, p)
        if rate is None:
            raise TypeError("GaussianDropout needs a rate (Keras 1: p)")
        self.supports_masking = True
        self.rate = float(rate)

    @property
    def p(self) -> float:  # Keras 1 name
        return self.rate

    def call(self, inputs, mask=None):
        if 0.0 < self.rate < 1.0:
            stddev = float(np.sqrt(self.rate / (1.0 - self.rate)))

            def noised():
                return inputs * K.random_normal(K.shape(inputs), 1.0, stddev, dtype=inputs.dtype)
            return K.in_train_phase(noised, inputs)
        return inputs

    def get_config(self) -> dict:
        return dict(super().get_config(), rate=self.rate)
