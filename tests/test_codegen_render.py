"""Renderers against numpy: hand-built kernels (no IR needed) are compiled with the LLVM backend and
run through ctypes exactly as the runtime will; the same kernels are printed as CUDA and compiled
with nvcc (and run through the CUDA driver when a GPU is present).

To keep the suite fast, the many small op/cast kernels are merged into one program and compiled
once per backend; each test then checks its own slots.
"""
from __future__ import annotations

import ctypes
import itertools
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Dict, List

import numpy as np
import pytest

from codegen import cuda_backend, llvm_backend
from codegen.errors import CompileError
from codegen.kernel import (DTYPES, PHILOX_M, PHILOX_ROUNDS, PHILOX_W, SCALAR_OPS, Assign, Const,
                            For, If, Kernel, Launch, Load, Param, ProgramDesc, Store, Var, call,
                            cast, result_dtype)

FLOATS = ["float32", "float64"]
INTS = ["int32", "int64", "uint32"]
FLOAT_ONLY = {"exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos"}
BOOL_OK = {"add", "mul", "maximum", "minimum", "equal", "not_equal", "less", "less_equal",
           "greater", "greater_equal", "logical_and", "logical_or", "logical_not", "where"}
TRANSCENDENTAL = FLOAT_ONLY | {"pow"}
NP = {d: np.dtype(d) for d in DTYPES}
I = Var("i", "int64")
ZERO = Const(0, "int64")
GPU_GRID, GPU_BLOCK = 3, 32  # fewer threads than most sizes below: exercises the grid stride


# ---------------------------------------------------------------------------------------------
# numpy references
def philox_np(c0, c1, key) -> np.ndarray:
    """Philox-2x32-10 first output word, vectorized in uint64 to get the high product word."""
    c0, c1, key = (np.asarray(a, np.uint64) for a in (c0, c1, key))
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(PHILOX_ROUNDS):
        prod = c0 * np.uint64(PHILOX_M)
        c0, c1 = (prod >> np.uint64(32)) ^ key ^ c1, prod & mask
        key = (key + np.uint64(PHILOX_W)) & mask
    return c0.astype(np.uint32)


def philox_uniform_np(c0, c1, key) -> np.ndarray:
    return (philox_np(c0, c1, key) >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)


def c_div(a, b):
    """C division (truncates toward zero), which the backends use for integer ``div``."""
    if a.dtype.kind == "u":
        return a // b
    return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)


def _int_or(f):
    """Float op that is the identity on integers (floor)."""
    return lambda x: f(x) if x.dtype.kind == "f" else x


REFERENCE: Dict[str, Callable] = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
    "sigmoid": lambda x: x.dtype.type(1) / (x.dtype.type(1) + np.exp(-x)),
    "abs": np.abs, "sign": np.sign, "sin": np.sin, "cos": np.cos, "floor": _int_or(np.floor),
    "logical_not": np.logical_not,
    "add": np.add, "sub": np.subtract, "mul": np.multiply,
    "div": lambda a, b: np.true_divide(a, b) if a.dtype.kind == "f" else c_div(a, b),
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
    "floordiv": np.floor_divide, "mod": np.mod,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or,
    "where": np.where,
    "philox": philox_np, "philox_uniform": philox_uniform_np,
}


def test_philox_reference_known_answers():
    """The numpy reference matches Random123's published philox2x32-10 vectors (first word)."""
    got = philox_np([0, 0xFFFFFFFF, 0x243F6A88], [0, 0xFFFFFFFF, 0x85A308D3],
                    [0, 0xFFFFFFFF, 0x13198A2E])
    assert got.tolist() == [0xFF1DAE59, 0x2C3F628B, 0xDD7CE038]


# ---------------------------------------------------------------------------------------------
# test cases: a program, its slot arrays and symbol values, and the expected slot contents
@dataclass
class Case:
    name: str
    desc: ProgramDesc
    arrays: List[np.ndarray]
    symbols: Dict[str, int]
    expected: Dict[int, np.ndarray]
    rtol: float = 0.0
    atol: float = 0.0
    tags: tuple = ()

    def check(self, arrays: List[np.ndarray]) -> None:
        for slot, want in self.expected.items():
            got = arrays[slot]
            assert got.dtype == want.dtype, (self.name, got.dtype, want.dtype)
            if want.dtype.kind == "f":
                np.testing.assert_allclose(got, want, rtol=self.rtol, atol=self.atol,
                                           equal_nan=True, err_msg=self.name)
            else:
                np.testing.assert_array_equal(got, want, err_msg=self.name)


def map_case(name: str, inputs: List[np.ndarray], out_dtype: str, fn, expected: np.ndarray,
             **kw) -> Case:
    """``out[i] = fn(a0[i], a1[i], ...)`` over a symbol-sized vector loop."""
    n = Var(f"n_{name}", "int64")
    params = [Param(f"a{j}", str(a.dtype)) for j, a in enumerate(inputs)]
    loads = [Load(p.name, I, p.dtype) for p in params]
    k = Kernel(name, params + [Param("out", out_dtype, "out")],
               [For(I, ZERO, n, [Store("out", I, fn(*loads))], "vector")], [n.name],
               origin=f"test {name}")
    m = len(inputs)
    desc = ProgramDesc([k], [Launch(name, tuple(range(m + 1)))], [n.name], m + 1)
    out = np.zeros(len(inputs[0]), NP[out_dtype])
    return Case(name, desc, list(inputs) + [out], {n.name: len(out)}, {m: expected}, **kw)


FLOAT_VALUES = [-3.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.7, 50.0, math.nan, math.inf, -math.inf]
SAMPLES = {
    "float32": FLOAT_VALUES, "float64": FLOAT_VALUES,
    "int32": [-7, -3, -1, 0, 1, 2, 5, 100, 12345],
    "int64": [-7, -3, -1, 0, 1, 2, 5, 100, 3_000_000_000],
    "uint32": [0, 1, 2, 3, 7, 100, 2 ** 31, 4_000_000_000],
    "bool": [False, True],
}


def operand_samples(op: str, dtype: str) -> List[List]:
    """Per-argument sample values.  Integer floordiv/mod are index math with C semantics, so they
    get non-negative operands (and zero divisors: the result is 0 as in numpy)."""
    vals = SAMPLES[dtype]
    if dtype in INTS and op in ("floordiv", "mod"):
        return [[v for v in vals if v >= 0]] * 2
    if dtype in INTS and op == "pow":
        return [vals, [0, 1, 2, 3, 5]]
    if dtype in FLOATS and op in ("floordiv", "mod"):
        finite = [v for v in vals if math.isfinite(v)]  # Python-style x // inf is not floor(x/inf)
        return [finite, finite]
    return [vals] * SCALAR_OPS[op]


def op_dtypes(op: str) -> List[str]:
    if op in ("philox", "philox_uniform"):
        return ["uint32"]
    if op in FLOAT_ONLY:
        return FLOATS
    return FLOATS + INTS + (["bool"] if op in BOOL_OK else [])


def op_case(op: str, dtype: str) -> Case:
    if op in ("philox", "philox_uniform"):
        edge = [0, 1, 0x80000000, 0xFFFFFFFF]
        grid = np.array(list(itertools.product(edge, repeat=3)), np.uint32)
        rand = np.random.default_rng(0).integers(0, 2 ** 32, (64, 3), dtype=np.uint32)
        both = np.concatenate([grid, rand])
        cols = [both[:, j] for j in range(3)]
    elif op == "where":
        vals = SAMPLES[dtype]
        pairs = np.array(list(itertools.product(vals, vals)), dtype=NP[dtype])
        cond = np.arange(len(pairs)) % 3 == 1
        cols = [cond, pairs[:, 0], pairs[:, 1]]
    else:
        rows = list(itertools.product(*operand_samples(op, dtype)))
        cols = [np.array([r[j] for r in rows], dtype=NP[dtype]) for j in range(SCALAR_OPS[op])]
    if op not in REFERENCE:
        raise KeyError(f"no numpy reference for scalar op {op!r}: add one to REFERENCE")
    loads = [Load("x", I, str(c.dtype)) for c in cols]
    out_dtype = result_dtype(op, loads)
    with np.errstate(all="ignore"):
        want = np.asarray(REFERENCE[op](*cols)).astype(NP[out_dtype])
    precise = op not in TRANSCENDENTAL
    rtol = 0.0 if precise else (4e-6 if out_dtype == "float32" else 1e-13)
    return map_case(f"op_{op}_{dtype}", cols, out_dtype, lambda *a: call(op, *a), want,
                    rtol=rtol, atol=rtol * 1e-30, tags=("op", op))


CAST_SAMPLES = [0, 1, 2, 7, 100, 3.75, -2.75, -5, math.nan, math.inf, -math.inf]


def cast_case(src: str, dst: str) -> Case:
    """Values whose conversion is defined in C: no NaN/inf/out-of-range float -> int."""
    vals = [v for v in CAST_SAMPLES if src in FLOATS or float(v).is_integer()]
    if src in FLOATS and dst not in FLOATS + ["bool"]:
        vals = [v for v in vals if math.isfinite(v) and (dst != "uint32" or v >= 0)]
    if src == "uint32":
        vals = [v for v in vals if v >= 0] + [2 ** 31, 4_000_000_000]
    if src == "bool":
        vals = [0, 1]
    with np.errstate(all="ignore"):
        x = np.array(vals, dtype=np.float64).astype(NP[src]) if src != "uint32" \
            else np.array(vals, dtype=np.uint32)
        want = x.astype(NP[dst])
    return map_case(f"cast_{src}_to_{dst}", [x], dst, lambda a: cast(a, dst), want)


def constants_case() -> Case:
    """Literal printing: rounding to float32, NaN/inf, extreme integers, wrap-around."""
    table = {
        "float32": [0.1, -0.0, math.nan, math.inf, -math.inf, 1e30, 1e-45, 3.4028234663852886e38, 1e39],
        "float64": [0.1, -0.0, math.nan, math.inf, -math.inf, 1e300, 5e-324, 2.0 ** 0.5, 1.0],
        "int32": [0, -1, 2 ** 31 - 1, -2 ** 31, 123456, -7, 0, 1, 2],
        "int64": [0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 40, -7, 0, 1, 2],
        "uint32": [0, 1, 2 ** 32 - 1, 2 ** 31, 123, 7, 0, 1, 2],
        "bool": [True, False, True, True, False, False, True, False, True],
    }
    params, body, arrays, expected = [], [], [], {}
    for slot, (dt, vals) in enumerate(table.items()):
        params.append(Param(f"c_{dt}", dt, "out"))
        body += [Store(f"c_{dt}", Const(j, "int64"), Const(v, dt)) for j, v in enumerate(vals)]
        with np.errstate(all="ignore"):
            expected[slot] = np.array(vals, dtype=np.float64 if dt in FLOATS else object) \
                .astype(NP[dt])
        arrays.append(np.zeros(len(vals), NP[dt]))
    k = Kernel("constants", params, body)
    desc = ProgramDesc([k], [Launch("constants", tuple(range(len(params))))], [], len(params))
    return Case("constants", desc, arrays, {}, expected)


def bool_case() -> Case:
    """Bool buffers are bytes: loads see 0/1, stores write exactly 0 or 1."""
    a = np.array([0, 1, 0, 1, 1, 0, 1] * 3, bool)
    b = np.array([0, 0, 1, 1, 0, 1, 1] * 3, bool)
    x = np.linspace(-3, 3, len(a)).astype(np.float32)
    params = [Param("a", "bool"), Param("b", "bool"), Param("x", "float32"),
              Param("o1", "bool", "out"), Param("o2", "float32", "out"), Param("o3", "bool", "out")]
    la, lb, lx = Load("a", I, "bool"), Load("b", I, "bool"), Load("x", I, "float32")
    body = [For(I, ZERO, Var("n_bools", "int64"), [
        Store("o1", I, call("logical_and", la, call("logical_not", lb))),
        Store("o2", I, call("where", la, lx, call("neg", lx))),
        Store("o3", I, call("less", lx, Const(0.0, "float32"))),
    ], "vector")]
    k = Kernel("bools", params, body, ["n_bools"])
    desc = ProgramDesc([k], [Launch("bools", tuple(range(6)))], ["n_bools"], 6)
    outs = [np.zeros(len(a), bool), np.zeros(len(a), np.float32), np.zeros(len(a), bool)]
    want = {3: a & ~b, 4: np.where(a, x, -x), 5: x < 0}
    return Case("bools", desc, [a, b, x] + outs, {"n_bools": len(a)}, want)


def branch_case() -> Case:
    """If/else and a local updated in a serial loop: clip to [-1, 1] and prefix sums."""
    x = np.array([-3.0, -0.5, 0.25, 2.0, 1.0, -1.0, 0.0], np.float32)
    acc = Var("acc", "float32")
    lx = Load("x", I, "float32")
    body = [
        Assign(acc, Const(0.0, "float32")),
        For(I, ZERO, Var("n_branch", "int64"), [
            If(call("greater", lx, Const(1.0, "float32")), [Store("clip", I, Const(1.0, "float32"))],
               [If(call("less", lx, Const(-1.0, "float32")),
                   [Store("clip", I, Const(-1.0, "float32"))], [Store("clip", I, lx)])]),
            Assign(acc, call("add", acc, lx)),
            Store("csum", I, acc),
        ]),
    ]
    params = [Param("x", "float32"), Param("clip", "float32", "out"), Param("csum", "float32", "out")]
    k = Kernel("branches", params, body, ["n_branch"])
    desc = ProgramDesc([k], [Launch("branches", (0, 1, 2))], ["n_branch"], 3)
    want = {1: np.clip(x, -1, 1), 2: np.cumsum(x, dtype=np.float32)}
    return Case("branches", desc, [x, np.zeros_like(x), np.zeros_like(x)], {"n_branch": len(x)},
                want, rtol=1e-6)


def all_small_cases() -> List[Case]:
    cases = [op_case(op, dt) for op in SCALAR_OPS if op in REFERENCE for dt in op_dtypes(op)]
    cases += [cast_case(s, d) for s in DTYPES for d in DTYPES]
    return cases + [constants_case(), bool_case(), branch_case()]


# ---------------------------------------------------------------------------------------------
# bigger programs: symbols, loop nests, reductions, several launches
def elementwise_desc() -> ProgramDesc:
    """``out[i] = x[i] * 2 + y[i]`` for i < n (the multiply is exact, so fusing into an FMA is
    too)."""
    n = Var("n", "int64")
    expr = call("add", call("mul", Load("x", I, "float32"), Const(2.0, "float32")),
                Load("y", I, "float32"))
    k = Kernel("axpy", [Param("x", "float32"), Param("y", "float32"), Param("out", "float32", "out")],
               [For(I, ZERO, n, [Store("out", I, expr)], "parallel")], ["n"],
               origin="add(mul(x, 2), y)  # layer test")
    return ProgramDesc([k], [Launch("axpy", (0, 1, 2))], ["n"], 3)


def elementwise_case(n: int) -> Case:
    """Buffers are longer than n: the tail after n must stay untouched."""
    rng = np.random.default_rng(n)
    x, y = (rng.standard_normal(n + 5).astype(np.float32) for _ in range(2))
    out = np.full(n + 5, -7.0, np.float32)
    want = out.copy()
    want[:n] = x[:n] * 2 + y[:n]
    return Case(f"axpy{n}", elementwise_desc(), [x, y, out], {"n": n}, {2: want})


def reduction_desc() -> ProgramDesc:
    """Row sums and NaN-propagating row maxima: parallel rows, reduction columns."""
    j, rows, cols = Var("j", "int64"), Var("rows", "int64"), Var("cols", "int64")
    acc, top = Var("acc", "float32"), Var("top", "float32")
    x = Load("x", call("add", call("mul", I, cols), j), "float32")
    body = [For(I, ZERO, rows, [
        Assign(acc, Const(0.0, "float32")),
        Assign(top, Const(-math.inf, "float32")),
        For(j, ZERO, cols, [Assign(acc, call("add", acc, x)),
                            Assign(top, call("maximum", top, x))], "reduction"),
        Store("sums", I, acc),
        Store("maxes", I, top),
    ], "parallel")]
    k = Kernel("row_stats", [Param("x", "float32"), Param("sums", "float32", "out"),
                             Param("maxes", "float32", "out")], body, ["rows", "cols"])
    return ProgramDesc([k], [Launch("row_stats", (0, 1, 2))], ["rows", "cols"], 3)


def reduction_case(rows: int, cols: int) -> Case:
    x = np.random.default_rng(cols).uniform(-1, 1, (rows, cols)).astype(np.float32)
    if rows > 1:
        x[1, cols // 2] = np.nan
    want_sum = x.astype(np.float64).sum(axis=1).astype(np.float32)
    want = {1: want_sum, 2: np.max(x, axis=1)}
    return Case(f"rows{rows}x{cols}", reduction_desc(), [x.ravel(), np.zeros(rows, np.float32),
                np.zeros(rows, np.float32)], {"rows": rows, "cols": cols}, want,
                rtol=1e-5, atol=1e-5)


def shared_slot_case() -> Case:
    """Two launches share slot 1 (the temporary); the third binds one slot to two parameters
    (in-place update), so those must not be declared noalias.  ``m`` is an unused symbol placed
    first: kernel symbols are looked up by name, not position."""
    n = Var("n", "int64")
    lx, lt = Load("x", I, "float32"), Load("t", I, "float32")
    double = Kernel("double_it", [Param("x", "float32"), Param("t", "float32", "out")],
                    [For(I, ZERO, n, [Store("t", I, call("mul", lx, Const(2.0, "float32")))])], ["n"])
    add = Kernel("add_them", [Param("t", "float32"), Param("x", "float32"), Param("o", "float32", "out")],
                 [For(I, ZERO, n, [Store("o", I, call("add", lt, lx))], "vector")], ["n"])
    bump = Kernel("bump", [Param("a", "float32"), Param("b", "float32", "out")],
                  [For(I, ZERO, n, [Store("b", I, call("add", Load("a", I, "float32"),
                                                       Const(1.0, "float32")))])], ["n"])
    desc = ProgramDesc([double, add, bump],
                       [Launch("double_it", (0, 1)), Launch("add_them", (1, 0, 2)),
                        Launch("bump", (2, 2)), Launch("bump", (2, 2))], ["m", "n"], 3)
    x = np.arange(-5, 12, dtype=np.float32) / 3
    return Case("shared", desc, [x, np.zeros_like(x), np.zeros_like(x)], {"m": 999, "n": len(x)},
                {2: x * 2 + x + 2})


# ---------------------------------------------------------------------------------------------
# running on the CPU
def merge(cases: List[Case]) -> ProgramDesc:
    """One program holding all cases (slots renumbered, symbols concatenated)."""
    kernels, launches, symbols, n_slots = [], [], [], 0
    for c in cases:
        kernels += c.desc.kernels
        launches += [Launch(l.kernel, tuple(s + n_slots for s in l.slots)) for l in c.desc.launches]
        symbols += [s for s in c.desc.symbols if s not in symbols]
        n_slots += c.desc.n_slots
    return ProgramDesc(kernels, launches, symbols, n_slots)


def split(cases: List[Case], arrays: List[np.ndarray]) -> List[List[np.ndarray]]:
    out, at = [], 0
    for c in cases:
        out.append(arrays[at:at + c.desc.n_slots])
        at += c.desc.n_slots
    return out


class CpuProgram:
    """A compiled shared library, called the way the runtime calls it."""

    def __init__(self, desc: ProgramDesc, path: str):
        obj = llvm_backend.compile_module(llvm_backend.render_module(desc))
        llvm_backend.link_shared(obj, path)
        self.desc = desc
        self.fn = ctypes.CDLL(path)[desc.entry]
        self.fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.fn.restype = None

    def run(self, arrays: List[np.ndarray], symbols: Dict[str, int]) -> List[np.ndarray]:
        arrays = [np.ascontiguousarray(a).copy() for a in arrays]
        slots = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        syms = (ctypes.c_int64 * max(len(self.desc.symbols), 1))(
            *[symbols[s] for s in self.desc.symbols])
        self.fn(slots, syms)
        return arrays


@pytest.fixture(scope="module")
def small_cases():
    return all_small_cases()


@pytest.fixture(scope="module")
def small_results(small_cases, tmp_path_factory):
    """Run every small case in one compiled program; ``{case name: slot arrays}``."""
    prog = CpuProgram(merge(small_cases), str(tmp_path_factory.mktemp("small") / "small.so"))
    symbols = {k: v for c in small_cases for k, v in c.symbols.items()}
    arrays = prog.run([a for c in small_cases for a in c.arrays], symbols)
    return {c.name: got for c, got in zip(small_cases, split(small_cases, arrays))}


@pytest.mark.parametrize("op", sorted(SCALAR_OPS))
def test_scalar_op_matches_numpy(op, small_cases, small_results):
    if op not in REFERENCE:
        pytest.fail(f"no numpy reference for scalar op {op!r}: add one to REFERENCE")
    cases = [c for c in small_cases if c.tags == ("op", op)]
    assert {c.name for c in cases} == {f"op_{op}_{d}" for d in op_dtypes(op)}
    for c in cases:
        c.check(small_results[c.name])


@pytest.mark.parametrize("src", DTYPES)
def test_casts_match_numpy_astype(src, small_cases, small_results):
    for c in small_cases:
        if c.name.startswith(f"cast_{src}_to_"):
            c.check(small_results[c.name])


@pytest.mark.parametrize("name", ["constants", "bools", "branches"])
def test_special_cases(name, small_cases, small_results):
    case = next(c for c in small_cases if c.name == name)
    case.check(small_results[name])
    if name == "bools":  # stored bools are exactly 0 or 1
        assert set(np.concatenate([small_results[name][3], small_results[name][5]])
                   .view(np.uint8).tolist()) <= {0, 1}


@pytest.fixture(scope="module")
def axpy(tmp_path_factory):
    return CpuProgram(elementwise_desc(), str(tmp_path_factory.mktemp("axpy") / "axpy.so"))


@pytest.mark.parametrize("n", [1, 7, 15, 16, 17, 33, 37, 1000])
def test_elementwise_any_size(n, axpy):
    case = elementwise_case(n)
    case.check(axpy.run(case.arrays, case.symbols))


def test_row_reductions(tmp_path):
    prog = CpuProgram(reduction_desc(), str(tmp_path / "rows.so"))
    for rows, cols in [(1, 1), (3, 7), (4, 16), (2, 17), (5, 33), (3, 1000)]:
        case = reduction_case(rows, cols)
        case.check(prog.run(case.arrays, case.symbols))


def test_launches_share_slots(tmp_path):
    case = shared_slot_case()
    text = llvm_backend.render_module(case.desc)
    assert 'define internal void @"bump"(ptr %"a", ptr %"b"' in text  # aliased: no noalias
    assert 'ptr noalias %"x", ptr noalias %"t"' in text
    case.check(CpuProgram(case.desc, str(tmp_path / "shared.so")).run(case.arrays, case.symbols))


def test_rendered_ir_is_annotated_and_vectorizes():
    """Origins are printed; noalias + fast-math flags let O3 vectorize both the map and the
    reassociable reduction (any x86-64 host has at least 4-wide float vectors)."""
    text = llvm_backend.render_module(elementwise_desc())
    assert "; kernel axpy" in text and "add(mul(x, 2), y)  # layer test" in text
    assert "fadd contract float" in text and "nnan" not in text and "ninf" not in text
    assert "x float>" in llvm_backend.optimized_ir(text)
    red = llvm_backend.render_module(reduction_desc())
    assert "fadd contract reassoc nsz arcp afn float" in red
    opt = llvm_backend.optimized_ir(red)
    assert "x float>" in opt and "reduce.fadd" in opt
    assert "graphnn_entry" in llvm_backend.assembly(text, cpu="generic")


def test_generic_cpu_object_links(tmp_path):
    obj = llvm_backend.compile_module(llvm_backend.render_module(elementwise_desc()), cpu="generic")
    llvm_backend.link_shared(obj, str(tmp_path / "generic.so"))
    assert (tmp_path / "generic.so").exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def bad_kernel_desc() -> ProgramDesc:
    k = Kernel("bad", [Param("x", "int32"), Param("o", "int32", "out")],
               [Store("o", ZERO, call("exp", Load("x", ZERO, "int32")))])
    return ProgramDesc([k], [Launch("bad", (0, 1))], [], 2)


def test_errors_are_compile_errors(tmp_path):
    for render in (llvm_backend.render_module, cuda_backend.render_module):
        with pytest.raises(CompileError, match="floats only"):
            render(bad_kernel_desc())
    with pytest.raises(CompileError, match="saved to"):
        llvm_backend.compile_module("define void @f( {")
    with pytest.raises(CompileError, match="linking"):
        llvm_backend.link_shared(b"not an object file", str(tmp_path / "x.so"))
    assert os.listdir(tmp_path) == []
    undefined = "declare void @nowhere()\ndefine void @g() {\n  call void @nowhere()\n  ret void\n}\n"
    with pytest.raises(CompileError, match="nowhere"):  # -z defs: unresolved symbols fail the link
        llvm_backend.link_shared(llvm_backend.compile_module(undefined), str(tmp_path / "y.so"))
    uninit = Kernel("uninit", [Param("o", "float32", "out")],
                    [Store("o", ZERO, Var("t", "float32"))])
    with pytest.raises(CompileError, match="before"):
        llvm_backend.render_module(ProgramDesc([uninit], [], [], 1))
    clobber = Kernel("clobber", [], [Assign(Var("n", "int64"), ZERO)], ["n"])
    with pytest.raises(CompileError, match="assigns to symbol"):
        cuda_backend.render_module(ProgramDesc([clobber], [], ["n"], 0))


# ---------------------------------------------------------------------------------------------
# CUDA
needs_nvcc = pytest.mark.skipif(not cuda_backend.nvcc_available(), reason="nvcc not on PATH")


def gpu_cases() -> List[Case]:
    return all_small_cases() + [elementwise_case(n) for n in (1, 17, 1000)] + \
        [reduction_case(5, 33)] + [shared_slot_case()]


def cuda_source(cases: List[Case]) -> str:
    """All kernels of all cases in one translation unit (one nvcc call).  Programs reuse kernel
    names, so keep the first of each name (they are identical)."""
    kernels, seen = [], set()
    for c in cases:
        for k in c.desc.kernels:
            if k.name not in seen:
                seen.add(k.name)
                kernels.append(k)
    launches = [l for c in cases for l in c.desc.launches if l.kernel == "bump"][:1]
    desc = ProgramDesc(kernels, launches, sorted({s for c in cases for s in c.desc.symbols}), 3)
    return cuda_backend.render_module(desc)


@pytest.fixture(scope="module")
def ptx():
    if not cuda_backend.nvcc_available():
        pytest.skip("nvcc not on PATH")
    return cuda_backend.compile_ptx(cuda_source(gpu_cases()))


@needs_nvcc
def test_cuda_compiles_every_kernel(ptx):
    for c in gpu_cases():
        for k in c.desc.kernels:
            assert f".entry {k.name}(" in ptx, k.name


def test_cuda_thread_mapping():
    src = cuda_backend.render_module(elementwise_desc())
    assert "// kernel axpy" in src and "blockDim.x * (long long)gridDim.x" in src
    assert "const float* __restrict__ x" in src and "float* __restrict__ out" in src
    serial = cuda_backend.render_module(shared_slot_case().desc)
    assert "if (blockIdx.x == 0 && threadIdx.x == 0)" in serial
    assert "void bump(const float* a, float* b" in serial  # aliased: no __restrict__


def test_cuda_refuses_kernels_needing_grid_sync():
    """A once-only store before the parallel loop that the loop reads would race."""
    n = Var("n", "int64")
    k = Kernel("racy", [Param("t", "float32", "inout"), Param("o", "float32", "out")],
               [Store("t", ZERO, Const(1.0, "float32")),
                For(I, ZERO, n, [Store("o", I, Load("t", ZERO, "float32"))], "parallel")], ["n"])
    with pytest.raises(CompileError, match="grid-wide barrier"):
        cuda_backend.render_module(ProgramDesc([k], [Launch("racy", (0, 1))], ["n"], 2))


@needs_nvcc
def test_nvcc_failure_keeps_source():
    with pytest.raises(CompileError) as info:
        cuda_backend.compile_ptx("this is not CUDA")
    saved = str(info.value).rsplit("source saved to ", 1)[1].strip()
    assert open(saved).read() == "this is not CUDA"


# -- running the CUDA source on the host: every (block, thread) of a small grid in turn ---------
HOST_EMULATION = """\
// Just enough of CUDA to run generated kernels on the host (no barriers or shared memory are
// generated, so calling every thread of the grid in turn is exact).
#include <math.h>
#include <string.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
struct gn_dim3 { unsigned int x, y, z; };
extern "C" { gn_dim3 blockIdx, threadIdx, blockDim, gridDim; }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }
"""


class HostCuda:
    """The CUDA translation unit compiled as host C++; launches loop over blocks and threads."""

    def __init__(self, source: str, path: str):
        src = path + ".cpp"
        with open(src, "w") as f:
            f.write(HOST_EMULATION + source)
        proc = subprocess.run([shutil.which("c++"), "-O1", "-shared", "-fPIC", "-o", path, src],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        self.lib = ctypes.CDLL(path)
        self.dims = {n: (ctypes.c_uint * 3).in_dll(self.lib, n)
                     for n in ("blockIdx", "threadIdx", "blockDim", "gridDim")}

    def run(self, case: Case) -> List[np.ndarray]:
        arrays = [np.ascontiguousarray(a).copy() for a in case.arrays]
        kernels = {k.name: k for k in case.desc.kernels}
        self.dims["blockDim"][0], self.dims["gridDim"][0] = GPU_BLOCK, GPU_GRID
        for launch in case.desc.launches:
            fn = self.lib[launch.kernel]
            args = [ctypes.c_void_p(arrays[s].ctypes.data) for s in launch.slots] + \
                [ctypes.c_longlong(case.symbols[s]) for s in kernels[launch.kernel].symbols]
            for block in range(GPU_GRID):
                for thread in range(GPU_BLOCK):
                    self.dims["blockIdx"][0], self.dims["threadIdx"][0] = block, thread
                    fn(*args)
        return arrays


@pytest.mark.skipif(shutil.which("c++") is None, reason="no host C++ compiler")
def test_cuda_source_semantics_on_host(tmp_path):
    """The CUDA renderer's arithmetic, literals and thread mapping agree with numpy (host libm
    instead of CUDA's math library; a real GPU run is below)."""
    cases = gpu_cases()
    host = HostCuda(cuda_source(cases), str(tmp_path / "emulated.so"))
    failures = []
    for case in cases:
        try:
            case.check(host.run(case))
        except AssertionError as err:
            failures.append(f"{case.name}: {str(err)[:400]}")
    assert not failures, "\n".join(failures)


# -- running on a GPU through the CUDA driver API (skipped without one) ------------------------
class CudaDriver:
    """Just enough of the CUDA driver API to load PTX and launch kernels."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libcuda.so.1")
        except OSError:
            pytest.skip("no CUDA driver")
        lib, u64, vp = self.lib, ctypes.c_uint64, ctypes.c_void_p
        lib.cuMemcpyHtoD_v2.argtypes = [u64, vp, ctypes.c_size_t]
        lib.cuMemcpyDtoH_v2.argtypes = [vp, u64, ctypes.c_size_t]
        lib.cuMemFree_v2.argtypes = [u64]
        lib.cuLaunchKernel.argtypes = [vp] + [ctypes.c_uint] * 7 + [vp, vp, vp]
        count = ctypes.c_int()
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or not count.value:
            pytest.skip("no CUDA device")
        dev, self.ctx = ctypes.c_int(), ctypes.c_void_p()
        self.ok(lib.cuDeviceGet(ctypes.byref(dev), 0))
        self.ok(lib.cuDevicePrimaryCtxRetain(ctypes.byref(self.ctx), dev))
        self.ok(lib.cuCtxSetCurrent(self.ctx))

    @staticmethod
    def ok(status: int) -> None:
        assert status == 0, f"CUDA driver error {status}"

    def load(self, ptx: str) -> ctypes.c_void_p:
        module = ctypes.c_void_p()
        self.ok(self.lib.cuModuleLoadData(ctypes.byref(module), ptx.encode() + b"\0"))
        return module

    def run(self, module, case: Case) -> List[np.ndarray]:
        lib, arrays = self.lib, [np.ascontiguousarray(a).copy() for a in case.arrays]
        kernels = {k.name: k for k in case.desc.kernels}
        ptrs = []
        for a in arrays:
            p = ctypes.c_uint64()
            self.ok(lib.cuMemAlloc_v2(ctypes.byref(p), ctypes.c_size_t(max(a.nbytes, 1))))
            self.ok(lib.cuMemcpyHtoD_v2(p.value, a.ctypes.data, a.nbytes))
            ptrs.append(p.value)
        for launch in case.desc.launches:
            fn = ctypes.c_void_p()
            self.ok(lib.cuModuleGetFunction(ctypes.byref(fn), module, launch.kernel.encode()))
            args = [ctypes.c_uint64(ptrs[s]) for s in launch.slots] + \
                [ctypes.c_longlong(case.symbols[s]) for s in kernels[launch.kernel].symbols]
            argv = (ctypes.c_void_p * len(args))(*[ctypes.addressof(a) for a in args])
            self.ok(lib.cuLaunchKernel(fn, GPU_GRID, 1, 1, GPU_BLOCK, 1, 1, 0, None, argv, None))
        self.ok(lib.cuCtxSynchronize())
        for a, p in zip(arrays, ptrs):
            self.ok(lib.cuMemcpyDtoH_v2(a.ctypes.data, p, a.nbytes))
            self.ok(lib.cuMemFree_v2(p))
        return arrays


@needs_nvcc
def test_cuda_results_match_numpy(ptx):
    driver = CudaDriver()
    module = driver.load(ptx)
    failures = []
    for case in gpu_cases():
        try:
            case.check(driver.run(module, case))
        except AssertionError as err:
            failures.append(f"{case.name}: {str(err)[:400]}")
    assert not failures, "\n".join(failures)
