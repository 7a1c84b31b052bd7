"""The learning phase (train vs test) and conditional tensors."""
from __future__ import annotations

from typing import Optional

from ir import builder as b
from ir.tensor import Tensor

from .common import on_reset
from .ops import _lift

_PHASE: Optional[Tensor] = None
_FIXED_PHASE: Optional[int] = None


@on_reset
def _reset_phase() -> None:
    global _PHASE, _FIXED_PHASE
    _PHASE, _FIXED_PHASE = None, None


def learning_phase():
    """A bool scalar placeholder named 'keras_learning_phase' (1 = training), or the fixed int set
    by ``set_learning_phase``.  Models bind it with ``givens`` so the compiler can fold it away."""
    global _PHASE
    if _FIXED_PHASE is not None:
        return _FIXED_PHASE
    if _PHASE is None:
        _PHASE = b.placeholder((), "bool", "keras_learning_phase")
        _PHASE._keras_shape = ()
    return _PHASE


def learning_phase_placeholder() -> Tensor:
    """The placeholder itself even when a fixed phase is set."""
    global _FIXED_PHASE
    fixed, _FIXED_PHASE = _FIXED_PHASE, None
    try:
        return learning_phase()
    finally:
        _FIXED_PHASE = fixed


def set_learning_phase(value: int) -> None:
    global _FIXED_PHASE
    if value not in (0, 1):
        raise ValueError("Expected learning phase to be 0 or 1.")
    _FIXED_PHASE = int(value)


def switch(condition, then_expression, else_expression) -> Tensor:
    """Elementwise select (a scalar condition selects whole tensors); branches may be callables."""
    if callable(then_expression) and not isinstance(then_expression, Tensor):
        then_expression = then_expression()
    if callable(else_expression) and not isinstance(else_expression, Tensor):
        else_expression = else_expression()
    cond = _lift(condition)
    if cond.dtype != "bool":
        cond = b.not_equal(cond, 0)
    like = then_expression if isinstance(then_expression, Tensor) else else_expression
    return b.where(cond, _lift(then_expression, like), _lift(else_expression, like))


def in_train_phase(x, alt, training=None):
    """``x`` while training, ``alt`` otherwise."""
    if training is None:
        training = learning_phase()
    if not isinstance(training, Tensor):  # a fixed phase (Python int/bool) picks statically
        pick = x if training else alt
        return pick() if callable(pick) and not isinstance(pick, Tensor) else pick
    out = switch(training, x, alt)
    out._uses_learning_phase = True
    return out


def in_test_phase(x, alt, training=None):
    return in_train_phase(alt, x, training)
