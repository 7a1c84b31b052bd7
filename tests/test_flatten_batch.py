"""The ``flatten_batch`` pass: a matmul with a weight broadcast over the batch, and the batch sum
of per-sample products (its weight gradient), each become ONE large Gemm (``matmul_flat``)."""
import numpy as np
import pytest

from codegen.kernel import Call, Const, Gemm, Var
from codegen.mathlib import walk_stmts
from ir import builder as b
from ir.graph import Graph
from runtime import compile_function


def _gemms(desc):
    return [s for k in desc.kernels for s in walk_stmts(k.body) if isinstance(s, Gemm)]


def _desc(fn):
    return fn._program.desc


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


def _broadcast_weight(w, batch):
    """The weight as ``K.dot`` of a 3-d input broadcasts it: ``(1, K, U) -> (N, K, U)``."""
    shape = tuple(w.shape)
    return b.broadcast_to(b.reshape(w, (1,) + shape), (batch,) + shape)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tb", [False, True])
def test_broadcast_weight_product_is_one_gemm_with_epilogue(rng, dtype, tb):
    m, k, u = 7, 13, 5
    x = b.placeholder(("N", m, k), dtype, "x")
    w = b.placeholder((u, k) if tb else (k, u), dtype, "w")
    bias = b.placeholder((u,), dtype, "bias")
    y = b.maximum(b.matmul(x, _broadcast_weight(w, "N"), transpose_b=tb) + bias, 0.0)
    f = compile_function([x, w, bias], [y])
    X = rng.standard_normal((3, m, k)).astype(dtype)
    W = rng.standard_normal((u, k) if tb else (k, u)).astype(dtype)
    B = rng.standard_normal(u).astype(dtype)
    want = np.maximum(X @ (W.T if tb else W) + B, 0)
    np.testing.assert_allclose(f([X, W, B])[0], want, **_tol(dtype))
    desc = _desc(f)
    assert len(desc.kernels) == 1, "the broadcast weight must not get a kernel of its own"
    (s,) = _gemms(desc)
    assert s.batch == Const(1, "int64") and s.epilogue is not None and s.transpose_b == tb
    assert s.m == Call("mul", (Var("N", "int64"), Const(m, "int64")), "int64")
    assert s.k == Const(k, "int64") and s.n == Const(u, "int64")
    for n in (1, 0):  # other batch sizes, the same program
        X = rng.standard_normal((n, m, k)).astype(dtype)
        np.testing.assert_allclose(f([X, W, B])[0], np.maximum(X @ (W.T if tb else W) + B, 0),
                                   **_tol(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_sum_of_products_is_one_gemm_over_batch_and_rows(rng, dtype):
    m, k, u = 9, 12, 7
    a = b.placeholder(("N", m, k), dtype, "a")
    g = b.placeholder(("N", m, u), dtype, "g")
    v = b.placeholder((3, 4, u), dtype, "v")
    # the weight gradient, viewed as the kernel's shape and scaled into an update (SGD-like)
    dw = b.sum(b.matmul(a, g, transpose_a=True), axis=0)
    upd = v - b.reshape(dw, (3, 4, u)) * 0.25
    f = compile_function([a, g, v], [upd])
    A = rng.standard_normal((5, m, k)).astype(dtype)
    G = rng.standard_normal((5, m, u)).astype(dtype)
    V = rng.standard_normal((3, 4, u)).astype(dtype)
    want = V - np.einsum("bmk,bmu->ku", A, G).reshape(3, 4, u) * 0.25
    np.testing.assert_allclose(f([A, G, V])[0], want, **_tol(dtype))
    desc = _desc(f)
    assert len(desc.kernels) == 1, "no batched temporary, no separate reduction"
    (s,) = _gemms(desc)
    assert s.batch == Const(1, "int64") and s.transpose_a and not s.transpose_b
    assert s.k == Call("mul", (Var("N", "int64"), Const(m, "int64")), "int64")
    assert (s.m, s.n) == (Const(k, "int64"), Const(u, "int64"))
    A0, G0 = np.zeros((0, m, k), dtype), np.zeros((0, m, u), dtype)
    np.testing.assert_allclose(f([A0, G0, V])[0], V, **_tol(dtype))   # k = 0: the epilogue alone


def test_pass_leaves_unfoldable_products_batched(rng):
    """transpose_a with a broadcast weight (rows not contiguous with the batch), and a sum over
    rows only, stay batched matmuls -- and still compute the right values."""
    x = b.placeholder(("N", 6, 4), "float32", "x")
    w = b.placeholder((6, 3), "float32", "w")
    g = b.placeholder(("N", 6, 3), "float32", "g")
    y1 = b.matmul(x, _broadcast_weight(w, "N"), transpose_a=True)
    y2 = b.sum(b.matmul(x, g, transpose_a=True), axis=1)
    g_ir, _ = Graph.build([x, w, g], [y1, y2])
    from runtime.program import optimize
    ops = [optimize(g_ir).op(n) for n in optimize(g_ir).nodes()]
    assert "matmul_flat" not in ops and ops.count("matmul") == 2
    X = rng.standard_normal((2, 6, 4)).astype("float32")
    W = rng.standard_normal((6, 3)).astype("float32")
    G = rng.standard_normal((2, 6, 3)).astype("float32")
    o1, o2 = compile_function([x, w, g], [y1, y2])([X, W, G])
    np.testing.assert_allclose(o1, np.swapaxes(X, 1, 2) @ W, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o2, (np.swapaxes(X, 1, 2) @ G).sum(1), rtol=1e-5, atol=1e-5)


def _train_desc(model, x, y):
    model.train_on_batch(x, y)
    fn = model.train_function._fn
    return fn._program.desc, fn._program.planned


@pytest.mark.parametrize("kind", ["conv", "dense3d"])
def test_train_step_has_no_broadcast_weight_or_batch_sum_kernel(rng, kind):
    from graphnn.layers import Conv2D, Dense, Flatten
    from graphnn.models import Sequential
    if kind == "conv":
        layers = [Conv2D(4, (3, 3), activation="relu", input_shape=(7, 6, 2)),
                  Conv2D(3, (2, 2), activation="relu"), Flatten(), Dense(3, activation="softmax")]
        x = rng.standard_normal((5, 7, 6, 2)).astype("float32")
    else:
        layers = [Dense(6, activation="tanh", input_shape=(4, 5)), Dense(3), Flatten(),
                  Dense(3, activation="softmax")]
        x = rng.standard_normal((5, 4, 5)).astype("float32")
    model = Sequential(layers)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    y = rng.integers(0, 3, 5).astype("int32")
    desc, planned = _train_desc(model, x, y)
    ops = {planned.op(n) for n in planned.nodes()}
    # no kernel materializes a weight broadcast over the batch (a loss term may broadcast (N,))
    assert not [r for r in planned.plan.schedule
                if planned.op(r) == "broadcast" and planned.type(r).ndim > 2]
    # ... nor copies a weight into a 2-d view: the Gemm reads a (kh, kw, in, out) kernel as it is
    assert not [r for r in planned.plan.schedule if planned.op(r) == "reshape"
                and planned.op(planned.args(r)[0]) == "variable"]
    assert "matmul" in ops  # the last Dense: a plain 2-d product
    flat = [n for n in planned.nodes() if planned.op(n) == "matmul_flat"]
    # per 3-d layer: forward, weight gradient, and (except the first) the input gradient
    assert len(flat) == 5
    batched = [n for n in planned.nodes() if planned.op(n) == "matmul" and planned.type(n).ndim > 2]
    assert not batched
    assert all(s.batch == Const(1, "int64") for s in _gemms(desc))
    # the weight gradients' batch sums are gone: the only sums left are bias gradients and loss
    for n in planned.nodes():
        if planned.op(n) == "sum":
            assert planned.op(planned.args(n)[0]) != "matmul"


def test_cuda_renders_folded_products_with_a_free_batch():
    """The folded Gemms (rows or contraction ``N * M``, epilogue through a reshape) compile
    with nvcc."""
    from codegen import cuda_backend
    from codegen.lower import lower_graph
    from runtime.program import optimize
    if not cuda_backend.nvcc_available():
        pytest.skip("nvcc not on PATH")
    x = b.placeholder(("N", 7, 6), "float32", "x")
    w = b.placeholder((6, 4), "float32", "w")
    bias = b.placeholder((4,), "float32", "bias")
    y = b.tanh(b.matmul(x, _broadcast_weight(w, "N")) + bias)
    dw = b.reshape(b.sum(b.matmul(x, y, transpose_a=True), axis=0), (2, 3, 4)) * 0.5
    g, _ = Graph.build([x, w, bias], [y, dw], name="folded")
    desc = lower_graph(optimize(g), name="folded")
    assert len(_gemms(desc)) == 2
    ptx = cuda_backend.compile_ptx(cuda_backend.render_module(desc))
    for k in desc.kernels:
        assert f".entry {k.name}(" in ptx, k.name
