"""Runs compiled programs: variable buffers, the compile cache, program execution."""
from .function import Function, compile_function  # noqa: F401
