"""Convolution and pooling: backend functions and layers against plain numpy loops of Keras's
math (both data formats, valid/same, strides, dilation), float64 finite-difference gradients,
configs, Keras 1 names, error messages, and a small CNN that trains.

Compilations dominate the run time, so each CPU test puts several configurations into one
``K.function``; the gradient checks run on the numpy interpreter."""
import numpy as np
import pytest

from graphnn import backend as K
from graphnn import layers
from graphnn.engine.topology import Input
from graphnn.layers import (AtrousConvolution1D, AtrousConvolution2D, AveragePooling1D,
                            AveragePooling2D, AveragePooling3D, Conv1D, Conv2D,
                            Conv2DTranspose, Conv3D, Convolution1D, Convolution2D, Cropping1D,
                            Cropping2D, Cropping3D, Deconvolution2D, Dense, Flatten,
                            GlobalAveragePooling1D, GlobalAveragePooling2D,
                            GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                            GlobalMaxPooling3D, LocallyConnected1D, LocallyConnected2D,
                            MaxPooling1D, MaxPooling2D, MaxPooling3D, SeparableConv2D,
                            SeparableConvolution2D, UpSampling1D, UpSampling2D, UpSampling3D,
                            ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from graphnn.models import Model, Sequential
from graphnn.optimizers import SGD


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    np.random.seed(3)
    yield
    K.set_floatx("float32")


# --- numpy references (channels last; loops over output positions and kernel taps) -------------
def _same_pads(n, k, s, d=1):
    span = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + span - n, 0)
    return total // 2, total - total // 2


def _pads(shape, ks, strides, padding, dilation):
    pads = []
    for n, k, s, d in zip(shape, ks, strides, dilation):
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append(((k - 1) * d, 0))
        else:
            pads.append(_same_pads(n, k, s, d))
    return pads


def ref_conv(x, w, strides, padding="valid", dilation=None):
    r = w.ndim - 2
    ks = w.shape[:r]
    dilation = dilation or (1,) * r
    pads = _pads(x.shape[1:-1], ks, strides, padding, dilation)
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    outs = [(xp.shape[1 + i] - (ks[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(r)]
    y = np.zeros((x.shape[0],) + tuple(outs) + (w.shape[-1],))
    for o in np.ndindex(*outs):
        for t in np.ndindex(*ks):
            src = tuple(oi * s + ti * d for oi, s, ti, d in zip(o, strides, t, dilation))
            y[(slice(None),) + o] += xp[(slice(None),) + src] @ w[t]
    return y


def ref_pool(x, size, strides, padding, mode):
    r = len(size)
    pads = _pads(x.shape[1:-1], size, strides, padding, (1,) * r)
    fill = -np.inf if mode == "max" else np.nan
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)], constant_values=fill)
    outs = [(xp.shape[1 + i] - size[i]) // strides[i] + 1 for i in range(r)]
    y = np.zeros((x.shape[0],) + tuple(outs) + (x.shape[-1],))
    for o in np.ndindex(*outs):
        win = xp[(slice(None),) + tuple(slice(oi * s, oi * s + k)
                                        for oi, s, k in zip(o, strides, size))]
        win = win.reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None),) + o] = win.max(1) if mode == "max" else np.nanmean(win, 1)
    return y


def ref_deconv(x, w, strides, padding):
    """Scatter form: each input position adds ``x @ w[t].T`` at ``i * stride + t``; kernel
    (rows, cols, out, in)."""
    ks = w.shape[:2]
    ins = x.shape[1:3]
    if padding == "same":
        outs = [n * s for n, s in zip(ins, strides)]
        pb = [max(k - s, 0) // 2 for k, s in zip(ks, strides)]
    else:
        outs = [n * s + max(k - s, 0) for n, k, s in zip(ins, ks, strides)]
        pb = [0, 0]
    full = np.zeros((x.shape[0],) + tuple(max((n - 1) * s + k, o + p) for n, s, k, o, p in
                                          zip(ins, strides, ks, outs, pb)) + (w.shape[2],))
    for i in np.ndindex(*ins):
        for t in np.ndindex(*ks):
            full[:, i[0] * strides[0] + t[0], i[1] * strides[1] + t[1]] += \
                x[:, i[0], i[1]] @ w[t].T
    return full[:, pb[0]:pb[0] + outs[0], pb[1]:pb[1] + outs[1]]


def ref_depthwise(x, w, strides, padding):
    cin, mult = w.shape[2:]
    parts = [ref_conv(x[..., c:c + 1], w[:, :, c:c + 1, m:m + 1], strides, padding)
             for c in range(cin) for m in range(mult)]
    return np.concatenate(parts, -1)


def ref_locally(x, w, b, ks, strides, channels_first=False):
    """Keras's LocallyConnected: one kernel row per output position; channels-first windows are
    flattened channel-major."""
    r = len(ks)
    outs = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], ks, strides)]
    y = np.zeros((x.shape[0],) + tuple(outs) + (w.shape[-1],))
    for p, o in enumerate(np.ndindex(*outs)):
        win = x[(slice(None),) + tuple(slice(oi * s, oi * s + k)
                                       for oi, s, k in zip(o, strides, ks))]
        if channels_first:
            win = np.moveaxis(win, -1, 1)
        y[(slice(None),) + o] = win.reshape(x.shape[0], -1) @ w[p]
    return y + b


def first(x):
    """channels last -> channels first."""
    return np.moveaxis(x, -1, 1)


def last(x):
    return np.moveaxis(x, 1, -1)


def run_layers(x, layer_list):
    """One compiled function applying each layer to the same input; returns outputs."""
    outs = []
    inp = Input(shape=x.shape[1:])
    for layer in layer_list:
        outs.append(layer(inp))
    return K.function([inp], outs)([x])


# --- convolutions ---------------------------------------------------------------------------------
def test_conv2d_layers_match_numpy_in_both_formats():
    x = np.random.randn(2, 7, 6, 3).astype("float32")
    cases = [dict(strides=(1, 1), padding="valid"), dict(strides=(2, 1), padding="same"),
             dict(strides=(2, 2), padding="valid"), dict(strides=(1, 1), padding="same",
                                                         dilation_rate=(2, 1)),
             dict(strides=(3, 2), padding="same")]
    last_layers = [Conv2D(4, (3, 2), activation="relu", bias_initializer="uniform", **c)
                   for c in cases]
    first_layers = [Conv2D(4, (3, 2), data_format="channels_first", **c) for c in cases]
    outs = run_layers(x, last_layers)
    outs_first = run_layers(first(x), first_layers)
    for c, layer, out in zip(cases, last_layers, outs):
        w, bias = layer.get_weights()
        want = np.maximum(ref_conv(x, w, c["strides"], c["padding"], c.get("dilation_rate")) +
                          bias, 0)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
        assert out.shape == (2,) + layer.compute_output_shape((None, 7, 6, 3))[1:]
    for c, layer, out in zip(cases, first_layers, outs_first):
        w, bias = layer.get_weights()
        want = first(ref_conv(x, w, c["strides"], c["padding"], c.get("dilation_rate")) + bias)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
        assert out.shape == (2,) + layer.compute_output_shape((None, 3, 7, 6))[1:]


def test_conv1d_conv3d_and_keras1_names_match_numpy():
    x1 = np.random.randn(2, 9, 3).astype("float32")
    c1 = [Conv1D(4, 3), Conv1D(2, 2, strides=2, padding="same"),
          Conv1D(3, 3, padding="causal", dilation_rate=2),
          Convolution1D(nb_filter=2, filter_length=3, subsample_length=2, border_mode="same"),
          AtrousConvolution1D(2, 2, atrous_rate=3)]
    outs = run_layers(x1, c1)
    for layer, out in zip(c1, outs):
        w, bias = layer.get_weights()
        want = ref_conv(x1, w, layer.strides, layer.padding, layer.dilation_rate) + bias
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    assert c1[3].nb_filter == 2 and c1[3].filter_length == 3 and c1[3].subsample_length == 2
    x3 = np.random.randn(2, 4, 5, 3, 2).astype("float32")
    c3 = [Conv3D(3, (2, 3, 2), padding="same", strides=(2, 1, 1)),
          Conv3D(2, 2, 2, 2, subsample=(1, 2, 1))]   # Keras 1 positional kernel_dim1..3
    outs = run_layers(x3, c3)
    for layer, out in zip(c3, outs):
        w, bias = layer.get_weights()
        np.testing.assert_allclose(out, ref_conv(x3, w, layer.strides, layer.padding) + bias,
                                   rtol=1e-4, atol=1e-5)
    assert c3[1].kernel_size == (2, 2, 2)


def test_keras1_conv2d_arguments():
    layer = Convolution2D(8, 3, 3, border_mode="same", subsample=(2, 2), dim_ordering="th",
                          init="uniform", bias=False, input_shape=(1, 6, 6))
    assert layer.kernel_size == (3, 3) and layer.strides == (2, 2) and layer.padding == "same"
    assert layer.data_format == "channels_first" and not layer.use_bias
    assert layer.nb_row == 3 and layer.nb_col == 3 and layer.dim_ordering == "th"
    model = Sequential([layer])
    assert model.output_shape == (None, 8, 3, 3)
    assert layer.get_output_shape_for((None, 1, 6, 6)) == (None, 8, 3, 3)
    assert [w.name for w in layer.weights] == [layer.name + "/kernel:0"]
    a = AtrousConvolution2D(2, 3, 3, atrous_rate=(2, 2))
    assert a.dilation_rate == (2, 2)
    assert Conv2D(4, 3, strides=2).strides == (2, 2)  # Keras 2 keyword strides stay strides


def test_separable_and_transposed_conv_match_numpy():
    x = np.random.randn(2, 5, 6, 3).astype("float32")
    sep = [SeparableConv2D(4, (3, 3), padding="same", depth_multiplier=2),
           SeparableConvolution2D(2, 2, 2, subsample=(2, 2))]
    dec = [Conv2DTranspose(2, (3, 3), strides=(2, 2), padding="same"),
           Conv2DTranspose(3, (3, 2), strides=(2, 3), padding="valid"),
           Deconvolution2D(2, 2, 2, output_shape=(None, 5, 6, 2), border_mode="same")]
    outs = run_layers(x, sep + dec)
    for layer, out in zip(sep, outs):
        dw, pw, bias = layer.get_weights()
        want = ref_conv(ref_depthwise(x, dw, layer.strides, layer.padding), pw, (1, 1)) + bias
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
        assert out.shape[1:] == layer.compute_output_shape((None, 5, 6, 3))[1:]
    for layer, out in zip(dec, outs[len(sep):]):
        w, bias = layer.get_weights()
        want = ref_deconv(x, w, layer.strides, layer.padding) + bias
        assert out.shape[1:] == layer.compute_output_shape((None, 5, 6, 3))[1:]
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    assert outs[2].shape == (2, 10, 12, 2) and outs[3].shape == (2, 11, 18, 3)
    # channels first, through the backend function
    xf = K.placeholder((None, 3, 5, 6))
    k = K.variable(np.random.randn(3, 3, 2, 3).astype("float32"))
    y = K.conv2d_transpose(xf, k, strides=(2, 2), padding="same", data_format="channels_first")
    got = K.function([xf], [y])([first(x)])[0]
    np.testing.assert_allclose(got, first(ref_deconv(x, K.get_value(k), (2, 2), "same")),
                               rtol=1e-4, atol=1e-5)


def test_locally_connected_match_numpy():
    x1 = np.random.randn(2, 7, 3).astype("float32")
    l1 = [LocallyConnected1D(2, 3, bias_initializer="uniform"),
          LocallyConnected1D(nb_filter=3, filter_length=2, subsample_length=2)]
    outs = run_layers(x1, l1)
    for layer, out in zip(l1, outs):
        w, bias = layer.get_weights()
        np.testing.assert_allclose(out, ref_locally(x1, w, bias, layer.kernel_size,
                                                    layer.strides), rtol=1e-4, atol=1e-5)
    x2 = np.random.randn(2, 5, 4, 2).astype("float32")
    l2 = LocallyConnected2D(3, (2, 2), strides=(1, 2), bias_initializer="uniform")
    out = run_layers(x2, [l2])[0]
    w, bias = l2.get_weights()
    assert w.shape == (4 * 2, 2 * 2 * 2, 3) and bias.shape == (4, 2, 3)
    np.testing.assert_allclose(out, ref_locally(x2, w, bias, (2, 2), (1, 2)), rtol=1e-4,
                               atol=1e-5)
    l2f = LocallyConnected2D(3, 2, 2, dim_ordering="th")
    out = run_layers(first(x2), [l2f])[0]
    w, bias = l2f.get_weights()
    np.testing.assert_allclose(out, first(ref_locally(x2, w, 0, (2, 2), (1, 1), True)),
                               rtol=1e-4, atol=1e-5)


# --- pooling and shape layers ---------------------------------------------------------------------
def test_pooling_layers_match_numpy():
    x = np.random.randn(2, 7, 6, 3).astype("float32")
    cases = [(MaxPooling2D, dict()), (MaxPooling2D, dict(pool_size=(3, 2), strides=(2, 1),
                                                         padding="same")),
             (AveragePooling2D, dict(pool_size=(2, 3), padding="same")),
             (AveragePooling2D, dict(pool_size=(3, 3), strides=(1, 2))),
             (MaxPooling2D, dict(pool_size=(3, 3), strides=(2, 2), border_mode="same"))]
    ls = [cls(**kw) for cls, kw in cases]
    lf = [cls(data_format="channels_first", **kw) for cls, kw in cases]
    g = [GlobalMaxPooling2D(), GlobalAveragePooling2D()]
    outs = run_layers(x, ls + g)
    outs_f = run_layers(first(x), lf + [GlobalAveragePooling2D(dim_ordering="th")])
    for layer, out, out_f in zip(ls, outs, outs_f):
        mode = "max" if isinstance(layer, MaxPooling2D) else "avg"
        want = ref_pool(x, layer.pool_size, layer.strides, layer.padding, mode)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out_f, first(want), rtol=1e-5, atol=1e-6)
        assert out.shape[1:] == layer.compute_output_shape((None, 7, 6, 3))[1:]
    np.testing.assert_allclose(outs[-2], x.max((1, 2)), rtol=1e-6)
    np.testing.assert_allclose(outs[-1], x.mean((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(outs_f[-1], x.mean((1, 2)), rtol=1e-5)

    x1 = np.random.randn(2, 7, 3).astype("float32")
    p1 = [MaxPooling1D(pool_length=3, stride=2), AveragePooling1D(2, padding="same"),
          MaxPooling1D(2, strides=1, padding="same"), GlobalMaxPooling1D(),
          GlobalAveragePooling1D()]
    outs = run_layers(x1, p1)
    np.testing.assert_allclose(outs[0], ref_pool(x1, (3,), (2,), "valid", "max"), rtol=1e-6)
    np.testing.assert_allclose(outs[1], ref_pool(x1, (2,), (2,), "same", "avg"), rtol=1e-5)
    np.testing.assert_allclose(outs[2], ref_pool(x1, (2,), (1,), "same", "max"), rtol=1e-6)
    np.testing.assert_allclose(outs[3], x1.max(1), rtol=1e-6)
    np.testing.assert_allclose(outs[4], x1.mean(1), rtol=1e-5)
    assert p1[0].pool_length == 3 and p1[0].stride == 2

    x3 = np.random.randn(2, 4, 5, 3, 2).astype("float32")
    p3 = [MaxPooling3D(), AveragePooling3D((2, 2, 3), padding="same"), GlobalMaxPooling3D(),
          GlobalAveragePooling3D()]
    outs = run_layers(x3, p3)
    np.testing.assert_allclose(outs[0], ref_pool(x3, (2, 2, 2), (2, 2, 2), "valid", "max"))
    np.testing.assert_allclose(outs[1], ref_pool(x3, (2, 2, 3), (2, 2, 3), "same", "avg"),
                               rtol=1e-5)
    np.testing.assert_allclose(outs[2], x3.max((1, 2, 3)))
    np.testing.assert_allclose(outs[3], x3.mean((1, 2, 3)), rtol=1e-5)


def test_upsampling_padding_cropping_layers():
    x = np.random.randn(2, 4, 5, 3).astype("float32")
    ls = [UpSampling2D((2, 3)), ZeroPadding2D(((1, 2), (0, 1))), ZeroPadding2D((1, 2)),
          Cropping2D(((1, 0), (2, 1))), Cropping2D(1)]
    outs = run_layers(x, ls)
    np.testing.assert_array_equal(outs[0], x.repeat(2, 1).repeat(3, 2))
    np.testing.assert_array_equal(outs[1], np.pad(x, [(0, 0), (1, 2), (0, 1), (0, 0)]))
    np.testing.assert_array_equal(outs[2], np.pad(x, [(0, 0), (1, 1), (2, 2), (0, 0)]))
    np.testing.assert_array_equal(outs[3], x[:, 1:, 2:4])
    np.testing.assert_array_equal(outs[4], x[:, 1:3, 1:4])
    for layer, out in zip(ls, outs):
        assert out.shape[1:] == layer.compute_output_shape((None, 4, 5, 3))[1:]
    lf = [UpSampling2D((2, 1), dim_ordering="th"),
          ZeroPadding2D((1, 0), data_format="channels_first"),
          Cropping2D(((0, 1), (1, 1)), data_format="channels_first")]
    outs = run_layers(first(x), lf)
    np.testing.assert_array_equal(outs[0], first(x.repeat(2, 1)))
    np.testing.assert_array_equal(outs[1], first(np.pad(x, [(0, 0), (1, 1), (0, 0), (0, 0)])))
    np.testing.assert_array_equal(outs[2], first(x[:, 0:3, 1:4]))

    x1 = np.random.randn(2, 5, 3).astype("float32")
    l1 = [UpSampling1D(length=3), ZeroPadding1D((2, 1)), ZeroPadding1D(1), Cropping1D((1, 2))]
    outs = run_layers(x1, l1)
    np.testing.assert_array_equal(outs[0], x1.repeat(3, 1))
    np.testing.assert_array_equal(outs[1], np.pad(x1, [(0, 0), (2, 1), (0, 0)]))
    np.testing.assert_array_equal(outs[2], np.pad(x1, [(0, 0), (1, 1), (0, 0)]))
    np.testing.assert_array_equal(outs[3], x1[:, 1:3])

    x3 = np.random.randn(1, 3, 4, 5, 2).astype("float32")
    l3 = [UpSampling3D((1, 2, 1)), ZeroPadding3D((1, 0, 2)), Cropping3D(((1, 0), (1, 1), (0, 2)))]
    outs = run_layers(x3, l3)
    np.testing.assert_array_equal(outs[0], x3.repeat(2, 2))
    np.testing.assert_array_equal(outs[1], np.pad(x3, [(0, 0), (1, 1), (0, 0), (2, 2), (0, 0)]))
    np.testing.assert_array_equal(outs[2], x3[:, 1:, 1:3, 0:3])


# --- gradients (float64, numpy interpreter) ------------------------------------------------------
def _fd_check(build, shapes, n_coords=6, seed=0):
    """Compare K.gradients of ``sum(f(args) * r)`` with central differences in float64."""
    rng = np.random.default_rng(seed)
    phs = [K.placeholder(s, dtype="float64") for s in shapes]
    y = build(*phs)
    r = rng.standard_normal(tuple(int(d) for d in K.int_shape(y)))
    loss = K.sum(y * K.constant(r, dtype="float64"))
    grads = K.gradients(loss, phs)
    f = K.function(phs, [loss] + grads, device="interpreter")
    vals = [rng.standard_normal(s) for s in shapes]
    out = f(vals)
    eps = 1e-6
    for i, v in enumerate(vals):
        for flat in rng.choice(v.size, min(n_coords, v.size), replace=False):
            idx = np.unravel_index(flat, v.shape)
            hi = [a.copy() for a in vals]
            lo = [a.copy() for a in vals]
            hi[i][idx] += eps
            lo[i][idx] -= eps
            fd = (f(hi)[0] - f(lo)[0]) / (2 * eps)
            np.testing.assert_allclose(out[1 + i][idx], fd, rtol=1e-5, atol=1e-7)
    return f, vals, out


@pytest.mark.parametrize("kw", [dict(strides=(2, 1), padding="same"),
                                dict(padding="valid", dilation_rate=(1, 2)),
                                dict(padding="same", data_format="channels_first")])
def test_conv2d_gradient_finite_differences(kw):
    shape = (2, 3, 5, 4) if kw.get("data_format") == "channels_first" else (2, 5, 4, 3)
    _fd_check(lambda x, w: K.conv2d(x, w, **kw), [shape, (3, 2, 3, 2)])


def test_pool_deconv_separable_gradients_finite_differences():
    _fd_check(lambda x: K.pool2d(x, (2, 2), (2, 2), "same", pool_mode="max"), [(2, 5, 3, 2)])
    _fd_check(lambda x: K.pool2d(x, (3, 2), (1, 2), "same", pool_mode="avg"), [(1, 4, 5, 2)])
    _fd_check(lambda x, w: K.conv2d_transpose(x, w, None, (2, 2), "same"),
              [(1, 3, 2, 2), (3, 2, 3, 2)])
    _fd_check(lambda x, d, p: K.separable_conv2d(x, d, p, padding="same"),
              [(1, 4, 3, 2), (2, 2, 2, 2), (1, 1, 4, 3)])
    _fd_check(lambda x, w: K.conv1d(x, w, strides=2, padding="same"), [(2, 7, 2), (3, 2, 3)])


def test_compiled_float64_gradient_matches_interpreter():
    K.set_floatx("float64")
    f, vals, want = _fd_check(lambda x, w: K.pool2d(K.relu(K.conv2d(x, w, padding="same")),
                                                    (2, 2), (2, 2)),
                              [(2, 6, 5, 2), (3, 3, 2, 3)], n_coords=2)
    compiled = K.function(f.inputs, f.outputs)
    for got, ref in zip(compiled(vals), want):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


# --- configs, errors, training -------------------------------------------------------------------
def test_config_round_trips():
    all_layers = [
        Conv1D(3, 2, padding="causal", dilation_rate=2, kernel_regularizer="l2"),
        Conv2D(4, (3, 2), strides=2, data_format="channels_first", activation="relu"),
        Conv3D(2, 2, use_bias=False), SeparableConv2D(3, 3, depth_multiplier=2),
        Conv2DTranspose(2, 3, strides=2, padding="same"), Convolution2D(3, 2, 2),
        Deconvolution2D(2, 3, 3, output_shape=(None, 8, 8, 2)),
        LocallyConnected1D(2, 3), LocallyConnected2D(2, (2, 2), data_format="channels_first"),
        UpSampling1D(3), UpSampling2D((2, 1)), UpSampling3D(), ZeroPadding1D((1, 2)),
        ZeroPadding2D(((1, 0), (2, 3))), ZeroPadding3D(1), Cropping1D((0, 1)), Cropping2D(2),
        Cropping3D(), MaxPooling1D(3), AveragePooling2D((2, 3), padding="same"),
        MaxPooling3D(strides=1), GlobalMaxPooling2D(data_format="channels_first"),
        GlobalAveragePooling1D(), GlobalAveragePooling3D()]
    for layer in all_layers:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config, type(layer).__name__
        again = layers.deserialize(layers.serialize(layer))
        assert type(again) is type(layer) and again.get_config() == config
    assert all_layers[1].get_config()["kernel_size"] == (3, 2)
    assert all_layers[1].get_config()["strides"] == (2, 2)
    assert layers.deserialize({"class_name": "Convolution2D",
                               "config": {"filters": 2, "kernel_size": (3, 3)}}).filters == 2


def test_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"conv2d_\d+: expected ndim=4, found ndim=3. Full "
                                         r"shape received: \(None, 8, 8\)"):
        Conv2D(2, 3)(Input(shape=(8, 8)))
    with pytest.raises(ValueError, match=r"conv2d_\d+.*\(None, 2, 8, 1\).*negative dimension"):
        Conv2D(2, 3)(Input(shape=(2, 8, 1)))
    with pytest.raises(ValueError, match=r"max_pooling2d_\d+.*\(None, 1, 5, 2\)"):
        MaxPooling2D()(Input(shape=(1, 5, 2)))
    with pytest.raises(ValueError, match="channel dimension of the inputs to `conv1d_"):
        Conv1D(2, 3)(Input(batch_shape=(None, 5, None)))
    with pytest.raises(ValueError, match="padding"):
        Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="data_format"):
        MaxPooling2D(data_format="channels_middle")
    with pytest.raises(ValueError, match="only \"valid\""):
        LocallyConnected2D(2, 2, padding="same")
    with pytest.raises(TypeError, match="kernel size"):
        Conv2D(4)
    layer = Conv2D(2, 3)
    layer(Input(shape=(5, 5, 3)))
    with pytest.raises(ValueError, match=r"expected shape \(None, None, None, 3\) but got "
                                         r"\(None, 5, 5, 4\)"):
        layer(Input(shape=(5, 5, 4)))
    x = K.placeholder((None, 5, 5, 2))
    with pytest.raises(ValueError, match=r"2 channels.*\(3, 3, 3, 4\)"):
        K.conv2d(x, K.variable(np.zeros((3, 3, 3, 4))))


def test_small_cnn_trains_with_fit():
    rng = np.random.default_rng(0)
    n = 64
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 8, 8, 1)).astype("float32")
    x[y == 1, 2:6, 3:5, 0] += 1.0    # a vertical bar marks class 1
    x[y == 0, 3:5, 2:6, 0] += 1.0    # a horizontal bar marks class 0
    targets = np.eye(2, dtype="float32")[y]
    model = Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)),
                        MaxPooling2D((2, 2)), Flatten(), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1, momentum=0.9),
                  metrics=["accuracy"])
    hist = model.fit(x, targets, batch_size=16, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert hist.history["acc"][-1] > 0.9 if "acc" in hist.history else True
    assert model.layers[0].output_shape == (None, 6, 6, 4)
    assert model.layers[1].output_shape == (None, 3, 3, 4)
    # functional API, channels first, predict
    inp = Input(shape=(1, 8, 8))
    out = Dense(2)(Flatten()(MaxPooling2D(data_format="channels_first")(
        Conv2D(3, 3, padding="same", data_format="channels_first")(inp))))
    assert Model(inp, out).predict(first(x[:3])).shape == (3, 2)
