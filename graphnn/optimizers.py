"""Optimizers with Keras's update equations, built as graph updates of the training function.

Hyperparameters (``lr``, ``momentum``, ``decay`` ...) are variables, so
``K.set_value(model.optimizer.lr, x)`` takes effect on the next step without recompiling.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from ir.tensor import Tensor, origin_scope

from . import backend as K
from .utils.generic_utils import deserialize_object


def clip_norm(g: Tensor, c: float, n: Tensor) -> Tensor:
    """Scale ``g`` by ``c / n`` when the global norm ``n`` exceeds ``c``."""
    if c <= 0:
        return g
    return K.switch(K.greater_equal(n, c), g * c / n, g)


class Optimizer:
    """Base class.  ``get_updates(params, constraints, loss)`` (Keras 1/2.0) or
    ``get_updates(loss, params)`` (Keras 2.1+) returns ``[(variable, new_value), ...]``."""

    def __init__(self, **kwargs):
        allowed = {"clipnorm", "clipvalue"}
        for k in kwargs:
            if k not in allowed:
                raise TypeError("Unexpected keyword argument passed to optimizer: " + str(k))
        self.__dict__.update(kwargs)
        self.updates: List[tuple] = []
        self.weights: List[Tensor] = []

    @staticmethod
    def _lr_kwarg(lr, kwargs) -> float:
        """Accept the newer ``learning_rate=`` spelling of ``lr``."""
        if "learning_rate" in kwargs:
            return kwargs.pop("learning_rate")
        return lr

    def _decayed_lr(self) -> Tensor:
        lr = self.lr
        if self.initial_decay > 0:
            lr = lr * (1.0 / (1.0 + self.decay * self.iterations))
        return lr

    @staticmethod
    def _parse_args(args, kwargs):
        """(params, constraints, loss) from either signature."""
        params = kwargs.pop("params", None)
        constraints = kwargs.pop("constraints", None)
        loss = kwargs.pop("loss", None)
        args = list(args)
        if args and isinstance(args[0], Tensor) and args[0].ndim == 0 and loss is None:
            loss = args.pop(0)  # Keras 2.1+: (loss, params)
            if args:
                params = args.pop(0)
        else:
            if args:
                params = args.pop(0)
            if args:
                constraints = args.pop(0)
            if args:
                loss = args.pop(0)
        if params is None or loss is None:
            raise TypeError("get_updates needs params and loss")
        return list(params), dict(constraints or {}), loss

    def get_updates(self, *args, **kwargs) -> List[tuple]:
        params, constraints, loss = self._parse_args(args, kwargs)
        with origin_scope(type(self).__name__.lower()):
            self.updates = self._updates(params, constraints, loss)
        return self.updates

    def _updates(self, params, constraints, loss) -> List[tuple]:
        raise NotImplementedError

    def _constrained(self, p: Tensor, new_p: Tensor, constraints: Dict) -> Tensor:
        c = constraints.get(p) if constraints else None
        if c is None:
            c = getattr(p, "constraint", None)
        return c(new_p) if c is not None else new_p

    def get_gradients(self, loss: Tensor, params: Sequence[Tensor]) -> List[Tensor]:
        grads = K.gradients(loss, params)
        if getattr(self, "clipnorm", 0) and self.clipnorm > 0:
            norm = K.sqrt(sum(K.sum(K.square(g)) for g in grads))
            grads = [clip_norm(g, self.clipnorm, norm) for g in grads]
        if getattr(self, "clipvalue", 0) and self.clipvalue > 0:
            grads = [K.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def set_weights(self, weights) -> None:
        if len(weights) != len(self.weights):
            raise ValueError("Length of the specified weight list (" + str(len(weights)) +
                             ") does not match the number of weights of the optimizer (" +
                             str(len(self.weights)) + ")")
        K.batch_set_value(zip(self.weights, weights))

    def get_weights(self):
        return K.batch_get_value(self.weights)

    def get_config(self) -> dict:
        config = {}
        if hasattr(self, "clipnorm"):
            config["clipnorm"] = self.clipnorm
        if hasattr(self, "clipvalue"):
            config["clipvalue"] = self.clipvalue
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        return cls(**config)


class SGD(Optimizer):
    """SGD with momentum, learning-rate decay and Nesterov momentum (Keras equations)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, decay: float = 0.0,
                 nesterov: bool = False, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self.iterations = K.variable(0.0, name="iterations")
        self.lr = K.variable(lr, name="lr")
        self.momentum = K.variable(momentum, name="momentum")
        self.decay = K.variable(decay, name="decay")
        self.initial_decay = decay
        self.nesterov = nesterov

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        updates = []
        lr = self.lr
        if self.initial_decay > 0:
            lr = self._decayed_lr()
            updates.append(K.update_add(self.iterations, 1.0))
        moments = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = [self.iterations] + moments
        for p, g, m in zip(params, grads, moments):
            v = self.momentum * m - lr * g  # velocity
            updates.append(K.update(m, v))
            if self.nesterov:
                new_p = p + self.momentum * v - lr * g
            else:
                new_p = p + v
            updates.append(K.update(p, self._constrained(p, new_p, constraints)))
        return updates

    def get_config(self):
        return dict(super().get_config(), lr=float(K.get_value(self.lr)),
                    momentum=float(K.get_value(self.momentum)),
                    decay=float(K.get_value(self.decay)), nesterov=self.nesterov)


class RMSprop(Optimizer):
    def __init__(self, lr: float = 0.001, rho: float = 0.9, epsilon: float = 1e-8,
                 decay: float = 0.0, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self.lr = K.variable(lr, name="lr")
        self.rho = K.variable(rho, name="rho")
        self.epsilon = epsilon
        self.decay = K.variable(decay, name="decay")
        self.initial_decay = decay
        self.iterations = K.variable(0.0, name="iterations")

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        accumulators = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = accumulators
        updates = []
        lr = self.lr
        if self.initial_decay > 0:
            lr = self._decayed_lr()
            updates.append(K.update_add(self.iterations, 1.0))
        for p, g, a in zip(params, grads, accumulators):
            new_a = self.rho * a + (1.0 - self.rho) * K.square(g)
            updates.append(K.update(a, new_a))
            new_p = p - lr * g / (K.sqrt(new_a) + self.epsilon)
            updates.append(K.update(p, self._constrained(p, new_p, constraints)))
        return updates

    def get_config(self):
        return dict(super().get_config(), lr=float(K.get_value(self.lr)),
                    rho=float(K.get_value(self.rho)), decay=float(K.get_value(self.decay)),
                    epsilon=self.epsilon)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with the bias correction folded into the step size, as Keras does."""

    def __init__(self, lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, decay: float = 0.0, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self.iterations = K.variable(0.0, name="iterations")
        self.lr = K.variable(lr, name="lr")
        self.beta_1 = K.variable(beta_1, name="beta_1")
        self.beta_2 = K.variable(beta_2, name="beta_2")
        self.epsilon = epsilon
        self.decay = K.variable(decay, name="decay")
        self.initial_decay = decay

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        updates = [K.update_add(self.iterations, 1.0)]
        lr = self._decayed_lr()
        t = self.iterations + 1.0
        lr_t = lr * (K.sqrt(1.0 - K.pow(self.beta_2, t)) / (1.0 - K.pow(self.beta_1, t)))
        ms = [K.zeros(tuple(p.shape)) for p in params]
        vs = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = [self.iterations] + ms + vs
        for p, g, m, v in zip(params, grads, ms, vs):
            m_t = (self.beta_1 * m) + (1.0 - self.beta_1) * g
            v_t = (self.beta_2 * v) + (1.0 - self.beta_2) * K.square(g)
            p_t = p - lr_t * m_t / (K.sqrt(v_t) + self.epsilon)
            updates.append(K.update(m, m_t))
            updates.append(K.update(v, v_t))
            updates.append(K.update(p, self._constrained(p, p_t, constraints)))
        return updates

    def get_config(self):
        return dict(super().get_config(), lr=float(K.get_value(self.lr)),
                    beta_1=float(K.get_value(self.beta_1)),
                    beta_2=float(K.get_value(self.beta_2)),
                    decay=float(K.get_value(self.decay)), epsilon=self.epsilon)


sgd, rmsprop, adam = SGD, RMSprop, Adam

_ALL = {"SGD": SGD, "RMSprop": RMSprop, "Adam": Adam, "sgd": SGD, "rmsprop": RMSprop,
        "adam": Adam}


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": optimizer.__class__.__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None) -> Optimizer:
    return deserialize_object(config, _ALL, "optimizer", custom_objects)


def get(identifier) -> Optimizer:
    """'sgd' / 'rmsprop' / 'adam' (fresh instance with Keras defaults), a config, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    opt = deserialize(identifier)
    if not isinstance(opt, Optimizer):
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
    return opt
