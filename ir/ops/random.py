"""Counter-based random numbers (Philox-2x32-10): element ``i`` of a draw is a pure function of
``(i, seed, key)``, so every backend produces the same bits and no generator state is carried
between kernels.  ``key`` is a uint32 scalar input (the runtime's step counter), ``seed`` an attr."""
from __future__ import annotations

import numpy as np

from ..registry import OpDef, register
from ..types import TensorType, concrete

PHILOX_M = 0xD256D193
PHILOX_W = 0x9E3779B9
PHILOX_ROUNDS = 10


def philox(c0, c1, key):
    """numpy Philox-2x32-10 returning the first output word (uint32 arrays)."""
    c0 = np.asarray(c0, np.uint64) & 0xFFFFFFFF
    c1 = np.asarray(c1, np.uint64) & 0xFFFFFFFF
    k = np.asarray(key, np.uint64) & 0xFFFFFFFF
    for _ in range(PHILOX_ROUNDS):
        prod = c0 * np.uint64(PHILOX_M)
        hi, lo = prod >> np.uint64(32), prod & np.uint64(0xFFFFFFFF)
        c0, c1 = hi ^ k ^ c1, lo
        k = (k + np.uint64(PHILOX_W)) & np.uint64(0xFFFFFFFF)
    return c0.astype(np.uint32)


def philox_uniform(c0, c1, key):
    return (philox(c0, c1, key) >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)


def _infer(types, attrs):
    (k,) = types
    if k.shape != () or k.dtype != "uint32":
        raise ValueError(f"random_uniform's key must be a uint32 scalar, got {k}")
    return TensorType(tuple(attrs["shape"]), "float32")


def _ref(args, attrs, env):
    shape = concrete(attrs["shape"], env)
    n = int(np.prod(shape, dtype=np.int64))
    counter = np.arange(n, dtype=np.uint64)
    return philox_uniform(counter, attrs["seed"], args[0]).reshape(shape)


register(OpDef("random_uniform", _infer, _ref, None, "elementwise", cost=40,
               sample=lambda rng, dtype="float32": ([np.array(7, np.uint32)],
                                                    {"shape": (3, 37), "seed": 1234})))
