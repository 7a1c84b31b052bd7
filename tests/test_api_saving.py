"""save / load_model / weights files / configs: Keras 2's HDF5 layout, exact continuation of
training, files written by Keras 2, atomic writes, clear errors, custom objects, safe mode."""
import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from graphnn import backend as K
from graphnn.engine.topology import Layer
from graphnn.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, Lambda
from graphnn.models import (Model, Sequential, load_model, model_from_config, model_from_json,
                            model_from_yaml, save_model)
from graphnn.optimizers import SGD, Adam
from graphnn.utils.generic_utils import custom_object_scope

from keras2_fixtures import keras2_dense_config, write_model_file, write_weights_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(0)


def data(n=40):
    x = np.random.RandomState(1).randn(n, 4).astype("float32")
    y = np.eye(3, dtype="float32")[np.random.RandomState(2).randint(0, 3, n)]
    return x, y


def mlp(optimizer=None):
    model = Sequential([Dense(6, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer or Adam(lr=0.01), "categorical_crossentropy", metrics=["acc"])
    return model


@pytest.mark.parametrize("make_opt", [lambda: Adam(lr=0.01),
                                      lambda: SGD(lr=0.05, momentum=0.9, decay=0.01)])
def test_save_load_continue_gives_the_losses_of_uninterrupted_training(tmp_path, make_opt):
    x, y = data()
    model = mlp(make_opt())
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "model.h5")
    model.save(path)
    np.random.seed(7)
    uninterrupted = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    loaded = load_model(path)
    assert loaded.optimizer.__class__ is model.optimizer.__class__
    assert loaded.metrics_names == ["loss", "acc"]
    np.random.seed(7)
    continued = loaded.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert continued["loss"] == uninterrupted["loss"]  # exactly, not approximately
    assert continued["acc"] == uninterrupted["acc"]
    assert K.get_value(loaded.optimizer.iterations) == K.get_value(model.optimizer.iterations)


def test_full_save_layout_is_keras(tmp_path):
    x, y = data()
    model = mlp()
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    path = str(tmp_path / "m.h5")
    save_model(model, path)
    with h5py.File(path, "r") as f:
        assert set(f.attrs) >= {"keras_version", "backend", "model_config", "training_config"}
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential"
        training = json.loads(f.attrs["training_config"])
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert training["loss"] == "categorical_crossentropy" and training["metrics"] == ["acc"]
        assert set(training) == {"optimizer_config", "loss", "metrics", "sample_weight_mode",
                                 "loss_weights"}
        mw = f["model_weights"]
        names = [n.decode() for n in mw.attrs["layer_names"]]
        assert names == [layer.name for layer in model.layers]
        first = names[0]
        assert [n.decode() for n in mw[first].attrs["weight_names"]] == \
            [first + "/kernel:0", first + "/bias:0"]
        np.testing.assert_array_equal(mw[first][first + "/kernel:0"][()],
                                      K.get_value(model.layers[0].kernel))
        # Adam: iterations + 2 slots per weight
        assert len(f["optimizer_weights"].attrs["weight_names"]) == 1 + 2 * 4


def test_functional_model_config_and_weights_round_trip(tmp_path):
    x, _ = data()
    inp = Input(shape=(4,), name="features")
    shared = Dense(4, activation="tanh", name="shared")
    h = shared(shared(inp))
    out = Dense(3, activation="softmax", name="out")(h)
    model = Model(inp, out)
    clone = model_from_json(model.to_json())
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert clone.get_config() == model.get_config()
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    clone.load_weights(path)
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    again = model_from_yaml(model.to_yaml())
    assert again.get_config() == model.get_config()
    model.compile("sgd", "categorical_crossentropy")
    model.save(str(tmp_path / "f.h5"))
    loaded = load_model(str(tmp_path / "f.h5"))
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
    assert isinstance(loaded, Model) and loaded.optimizer.__class__ is SGD


def test_sequential_json_yaml_and_inner_model():
    model = mlp()
    assert model.model is model  # Keras 1 callers reach the inner model this way
    for clone in (model_from_json(model.to_json()), model_from_yaml(model.to_yaml()),
                  model_from_config(json.loads(model.to_json()))):
        assert isinstance(clone, Sequential)
        assert [layer.get_config() for layer in clone.layers] == \
            [layer.get_config() for layer in model.layers]


def test_load_weights_by_name(tmp_path):
    x, _ = data()
    a = Sequential([Dense(6, input_dim=4, name="d1"), Dense(3, name="d2")])
    path = str(tmp_path / "w.h5")
    a.save_weights(path)
    # a different architecture: only the layer named d1 matches
    b = Sequential([Dense(6, input_dim=4, name="d1"), Dense(5, name="other")])
    before = b.layers[1].get_weights()
    b.load_weights(path, by_name=True)
    np.testing.assert_array_equal(b.layers[0].get_weights()[0], a.layers[0].get_weights()[0])
    np.testing.assert_array_equal(b.layers[1].get_weights()[0], before[0])
    with pytest.raises(ValueError, match="layers into a model with"):
        Sequential([Dense(6, input_dim=4)]).load_weights(path)
    c = Sequential([Dense(6, input_dim=4, name="d1"), Dense(2, name="d2")])
    with pytest.raises(ValueError, match="d2"):
        c.load_weights(path, by_name=True)
    with pytest.warns(UserWarning, match="Skipping loading of weights for layer d2"):
        c.load_weights(path, by_name=True, skip_mismatch=True)


def _numpy_mlp_bn(x, w1, b1, gamma, beta, mean, var, w2, b2, eps=1e-3):
    h = np.maximum(x @ w1 + b1, 0)
    h = gamma * (h - mean) / np.sqrt(var + eps) + beta
    z = h @ w2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_keras2_weights_file_loads_and_predicts_the_same(tmp_path):
    rng = np.random.RandomState(3)
    w1, b1 = rng.randn(4, 5).astype("float32"), rng.randn(5).astype("float32")
    gamma, beta = rng.rand(5).astype("float32") + 0.5, rng.randn(5).astype("float32")
    mean, var = rng.randn(5).astype("float32"), rng.rand(5).astype("float32") + 0.5
    w2, b2 = rng.randn(5, 3).astype("float32"), rng.randn(3).astype("float32")
    path = str(tmp_path / "keras2_weights.h5")
    write_weights_file(path, [
        ("dense_1", [("kernel", w1), ("bias", b1)]),
        ("batch_normalization_1", [("gamma", gamma), ("beta", beta), ("moving_mean", mean),
                                   ("moving_variance", var)]),
        ("dense_2", [("kernel", w2), ("bias", b2)])])
    model = Sequential([Dense(5, input_dim=4, activation="relu"), BatchNormalization(),
                        Dense(3, activation="softmax")])
    model.load_weights(path)
    x = rng.randn(7, 4).astype("float32")
    np.testing.assert_allclose(model.predict(x),
                               _numpy_mlp_bn(x, w1, b1, gamma, beta, mean, var, w2, b2),
                               rtol=1e-4, atol=1e-6)


def test_keras2_conv_weights_file(tmp_path):
    rng = np.random.RandomState(4)
    kernel, bias = rng.randn(3, 3, 2, 4).astype("float32"), rng.randn(4).astype("float32")
    dk, db = rng.randn(16, 2).astype("float32"), rng.randn(2).astype("float32")
    path = str(tmp_path / "conv.h5")
    write_weights_file(path, [("conv2d_1", [("kernel", kernel), ("bias", bias)]),
                              ("flatten_1", []), ("dense_1", [("kernel", dk), ("bias", db)])])

    def build():
        return Sequential([Conv2D(4, (3, 3), input_shape=(4, 4, 2)), Flatten(), Dense(2)])
    loaded, direct = build(), build()
    loaded.load_weights(path)
    direct.set_weights([kernel, bias, dk, db])
    x = rng.randn(3, 4, 4, 2).astype("float32")
    np.testing.assert_allclose(loaded.predict(x), direct.predict(x), rtol=1e-5, atol=1e-6)
    # by hand: a 'valid' 3x3 convolution of a 4x4 image is 2x2
    patch = x[:, 0:3, 0:3, :]
    conv00 = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2])) + bias
    assert loaded.layers[0].output_shape == (None, 2, 2, 4)
    mid = Model(loaded.inputs, loaded.layers[0].output).predict(x)
    np.testing.assert_allclose(mid[:, 0, 0, :], conv00, rtol=1e-4, atol=1e-5)


def test_keras2_model_file_loads_compiled(tmp_path):
    rng = np.random.RandomState(5)
    w1, b1 = rng.randn(4, 6).astype("float32"), rng.randn(6).astype("float32")
    w2, b2 = rng.randn(6, 3).astype("float32"), rng.randn(3).astype("float32")
    config = {"class_name": "Sequential", "config": [
        keras2_dense_config("dense_1", 6, "relu", (None, 4)),
        keras2_dense_config("dense_2", 3, "softmax")]}
    training = {"optimizer_config": {"class_name": "SGD", "config": {
        "lr": 0.01, "momentum": 0.0, "decay": 0.0, "nesterov": False}},
        "loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
        "loss_weights": None}
    path = str(tmp_path / "keras2_model.h5")
    write_model_file(path, config, [("dense_1", [("kernel", w1), ("bias", b1)]),
                                    ("dense_2", [("kernel", w2), ("bias", b2)])], training,
                     [("training/SGD/Variable:0", np.array(12, "int64"))])
    with pytest.warns(UserWarning, match="freshly initialized optimizer"):
        model = load_model(path)  # Keras 2.1 SGD state is [iterations] + moments; ours differs
    x = rng.randn(5, 4).astype("float32")
    z = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-6)
    assert model.metrics_names == ["loss", "accuracy"]
    assert isinstance(model.optimizer, SGD)


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    model = Sequential([Dense(3, input_dim=2)])
    path = str(tmp_path / "ckpt.h5")
    model.save_weights(path)
    first = model.get_weights()
    model.set_weights([w + 1 for w in first])
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(args)
        raise RuntimeError("disk full (injected)")
    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(RuntimeError, match="injected"):
        model.save_weights(path)
    monkeypatch.undo()
    assert calls and sorted(os.listdir(tmp_path)) == ["ckpt.h5"]  # no temporary file left
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], first[0])


def test_checkpoint_killed_mid_write_leaves_previous_checkpoint_loadable(tmp_path):
    path = str(tmp_path / "ckpt.h5")
    script = textwrap.dedent("""
        import os, signal, sys
        import h5py, numpy as np
        from graphnn.layers import Dense
        from graphnn.models import Sequential
        path = sys.argv[1]
        model = Sequential([Dense(3, input_dim=2, name="d")])
        model.save(path)
        np.save(path + ".npy", model.get_weights()[0])
        model.set_weights([w + 1 for w in model.get_weights()])
        real = h5py.Group.create_dataset
        def die(self, *a, **k):
            real(self, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies in the middle of the write
        h5py.Group.create_dataset = die
        model.save(path)
    """)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", script, path], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    with pytest.warns(UserWarning, match="not\\* compiled"):
        loaded = load_model(path)
    np.testing.assert_array_equal(loaded.layers[0].get_weights()[0], np.load(path + ".npy"))


def test_corrupt_or_missing_file_errors_name_the_file(tmp_path):
    model = Sequential([Dense(3, input_dim=2)])
    good = str(tmp_path / "good.h5")
    model.save(good)
    truncated = str(tmp_path / "truncated.h5")
    with open(good, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:1000])
    with pytest.raises(OSError, match="truncated.h5"):
        load_model(truncated)
    with pytest.raises(OSError, match="truncated.h5"):
        model.load_weights(truncated)
    junk = str(tmp_path / "junk.h5")
    with open(junk, "wb") as g:
        g.write(b"not an hdf5 file at all")
    with pytest.raises(OSError, match="junk.h5.*corrupt or truncated"):
        load_model(junk)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_model(str(tmp_path / "missing.h5"))
    weights_only = str(tmp_path / "weights.h5")
    model.save_weights(weights_only)
    with pytest.raises(ValueError, match="No model found in config file"):
        load_model(weights_only)


class Scale(Layer):
    """A custom layer: multiplies by a constant."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs, mask=None):
        return inputs * self.factor

    def get_config(self):
        return dict(super().get_config(), factor=self.factor)


def test_unknown_layer_lists_known_and_suggests_custom_objects(tmp_path):
    x, _ = data()
    model = Sequential([Dense(3, input_dim=4), Scale(3.0)])
    text = model.to_json()
    with pytest.raises(ValueError, match="Unknown layer: Scale.*Dense.*custom_objects"):
        model_from_json(text)
    clone = model_from_json(text, custom_objects={"Scale": Scale})
    assert clone.layers[1].factor == 3.0
    with custom_object_scope({"Scale": Scale}):
        clone = model_from_json(text)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="Unknown loss function: my_loss.*custom_objects"):
        model_from_json(text, {"Scale": Scale}).compile("sgd", "my_loss")


def twice(x):
    return x * 2.0


def test_lambda_bytecode_refused_unless_safe_mode_false(tmp_path):
    x, _ = data()
    model = Sequential([Dense(3, input_dim=4), Lambda(lambda t: t * 2.0 + 1.0)])
    text = model.to_json()
    assert json.loads(text)["config"][1]["config"]["function_type"] == "lambda"
    with pytest.raises(ValueError, match="safe_mode=False"):
        model_from_json(text)
    clone = model_from_json(text, safe_mode=False)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    model.compile("sgd", "mse")
    path = str(tmp_path / "lambda.h5")
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode=False"):
        load_model(path)
    assert load_model(path, safe_mode=False).layers[1].function(np.float32(1)) == 3.0
    named = Sequential([Dense(3, input_dim=4), Lambda(twice)])
    assert json.loads(named.to_json())["config"][1]["config"]["function"] == "twice"
    with pytest.raises(ValueError, match="custom_objects"):
        model_from_json(named.to_json())
    assert model_from_json(named.to_json(), {"twice": twice}).layers[1].function is twice


def test_yaml_is_read_with_the_safe_loader():
    evil = "!!python/object/apply:os.system ['echo pwned']"
    with pytest.raises(Exception, match="could not determine a constructor|python/object"):
        model_from_yaml(evil)
