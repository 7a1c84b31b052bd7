"""Persistent buffers for IR variables (weights, optimizer slots, counters).

The runtime owns the data: compiled programs read and update these arrays in place, and the API
reads them with :func:`get_value` / writes them with :func:`set_value` without recompiling.

A device runtime keeps its own copy of a variable between calls (GPU memory) through a *mirror*
(:func:`attach_mirror`): the host buffer stays the reference the API sees, and each side is
copied over only when the other one changed it — the device program calls :func:`to_device`
before a launch and :func:`device_wrote` after one; every host access here first pulls a newer
device copy back (:func:`buffer` also assumes the caller writes, so the device copy is refreshed
before the next launch).
"""
from __future__ import annotations

import itertools
import threading
import weakref
from typing import Dict, Protocol

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


class Mirror(Protocol):
    """A device copy of one variable (owned by a device runtime)."""

    def upload(self, host: np.ndarray) -> None: ...

    def download(self, host: np.ndarray) -> None: ...


_mirrors: Dict[int, Mirror] = {}
_device_newer: set = set()   # uids whose device copy holds writes the host has not seen
_host_newer: set = set()     # uids whose host buffer may hold writes the device has not seen


def attach_mirror(uid: int, mirror: Mirror) -> None:
    """Give variable ``uid`` a device copy (replacing another device's, after pulling its writes
    back); the device copy is filled before its first use."""
    with _lock:
        if _mirrors.get(uid) is mirror:
            return
        _pull(uid)
        _mirrors[uid] = mirror
        _host_newer.add(uid)


def mirror(uid: int):
    """The device copy of ``uid``, or None."""
    return _mirrors.get(uid)


def to_device(uid: int) -> None:
    """Called by a device program before it launches kernels that use ``uid``."""
    if uid in _host_newer:
        with _lock:
            if uid in _host_newer:
                _mirrors[uid].upload(_buffers[uid])
                _host_newer.discard(uid)


def device_wrote(uid: int) -> None:
    """Called by a device program after its kernels updated ``uid`` in device memory."""
    _device_newer.add(uid)


def _pull(uid: int) -> None:
    if uid in _device_newer:
        _mirrors[uid].download(_buffers[uid])
        _device_newer.discard(uid)


def buffer(uid: int) -> np.ndarray:
    """The live buffer (writes to it are seen by compiled code; a device copy is brought up to
    date first and refreshed before its next use)."""
    if uid in _mirrors:
        with _lock:
            _pull(uid)
            _host_newer.add(uid)
    return _buffers[uid]


def get_value(uid: int) -> np.ndarray:
    if uid in _device_newer:
        with _lock:
            _pull(uid)
    return _buffers[uid].copy()


def set_value(uid: int, value) -> None:
    buf = _buffers[uid]
    a = np.asarray(value, dtype=buf.dtype)
    if a.shape != buf.shape:
        raise ValueError(f"cannot assign a value of shape {a.shape} to a variable of shape {buf.shape}")
    with _lock:
        buf[...] = a
        _device_newer.discard(uid)
        if uid in _mirrors:
            _host_newer.add(uid)


def release(uid: int) -> None:
    with _lock:
        _buffers.pop(uid, None)
        _mirrors.pop(uid, None)
        _device_newer.discard(uid)
        _host_newer.discard(uid)


def release_when_collected(owner, uid: int) -> None:
    """Free the buffer when ``owner`` (the API-level variable) is garbage collected."""
    weakref.finalize(owner, release, uid)
