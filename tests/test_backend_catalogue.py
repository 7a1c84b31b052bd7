"""K functions that Keras 1 custom layers use, against numpy, with float64 gradient checks of
the new ones (reference interpreter, central differences)."""
import numpy as np
import pytest

from graphnn import backend as K


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    yield
    K.set_floatx("float32")


def run(outputs, feeds, device="interpreter"):
    return K.function([p for p, _ in feeds], outputs, device=device)([v for _, v in feeds])


A = np.random.RandomState(0).randn(3, 4).astype("float32")


@pytest.mark.parametrize("device", ["interpreter", None], ids=["interpreter", "compiled"])
def test_new_functions_match_numpy(device):
    x = K.placeholder(shape=(None, 4))
    outs = run([K.cumsum(x, axis=1), K.cumprod(x, axis=1), K.cumsum(K.variable(A[:, :2]), 0),
                K.logsumexp(x, axis=1), K.logsumexp(x * 100.0, axis=1, keepdims=True),
                K.reverse(x, 1), K.reverse(K.variable(A), [0, 1]), K.identity(x),
                K.print_tensor(x, "x"), K.temporal_padding(K.reshape(x, (-1, 2, 2)), (1, 2))],
               [(x, A)], device)
    m = 100 * A
    want = [np.cumsum(A, 1), np.cumprod(A, 1), np.cumsum(A[:, :2], 0),
            np.log(np.exp(A).sum(1)),
            (m.max(1) + np.log(np.exp(m - m.max(1, keepdims=True)).sum(1)))[:, None],
            A[:, ::-1], A[::-1, ::-1], A, A,
            np.pad(A.reshape(3, 2, 2), ((0, 0), (1, 2), (0, 0)))]
    for got, w in zip(outs, want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
    assert K.cast_to_floatx([1, 2]).dtype == np.float32
    with pytest.raises(ValueError, match="cumsum along the free dimension 'N'"):
        K.cumsum(x, axis=0)


def test_in_top_k_batch_dot_and_batch_normalization():
    p = K.placeholder(shape=(None, 4))
    t = K.placeholder(shape=(None,), dtype="int32")
    labels = np.array([0, 1, 3], "int32")
    (top2,) = run([K.in_top_k(p, t, 2)], [(p, A), (t, labels)])
    rank = (A > A[np.arange(3), labels][:, None]).sum(1)
    np.testing.assert_array_equal(top2, rank < 2)
    rng = np.random.RandomState(1)
    a3, b3, v = rng.randn(2, 3, 4), rng.randn(2, 4, 5), rng.randn(2, 4)
    x3, y3, y2 = K.variable(a3), K.variable(b3), K.variable(v)
    outs = run([K.batch_dot(x3, y3), K.batch_dot(x3, y2, axes=(2, 1)),
                K.batch_dot(y2, y3, axes=(1, 1)), K.batch_dot(x3, K.variable(a3), axes=(2, 2)),
                K.batch_dot(y2, y2, axes=1)], [])
    want = [a3 @ b3, np.einsum("ntd,nd->nt", a3, v), np.einsum("nd,ndu->nu", v, b3),
            a3 @ a3.transpose(0, 2, 1), (v * v).sum(1, keepdims=True)]
    for got, w in zip(outs, want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
    x = K.placeholder(shape=(None, 4))
    gamma, beta = K.variable(np.full(4, 2.0)), K.variable(np.full(4, 0.5))
    normed, mean, var = K.normalize_batch_in_training(x, gamma, beta, [0], epsilon=1e-3)
    bn = K.batch_normalization(x, mean, var, beta, gamma, epsilon=1e-3)
    outs = run([normed, mean, var, bn], [(x, A)])
    want_normed = (A - A.mean(0)) / np.sqrt(A.var(0) + 1e-3) * 2 + 0.5
    for got, w in zip(outs, [want_normed, A.mean(0), A.var(0), want_normed]):
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-5)


def test_existing_keras1_functions_are_exported():
    for name in ("l2_normalize", "one_hot", "switch", "in_train_phase", "in_test_phase",
                 "batch_dot", "gather", "cumsum", "cumprod", "clip", "elu", "relu", "softplus",
                 "softsign", "hard_sigmoid", "random_normal", "random_uniform", "random_binomial",
                 "dropout", "logsumexp", "reverse", "moving_average_update", "update_add"):
        assert callable(getattr(K, name)), name
    x = K.placeholder(shape=(None, 3))
    a = np.abs(A[:, :3]) + 0.1
    relu6, elu, gathered = run([K.relu(x, max_value=0.5), K.elu(x, 0.3),
                                K.gather(K.variable(A), K.cast(x[:, 0] * 0, "int32"))],
                               [(x, a)])
    np.testing.assert_allclose(relu6, np.minimum(a, 0.5))
    np.testing.assert_allclose(elu, a)
    np.testing.assert_allclose(gathered, np.repeat(A[:1], 3, 0))
    (bits,) = run([K.random_binomial((1000,), p=0.3)], [])
    assert set(np.unique(bits)) <= {0.0, 1.0} and abs(bits.mean() - 0.3) < 0.05


GRAD_CASES = {
    "cumsum": lambda x: K.cumsum(x, axis=1),
    "cumprod": lambda x: K.cumprod(x, axis=1),
    "logsumexp": lambda x: K.logsumexp(x, axis=-1),
    "reverse": lambda x: K.reverse(x, 1),
    "temporal_padding": lambda x: K.temporal_padding(K.reshape(x, (-1, 2, 2)), 1),
    "batch_norm": lambda x: K.normalize_batch_in_training(x, None, None, [0])[0],
    "batch_dot": lambda x: K.batch_dot(K.reshape(x, (-1, 2, 2)), x[:, :2], axes=(2, 1)),
    "l2_normalize": lambda x: K.l2_normalize(x, axis=1),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_match_finite_differences(name):
    K.set_floatx("float64")
    rng = np.random.RandomState(2)
    data = rng.randn(3, 4)
    x = K.placeholder(shape=(None, 4), dtype="float64")
    y = GRAD_CASES[name](x)
    c = K.placeholder(shape=K.int_shape(y), dtype="float64")
    out_shape = (3,) + K.int_shape(y)[1:]
    cval = rng.randn(*out_shape)
    loss = K.sum(y * c)
    f = K.function([x, c], [loss] + K.gradients(loss, [x]), device="interpreter")
    analytic = f([data, cval])[1]
    num = np.zeros_like(data)
    for idx in np.ndindex(*data.shape):
        plus, minus = data.copy(), data.copy()
        plus[idx] += 1e-6
        minus[idx] -= 1e-6
        num[idx] = (f([plus, cval])[0] - f([minus, cval])[0]) / 2e-6
    np.testing.assert_allclose(analytic, num, rtol=1e-5, atol=1e-6)
