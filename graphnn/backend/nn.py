"""Activations and losses with Keras semantics; softmax/sigmoid outputs remember their logits so
crossentropies are computed stably from them (as TensorFlow's fused ops do)."""
from __future__ import annotations

from typing import Optional

from ir import builder as b
from ir.tensor import Tensor

from .common import epsilon
from .ops import _lift, one_hot


def _mark(out: Tensor, logits: Tensor, kind: str) -> Tensor:
    out._keras_logits = logits
    out._keras_logits_kind = kind
    return out


def relu(x, alpha: float = 0.0, max_value: Optional[float] = None) -> Tensor:
    x = _lift(x)
    y = b.maximum(x, 0.0)
    if max_value is not None:
        y = b.minimum(y, float(max_value))
    if alpha != 0.0:
        y = b.sub(y, b.mul(b.maximum(b.neg(x), 0.0), float(alpha)))
    return y


def elu(x, alpha: float = 1.0) -> Tensor:
    """exp only sees non-positive values, so the unused branch never overflows into NaN grads."""
    x = _lift(x)
    neg = b.mul(b.sub(b.exp(b.minimum(x, 0.0)), 1.0), float(alpha))
    return b.where(b.greater(x, 0.0), x, neg)


def softplus(x) -> Tensor:
    x = _lift(x)
    return b.add(b.maximum(x, 0.0), b.log(b.add(b.exp(b.neg(b.abs(x))), 1.0)))


def softsign(x) -> Tensor:
    x = _lift(x)
    return b.div(x, b.add(b.abs(x), 1.0))


def sigmoid(x) -> Tensor:
    x = _lift(x)
    return _mark(b.sigmoid(x), x, "sigmoid")


def hard_sigmoid(x) -> Tensor:
    x = _lift(x)
    return b.clip(b.add(b.mul(x, 0.2), 0.5), 0.0, 1.0)


def tanh(x) -> Tensor:
    return b.tanh(_lift(x))


def _shifted(x: Tensor, axis: int = -1) -> Tensor:
    return b.sub(x, b.stop_gradient(b.max(x, axis, keepdims=True)))


def softmax(x) -> Tensor:
    """Softmax over the last axis; the max shift does not change the value or the gradient."""
    x = _lift(x)
    e = b.exp(_shifted(x))
    return _mark(b.div(e, b.sum(e, -1, keepdims=True)), x, "softmax")


def log_softmax(x, axis: int = -1) -> Tensor:
    x = _lift(x)
    s = _shifted(x, axis)
    return b.sub(s, b.log(b.sum(b.exp(s), axis, keepdims=True)))


def l2_normalize(x, axis: int = -1) -> Tensor:
    x = _lift(x)
    sq = b.sum(b.mul(x, x), axis, keepdims=True)
    return b.div(x, b.sqrt(b.maximum(sq, 1e-12)))


def _logits_of(output: Tensor, kind: str) -> Optional[Tensor]:
    if getattr(output, "_keras_logits_kind", None) == kind:
        return output._keras_logits
    return None


def categorical_crossentropy(output: Tensor, target: Tensor, from_logits: bool = False) -> Tensor:
    """Keras 1 argument order (output first).  Per-sample loss (last axis reduced)."""
    output, target = _lift(output), _lift(target)
    if not from_logits:
        logits = _logits_of(output, "softmax")
        if logits is None:
            p = b.div(output, b.sum(output, -1, keepdims=True))
            p = b.clip(p, epsilon(), 1.0 - epsilon())
            return b.neg(b.sum(b.mul(_lift(target, p), b.log(p)), -1))
        output = logits
    return b.neg(b.sum(b.mul(_lift(target, output), log_softmax(output)), -1))


def sparse_categorical_crossentropy(output: Tensor, target: Tensor,
                                    from_logits: bool = False) -> Tensor:
    """``target`` holds class indices, shaped like ``output`` without its last axis (a trailing
    axis of size 1 is dropped)."""
    output, target = _lift(output), _lift(target)
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = b.squeeze(target, -1)
    onehot = b.cast(one_hot(target, int(output.shape[-1])), output.dtype)
    return categorical_crossentropy(output, onehot, from_logits)


def binary_crossentropy(output: Tensor, target: Tensor, from_logits: bool = False) -> Tensor:
    """Elementwise; Keras 1 argument order.  Uses ``max(x,0) - x*z + log(1+exp(-|x|))``."""
    output, target = _lift(output), _lift(target)
    if not from_logits:
        logits = _logits_of(output, "sigmoid")
        if logits is None:
            p = b.clip(output, epsilon(), 1.0 - epsilon())
            logits = b.log(b.div(p, b.sub(1.0, p)))
        output = logits
    x, z = output, _lift(target, output)
    return b.add(b.sub(b.maximum(x, 0.0), b.mul(x, z)), b.log(b.add(b.exp(b.neg(b.abs(x))), 1.0)))


def batch_normalization(x, mean, var, beta, gamma, epsilon: float = 1e-3) -> Tensor:
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` (all broadcast against ``x``)."""
    x = _lift(x)
    out = b.div(b.sub(x, _lift(mean, x)), b.sqrt(b.add(_lift(var, x), float(epsilon))))
    if gamma is not None:
        out = b.mul(out, _lift(gamma, x))
    if beta is not None:
        out = b.add(out, _lift(beta, x))
    return out


def normalize_batch_in_training(x, gamma, beta, reduction_axes, epsilon: float = 1e-3):
    """Batch-normalize ``x`` with the statistics over ``reduction_axes``; returns
    ``(normed, mean, var)`` with mean/var shaped like the kept axes (biased variance)."""
    x = _lift(x)
    axes = tuple(a % x.ndim for a in reduction_axes)
    mean = b.mean(x, axes, True)
    var = b.mean(b.square(b.sub(x, mean)), axes, True)
    kept = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    normed = batch_normalization(x, mean, var, _broadcastable(beta, x, axes),
                                 _broadcastable(gamma, x, axes), epsilon)
    return normed, b.reshape(mean, kept), b.reshape(var, kept)


def _broadcastable(param, x: Tensor, axes) -> Optional[Tensor]:
    """A (kept axes) parameter reshaped to broadcast against ``x`` (reduced axes of size 1)."""
    if param is None:
        return None
    param = _lift(param, x)
    if param.ndim == x.ndim:
        return param
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return b.reshape(param, shape)
