"""Callback hooks, ModelCheckpoint, EarlyStopping, ReduceLROnPlateau, CSVLogger, TerminateOnNaN,
ProgbarLogger's text, and learning-rate changes that take effect without recompiling."""
import csv
import os

import h5py
import numpy as np
import pytest

from graphnn import backend as K
from graphnn.callbacks import (Callback, CSVLogger, EarlyStopping, LambdaCallback,
                               ModelCheckpoint, ReduceLROnPlateau, RemoteMonitor, TerminateOnNaN)
from graphnn.layers import Dense
from graphnn.models import Sequential, load_model
from graphnn.optimizers import SGD
from runtime import function as rt_function


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(0)


X = np.random.RandomState(1).randn(40, 4).astype("float32")
Y = np.eye(3, dtype="float32")[np.random.RandomState(2).randint(0, 3, 40)]


def mlp(lr=0.1):
    model = Sequential([Dense(6, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.compile(SGD(lr=lr), "categorical_crossentropy", metrics=["acc"])
    return model


def test_every_hook_in_order_with_model_and_params():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin", self.model is model, self.params["epochs"],
                           self.params["samples"], self.params["batch_size"]))

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_batch_begin(self, batch, logs=None):
            events.append(("batch_begin", batch, logs["size"]))

        def on_batch_end(self, batch, logs=None):
            events.append(("batch_end", batch, sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            events.append(("train_end",))
    model = mlp()
    model.fit(X[:30], Y[:30], batch_size=20, epochs=2, verbose=0, validation_data=(X[30:], Y[30:]))
    batch_keys = ["acc", "batch", "loss", "size"]
    epoch_keys = ["acc", "loss", "val_acc", "val_loss"]
    one_epoch = lambda e: [("epoch_begin", e), ("batch_begin", 0, 20),  # noqa: E731
                           ("batch_end", 0, batch_keys), ("batch_begin", 1, 10),
                           ("batch_end", 1, batch_keys), ("epoch_end", e, epoch_keys)]
    events.clear()
    model.fit(X[:30], Y[:30], batch_size=20, epochs=2, verbose=0, callbacks=[Recorder()],
              validation_data=(X[30:], Y[30:]))
    assert events == [("train_begin", True, 2, 30, 20)] + one_epoch(0) + one_epoch(1) + \
        [("train_end",)]


def test_lambda_callback_and_stop_training():
    seen = {"train_begin": 0, "epoch_begin": 0, "batch_begin": 0, "batch_end": 0,
            "epoch_end": 0, "train_end": 0}

    def bump(name):
        return lambda *args: seen.__setitem__(name, seen[name] + 1)
    model = mlp()
    stopper = LambdaCallback(
        on_train_begin=bump("train_begin"), on_epoch_begin=bump("epoch_begin"),
        on_batch_begin=bump("batch_begin"), on_batch_end=bump("batch_end"),
        on_epoch_end=lambda epoch, logs: (bump("epoch_end")(),
                                          setattr(model, "stop_training", epoch == 1)),
        on_train_end=bump("train_end"))
    hist = model.fit(X, Y, batch_size=20, epochs=5, verbose=0, callbacks=[stopper])
    assert hist.epoch == [0, 1]
    assert seen == {"train_begin": 1, "epoch_begin": 2, "batch_begin": 4, "batch_end": 4,
                    "epoch_end": 2, "train_end": 1}


def test_learning_rate_change_takes_effect_without_recompiling():
    model = mlp()
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0)
    compiled = rt_function.STATS["compilations"]
    K.set_value(model.optimizer.lr, 0.0)
    before = model.get_weights()
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # lr 0: nothing moves
    K.set_value(model.optimizer.lr, 0.5)
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0)
    assert not np.array_equal(before[0], model.get_weights()[0])
    assert rt_function.STATS["compilations"] == compiled


def test_model_checkpoint_formats_names_every_period(tmp_path):
    model = mlp()
    pattern = str(tmp_path / "weights.{epoch:02d}-{val_loss:.2f}.hdf5")
    model.fit(X, Y, batch_size=20, epochs=4, verbose=0, validation_split=0.25,
              callbacks=[ModelCheckpoint(pattern, period=2)])
    names = sorted(os.listdir(tmp_path))
    assert [n[:11] for n in names] == ["weights.02-", "weights.04-"]
    assert all(n.endswith(".hdf5") and len(n.split("-")[1]) == len("1.23.hdf5") for n in names)
    loaded = load_model(str(tmp_path / names[-1]))
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)


@pytest.mark.parametrize("mode, expected_saves", [("min", 1), ("max", 3), ("auto", 1)])
def test_model_checkpoint_save_best_only_modes(tmp_path, mode, expected_saves):
    # lr 0 after the first epoch: val_loss stays equal, so only the first epoch "improves" in
    # min mode; with a tiny growth in max mode every epoch does.
    saves = []
    model = mlp(lr=0.0)
    path = str(tmp_path / "best.h5")
    ckpt = ModelCheckpoint(path, monitor="val_loss", save_best_only=True, mode=mode,
                           save_weights_only=True)
    ckpt._save = lambda filepath, real=ckpt._save: (saves.append(filepath), real(filepath))
    bump = LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__(
        "val_loss", logs["val_loss"] + 1e-3 * e) if mode == "max" else None)
    model.fit(X, Y, batch_size=20, epochs=3, verbose=0, validation_data=(X, Y),
              callbacks=[bump, ckpt])
    assert len(saves) == expected_saves
    with h5py.File(path, "r") as f:  # weights only: no model config
        assert "model_config" not in f.attrs and "layer_names" in f.attrs
    with pytest.warns(RuntimeWarning, match="Can save best model only with nope available"):
        ModelCheckpoint(path, monitor="nope", save_best_only=True).on_epoch_end(0, {})


def test_early_stopping_min_delta_and_mode():
    model = mlp(lr=0.05)
    stop = EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    hist = model.fit(X, Y, batch_size=20, epochs=10, verbose=0, callbacks=[stop])
    assert len(hist.epoch) == 3  # no epoch improves by 10: stop after patience
    stop_max = EarlyStopping(monitor="loss", mode="max", patience=0)
    hist = mlp(lr=0.5).fit(X, Y, batch_size=20, epochs=10, verbose=0, callbacks=[stop_max])
    assert len(hist.epoch) == 2  # the loss falls: in max mode that is no improvement


def test_reduce_lr_on_plateau():
    model = mlp(lr=0.0)  # the loss never changes: a plateau from the first epoch
    lrs = []
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.0)
    record = LambdaCallback(on_epoch_end=lambda e, logs: lrs.append(logs["lr"]))
    model.fit(X, Y, batch_size=20, epochs=2, verbose=0, callbacks=[reduce, record])
    assert lrs == [0.0, 0.0]
    K.set_value(model.optimizer.lr, 1e-9)  # too small to change the loss in float32
    lrs.clear()
    model.fit(X, Y, batch_size=20, epochs=5, verbose=0,
              callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                           min_lr=2e-10), record])
    # logs["lr"] is the rate of the epoch; halved after epochs 2, 3 and 4, never below min_lr
    assert lrs == pytest.approx([1e-9, 1e-9, 1e-9, 5e-10, 2.5e-10])
    assert float(K.get_value(model.optimizer.lr)) == pytest.approx(2e-10)


def test_csv_logger_separator_and_append(tmp_path):
    path = str(tmp_path / "log.csv")
    model = mlp()
    model.fit(X, Y, batch_size=20, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == ["epoch", "acc", "loss"] and [r[0] for r in rows[1:]] == ["0", "1"]
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0,
              callbacks=[CSVLogger(path, separator=";", append=True)])
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert len(rows) == 4 and rows[0][0] == "epoch" and rows[3][0] == "0"
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0, callbacks=[CSVLogger(path)])
    with open(path) as f:
        assert len(f.read().splitlines()) == 2  # append=False starts the file again
    assert sorted(os.listdir(tmp_path)) == ["log.csv"]


def test_terminate_on_nan(capsys):
    x = X.copy()
    x[25] = np.nan
    hist = mlp().fit(x, Y, batch_size=10, epochs=3, verbose=0, shuffle=False,
                     callbacks=[TerminateOnNaN()])
    assert len(hist.epoch) == 1 and "Batch 2: Invalid loss, terminating training" in \
        capsys.readouterr().out
    with pytest.raises(NotImplementedError, match="RemoteMonitor"):
        RemoteMonitor()


def test_progbar_logger_text(capsys):
    model = mlp()
    model.fit(X, Y, batch_size=20, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/2\n")
    assert "\r40/40 [==============================] - 0s - loss: " in out
    assert " - acc: " in out and "Epoch 2/2\n" in out
    model.fit(X, Y, batch_size=20, epochs=1, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/1" and lines[1].startswith(" - 0s - loss: ")
