"""Separate compilation (``codegen/llvm_modules.py``, ``runtime/compiler.py``): units, their
object cache, the library cache keyed by descriptions, and parallel compilation."""
import ctypes
import os

import numpy as np
import pytest

from codegen import llvm_backend, llvm_modules, threads
from codegen.kernel import (GEMM_ACC, GEMM_COL, Assign, Const, For, Gemm, Kernel, Launch, Load,
                            Param, ProgramDesc, Store, Var, call)
from runtime import compiler

I, J, N = Var("i", "int64"), Var("j", "int64"), Var("n", "int64")
F = "float32"


def _ew(name, fn, kind="parallel"):
    """out[i] = fn(a[i], b[i]) for i < n."""
    body = [For(I, Const(0, "int64"), N, [Store("out", I, fn(Load("a", I, F), Load("b", I, F)))],
                kind)]
    return Kernel(name, [Param("a", F), Param("b", F), Param("out", F, "out")], body, ["n"])


def _gemm(name, m=37, n=29, k=41):
    """c = relu(a @ b + bias[col])."""
    epi = call("maximum", call("add", Var(GEMM_ACC, F), Load("bias", Var(GEMM_COL, "int64"), F)),
               Const(0.0, F))
    g = Gemm("a", "b", "c", Const(m, "int64"), Const(n, "int64"), Const(k, "int64"),
             Const(1, "int64"), False, False, F, epi)
    return Kernel(name, [Param("a", F), Param("b", F), Param("c", F, "out"), Param("bias", F)],
                  [g])


def _program():
    """tanh(a*b) -> t; t + a -> out; a GEMM; a reduction (slots: a b t out ga gb gc bias s)."""
    k1 = _ew("k_mul", lambda a, b: call("tanh", call("mul", a, b)))
    k2 = _ew("k_add", lambda a, b: call("add", a, b))
    acc = Var("acc", F)
    red = Kernel("k_sum", [Param("t", F), Param("s", F, "out")], [
        Assign(acc, Const(0.0, F)),
        For(J, Const(0, "int64"), N, [Assign(acc, call("add", acc, Load("t", J, F)))],
            "reduction"),
        Store("s", Const(0, "int64"), acc)], ["n"])
    kernels = [k1, k2, _gemm("k_gemm"), red]
    launches = [Launch("k_mul", (0, 1, 2)), Launch("k_add", (2, 0, 3)),
                Launch("k_gemm", (4, 5, 6, 7)), Launch("k_sum", (2, 8))]
    return ProgramDesc(kernels, launches, ["n"], 9)


def _inputs(rng, n=1000):
    a = rng.standard_normal(n).astype(F)
    b = rng.standard_normal(n).astype(F)
    ga = rng.standard_normal((37, 41)).astype(F)
    gb = rng.standard_normal((41, 29)).astype(F)
    bias = rng.standard_normal(29).astype(F)
    bufs = [a, b, np.zeros(n, F), np.zeros(n, F), ga, gb, np.zeros((37, 29), F), bias,
            np.zeros(1, F)]
    return bufs


def _run(path, desc, bufs, n):
    lib = ctypes.CDLL(path)
    entry = lib[desc.entry]
    entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    bufs = [x.copy() for x in bufs]
    slots = (ctypes.c_void_p * len(bufs))(*[x.ctypes.data for x in bufs])
    syms = (ctypes.c_int64 * 1)(n)
    entry(slots, syms)
    return bufs, lib


def test_units_compute_what_the_whole_module_computes(tmp_path, rng):
    desc = _program()
    bufs = _inputs(rng)
    whole = str(tmp_path / "whole.so")
    llvm_backend.link_shared(llvm_backend.compile_module(llvm_backend.render_module(desc)), whole)
    split = str(tmp_path / "split.so")
    units = compiler.build_library(desc, split)
    kinds = [u.kind for u in units.units]
    assert kinds.count("kernel") == 4 and "helper" in kinds
    assert kinds[-2:] == ["runtime", "entry"]
    want, _ = _run(whole, desc, bufs, 1000)
    got, lib = _run(split, desc, bufs, 1000)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(w, g)
    t = np.tanh(bufs[0] * bufs[1])
    np.testing.assert_allclose(got[3], t + bufs[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[6], np.maximum(bufs[4] @ bufs[5] + bufs[7], 0), rtol=1e-4,
                               atol=1e-4)
    # one thread runtime per library: the kernels read the count graphnn_set_num_threads sets
    lib.graphnn_set_num_threads(1)
    assert lib.graphnn_get_num_threads() == 1
    lib.graphnn_set_num_threads(0)


def test_a_kernel_unit_does_not_depend_on_its_program():
    """Same kernel alone or among others: same text, so one cached object serves both."""
    desc = _program()
    units = llvm_modules.render_units(desc)
    helpers = {u.symbol: u.text for u in units.units if u.kind == "helper"}
    for k, launch in zip(desc.kernels, desc.launches):
        alone = llvm_modules.render_units(ProgramDesc([k], [launch], ["n"], 9))
        (unit,) = [u for u in alone.units if u.kind == "kernel"]
        assert unit.symbol == units.symbols[k.name]
        for u in alone.units:
            if u.kind == "helper":
                assert helpers[u.symbol] == u.text
    # renamed, same code: same unit
    renamed = _ew("other_name", lambda a, b: call("add", a, b))
    alone = llvm_modules.render_units(ProgramDesc([renamed], [Launch("other_name", (2, 0, 3))],
                                                  ["n"], 9))
    assert alone.symbols["other_name"] == units.symbols["k_add"]


def test_identical_kernels_compile_once():
    k1 = _ew("first", lambda a, b: call("add", a, b))
    k2 = _ew("second", lambda a, b: call("add", a, b))
    desc = ProgramDesc([k1, k2], [Launch("first", (0, 1, 2)), Launch("second", (2, 1, 0))],
                       ["n"], 3)
    units = llvm_modules.render_units(desc)
    kernel_units = [u for u in units.units if u.kind == "kernel"]
    assert len(kernel_units) == 1 and kernel_units[0].kernels == ["first", "second"]


def test_state_and_helpers_are_hidden_and_defined_once(tmp_path):
    desc = _program()
    path = str(tmp_path / "lib.so")
    compiler.build_library(desc, path)
    import subprocess
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("no nm")
    exported = {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    assert {"graphnn_entry", "graphnn_set_num_threads", "graphnn_get_num_threads"} <= exported
    assert not any(s.startswith("graphnn_k_") or s.startswith("graphnn.") for s in exported)


def test_parallel_compilation_gives_the_objects_of_serial_compilation():
    desc = _program()
    units = [u for u in llvm_modules.render_units(desc).units]
    serial = [compiler.compile_text(u.text, compiler.PIPELINES[u.kind]) for u in units]
    pool = compiler._executor()
    for _ in range(2):
        futures = [pool.submit(compiler.compile_text, u.text, compiler.PIPELINES[u.kind])
                   for u in units * 3]
        objs = [f.result() for f in futures]
        assert objs == serial * 3


def test_objects_are_reused_and_unchanged_kernels_are_not_rendered(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNN_CACHE_DIR", str(tmp_path))
    desc = _program()
    timings = {}
    compiler.build_library(desc, str(tmp_path / "a.so"), timings=timings)
    assert timings["objects_cached"] == 0 and timings["objects_compiled"] >= 7
    # another program with two of the kernels (renamed) and a new one
    k_add = _ew("add_again", lambda a, b: call("add", a, b))
    k_new = _ew("k_new", lambda a, b: call("sub", a, b))
    desc2 = ProgramDesc([k_add, _gemm("gemm_again"), k_new],
                        [Launch("add_again", (0, 1, 2)), Launch("gemm_again", (3, 4, 5, 6)),
                         Launch("k_new", (0, 1, 2))], ["n"], 7)
    rendered = []
    real = llvm_backend._KernelEmitter

    def counting(module, kernel, *args, **kwargs):
        if kwargs.get("name") == llvm_modules._PLACEHOLDER:
            rendered.append(kernel.name)
        return real(module, kernel, *args, **kwargs)
    monkeypatch.setattr(llvm_backend, "_KernelEmitter", counting)
    timings = {}
    units = compiler.build_library(desc2, str(tmp_path / "b.so"), timings=timings)
    assert rendered == ["k_new"]
    assert [u.cached for u in units.units if u.kind == "kernel"] == [True, True, False]
    assert timings["objects_compiled"] == 2          # k_new and the entry point


def test_library_key_changes_with_the_code_generator_not_with_imports(monkeypatch):
    desc = _program()
    key = compiler.library_key(desc)
    assert compiler.library_key(desc) == key
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", threads.PARALLEL_MIN_WORK + 1)
    assert compiler.library_key(desc) != key
    monkeypatch.undo()
    assert compiler.library_key(desc) == key
    renamed = ProgramDesc(desc.kernels, desc.launches, desc.symbols, desc.n_slots, "other_entry")
    assert compiler.library_key(renamed) != key


def test_warm_start_renders_nothing(tmp_path, monkeypatch, rng):
    """The second compilation of a graph finds the library by its description."""
    from ir import builder as b
    from runtime import compile_function
    monkeypatch.setenv("GRAPHNN_CACHE_DIR", str(tmp_path))
    x = b.placeholder(("N", 4), "float32", "x")
    y = b.tanh(x) * 2.0 + 1.0
    f = compile_function([x], [y], name="warm")
    X = rng.standard_normal((3, 4)).astype(np.float32)
    f([X])
    assert not f._program.cache_hit
    monkeypatch.setattr(llvm_modules, "iter_units",
                        lambda *a, **k: pytest.fail("rendered on a warm start"))
    g = compile_function([x], [y], name="warm")
    np.testing.assert_allclose(g([X])[0], np.tanh(X) * 2 + 1, rtol=1e-5, atol=1e-6)
    assert g._program.cache_hit
    assert set(g._program.compile_timings) >= {"passes", "lowering", "key", "load", "total"}


def test_a_damaged_object_is_compiled_again(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("GRAPHNN_CACHE_DIR", str(tmp_path))
    desc = _program()
    compiler.build_library(desc, str(tmp_path / "a.so"))
    objs = sorted(p for p in os.listdir(tmp_path / "objects") if p.endswith(".o"))
    victim = tmp_path / "objects" / objs[0]
    victim.write_bytes(b"\x7fELF garbage")
    timings = {}
    compiler.build_library(desc, str(tmp_path / "b.so"), timings=timings)
    assert timings["objects_compiled"] >= 1
    got, _ = _run(str(tmp_path / "b.so"), desc, _inputs(rng), 1000)
    assert np.isfinite(got[3]).all()
