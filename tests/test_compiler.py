"""The compiler pipeline: symbolic batch, passes, fusion, memory planning, cache and logging."""
import glob
import os

import numpy as np
import pytest

from ir import builder as b
from ir.graph import Graph
from ir.passes import PIPELINE, run_pipeline
from ir.passes.fusion import kernel_count
from ir.tensor import apply, origin_scope
from runtime import compile_function, variables
from runtime.function import STATS


def _var(value, name="v"):
    value = np.asarray(value, np.float32)
    uid = variables.new_buffer(value, "float32")
    return apply("variable", [], uid=uid, name=name, shape=value.shape, dtype="float32")


def _mlp(rng):
    x = b.placeholder(("N", 6), "float32", "x")
    w1, w2 = _var(rng.standard_normal((6, 5)), "w1"), _var(rng.standard_normal((5, 3)), "w2")
    with origin_scope("dense_1"):
        h = b.tanh(b.matmul(x, w1) + 0.5)
    with origin_scope("dense_2"):
        z = b.matmul(h, w2)
    return x, z


def test_one_compilation_serves_every_batch_size(rng, capfd, monkeypatch):
    monkeypatch.setenv("GRAPHNN_DEBUG", "1")
    x, z = _mlp(rng)
    f = compile_function([x], [z], name="mlp_batch")
    ref = compile_function([x], [z], device="interpreter")
    capfd.readouterr()
    for n in (32, 7, 1, 0):
        X = rng.standard_normal((n, 6)).astype(np.float32)
        np.testing.assert_allclose(f([X])[0], ref([X])[0], rtol=1e-5, atol=1e-5)
    err = capfd.readouterr().err
    assert err.count("graphnn: compiled") == 1, err
    assert "'mlp_batch'" in err and "kernels" in err


def test_each_call_is_one_foreign_call(rng):
    x, z = _mlp(rng)
    f = compile_function([x], [z])
    X = rng.standard_normal((4, 6)).astype(np.float32)
    f([X])
    before = STATS["foreign_calls"]
    for _ in range(5):
        f([X])
    assert STATS["foreign_calls"] - before == 5


def test_wrong_input_shape_is_a_clear_error(rng):
    x, z = _mlp(rng)
    f = compile_function([x], [z])
    with pytest.raises(ValueError, match=r"expected shape \(None, 6\) but got array with shape \(3, 5\)"):
        f([np.zeros((3, 5), np.float32)])


def _graph(outputs, inputs):
    g, _ = Graph.build(inputs, outputs)
    return g


def test_passes_can_be_skipped_by_name_and_unknown_names_fail():
    x = b.placeholder((4,), "float32", "x")
    y = b.exp(x) + b.exp(x)
    g = _graph([y], [x])
    full = run_pipeline(g)
    no_cse = run_pipeline(g, skip={"cse"})
    count = lambda gr, op: sum(gr.op(n) == op for n in gr.nodes())  # noqa: E731
    assert count(full, "exp") == 1 and count(no_cse, "exp") == 2
    with pytest.raises(ValueError, match="unknown pass"):
        run_pipeline(g, skip={"nonsense"})
    assert PIPELINE[0] == "verify" and {"cse", "dce", "fold", "simplify", "stabilize", "fusion",
                                         "memory"} <= set(PIPELINE)


def test_dump_sees_every_pass():
    x = b.placeholder((4,), "float32", "x")
    seen = []
    run_pipeline(_graph([b.exp(x)], [x]), dump=lambda name, g: seen.append(name))
    assert seen == PIPELINE


def test_fold_simplify_and_dce():
    x = b.placeholder(("N", 3), "float32", "x")
    c = b.constant(np.float32(2.0)) * b.constant(np.float32(0.5))      # folds to 1
    dead = b.log(x)                                                     # noqa: F841
    y = b.mul(x, b.broadcast_to(b.reshape(c, (1, 1)), ("N", 3))) + 0.0  # simplifies to x
    g = run_pipeline(_graph([b.tanh(y)], [x]))
    ops = sorted(g.op(n) for n in g.nodes())
    assert ops == ["placeholder", "tanh"], ops


def test_stable_log_softmax_rewrite():
    x = b.placeholder(("N", 3), "float32", "x")
    e = b.exp(x - b.max(x, axis=-1, keepdims=True))   # softmax as the backend builds it
    y = b.log(e / b.sum(e, axis=-1, keepdims=True))
    f = compile_function([x], [y])
    out = f([np.array([[1000.0, 0.0, -1000.0]], np.float32)])[0]
    # naive: exp(-1000) underflows to 0 and log(0) = -inf; rewritten: (x - m) - log(sum(...))
    np.testing.assert_allclose(out, [[0.0, -1000.0, -2000.0]], rtol=1e-6)
    xs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    ref = xs - np.log(np.exp(xs).sum(-1, keepdims=True))
    np.testing.assert_allclose(f([xs])[0], ref, rtol=1e-5, atol=1e-6)


def test_log_sigmoid_rewrite_is_finite():
    x = b.placeholder((3,), "float32", "x")
    f = compile_function([x], [b.log(b.sigmoid(x))])
    out = f([np.array([-200.0, 0.0, 200.0], np.float32)])[0]
    np.testing.assert_allclose(out, [-200.0, np.log(0.5), 0.0], rtol=1e-6, atol=1e-6)


def test_elementwise_chains_fuse_into_one_kernel_and_into_reductions():
    x = b.placeholder(("N", 7), "float32", "x")
    chain = b.tanh(b.exp(x) * 2.0 + 1.0)
    g = run_pipeline(_graph([chain], [x]))
    assert kernel_count(g) == 1
    red = b.sum(b.sigmoid(x) * x, axis=-1)
    g = run_pipeline(_graph([red], [x]))
    assert kernel_count(g) == 1


def test_intermediate_buffers_are_reused(rng):
    x = b.placeholder(("N", 8), "float32", "x")
    w = _var(rng.standard_normal((8, 8)))
    h = x
    for _ in range(6):
        h = b.tanh(b.matmul(h, w))
    g = run_pipeline(_graph([b.sum(h)], [x]))
    temps = [s for s in g.plan.slots if s.kind == "temp"]
    assert kernel_count(g) >= 7 and len(temps) <= 3


@pytest.mark.parametrize("n_in,n_out,batch", [(4, 2, 9), (3, 20, 5), (40, 37, 1000)])
def test_updates_in_place_match_the_interpreter(rng, n_in, n_out, batch):
    """Weights updated in place; the momentum, written by the weight gradient's GEMM epilogue,
    through a temporary (faster than the GEMM's scratch-accumulating in-place mode); small-m
    path: 3 rows; several K blocks and threads: K = 1000."""
    x = b.placeholder(("N", n_in), "float32", "x")
    w0 = rng.standard_normal((n_in, n_out)).astype(np.float32)
    w, m = _var(w0, "w"), _var(np.zeros((n_in, n_out)), "m")
    wr, mr = _var(w0, "w"), _var(np.zeros((n_in, n_out)), "m")
    from ir.autodiff import grad

    def step(w, m):
        loss = b.mean(b.square(b.matmul(x, w)))
        (gw,) = grad(loss, [w])
        new_m = m * 0.9 - gw * 0.1
        return loss, [(m, new_m), (w, w + new_m)]
    lc, uc = step(w, m)
    li, ui = step(wr, mr)
    fc = compile_function([x], [lc], uc)
    fi = compile_function([x], [li], ui, device="interpreter")
    X = rng.standard_normal((batch, n_in)).astype(np.float32)
    for _ in range(3):
        a, c = fc([X])[0], fi([X])[0]
        np.testing.assert_allclose(a, c, rtol=1e-4)
    for got, want in ((w, wr), (m, mr)):
        np.testing.assert_allclose(variables.buffer(got.attrs["uid"]),
                                   variables.buffer(want.attrs["uid"]), rtol=1e-4, atol=1e-5)
    g = fc._program.planned
    inplace = [val for var, val in g.updates if g.plan.slot_of.get(val) == g.plan.slot_of[var]]
    assert len(inplace) == 1, "the weight update should write the variable in place"
    assert len(g.plan.copies) == 1


def test_random_bits_match_the_reference_and_change_with_the_key():
    key = b.placeholder((), "uint32", "key")
    u = b.random_uniform(key, ("N",), seed=42)
    x = b.placeholder(("N",), "float32", "x")
    f = compile_function([x, key], [u + x * 0.0])
    fi = compile_function([x, key], [u + x * 0.0], device="interpreter")
    z = np.zeros(1000, np.float32)
    a, bb = f([z, np.uint32(1)])[0], f([z, np.uint32(2)])[0]
    np.testing.assert_array_equal(a, fi([z, np.uint32(1)])[0])
    assert not np.array_equal(a, bb)
    assert 0.45 < a.mean() < 0.55 and a.min() >= 0 and a.max() < 1


def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNN_CACHE_DIR", str(tmp_path))
    x = b.placeholder((3,), "float32", "x")
    y = b.exp(x) * 3.0
    compile_function([x], [y])([np.ones(3, np.float32)])
    (entry,) = glob.glob(str(tmp_path / "*.so"))
    # another process left a truncated file (a new file: the loaded library stays mapped)
    with open(entry + ".tmp", "wb") as fh:
        fh.write(b"\x7fELF garbage")
    os.replace(entry + ".tmp", entry)
    out = compile_function([x], [y])([np.ones(3, np.float32)])[0]
    np.testing.assert_allclose(out, np.exp(1) * 3, rtol=1e-6)
    assert os.path.getsize(entry) > 100


def test_debug_level_3_prints_llvm_ir_naming_layers(rng, capfd, monkeypatch):
    monkeypatch.setenv("GRAPHNN_DEBUG", "3")
    x, z = _mlp(rng)
    compile_function([x], [z], name="shown")([np.zeros((2, 6), np.float32)])
    err = capfd.readouterr().err
    assert "define" in err and "dense_1" in err and "after fusion" in err


def test_printer_and_dot_show_kernels_and_layers(rng):
    from ir.printer import format_graph, to_dot
    x, z = _mlp(rng)
    g = run_pipeline(_graph([z], [x]))
    text = format_graph(g)
    assert "matmul" in text and "dense_1" in text and "[root]" in text
    dot = to_dot(g)
    assert dot.startswith("digraph") and "cluster_" in dot and "dense_2" in dot


def test_choosing_cuda_without_support_is_a_clear_error(rng):
    x, z = _mlp(rng)
    f = compile_function([x], [z], device="cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        f([np.zeros((1, 6), np.float32)])


def test_lowering_failure_names_the_node_and_layer(monkeypatch, rng):
    from codegen import lower
    from codegen.errors import CompileError

    def broken(kb, slot):
        raise NotImplementedError("no kernel for this")
    monkeypatch.setitem(lower.LOWERINGS, "contraction", broken)
    x, z = _mlp(rng)
    with pytest.raises(CompileError, match=r"dense_1.*matmul"):
        compile_function([x], [z])([np.zeros((1, 6), np.float32)])


@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_matmul_absorbs_its_elementwise_epilogue(rng, ta, tb):
    x = b.placeholder(("N", 5), "float32", "x")
    w = _var(rng.standard_normal((3, 5) if tb else (5, 3)), "w")
    bias = _var(rng.standard_normal((3,)), "bias")
    a = b.transpose(x) if ta else x   # stored (k, m) when transpose_a
    y = b.maximum(b.matmul(a, w, transpose_a=ta, transpose_b=tb) + bias, 0.0) * 2.0
    g = run_pipeline(_graph([y], [x]))
    (root,) = [r for r in g.kernel_members if r in g.kernel_contraction]
    assert {"matmul", "add", "maximum", "mul"} <= {g.op(m) for m in g.kernel_members[root]}
    f = compile_function([x], [y])
    fi = compile_function([x], [y], device="interpreter")
    X = rng.standard_normal((7, 5)).astype(np.float32)
    np.testing.assert_allclose(f([X])[0], fi([X])[0], rtol=1e-5, atol=1e-5)


def test_concat_kernels_store_part_by_part(rng):
    """A kernel whose output is a concatenation (possibly reshaped: im2col) stores each part in
    its own loop nest (no select chain over the parts), along any axis, with free dimensions."""
    from codegen.kernel import For
    from codegen.lower import lower_graph
    from runtime.program import optimize
    x = b.placeholder(("N", 5, 4, 3), "float32", "x")
    taps = [b.slice_axes(x, [slice(None), slice(i, i + 3, 2), slice(j, j + 3), slice(None)])
            for i in range(2) for j in range(2)]
    patches = b.reshape(b.concat(taps, axis=-1), ("N", 6, 12))
    every = slice(None)
    along0 = b.concat([b.slice_axes(x, [every, slice(1, 3), every, every]), x], axis=1)
    mid = b.concat([b.exp(x), b.slice_axes(x, [every, every, slice(0, 2), every])], axis=2)
    xv = rng.standard_normal((3, 5, 4, 3)).astype("float32")
    outs = compile_function([x], [patches, along0, mid])([xv])
    want = np.concatenate([xv[:, i:i + 3:2, j:j + 3] for i in range(2) for j in range(2)], -1)
    np.testing.assert_array_equal(outs[0], want.reshape(3, 6, 12))
    np.testing.assert_array_equal(outs[1], np.concatenate([xv[:, 1:3], xv], 1))
    np.testing.assert_allclose(outs[2], np.concatenate([np.exp(xv), xv[:, :, :2]], 2), rtol=1e-6)
    g, _ = Graph.build([x], [patches])
    (kernel,) = lower_graph(optimize(g)).kernels
    assert len(kernel.body) == 1 and isinstance(kernel.body[0], For)
    assert kernel.body[0].kind == "parallel" and len(kernel.body[0].body) == 4


def test_profile_times_every_launch_and_leaves_variables_alone(rng):
    x = b.placeholder(("N", 6), "float32", "x")
    w = _var(rng.standard_normal((6, 3)).astype(np.float32), "w")
    y = b.matmul(x, w)
    loss = b.mean(b.square(y))
    from ir.autodiff import grad
    (gw,) = grad(loss, [w])
    f = compile_function([x], [loss, b.exp(y)], [(w, w - gw * 0.1)])
    X = rng.standard_normal((5, 6)).astype(np.float32)
    f([X])
    before = variables.buffer(w.attrs["uid"]).copy()
    prog = f._program
    records = prog.profile([X], repeats=3, warmup=1)
    assert [r["kernel"] for r in records] == [launch.kernel for launch in prog.desc.launches]
    assert all(r["seconds"] >= 0 and np.isfinite(r["seconds"]) for r in records)
    mm = [r for r in records if "matmul" in r["origin"]]
    # x @ w alone; w - 0.1 * (x^T @ g): the product's 2*m*n*k plus one FLOP per element each
    assert sorted(r["flops"] for r in mm) == [2 * 5 * 6 * 3, 2 * 5 * 6 * 3 + 2 * 6 * 3]
    assert all(r["bytes"] > 0 for r in records if r["bytes"] is not None)
    np.testing.assert_array_equal(variables.buffer(w.attrs["uid"]), before)
