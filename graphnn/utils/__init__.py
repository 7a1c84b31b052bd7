"""Utilities shared by the API: progress bars, array helpers, (de)serialization."""
from . import generic_utils, np_utils  # noqa: F401
from .generic_utils import Progbar  # noqa: F401
from .np_utils import to_categorical  # noqa: F401
