"""Every Keras loss and metric name against numpy, in one interpreted function per group."""
import numpy as np
import pytest

from graphnn import backend as K
from graphnn import losses, metrics, objectives
from graphnn.layers import Dense
from graphnn.models import Sequential


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()


RNG = np.random.RandomState(3)
T = RNG.rand(6, 4).astype("float32")
P = RNG.rand(6, 4).astype("float32") * 0.98 + 0.01
SIGNED_T = np.sign(RNG.randn(6, 4)).astype("float32")
SIGNED_P = RNG.randn(6, 4).astype("float32")
ONE_HOT = np.eye(4, dtype="float32")[[0, 1, 2, 3, 1, 2]]
PROBS = (P / P.sum(1, keepdims=True)).astype("float32")
EPS = 1e-7


def evaluate_all(fns, y_true, y_pred, true_dtype="float32"):
    t = K.placeholder(shape=(None,) + y_true.shape[1:], dtype=true_dtype)
    p = K.placeholder(shape=(None,) + y_pred.shape[1:])
    return K.function([t, p], [fn(t, p) for fn in fns], device="interpreter")([y_true, y_pred])


def _unit(a):
    return a / np.sqrt(np.maximum((a ** 2).sum(-1, keepdims=True), 1e-12))


# (names, data, numpy per-sample loss)
LOSSES = [
    (["mean_squared_error", "mse", "MSE"], (T, P), lambda t, p: ((p - t) ** 2).mean(-1)),
    (["mean_absolute_error", "mae", "MAE"], (T, P), lambda t, p: np.abs(p - t).mean(-1)),
    (["mean_absolute_percentage_error", "mape", "MAPE"], (T, P),
     lambda t, p: 100 * (np.abs(t - p) / np.clip(np.abs(t), EPS, None)).mean(-1)),
    (["mean_squared_logarithmic_error", "msle", "MSLE"], (T, P),
     lambda t, p: ((np.log1p(np.clip(p, EPS, None)) - np.log1p(np.clip(t, EPS, None))) ** 2
                   ).mean(-1)),
    (["squared_hinge"], (SIGNED_T, SIGNED_P),
     lambda t, p: (np.maximum(1 - t * p, 0) ** 2).mean(-1)),
    (["hinge"], (SIGNED_T, SIGNED_P), lambda t, p: np.maximum(1 - t * p, 0).mean(-1)),
    (["categorical_hinge"], (ONE_HOT, SIGNED_P),
     lambda t, p: np.maximum((p * (1 - t)).max(-1) - (p * t).sum(-1) + 1, 0)),
    (["logcosh"], (T, SIGNED_P * 30), lambda t, p: np.log(np.cosh(p.astype("float64") - t)
                                                         ).mean(-1)),
    (["categorical_crossentropy"], (ONE_HOT, PROBS), lambda t, p: -(t * np.log(p)).sum(-1)),
    (["binary_crossentropy"], (np.round(T), P),
     lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)),
    (["kullback_leibler_divergence", "kld", "KLD"], (PROBS[::-1].copy(), PROBS),
     lambda t, p: (t * np.log(t / p)).sum(-1)),
    (["poisson"], (T, P), lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    (["cosine_proximity", "cosine"], (SIGNED_T, SIGNED_P),
     lambda t, p: -(_unit(t) * _unit(p)).mean(-1)),
]


@pytest.mark.parametrize("names,data,want", LOSSES, ids=[c[0][0] for c in LOSSES])
def test_losses_and_aliases_match_numpy(names, data, want):
    fns = [losses.get(n) for n in names]
    assert all(objectives.get(n) is fn for n, fn in zip(names, fns))
    assert all(fn is fns[0] for fn in fns), "aliases name one function"
    (got,) = evaluate_all(fns[:1], *data)
    np.testing.assert_allclose(got, want(*data), rtol=1e-4, atol=1e-5)


def test_sparse_categorical_crossentropy_and_accuracies():
    labels = ONE_HOT.argmax(1)[:, None].astype("int32")
    scce, sacc, stop2 = evaluate_all(
        [losses.get("sparse_categorical_crossentropy"), metrics.get("sparse_categorical_accuracy"),
         lambda t, p: metrics.sparse_top_k_categorical_accuracy(t, p, k=2)],
        labels, PROBS, "int32")
    np.testing.assert_allclose(scce, -np.log(PROBS[np.arange(6), labels[:, 0]]), rtol=1e-5)
    np.testing.assert_array_equal(sacc, PROBS.argmax(1) == labels[:, 0])
    rank = (PROBS > PROBS[np.arange(6), labels[:, 0]][:, None]).sum(1)
    np.testing.assert_array_equal(stop2, rank < 2)
    top5, top1, cacc = evaluate_all(
        [metrics.get("top_k_categorical_accuracy"),
         lambda t, p: metrics.top_k_categorical_accuracy(t, p, k=1),
         metrics.get("categorical_accuracy")], ONE_HOT, PROBS)
    np.testing.assert_array_equal(top5, np.ones(6))
    np.testing.assert_array_equal(top1, cacc)


def _confusion(t, p):
    t, p = np.round(np.clip(t, 0, 1)), np.round(np.clip(p, 0, 1))
    return (t * p).sum(), ((1 - t) * (1 - p)).sum(), ((1 - t) * p).sum(), (t * (1 - p)).sum()


def test_keras1_batch_metrics_match_numpy():
    t = np.round(T)
    tp, tn, fp, fn = _confusion(t, P)
    prec, rec, f1, f2, mcc, bacc = evaluate_all(
        [metrics.get("precision"), metrics.get("recall"), metrics.get("fmeasure"),
         lambda a, b: metrics.fbeta_score(a, b, beta=2), metrics.get("matthews_correlation"),
         metrics.get("binary_accuracy")], t, P)
    want_p, want_r = tp / (tp + fp), tp / (tp + fn)
    np.testing.assert_allclose(prec, want_p, rtol=1e-5)
    np.testing.assert_allclose(rec, want_r, rtol=1e-5)
    np.testing.assert_allclose(f1, 2 * want_p * want_r / (want_p + want_r), rtol=1e-5)
    np.testing.assert_allclose(f2, 5 * want_p * want_r / (4 * want_p + want_r), rtol=1e-5)
    np.testing.assert_allclose(
        mcc, (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)),
        rtol=1e-5)
    np.testing.assert_allclose(bacc, (t == np.round(P)).mean(-1), rtol=1e-6)
    (f_none,) = evaluate_all([metrics.fmeasure], np.zeros_like(T), P)
    assert f_none == 0.0  # no positives: F fixed at 0, like scikit-learn
    with pytest.raises(ValueError, match="The lowest choosable beta is zero"):
        metrics.fbeta_score(K.placeholder(shape=(None, 2)), K.placeholder(shape=(None, 2)), -1)


def test_new_losses_and_metrics_in_compiled_training():
    model = Sequential([Dense(4, input_dim=3, activation="softmax")])
    model.compile("sgd", "categorical_hinge",
                  metrics=["fmeasure", "logcosh", "top_k_categorical_accuracy"])
    x = RNG.randn(6, 3).astype("float32")
    out = model.train_on_batch(x, ONE_HOT)
    assert model.metrics_names == ["loss", "fmeasure", "logcosh", "top_k_categorical_accuracy"]
    assert np.all(np.isfinite(out))
