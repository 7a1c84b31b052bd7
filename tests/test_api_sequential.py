"""Sequential end to end: the Keras README snippet, Keras 2 spellings, training contract, errors."""
import math
import re
import warnings

import numpy as np
import pytest

from graphnn import backend as K
from graphnn.callbacks import Callback, History
from graphnn.layers import Activation, Dense, Dropout
from graphnn.models import Sequential
from graphnn.optimizers import SGD


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(1234)


def make_data(n=256, dim=100, classes=10, seed=0):
    """Inputs with a learnable signal: the class is the argmax of the first ``classes``
    features (the other features are noise)."""
    x = np.random.RandomState(seed).randn(n, dim).astype("float32")
    y = np.eye(classes, dtype="float32")[np.argmax(x[:, :classes], axis=1)]
    return x, y


def count_calls(model, name="train_function"):
    """Wrap a model's compiled function to count calls (the interpreter does not count
    ``runtime.function.STATS['foreign_calls']``)."""
    make = {"train_function": model._make_train_function,
            "test_function": model._make_test_function,
            "predict_function": model._make_predict_function}[name]
    inner = make()
    calls = []

    def counting(ins):
        calls.append([a.shape for a in ins])
        return inner(ins)

    counting.inner = inner
    setattr(model, name, counting)
    return calls


def test_keras_readme_snippet_keras1_names(capsys):
    X_train, Y_train = make_data(256)
    X_test, Y_test = make_data(64, seed=1)
    model = Sequential()
    model.add(Dense(output_dim=64, input_dim=100))
    model.add(Activation("relu"))
    model.add(Dense(output_dim=10))
    model.add(Activation("softmax"))
    model.compile(loss='categorical_crossentropy', optimizer='sgd', metrics=['accuracy'])
    model.compile(loss='categorical_crossentropy',
                  optimizer=SGD(lr=0.01, momentum=0.9, nesterov=True))
    history = model.fit(X_train, Y_train, nb_epoch=5, batch_size=32)
    out = capsys.readouterr().out
    assert "Epoch 1/5" in out and "Epoch 5/5" in out
    assert "256/256 [==============================] - " in out and " - loss: " in out
    loss = history.history["loss"]
    assert len(loss) == 5 and loss[-1] < loss[0] * 0.8
    X_batch, Y_batch = X_train[:32], Y_train[:32]
    batch_loss = model.train_on_batch(X_batch, Y_batch)
    assert np.isscalar(batch_loss) or np.ndim(batch_loss) == 0
    loss_and_metrics = model.evaluate(X_test, Y_test, batch_size=32)
    assert np.ndim(loss_and_metrics) == 0  # no metrics requested in the second compile
    classes = model.predict_classes(X_test, batch_size=32)
    proba = model.predict_proba(X_test, batch_size=32)
    assert classes.shape == (64,) and proba.shape == (64, 10)
    np.testing.assert_array_equal(classes, proba.argmax(-1))
    np.testing.assert_allclose(proba.sum(-1), 1.0, rtol=1e-5)
    assert (model.predict_classes(X_train) == Y_train.argmax(-1)).mean() > 0.5
    assert (classes == Y_test.argmax(-1)).mean() > 0.2  # chance is 0.1


def test_keras2_spellings_and_metrics_named_as_given():
    x, y = make_data(256)
    model = Sequential([Dense(64, input_dim=100, kernel_initializer="he_normal"),
                        Activation("relu"),
                        Dense(units=10, activation="softmax", use_bias=True)])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9),
                  metrics=["acc"])
    assert model.metrics_names == ["loss", "acc"]
    hist = model.fit(x, y, epochs=4, batch_size=32, verbose=0, validation_split=0.25)
    assert isinstance(hist, History) and hist.epoch == [0, 1, 2, 3]
    assert set(hist.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert hist.history["acc"][-1] > hist.history["acc"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert 0.0 <= acc <= 1.0 and loss > 0
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy"]


def test_evaluate_matches_numpy_forward_pass():
    x, y = make_data(70)
    model = Sequential([Dense(8, input_dim=100, activation="tanh"), Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    w1, b1, w2, b2 = model.get_weights()
    logits = np.tanh(x @ w1 + b1) @ w2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want_loss = -(y * np.log(p)).sum(1).mean()
    want_acc = (p.argmax(1) == y.argmax(1)).mean()
    loss, acc = model.evaluate(x, y, batch_size=32, verbose=0)  # batches of 32, 32, 6
    assert loss == pytest.approx(want_loss, rel=1e-4)
    assert acc == pytest.approx(want_acc)
    np.testing.assert_allclose(model.predict(x, batch_size=16), p, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), p, rtol=1e-4, atol=1e-6)


def test_each_train_batch_is_one_call_of_one_function():
    x, y = make_data(100)
    model = Sequential([Dense(16, input_dim=100, activation="relu"), Dropout(0.5),
                        Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    calls = count_calls(model)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert len(calls) == 3 * math.ceil(100 / 32)
    # inputs, targets and sample weights, sliced per batch
    assert calls[0] == [(32, 100), (32, 10), (32,)] and calls[3] == [(4, 100), (4, 10), (4,)]
    assert model.test_function is None and model.predict_function is None
    # forward, loss, metric, gradients, every optimizer update (+ random key) in that one call
    n_params = len(model.trainable_weights)
    assert len(model.train_function.inner.updates) == 2 * n_params + 1


def test_set_lr_to_zero_stops_learning_without_recompiling():
    x, y = make_data(64)
    model = Sequential([Dense(10, input_dim=100, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=1, verbose=0)
    train_function = model.train_function
    before = model.get_weights()
    K.set_value(model.optimizer.lr, 0.0)
    model.fit(x, y, epochs=2, verbose=0)
    assert model.train_function is train_function
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    K.set_value(model.optimizer.lr, 0.1)
    model.train_on_batch(x, y)
    assert not np.array_equal(before[0], model.get_weights()[0])


def test_dropout_only_in_training_and_predict_is_deterministic():
    x, y = make_data(64)
    model = Sequential([Dense(32, input_dim=100), Dropout(0.5), Dense(10)])
    model.compile(loss="mse", optimizer=SGD(lr=0.0))
    first, second = model.predict(x), model.predict(x)
    np.testing.assert_array_equal(first, second)
    w1, b1, w2, b2 = model.get_weights()
    np.testing.assert_allclose(first, (x @ w1 + b1) @ w2 + b2, rtol=1e-4, atol=1e-5)
    # training losses differ between identical steps (fresh dropout masks) and from test loss
    l1, l2 = model.train_on_batch(x, y), model.train_on_batch(x, y)
    assert l1 != l2 and model.test_on_batch(x, y) != l1


def test_input_shape_error_message_is_exact():
    model = Sequential([Dense(10, input_dim=100, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError) as e:
        model.fit(np.zeros((32, 99)), np.zeros((32, 10)), verbose=0)
    assert str(e.value) == ("Error when checking model input: expected dense_input_1 to have "
                            "shape (None, 100) but got array with shape (32, 99)")
    with pytest.raises(ValueError) as e:
        model.train_on_batch(np.zeros((32, 100)), np.zeros((32, 5)))
    assert str(e.value) == ("Error when checking model target: expected dense_1 to have shape "
                            "(None, 10) but got array with shape (32, 5)")
    with pytest.raises(ValueError, match="Found 32 input samples and 31 target samples"):
        model.fit(np.zeros((32, 100)), np.zeros((31, 10)), verbose=0)
    with pytest.raises(ValueError, match="expected dense_input_1 to have 2 dimensions"):
        model.predict(np.zeros((2, 100, 1)))


def test_incompatible_layer_error_names_layer_and_both_shapes():
    model = Sequential()
    model.add(Dense(10, input_dim=100))
    with pytest.raises(ValueError) as e:
        model.add(Dense(5, input_dim=64))
    assert str(e.value) == ("Input 0 is incompatible with layer dense_2: expected shape "
                            "(None, 64) but got (None, 10)")
    shared = Dense(3, input_dim=10)
    other = Sequential([Dense(7, input_dim=4)])
    first = Sequential([Dense(10, input_dim=8), shared])
    assert first.output_shape == (None, 3)
    with pytest.raises(ValueError, match=r"layer dense_\d+: expected shape \(None, 10\) but got "
                                         r"\(None, 7\)"):
        other.add(shared)


def test_summary_prints_table_and_param_counts(capsys):
    model = Sequential([Dense(64, input_dim=100), Activation("relu"), Dense(10),
                        Activation("softmax")])
    model.summary()
    out = capsys.readouterr().out
    assert "Layer (type)" in out and "Output Shape" in out and "Param #" in out
    assert "dense_1 (Dense)              (None, 64)                6464" in out
    assert "Total params: 7,114" in out
    assert "Trainable params: 7,114" in out and "Non-trainable params: 0" in out
    assert model.count_params() == 7114


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = make_data(64)
    model = Sequential([Dense(10, input_dim=100, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["acc"])
    model.fit(x, y, epochs=2, verbose=2, validation_data=(x, y))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Train on 64 samples, validate on 64 samples"
    assert lines[1] == "Epoch 1/2"
    assert re.match(r" - \d+s - loss: \d\.\d{4} - acc: ", lines[2]), lines[2]
    assert " - val_loss: " in lines[2] and " - val_acc: " in lines[2]
    assert lines[3] == "Epoch 2/2" and len(lines) == 5


def test_callbacks_history_and_stop_training():
    x, y = make_data(64)
    model = Sequential([Dense(10, input_dim=100, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    seen = []

    class Stopper(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, logs["size"], sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    hist = model.fit(x, y, batch_size=40, epochs=10, verbose=0, callbacks=[Stopper()])
    assert hist.epoch == [0, 1] and model.history is hist
    assert seen[:2] == [(0, 40, ["accuracy", "batch", "loss", "size"]),
                        (1, 24, ["accuracy", "batch", "loss", "size"])]
    assert hist.params["metrics"] == ["loss", "accuracy"]


def test_epoch_logs_are_batch_size_weighted_means():
    x, y = make_data(50)
    model = Sequential([Dense(10, input_dim=100, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.0))
    batch_losses = [model.test_on_batch(x[:32], y[:32]), model.test_on_batch(x[32:], y[32:])]
    hist = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    want = (batch_losses[0] * 32 + batch_losses[1] * 18) / 50
    assert hist.history["loss"][0] == pytest.approx(want, rel=1e-5)


def test_sample_weights_and_class_weights():
    x, y = make_data(40)
    model = Sequential([Dense(10, input_dim=100, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.0))
    p = model.predict(x)
    per_sample = -(y * np.log(p)).sum(1)
    sw = np.random.RandomState(3).rand(40)
    sw[:5] = 0
    want = (per_sample * sw).mean() / (sw != 0).mean()  # Keras: weighted mean per batch
    got = model.evaluate(x, y, sample_weight=sw, batch_size=40, verbose=0)
    assert got == pytest.approx(want, rel=1e-4)
    class_weight = {i: float(i + 1) for i in range(10)}
    cw = np.array([class_weight[c] for c in y.argmax(1)])
    got = model.train_on_batch(x, y, class_weight=class_weight)
    assert got == pytest.approx((per_sample * cw).mean(), rel=1e-4)


def test_sparse_targets_and_binary_outputs():
    x, y = make_data(64, classes=3)
    labels = y.argmax(1)
    model = Sequential([Dense(3, input_dim=100, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.1), metrics=["acc"])
    hist = model.fit(x, labels, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    binary = Sequential([Dense(1, input_dim=100, activation="sigmoid")])
    binary.compile(loss="binary_crossentropy", optimizer=SGD(lr=0.1), metrics=["accuracy"])
    hist = binary.fit(x, (labels == 0).astype("float32"), epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    classes = binary.predict_classes(x)
    assert classes.shape == (64, 1) and classes.dtype == np.int32


def test_predict_proba_warns_outside_unit_interval():
    model = Sequential([Dense(2, input_dim=3, kernel_initializer="ones")])
    with pytest.warns(UserWarning, match="invalid probability values"):
        model.predict_proba(np.full((2, 3), 5.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Sequential([Dense(2, input_dim=3, activation="softmax")]).predict_proba(np.ones((2, 3)))


def test_get_set_weights_and_errors():
    model = Sequential([Dense(4, input_dim=3), Dense(2)])
    weights = [np.full(w.shape, i, "float32") for i, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    layer = model.layers[0]
    with pytest.raises(ValueError) as e:
        layer.set_weights([weights[0]])
    assert str(e.value).startswith('You called `set_weights(weights)` on layer "dense_1" with a  '
                                   "weight list of length 1, but the layer was expecting 2 "
                                   "weights.")
    with pytest.raises(ValueError, match=r"Layer weight shape \(3, 4\) not compatible with "
                                         r"provided weight shape \(4, 3\)"):
        layer.set_weights([np.zeros((4, 3)), np.zeros(4)])
    assert [w.name for w in layer.weights] == ["dense_1/kernel:0", "dense_1/bias:0"]
    assert [w.keras1_name for w in layer.weights] == ["dense_1_W", "dense_1_b"]
    assert layer.W is layer.kernel and layer.b is layer.bias


def test_pop_and_uncompiled_errors():
    model = Sequential([Dense(4, input_dim=3), Dense(2)])
    model.compile(loss="mse", optimizer="sgd")
    model.pop()
    assert model.output_shape == (None, 4) and len(model.layers) == 1
    with pytest.raises(RuntimeError, match="You must compile a model before training"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 4)), verbose=0)
    with pytest.raises(ValueError, match="must get an `input_shape`"):
        Sequential().add(Dense(3))


def test_predict_on_batch_takes_the_fast_path():
    """A ready array of the input's dtype and shape goes straight to the compiled function:
    no full validation and no copy (the per-call Python cost is a few attribute checks; no
    timing is asserted here, `examples/benchmarks/mlp.py` measures it)."""
    model = Sequential([Dense(4, input_dim=3)])
    model._make_predict_function()
    result = [np.zeros((1, 4), "float32")]
    seen = []
    model.predict_function = lambda ins: seen.append(ins[0]) or result

    def refuse(x):
        raise AssertionError("the fast path validated its input again")
    model._standardize_x = refuse
    x = np.zeros((1, 3), "float32")
    assert model.predict_on_batch(x) is result[0] and seen[-1] is x
    assert model.predict(x) is result[0] and seen[-1] is x
    model._standardize_x = lambda x: [np.asarray(x, "float32")]   # other input: validated
    model.predict_on_batch(np.zeros((1, 3), "float64"))
    assert seen[-1].dtype == np.float32


def test_models_built_before_clear_session_keep_working():
    x, y = make_data(32)
    model = Sequential([Dense(16, input_dim=100), Dropout(0.5), Dense(10)])
    model.compile(loss="mse", optimizer=SGD(lr=0.0))
    K.clear_session()  # new learning-phase placeholder and random key
    first, second = model.train_on_batch(x, y), model.train_on_batch(x, y)
    assert first != second  # the model's own random key still advances
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    with pytest.warns(UserWarning, match="show_accuracy"):
        model.fit(x, y, epochs=1, verbose=0, show_accuracy=True)
