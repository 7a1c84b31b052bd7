"""Optimizer updates equal a numpy transcription of Keras's equations over several steps."""
import numpy as np
import pytest

from graphnn import backend as K
from graphnn import optimizers
from graphnn.optimizers import SGD, Adam, RMSprop

RNG = np.random.RandomState(0)
X = RNG.randn(5, 3).astype("float32")
T = RNG.randn(5, 2).astype("float32")
W0 = RNG.randn(3, 2).astype("float32")
B0 = RNG.randn(2).astype("float32")


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()


def grads(w, b):
    """Gradient of mean((xW + b - t)**2) with respect to W and b."""
    r = X @ w + b - T
    scale = 2.0 / r.size
    return [scale * X.T @ r, scale * r.sum(0)]


def run_steps(opt, steps=3, keras2_signature=False):
    w, b = K.variable(W0), K.variable(B0)
    x, t = K.placeholder(shape=(None, 3)), K.placeholder(shape=(None, 2))
    loss = K.mean(K.square(K.dot(x, w) + b - t))
    if keras2_signature:
        updates = opt.get_updates(loss, [w, b])
    else:
        updates = opt.get_updates([w, b], {}, loss)
    f = K.function([x, t], [loss], updates=updates)
    for _ in range(steps):
        f([X, T])
    return K.get_value(w), K.get_value(b)


def numpy_sgd(lr, momentum=0.0, decay=0.0, nesterov=False, steps=3):
    params = [W0.astype("float64"), B0.astype("float64")]
    moments = [np.zeros_like(p) for p in params]
    for k in range(steps):
        lr_k = lr * (1.0 / (1.0 + decay * k)) if decay > 0 else lr
        gs = grads(*params)
        for i, (p, g, m) in enumerate(zip(params, gs, moments)):
            v = momentum * m - lr_k * g
            moments[i] = v
            params[i] = p + momentum * v - lr_k * g if nesterov else p + v
    return params


def numpy_rmsprop(lr=0.001, rho=0.9, eps=1e-8, steps=3):
    params = [W0.astype("float64"), B0.astype("float64")]
    acc = [np.zeros_like(p) for p in params]
    for _ in range(steps):
        gs = grads(*params)
        for i, (p, g) in enumerate(zip(params, gs)):
            acc[i] = rho * acc[i] + (1 - rho) * g ** 2
            params[i] = p - lr * g / (np.sqrt(acc[i]) + eps)
    return params


def numpy_adam(lr=0.001, b1=0.9, b2=0.999, eps=1e-8, steps=3):
    params = [W0.astype("float64"), B0.astype("float64")]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    for k in range(steps):
        t = k + 1
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        gs = grads(*params)
        for i, (p, g) in enumerate(zip(params, gs)):
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g ** 2
            params[i] = p - lr_t * ms[i] / (np.sqrt(vs[i]) + eps)
    return params


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.5, decay=0.3),
])
def test_sgd_matches_keras_equations(kwargs):
    got = run_steps(SGD(**kwargs))
    for g, w in zip(got, numpy_sgd(**kwargs)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_rmsprop_matches_keras_equations():
    got = run_steps(RMSprop(lr=0.01))
    for g, w in zip(got, numpy_rmsprop(lr=0.01)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_adam_matches_keras_equations_with_keras2_signature():
    got = run_steps(Adam(learning_rate=0.01), keras2_signature=True)
    for g, w in zip(got, numpy_adam(lr=0.01)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_clipnorm_and_clipvalue():
    g = grads(W0, B0)
    norm = np.sqrt(sum((x ** 2).sum() for x in g))
    got = run_steps(SGD(lr=1.0, clipnorm=norm / 2), steps=1)
    np.testing.assert_allclose(got[0], W0 - g[0] / 2, rtol=1e-5, atol=1e-6)
    got = run_steps(SGD(lr=1.0, clipvalue=0.1), steps=1)
    np.testing.assert_allclose(got[0], W0 - np.clip(g[0], -0.1, 0.1), rtol=1e-5, atol=1e-6)


def test_constraints_apply_to_the_updated_value():
    w = K.variable(np.array([[-1.0, 2.0]], "float32"))
    loss = K.sum(w * 0.0)
    updates = SGD(lr=0.1).get_updates([w], {w: lambda p: K.maximum(p, 0.0)}, loss)
    K.function([], [loss], updates=updates)([])
    np.testing.assert_array_equal(K.get_value(w), [[0.0, 2.0]])


def test_get_aliases_and_config():
    assert isinstance(optimizers.get("sgd"), SGD)
    assert isinstance(optimizers.get("rmsprop"), RMSprop)
    assert isinstance(optimizers.get("adam"), Adam)
    cfg = SGD(lr=0.05, momentum=0.9, nesterov=True).get_config()
    assert cfg == pytest.approx({"lr": 0.05, "momentum": 0.9, "decay": 0.0, "nesterov": True})
    again = optimizers.deserialize({"class_name": "SGD", "config": cfg})
    assert K.get_value(again.lr) == pytest.approx(0.05)
    with pytest.raises(ValueError):
        optimizers.get("nope")
    with pytest.raises(TypeError):
        SGD(bogus=1)
