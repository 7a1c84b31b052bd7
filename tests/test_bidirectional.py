"""Bidirectional against the same two recurrent layers composed by hand (forward, and a
``go_backwards`` copy), for every merge mode, with and without sequences and masks."""
import json

import numpy as np
import pytest

from graphnn import backend as K
from graphnn import layers as L
from graphnn.models import Model, Sequential


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    yield
    K.clear_session()


MERGES = {"concat": lambda a, b: np.concatenate([a, b], -1), "sum": lambda a, b: a + b,
          "mul": lambda a, b: a * b, "ave": lambda a, b: (a + b) / 2}


def _by_hand(kind, weights, return_sequences, x_shape, mask_zero=False):
    """``[forward, backward]`` outputs of two separate layers with the given weights."""
    cls = getattr(L, kind)
    if mask_zero:
        inp = L.Input(shape=(None,), dtype="int32")
        emb = L.Embedding(7, x_shape[-1], mask_zero=True)
        seq = emb(inp)
    else:
        inp = L.Input(shape=(None, x_shape[-1]))
        seq = inp
    fwd = cls(3, return_sequences=return_sequences)
    bwd = cls(3, return_sequences=return_sequences, go_backwards=True)
    model = Model(inp, [fwd(seq), bwd(seq)])
    n = len(weights) // 2
    fwd.set_weights(weights[:n])
    bwd.set_weights(weights[n:])
    return model, (emb if mask_zero else None)


@pytest.mark.parametrize("merge_mode", list(MERGES))
@pytest.mark.parametrize("return_sequences", [True, False])
def test_matches_two_layers_by_hand(merge_mode, return_sequences):
    rng = np.random.default_rng(0)
    inp = L.Input(shape=(None, 2))
    bi = L.Bidirectional(L.GRU(3, return_sequences=return_sequences), merge_mode=merge_mode)
    model = Model(inp, bi(inp))
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in bi.get_weights()]
    bi.set_weights(weights)
    ref, _ = _by_hand("GRU", weights, return_sequences, (2, 4, 2))
    for T in (4, 1):
        x = rng.standard_normal((2, T, 2)).astype("float32")
        f, r = ref.predict(x)
        np.testing.assert_allclose(model.predict(x), MERGES[merge_mode](f, r), rtol=1e-5,
                                   atol=1e-6)
    want = (None, None, 6 if merge_mode == "concat" else 3)
    assert model.output_shape == (want if return_sequences else (None, want[-1]))


def test_weights_order_names_and_merge_none():
    inp = L.Input(shape=(5, 2))
    bi = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode=None)
    outs = bi(inp)
    assert isinstance(outs, list) and len(outs) == 2
    assert [w.name.split("/")[0] for w in bi.weights] == ["forward_" + bi.layer.name] * 3 + \
        ["backward_" + bi.layer.name] * 3
    assert [w.shape for w in bi.get_weights()] == [(2, 12), (3, 12), (12,)] * 2
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in bi.get_weights()]
    bi.set_weights(weights)
    ref, _ = _by_hand("LSTM", weights, True, (2, 5, 2))
    x = rng.standard_normal((2, 5, 2)).astype("float32")
    for got, want in zip(Model(inp, outs).predict(x), ref.predict(x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="merge mode"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")


def test_keras1_arguments_initial_weights_and_config_round_trip():
    rng = np.random.default_rng(2)
    shapes = [(2, 12), (3, 12), (12,)] * 2
    weights = [rng.standard_normal(s).astype("float32") * 0.5 for s in shapes]
    model = Sequential([L.Bidirectional(L.LSTM(output_dim=3, inner_activation="sigmoid",
                                               return_sequences=True),
                                        merge_mode="sum", weights=weights,
                                        input_shape=(None, 2))])
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    x = rng.standard_normal((2, 4, 2)).astype("float32")
    out = model.predict(x)
    config = json.loads(json.dumps(L.serialize(model.layers[0])))
    assert config["config"]["merge_mode"] == "sum"
    again = L.deserialize(config)
    assert isinstance(again, L.Bidirectional) and again.merge_mode == "sum"
    assert again.layer.get_config()["recurrent_activation"] == "sigmoid"
    clone = Sequential([again])
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), out, rtol=1e-6)


def test_masks_reach_both_directions():
    rng = np.random.default_rng(3)
    seqs = np.array([[3, 5, 2, 0, 0], [6, 1, 4, 2, 5]])
    inp = L.Input(shape=(None,), dtype="int32")
    emb = L.Embedding(7, 2, mask_zero=True)
    bi = L.Bidirectional(L.SimpleRNN(3, return_sequences=True))
    model = Model(inp, bi(emb(inp)))
    assert model.outputs[0]._keras_mask is not None    # the mask passes through
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in bi.get_weights()]
    bi.set_weights(weights)
    ref, ref_emb = _by_hand("SimpleRNN", weights, True, (2, 5, 2), mask_zero=True)
    ref_emb.set_weights(emb.get_weights())
    f, r = ref.predict(seqs)
    out = model.predict(seqs)
    np.testing.assert_allclose(out, np.concatenate([f, r], -1), rtol=1e-5, atol=1e-6)
    # the backward half of the short sequence starts at its last real step
    short = model.predict(seqs[:1, :3])
    np.testing.assert_allclose(out[0, :3], short[0], rtol=1e-5, atol=1e-6)


def test_trains_and_collects_penalties_of_both_halves():
    rng = np.random.default_rng(4)
    model = Sequential([L.Bidirectional(L.LSTM(3, kernel_regularizer="l2"),
                                        input_shape=(4, 2)),
                        L.Dense(1)])
    assert len(model.losses) == 2
    model.compile("adam", "mse")
    x = rng.standard_normal((8, 4, 2)).astype("float32")
    y = rng.standard_normal((8, 1)).astype("float32")
    before = model.get_weights()
    first = model.train_on_batch(x, y)
    for _ in range(20):
        last = model.train_on_batch(x, y)
    assert last < first
    changed = [not np.allclose(a, b) for a, b in zip(before, model.get_weights())]
    assert all(changed[:6])


def test_stateful_pair_resets_through_the_model():
    rng = np.random.default_rng(5)
    inp = L.Input(batch_shape=(2, None, 3))
    out = L.Bidirectional(L.SimpleRNN(2, stateful=True), merge_mode="concat")(inp)
    model = Model(inp, out)
    x = rng.standard_normal((2, 3, 3)).astype("float32")
    first = model.predict(x, batch_size=2)
    assert not np.allclose(model.predict(x, batch_size=2), first)   # the states carried over
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2), first, rtol=1e-6)
