"""Optimizers with Keras's update equations, built as graph updates of the training function.

SGD (momentum, Nesterov), RMSprop, Adagrad, Adadelta, Adam (and AMSGrad), Adamax, Nadam; each
takes ``clipnorm``, ``clipvalue`` and ``decay`` (``lr / (1 + decay * iterations)``), the Keras 1
names and the Keras 2 ones (``learning_rate`` for ``lr``).  Hyperparameters (``lr``,
``momentum``, ``decay`` ...) are variables, so ``K.set_value(model.optimizer.lr, x)`` takes
effect on the next step without recompiling.  The equations are those of Keras 1.2.2/2.0 (the
tests transcribe them in numpy).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

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

    def _init_common(self, lr: float, decay: float) -> None:
        self.iterations = K.variable(0.0, name="iterations")
        self.lr = K.variable(lr, name="lr")
        self.decay = K.variable(decay, name="decay")
        self.initial_decay = decay

    @property
    def learning_rate(self) -> Tensor:  # Keras 2.3 name
        return self.lr

    def _count_iteration(self) -> List[tuple]:
        """``iterations += 1`` where something reads it: with decay only, as Keras 1.2.2 did for
        the optimizers without bias correction (one update less per step)."""
        return [K.update_add(self.iterations, 1.0)] if self.initial_decay > 0 else []

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
        config = dict(config)
        config.pop("name", None)  # Keras 1 configs carry the class name
        return cls(**config)


def _eps(epsilon) -> float:
    """Keras 2.1+ ``epsilon=None`` means the backend fuzz factor."""
    return float(K.epsilon() if epsilon is None else epsilon)


class SGD(Optimizer):
    """SGD with momentum, learning-rate decay and Nesterov momentum (Keras equations)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, decay: float = 0.0,
                 nesterov: bool = False, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self._init_common(lr, decay)
        self.momentum = K.variable(momentum, name="momentum")
        self.nesterov = bool(nesterov)

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        lr = self._decayed_lr()
        updates = self._count_iteration()
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
    """Divides the gradient by a running RMS of recent gradients (Tieleman & Hinton)."""

    def __init__(self, lr: float = 0.001, rho: float = 0.9, epsilon: Optional[float] = 1e-8,
                 decay: float = 0.0, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self._init_common(lr, decay)
        self.rho = K.variable(rho, name="rho")
        self.epsilon = _eps(epsilon)

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        accumulators = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = accumulators
        lr = self._decayed_lr()
        updates = self._count_iteration()
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


class Adagrad(Optimizer):
    """Per-parameter step sizes shrinking with the sum of squared past gradients (Duchi et al.)."""

    def __init__(self, lr: float = 0.01, epsilon: Optional[float] = 1e-8, decay: float = 0.0,
                 **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self._init_common(lr, decay)
        self.epsilon = _eps(epsilon)

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        accumulators = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = accumulators
        lr = self._decayed_lr()
        updates = self._count_iteration()
        for p, g, a in zip(params, grads, accumulators):
            new_a = a + K.square(g)
            updates.append(K.update(a, new_a))
            new_p = p - lr * g / (K.sqrt(new_a) + self.epsilon)
            updates.append(K.update(p, self._constrained(p, new_p, constraints)))
        return updates

    def get_config(self):
        return dict(super().get_config(), lr=float(K.get_value(self.lr)),
                    epsilon=self.epsilon, decay=float(K.get_value(self.decay)))


class Adadelta(Optimizer):
    """Steps scaled by the ratio of running RMS of updates to running RMS of gradients
    (Zeiler 2012); ``lr`` (default 1.0) only rescales that step."""

    def __init__(self, lr: float = 1.0, rho: float = 0.95, epsilon: Optional[float] = 1e-8,
                 decay: float = 0.0, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self._init_common(lr, decay)
        self.rho = float(rho)
        self.epsilon = _eps(epsilon)

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        accumulators = [K.zeros(tuple(p.shape)) for p in params]
        delta_accumulators = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = accumulators + delta_accumulators
        lr = self._decayed_lr()
        updates = self._count_iteration()
        for p, g, a, d_a in zip(params, grads, accumulators, delta_accumulators):
            new_a = self.rho * a + (1.0 - self.rho) * K.square(g)
            updates.append(K.update(a, new_a))
            step = g * K.sqrt(d_a + self.epsilon) / K.sqrt(new_a + self.epsilon)
            new_p = p - lr * step
            updates.append(K.update(p, self._constrained(p, new_p, constraints)))
            updates.append(K.update(d_a, self.rho * d_a + (1.0 - self.rho) * K.square(step)))
        return updates

    def get_config(self):
        return dict(super().get_config(), lr=float(K.get_value(self.lr)), rho=self.rho,
                    epsilon=self.epsilon, decay=float(K.get_value(self.decay)))


class Adam(Optimizer):
    """Adam (Kingma & Ba) with the bias correction folded into the step size, as Keras does;
    ``amsgrad=True`` divides by the running maximum of the second moment (Reddi et al.)."""

    def __init__(self, lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: Optional[float] = 1e-8, decay: float = 0.0, amsgrad: bool = False,
                 **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self._init_common(lr, decay)
        self.beta_1 = K.variable(beta_1, name="beta_1")
        self.beta_2 = K.variable(beta_2, name="beta_2")
        self.epsilon = _eps(epsilon)
        self.amsgrad = bool(amsgrad)

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        updates = [K.update_add(self.iterations, 1.0)]
        lr = self._decayed_lr()
        t = self.iterations + 1.0
        lr_t = lr * (K.sqrt(1.0 - K.pow(self.beta_2, t)) / (1.0 - K.pow(self.beta_1, t)))
        ms = [K.zeros(tuple(p.shape)) for p in params]
        vs = [K.zeros(tuple(p.shape)) for p in params]
        vhats = [K.zeros(tuple(p.shape)) for p in params] if self.amsgrad else []
        self.weights = [self.iterations] + ms + vs + vhats
        for i, (p, g, m, v) in enumerate(zip(params, grads, ms, vs)):
            m_t = (self.beta_1 * m) + (1.0 - self.beta_1) * g
            v_t = (self.beta_2 * v) + (1.0 - self.beta_2) * K.square(g)
            if self.amsgrad:
                vhat_t = K.maximum(vhats[i], v_t)
                updates.append(K.update(vhats[i], vhat_t))
                p_t = p - lr_t * m_t / (K.sqrt(vhat_t) + self.epsilon)
            else:
                p_t = p - lr_t * m_t / (K.sqrt(v_t) + self.epsilon)
            updates.append(K.update(m, m_t))
            updates.append(K.update(v, v_t))
            updates.append(K.update(p, self._constrained(p, p_t, constraints)))
        return updates

    def get_config(self):
        config = dict(super().get_config(), lr=float(K.get_value(self.lr)),
                      beta_1=float(K.get_value(self.beta_1)),
                      beta_2=float(K.get_value(self.beta_2)),
                      decay=float(K.get_value(self.decay)), epsilon=self.epsilon)
        if self.amsgrad:
            config["amsgrad"] = True
        return config


class Adamax(Optimizer):
    """Adam with the infinity norm in place of the second moment (Kingma & Ba, section 7)."""

    def __init__(self, lr: float = 0.002, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: Optional[float] = 1e-8, decay: float = 0.0, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self._init_common(lr, decay)
        self.beta_1 = K.variable(beta_1, name="beta_1")
        self.beta_2 = K.variable(beta_2, name="beta_2")
        self.epsilon = _eps(epsilon)

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        updates = [K.update_add(self.iterations, 1.0)]
        lr = self._decayed_lr()
        t = self.iterations + 1.0
        lr_t = lr / (1.0 - K.pow(self.beta_1, t))
        ms = [K.zeros(tuple(p.shape)) for p in params]
        us = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = [self.iterations] + ms + us
        for p, g, m, u in zip(params, grads, ms, us):
            m_t = (self.beta_1 * m) + (1.0 - self.beta_1) * g
            u_t = K.maximum(self.beta_2 * u, K.abs(g))
            p_t = p - lr_t * m_t / (u_t + self.epsilon)
            updates.append(K.update(m, m_t))
            updates.append(K.update(u, u_t))
            updates.append(K.update(p, self._constrained(p, p_t, constraints)))
        return updates

    def get_config(self):
        return dict(super().get_config(), lr=float(K.get_value(self.lr)),
                    beta_1=float(K.get_value(self.beta_1)),
                    beta_2=float(K.get_value(self.beta_2)),
                    decay=float(K.get_value(self.decay)), epsilon=self.epsilon)


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2015), with Keras's momentum schedule
    ``beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))``.  ``decay`` (not in Keras's Nadam)
    decays ``lr`` like the other optimizers; 0 by default."""

    def __init__(self, lr: float = 0.002, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: Optional[float] = 1e-8, schedule_decay: float = 0.004,
                 decay: float = 0.0, **kwargs):
        lr = self._lr_kwarg(lr, kwargs)
        super().__init__(**kwargs)
        self._init_common(lr, decay)
        self.m_schedule = K.variable(1.0, name="m_schedule")
        self.beta_1 = K.variable(beta_1, name="beta_1")
        self.beta_2 = K.variable(beta_2, name="beta_2")
        self.epsilon = _eps(epsilon)
        self.schedule_decay = float(schedule_decay)

    def _updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        updates = [K.update_add(self.iterations, 1.0)]
        lr = self._decayed_lr()
        t = self.iterations + 1.0
        cache_t = self.beta_1 * (1.0 - 0.5 * K.pow(0.96, t * self.schedule_decay))
        cache_t_1 = self.beta_1 * (1.0 - 0.5 * K.pow(0.96, (t + 1.0) * self.schedule_decay))
        m_schedule_new = self.m_schedule * cache_t
        m_schedule_next = self.m_schedule * cache_t * cache_t_1
        updates.append(K.update(self.m_schedule, m_schedule_new))
        ms = [K.zeros(tuple(p.shape)) for p in params]
        vs = [K.zeros(tuple(p.shape)) for p in params]
        self.weights = [self.iterations] + ms + vs
        for p, g, m, v in zip(params, grads, ms, vs):
            g_prime = g / (1.0 - m_schedule_new)
            m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
            m_t_prime = m_t / (1.0 - m_schedule_next)
            v_t = self.beta_2 * v + (1.0 - self.beta_2) * K.square(g)
            v_t_prime = v_t / (1.0 - K.pow(self.beta_2, t))
            m_t_bar = (1.0 - cache_t) * g_prime + cache_t_1 * m_t_prime
            p_t = p - lr * m_t_bar / (K.sqrt(v_t_prime) + self.epsilon)
            updates.append(K.update(m, m_t))
            updates.append(K.update(v, v_t))
            updates.append(K.update(p, self._constrained(p, p_t, constraints)))
        return updates

    def get_config(self):
        config = dict(super().get_config(), lr=float(K.get_value(self.lr)),
                      beta_1=float(K.get_value(self.beta_1)),
                      beta_2=float(K.get_value(self.beta_2)), epsilon=self.epsilon,
                      schedule_decay=self.schedule_decay)
        if self.initial_decay:
            config["decay"] = float(K.get_value(self.decay))
        return config


# Keras 1 lower-case aliases
sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = (SGD, RMSprop, Adagrad, Adadelta, Adam,
                                                        Adamax, Nadam)

_ALL = {cls.__name__: cls for cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)}
_ALL.update({name.lower(): cls for name, cls in list(_ALL.items())})


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": optimizer.__class__.__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None) -> Optimizer:
    """From ``{'class_name': 'Adam', 'config': {...}}`` (class names match case-insensitively,
    as in Keras 2) or a name."""
    if isinstance(config, dict) and isinstance(config.get("class_name"), str) and \
            config["class_name"] not in _ALL and config["class_name"].lower() in _ALL:
        config = dict(config, class_name=config["class_name"].lower())
    return deserialize_object(config, _ALL, "optimizer", custom_objects)


def get(identifier, kwargs: Optional[dict] = None) -> Optimizer:
    """A name ('sgd', 'adam'...; a fresh instance with Keras defaults, or with ``kwargs`` as in
    Keras 1), a config dict, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and kwargs:
        identifier = {"class_name": identifier, "config": dict(kwargs)}
    if isinstance(identifier, str) and identifier not in _ALL and identifier.lower() in _ALL:
        identifier = identifier.lower()
    opt = deserialize(identifier)
    if not isinstance(opt, Optimizer):
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
    return opt
