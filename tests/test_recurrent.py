"""The scan primitive and the recurrent layers: gradients against finite differences, outputs
against a numpy transcription of Keras's equations, masking, stateful carry-over, one compiled
program for every sequence length, and the scan kernels' CUDA C with nvcc."""
import shutil

import numpy as np
import pytest

from graphnn import backend as K
from graphnn.layers import GRU, LSTM, Dense, Embedding, Input, Masking, SimpleRNN
from graphnn.models import Model, Sequential
from ir import builder as b
from ir.autodiff import grad
from ir.graph import Graph
from ir.interpreter import evaluate
from ir.ops.scan import last_step, scan
from runtime import compile_function


# --- numpy references (Keras 2 equations) ------------------------------------------------------
def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def np_rnn(kind, x, weights, mask=None, go_backwards=False, states=None):
    """Outputs (samples, time, units) in time order, and the final states."""
    W, U, bias = weights
    u = U.shape[0]
    n, T = x.shape[:2]
    h = np.zeros((n, u)) if states is None else states[0]
    c = np.zeros((n, u)) if states is None or len(states) < 2 else states[1]
    outs = np.zeros((n, T, u))
    for t in (range(T - 1, -1, -1) if go_backwards else range(T)):
        p = x[:, t] @ W + bias
        if kind == "SimpleRNN":
            h2, c2 = np.tanh(p + h @ U), c
        elif kind == "GRU":
            z = hard_sigmoid(p[:, :u] + h @ U[:, :u])
            r = hard_sigmoid(p[:, u:2 * u] + h @ U[:, u:2 * u])
            hh = np.tanh(p[:, 2 * u:] + (r * h) @ U[:, 2 * u:])
            h2, c2 = z * h + (1 - z) * hh, c
        else:
            g = p + h @ U
            i, f, o = (hard_sigmoid(g[:, k * u:(k + 1) * u]) for k in (0, 1, 3))
            c2 = f * c + i * np.tanh(g[:, 2 * u:3 * u])
            h2 = o * np.tanh(c2)
        if mask is not None:
            m = mask[:, t:t + 1]
            h2, c2 = np.where(m, h2, h), np.where(m, c2, c)
        h, c = h2, c2
        outs[:, t] = h
    return outs, [h, c] if kind == "LSTM" else [h]


LAYERS = {"SimpleRNN": SimpleRNN, "GRU": GRU, "LSTM": LSTM}


# --- the primitive -----------------------------------------------------------------------------
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradient_and_one_program_for_every_length(reverse):
    x = b.placeholder(("T", "N", 3), "float64", "x")
    c0 = b.placeholder(("N", 4), "float64", "c0")
    u = b.placeholder((4, 4), "float64", "u")
    w = b.placeholder((3, 4), "float64", "w")
    y = scan(c0, [x], [u, w], lambda c, s, k: b.tanh(b.matmul(c, k[0]) + b.matmul(s[0], k[1])),
             reverse=reverse)
    weights = b.placeholder(("T", "N", 4), "float64", "weights")
    loss = b.sum(y * weights) + b.sum(last_step(y, reverse) * 0.7)
    ins = [x, c0, u, w, weights]
    grads = grad(loss, ins[:4])
    g, _ = Graph.build(ins, [loss] + grads)
    f = compile_function(ins, [loss] + grads, name="scan_grad")
    rng = np.random.default_rng(0)
    for T, N in ((3, 2), (1, 1), (6, 3)):   # one compiled program, several lengths and batches
        args = [rng.standard_normal((T, N, 3)), rng.standard_normal((N, 4)),
                0.5 * rng.standard_normal((4, 4)), rng.standard_normal((3, 4)),
                rng.standard_normal((T, N, 4))]
        ref = evaluate(g, args)[0]
        for got, want in zip(f(args), ref):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        if T != 3:
            continue
        for i in range(4):
            num = np.zeros_like(args[i])
            for idx in np.ndindex(args[i].shape):
                p = [a.copy() for a in args]
                m = [a.copy() for a in args]
                p[i][idx] += 1e-6
                m[i][idx] -= 1e-6
                num[idx] = (evaluate(g, p)[0][0] - evaluate(g, m)[0][0]) / 2e-6
            np.testing.assert_allclose(ref[1 + i], num, rtol=1e-6, atol=1e-8)


def test_scan_shape_rule_errors():
    c0 = b.placeholder(("N", 4), "float32", "c0")
    x = b.placeholder(("T", "N", 3), "float32", "x")
    with pytest.raises(ValueError, match="carry"):
        scan(c0, [x], [], lambda c, s, k: s[0])


# --- layers ------------------------------------------------------------------------------------
def _weights(layer, rng):
    ws = [0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()]
    layer.set_weights(ws)
    return ws


@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_matches_numpy_and_gradient(kind):
    """Forward against numpy (both directions, every length), then the weight gradients of the
    compiled training graph against finite differences of the numpy reference (float64)."""
    rng = np.random.default_rng(1)
    old = K.floatx()
    K.set_floatx("float64")
    try:
        inp = Input(shape=(None, 3))
        fwd = LAYERS[kind](4, return_sequences=True)
        bwd = LAYERS[kind](4, go_backwards=True)
        model = Model(inp, [fwd(inp), bwd(inp)])
        wf, wb = _weights(fwd, rng), _weights(bwd, rng)
        for T in (5, 2):
            x = rng.standard_normal((2, T, 3))
            got_f, got_b = model.predict(x)
            np.testing.assert_allclose(got_f, np_rnn(kind, x, wf)[0], rtol=1e-9, atol=1e-10)
            want_b = np_rnn(kind, x, wb, go_backwards=True)[1][0]
            np.testing.assert_allclose(got_b, want_b, rtol=1e-9, atol=1e-10)
        x = rng.standard_normal((2, 4, 3))
        target = rng.standard_normal((2, 4, 4))
        out = model.outputs[0]
        tph = K.placeholder((None, None, 4))
        loss = K.sum(out * tph)
        gfun = K.function([inp, tph], K.gradients(loss, fwd.trainable_weights))
        analytic = gfun([x, target])
        for i, w in enumerate(wf):
            num = np.zeros_like(w)
            for idx in np.ndindex(w.shape):
                p = [v.copy() for v in wf]
                m = [v.copy() for v in wf]
                p[i][idx] += 1e-6
                m[i][idx] -= 1e-6
                num[idx] = ((np_rnn(kind, x, p)[0] * target).sum() -
                            (np_rnn(kind, x, m)[0] * target).sum()) / 2e-6
            np.testing.assert_allclose(analytic[i], num, rtol=1e-5, atol=1e-7,
                                       err_msg=f"{kind} weight {i}")
    finally:
        K.set_floatx(old)


def test_weights_layout_and_config():
    lstm = LSTM(output_dim=5, input_dim=3, inner_activation="sigmoid", dropout_W=0.1,
                dropout_U=0.2, forget_bias_init="one", consume_less="gpu")
    lstm.build((None, None, 3))
    shapes = [w.shape for w in lstm.get_weights()]
    assert shapes == [(3, 20), (5, 20), (20,)]
    np.testing.assert_array_equal(lstm.get_weights()[2][5:10], 1.0)
    cfg = lstm.get_config()
    assert cfg["units"] == 5 and cfg["dropout"] == 0.1 and cfg["recurrent_dropout"] == 0.2
    assert cfg["recurrent_activation"] == "sigmoid"
    gru = GRU(2)
    gru.build((None, None, 3))
    assert [w.shape for w in gru.get_weights()] == [(3, 6), (2, 6), (6,)]


def test_masking_keeps_state_over_padding():
    model = Sequential([Embedding(10, 3, mask_zero=True, input_length=None),
                        LSTM(4, return_sequences=True)])
    model.compile("sgd", "mse")
    seqs = np.array([[3, 5, 2, 0, 0], [7, 1, 4, 9, 6]])
    out = model.predict(seqs)
    short = model.predict(seqs[:1, :3])           # another length, same program
    np.testing.assert_allclose(out[0, :3], short[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0, 3], out[0, 2], rtol=1e-6)   # padding keeps the output
    emb = model.layers[0].get_weights()[0]
    want = np_rnn("LSTM", emb[seqs], model.layers[1].get_weights(), mask=seqs != 0)[0]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


def test_stateful_carries_over_between_batches():
    rng = np.random.default_rng(3)
    model = Sequential([SimpleRNN(4, stateful=True, batch_input_shape=(2, None, 3))])
    model.compile("sgd", "mse")
    x = rng.standard_normal((2, 6, 3)).astype("float32")
    whole = model.predict(x, batch_size=2)
    model.reset_states()
    model.predict(x[:, :3], batch_size=2)
    second = model.predict(x[:, 3:], batch_size=2)
    np.testing.assert_allclose(second, whole, rtol=1e-5, atol=1e-6)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2), whole, rtol=1e-6)


def test_masking_layer_before_lstm_keeps_previous_state_and_output():
    """``Masking(0.)`` marks all-zero timesteps; the LSTM keeps its state and output there."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0          # trailing padding
    x[1, 1] = 0.0           # a padded step in the middle
    model = Sequential([Masking(0.0, input_shape=(None, 3)), LSTM(4, return_sequences=True)])
    out = model.predict(x)
    np.testing.assert_allclose(out[0, 3], out[0, 2], rtol=1e-6)
    np.testing.assert_allclose(out[0, 4], out[0, 2], rtol=1e-6)
    np.testing.assert_allclose(out[1, 1], out[1, 0], rtol=1e-6)
    want = np_rnn("LSTM", x, model.layers[1].get_weights(), mask=np.any(x != 0, -1))[0]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    last = Sequential([Masking(0.0, input_shape=(None, 3)), LSTM(4)])
    last.layers[1].set_weights(model.layers[1].get_weights())
    np.testing.assert_allclose(last.predict(x), want[:, -1], rtol=1e-4, atol=1e-5)


def test_functional_model_reset_states():
    """``Model.reset_states`` zeroes a stateful layer inside a functional model."""
    rng = np.random.default_rng(6)
    inp = Input(batch_shape=(2, None, 3))
    model = Model(inp, Dense(2)(LSTM(4, stateful=True)(inp)))
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    first = model.predict(x, batch_size=2)
    assert not np.allclose(model.predict(x, batch_size=2), first)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2), first, rtol=1e-6)
    outer = Model(inp, model(inp))       # the nested model's layers are reset too
    outer.predict(x, batch_size=2)
    outer.reset_states()
    np.testing.assert_allclose(outer.predict(x, batch_size=2), first, rtol=1e-6)


def test_k_rnn_custom_step():
    """A custom cell through ``K.rnn``: a leaky accumulator with a constant."""
    x = K.placeholder((None, None, 2))
    scale = K.constant(np.array([0.5, 2.0], "float32"))

    def step(x_t, states):
        new = 0.9 * states[0] + x_t * states[1]
        return new * 2.0, [new]
    init = K.sum(x, axis=1) * 0.0
    last, outs, states = K.rnn(step, x, [init], constants=[scale])
    f = K.function([x], [last, outs, states[0]])
    a = np.arange(12, dtype="float32").reshape(2, 3, 2)
    s = np.zeros((2, 2), "float32")
    want = []
    for t in range(3):
        s = 0.9 * s + a[:, t] * np.array([0.5, 2.0])
        want.append(2 * s)
    got = f([a])
    np.testing.assert_allclose(got[1], np.stack(want, 1), rtol=1e-5)
    np.testing.assert_allclose(got[0], want[-1], rtol=1e-5)
    np.testing.assert_allclose(got[2], s, rtol=1e-5)


@pytest.mark.skipif(not shutil.which("nvcc"), reason="nvcc not installed")
def test_cuda_source_of_lstm_training_compiles_with_nvcc():
    from codegen import cuda_backend
    from codegen.lower import lower_graph
    from runtime.program import optimize
    x = b.placeholder(("N", "T", 3), "float32", "x")
    layer = LSTM(4)
    out = layer(x)
    loss = b.sum(out * out)
    grads = grad(loss, layer.trainable_weights)
    g, _ = Graph.build([x], [loss] + grads, name="lstm_cuda")
    desc = lower_graph(optimize(g), name="lstm")
    assert any("scan" in k.name for k in desc.kernels)
    ptx = cuda_backend.compile_ptx(cuda_backend.render_module(desc))
    for k in desc.kernels:
        assert k.name in ptx
