"""BatchNormalization (Ioffe & Szegedy 2015)."""
from __future__ import annotations

from .. import backend as K
from .. import constraints, initializers, regularizers
from ..engine.topology import InputSpec, Layer
from ..utils.generic_utils import serialize_object
from .core import _first


class BatchNormalization(Layer):
    """Normalizes each feature (along ``axis``) to zero mean and unit variance, then scales by
    ``gamma`` and shifts by ``beta``.

    Training uses the statistics of the batch and moves ``moving_mean``/``moving_variance``
    towards them (``moving = momentum * moving + (1 - momentum) * batch``, biased batch variance
    as in Keras 1.2.2/2.0); the updates are layer updates, so ``fit`` applies them inside the
    compiled train step.  Inference uses the moving averages.

    Keras 2: ``axis=-1, momentum=0.99, epsilon=1e-3, center, scale, beta_initializer,
    gamma_initializer, moving_mean_initializer, moving_variance_initializer, beta_regularizer,
    gamma_regularizer, beta_constraint, gamma_constraint``.  Keras 1: ``mode`` (0: as above;
    1: per-sample normalization over the last axis; 2: batch statistics in training and in
    inference, no moving averages), ``beta_init``, ``gamma_init``.  Weights, in order:
    ``gamma, beta, moving_mean, moving_variance`` (gamma/beta absent without scale/center).
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer=None,
                 gamma_initializer=None, moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 mode: int = 0, beta_init=None, gamma_init=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in (0, 1, 2):
            raise ValueError("Invalid mode for BatchNormalization: " + str(mode) +
                             " (expected 0, 1 or 2)")
        self.supports_masking = True
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.mode = int(mode)
        self.beta_initializer = initializers.get(_first(beta_initializer, beta_init, "zeros"))
        self.gamma_initializer = initializers.get(_first(gamma_initializer, gamma_init, "ones"))
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape) -> None:
        ndim = len(input_shape)
        axis = self.axis % ndim if -ndim <= self.axis < ndim else None
        if axis is None or axis == 0:
            raise ValueError("BatchNormalization (layer " + self.name + "): axis " +
                             str(self.axis) + " is not a feature axis of input shape " +
                             str(tuple(input_shape)))
        dim = input_shape[axis]
        if dim is None:
            raise ValueError("Axis " + str(self.axis) + " of input tensor should have a defined "
                             "dimension but the layer received an input with shape " +
                             str(tuple(input_shape)) + ".")
        self.input_spec = InputSpec(ndim=ndim, axes={axis: dim})
        shape = (dim,)
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer, name="gamma",
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, name="beta",
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer,
                                           name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer,
                                               name="moving_variance", trainable=False)
        self.running_mean, self.running_std = self.moving_mean, self.moving_variance  # Keras 1
        self.built = True

    def _broadcast(self, param, ndim: int, axis: int):
        """A (features,) weight shaped to broadcast against the input along ``axis``."""
        if param is None or axis == ndim - 1:
            return param
        shape = [1] * ndim
        shape[axis] = int(param.shape[0])
        return K.reshape(param, shape)

    def _affine(self, normed, ndim: int, axis: int):
        if self.scale:
            normed = normed * self._broadcast(self.gamma, ndim, axis)
        if self.center:
            normed = normed + self._broadcast(self.beta, ndim, axis)
        return normed

    def call(self, inputs, mask=None):
        ndim = K.ndim(inputs)
        axis = self.axis % ndim
        if self.mode == 1:
            mean = K.mean(inputs, axis=-1, keepdims=True)
            std = K.sqrt(K.var(inputs, axis=-1, keepdims=True) + self.epsilon)
            return self._affine((inputs - mean) / (std + self.epsilon), ndim, axis)
        reduction = [i for i in range(ndim) if i != axis]
        mean = K.mean(inputs, axis=reduction, keepdims=True)
        var = K.mean(K.square(inputs - mean), axis=reduction, keepdims=True)
        in_train = self._affine((inputs - mean) / K.sqrt(var + self.epsilon), ndim, axis)
        if self.mode == 2:
            return in_train
        flat_mean = K.reshape(mean, (-1,))
        flat_var = K.reshape(var, (-1,))
        self.add_update([K.moving_average_update(self.moving_mean, flat_mean, self.momentum),
                         K.moving_average_update(self.moving_variance, flat_var, self.momentum)],
                        inputs)
        moving_mean = self._broadcast(self.moving_mean, ndim, axis)
        moving_var = self._broadcast(self.moving_variance, ndim, axis)
        in_test = self._affine((inputs - moving_mean) / K.sqrt(moving_var + self.epsilon),
                               ndim, axis)
        return K.in_train_phase(in_train, in_test)

    def get_config(self) -> dict:
        config = {
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer":
                initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": serialize_object(self.beta_regularizer),
            "gamma_regularizer": serialize_object(self.gamma_regularizer),
            "beta_constraint": serialize_object(self.beta_constraint),
            "gamma_constraint": serialize_object(self.gamma_constraint),
        }
        if self.mode:
            config["mode"] = self.mode
        return dict(super().get_config(), **config)
