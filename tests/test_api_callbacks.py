"""Progress bar text, EarlyStopping, LearningRateScheduler, LambdaCallback."""
import io

import numpy as np
import pytest

from graphnn import backend as K
from graphnn.callbacks import EarlyStopping, LambdaCallback, LearningRateScheduler
from graphnn.layers import Dense
from graphnn.models import Sequential
from graphnn.optimizers import SGD
from graphnn.utils.generic_utils import Progbar
from graphnn.utils.np_utils import to_categorical


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(0)


def test_progbar_keras_format():
    out = io.StringIO()
    bar = Progbar(target=100, stream=out)
    bar.update(32, [("loss", 0.6931), ("acc", 0.5)])
    assert out.getvalue() == (
        "\r 32/100 [========>.....................] - ETA: 0s - loss: 0.6931 - acc: 0.5000")
    bar.update(100, [("loss", 0.5), ("acc", 1.0)], force=True)
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("100/100 [==============================] - 0s - loss: 0.5618 - "
                           "acc: 0.8400") and last.endswith("\n")
    small = io.StringIO()
    Progbar(target=10, verbose=2, stream=small).update(10, [("loss", 1e-5)])
    assert small.getvalue() == " - 0s - loss: 1.0000e-05\n"


def model_and_data():
    x = np.random.randn(64, 5).astype("float32")
    y = to_categorical((x[:, 0] > 0).astype(int), 2)
    model = Sequential([Dense(2, input_dim=5, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1), metrics=["acc"])
    return model, x, y


def test_early_stopping_on_stalled_metric():
    model, x, y = model_and_data()
    K.set_value(model.optimizer.lr, 0.0)  # nothing improves after the first epoch
    stop = EarlyStopping(monitor="loss", patience=1)
    hist = model.fit(x, y, epochs=20, verbose=0, callbacks=[stop], shuffle=False)
    assert len(hist.epoch) == 3 and stop.stopped_epoch == 2


def test_learning_rate_scheduler_sets_lr_each_epoch():
    model, x, y = model_and_data()
    seen = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(
        float(K.get_value(model.optimizer.lr))))
    model.fit(x, y, epochs=3, verbose=0,
              callbacks=[LearningRateScheduler(lambda e: 0.1 / (e + 1)), record])
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    assert to_categorical([1], nb_classes=4).shape == (1, 4)
