"""Primitive definitions; importing this package registers every primitive."""
from . import sources, elementwise, reduce, movement, matmul, random, gather, scan, window  # noqa: F401
