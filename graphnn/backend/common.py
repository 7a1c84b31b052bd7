"""Process-wide backend settings (float type, fuzz factor, image layout) and name counters."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, List

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
_UIDS: defaultdict = defaultdict(int)
_RESET_HOOKS: List[Callable[[], None]] = []


def floatx() -> str:
    """The default float dtype ('float32')."""
    return _FLOATX


def set_floatx(value: str) -> None:
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"Unknown floatx type: {value}")
    _FLOATX = str(value)


def epsilon() -> float:
    """The fuzz factor used to keep logs and divisions finite."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    return _IMAGE_DATA_FORMAT


def set_image_data_format(value: str) -> None:
    global _IMAGE_DATA_FORMAT
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"Unknown data_format: {value}")
    _IMAGE_DATA_FORMAT = value


def image_dim_ordering() -> str:
    """Keras 1 name of the image layout: 'tf' (channels last) or 'th' (channels first)."""
    return "tf" if _IMAGE_DATA_FORMAT == "channels_last" else "th"


def set_image_dim_ordering(value: str) -> None:
    if value not in ("tf", "th"):
        raise ValueError(f"Unknown dim_ordering: {value}")
    set_image_data_format("channels_last" if value == "tf" else "channels_first")


def backend() -> str:
    return "graphnn"


def get_uid(prefix: str = "") -> int:
    """Per-prefix counter behind Keras's automatic names (``dense_1``, ``dense_2`` ...)."""
    _UIDS[prefix] += 1
    return _UIDS[prefix]


def on_reset(hook: Callable[[], None]) -> Callable[[], None]:
    """Register state that ``clear_session`` must reset (variable names, learning phase ...)."""
    _RESET_HOOKS.append(hook)
    return hook


def reset_uids() -> None:
    """Keras 1: restart the automatic layer names at ``_1``."""
    _UIDS.clear()


def clear_session() -> None:
    """Keras 2: forget names, the learning phase and the random key (existing models keep working
    with the tensors they already hold)."""
    reset_uids()
    for hook in _RESET_HOOKS:
        hook()
