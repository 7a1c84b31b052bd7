"""``K.function`` and ``K.gradients``: the bridge from Keras-style code to ``runtime``."""
from __future__ import annotations

from typing import Dict, List, Sequence, Set, Tuple

import numpy as np

from ir import autodiff
from ir import builder as b
from ir.tensor import Tensor
from runtime.function import compile_function

from .phase import learning_phase_placeholder


def gradients(loss: Tensor, variables: Sequence[Tensor]) -> List[Tensor]:
    """d(loss)/d(variables); a non-scalar loss is summed first (as TensorFlow does)."""
    if loss.shape != ():
        loss = b.sum(loss)
    return autodiff.grad(loss, list(variables))


def _given_bool(t: Tensor, givens: Dict[int, object]):
    """The constant truth value of a where-condition fixed by ``givens`` (else None)."""
    while t.op in ("broadcast", "reshape") and t.id not in givens:
        t = t.inputs[0]
    if t.id in givens:
        return bool(np.asarray(givens[t.id]).reshape(-1)[0])
    return None


def _scan(roots: Sequence[Tensor], givens: Dict[int, object]) -> Tuple[Set[Tensor], Set[Tensor]]:
    """Random keys and placeholders live in the graph of ``roots`` (where-branches that
    ``givens`` switch off are skipped, so test-phase functions do not advance the random key)."""
    keys, placeholders, seen = set(), set(), set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        if t.id in seen:
            continue
        seen.add(t.id)
        if t.id in givens:
            continue
        if t.op == "random_uniform" and t.inputs[0].op == "variable":
            keys.add(t.inputs[0])
        if t.op == "placeholder":
            placeholders.add(t)
        if t.op == "where":
            cond = _given_bool(t.inputs[0], givens)
            if cond is not None:
                stack.append(t.inputs[1] if cond else t.inputs[2])
                continue
        stack.extend(t.inputs)
    return keys, placeholders


def _is_phase(t: Tensor) -> bool:
    return t.op == "placeholder" and t.name == "keras_learning_phase" and t.dtype == "bool" \
        and t.shape == ()


def _as_update(var: Tensor, value) -> Tuple[Tensor, Tensor]:
    """Accept Keras-style updates: cast/broadcast the value to the variable's type."""
    if not isinstance(value, Tensor):
        value = b.constant(np.asarray(value, dtype=var.dtype))
    if value.dtype != var.dtype:
        value = b.cast(value, var.dtype)
    if tuple(value.shape) != tuple(var.shape):
        value = b.broadcast_to(value, var.shape)
    return var, value


class Function:
    """Callable on a list of numpy arrays, returning a list of numpy arrays.  The runtime function
    is created on the first call; each call is one call of it."""

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor],
                 updates: Sequence = (), name: str = "function", givens=None, device=None):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.name = name
        self.device = device
        phase = learning_phase_placeholder()
        self.givens = dict(givens or {})
        ups, targets = [], set()
        for u in updates:
            var, value = _as_update(*u)
            if var.id in targets:
                raise ValueError(f"variable {var.name!r} is updated twice in one function")
            targets.add(var.id)
            ups.append((var, value))
        gid = {t.id: v for t, v in self.givens.items()}
        if phase not in self.inputs and phase.id not in gid:
            self.givens[phase] = False  # Keras 2.1+: the phase defaults to test
            gid[phase.id] = False
        keys, placeholders = _scan(self.outputs + [v for _, v in ups], gid)
        for p in placeholders:  # a phase placeholder from before K.clear_session(): bind it alike
            if _is_phase(p) and p is not phase and p not in self.inputs:
                self.givens[p] = gid[p.id] = gid.get(phase.id, False)
        missing = [p for p in placeholders if p not in self.inputs and p.id not in gid]
        if missing:
            names = ", ".join(sorted(repr(p.name) for p in missing))
            raise ValueError(f"K.function {name!r}: the outputs depend on placeholder(s) {names} "
                             "that are not among the inputs")
        for key in sorted(keys, key=lambda k: k.id):  # normally just K's one ``_rng_key``
            if key.id not in targets:
                ups.append((key, b.add(key, np.uint32(1))))
        self.updates = ups
        self._phase_index = self.inputs.index(phase) if phase in self.inputs else None
        self._fn = None

    def _build(self):
        self._fn = compile_function(self.inputs, self.outputs, self.updates, self.name,
                                    self.givens, self.device)
        return self._fn

    def __call__(self, inputs: Sequence) -> List[np.ndarray]:
        fn = self._fn or self._build()
        if self._phase_index is not None:
            inputs = list(inputs)
            inputs[self._phase_index] = np.asarray(bool(np.asarray(inputs[self._phase_index])))
        return fn(inputs)


_ALLOWED = {"name", "givens", "device"}


def function(inputs: Sequence[Tensor], outputs, updates=None, **kwargs) -> Function:
    """Keras ``K.function``.  ``givens`` binds tensors to constants (e.g. the learning phase)."""
    for k in kwargs:
        if k not in _ALLOWED:
            raise ValueError(f'Invalid argument "{k}" passed to K.function')
    single = isinstance(outputs, Tensor)
    f = Function(list(inputs), [outputs] if single else list(outputs), updates or [], **kwargs)
    return f
