#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, nvcc and a CUDA driver (network not needed),
#   1. make a venv (.gpu-venv, with the system's packages) and install what is missing from a
#      folder of files made by examples/gpu/fetch_wheels.sh: graphnn's dependencies, pytest, and
#      pycuda built from its source distribution against this machine's CUDA (no curand);
#   2. run the GPU tests (every op's CUDA C, a train step and mnist_mlp on GRAPHNN_DEVICE=cuda
#      against the CPU, the CUDA renderer and GEMM tests through the driver);
#   3. benchmark (examples/gpu/bench.py): the MLP and CNN train steps against PyTorch eager on
#      the same GPU when torch is importable, and the generated SGEMM against torch.matmul at
#      4096^3 in float32.
#
#   examples/gpu_check.sh [--wheels DIR] [--no-tests] [--no-bench] [--budget SECONDS]
#                         [--build-only]
# DIR defaults to $GRAPHNN_GPU_WHEELS; PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "gpu_check: $*" >&2; exit 2; }
say() { echo "gpu_check: $*" >&2; }

wheels="${GRAPHNN_GPU_WHEELS:-}" tests=1 bench=1 budget=2 build_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) [ $# -ge 2 ] || die "--wheels needs a folder"; wheels="$2"; shift 2 ;;
        --wheels=*) wheels="${1#*=}"; shift ;;
        --no-tests) tests=0; shift ;;
        --no-bench) bench=0; shift ;;
        --budget) [ $# -ge 2 ] || die "--budget needs seconds"; budget="$2"; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -z "$wheels" ] || [ -d "$wheels" ] || die "wheel folder '$wheels' does not exist"
[ -z "$wheels" ] || wheels="$(cd "$wheels" && pwd)"

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "no Python interpreter '$python' (set PYTHON)"
nvcc="$(command -v nvcc || true)"
[ -z "$nvcc" ] || nvcc="$(readlink -f "$nvcc")"   # through symlinks to the toolkit
[ -n "$nvcc" ] || die "nvcc is not on PATH: graphnn compiles its kernels with the CUDA toolkit's nvcc"
# the toolkit: $CUDA_HOME / $CUDA_PATH, beside nvcc, or /usr/local/cuda (nvcc may be a wrapper)
cuda_root="${CUDA_HOME:-${CUDA_PATH:-}}"
for cand in "$cuda_root" "$(dirname "$nvcc")/.." /usr/local/cuda; do
    if [ -n "$cand" ] && [ -f "$cand/include/cuda.h" ]; then cuda_root="$(cd "$cand" && pwd)"; break; fi
done
[ -f "$cuda_root/include/cuda.h" ] || die "CUDA toolkit headers (include/cuda.h) not found: set CUDA_HOME"
if [ "$build_only" = 0 ]; then
    "$python" -c "import ctypes; ctypes.CDLL('libcuda.so.1')" 2>/dev/null \
        || die "the CUDA driver (libcuda.so.1) cannot be loaded: no NVIDIA driver on this machine"
fi

venv=.gpu-venv
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv (with the system's site packages)"
    "$python" -m venv --system-site-packages "$venv"
fi
py="$venv/bin/python"
pip_offline() {
    [ -n "$wheels" ] || die "missing Python packages ($*) and no wheel folder: run \
examples/gpu/fetch_wheels.sh where there is network and pass its folder with --wheels DIR"
    "$py" -m pip install -q --no-index --find-links "$wheels" "$@"
}

# graphnn's dependencies and pytest
missing=()
for pair in numpy:numpy networkx:networkx llvmlite:llvmlite h5py:h5py yaml:pyyaml pytest:pytest; do
    "$py" -c "import ${pair%%:*}" 2>/dev/null || missing+=("${pair#*:}")
done
[ ${#missing[@]} = 0 ] || { say "installing ${missing[*]}"; pip_offline "${missing[@]}"; }

# pycuda, built here against this CUDA
if ! "$py" -c "import pycuda" 2>/dev/null; then
    [ -n "$wheels" ] || die "pycuda is not installed and no wheel folder was given: run \
examples/gpu/fetch_wheels.sh where there is network and pass its folder with --wheels DIR"
    sdist="$(ls "$wheels"/pycuda-*.tar.gz 2>/dev/null | sort | tail -1)"
    [ -n "$sdist" ] || die "no pycuda-*.tar.gz in $wheels (examples/gpu/fetch_wheels.sh downloads it)"
    inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    [ -f "$inc/Python.h" ] || die "Python.h not found in $inc: pycuda's build needs the Python \
development headers (e.g. the python3-dev package)"
    say "building $(basename "$sdist") against $cuda_root (a few minutes)"
    pip_offline setuptools wheel "numpy>=1.24" "pytools>=2011.2" "platformdirs>=2.2.0" mako
    build="$(mktemp -d)"
    # pycuda links -lcuda: the toolkit's stub, else the driver's libcuda.so.1 under that name
    libdirs="$cuda_root/lib64/stubs,$cuda_root/lib64,$cuda_root/lib/stubs,$cuda_root/lib"
    if ! ls "$cuda_root"/lib64/stubs/libcuda.so "$cuda_root"/lib/stubs/libcuda.so \
            "$cuda_root"/lib64/libcuda.so >/dev/null 2>&1; then
        driver_lib="$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')"
        [ -n "$driver_lib" ] || die "pycuda links against libcuda: no libcuda.so stub in \
$cuda_root and no driver library libcuda.so.1 (install the NVIDIA driver or the full toolkit)"
        mkdir -p "$build/libcuda" && ln -s "$driver_lib" "$build/libcuda/libcuda.so"
        libdirs="$build/libcuda,$libdirs"
    fi
    tar xzf "$sdist" -C "$build"
    (cd "$build"/pycuda-* && "$OLDPWD/$py" configure.py --cuda-root="$cuda_root" \
         --cudadrv-lib-dir="$libdirs" --no-cuda-enable-curand >/dev/null \
     && "$OLDPWD/$py" -m pip install -q --no-index --no-build-isolation \
         --find-links "$wheels" .) || die "pycuda build failed (build tree kept in $build)"
    rm -rf "$build"
fi
if [ "$build_only" = 1 ]; then
    "$py" -c "import pycuda, sys; print('gpu_check: pycuda', pycuda.VERSION_TEXT, 'for', sys.version.split()[0])"
    exit 0
fi
"$py" -c "from runtime.cuda_device import backend; b = backend(); print('gpu_check:', b.device_name, b.arch)" \
    || die "GRAPHNN_DEVICE=cuda is not usable here (message above)"

status=0
if [ "$tests" = 1 ]; then
    say "GPU tests"
    GRAPHNN_TEST_GPU=1 "$py" -m pytest -q -rs tests/test_cuda_device.py \
        tests/test_ops.py -k "cuda" tests/test_codegen_render.py tests/test_gemm.py || status=1
fi
if [ "$bench" = 1 ]; then
    say "benchmarks"
    "$py" examples/gpu/bench.py --budget "$budget" || status=1
fi
exit $status
