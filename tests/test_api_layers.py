"""Layers, configs, the functional API, custom layers, regularizers, constraints, initializers."""
import json

import numpy as np
import pytest

from graphnn import backend as K
from graphnn import initializations, initializers, layers, regularizers
from graphnn.constraints import MaxNorm, NonNeg
from graphnn.engine.topology import Input, InputSpec, Layer
from graphnn.layers import (Activation, Dense, Dropout, Flatten, Permute, RepeatVector, Reshape)
from graphnn.models import Model, Sequential, model_from_json
from graphnn.optimizers import SGD


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(7)


def test_config_round_trips():
    dense = Dense(32, activation="relu", use_bias=False, kernel_regularizer=regularizers.l2(0.01),
                  kernel_constraint=MaxNorm(3), name="d")
    act = Activation("tanh")
    drop = Dropout(0.3, seed=1)
    for layer in (dense, act, drop):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        assert layers.deserialize(layers.serialize(layer)).get_config() == config
    assert dense.get_config()["units"] == 32 and dense.get_config()["activation"] == "relu"
    assert dense.get_config()["kernel_initializer"] == {"class_name": "GlorotUniform",
                                                        "config": {"seed": None}}
    assert act.get_config()["activation"] == "tanh" and drop.get_config()["rate"] == 0.3


def test_keras1_constructor_names():
    d = Dense(output_dim=8, init="uniform", W_regularizer=regularizers.l1(0.1), bias=False,
              input_dim=4, W_constraint="nonneg")
    assert d.units == d.output_dim == 8 and not d.use_bias
    assert isinstance(d.kernel_initializer, initializers.RandomUniform)
    assert isinstance(d.kernel_constraint, NonNeg)
    assert d.batch_input_shape == (None, 4)
    assert Dropout(p=0.4).rate == 0.4 == Dropout(p=0.4).p
    with pytest.raises(TypeError, match="Keyword argument not understood: bogus"):
        Dense(3, bogus=1)


def test_sequential_json_and_hdf5_weights_round_trip(tmp_path):
    model = Sequential([Dense(5, input_dim=3, activation="relu"), Dropout(0.1), Dense(2)])
    clone = model_from_json(model.to_json())
    assert [type(layer) for layer in clone.layers] == [Dense, Dropout, Dense]
    assert clone.layers[0].get_config()["batch_input_shape"] == [None, 3] or \
        tuple(clone.layers[0].get_config()["batch_input_shape"]) == (None, 3)
    json.loads(model.to_json())
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    clone.load_weights(path)
    x = np.random.rand(4, 3).astype("float32")
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)


def test_functional_model_keras1_and_keras2_names():
    inp = Input(shape=(6,))
    h = Dense(8, activation="relu")(inp)
    out = Dense(3, activation="softmax")(h)
    m1 = Model(input=inp, output=out)
    m2 = Model(inputs=[inp], outputs=[out])
    assert m1.input_names == ["input_1"] and m1.output_names == ["dense_2"]
    assert [type(layer).__name__ for layer in m1.layers] == ["InputLayer", "Dense", "Dense"]
    x = np.random.rand(30, 6).astype("float32")
    y = np.eye(3, dtype="float32")[np.random.randint(0, 3, 30)]
    m1.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.5), metrics=["accuracy"])
    hist = m1.fit(x, y, epochs=3, batch_size=10, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    np.testing.assert_allclose(m2.predict(x), m1.predict(x), rtol=1e-6)  # shared layers
    # a model is a layer: call it on a new input
    new_in = Input(shape=(6,))
    wrapped = Model(new_in, m1(new_in))
    np.testing.assert_allclose(wrapped.predict(x), m1.predict(x), rtol=1e-6)
    assert len(wrapped.trainable_weights) == 4


def test_multi_output_losses_weights_and_metric_names():
    inp = Input(shape=(4,), name="features")
    shared = Dense(8, activation="relu")(inp)
    cls = Dense(2, activation="softmax", name="cls")(shared)
    reg = Dense(1, name="reg")(shared)
    model = Model(inp, [cls, reg])
    model.compile(optimizer="adam", loss={"cls": "categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["acc"]})
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_acc"]
    x = np.random.rand(16, 4).astype("float32")
    y_cls = np.eye(2, dtype="float32")[np.random.randint(0, 2, 16)]
    y_reg = np.random.rand(16, 1).astype("float32")
    loss, cls_loss, reg_loss, acc = model.evaluate(x, {"cls": y_cls, "reg": y_reg}, verbose=0)
    assert loss == pytest.approx(cls_loss + 0.5 * reg_loss, rel=1e-5)
    hist = model.fit(x, [y_cls, y_reg], epochs=2, verbose=0)
    assert set(hist.history) == {"loss", "cls_loss", "reg_loss", "cls_acc"}
    with pytest.raises(ValueError, match='Unknown entry in loss dictionary: "nope"'):
        model.compile(optimizer="sgd", loss={"nope": "mse"})


def test_weight_regularizer_adds_penalty_to_loss():
    model = Sequential([Dense(3, input_dim=4, kernel_regularizer=regularizers.l2(0.1),
                              bias_regularizer=regularizers.l1(0.2),
                              bias_initializer="ones")])
    model.compile(loss="mse", optimizer="sgd")
    x, y = np.random.rand(8, 4).astype("float32"), np.random.rand(8, 3).astype("float32")
    w, b = model.get_weights()
    data_loss = ((x @ w + b - y) ** 2).mean()
    want = data_loss + 0.1 * (w ** 2).sum() + 0.2 * np.abs(b).sum()
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(want, rel=1e-5)
    assert len(model.losses) == 2


def test_activity_regularizer_penalizes_outputs():
    model = Sequential([Dense(3, input_dim=4, activity_regularizer=regularizers.l1(0.5))])
    model.compile(loss="mse", optimizer="sgd")
    x, y = np.random.rand(8, 4).astype("float32"), np.random.rand(8, 3).astype("float32")
    out = model.predict(x)
    want = ((out - y) ** 2).mean() + 0.5 * np.abs(out).sum()
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(want, rel=1e-5)


def test_constraints_hold_after_training():
    model = Sequential([Dense(4, input_dim=3, kernel_constraint=NonNeg(),
                              bias_constraint=MaxNorm(0.5))])
    model.compile(loss="mse", optimizer=SGD(lr=1.0))
    x, y = np.random.randn(32, 3).astype("float32"), -np.ones((32, 4), "float32")
    model.fit(x, y, epochs=2, verbose=0)
    w, b = model.get_weights()
    assert (w >= 0).all() and np.linalg.norm(b) <= 0.5 + 1e-5


def test_non_trainable_layer_keeps_weights_and_counts_as_non_trainable(capsys):
    frozen = Dense(4, input_dim=3, trainable=False)
    model = Sequential([frozen, Dense(2)])
    model.compile(loss="mse", optimizer=SGD(lr=0.5))
    before = frozen.get_weights()
    model.fit(np.random.rand(16, 3), np.random.rand(16, 2), epochs=2, verbose=0)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.summary()
    out = capsys.readouterr().out
    assert "Trainable params: 10" in out and "Non-trainable params: 16" in out


def test_shape_layers():
    x = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    for layer, want in ((Flatten(input_shape=(3, 4)), x.reshape(2, 12)),
                        (Reshape((4, 3), input_shape=(3, 4)), x.reshape(2, 4, 3)),
                        (Reshape((-1, 2), input_shape=(3, 4)), x.reshape(2, 6, 2)),
                        (Permute((2, 1), input_shape=(3, 4)), x.transpose(0, 2, 1))):
        model = Sequential([layer])
        assert model.output_shape == (None,) + want.shape[1:]
        np.testing.assert_array_equal(model.predict(x), want)
    rep = Sequential([RepeatVector(3, input_shape=(4,))])
    np.testing.assert_array_equal(rep.predict(x[:, 0]), np.repeat(x[:, :1], 3, axis=1))


def test_layer_names_origins_and_node_accessors():
    model = Sequential([Dense(4, input_dim=3), Activation("relu")])
    dense, act = model.layers
    assert (dense.name, act.name) == ("dense_1", "activation_1")
    assert model.inputs[0].name == "dense_input_1"
    assert dense.output.origin == "dense_1" and act.output.origin == "activation_1"
    assert dense.input_shape == (None, 3) and act.output_shape == (None, 4)
    assert model.input is model.inputs[0] and model.output is act.output
    with pytest.raises(RuntimeError, match="isn't built"):
        Dense(3).count_params()
    with pytest.raises(AttributeError, match="is not connected"):
        Dense(3).output


class Keras1Linear(Layer):
    """A Keras 1 style custom layer: variables made by hand, ``get_output_shape_for``."""

    def __init__(self, output_dim, **kwargs):
        self.output_dim = output_dim
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.W = initializations.glorot_uniform((input_shape[1], self.output_dim),
                                                name=self.name + "_W")
        self.trainable_weights = [self.W]

    def call(self, x, mask=None):
        return K.dot(x, self.W)

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.output_dim)


class Keras2Scale(Layer):
    """A Keras 2 style custom layer: ``add_weight``, ``compute_output_shape``, input spec."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")
        self.input_spec = InputSpec(ndim=2)
        super().build(input_shape)

    def call(self, inputs):
        return inputs * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape


def test_custom_layers_train():
    model = Sequential([Keras1Linear(4, input_shape=(3,)), Keras2Scale()])
    assert model.output_shape == (None, 4)
    assert model.layers[0].compute_output_shape((None, 3)) == (None, 4)
    assert [w.name for w in model.trainable_weights] == ["keras1_linear_1_W",
                                                         "keras2_scale_1/scale:0"]
    model.compile(loss="mse", optimizer=SGD(lr=0.1))
    x, y = np.random.rand(16, 3).astype("float32"), np.random.rand(16, 4).astype("float32")
    hist = model.fit(x, y, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    with pytest.raises(ValueError, match="Input 0 is incompatible with layer keras2_scale_1: "
                                         "expected ndim=2, found ndim=3"):
        model.layers[1](Input(shape=(2, 4)))


def test_initializers():
    w = initializers.get("glorot_uniform")((100, 50))
    limit = np.sqrt(6.0 / 150)
    assert w.dtype == np.float32 and np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    assert np.abs(initializers.get("he_normal")((400, 300)).std() - np.sqrt(2 / 400)) < 0.005
    q = initializers.get("orthogonal")((20, 20))
    np.testing.assert_allclose(q @ q.T, np.eye(20), atol=1e-5)
    np.testing.assert_array_equal(initializers.get("identity")((3, 3)), np.eye(3))
    assert not initializers.get("zero")((2,)).any() and initializers.get("one")((2,)).all()
    np.random.seed(3)
    a = initializers.get("normal")((5,))
    np.random.seed(3)
    np.testing.assert_array_equal(a, initializers.RandomNormal()((5,)))

    def keras2_init(shape, dtype=None):
        return np.full(shape, 0.5)

    layer = Dense(2, input_dim=2, kernel_initializer=keras2_init)
    Sequential([layer])
    np.testing.assert_array_equal(K.get_value(layer.kernel), np.full((2, 2), 0.5))


def test_add_weight_keras1_and_keras21_argument_orders():
    layer = Dense(2)
    layer.name = "custom"
    a = layer.add_weight((3, 4), "zeros", "a", False)  # Keras 1 / 2.0 positional order
    b = layer.add_weight("b", (2,), None, "ones")  # Keras 2.1+: name, shape, dtype, initializer
    c = layer.add_weight(name="c", shape=(1,), initializer="one", trainable=False)
    assert (a.name, b.name, c.name) == ("custom/a:0", "custom/b:0", "custom/c:0")
    assert a.shape == (3, 4) and not K.get_value(a).any() and K.get_value(b).all()
    assert layer._non_trainable_weights == [a, c] and layer._trainable_weights == [b]
    with pytest.raises(TypeError, match="multiple values"):
        layer.add_weight((1,), shape=(2,))


def test_dense_on_sequences_and_temporal_sample_weights():
    model = Sequential([Dense(2, input_shape=(3, 4))])
    model.compile(loss="mse", optimizer=SGD(lr=0.0), sample_weight_mode="temporal")
    x = np.random.rand(5, 3, 4).astype("float32")
    y = np.random.rand(5, 3, 2).astype("float32")
    w, b = model.get_weights()
    pred = x @ w + b
    np.testing.assert_allclose(model.predict(x), pred, rtol=1e-5)
    sw = np.random.rand(5, 3)
    sw[0, 0] = 0
    want = (((pred - y) ** 2).mean(-1) * sw).mean() / (sw != 0).mean()
    assert model.evaluate(x, y, sample_weight=sw, verbose=0) == pytest.approx(want, rel=1e-5)
