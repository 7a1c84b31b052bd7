"""Persistent buffers for IR variables (weights, optimizer slots, counters).

The runtime owns the data: compiled programs read and update these arrays in place, and the API
reads them with :func:`get_value` / writes them with :func:`set_value` without recompiling.
"""
from __future__ import annotations

import itertools
import threading
import weakref
from typing import Dict

import numpy as np

_uids = itertools.count(1)
_lock = threading.Lock()
_buffers: Dict[int, np.ndarray] = {}


def _aligned_empty(shape, dtype, align=64) -> np.ndarray:
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n + align, np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + n].view(dtype).reshape(shape)


def new_buffer(value, dtype) -> int:
    """Store a copy of ``value`` in a new 64-byte aligned buffer; return its uid."""
    a = np.asarray(value, dtype=dtype)
    buf = _aligned_empty(a.shape, a.dtype)
    buf[...] = a
    with _lock:
        uid = next(_uids)
        _buffers[uid] = buf
    return uid


def buffer(uid: int) -> np.ndarray:
    """The live buffer (writes to it are seen by compiled code)."""
    return _buffers[uid]


def get_value(uid: int) -> np.ndarray:
    return _buffers[uid].copy()


def set_value(uid: int, value) -> None:
    buf = _buffers[uid]
    a = np.asarray(value, dtype=buf.dtype)
    if a.shape != buf.shape:
        raise ValueError(f"cannot assign a value of shape {a.shape} to a variable of shape {buf.shape}")
    buf[...] = a


def release(uid: int) -> None:
    with _lock:
        _buffers.pop(uid, None)


def release_when_collected(owner, uid: int) -> None:
    """Free the buffer when ``owner`` (the API-level variable) is garbage collected."""
    weakref.finalize(owner, release, uid)
