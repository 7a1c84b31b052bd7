"""The Keras layer contract, checked for any layer in one call: ``check_layer``.

Usage (one line per layer and configuration; see tests/test_layer_catalogue.py)::

    from layer_contract import check_layer
    check_layer(lambda: Dense(3, activation="tanh"), input_shape=(2, 4))

``layer_factory`` returns a fresh, unbuilt layer each time it is called (it is called several
times: the functional model, the float64 gradient model...).  ``input_shape`` includes the batch
size of the test data (the models themselves are built with a free batch axis); a list of shapes
means a layer called on a list of inputs (merge layers): ``check_layer(Add, [(2, 3), (2, 3)])``.
What is checked:

1. build: calling the layer on an ``Input`` builds it; the symbolic output shape equals
   ``compute_output_shape`` (and ``expected_output_shape`` when given); the computed array has
   that shape with the batch size filled in;
2. ``get_weights``/``set_weights`` round trip (new values read back equal);
3. ``get_config``/``from_config`` and ``layers.serialize``/``deserialize`` round trip; the config
   is JSON serializable; the clone, given the original's weights, computes the same output;
4. Sequential and functional (``Input``/``Model``) forms give the same output: the Sequential
   model is run compiled (LLVM, ``predict``), the functional one on the reference interpreter, so
   this also checks the compiler on the layer's graph (a multi-input layer has no Sequential
   form: a fresh functional model of the deserialized config is run compiled instead);
5. gradient check in float64: d sum(output * c)/d(input, trainable weights) from ``K.gradients``
   against central finite differences, in each learning phase of ``grad_phases``.

Noise layers are deterministic in the test phase (the default for the gradient check); layers
whose training-phase math is deterministic (BatchNormalization) add ``grad_phases=(0, 1)``.
Returns a dict with the float32 outputs and the layer, for extra checks by the caller.
"""
from __future__ import annotations

import json
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from graphnn import backend as K
from graphnn import layers as layers_module
from graphnn.backend.phase import learning_phase_placeholder
from graphnn.engine.topology import Input, Layer
from graphnn.engine.training import Model
from graphnn.models import Sequential
from graphnn.utils.generic_utils import json_default


def _make_data(shape, dtype: str, rng: np.random.RandomState, int_high: int) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        return rng.randint(0, int_high, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _run(inputs, outputs, feeds, phase: bool = False, device: Optional[str] = "interpreter"):
    f = K.function(list(inputs), list(outputs), givens={learning_phase_placeholder(): phase},
                   device=device)
    return f(list(feeds))


def _concrete(shape, batch: int) -> tuple:
    return tuple(batch if (i == 0 and d is None) else d for i, d in enumerate(shape))


def _same_config(a, b) -> bool:
    """Config equality up to tuple/list (JSON turns tuples into lists)."""
    return json.loads(json.dumps(a, default=json_default, sort_keys=True)) == \
        json.loads(json.dumps(b, default=json_default, sort_keys=True))


def check_layer(layer_factory: Callable[[], Layer], input_shape: Sequence[int],
                input_data: Optional[np.ndarray] = None, input_dtype: Optional[str] = None,
                expected_output: Optional[np.ndarray] = None,
                expected_output_shape: Optional[Sequence] = None,
                grad: bool = True, grad_wrt_input: bool = True,
                grad_phases: Sequence[int] = (0,), grad_data: Optional[np.ndarray] = None,
                int_high: int = 5, rtol: float = 1e-5, atol: float = 1e-5,
                grad_rtol: float = 1e-5, grad_atol: float = 1e-6, fd_eps: float = 1e-6,
                seed: int = 0, compiled: bool = True, custom_objects: Optional[dict] = None
                ) -> Dict:
    """Check the Keras layer contract for ``layer_factory()`` (see the module docstring).

    ``input_dtype`` defaults to floatx; integer inputs (Embedding) get ``randint(0, int_high)``
    data and no input gradient.  ``expected_output`` (float32 run) is compared when given.
    ``compiled=False`` skips the compiled (LLVM) Sequential run.  ``custom_objects`` is passed
    to ``layers.deserialize`` (for layer classes outside graphnn.layers).
    """
    rng = np.random.RandomState(seed)
    multi = isinstance(input_shape, list)
    shapes = [tuple(sh) for sh in input_shape] if multi else [tuple(input_shape)]
    batch = shapes[0][0]
    dtype = input_dtype or K.floatx()
    if input_data is None:
        datas = [_make_data(sh, dtype, rng, int_high) for sh in shapes]
    else:
        datas = list(input_data) if multi else [input_data]
    datas = [np.asarray(d, dtype=dtype) for d in datas]
    batch_shapes = [(None,) + sh[1:] for sh in shapes]

    def call_on(layer_: Layer, xs_: list):
        return layer_(xs_ if multi else xs_[0])

    def one(values: list):
        return values if multi else values[0]

    # 1. build and shapes (functional form)
    xs = [Input(batch_shape=bs, dtype=dtype) for bs in batch_shapes]
    layer = layer_factory()
    name = layer.name
    y = call_on(layer, xs)
    assert layer.built, f"{name}: not built after being called"
    declared = tuple(layer.compute_output_shape(one(batch_shapes)))
    assert tuple(K.int_shape(y)) == declared, (
        f"{name}: output shape {K.int_shape(y)} != compute_output_shape{one(batch_shapes)} = "
        f"{declared}")
    if expected_output_shape is not None:
        assert declared == tuple(expected_output_shape), (
            f"{name}: output shape {declared} != expected {tuple(expected_output_shape)}")
    model = Model(xs, y)
    (out,) = _run(xs, [y], datas)
    assert out.shape == _concrete(declared, batch), (
        f"{name}: computed shape {out.shape} != declared {declared} with batch {batch}")
    if expected_output is not None:
        np.testing.assert_allclose(out, expected_output, rtol=rtol, atol=atol,
                                   err_msg=f"{name}: output differs from the expected values")

    # 2. weights round trip
    weights = layer.get_weights()
    assert len(weights) == len(layer.weights)
    new = [w + np.asarray(rng.uniform(0.1, 0.2, size=w.shape), dtype=w.dtype) for w in weights]
    layer.set_weights(new)
    for got, want in zip(layer.get_weights(), new):
        np.testing.assert_array_equal(got, want, err_msg=f"{name}: set_weights/get_weights")
    assert [w.shape for w in model.get_weights()] == [w.shape for w in new]
    (out,) = _run(xs, [y], datas)  # new weights: the later checks all use these

    # 3. config round trips
    config = layer.get_config()
    json.dumps(config, default=json_default)
    clone = type(layer).from_config(config)
    assert _same_config(clone.get_config(), config), (
        f"{name}: from_config(get_config()) has config {clone.get_config()} != {config}")
    serialized = layers_module.serialize(layer)
    again = layers_module.deserialize(json.loads(json.dumps(serialized, default=json_default)),
                                        custom_objects)
    assert type(again) is type(layer) and _same_config(again.get_config(), config), (
        f"{name}: layers.deserialize(layers.serialize(layer)) differs")
    xs2 = [Input(batch_shape=bs, dtype=dtype) for bs in batch_shapes]
    y2 = call_on(again, xs2)
    again.set_weights(layer.get_weights())
    (out2,) = _run(xs2, [y2], datas)
    np.testing.assert_allclose(out2, out, rtol=rtol, atol=atol,
                               err_msg=f"{name}: the deserialized layer computes differently")

    # 4. Sequential (compiled) == functional (interpreter)
    seq_config = dict(config, batch_input_shape=batch_shapes[0])
    seq_config.pop("name", None)
    if multi:
        seq_config.pop("batch_input_shape")
    if dtype != K.floatx():
        seq_config["dtype"] = dtype
    seq_layer = type(layer).from_config(seq_config)
    if multi:
        xs3 = [Input(batch_shape=bs, dtype=dtype) for bs in batch_shapes]
        seq = Model(xs3, call_on(seq_layer, xs3))
    else:
        seq = Sequential([seq_layer])
    seq_layer.set_weights(layer.get_weights())
    if compiled:
        seq_out = seq.predict(one(datas), batch_size=batch)
    else:
        (seq_out,) = _run(seq.inputs, seq.outputs, datas)
    np.testing.assert_allclose(seq_out, out, rtol=max(rtol, 1e-5), atol=max(atol, 1e-5),
                               err_msg=f"{name}: Sequential and functional forms differ")

    # 5. float64 gradient check
    if grad:
        _check_gradients(layer_factory, batch_shapes, shapes, dtype, grad_wrt_input,
                         grad_phases, grad_data, int_high, grad_rtol, grad_atol, fd_eps, rng,
                         multi)
    return {"layer": layer, "output": out, "model": model, "sequential": seq}


def _check_gradients(layer_factory, batch_shapes, shapes, dtype, wrt_input, phases,
                     data, int_high, rtol, atol, eps, rng, multi) -> None:
    old = K.floatx()
    K.set_floatx("float64")
    try:
        in_dtype = "float64" if np.dtype(dtype).kind == "f" else dtype
        xs = [Input(batch_shape=bs, dtype=in_dtype) for bs in batch_shapes]
        layer = layer_factory()
        y = layer(xs if multi else xs[0])
        if data is None:
            datas = [_make_data(sh, in_dtype, rng, int_high) for sh in shapes]
        else:
            datas = list(data) if multi else [data]
        datas = [np.asarray(d, dtype=in_dtype) for d in datas]
        # move the weights off their initial values (zeros biases, ones scales hide mistakes)
        for w in layer.weights:
            v = K.get_value(w)
            K.set_value(w, v + rng.uniform(-0.3, 0.3, size=v.shape))
        params = list(layer.trainable_weights)
        wrt = (list(xs) if wrt_input and np.dtype(in_dtype).kind == "f" else []) + params
        if not wrt:
            return
        c = K.placeholder(shape=K.int_shape(y), dtype="float64", name="cotangent")
        out_shape = _concrete(K.int_shape(y), shapes[0][0])
        cval = rng.standard_normal(out_shape)
        loss = K.sum(y * c)
        grads = K.gradients(loss, wrt)
        for phase in phases:
            f = K.function(xs + [c], [loss] + grads,
                           givens={learning_phase_placeholder(): bool(phase)},
                           device="interpreter")
            analytic = f(datas + [cval])[1:]

            def value() -> float:
                return float(f(datas + [cval])[0])

            for target, g in zip(wrt, analytic):
                num = np.zeros(g.shape)
                slot = next((i for i, x in enumerate(xs) if target is x), None)
                base = datas[slot] if slot is not None else K.get_value(target)
                for idx in np.ndindex(*base.shape):
                    vals = []
                    for delta in (eps, -eps):
                        moved = base.copy()
                        moved[idx] += delta
                        if slot is not None:
                            datas[slot] = moved
                        else:
                            K.set_value(target, moved)
                        vals.append(value())
                    if slot is not None:
                        datas[slot] = base
                    else:
                        K.set_value(target, base)
                    num[idx] = (vals[0] - vals[1]) / (2 * eps)
                what = ("input" + (f" {slot}" if multi else "")) if slot is not None else \
                    target.name
                np.testing.assert_allclose(
                    g, num, rtol=rtol, atol=atol,
                    err_msg=f"{layer.name}: gradient of {what} (phase {phase}) differs from "
                            "finite differences")
    finally:
        K.set_floatx(old)
