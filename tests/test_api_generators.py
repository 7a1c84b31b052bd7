"""fit_generator / evaluate_generator / predict_generator: Keras 1 and Keras 2 arguments,
background threads with a bounded queue, exceptions re-raised, class and sample weights."""
import threading
import time

import numpy as np
import pytest

from graphnn import backend as K
from graphnn.callbacks import Callback
from graphnn.layers import Dense
from graphnn.models import Sequential
from graphnn.optimizers import SGD


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(0)


X = np.random.RandomState(1).randn(40, 4).astype("float32")
Y = np.eye(3, dtype="float32")[np.random.RandomState(2).randint(0, 3, 40)]


def mlp(like=None):
    model = Sequential([Dense(6, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.compile(SGD(lr=0.1), "categorical_crossentropy", metrics=["acc"])
    if like is not None:
        model.set_weights(like.get_weights())
    return model


def twins():
    a = mlp()
    return a, mlp(like=a)


def batches(x, y, batch_size=8, sw=None, loop=True):
    while True:
        for i in range(0, len(x), batch_size):
            if sw is None:
                yield x[i:i + batch_size], y[i:i + batch_size]
            else:
                yield x[i:i + batch_size], y[i:i + batch_size], sw[i:i + batch_size]
        if not loop:
            return


class Count(Callback):
    def on_train_begin(self, logs=None):
        self.batches, self.sizes = 0, []

    def on_batch_end(self, batch, logs=None):
        self.batches += 1
        self.sizes.append(logs["size"])


def test_fit_generator_matches_fit_keras2_arguments():
    a, b = twins()
    hist_fit = a.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hist_gen = b.fit_generator(batches(X, Y), steps_per_epoch=5, epochs=2, verbose=0,
                               workers=2, max_queue_size=3, use_multiprocessing=False)
    np.testing.assert_allclose(hist_gen.history["loss"], hist_fit.history["loss"], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


def test_fit_generator_keras1_arguments_count_samples():
    model = mlp()
    count = Count()
    hist = model.fit_generator(batches(X, Y), samples_per_epoch=40, nb_epoch=2,
                               validation_data=batches(X, Y), nb_val_samples=16, max_q_size=2,
                               nb_worker=1, pickle_safe=False, callbacks=[count], verbose=0)
    assert count.batches == 10 and set(count.sizes) == {8}
    assert set(hist.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert len(hist.history["val_loss"]) == 2
    # Keras 1 positional call: model.fit_generator(gen, samples, nb_epoch=...)
    count2 = Count()
    model.fit_generator(batches(X, Y), 16, nb_epoch=1, callbacks=[count2], verbose=0)
    assert count2.batches == 2


def test_fit_generator_validation_tuple_initial_epoch_and_progbar(capsys):
    model = mlp()
    hist = model.fit_generator(batches(X, Y), steps_per_epoch=5, epochs=4, initial_epoch=2,
                               validation_data=(X, Y), verbose=1)
    assert hist.epoch == [2, 3]
    out = capsys.readouterr().out
    assert "Epoch 3/4" in out and "5/5 [==============================]" in out
    assert "val_loss" in out
    assert hist.history["val_loss"][-1] == pytest.approx(model.evaluate(X, Y, verbose=0)[0],
                                                          rel=1e-5)


def test_generator_exception_is_reraised_in_the_caller():
    def broken():
        yield X[:8], Y[:8]
        raise KeyError("boom in the generator")
    model = mlp()
    with pytest.raises(KeyError, match="boom in the generator"):
        model.fit_generator(broken(), steps_per_epoch=5, epochs=1, verbose=0)
    with pytest.raises(KeyError, match="boom"):
        model.evaluate_generator(broken(), steps=3)
    with pytest.raises(ValueError, match="output of generator should be a tuple"):
        model.fit_generator(iter([X[:8]] * 10), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="generator stopped"):
        model.fit_generator(batches(X, Y, loop=False), steps_per_epoch=6, verbose=0)


def test_queue_is_bounded_and_threads_stop():
    produced = []

    def gen():
        while True:
            produced.append(1)
            yield X[:8], Y[:8]

    class Slow(Callback):
        def on_train_begin(self, logs=None):
            self.ahead = []

        def on_batch_begin(self, batch, logs=None):
            time.sleep(0.02)
            self.ahead.append(len(produced) - batch)
    model = mlp()
    slow = Slow()
    before = threading.active_count()
    model.fit_generator(gen(), steps_per_epoch=8, epochs=1, max_queue_size=2, workers=2,
                        callbacks=[slow], verbose=0)
    # at most the queue plus one batch in each worker's hands plus the one being consumed
    assert max(slow.ahead) <= 2 + 2 + 1
    time.sleep(0.1)
    assert threading.active_count() <= before


def test_evaluate_and_predict_generator_match_arrays():
    model = mlp()
    expected = model.evaluate(X, Y, batch_size=8, verbose=0)
    got = model.evaluate_generator(batches(X, Y), steps=5, workers=2)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    got1 = model.evaluate_generator(batches(X, Y), val_samples=40, nb_worker=1, max_q_size=1)
    np.testing.assert_allclose(got1, expected, rtol=1e-5)
    pred = model.predict_generator(batches(X, Y), steps=5)  # (x, y) batches: y is ignored
    np.testing.assert_allclose(pred, model.predict(X), rtol=1e-5)
    only_x = (X[i:i + 8] for i in range(0, 40, 8))
    np.testing.assert_allclose(model.predict_generator(only_x, val_samples=40),
                               model.predict(X), rtol=1e-5)


def test_class_weight_and_sample_weight_through_generators():
    cw = {0: 1.0, 1: 0.5, 2: 2.0}
    a, b = twins()
    ha = a.fit(X, Y, batch_size=8, epochs=1, shuffle=False, class_weight=cw, verbose=0)
    hb = b.fit_generator(batches(X, Y), steps_per_epoch=5, class_weight=cw, verbose=0)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)
    sw = np.random.RandomState(3).rand(40).astype("float32")
    c, d = twins()
    hc = c.fit(X, Y, batch_size=8, epochs=1, shuffle=False, sample_weight=sw, verbose=0)
    hd = d.fit_generator(batches(X, Y, sw=sw), steps_per_epoch=5, verbose=0)
    np.testing.assert_allclose(hd.history["loss"], hc.history["loss"], rtol=1e-6)


def test_temporal_sample_weights_through_generator():
    x = np.random.RandomState(4).randn(16, 5, 3).astype("float32")
    y = np.random.RandomState(5).randn(16, 5, 2).astype("float32")
    sw = np.ones((16, 5), "float32")
    sw[:, 3:] = 0.0
    model = Sequential([Dense(2, input_shape=(5, 3))])
    model.compile(SGD(lr=0.01), "mse", sample_weight_mode="temporal")
    hist = model.fit_generator(batches(x, y, batch_size=8, sw=sw), steps_per_epoch=2, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    model.compile(SGD(lr=0.01), "mse")
    with pytest.raises(ValueError, match="temporal"):
        model.fit_generator(batches(x, y, batch_size=8, sw=sw), steps_per_epoch=2, verbose=0)
