"""Losses and metrics against numpy (Keras argument order ``fn(y_true, y_pred)``)."""
import numpy as np
import pytest

from graphnn import backend as K
from graphnn import losses, metrics, objectives


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()


def evaluate(fn, y_true, y_pred, true_dtype="float32"):
    t = K.placeholder(shape=(None,) + y_true.shape[1:], dtype=true_dtype)
    p = K.placeholder(shape=(None,) + y_pred.shape[1:])
    return K.function([t, p], [fn(t, p)])([y_true, y_pred])[0]


RNG = np.random.RandomState(0)
Y_TRUE = RNG.rand(6, 4).astype("float32")
Y_PRED = RNG.rand(6, 4).astype("float32")
ONE_HOT = np.eye(4, dtype="float32")[[0, 1, 2, 3, 1, 2]]
PROBS = (Y_PRED / Y_PRED.sum(1, keepdims=True)).astype("float32")


@pytest.mark.parametrize("name, want", [
    ("mean_squared_error", lambda t, p: ((p - t) ** 2).mean(-1)),
    ("mse", lambda t, p: ((p - t) ** 2).mean(-1)),
    ("mean_absolute_error", lambda t, p: np.abs(p - t).mean(-1)),
    ("mae", lambda t, p: np.abs(p - t).mean(-1)),
    ("mean_absolute_percentage_error",
     lambda t, p: 100 * (np.abs(t - p) / np.clip(np.abs(t), 1e-7, None)).mean(-1)),
    ("mean_squared_logarithmic_error",
     lambda t, p: ((np.log(np.clip(p, 1e-7, None) + 1) - np.log(np.clip(t, 1e-7, None) + 1)) ** 2).mean(-1)),
    ("hinge", lambda t, p: np.maximum(1 - t * p, 0).mean(-1)),
    ("squared_hinge", lambda t, p: (np.maximum(1 - t * p, 0) ** 2).mean(-1)),
    ("binary_crossentropy",
     lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)),
    ("kullback_leibler_divergence",
     lambda t, p: (np.clip(t, 1e-7, 1) * np.log(np.clip(t, 1e-7, 1) / np.clip(p, 1e-7, 1))).sum(-1)),
    ("poisson", lambda t, p: (p - t * np.log(p + 1e-7)).mean(-1)),
])
def test_regression_and_binary_losses(name, want):
    got = evaluate(losses.get(name), Y_TRUE, Y_PRED)
    np.testing.assert_allclose(got, want(Y_TRUE, Y_PRED), rtol=1e-4, atol=1e-6)
    assert objectives.get(name) is losses.get(name)


def test_categorical_crossentropy_of_probabilities():
    got = evaluate(losses.categorical_crossentropy, ONE_HOT, PROBS)
    np.testing.assert_allclose(got, -(ONE_HOT * np.log(PROBS)).sum(-1), rtol=1e-5)


def test_sparse_categorical_crossentropy_int_labels():
    labels = ONE_HOT.argmax(1)[:, None].astype("int32")
    got = evaluate(losses.sparse_categorical_crossentropy, labels, PROBS, true_dtype="int32")
    np.testing.assert_allclose(got, -np.log(PROBS[np.arange(6), labels[:, 0]]), rtol=1e-5)


def test_accuracies():
    pred = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4]], "float32")
    true = np.eye(3, dtype="float32")[[1, 1, 2]]
    np.testing.assert_array_equal(evaluate(metrics.categorical_accuracy, true, pred), [1, 0, 1])
    labels = np.array([[1], [1], [2]], "int32")
    np.testing.assert_array_equal(
        evaluate(metrics.sparse_categorical_accuracy, labels, pred, "int32"), [1, 0, 1])
    bt = np.array([[1.0, 0.0], [0.0, 0.0]], "float32")
    bp = np.array([[0.9, 0.6], [0.2, 0.5]], "float32")  # 0.5 rounds to 0 (half to even)
    np.testing.assert_allclose(evaluate(metrics.binary_accuracy, bt, bp), [0.5, 1.0])
    np.testing.assert_array_equal(
        evaluate(lambda t, p: metrics.top_k_categorical_accuracy(t, p, k=2), true, pred), [1, 1, 1])


def test_lookup_errors_and_aliases():
    assert metrics.get("mse") is losses.mean_squared_error
    assert losses.get("MAE") is losses.mean_absolute_error
    with pytest.raises(ValueError, match="Unknown loss function: nope"):
        losses.get("nope")
    with pytest.raises(ValueError, match="Unknown metric function"):
        metrics.get("nope")
