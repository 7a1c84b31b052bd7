"""``im2col`` / ``col2im`` inside fused kernels (behind reshapes, pads and elementwise consumers,
symbolic batch), and the lowering's reshape index mapping, against the numpy interpreter."""
import numpy as np
import pytest

import ir
from ir import builder as b
from runtime import compile_function

from codegen.lower import Index, _reshape_groups

CASES = [  # spatial, channels, kernel, strides, dilation
    ((9,), 3, (3,), (2,), (1,)),
    ((8, 7), 2, (3, 2), (1, 1), (2, 1)),
    ((7, 9), 1, (2, 3), (2, 3), (1, 1)),
    ((5, 4, 6), 2, (2, 2, 3), (1, 2, 1), (1, 1, 2)),
]


def _both(phs, outs, args):
    compiled = compile_function(phs, outs)([*args])
    ref = compile_function(phs, outs, device="interpreter")([*args])
    for c, r in zip(compiled, ref):
        np.testing.assert_allclose(c, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spatial, cin, kernel, strides, dilation", CASES)
def test_im2col_and_col2im_fused(spatial, cin, kernel, strides, dilation):
    """Forward: pad -> im2col -> reshape to rows (the matmul operand); backward: rows ->
    reshape -> col2im -> slice -> mask (the input gradient times an activation's mask)."""
    rng = np.random.default_rng(len(spatial) + cin)
    x = b.placeholder(("N",) + spatial + (cin,), "float64", "x")
    xp = ir.apply("pad", [x], before=(0,) + (1,) * len(spatial) + (0,),
                  steps=(1,) * (len(spatial) + 2),
                  shape=("N",) + tuple(s + 2 for s in spatial) + (cin,))
    att = dict(kernel=kernel, strides=strides, dilation=dilation)
    cols = ir.apply("im2col", [xp], **att)
    rows = b.reshape(cols, ("N", int(np.prod(cols.shape[1:-1])), cols.shape[-1]))
    g = b.placeholder(rows.shape, "float64", "g")
    back = ir.apply("col2im", [b.reshape(g, cols.shape)], spatial=xp.shape[1:-1], **att)
    inner = b.slice_axes(back, [slice(None)] + [slice(1, 1 + s) for s in spatial] + [slice(None)])
    masked = b.where(b.greater(x, 0.0), inner, b.mul(inner, 0.5))
    xv = rng.standard_normal((3,) + spatial + (cin,))
    gv = rng.standard_normal((3,) + tuple(rows.shape[1:]))
    _both([x, g], [rows, masked], [xv, gv])


def test_reshape_groups():
    assert _reshape_groups(("N", 676, 32), ("N", 26, 26, 32)) == [([0], [0]), ([1], [1, 2]),
                                                                   ([2], [3])]
    assert _reshape_groups((6, 4), (4, 6)) == [([0, 1], [0, 1])]
    assert _reshape_groups(("N", 4), (4, "N")) is None
    assert _reshape_groups((2, 3, 1), (6,)) == [([0, 1, 2], [0])]


def test_index_split_drops_div_mod_of_an_in_range_variable():
    from codegen import lower
    from codegen.kernel import Const, Var
    c = Var("c9", "int64")
    lower._EXTENTS.clear()
    lower._EXTENTS["c9"] = 32
    multi = Index((3, 3, 32), flat=Const(4 * 32, "int64") + c).multi
    assert multi == [Const(1, "int64"), Const(1, "int64"), c]
    lower._EXTENTS.clear()


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pool_gradient_goes_to_the_first_maximal_tap(padding):
    """Ties (a window of relu zeros, repeated values) route the gradient to the first maximal
    tap in row-major window order, as TensorFlow's max pooling does; compiled and interpreted."""
    from graphnn import backend as K
    x = np.array([[0, 0, 1, 1, 2], [0, 0, 1, 0, 2], [3, 3, 5, 5, 1], [3, 3, 5, 0, 0]],
                 dtype=np.float64).reshape(1, 4, 5, 1)
    xp = K.placeholder((None, 4, 5, 1), dtype="float64")
    y = K.pool2d(xp, (2, 2), strides=(2, 2), padding=padding, data_format="channels_last")
    r = np.arange(1.0, 1.0 + int(np.prod(K.int_shape(y)[1:]))).reshape((1,) + K.int_shape(y)[1:])
    (gx,) = K.gradients(K.sum(y * K.constant(r, dtype="float64")), [xp])
    want = np.zeros_like(x)
    pad = np.full((1, 4, 6, 1), -np.inf)
    pad[:, :, :5] = x
    src = x if padding == "valid" else pad
    for i in range(r.shape[1]):
        for j in range(r.shape[2]):
            win = src[0, 2 * i:2 * i + 2, 2 * j:2 * j + 2, 0].ravel()
            k = int(np.argmax(win))
            want[0, 2 * i + k // 2, 2 * j + k % 2, 0] += r[0, i, j, 0]
    got = K.function([xp], [gx])([x])[0]
    np.testing.assert_array_equal(got, want)
