"""The compiled (cpu) path of the Keras API: one foreign call per batch, one compilation for every
batch size, and a fused train step with far fewer kernels than primitive ops."""
import numpy as np

from graphnn.layers import Dense, Dropout
from graphnn.models import Sequential
from graphnn.optimizers import SGD
from runtime.function import STATS


def _mlp():
    m = Sequential([Dense(32, activation="relu", input_dim=20), Dropout(0.1),
                    Dense(32, activation="relu"), Dense(4, activation="softmax")])
    m.compile(optimizer=SGD(lr=0.05, momentum=0.9, nesterov=True),
              loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def _data(rng, n=96):
    x = rng.standard_normal((n, 20)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[(x[:, 0] > 0) * 2 + (x[:, 1] > 0)]
    return x, y


def test_each_training_batch_is_one_foreign_call(rng, monkeypatch):
    monkeypatch.delenv("GRAPHNN_DEVICE", raising=False)
    m = _mlp()
    x, y = _data(rng)
    m.train_on_batch(x[:32], y[:32])  # compile outside the count
    before = STATS["foreign_calls"]
    m.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=True)
    assert STATS["foreign_calls"] - before == 2 * 3


def test_batch_sizes_32_7_1_compile_nothing_new(rng, capfd, monkeypatch):
    monkeypatch.delenv("GRAPHNN_DEVICE", raising=False)
    monkeypatch.setenv("GRAPHNN_DEBUG", "1")
    m = _mlp()
    x, y = _data(rng)
    capfd.readouterr()
    for n in (32, 7, 1):
        m.train_on_batch(x[:n], y[:n])
    for n in (32, 7, 1, 96):
        assert m.predict(x[:n], batch_size=32).shape == (n, 4)
    log = [line for line in capfd.readouterr().err.splitlines() if line.startswith("graphnn: compiled")]
    assert len(log) == 2, log  # the train function and the predict function, once each
    assert any("train_function" in line for line in log)


def test_fused_train_step_has_far_fewer_kernels_than_ops(rng, monkeypatch):
    monkeypatch.delenv("GRAPHNN_DEVICE", raising=False)
    m = _mlp()
    x, y = _data(rng)
    m.train_on_batch(x[:32], y[:32])
    prog = m.train_function._fn._program
    primitive_ops = sum(1 for n in prog.graph.nodes()
                        if prog.graph.op(n) not in ("placeholder", "variable", "constant"))
    assert prog.n_kernels * 3 < primitive_ops, (prog.n_kernels, primitive_ops)


def test_compiled_training_matches_the_interpreter(rng, monkeypatch):
    x, y = _data(rng)
    results = []
    for device in ("cpu", "interpreter"):
        monkeypatch.setenv("GRAPHNN_DEVICE", device)
        np.random.seed(3)
        m = Sequential([Dense(16, activation="tanh", input_dim=20), Dense(4, activation="softmax")])
        m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["acc"])
        h = m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        results.append((h.history["loss"], m.get_weights()))
    (l1, w1), (l2, w2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    for a, c in zip(w1, w2):
        np.testing.assert_allclose(a, c, rtol=1e-3, atol=1e-5)
