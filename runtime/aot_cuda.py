"""The ``cuda`` target of ahead-of-time compilation (``runtime.aot``): the kernels as CUDA C and
PTX, and a host launcher in C on the CUDA driver API.

The library loads ``libcuda.so.1`` with ``dlopen`` on its first call (so it links and loads on a
machine without a GPU and reports the missing driver as an error code), loads the embedded PTX
with ``cuModuleLoadData``, copies the embedded weights to the device once, and per call copies
the inputs in, launches the kernels in the program's order with the grid and block sizes of
``codegen.cuda_launch`` (written out as C expressions of the batch size) and copies the outputs
back.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from codegen import cuda_launch
from codegen import mathlib as ml
from codegen.gemm_cuda import THREADS_X, THREADS_Y, TILE_M, TILE_N
from codegen.kernel import Assign, Call, Const, Expr, For, Gemm, Var

from . import aot

_C_OPS = {"add": "+", "sub": "-", "mul": "*"}


def c_expr(e: Expr, env: Dict[str, str]) -> str:
    """Integer index arithmetic ``e`` as a C expression (``long long``); symbols and top-level
    locals come from ``env``.  Raises ValueError for anything else (memory reads)."""
    if isinstance(e, Const):
        return f"{int(e.value)}LL"
    if isinstance(e, Var):
        if e.name not in env:
            raise ValueError(f"launch size depends on {e.name!r}")
        return env[e.name]
    if isinstance(e, Call) and len(e.args) == 2:
        a, b = (c_expr(x, env) for x in e.args)
        if e.op in _C_OPS:
            return f"({a} {_C_OPS[e.op]} {b})"
        if e.op == "floordiv":
            return f"gn_floordiv({a}, {b})"
        if e.op == "mod":
            return f"gn_mod({a}, {b})"
        if e.op in ("maximum", "minimum"):
            return f"gn_{e.op[:3]}({a}, {b})"
    if isinstance(e, Call) and e.op == "cast" and len(e.args) == 1:
        return c_expr(e.args[0], env)
    raise ValueError(f"launch size expression {e!r} is not index arithmetic")


def launch_c(kernel, symbols: Dict[str, str]) -> List[str]:
    """C statements setting ``grid[3]`` and ``block[3]`` for one launch of ``kernel`` (the same
    rules as ``codegen.cuda_launch.launch_config``; a size that is not index arithmetic gets
    the largest grid, which is always correct)."""
    env = dict(symbols)
    lines = []
    for i, s in enumerate(kernel.body):
        if isinstance(s, Assign) and s.var.dtype in ("int32", "int64"):
            try:
                lines.append(f"long long v{i} = {c_expr(s.value, env)};")
                env[s.var.name] = f"v{i}"
            except ValueError:
                pass
    gemm = next((s for s in ml.walk_stmts(kernel.body) if isinstance(s, Gemm)), None)
    big = "2147483647LL"
    if gemm is not None:
        def size(x):
            try:
                return c_expr(x, env)
            except ValueError:
                return big
        m, n, b = size(gemm.m), size(gemm.n), size(gemm.batch)
        lines += [f"grid[0] = (unsigned)gn_clamp(gn_ceil({n}, {TILE_N}), 2147483647LL);",
                  f"grid[1] = (unsigned)gn_clamp(gn_ceil({m}, {TILE_M}), 65535);",
                  f"grid[2] = (unsigned)gn_clamp({b}, 65535);",
                  f"block[0] = {THREADS_X}; block[1] = {THREADS_Y}; block[2] = 1;"]
        return lines
    par = next((s for s in kernel.body if isinstance(s, For) and s.kind == "parallel"), None)
    if par is None:
        return lines + ["grid[0] = grid[1] = grid[2] = 1; block[0] = block[1] = block[2] = 1;"]
    try:
        trips = f"({c_expr(par.stop, env)} - {c_expr(par.start, env)})"
        blocks = f"gn_clamp(gn_ceil({trips}, {cuda_launch.BLOCK}), {cuda_launch.MAX_BLOCKS})"
    except ValueError:
        blocks = str(cuda_launch.MAX_BLOCKS)
    return lines + [f"grid[0] = (unsigned){blocks}; grid[1] = grid[2] = 1;",
                    f"block[0] = {cuda_launch.BLOCK}; block[1] = block[2] = 1;"]


def launcher_source(plan, desc, offsets: Dict[int, int], single: tuple) -> str:
    """The C launcher (see the module docstring)."""
    kernels = {k.name: k for k in desc.kernels}
    index = {k.name: i for i, k in enumerate(desc.kernels)}
    symbols = {s: "batch" for s in desc.symbols}
    n_slots = max(len(plan.slots), 1)
    out = [_LAUNCHER_PRELUDE,
           f"static const char *const kernel_names[] = {{{', '.join(repr_c(k.name) for k in desc.kernels)}}};",
           f"#define N_KERNELS {len(desc.kernels)}",
           f"#define N_SLOTS {n_slots}",
           "static CUfunction functions[N_KERNELS > 0 ? N_KERNELS : 1];",
           "static CUdeviceptr weights[N_SLOTS];", "",
           "static int upload_weights(void)", "{"]
    for i, sl in enumerate(plan.slots):
        if sl.kind in ("variable", "constant"):
            nbytes = int(sl.size.evaluate({})) * np.dtype(sl.dtype).itemsize
            out += [f"    CHECK(api.MemAlloc(&weights[{i}], {max(nbytes, 1)}));",
                    f"    CHECK(api.MemcpyHtoD(weights[{i}], graphnn_model_weights + {offsets[i]},"
                    f" {nbytes}));"]
    out += ["    return 0;", "}", "",
            "int graphnn_model_run(const void *const *inputs, void *const *outputs, int64_t batch)",
            "{", "    CUdeviceptr slots[N_SLOTS] = {0};", "    CUdeviceptr owned[N_SLOTS] = {0};",
            "    size_t bytes[N_SLOTS] = {0};", "    unsigned grid[3], block[3];",
            "    int status = 0;", "    long long symbol_batch = batch;",
            "    if (batch < 0) return -1;",
            "    if ((status = graphnn_model_init()) != 0) return status;",
            "    if (api.CtxPushCurrent(context) != 0) return set_error(\"cuCtxPushCurrent failed\");"]
    for i, sl in enumerate(plan.slots):
        if sl.kind in ("variable", "constant"):
            out.append(f"    slots[{i}] = weights[{i}];")
            continue
        size = aot._size_expr(sl.size)
        item = np.dtype(sl.dtype).itemsize
        out += [f"    bytes[{i}] = ({size}) * {item};",
                f"    if (api.MemAlloc(&owned[{i}], bytes[{i}] ? bytes[{i}] : 1) != 0) "
                "{ status = set_error(\"cuMemAlloc failed\"); goto done; }",
                f"    slots[{i}] = owned[{i}];"]
        if sl.kind == "input":
            out.append(f"    if (bytes[{i}] && api.MemcpyHtoD(slots[{i}], inputs[{sl.ref}], "
                       f"bytes[{i}]) != 0) {{ status = set_error(\"copying input {sl.ref} "
                       "failed\"); goto done; }")
    for j, launch in enumerate(desc.launches):
        k = kernels[launch.kernel]
        args = [f"&slots[{s}]" for s in launch.slots] + ["&symbol_batch" for _ in k.symbols]
        out.append("    {")
        out += [f"        {line}" for line in launch_c(k, symbols)]
        out += [f"        void *args[] = {{{', '.join(args) or 'NULL'}}};",
                f"        if (api.LaunchKernel(functions[{index[launch.kernel]}], grid[0], grid[1], grid[2], "
                "block[0], block[1], block[2], 0, NULL, args, NULL) != 0) "
                f"{{ status = set_error(\"launching kernel {launch.kernel} failed\"); goto done; }}",
                "    }"]
    out += ["    if (api.CtxSynchronize() != 0) { status = set_error(\"the kernels failed\"); "
            "goto done; }"]
    for i, sl in enumerate(plan.slots):
        if sl.kind == "output":
            out.append(f"    if (bytes[{i}] && api.MemcpyDtoH(outputs[{sl.ref}], slots[{i}], "
                       f"bytes[{i}]) != 0) {{ status = set_error(\"copying output {sl.ref} "
                       "failed\"); goto done; }")
    out += ["done:", "    for (int i = 0; i < N_SLOTS; ++i) if (owned[i]) api.MemFree(owned[i]);",
            "    api.CtxPopCurrent(NULL);", "    return status;", "}", ""]
    if single:
        ti, to = single
        out += [f"int graphnn_model_predict(const {ti} *input, {to} *output, int64_t batch)",
                "{", "    const void *ins[1] = {input};", "    void *outs[1] = {output};",
                "    return graphnn_model_run(ins, outs, batch);", "}", ""]
    return "\n".join(out)


def repr_c(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


_LAUNCHER_PRELUDE = r"""/* The model on a GPU: CUDA driver API loaded at run time (no link-time CUDA dependency). */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef unsigned long long CUdeviceptr;

extern const unsigned char graphnn_model_weights[];
extern const char graphnn_model_ptx[];

static struct {
    CUresult (*Init)(unsigned);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*CtxPushCurrent)(CUcontext);
    CUresult (*CtxPopCurrent)(CUcontext *);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, void *, void **, void **);
    CUresult (*CtxSynchronize)(void);
} api;

static CUcontext context;
static CUmodule module;
static char error_text[256] = "";
static int init_status = 1;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int set_error(const char *what) { snprintf(error_text, sizeof error_text, "%s", what); return -3; }
const char *graphnn_model_error(void) { return error_text; }

static long long gn_floordiv(long long a, long long b) { long long q = a / b; return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q; }
static long long gn_mod(long long a, long long b) { long long r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
static long long gn_max(long long a, long long b) { return a > b ? a : b; }
static long long gn_min(long long a, long long b) { return a < b ? a : b; }
static long long gn_ceil(long long a, long long b) { return a <= 0 ? 1 : (a + b - 1) / b; }
static long long gn_clamp(long long a, long long hi) { return a < 1 ? 1 : (a > hi ? hi : a); }

#define CHECK(call) do { if ((call) != 0) return set_error("CUDA call failed: " #call); } while (0)
#define LOAD(field, name) do { *(void **)&api.field = dlsym(lib, name); \
    if (!api.field) return set_error("libcuda.so.1 lacks " name); } while (0)

static int upload_weights(void);
static int load_functions(void);

static int init_driver(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    CUdevice dev;
    if (!lib) return set_error("no CUDA driver: libcuda.so.1 cannot be loaded");
    LOAD(Init, "cuInit"); LOAD(DeviceGet, "cuDeviceGet");
    LOAD(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    LOAD(CtxPushCurrent, "cuCtxPushCurrent_v2"); LOAD(CtxPopCurrent, "cuCtxPopCurrent_v2");
    LOAD(ModuleLoadData, "cuModuleLoadData"); LOAD(ModuleGetFunction, "cuModuleGetFunction");
    LOAD(MemAlloc, "cuMemAlloc_v2"); LOAD(MemFree, "cuMemFree_v2");
    LOAD(MemcpyHtoD, "cuMemcpyHtoD_v2"); LOAD(MemcpyDtoH, "cuMemcpyDtoH_v2");
    LOAD(LaunchKernel, "cuLaunchKernel"); LOAD(CtxSynchronize, "cuCtxSynchronize");
    if (api.Init(0) != 0) return set_error("cuInit failed: no usable GPU");
    if (api.DeviceGet(&dev, 0) != 0) return set_error("no CUDA device");
    CHECK(api.DevicePrimaryCtxRetain(&context, dev));
    CHECK(api.CtxPushCurrent(context));
    if (api.ModuleLoadData(&module, graphnn_model_ptx) != 0) {
        api.CtxPopCurrent(NULL);
        return set_error("cuModuleLoadData failed: the PTX does not suit this GPU or driver");
    }
    int status = load_functions();
    if (status == 0) status = upload_weights();
    api.CtxPopCurrent(NULL);
    return status;
}

static void init_once_fn(void) { init_status = init_driver(); }

/* Load the driver, the kernels and the weights (once; later calls return the first result). */
int graphnn_model_init(void)
{
    pthread_once(&init_once, init_once_fn);
    return init_status;
}
"""


def finish_launcher(source: str) -> str:
    """Append the function lookup (needs the kernel table defined above it)."""
    return source + """
static int load_functions(void)
{
    for (int i = 0; i < N_KERNELS; ++i)
        if (api.ModuleGetFunction(&functions[i], module, kernel_names[i]) != 0)
            return set_error("a kernel is missing from the PTX");
    return 0;
}
"""
