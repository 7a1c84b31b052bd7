"""Every optimizer: a few steps equal a numpy transcription of Keras's update equations (with
decay, clipnorm, clipvalue), inside K.function and inside Model's compiled train step; configs
round-trip; Keras 1 and Keras 2 names."""
import numpy as np
import pytest

from graphnn import backend as K
from graphnn import optimizers
from graphnn.layers import Dense
from graphnn.models import Sequential
from graphnn.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, RMSprop

RNG = np.random.RandomState(0)
X = RNG.randn(5, 3).astype("float32")
T = RNG.randn(5, 2).astype("float32")
W0 = RNG.randn(3, 2).astype("float32")
B0 = RNG.randn(2).astype("float32")


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()


def grads(w, b):
    """Gradient of mean((xW + b - t)**2) with respect to W and b."""
    r = X @ w + b - T
    scale = 2.0 / r.size
    return [scale * X.T @ r, scale * r.sum(0)]


def clip(gs, clipnorm=0.0, clipvalue=0.0):
    if clipnorm:
        norm = np.sqrt(sum((g ** 2).sum() for g in gs))
        if norm >= clipnorm:
            gs = [g * clipnorm / norm for g in gs]
    if clipvalue:
        gs = [np.clip(g, -clipvalue, clipvalue) for g in gs]
    return gs


# --- numpy transcriptions: step(p, g, state, lr, t) -> new p; state is a per-parameter dict -----
def sgd_step(p, g, s, lr, t, momentum=0.0, nesterov=False):
    v = momentum * s.get("m", 0.0) - lr * g
    s["m"] = v
    return p + momentum * v - lr * g if nesterov else p + v


def rmsprop_step(p, g, s, lr, t, rho=0.9, epsilon=1e-8):
    s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g ** 2
    return p - lr * g / (np.sqrt(s["a"]) + epsilon)


def adagrad_step(p, g, s, lr, t, epsilon=1e-8):
    s["a"] = s.get("a", 0.0) + g ** 2
    return p - lr * g / (np.sqrt(s["a"]) + epsilon)


def adadelta_step(p, g, s, lr, t, rho=0.95, epsilon=1e-8):
    s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g ** 2
    step = g * np.sqrt(s.get("d", 0.0) + epsilon) / np.sqrt(s["a"] + epsilon)
    s["d"] = rho * s.get("d", 0.0) + (1 - rho) * step ** 2
    return p - lr * step


def adam_step(p, g, s, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-8, amsgrad=False):
    lr_t = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g ** 2
    if amsgrad:
        s["vhat"] = np.maximum(s.get("vhat", 0.0), s["v"])
        return p - lr_t * s["m"] / (np.sqrt(s["vhat"]) + epsilon)
    return p - lr_t * s["m"] / (np.sqrt(s["v"]) + epsilon)


def adamax_step(p, g, s, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    lr_t = lr / (1 - beta_1 ** t)
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["u"] = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g))
    return p - lr_t * s["m"] / (s["u"] + epsilon)


def nadam_step(p, g, s, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule_decay=0.004,
               shared=None):
    cache_t = beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))
    cache_t_1 = beta_1 * (1 - 0.5 * 0.96 ** ((t + 1) * schedule_decay))
    sched = shared.setdefault(t, shared.get("m_schedule", 1.0) * cache_t)  # once per step
    shared["m_schedule"] = sched
    sched_next = sched * cache_t_1
    g_prime = g / (1 - sched)
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g ** 2
    m_bar = (1 - cache_t) * g_prime + cache_t_1 * s["m"] / (1 - sched_next)
    return p - lr * m_bar / (np.sqrt(s["v"] / (1 - beta_2 ** t)) + epsilon)


CASES = {
    "sgd": (SGD, sgd_step, dict(lr=0.1), {}),
    "sgd-momentum-decay": (SGD, sgd_step, dict(lr=0.1, decay=0.2),
                           dict(momentum=0.9, nesterov=True)),
    "rmsprop": (RMSprop, rmsprop_step, dict(lr=0.01), dict(rho=0.8)),
    "adagrad": (Adagrad, adagrad_step, dict(lr=0.1, decay=0.1), {}),
    "adadelta": (Adadelta, adadelta_step, dict(lr=1.0), dict(rho=0.9)),
    "adam": (Adam, adam_step, dict(lr=0.01, decay=0.05), dict(beta_1=0.8)),
    "amsgrad": (Adam, adam_step, dict(lr=0.01), dict(amsgrad=True)),
    "adamax": (Adamax, adamax_step, dict(lr=0.02), dict(beta_2=0.99)),
    "nadam": (Nadam, nadam_step, dict(lr=0.01), dict(schedule_decay=0.01)),
    "nadam-decay": (Nadam, nadam_step, dict(lr=0.01, decay=0.3), {}),
}


def numpy_run(step, common, hyper, steps=3, clipnorm=0.0, clipvalue=0.0):
    params = [W0.astype("float64"), B0.astype("float64")]
    states = [{} for _ in params]
    shared = {}
    for k in range(steps):
        lr = common["lr"] / (1 + common.get("decay", 0.0) * k)
        gs = clip(grads(*params), clipnorm, clipvalue)
        extra = dict(shared=shared) if step is nadam_step else {}
        params = [step(p, g, s, lr, k + 1, **hyper, **extra)
                  for p, g, s in zip(params, gs, states)]
    return params


def graph_run(opt, steps=3, keras2_signature=False):
    w, b = K.variable(W0), K.variable(B0)
    x, t = K.placeholder(shape=(None, 3)), K.placeholder(shape=(None, 2))
    loss = K.mean(K.square(K.dot(x, w) + b - t))
    updates = opt.get_updates(loss, [w, b]) if keras2_signature else \
        opt.get_updates([w, b], {}, loss)
    f = K.function([x, t], [loss], updates=updates, device="interpreter")
    for _ in range(steps):
        f([X, T])
    return K.get_value(w), K.get_value(b)


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_match_keras_equations(case):
    cls, step, common, hyper = CASES[case]
    got = graph_run(cls(**common, **hyper), keras2_signature=case.startswith("a"))
    for g, w in zip(got, numpy_run(step, common, hyper)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=case)


@pytest.mark.parametrize("cls,step", [(Adagrad, adagrad_step), (Adam, adam_step),
                                      (Nadam, nadam_step)])
def test_clipnorm_and_clipvalue_every_optimizer(cls, step):
    g = grads(W0, B0)
    norm = np.sqrt(sum((x ** 2).sum() for x in g))
    got = graph_run(cls(lr=0.1, clipnorm=norm / 2, clipvalue=0.05), steps=2)
    want = numpy_run(step, dict(lr=0.1), {}, steps=2, clipnorm=norm / 2, clipvalue=0.05)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax",
                                  "nadam"])
def test_compiled_train_step_matches_numpy(name):
    """Model.fit's compiled train function applies the optimizer's updates (LLVM, not the
    interpreter); Keras defaults per optimizer."""
    cls = optimizers.get(name).__class__
    step = {"SGD": sgd_step, "RMSprop": rmsprop_step, "Adagrad": adagrad_step,
            "Adadelta": adadelta_step, "Adam": adam_step, "Adamax": adamax_step,
            "Nadam": nadam_step}[cls.__name__]
    model = Sequential([Dense(2, input_dim=3, weights=[W0, B0])])
    opt = optimizers.get(name)
    lr = float(K.get_value(opt.lr))
    model.compile(opt, "mse")
    for _ in range(2):
        model.train_on_batch(X, T)
    want = numpy_run(step, dict(lr=lr), {}, steps=2)
    for a, b in zip(model.get_weights(), want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=name)
    if name.startswith(("adam", "nadam")):  # the others count only when decaying (Keras 1)
        assert float(K.get_value(opt.iterations)) == 2.0


def test_names_configs_and_keras1_spellings():
    for name, cls in [("sgd", SGD), ("RMSprop", RMSprop), ("adagrad", Adagrad),
                      ("Adadelta", Adadelta), ("adam", Adam), ("adamax", Adamax),
                      ("nadam", Nadam), ("Nadam", Nadam)]:
        opt = optimizers.get(name)
        assert type(opt) is cls
        cfg = opt.get_config()
        clone = optimizers.deserialize(optimizers.serialize(opt))
        assert type(clone) is cls and clone.get_config() == pytest.approx(cfg)
    assert K.get_value(optimizers.get("adam", {"lr": 0.5}).lr) == pytest.approx(0.5)
    assert K.get_value(Adamax(learning_rate=0.3).learning_rate) == pytest.approx(0.3)
    cfg = Adam(lr=0.1, clipnorm=1.0, decay=0.5, epsilon=None).get_config()
    assert cfg["clipnorm"] == 1.0 and cfg["decay"] == 0.5 and cfg["epsilon"] == K.epsilon()
    # Keras 1 configs name the class inside the config
    opt = Adagrad.from_config({"name": "Adagrad", "lr": 0.2, "epsilon": 1e-8, "decay": 0.0})
    assert K.get_value(opt.lr) == pytest.approx(0.2)
    assert optimizers.deserialize({"class_name": "adadelta", "config": {}}).rho == 0.95
    with pytest.raises(TypeError, match="Unexpected keyword argument passed to optimizer: rh0"):
        Adadelta(rh0=0.9)
    with pytest.raises(ValueError, match="Unknown optimizer: adamw"):
        optimizers.get("adamw")


def test_weights_lists_slots():
    opt = Adam()
    graph_run(opt, steps=1)
    assert len(opt.weights) == 1 + 2 + 2 and float(opt.get_weights()[0]) == 1.0
    opt.set_weights(opt.get_weights())
    with pytest.raises(ValueError, match="does not match the number of weights"):
        opt.set_weights([])
