"""Elementwise primitives: unary and binary math, comparisons, logic, ``where`` and ``cast``.

Binary primitives take operands of equal shape and dtype; ``ir.builder`` inserts the explicit
``broadcast`` and constant promotion that numpy-style user code expects.
"""
from __future__ import annotations

import numpy as np

from .. import builder as b
from ..registry import OpDef, register
from ..types import TensorType, is_float


def _errstate(fn):
    def wrapped(*a):
        with np.errstate(all="ignore"):
            return fn(*a)
    return wrapped


def _sigmoid(x):
    # exp(-|x|) never overflows; both branches are exact where they are selected
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


# name: (numpy, vjp(x, out, g) or None, domain of samples, dtypes)
UNARY = {
    "neg": (np.negative, lambda x, y, g: b.neg(g), "any", "num"),
    "exp": (np.exp, lambda x, y, g: b.mul(g, y), "any", "float"),
    "log": (np.log, lambda x, y, g: b.div(g, x), "positive", "float"),
    "sqrt": (np.sqrt, lambda x, y, g: b.div(g, b.mul(y, 2.0)), "positive", "float"),
    "tanh": (np.tanh, lambda x, y, g: b.mul(g, b.sub(1.0, b.mul(y, y))), "any", "float"),
    "sigmoid": (_sigmoid, lambda x, y, g: b.mul(g, b.mul(y, b.sub(1.0, y))), "any", "float"),
    "abs": (np.abs, lambda x, y, g: b.mul(g, b.sign(x)), "nonzero", "num"),
    "sign": (np.sign, None, "any", "num"),
    "sin": (np.sin, lambda x, y, g: b.mul(g, b.cos(x)), "any", "float"),
    "cos": (np.cos, lambda x, y, g: b.neg(b.mul(g, b.sin(x))), "any", "float"),
    "floor": (np.floor, None, "any", "float"),
    "logical_not": (np.logical_not, None, "bool", "bool"),
    # identity whose gradient is zero: lets composites (log-sum-exp) skip useless gradient paths
    "stop_gradient": (lambda x: x, None, "any", "any"),
}

def _is_constant(t) -> bool:
    while t.op in ("broadcast", "reshape"):
        t = t.inputs[0]
    return t.op == "constant"


def _extremum_vjp(x, y, o, g, wins, beats):
    """``maximum``/``minimum``: the cotangent goes to the argument that won (``x`` on a tie).
    Against a constant (relu: ``maximum(x, 0)``) the mask is read from the output, as
    TensorFlow's relu gradient does (``o > 0``; zero on the tie), so the backward pass needs
    the activation, not the pre-activation: the fusion pass can then fold the activation into
    the GEMM epilogue that produces it."""
    if _is_constant(y) and not _is_constant(x):
        take = beats(o, y)
        return b.where(take, g, 0.0), b.where(take, 0.0, g)
    return b.where(wins(x, y), g, 0.0), b.where(wins(x, y), 0.0, g)


BINARY = {
    "add": (np.add, lambda x, y, o, g: (g, g), "num"),
    "sub": (np.subtract, lambda x, y, o, g: (g, b.neg(g)), "num"),
    "mul": (np.multiply, lambda x, y, o, g: (b.mul(g, y), b.mul(g, x)), "num"),
    "div": (np.divide, lambda x, y, o, g: (b.div(g, y), b.neg(b.div(b.mul(g, o), y))), "num"),
    "pow": (np.power, lambda x, y, o, g: (b.mul(g, b.mul(y, b.pow(x, b.sub(y, 1.0)))),
                                          b.mul(g, b.mul(o, b.log(x)))), "float"),
    "maximum": (np.maximum, lambda x, y, o, g: _extremum_vjp(x, y, o, g, b.greater_equal,
                                                             b.greater), "num"),
    "minimum": (np.minimum, lambda x, y, o, g: _extremum_vjp(x, y, o, g, b.less_equal,
                                                             b.less), "num"),
    "equal": (np.equal, None, "cmp"),
    "not_equal": (np.not_equal, None, "cmp"),
    "less": (np.less, None, "cmp"),
    "less_equal": (np.less_equal, None, "cmp"),
    "greater": (np.greater, None, "cmp"),
    "greater_equal": (np.greater_equal, None, "cmp"),
    "logical_and": (np.logical_and, None, "bool"),
    "logical_or": (np.logical_or, None, "bool"),
}

COMPARE = {k for k, v in BINARY.items() if v[2] in ("cmp", "bool")}


def _check_dtype(name, kind, dtype):
    ok = {"float": is_float(dtype), "num": dtype != "bool", "bool": dtype == "bool",
          "any": True, "cmp": True}[kind]
    if not ok:
        raise ValueError(f"{name} does not accept dtype {dtype}")


def _sample_array(rng, shape, dtype, domain):
    if dtype == "bool" or domain == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("int") or dtype == "uint32":
        return rng.integers(-5 if dtype != "uint32" else 0, 6, size=shape).astype(dtype)
    x = rng.standard_normal(shape)
    if domain == "positive":
        x = np.abs(x) + 0.5
    elif domain == "nonzero":
        x = np.where(np.abs(x) < 0.1, 0.5, x)
    return x.astype(dtype)


SAMPLE_SHAPE = (3, 37)  # not a multiple of any vector width


def _unary(name, fn, vjp, domain, kinds):
    def infer(types, attrs):
        (t,) = types
        _check_dtype(name, kinds, t.dtype)
        return TensorType(t.shape, "bool" if name == "logical_not" else t.dtype)

    def reference(args, attrs, env):
        out = _errstate(fn)(args[0])
        return np.asarray(out).astype(self_dtype(args[0], name))

    def grad(inputs, out, g, attrs):
        return [vjp(inputs[0], out, g)]

    def sample(rng, dtype="float32"):
        dt = "bool" if kinds == "bool" else dtype
        return [_sample_array(rng, SAMPLE_SHAPE, dt, domain)], {}

    register(OpDef(name, infer, reference, grad if vjp else None, "elementwise", sample=sample,
                   scalar=None if name == "stop_gradient" else name,
                   cost=20 if name in ("exp", "log", "tanh", "sigmoid", "sin", "cos") else 1))


def self_dtype(x, name):
    return np.bool_ if name == "logical_not" else x.dtype


def _binary(name, fn, vjp, kinds):
    def infer(types, attrs):
        x, y = types
        if x.shape != y.shape:
            raise ValueError(f"{name} needs equal shapes, got {x} and {y} (use ir.builder for broadcasting)")
        if x.dtype != y.dtype:
            raise ValueError(f"{name} needs equal dtypes, got {x.dtype} and {y.dtype}")
        _check_dtype(name, kinds if kinds != "cmp" else "any", x.dtype)
        return TensorType(x.shape, "bool" if name in COMPARE else x.dtype)

    def reference(args, attrs, env):
        out = _errstate(fn)(args[0], args[1])
        return np.asarray(out).astype(np.bool_ if name in COMPARE else args[0].dtype)

    def grad(inputs, out, g, attrs):
        return list(vjp(inputs[0], inputs[1], out, g))

    def sample(rng, dtype="float32"):
        dt = "bool" if kinds == "bool" else dtype
        dom = "positive" if name == "pow" else ("nonzero" if name == "div" else "any")
        x = _sample_array(rng, SAMPLE_SHAPE, dt, "positive" if name == "pow" else "any")
        y = _sample_array(rng, SAMPLE_SHAPE, dt, dom)
        if name in ("maximum", "minimum") and dt != "bool":
            y = np.where(np.abs(x - y) < 0.05, y + 0.3, y).astype(dt)  # no ties at the kink
        if name in ("equal", "not_equal"):
            y = np.where(rng.random(SAMPLE_SHAPE) < 0.3, x, y)
        return [x, y], {}

    register(OpDef(name, infer, reference, grad if vjp else None, "elementwise", sample=sample,
                   scalar=name, cost=20 if name == "pow" else 1))


for _n, (_f, _v, _d, _k) in UNARY.items():
    _unary(_n, _f, _v, _d, _k)
for _n, (_f, _v, _k) in BINARY.items():
    _binary(_n, _f, _v, _k)


# --- where ------------------------------------------------------------------------------------
def _where_infer(types, attrs):
    c, x, y = types
    if c.dtype != "bool":
        raise ValueError(f"where: condition must be bool, got {c.dtype}")
    if not (c.shape == x.shape == y.shape):
        raise ValueError(f"where needs equal shapes, got {c}, {x}, {y}")
    if x.dtype != y.dtype:
        raise ValueError(f"where needs equal branch dtypes, got {x.dtype} and {y.dtype}")
    return TensorType(x.shape, x.dtype)


def _where_sample(rng, dtype="float32"):
    return [rng.random(SAMPLE_SHAPE) < 0.5, _sample_array(rng, SAMPLE_SHAPE, dtype, "any"),
            _sample_array(rng, SAMPLE_SHAPE, dtype, "any")], {}


register(OpDef("where", _where_infer, lambda a, at, env: np.where(a[0], a[1], a[2]),
               lambda ins, out, g, at: [None, b.where(ins[0], g, 0.0), b.where(ins[0], 0.0, g)],
               "elementwise", sample=_where_sample, scalar="where"))


# --- cast -------------------------------------------------------------------------------------
def _cast_infer(types, attrs):
    return TensorType(types[0].shape, attrs["dtype"])


def _cast_ref(args, attrs, env):
    with np.errstate(all="ignore"):
        return args[0].astype(attrs["dtype"])


def _cast_vjp(ins, out, g, attrs):
    if is_float(ins[0].dtype) and is_float(attrs["dtype"]):
        return [b.cast(g, ins[0].dtype)]
    return [None]


def _cast_sample(rng, dtype="float32"):
    return [_sample_array(rng, SAMPLE_SHAPE, dtype, "any") * 3],  {"dtype": "int32"}


register(OpDef("cast", _cast_infer, _cast_ref, _cast_vjp, "elementwise", sample=_cast_sample,
               scalar="cast"))
