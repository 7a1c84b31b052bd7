"""Code generation: the backend-neutral kernel description (``kernel``), its lowering and the
LLVM (CPU) and CUDA renderers.  Kept free of imports so ``import codegen`` stays cheap."""
