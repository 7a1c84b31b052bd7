"""The functional API: Input, multi-input/multi-output models, shared layers, models as layers,
nested Sequential, dict data, per-output losses/metrics/loss_weights, freezing, configs; merge
layers (Keras 1 ``Merge``/``merge``, Keras 2 ``Add``...); ``TimeDistributed``."""
import json

import numpy as np
import pytest

from graphnn import backend as K
from graphnn.layers import (Activation, Add, Average, BatchNormalization, Concatenate, Conv1D,
                            Dense, Dot, Dropout, Input, Maximum, Merge, Minimum, Multiply,
                            Subtract, TimeDistributed, add, average, concatenate, dot, maximum,
                            merge, multiply)
from graphnn.models import Model, Sequential, model_from_config, model_from_json, model_from_yaml
from graphnn.optimizers import SGD


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(3)


def _rand(*shape):
    return np.random.rand(*shape).astype("float32")


def _dense(x, layer):
    w, b = layer.get_weights()
    return x @ w + b


# --- Input and the model's structure ------------------------------------------------------------
def test_input_shape_batch_shape_dtype_and_name():
    assert K.int_shape(Input(shape=(3,))) == (None, 3)
    assert K.int_shape(Input(batch_shape=(2, 5, 4))) == (2, 5, 4)
    ids = Input(shape=(4,), dtype="int32", name="ids")
    assert ids.dtype == "int32" and ids._keras_history[0].name == "ids"
    with pytest.raises(ValueError, match="either a `shape` or a `batch_shape`"):
        Input()
    with pytest.raises(TypeError, match="must come from `Input`"):
        h = Dense(2)(Input(shape=(3,)))
        Model(h, Dense(1)(h))


def test_structure_get_layer_inputs_outputs_and_summary(capsys):
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    h = concatenate([a, b], name="joined")
    out1 = Dense(2, name="out1")(h)
    out2 = Dense(1, name="out2")(h)
    model = Model(inputs=[a, b], outputs=[out1, out2])
    assert model.inputs == [a, b] and model.outputs == [out1, out2]
    assert model.input_names == ["a", "b"] and model.output_names == ["out1", "out2"]
    assert [layer.name for layer in model.layers] == ["a", "b", "joined", "out1", "out2"]
    assert model.get_layer("joined") is model.layers[2] is model.get_layer(index=2)
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="only has 5 layers"):
        model.get_layer(index=9)
    model.summary()
    out = capsys.readouterr().out
    assert "Connected to" in out and "a[0][0]" in out and "b[0][0]" in out
    assert "Total params: 18" in out
    assert model.input_shape == [(None, 3), (None, 2)]
    assert model.output_shape == [(None, 2), (None, 1)]


# --- multiple inputs and outputs ----------------------------------------------------------------
def test_multi_output_loss_weights_give_the_numpy_weighted_loss():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    h = concatenate([a, b])
    d1, d2 = Dense(2, name="out1"), Dense(1, name="out2")
    model = Model(input=[a, b], output=[d1(h), d2(h)])  # Keras 1 argument names
    model.compile(optimizer=SGD(lr=0.1), loss={"out1": "mse", "out2": "mae"},
                  loss_weights={"out1": 0.3, "out2": 2.0}, metrics={"out1": ["mae"]})
    assert model.metrics_names == ["loss", "out1_loss", "out2_loss",
                                   "out1_mean_absolute_error"]
    xa, xb, y1, y2 = _rand(8, 3), _rand(8, 2), _rand(8, 2), _rand(8, 1)
    xh = np.concatenate([xa, xb], axis=1)
    p1, p2 = _dense(xh, d1), _dense(xh, d2)
    l1, l2 = ((p1 - y1) ** 2).mean(), np.abs(p2 - y2).mean()
    want = [0.3 * l1 + 2.0 * l2, l1, l2, np.abs(p1 - y1).mean()]
    got = model.evaluate({"a": xa, "b": xb}, {"out1": y1, "out2": y2}, batch_size=8, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # the same with lists, through the train step (the loss before the update)
    model.compile(optimizer=SGD(lr=0.1), loss=["mse", "mae"], loss_weights=[0.3, 2.0])
    got = model.train_on_batch([xa, xb], [y1, y2])
    np.testing.assert_allclose(got, want[:3], rtol=1e-5)
    hist = model.fit([xa, xb], [y1, y2], epochs=2, batch_size=4, verbose=0)
    assert set(hist.history) == {"loss", "out1_loss", "out2_loss"}
    preds = model.predict({"a": xa, "b": xb})
    assert [p.shape for p in preds] == [(8, 2), (8, 1)]
    with pytest.raises(ValueError, match='No data provided for "b"'):
        model.predict({"a": xa})
    with pytest.raises(ValueError, match="should have one entry per model output"):
        model.compile(optimizer="sgd", loss="mse", loss_weights=[1.0])


def test_default_metric_names_per_output():
    x = Input(shape=(4,))
    h = Dense(3)(x)
    model = Model(x, [Dense(2, activation="softmax")(h), Dense(1, activation="sigmoid")(h)])
    model.compile(optimizer="sgd", loss=["categorical_crossentropy", "binary_crossentropy"],
                  metrics=["acc"])
    assert model.metrics_names == ["loss", "dense_2_loss", "dense_3_loss", "dense_2_acc",
                                   "dense_3_acc"]
    y1 = np.eye(2, dtype="float32")[np.random.randint(0, 2, 6)]
    y2 = np.random.randint(0, 2, (6, 1)).astype("float32")
    hist = model.fit(_rand(6, 4), [y1, y2], epochs=1, verbose=0)
    assert set(hist.history) == set(model.metrics_names)


# --- shared layers and models as layers ---------------------------------------------------------
def test_shared_layer_accumulates_gradients_from_every_call():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(2)
    model = Model([a, b], add([shared(a), shared(b)]))
    assert len(shared.inbound_nodes) == 2 and len(model.trainable_weights) == 2
    xa, xb, y = _rand(5, 3), _rand(5, 3), _rand(5, 2)
    w, bias = shared.get_weights()
    out = xa @ w + xb @ w + 2 * bias
    np.testing.assert_allclose(model.predict([xa, xb]), out, rtol=1e-5)
    model.compile(optimizer=SGD(lr=0.5), loss="mse")
    model.train_on_batch([xa, xb], y)
    g = 2 * (out - y) / out.size
    new_w, new_b = shared.get_weights()
    np.testing.assert_allclose(new_w, w - 0.5 * (xa + xb).T @ g, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new_b, bias - 0.5 * 2 * g.sum(0), rtol=1e-4, atol=1e-6)


def test_model_called_as_a_layer_shares_its_weights():
    i = Input(shape=(3,))
    encoder = Model(i, Dense(2, activation="tanh")(i), name="encoder")
    a, b = Input(shape=(3,)), Input(shape=(3,))
    siamese = Model([a, b], Dense(1)(concatenate([encoder(a), encoder(b)])))
    assert len(siamese.trainable_weights) == 4  # encoder counted once
    assert [layer.name for layer in siamese.layers][2] == "encoder"
    xa, xb = _rand(4, 3), _rand(4, 3)
    ea, eb = encoder.predict(xa), encoder.predict(xb)
    want = _dense(np.concatenate([ea, eb], 1), siamese.layers[-1])
    np.testing.assert_allclose(siamese.predict([xa, xb]), want, rtol=1e-5, atol=1e-6)
    before = encoder.get_weights()[0].copy()
    siamese.compile(optimizer=SGD(lr=0.5), loss="mse")
    siamese.train_on_batch([xa, xb], _rand(4, 1))
    assert not np.allclose(encoder.get_weights()[0], before)


def test_nested_sequential_in_sequential_and_in_functional():
    inner = Sequential([Dense(3, input_dim=2, activation="relu"), Dense(2)])
    outer = Sequential([inner, Dense(1)])
    assert outer.layers[0] is inner and len(outer.weights) == 6
    x = _rand(5, 2)
    want = _dense(inner.predict(x), outer.layers[1])
    np.testing.assert_allclose(outer.predict(x), want, rtol=1e-5, atol=1e-6)
    # an inner Sequential that is not first, and the same one inside a functional model
    tail = Sequential([Dense(2, input_dim=1, activation="tanh")])
    chained = Sequential([Dense(1, input_dim=2), tail])
    assert chained.output_shape == (None, 2)
    inp = Input(shape=(2,))
    functional = Model(inp, tail(outer(inp)))
    np.testing.assert_allclose(functional.predict(x), tail.predict(outer.predict(x)), rtol=1e-5,
                               atol=1e-6)
    functional.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(functional.train_on_batch(x, _rand(5, 2)))


def test_nested_model_batchnorm_updates_run_in_the_outer_train_step():
    i = Input(shape=(3,))
    bn = BatchNormalization(momentum=0.5)
    inner = Model(i, bn(Dense(3)(i)))
    o = Input(shape=(3,))
    outer = Model(o, Dense(1)(inner(o)))
    assert len(outer.updates) == 2
    outer.compile(optimizer="sgd", loss="mse")
    before = K.get_value(bn.moving_mean).copy()
    outer.train_on_batch(_rand(6, 3), _rand(6, 1))
    assert not np.allclose(K.get_value(bn.moving_mean), before)


# --- freezing -------------------------------------------------------------------------------------
def test_frozen_layers_and_models_get_no_updates():
    x = Input(shape=(3,))
    frozen, free = Dense(4, name="frozen"), Dense(2, name="free")
    model = Model(x, free(frozen(x)))
    frozen.trainable = False
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    model.compile(optimizer=SGD(lr=0.5), loss="mse")
    before_frozen, before_free = frozen.get_weights(), free.get_weights()
    model.fit(_rand(8, 3), _rand(8, 2), epochs=2, verbose=0)
    for w0, w1 in zip(before_frozen, frozen.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    assert not np.allclose(before_free[0], free.get_weights()[0])
    # a whole model frozen inside another
    inner = Sequential([Dense(2, input_dim=3)])
    inner.trainable = False
    o = Input(shape=(3,))
    outer = Model(o, Dense(1)(inner(o)))
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 2
    outer.compile(optimizer=SGD(lr=0.5), loss="mse")
    kept = inner.get_weights()
    outer.train_on_batch(_rand(4, 3), _rand(4, 1))
    np.testing.assert_array_equal(inner.get_weights()[0], kept[0])


# --- configs -------------------------------------------------------------------------------------
def _complex_model():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    shared = Dense(4, activation="relu", name="shared")
    i = Input(shape=(4,))
    sub = Model(i, Dense(2, name="sub_dense")(i), name="sub")
    seq = Sequential([Dense(2, input_dim=4, name="seq_dense")], name="seq")
    ha, hb = shared(a), shared(b)
    joined = concatenate([sub(ha), seq(hb)], name="joined")
    out = Dense(1, name="out")(multiply([joined, joined]))
    return Model([a, b], [out, sub(hb)], name="complex")


def test_functional_config_json_yaml_round_trip_with_shared_layers_and_nested_models():
    model = _complex_model()
    config = model.get_config()
    layers = {layer["name"]: layer for layer in config["layers"]}
    assert layers["a"]["inbound_nodes"] == []
    assert layers["shared"]["inbound_nodes"] == [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]
    assert layers["sub"]["inbound_nodes"] == [[["shared", 0, 0, {}]], [["shared", 1, 0, {}]]]
    assert layers["joined"]["inbound_nodes"] == [[["sub", 1, 0, {}], ["seq", 1, 0, {}]]]
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["out", 0, 0], ["sub", 2, 0]]
    x = [_rand(4, 3), _rand(4, 3)]
    want = model.predict(x)
    for clone in (Model.from_config(config), model_from_json(model.to_json()),
                  model_from_yaml(model.to_yaml()),
                  model_from_config({"class_name": "Model", "config": config})):
        assert json.dumps(clone.get_config(), sort_keys=True) == \
            json.dumps(json.loads(model.to_json())["config"], sort_keys=True)
        clone.set_weights(model.get_weights())
        for got, ref in zip(clone.predict(x), want):
            np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_keras1_style_config_nodes_and_out_of_order_shared_layer():
    # Keras 1.2.2 writes three-element node entries; a shared layer's second call may depend
    # on a layer listed after it
    config = {"name": "m", "input_layers": [["in", 0, 0]], "output_layers": [["d", 1, 0]],
              "layers": [
                  {"name": "in", "class_name": "InputLayer", "inbound_nodes": [],
                   "config": {"batch_input_shape": [None, 2], "name": "in"}},
                  {"name": "d", "class_name": "Dense", "config": {"units": 2, "name": "d"},
                   "inbound_nodes": [[["in", 0, 0]], [["act", 0, 0]]]},
                  {"name": "act", "class_name": "Activation",
                   "config": {"activation": "tanh", "name": "act"},
                   "inbound_nodes": [[["d", 0, 0]]]}]}
    model = Model.from_config(config)
    x = _rand(3, 2)
    d = model.get_layer("d")
    np.testing.assert_allclose(model.predict(x), _dense(np.tanh(_dense(x, d)), d), rtol=1e-5,
                               atol=1e-6)


# --- merge layers ---------------------------------------------------------------------------------
def test_keras2_merge_layers_against_numpy():
    a, b, c = Input(shape=(3,)), Input(shape=(3,)), Input(shape=(1,))
    s1, s2 = Input(shape=(2, 3)), Input(shape=(4, 3))
    outs = [Add()([a, b, a]), Subtract()([a, b]), Multiply()([a, b]), Average()([a, b]),
            Maximum()([a, b]), Minimum()([a, b]), Concatenate()([a, b]), Dot(axes=1)([a, b]),
            Dot(axes=-1, normalize=True)([a, b]), add([a, c]), Concatenate(axis=1)([s1, s2]),
            dot([s1, s2], axes=2), dot([s1, s1], axes=1)]
    model = Model([a, b, c, s1, s2], outs)
    xa, xb, xc, x1, x2 = _rand(4, 3) - 0.5, _rand(4, 3) - 0.5, _rand(4, 1), _rand(4, 2, 3), \
        _rand(4, 4, 3)
    norm = np.linalg.norm
    want = [2 * xa + xb, xa - xb, xa * xb, (xa + xb) / 2, np.maximum(xa, xb),
            np.minimum(xa, xb), np.concatenate([xa, xb], 1), (xa * xb).sum(1, keepdims=True),
            ((xa * xb).sum(1) / norm(xa, axis=1) / norm(xb, axis=1))[:, None], xa + xc,
            np.concatenate([x1, x2], 1), np.einsum("nik,njk->nij", x1, x2),
            np.einsum("nki,nkj->nij", x1, x1)]
    for layer_out, got, ref in zip(outs, model.predict([xa, xb, xc, x1, x2]), want):
        assert K.int_shape(layer_out)[1:] == ref.shape[1:]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert isinstance(average([a, b])._keras_history[0], Average)
    assert isinstance(maximum([a, b])._keras_history[0], Maximum)


def test_merge_errors_name_the_layer_inputs_and_shapes():
    a, b, c = Input(shape=(3,)), Input(shape=(4,)), Input(shape=(2, 3))
    with pytest.raises(ValueError, match=r"Operands could not be broadcast together with shapes "
                                         r"\(None, 3\) \(None, 4\) \(layer add_1: input 1"):
        Add()([a, b])
    with pytest.raises(ValueError, match="should be called on a list of at least 2 inputs"):
        Add()([a])
    with pytest.raises(ValueError, match="a list of inputs"):
        Multiply()(a)
    with pytest.raises(ValueError, match=r"matching shapes except for the concat axis.*"
                                         r"\(None, 2, 3\).*input 1 has shape \(None, 3\)"):
        Concatenate(axis=1)([c, a])
    with pytest.raises(ValueError, match=r"Dimension incompatibility 3 != 4"):
        Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        Subtract()([a, a, a])
    with pytest.raises(ValueError, match="Invalid merge mode: bogus"):
        Merge(mode="bogus")
    with pytest.raises(ValueError, match=r"Only layers of same output shape can be merged using "
                                         r"sum mode.*input 1 has shape \(None, 4\)"):
        merge([a, b], mode="sum")


def test_keras1_merge_modes_against_numpy():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    s = Input(shape=(2, 3))
    modes = ["sum", "mul", "concat", "ave", "cos", "dot", "max"]
    outs = [merge([a, b], mode=m) for m in modes]
    outs.append(merge([a, b], mode=lambda t: t[0] - 2 * t[1], output_shape=(3,)))
    outs.append(Merge(mode=lambda t: K.concatenate([t[0], t[1]], axis=1))([s, s]))
    outs.append(merge([s, s], mode="concat", concat_axis=1))
    model = Model([a, b, s], outs)
    xa, xb, xs = _rand(4, 3) - 0.5, _rand(4, 3) - 0.5, _rand(4, 2, 3)
    d = (xa * xb).sum(1, keepdims=True)
    cos = d / np.linalg.norm(xa, axis=1, keepdims=True) / np.linalg.norm(xb, axis=1, keepdims=True)
    want = [xa + xb, xa * xb, np.concatenate([xa, xb], -1), (xa + xb) / 2, cos, d,
            np.maximum(xa, xb), xa - 2 * xb, np.concatenate([xs, xs], 1),
            np.concatenate([xs, xs], 1)]
    for out, got, ref in zip(outs, model.predict([xa, xb, xs]), want):
        assert K.int_shape(out)[1:] == ref.shape[1:]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_keras1_merge_of_sequentials_in_a_sequential_trains_and_round_trips():
    left = Sequential([Dense(4, input_dim=3, activation="relu")])
    right = Sequential([Dense(2, input_dim=5)])
    model = Sequential([Merge([left, right], mode="concat"), Dense(1)])
    assert model.input_names == ["dense_input_1", "dense_input_2"]
    assert len(model.weights) == 6 and len(model.trainable_weights) == 6
    model.compile(loss="mse", optimizer=SGD(lr=0.1))
    xl, xr, y = _rand(8, 3), _rand(8, 5), _rand(8, 1)
    before = left.get_weights()[0].copy()
    hist = model.fit([xl, xr], y, epochs=3, batch_size=4, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert not np.allclose(left.get_weights()[0], before)  # the merged branches train too
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([xl, xr]), model.predict([xl, xr]), rtol=1e-6)
    # a lambda mode survives JSON as well
    a, b = Input(shape=(2,)), Input(shape=(2,))
    fm = Model([a, b], merge([a, b], mode=lambda t: t[0] * 3 - t[1], output_shape=(2,)))
    again = model_from_json(fm.to_json())
    x = [_rand(2, 2), _rand(2, 2)]
    np.testing.assert_allclose(again.predict(x), x[0] * 3 - x[1], rtol=1e-6)


# --- TimeDistributed -----------------------------------------------------------------------------
def test_time_distributed_dense_shares_weights_across_time_and_trains():
    model = Sequential([TimeDistributed(Dense(2, activation="tanh"), input_shape=(4, 3)),
                        TimeDistributed(Dropout(0.5)), TimeDistributed(Activation("relu"))])
    td = model.layers[0]
    assert model.output_shape == (None, 4, 2) and len(model.trainable_weights) == 2
    x = _rand(5, 4, 3)
    w, b = td.get_weights()
    np.testing.assert_allclose(model.predict(x), np.maximum(np.tanh(x @ w + b), 0), rtol=1e-5,
                               atol=1e-6)
    model.compile(optimizer=SGD(lr=0.5), loss="mse", sample_weight_mode="temporal")
    model.train_on_batch(x, _rand(5, 4, 2))
    assert not np.allclose(td.get_weights()[0], w)
    clone = model_from_json(model.to_json())
    assert isinstance(clone.layers[0], TimeDistributed) and \
        isinstance(clone.layers[0].layer, Dense)


def test_time_distributed_runs_other_layers_per_timestep():
    x = Input(shape=(3, 5, 2))
    conv = Conv1D(2, 2)
    model = Model(x, TimeDistributed(conv)(x))
    assert model.output_shape == (None, 3, 4, 2)
    step = Input(shape=(5, 2))
    per_step = Model(step, conv(step))
    data = _rand(2, 3, 5, 2)
    want = np.stack([per_step.predict(data[:, t]) for t in range(3)], axis=1)
    np.testing.assert_allclose(model.predict(data), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError,
                       match=r"needs a known number of timesteps.*\(None, None, 5, 2\)"):
        TimeDistributed(Conv1D(2, 2))(Input(shape=(None, 5, 2)))
    with pytest.raises(ValueError, match=r"expected min_ndim=3, found ndim=2"):
        TimeDistributed(Dense(2))(Input(shape=(4,)))
