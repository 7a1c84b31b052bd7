"""The ``graphnn`` command and its Python API: ahead-of-time libraries (built with make, run
without Python, equal to ``model.predict``), kernel benchmarks and compiler inspection."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import graphnn.aot
from graphnn import backend as K
from graphnn.cli import main
from graphnn.layers import Dense, Dropout
from graphnn.models import Sequential
from graphnn.tools.bench import bench, format_table
from graphnn.tools.inspect import inspect

needs_make = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                                reason="make and cc are needed")


@pytest.fixture
def trained():
    K.clear_session()
    rng = np.random.default_rng(3)
    m = Sequential([Dense(24, activation="relu", input_dim=7), Dropout(0.3),
                    Dense(5, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((64, 7)).astype(np.float32)
    m.fit(x, rng.integers(0, 5, 64), epochs=2, batch_size=16, verbose=0)
    return m, rng


def _needed_libraries(path: str):
    out = subprocess.run(["objdump", "-p", path], capture_output=True, text=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip().startswith("NEEDED")]


@needs_make
@pytest.mark.parametrize("cpu", ["native", "generic"])
def test_compiled_library_runs_without_python_and_matches_predict(trained, tmp_path, cpu):
    model, rng = trained
    out = str(tmp_path / "lib")
    lib = graphnn.aot.compile(model, out, cpu=cpu)
    assert lib.inputs[0].shape == (-1, 7) and lib.outputs[0].shape == (-1, 5)
    header = open(lib.header).read()
    assert "int graphnn_model_predict(const float *input, float *output, int64_t batch);" in header
    subprocess.run(["make", "-s", "-C", out], check=True)
    for batch in (1, 33):
        x = rng.standard_normal((batch, 7)).astype(np.float32)
        x.tofile(os.path.join(out, "in.f32"))
        subprocess.run([os.path.join(out, "example"), os.path.join(out, "in.f32"),
                        os.path.join(out, "out.f32")], check=True, env={"PATH": os.environ["PATH"]})
        got = np.fromfile(os.path.join(out, "out.f32"), np.float32).reshape(batch, 5)
        np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)
    if shutil.which("objdump"):
        needed = _needed_libraries(lib.library)
        assert needed and not any("python" in n for n in needed), needed
    bad = subprocess.run([os.path.join(out, "example"), os.path.join(out, "missing.f32"),
                          os.path.join(out, "o.f32")], capture_output=True, text=True)
    assert bad.returncode != 0 and "missing.f32" in bad.stderr


def test_compile_refuses_what_it_cannot_do(trained, tmp_path):
    model, _ = trained
    with pytest.raises(ValueError, match="target must be 'cpu' or 'cuda'"):
        graphnn.aot.compile(model, str(tmp_path), target="tpu")
    with pytest.raises(ValueError, match="cpu must be one of"):
        graphnn.aot.compile(model, str(tmp_path), cpu="pentium")


def test_bench_reports_every_kernel_and_leaves_the_model_alone(trained):
    model, _ = trained
    before = [w.copy() for w in model.get_weights()]
    result = bench(model, batch=16, seconds=0.05)
    for which in ("predict", "train"):
        r = result["functions"][which]
        assert r["n_kernels"] == len(r["kernels"]) > 0 and r["call_seconds"] > 0
        assert any(k["flops"] > 0 for k in r["kernels"])
        assert all(k["gflops"] >= 0 and 0 <= k["share"] <= 1 for k in r["kernels"])
    assert result["peaks"]["matmul_gflops"] > 0 and result["peaks"]["copy_gbs"] > 0
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    text = format_table(result)
    assert "predict:" in text and "train:" in text and "dense_1" in text
    json.dumps(result, default=float)


def test_inspect_writes_every_view(trained, tmp_path):
    model, _ = trained
    files = inspect(model, str(tmp_path), functions=("predict",))
    names = {os.path.relpath(f, tmp_path) for f in files}
    assert {"model.dot", "predict/kernels.txt", "predict/kernels.dot", "predict/program.ll",
            "predict/program.s", "predict/program.cu", "predict/passes/00_input.txt"} <= names
    from ir.passes import PIPELINE
    assert f"predict/passes/{len(PIPELINE):02d}_memory.txt" in names
    assert "dense_1" in open(tmp_path / "predict" / "kernels.dot").read()
    assert "->" in open(tmp_path / "model.dot").read()


def test_command_line(trained, tmp_path, capsys):
    assert main(["bench", "--example", "mlp", "--functions", "predict", "--seconds", "0.05",
                 "--batch", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["functions"]["predict"]["n_kernels"] >= 3
    assert main(["inspect", "--example", "mlp", "--functions", "predict", "-o",
                 str(tmp_path / "i")]) == 0
    assert (tmp_path / "i" / "predict" / "program.ll").exists()
    assert main(["compile", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "x")]) == 1
    assert "missing.h5" in capsys.readouterr().err
    model, _ = trained          # a model file saved with model.save
    model.save(str(tmp_path / "m.h5"))
    assert main(["inspect", str(tmp_path / "m.h5"), "--functions", "predict", "-o",
                 str(tmp_path / "j")]) == 0
    assert "dense_1" in (tmp_path / "j" / "predict" / "kernels.dot").read_text()


def test_kernel_profiler_reports_during_fit(trained, capsys):
    from graphnn.tools.profiler import KernelProfiler
    model, rng = trained
    prof = KernelProfiler(repeats=2, top=3)
    x = rng.standard_normal((32, 7)).astype(np.float32)
    hist = model.fit(x, rng.integers(0, 5, 32), epochs=2, batch_size=16, verbose=0,
                     callbacks=[prof])
    assert len(prof.results) == 1 and prof.results[0]["functions"]["train"]["n_kernels"] > 3
    assert "train:" in capsys.readouterr().out
    plain = model.fit(x, rng.integers(0, 5, 32), epochs=1, batch_size=16, verbose=0)
    assert len(hist.history["loss"]) == 2 and len(plain.history["loss"]) == 1


FAKE_DRIVER = r"""
/* A stand-in libcuda.so.1: device memory is host memory, a module is the emulated build of the
   same CUDA C (runtime.emulated_device), a launch calls its cuemu_launch_<kernel>. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef void (*launch_fn)(const unsigned *, const unsigned *, void **);
int cuInit(unsigned f) { return 0; }
int cuDeviceGet(int *d, int i) { *d = 0; return 0; }
int cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)1; return 0; }
int cuCtxPushCurrent_v2(void *c) { return 0; }
int cuCtxPopCurrent_v2(void **c) { return 0; }
int cuModuleLoadData(void **m, const void *ptx) {
    if (strstr((const char *)ptx, ".entry") == NULL) return 1;
    *m = dlopen(getenv("FAKE_CUDA_KERNELS"), RTLD_NOW);
    return *m ? 0 : 1;
}
int cuModuleGetFunction(void **f, void *m, const char *name) {
    char sym[512]; snprintf(sym, sizeof sym, "cuemu_launch_%s", name);
    *f = dlsym(m, sym); return *f ? 0 : 1;
}
int cuMemAlloc_v2(unsigned long long *p, size_t n) { *p = (unsigned long long)aligned_alloc(256, (n + 255) / 256 * 256); return *p ? 0 : 2; }
int cuMemFree_v2(unsigned long long p) { free((void *)p); return 0; }
int cuMemcpyHtoD_v2(unsigned long long d, const void *s, size_t n) { memcpy((void *)d, s, n); return 0; }
int cuMemcpyDtoH_v2(void *d, unsigned long long s, size_t n) { memcpy(d, (void *)s, n); return 0; }
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shmem, void *stream, void **args, void **extra) {
    unsigned g[3] = {gx, gy, gz}, b[3] = {bx, by, bz};
    ((launch_fn)f)(g, b, args); return 0;
}
int cuCtxSynchronize(void) { return 0; }
"""


@needs_make
@pytest.mark.skipif(shutil.which("nvcc") is None or shutil.which("g++") is None,
                    reason="nvcc and g++ are needed")
def test_cuda_target_runs_through_a_stand_in_driver(trained, tmp_path):
    """``--target cuda``: CUDA C, PTX and a launcher library; without a driver the example
    fails with a clear message; with a stand-in driver that runs the emulated build of the same
    CUDA C, the launcher's copies, launch sizes and argument passing give model.predict's
    outputs."""
    from codegen.cuda_backend import render_module
    from codegen.lower import lower_graph
    from runtime import emulated_device
    from runtime.program import optimize
    model, rng = trained
    out = str(tmp_path / "cuda")
    lib = graphnn.aot.compile(model, out, target="cuda")
    assert os.path.exists(os.path.join(out, "model.ptx")) and "GRAPHNN_CUDA" in open(lib.header).read()
    subprocess.run(["make", "-s", "-C", out], check=True)
    x = rng.standard_normal((9, 7)).astype(np.float32)
    x.tofile(os.path.join(out, "in.f32"))
    run = [os.path.join(out, "example"), os.path.join(out, "in.f32"), os.path.join(out, "o.f32")]
    env = {"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": ""}
    bad = subprocess.run(run, capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "CUDA driver" in bad.stderr
    # the stand-in driver and the emulated kernels of the same program
    fake = tmp_path / "fake"
    fake.mkdir()
    with open(fake / "driver.c", "w") as f:
        f.write(FAKE_DRIVER)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(fake / "libcuda.so.1"),
                    str(fake / "driver.c"), "-ldl"], check=True)
    f = model._make_predict_function()
    desc = lower_graph(optimize((f._fn or f._build()).graph), name="k")
    kernels = str(fake / "kernels.so")
    emulated_device.compile_library(emulated_device.emulated_source(
        render_module(desc), [k.name for k in desc.kernels]), kernels)
    env.update(LD_LIBRARY_PATH=str(fake), FAKE_CUDA_KERNELS=kernels)
    subprocess.run(run, check=True, env=env)
    got = np.fromfile(os.path.join(out, "o.f32"), np.float32).reshape(9, 5)
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)
