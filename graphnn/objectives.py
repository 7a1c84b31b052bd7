"""Keras 1 name of :mod:`graphnn.losses`."""
from .losses import *  # noqa: F401,F403
from .losses import _ALL, deserialize, get, serialize  # noqa: F401
