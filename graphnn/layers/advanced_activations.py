"""Activations with parameters or learned weights: LeakyReLU, PReLU, ELU, ThresholdedReLU and
the Keras 1 ParametricSoftplus and SReLU."""
from __future__ import annotations

from typing import Optional, Sequence

from .. import backend as K
from .. import constraints, initializers, regularizers
from ..engine.topology import InputSpec, Layer
from ..utils.generic_utils import serialize_object
from .core import _first


class LeakyReLU(Layer):
    """``x`` for ``x > 0``, ``alpha * x`` otherwise: a small gradient keeps units alive."""

    def __init__(self, alpha: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha = float(alpha)

    def call(self, inputs, mask=None):
        return K.relu(inputs, alpha=self.alpha)

    def get_config(self) -> dict:
        return dict(super().get_config(), alpha=self.alpha)


class ELU(Layer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise (Clevert et al. 2015)."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha = float(alpha)

    def call(self, inputs, mask=None):
        return K.elu(inputs, self.alpha)

    def get_config(self) -> dict:
        return dict(super().get_config(), alpha=self.alpha)


class ThresholdedReLU(Layer):
    """``x`` for ``x > theta``, 0 otherwise (Konda et al. 2014)."""

    def __init__(self, theta: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.theta = float(theta)

    def call(self, inputs, mask=None):
        return inputs * K.cast(K.greater(inputs, self.theta), inputs.dtype)

    def get_config(self) -> dict:
        return dict(super().get_config(), theta=self.theta)


def _shared_axes(shared_axes) -> Optional[list]:
    if shared_axes is None:
        return None
    if isinstance(shared_axes, (list, tuple)):
        return [int(a) for a in shared_axes]
    return [int(shared_axes)]


class _Parametric(Layer):
    """A layer with weights shaped like one sample, except ``shared_axes`` (1-indexed, as in
    Keras: axes where one parameter serves every position, e.g. the spatial axes of images)."""

    def __init__(self, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.shared_axes = _shared_axes(shared_axes)

    def _param_shape(self, input_shape) -> tuple:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis < len(input_shape):
                raise ValueError(type(self).__name__ + " (layer " + self.name + "): shared axis " +
                                 str(axis) + " is out of range for input shape " +
                                 str(tuple(input_shape)))
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(type(self).__name__ + " (layer " + self.name + ") needs known "
                             "dimensions for its weights (or shared_axes over the free ones); "
                             "input shape " + str(tuple(input_shape)))
        return tuple(shape)

    def _set_spec(self, input_shape) -> None:
        axes = {i: d for i, d in enumerate(input_shape) if i > 0 and
                i not in (self.shared_axes or [])}
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)

    def get_config(self) -> dict:
        return dict(super().get_config(), shared_axes=self.shared_axes)


class PReLU(_Parametric):
    """Leaky ReLU with a learned slope per unit: ``relu(x) - alpha * relu(-x)`` (He et al. 2015).
    Keras 2: ``alpha_initializer='zeros', alpha_regularizer, alpha_constraint, shared_axes``;
    Keras 1: ``init='zero'``."""

    def __init__(self, alpha_initializer=None, alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, init=None, **kwargs):
        super().__init__(shared_axes=shared_axes, **kwargs)
        self.alpha_initializer = initializers.get(_first(alpha_initializer, init, "zeros"))
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)

    def build(self, input_shape) -> None:
        self.alpha = self.add_weight(self._param_shape(input_shape), self.alpha_initializer,
                                     name="alpha", regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.alphas = self.alpha  # Keras 1 name
        self._set_spec(input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        return K.relu(inputs) - self.alpha * K.relu(-inputs)

    def get_config(self) -> dict:
        return dict(super().get_config(),
                    alpha_initializer=initializers.serialize(self.alpha_initializer),
                    alpha_regularizer=serialize_object(self.alpha_regularizer),
                    alpha_constraint=serialize_object(self.alpha_constraint))


class ParametricSoftplus(_Parametric):
    """``alpha * softplus(beta * x)`` with learned ``alpha``/``beta`` per unit (Keras 1; McFarland
    et al. 2013).  Weights ``alphas, betas``."""

    def __init__(self, alpha_init: float = 0.2, beta_init: float = 5.0, shared_axes=None,
                 **kwargs):
        super().__init__(shared_axes=shared_axes, **kwargs)
        self.alpha_init = float(alpha_init)
        self.beta_init = float(beta_init)

    def build(self, input_shape) -> None:
        shape = self._param_shape(input_shape)
        self.alphas = self.add_weight(shape, initializers.Constant(self.alpha_init),
                                      name="alphas")
        self.betas = self.add_weight(shape, initializers.Constant(self.beta_init), name="betas")
        self._set_spec(input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        return K.softplus(self.betas * inputs) * self.alphas

    def get_config(self) -> dict:
        return dict(super().get_config(), alpha_init=self.alpha_init, beta_init=self.beta_init)


class SReLU(_Parametric):
    """S-shaped ReLU (Jin et al. 2015), Keras 1: three linear pieces with learned thresholds
    ``t_left``, ``t_right = t_left + |t_right|`` and slopes ``a_left`` (below t_left),
    1 (between), ``a_right`` (above t_right).  Weights ``t_left, a_left, t_right, a_right``."""

    def __init__(self, t_left_init="zeros", a_left_init="glorot_uniform",
                 t_right_init="glorot_uniform", a_right_init="ones", shared_axes=None,
                 **kwargs):
        super().__init__(shared_axes=shared_axes, **kwargs)
        self.t_left_init = initializers.get(t_left_init)
        self.a_left_init = initializers.get(a_left_init)
        self.t_right_init = initializers.get(t_right_init)
        self.a_right_init = initializers.get(a_right_init)

    def build(self, input_shape) -> None:
        shape = self._param_shape(input_shape)
        self.t_left = self.add_weight(shape, self.t_left_init, name="t_left")
        self.a_left = self.add_weight(shape, self.a_left_init, name="a_left")
        self.t_right = self.add_weight(shape, self.t_right_init, name="t_right")
        self.a_right = self.add_weight(shape, self.a_right_init, name="a_right")
        self._set_spec(input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        t_right = self.t_left + K.abs(self.t_right)
        centre = K.minimum(K.relu(inputs - self.t_left), t_right - self.t_left)
        left = self.a_left * K.relu(self.t_left - inputs)
        right = self.a_right * K.relu(inputs - t_right)
        return self.t_left + centre - left + right

    def get_config(self) -> dict:
        return dict(super().get_config(),
                    t_left_init=initializers.serialize(self.t_left_init),
                    a_left_init=initializers.serialize(self.a_left_init),
                    t_right_init=initializers.serialize(self.t_right_init),
                    a_right_init=initializers.serialize(self.a_right_init))


__all__: Sequence[str] = ("LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ParametricSoftplus",
                          "SReLU")
