"""What the catalogue layers compute (against numpy), in training and inference, and their
Keras 1 spellings; the generic contract is in test_layer_catalogue.py."""
import numpy as np
import pytest

from graphnn import backend as K
from graphnn import layers as L
from graphnn.backend.phase import learning_phase_placeholder
from graphnn.engine.topology import Input
from graphnn.models import Sequential
from graphnn.optimizers import SGD


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    yield


def run(layer, data, phase=False, dtype="float32"):
    x = Input(batch_shape=(None,) + data.shape[1:], dtype=dtype)
    y = layer(x)
    f = K.function([x], [y], givens={learning_phase_placeholder(): phase}, device="interpreter")
    return f([data])[0], y


A = np.random.RandomState(0).randn(3, 4).astype("float32")


def test_activation_layers_match_numpy():
    np.testing.assert_allclose(run(L.LeakyReLU(0.1), A)[0], np.where(A > 0, A, 0.1 * A), 1e-6)
    np.testing.assert_allclose(run(L.ELU(0.5), A)[0], np.where(A > 0, A, 0.5 * np.expm1(A)),
                               1e-6, 1e-7)
    np.testing.assert_allclose(run(L.ThresholdedReLU(0.5), A)[0], np.where(A > 0.5, A, 0), 1e-6)
    prelu = L.PReLU(alpha_initializer="ones")
    out, _ = run(prelu, A)
    np.testing.assert_allclose(out, A, 1e-6)  # slope 1 on both sides
    assert prelu.get_weights()[0].shape == (4,)
    psp = L.ParametricSoftplus(alpha_init=0.5, beta_init=2.0)
    np.testing.assert_allclose(run(psp, A)[0], 0.5 * np.log1p(np.exp(2 * A)), 1e-5)
    srelu = L.SReLU()
    out, _ = run(srelu, A)
    tl, al, tr, ar = srelu.get_weights()
    trr = tl + np.abs(tr)
    want = np.where(A >= trr, trr + ar * (A - trr), np.where(A <= tl, tl + al * (A - tl), A))
    np.testing.assert_allclose(out, want, 1e-5, 1e-6)


def test_maxout_and_highway_match_numpy():
    m = L.MaxoutDense(2, nb_feature=3, input_dim=4)
    out, _ = run(m, A)
    W, b = m.get_weights()
    np.testing.assert_allclose(out, (np.einsum("nd,fdu->nfu", A, W) + b).max(1), 1e-5, 1e-6)
    h = L.Highway(activation="relu")
    out, _ = run(h, A)
    W, Wc, b, bc = h.get_weights()
    np.testing.assert_array_equal(bc, -2.0)  # transform bias: gate starts mostly closed
    t = 1 / (1 + np.exp(-(A @ Wc + bc)))
    np.testing.assert_allclose(out, np.maximum(A @ W + b, 0) * t + A * (1 - t), 1e-5, 1e-6)
    assert [w.name for w in h.weights][0].endswith("/W:0")


def test_timedistributeddense_keras1_input_shape():
    layer = L.TimeDistributedDense(output_dim=5, input_dim=4, input_length=3)
    assert layer.batch_input_shape == (None, 3, 4)
    model = Sequential([layer])
    assert model.output_shape == (None, 3, 5)


def test_reshape_infers_minus_one_and_reports_bad_sizes():
    x = Input(shape=(6,))
    assert K.int_shape(L.Reshape((-1, 2))(x)) == (None, 3, 2)
    with pytest.raises(ValueError, match="total size of new array must be unchanged"):
        L.Reshape((4, -1))(x)
    with pytest.raises(ValueError, match="Can only specify one unknown dimension."):
        L.Reshape((-1, -1))(x)


def test_embedding_rows_mask_and_keras1_names():
    emb = L.Embedding(input_dim=5, output_dim=2, mask_zero=True, input_length=3,
                      W_regularizer="l2")
    idx = np.array([[1, 0, 4], [2, 2, 0]], "int32")
    out, y = run(emb, idx, dtype="int32")
    np.testing.assert_array_equal(out, emb.get_weights()[0][idx])
    assert emb.W is emb.embeddings and emb.embeddings.name.endswith("/embeddings:0")
    assert emb.losses, "W_regularizer adds a loss"
    x = y._keras_history[0].inbound_nodes[0].input_tensors[0]
    (mask,) = K.function([x], [y._keras_mask], device="interpreter")([idx])
    np.testing.assert_array_equal(mask, idx != 0)
    with pytest.raises(ValueError,
                       match=r"embedding_2: expected shape \(None, 3\) but got \(None, 4\)"):
        L.Embedding(5, 2, input_length=3)(Input(shape=(4,), dtype="int32"))
    model = Sequential([L.Embedding(5, 2, input_length=3), L.Flatten(), L.Dense(1)])
    assert model.inputs[0].dtype == "int32" and model.output_shape == (None, 1)
    model.predict(idx.astype("float32"))  # float data is accepted (cast), as in Keras


def test_masking_zeroes_steps_and_sets_mask():
    data = np.array([[[1, 2], [0, 0], [0, 3]]], "float32")
    out, y = run(L.Masking(), data)
    np.testing.assert_array_equal(out, data)
    x = y._keras_history[0].inbound_nodes[0].input_tensors[0]
    (mask,) = K.function([x], [y._keras_mask], device="interpreter")([data])
    np.testing.assert_array_equal(mask, [[True, False, True]])
    out, _ = run(L.Masking(mask_value=3.0), np.array([[[3, 3], [3, 1]]], "float32"))
    np.testing.assert_array_equal(out, [[[0, 0], [3, 1]]])


def test_batchnorm_train_uses_batch_stats_and_fit_updates_moving_averages():
    x = np.random.RandomState(1).randn(8, 3).astype("float32") * 3 + 2
    bn = L.BatchNormalization(momentum=0.8, epsilon=1e-3, input_shape=(3,))
    model = Sequential([bn])
    train, _ = run(L.BatchNormalization(), x, phase=True)
    np.testing.assert_allclose(train, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), 1e-4, 1e-4)
    assert [w.name.split("/")[1] for w in bn.weights] == \
        ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    assert len(model.updates) == 2
    model.compile(SGD(lr=0.0), "mse")
    model.train_on_batch(x, np.zeros_like(x))
    mean, var = bn.get_weights()[2:]
    np.testing.assert_allclose(mean, 0.2 * x.mean(0), 1e-5, 1e-5)
    np.testing.assert_allclose(var, 0.8 + 0.2 * x.var(0), 1e-5, 1e-5)
    model.train_on_batch(x, np.zeros_like(x))
    np.testing.assert_allclose(bn.get_weights()[2], 0.36 * x.mean(0), 1e-5, 1e-5)
    mean, var = bn.get_weights()[2:]
    np.testing.assert_allclose(model.predict(x), (x - mean) / np.sqrt(var + 1e-3), 1e-4, 1e-4)
    # the test function does not move the averages
    model.evaluate(x, np.zeros_like(x), verbose=0)
    np.testing.assert_array_equal(bn.get_weights()[2], mean)


def test_batchnorm_modes_and_errors():
    x = np.random.RandomState(2).randn(4, 5).astype("float32")
    out, _ = run(L.BatchNormalization(mode=1), x)
    std = np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(out, (x - x.mean(-1, keepdims=True)) / (std + 1e-3), 1e-4, 1e-5)
    bn2 = L.BatchNormalization(mode=2)
    out, _ = run(bn2, x)  # batch statistics in inference too
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), 1e-4, 1e-4)
    assert not bn2.updates
    with pytest.raises(ValueError, match="Invalid mode"):
        L.BatchNormalization(mode=3)
    with pytest.raises(ValueError, match=r"should have a defined dimension.*\(None, None\)"):
        L.BatchNormalization()(Input(batch_shape=(None, None)))


def test_noise_layers_act_in_training_only():
    x = np.ones((200, 50), "float32")
    for layer in (L.GaussianNoise(0.5), L.GaussianDropout(0.5), L.Dropout(0.5),
                  L.SpatialDropout1D(0.5)):
        data = x.reshape(200, 10, 5) if isinstance(layer, L.SpatialDropout1D) else x
        test, y = run(layer, data)
        np.testing.assert_array_equal(test, data)
        xin = y._keras_history[0].inbound_nodes[0].input_tensors[0]
        train = K.function([xin], [y], givens={learning_phase_placeholder(): True})([data])[0]
        assert not np.array_equal(train, data)
        assert abs(train.mean() - 1.0) < 0.05
    gd = K.function([xin], [L.GaussianDropout(0.2)(xin)],
                    givens={learning_phase_placeholder(): True})([data])[0]
    assert abs(gd.std() - np.sqrt(0.2 / 0.8)) < 0.05
    sd = train.reshape(200, 10, 5)
    assert np.all((sd == 0).all(axis=1) | (sd != 0).all(axis=1)), "whole channels dropped"
    assert L.GaussianNoise(sigma=0.3).stddev == 0.3 and L.GaussianDropout(p=0.3).rate == 0.3


def test_spatial_dropout_2d_channels_first_drops_maps():
    layer = L.SpatialDropout2D(0.5, data_format="channels_first")
    x = Input(shape=(20, 3, 3))
    y = layer(x)
    out = K.function([x], [y], givens={learning_phase_placeholder(): True})(
        [np.ones((10, 20, 3, 3), "float32")])[0]
    flat = out.reshape(10, 20, 9)
    assert np.all((flat == 0).all(-1) | (flat != 0).all(-1))
    assert L.SpatialDropout2D(0.5, dim_ordering="tf").data_format == "channels_last"
    with pytest.raises(ValueError, match="data_format"):
        L.SpatialDropout2D(0.5, data_format="nchw")


def test_parametric_layers_report_bad_shared_axes():
    with pytest.raises(ValueError, match=r"PReLU \(layer .*\): shared axis 3 .*\(None, 4\)"):
        L.PReLU(shared_axes=3)(Input(shape=(4,)))


def test_model_json_round_trip_with_catalogue_layers():
    from graphnn.models import model_from_json
    model = Sequential([L.Embedding(6, 4, input_length=3), L.SpatialDropout1D(0.2),
                        L.BatchNormalization(), L.TimeDistributedDense(3), L.PReLU(),
                        L.Flatten(), L.Highway(), L.MaxoutDense(2), L.GaussianNoise(0.1)])
    clone = model_from_json(model.to_json())
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    clone.set_weights(model.get_weights())
    idx = np.array([[1, 2, 5], [0, 3, 4]], "int32")
    np.testing.assert_allclose(clone.predict(idx), model.predict(idx), rtol=1e-5, atol=1e-6)
