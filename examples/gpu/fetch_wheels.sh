#!/usr/bin/env bash
# Download, on a machine with network, what examples/gpu_check.sh installs on a GPU machine
# without one: the pycuda source distribution (built there against its CUDA), pycuda's
# pure-Python dependencies and build tools, and graphnn's own dependencies and pytest, as
# wheels for the GPU machine's Python (default 3.12, x86-64 Linux).
#
#   examples/gpu/fetch_wheels.sh [DIR]      # DIR defaults to $GRAPHNN_GPU_WHEELS or .gpu-wheels
#
# Copy DIR to the GPU machine beside the checkout and run examples/gpu_check.sh --wheels DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:-${GRAPHNN_GPU_WHEELS:-$here/../../.gpu-wheels}}"
pyver="${GRAPHNN_GPU_PYTHON_VERSION:-3.12}"
arch="${GRAPHNN_GPU_ARCH:-x86_64}"
pip="${PIP:-python3 -m pip}"
mkdir -p "$dest"
# pycuda is built on the GPU machine (its CUDA version, no curand): the source distribution
$pip download --no-deps --no-binary pycuda -d "$dest" pycuda
# wheels for the GPU machine's interpreter: pycuda's run and build requirements
# (setup.py: pytools, platformdirs, mako; pyproject: setuptools, wheel, numpy) and graphnn's
$pip download --only-binary=:all: --python-version "$pyver" --implementation cp \
    --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" \
    --platform "manylinux_2_28_$arch" --platform any -d "$dest" \
    "pytools>=2011.2" "platformdirs>=2.2.0" mako setuptools wheel \
    "numpy>=1.24" "networkx>=2.8" "llvmlite>=0.42" "h5py>=3.0" "pyyaml>=5.4" pytest
echo "fetch_wheels: $(ls "$dest" | wc -l) files in $dest"
