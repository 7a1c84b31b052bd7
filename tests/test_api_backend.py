"""graphnn.backend (K) against numpy: math, shapes, phases, randomness, K.function."""
import numpy as np
import pytest

from graphnn import backend as K


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    yield


def run(outputs, feeds=(), updates=(), **kw):
    ins = [p for p, _ in feeds]
    return K.function(ins, outputs, updates=list(updates), **kw)([v for _, v in feeds])


def test_placeholder_symbols_and_int_shape():
    x = K.placeholder(shape=(None, 3, None))
    assert x.shape == ("N", 3, "D2")
    assert K.int_shape(x) == (None, 3, None)
    assert K.ndim(x) == 3 and K.dtype(x) == "float32"
    y = K.placeholder(ndim=2)
    assert y.shape == ("N", "D1")
    lp = K.learning_phase()
    assert lp.name == "keras_learning_phase" and lp.dtype == "bool" and lp.shape == ()


def test_variable_values_names_and_count():
    v = K.variable(np.arange(6).reshape(2, 3), name="w")
    w = K.variable(np.zeros(2), name="w")
    assert v.name == "w" and w.name == "w_1"
    assert v.dtype == "float32" and K.count_params(v) == 6
    K.set_value(v, np.ones((2, 3)))
    np.testing.assert_array_equal(K.get_value(v), np.ones((2, 3)))
    K.batch_set_value([(w, [3.0, 4.0])])
    np.testing.assert_array_equal(K.batch_get_value([w])[0], [3.0, 4.0])
    np.testing.assert_array_equal(K.eval(K.eye(2)), np.eye(2))
    with pytest.raises(ValueError):
        K.set_value(v, np.ones(3))


def test_dot_keras_semantics():
    rng = np.random.RandomState(0)
    a, b3 = rng.randn(4, 3, 5).astype("float32"), rng.randn(2, 5, 6).astype("float32")
    w = rng.randn(5, 6).astype("float32")
    x = K.placeholder(shape=(None, 3, 5))
    out = run([K.dot(x, K.variable(w)), K.dot(x, K.variable(b3))], [(x, a)])
    np.testing.assert_allclose(out[0], a @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], np.einsum("nik,bkj->nibj", a, b3), rtol=1e-5, atol=1e-5)
    m = K.placeholder(shape=(None, 5))
    (r,) = run([K.dot(m, K.variable(w))], [(m, a[:, 0])])
    np.testing.assert_allclose(r, a[:, 0] @ w, rtol=1e-5, atol=1e-5)


def test_reductions_and_elementwise_match_numpy():
    rng = np.random.RandomState(1)
    a = rng.randn(3, 4).astype("float32")
    x = K.placeholder(shape=(None, 4))
    outs = run([K.sum(x, axis=1), K.mean(x, axis=0, keepdims=True), K.max(x, axis=-1),
                K.min(x), K.std(x, axis=1), K.var(x, axis=0), K.argmax(x), K.argmin(x, axis=0),
                K.prod(x, axis=1), K.clip(x, -0.5, 0.5), K.sqrt(K.abs(x)),
                K.pow(K.abs(x), 3), K.round(x * 2), K.l2_normalize(x, axis=1),
                K.relu(x, alpha=0.1, max_value=0.8), K.elu(x), K.softplus(x), K.softsign(x),
                K.hard_sigmoid(x), K.sigmoid(x), K.tanh(x)], [(x, a)])
    sig = 1 / (1 + np.exp(-a))
    expected = [a.sum(1), a.mean(0, keepdims=True), a.max(-1), a.min(), a.std(1), a.var(0),
                a.argmax(-1), a.argmin(0), a.prod(1), np.clip(a, -0.5, 0.5), np.sqrt(np.abs(a)),
                np.abs(a) ** 3, np.round(a * 2), a / np.sqrt((a ** 2).sum(1, keepdims=True)),
                np.minimum(np.maximum(a, 0), 0.8) - 0.1 * np.maximum(-a, 0),
                np.where(a > 0, a, np.exp(a) - 1), np.log1p(np.exp(a)), a / (1 + np.abs(a)),
                np.clip(0.2 * a + 0.5, 0, 1), sig, np.tanh(a)]
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_shape_ops():
    a = np.arange(24, dtype="float32").reshape(2, 3, 4)
    x = K.placeholder(shape=(None, 3, 4))
    outs = run([K.batch_flatten(x), K.permute_dimensions(x, (0, 2, 1)), K.expand_dims(x, 1),
                K.squeeze(K.expand_dims(x, -1), -1), K.concatenate([x, x], axis=-1),
                K.repeat_elements(x, 2, axis=1), K.reshape(x, (-1, 3, 2, 2)),
                K.tile(x, (1, 1, 2)), K.getitem(x, (slice(None), 0)), K.getitem(x, (Ellipsis, 1)),
                K.stack([x, x], axis=1)], [(x, a)])
    expected = [a.reshape(2, 12), a.transpose(0, 2, 1), a[:, None], a, np.concatenate([a, a], -1),
                np.repeat(a, 2, axis=1), a.reshape(2, 3, 2, 2), np.tile(a, (1, 1, 2)),
                a[:, 0], a[..., 1], np.stack([a, a], 1)]
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want)
    i = K.placeholder(shape=(None,), dtype="int32")
    (oh,) = run([K.one_hot(i, 3)], [(i, np.array([2, 0], "int32"))])
    np.testing.assert_array_equal(oh, np.eye(3)[[2, 0]])


def test_softmax_crossentropy_from_logits_is_stable():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]], "float32")
    target = np.array([[0, 1, 0], [0, 0, 1]], "float32")
    x, t = K.placeholder(shape=(None, 3)), K.placeholder(shape=(None, 3))
    p = K.softmax(x)
    ce = K.categorical_crossentropy(p, t)
    (g,) = K.gradients(K.mean(ce), [x])
    out_p, out_ce, out_g = run([p, ce, g], [(x, logits), (t, target)])
    m = logits.max(1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    np.testing.assert_allclose(out_p, np.exp(logp), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out_ce, -(target * logp).sum(1), rtol=1e-5)
    assert np.isfinite(out_ce).all() and np.isfinite(out_g).all()
    np.testing.assert_allclose(out_g, (np.exp(logp) - target) / 2, rtol=1e-4, atol=1e-6)


def test_crossentropy_of_plain_probabilities_is_clipped():
    probs = np.array([[0.0, 1.0], [0.25, 0.75]], "float32")
    target = np.array([[1, 0], [0, 1]], "float32")
    p, t = K.placeholder(shape=(None, 2)), K.placeholder(shape=(None, 2))
    cce, bce = run([K.categorical_crossentropy(p, t), K.binary_crossentropy(p, t)],
                   [(p, probs), (t, target)])
    eps = K.epsilon()
    q = np.clip(probs, eps, 1 - eps)
    np.testing.assert_allclose(cce, -(target * np.log(q)).sum(1), rtol=1e-4)
    np.testing.assert_allclose(bce, -(target * np.log(q) + (1 - target) * np.log(1 - q)),
                               rtol=1e-3)


def test_binary_crossentropy_from_sigmoid_logits():
    logits = np.array([[50.0, -50.0, 0.3]], "float32")
    target = np.array([[0.0, 1.0, 1.0]], "float32")
    x, t = K.placeholder(shape=(None, 3)), K.placeholder(shape=(None, 3))
    (bce,) = run([K.binary_crossentropy(K.sigmoid(x), t)], [(x, logits), (t, target)])
    want = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    np.testing.assert_allclose(bce, want, rtol=1e-5)


def test_sparse_categorical_crossentropy():
    logits = np.random.RandomState(2).randn(4, 5).astype("float32")
    labels = np.array([[0], [4], [2], [2]], "int32")
    x, t = K.placeholder(shape=(None, 5)), K.placeholder(shape=(None, 1), dtype="int32")
    (ce,) = run([K.sparse_categorical_crossentropy(K.softmax(x), t)], [(x, logits), (t, labels)])
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(ce, -logp[np.arange(4), labels[:, 0]], rtol=1e-5)


def test_switch_and_learning_phase_givens_and_feeds():
    x = K.placeholder(shape=(None, 2))
    y = K.in_train_phase(x * 2.0, x - 1.0)
    a = np.ones((1, 2), "float32")
    np.testing.assert_array_equal(run([y], [(x, a)], givens={K.learning_phase(): 1})[0], [[2, 2]])
    np.testing.assert_array_equal(run([y], [(x, a)])[0], [[0, 0]])  # defaults to test phase
    f = K.function([x, K.learning_phase()], [y])
    np.testing.assert_array_equal(f([a, 1])[0], [[2, 2]])
    np.testing.assert_array_equal(f([a, 0])[0], [[0, 0]])
    s = K.switch(K.greater(x, 0.5), x, K.zeros_like(x))
    np.testing.assert_array_equal(run([s], [(x, np.array([[0.2, 0.9]], "float32"))])[0],
                                  np.array([[0, 0.9]], "float32"))


def test_dropout_scales_kept_units_and_draws_fresh_bits_each_call():
    x = K.placeholder(shape=(None, 1000))
    f = K.function([x], [K.dropout(x, 0.25)])
    key = [u for u in f.updates if u[0].name == "_rng_key"]
    assert key, "K.function must add the random key update"
    a = np.ones((4, 1000), "float32")
    first, second = f([a])[0], f([a])[0]
    assert set(np.unique(first)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (first == 0).mean() < 0.3
    assert not np.array_equal(first, second)


def test_test_phase_function_does_not_advance_random_key():
    x = K.placeholder(shape=(None, 10))
    y = K.in_train_phase(lambda: K.dropout(x, 0.5), x)
    f = K.function([x], [y], givens={K.learning_phase(): 0})
    assert not [u for u in f.updates if u[0].name == "_rng_key"]
    a = np.ones((2, 10), "float32")
    np.testing.assert_array_equal(f([a])[0], a)


def test_random_normal_and_uniform_follow_symbolic_shape():
    x = K.placeholder(shape=(None, 2000))
    u, n = run([K.random_uniform(K.shape(x), -1.0, 1.0), K.random_normal(K.shape(x), 2.0, 0.5)],
               [(x, np.zeros((3, 2000), "float32"))])
    assert u.shape == n.shape == (3, 2000)
    assert -1 <= u.min() and u.max() < 1 and abs(u.mean()) < 0.05
    assert abs(n.mean() - 2.0) < 0.05 and abs(n.std() - 0.5) < 0.05


def test_gradients_and_updates_in_one_function():
    w = K.variable([[1.0], [2.0]])
    x = K.placeholder(shape=(None, 2))
    loss = K.mean(K.square(K.dot(x, w)))
    (g,) = K.gradients(loss, [w])
    f = K.function([x], [loss], updates=[K.update_sub(w, 0.1 * g)])
    a = np.array([[1.0, 1.0]], "float32")
    (out,) = f([a])
    assert out == pytest.approx(9.0)
    np.testing.assert_allclose(K.get_value(w), [[1 - 0.1 * 6], [2 - 0.1 * 6]], rtol=1e-6)


def test_function_rejects_unfed_placeholders_and_bad_kwargs():
    x, y = K.placeholder(shape=(None, 2), name="x"), K.placeholder(shape=(None, 2), name="y")
    with pytest.raises(ValueError, match="'y'"):
        K.function([x], [x + y])
    with pytest.raises(ValueError, match='Invalid argument "bogus"'):
        K.function([x], [x], bogus=1)


def test_floatx_epsilon_and_image_format():
    assert K.floatx() == "float32" and K.epsilon() == pytest.approx(1e-7)
    assert K.image_data_format() == "channels_last" and K.image_dim_ordering() == "tf"
    K.set_epsilon(1e-6)
    try:
        assert K.epsilon() == 1e-6
    finally:
        K.set_epsilon(1e-7)
