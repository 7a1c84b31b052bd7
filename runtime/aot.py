"""Ahead-of-time compilation of an inference graph into a self-contained shared library.

``build_inference_library(graph, out_dir)`` writes:

- ``libmodel.so``: the kernels and the entry point (as ``build_program`` compiles them, for this
  CPU or a baseline x86-64), the weights embedded read-only (``.incbin`` of the variables' and
  constants' bytes, 64-byte aligned) and a small C wrapper that sets up the slot table, allocates
  the intermediates for the batch size it is given and calls the entry point.  It needs libgomp
  and libm only: no Python.
- ``model.h``: the documented C interface (inputs, outputs, batch size as an argument).
- ``example.c`` and a ``Makefile`` whose default target builds ``example``: it reads float32
  inputs (batch x features, raw little-endian) from the file named by its first argument and
  writes the outputs to the file named by its second.

Only the batch may be free (symbol ``N``); functions that update variables are refused (the
weights are constants of the library).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import List

import numpy as np

from ir.graph import Graph

from . import variables

BATCH = "N"
_ALIGN = 64
_CTYPES = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
           "uint32": "uint32_t", "bool": "uint8_t"}


@dataclass
class Port:
    """One input or output of the library: name, dtype and shape (``-1``: the batch)."""
    name: str
    dtype: str
    shape: tuple

    @property
    def per_sample(self) -> int:
        return int(np.prod([d for d in self.shape if d != -1], dtype=np.int64))


@dataclass
class AotLibrary:
    """What ``build_inference_library`` wrote."""
    out_dir: str
    library: str
    header: str
    inputs: List[Port] = field(default_factory=list)
    outputs: List[Port] = field(default_factory=list)
    weight_bytes: int = 0


def _dims(shape) -> tuple:
    out = []
    for d in shape:
        if isinstance(d, str):
            if d != BATCH:
                raise ValueError(f"ahead-of-time compilation supports a free batch dimension "
                                 f"only; dimension {d!r} of shape {shape} is free too")
            out.append(-1)
        else:
            out.append(int(d))
    return tuple(out)


def _c_name(name: str, used: set) -> str:
    base = "".join(ch if ch.isalnum() else "_" for ch in name) or "t"
    if base[0].isdigit():
        base = "t_" + base
    out, i = base, 1
    while out in used:
        i += 1
        out = f"{base}_{i}"
    used.add(out)
    return out


def _size_expr(size) -> str:
    """C expression of a slot's element count (``Product`` of ints and the batch)."""
    if any(s != BATCH for s in size.syms):
        raise ValueError(f"buffer size depends on symbols {size.syms}: only the batch may vary")
    return " * ".join([f"(size_t){size.coef}"] + ["(size_t)batch"] * len(size.syms))


def _run(cmd: List[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")


def build_inference_library(graph: Graph, out_dir: str, *, cpu: str = "host",
                            name: str = "model", description: str = "", target: str = "cpu",
                            arch: str = "sm_90") -> AotLibrary:
    """Compile ``graph`` (inputs -> outputs, no updates) into ``out_dir`` (see the module
    docstring).  ``cpu``: ``host`` (this machine's features) or ``generic`` (baseline
    x86-64: the library runs on other machines).  ``target='cuda'``: the kernels as CUDA C
    and PTX for ``arch`` (``DIR/<name>.cu``, ``DIR/<name>.ptx``) and a host launcher on the
    CUDA driver API (``runtime.aot_cuda``) in the library instead."""
    if target not in ("cpu", "cuda"):
        raise ValueError(f"target must be 'cpu' or 'cuda', got {target!r}")
    from codegen.lower import lower_graph
    from .compiler import build_library
    from .program import optimize
    if graph.updates:
        raise ValueError("ahead-of-time compilation takes an inference function: this one "
                         f"updates {len(graph.updates)} variable(s)")
    os.makedirs(out_dir, exist_ok=True)
    planned = optimize(graph)
    desc = lower_graph(planned, name="k")
    for s in desc.symbols:
        if s != BATCH:
            raise ValueError(f"ahead-of-time compilation supports a free batch dimension only, "
                             f"not symbol {s!r}")
    plan = planned.plan
    used: set = set()
    inputs = [Port(_c_name(planned.attrs(n)["name"], used), planned.type(n).dtype,
                     _dims(planned.type(n).shape)) for n in planned.inputs]
    outputs = [Port(_c_name(f"output_{i}", used), planned.type(o).dtype,
                      _dims(planned.type(o).shape)) for i, o in enumerate(planned.outputs)]

    # the weights and constants: one blob, each array 64-byte aligned
    blob = bytearray()
    offsets = {}
    for i, sl in enumerate(plan.slots):
        if sl.kind in ("variable", "constant"):
            arr = variables.buffer(sl.ref) if sl.kind == "variable" else np.asarray(sl.ref)
            arr = np.ascontiguousarray(arr, dtype=sl.dtype)
            blob += b"\0" * ((-len(blob)) % _ALIGN)
            offsets[i] = len(blob)
            blob += arr.tobytes()
    blob += b"\0" * _ALIGN      # an empty blob still has a symbol

    with tempfile.TemporaryDirectory(prefix="graphnn-aot-") as tmp:
        weights_bin = os.path.join(tmp, "weights.bin")
        with open(weights_bin, "wb") as f:
            f.write(bytes(blob))
        weights_s = os.path.join(tmp, "weights.S")
        with open(weights_s, "w") as f:
            f.write(_WEIGHTS_ASM.format(path=weights_bin.replace("\\", "\\\\")))
        wrapper_c = os.path.join(tmp, "wrapper.c")
        single_types = (_CTYPES[inputs[0].dtype], _CTYPES[outputs[0].dtype]) \
            if len(inputs) == 1 and len(outputs) == 1 else ()
        header = os.path.join(out_dir, f"{name}.h")
        _write(header, _header_source(name, inputs, outputs, description, len(blob),
                                      cuda=target == "cuda"))
        cc = shlex.split(os.environ.get("CC", "cc"))
        library = os.path.join(out_dir, f"lib{name}.so")
        sources = [weights_s, wrapper_c]
        if target == "cuda":
            from codegen.cuda_backend import compile_ptx, render_module
            from . import aot_cuda
            cuda_source = render_module(desc)
            _write(os.path.join(out_dir, f"{name}.cu"), cuda_source)
            ptx = compile_ptx(cuda_source, arch)
            _write(os.path.join(out_dir, f"{name}.ptx"), ptx)
            ptx_path = os.path.join(tmp, "model.ptx")
            with open(ptx_path, "wb") as f:
                f.write(ptx.encode() + b"\0")
            ptx_s = os.path.join(tmp, "ptx.S")
            with open(ptx_s, "w") as f:
                f.write(_PTX_ASM.format(path=ptx_path.replace("\\", "\\\\")))
            with open(wrapper_c, "w") as f:
                f.write(aot_cuda.finish_launcher(aot_cuda.launcher_source(
                    plan, desc, offsets, single_types)))
            sources.append(ptx_s)
        else:
            with open(wrapper_c, "w") as f:
                f.write(_wrapper_source(plan, desc, inputs, outputs, offsets))
        objs = []
        for src in sources:
            obj = src + ".o"
            _run(cc + ["-O2", "-fPIC", "-I", out_dir, "-c", src, "-o", obj],
                 f"compiling {os.path.basename(src)}")
            objs.append(obj)
        if target == "cuda":
            _run(cc + ["-shared", "-o", library] + objs + ["-ldl", "-lpthread"],
                 f"linking {os.path.basename(library)}")
        else:
            build_library(desc, library, cpu=cpu, name=name, extra_objects=objs)
    single = len(inputs) == 1 and len(outputs) == 1 and inputs[0].dtype == "float32" \
        and outputs[0].dtype == "float32"
    _write(os.path.join(out_dir, "example.c"), _example_source(name, inputs, outputs, single))
    _write(os.path.join(out_dir, "Makefile"), _MAKEFILE.format(name=name))
    return AotLibrary(out_dir, library, header, inputs, outputs, len(blob))


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


_PTX_ASM = """\
/* the kernels' PTX (text, NUL-terminated) for cuModuleLoadData */
    .section .rodata
    .globl graphnn_model_ptx
    .hidden graphnn_model_ptx
    .type graphnn_model_ptx, @object
graphnn_model_ptx:
    .incbin "{path}"
    .section .note.GNU-stack,"",@progbits
"""


_WEIGHTS_ASM = """\
/* the model's weights and constants (read-only), 64-byte aligned */
    .section .rodata
    .balign 64
    .globl graphnn_model_weights
    .hidden graphnn_model_weights
    .type graphnn_model_weights, @object
graphnn_model_weights:
    .incbin "{path}"
    .section .note.GNU-stack,"",@progbits
"""


def _wrapper_source(plan, desc, inputs, outputs, offsets) -> str:
    lines = ["#include <stdint.h>", "#include <stdlib.h>", "",
             "extern void graphnn_entry(void **slots, int64_t *symbols);",
             "extern const unsigned char graphnn_model_weights[];", "",
             "int graphnn_model_run(const void *const *inputs, void *const *outputs, "
             "int64_t batch)", "{",
             f"    void *slots[{max(len(plan.slots), 1)}] = {{0}};",
             f"    void *temps[{max(len(plan.slots), 1)}] = {{0}};",
             "    int status = 0;",
             f"    int64_t symbols[{max(len(desc.symbols), 1)}] = {{batch}};",
             "    if (batch < 0) return -1;"]
    for i, sl in enumerate(plan.slots):
        if sl.kind == "input":
            lines.append(f"    slots[{i}] = (void *)inputs[{sl.ref}];")
        elif sl.kind == "output":
            lines.append(f"    slots[{i}] = outputs[{sl.ref}];")
        elif sl.kind in ("variable", "constant"):
            lines.append(f"    slots[{i}] = (void *)(graphnn_model_weights + {offsets[i]});")
        else:
            size = _size_expr(sl.size)
            item = np.dtype(sl.dtype).itemsize
            lines += [f"    {{ size_t bytes = ({size}) * {item} + 64;",
                      f"      temps[{i}] = aligned_alloc(64, (bytes + 63) / 64 * 64);",
                      f"      if (!temps[{i}]) {{ status = -2; goto done; }}",
                      f"      slots[{i}] = temps[{i}]; }}"]
    lines += ["    graphnn_entry(slots, symbols);", "done:",
              f"    for (int i = 0; i < {max(len(plan.slots), 1)}; ++i) free(temps[i]);",
              "    return status;", "}", ""]
    if len(inputs) == 1 and len(outputs) == 1:
        ti, to = _CTYPES[inputs[0].dtype], _CTYPES[outputs[0].dtype]
        lines += [f"int graphnn_model_predict(const {ti} *input, {to} *output, int64_t batch)",
                  "{", "    const void *ins[1] = {input};", "    void *outs[1] = {output};",
                  "    return graphnn_model_run(ins, outs, batch);", "}", ""]
    return "\n".join(lines)


def _shape_text(t: Port) -> str:
    return "(" + ", ".join("batch" if d == -1 else str(d) for d in t.shape) + ")"


def _header_source(name, inputs, outputs, description, weight_bytes, cuda=False) -> str:
    guard = f"GRAPHNN_{name.upper()}_H"
    lines = [f"/* {name}.h: a model compiled ahead of time by graphnn.", " *"]
    if description:
        lines += [f" * {line}" for line in description.splitlines()] + [" *"]
    lines += [" * Inputs (C arrays, row-major, contiguous):"]
    lines += [f" *   {i}: {t.name}: {t.dtype} {_shape_text(t)}" for i, t in enumerate(inputs)]
    lines += [" * Outputs (allocated by the caller):"]
    lines += [f" *   {i}: {t.name}: {t.dtype} {_shape_text(t)}" for i, t in enumerate(outputs)]
    lines += [f" * Weights: {weight_bytes} bytes, embedded in the library."]
    if cuda:
        lines += [" * Runs on the first GPU through the CUDA driver (libcuda.so.1, loaded on the",
                  " * first call; the weights are copied to the GPU once).  Functions return 0",
                  " * on success, -1 for a negative batch, -3 on a CUDA error (see",
                  " * graphnn_model_error()).", " */"]
    else:
        lines += [" * Threads: all cores (libgomp); set GRAPHNN_NUM_THREADS to limit them.",
                  " * Functions return 0 on success, -1 for a negative batch, -2 when memory",
                  " * for the intermediates cannot be allocated.  Each call allocates its own",
                  " * intermediates, so calls from several threads may run at once.", " */"]
    lines += [
              f"#ifndef {guard}", f"#define {guard}", "", "#include <stdint.h>", "",
              "#ifdef __cplusplus", 'extern "C" {', "#endif", ""]
    for i, t in enumerate(inputs):
        lines.append(f"#define GRAPHNN_INPUT{i}_PER_SAMPLE {t.per_sample}  /* {t.name} */")
    for i, t in enumerate(outputs):
        lines.append(f"#define GRAPHNN_OUTPUT{i}_PER_SAMPLE {t.per_sample}  /* {t.name} */")
    lines += ["", f"#define GRAPHNN_N_INPUTS {len(inputs)}",
              f"#define GRAPHNN_N_OUTPUTS {len(outputs)}", "",
              "/* All inputs and outputs, in the order above, for `batch` samples. */",
              "int graphnn_model_run(const void *const *inputs, void *const *outputs, "
              "int64_t batch);"]
    if cuda:
        lines += ["", "#define GRAPHNN_CUDA 1",
                  "/* Load the driver, kernels and weights now (else the first call does). */",
                  "int graphnn_model_init(void);",
                  "/* What the last CUDA error was. */", "const char *graphnn_model_error(void);"]
    if len(inputs) == 1 and len(outputs) == 1:
        ti, to = _CTYPES[inputs[0].dtype], _CTYPES[outputs[0].dtype]
        lines += ["", "/* The single input and output, for `batch` samples. */",
                  f"int graphnn_model_predict(const {ti} *input, {to} *output, int64_t batch);"]
    lines += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def _example_source(name, inputs, outputs, single: bool) -> str:
    if not single:
        return (f'/* example.c: this model has {len(inputs)} input(s) and {len(outputs)} '
                'output(s) or non-float32 data;\n   call graphnn_model_run() from '
                f'"{name}.h" directly. */\n#include "{name}.h"\nint main(void) {{ return 0; }}\n')
    return f"""\
/* example.c: run the model on a file of float32 inputs.
 *   ./example inputs.f32 outputs.f32
 * inputs.f32: batch x {inputs[0].per_sample} float32 values (raw, little-endian); the batch is
 * the file size divided by {4 * inputs[0].per_sample} bytes.  outputs.f32 receives
 * batch x {outputs[0].per_sample} float32 values. */
#include <stdio.h>
#include <stdlib.h>
#include "{name}.h"

int main(int argc, char **argv)
{{
    if (argc != 3) {{
        fprintf(stderr, "usage: %s INPUTS.f32 OUTPUTS.f32\\n", argv[0]);
        return 2;
    }}
    FILE *in = fopen(argv[1], "rb");
    if (!in) {{ perror(argv[1]); return 1; }}
    fseek(in, 0, SEEK_END);
    long bytes = ftell(in);
    fseek(in, 0, SEEK_SET);
    long per = (long)sizeof(float) * GRAPHNN_INPUT0_PER_SAMPLE;
    if (bytes < 0 || bytes % per != 0) {{
        fprintf(stderr, "%s: %ld bytes is not a whole number of samples of %ld bytes\\n",
                argv[1], bytes, per);
        return 1;
    }}
    long batch = bytes / per;
    float *x = malloc(bytes > 0 ? (size_t)bytes : 1);
    float *y = malloc((size_t)batch * GRAPHNN_OUTPUT0_PER_SAMPLE * sizeof(float) + 1);
    if (!x || !y) {{ fprintf(stderr, "out of memory\\n"); return 1; }}
    if (fread(x, 1, (size_t)bytes, in) != (size_t)bytes) {{ perror(argv[1]); return 1; }}
    fclose(in);
    int status = graphnn_model_predict(x, y, batch);
    if (status != 0) {{
        fprintf(stderr, "graphnn_model_predict failed: %d\\n", status);
#ifdef GRAPHNN_CUDA
        fprintf(stderr, "%s\\n", graphnn_model_error());
#endif
        return 1;
    }}
    FILE *out = fopen(argv[2], "wb");
    if (!out) {{ perror(argv[2]); return 1; }}
    size_t n = (size_t)batch * GRAPHNN_OUTPUT0_PER_SAMPLE;
    if (fwrite(y, sizeof(float), n, out) != n || fclose(out) != 0) {{ perror(argv[2]); return 1; }}
    free(x);
    free(y);
    return 0;
}}
"""


_MAKEFILE = """\
# Builds the example program against lib{name}.so (no Python needed).
CC ?= cc
CFLAGS ?= -O2

example: example.c {name}.h lib{name}.so
\t$(CC) $(CFLAGS) -o $@ example.c -L. -l{name} -Wl,-rpath,'$$ORIGIN'

clean:
\trm -f example

.PHONY: clean
"""
