"""``graphnn.aot.compile(model, out_dir)``: a trained model's inference function as a shared
library with a C header, an example program and a Makefile (see ``runtime.aot``); the Python
API behind ``graphnn compile``."""
from __future__ import annotations

from runtime.aot import AotLibrary, build_inference_library

__all__ = ["compile", "AotLibrary"]

_CPUS = {"native": "host", "host": "host", "generic": "generic"}


def compile(model, out_dir: str, target: str = "cpu", cpu: str = "native",  # noqa: A001
            name: str = "model", arch: str = "sm_90") -> AotLibrary:
    """Write ``out_dir/lib<name>.so`` (weights embedded), ``<name>.h``, ``example.c`` and a
    ``Makefile`` for ``model``'s predict function.  ``cpu='native'`` uses every feature of this
    CPU; ``cpu='generic'`` targets a baseline x86-64 so the library runs on other machines.
    ``target='cuda'``: CUDA C and PTX (for ``arch``) of the kernels and a library whose host
    launcher runs them through the CUDA driver API (loaded at run time)."""
    if target not in ("cpu", "cuda"):
        raise ValueError(f"target must be 'cpu' or 'cuda', got {target!r}")
    if cpu not in _CPUS:
        raise ValueError(f"cpu must be one of {sorted(_CPUS)}, got {cpu!r}")
    f = model._make_predict_function()
    graph = (f._fn or f._build()).graph
    layers = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in model.layers)
    description = f"Model {model.name!r}: {layers}"
    return build_inference_library(graph, out_dir, cpu=_CPUS[cpu], name=name,
                                   description=description, target=target, arch=arch)
