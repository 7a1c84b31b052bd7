"""Utilities shared by the API: progress bars, array helpers, (de)serialization."""
from . import generic_utils, np_utils  # noqa: F401
from .generic_utils import (CustomObjectScope, Progbar, custom_object_scope,  # noqa: F401
                            get_custom_objects)
from .np_utils import to_categorical  # noqa: F401


def plot_model(*args, **kwargs):
    """See :func:`graphnn.utils.vis_utils.plot_model`."""
    from .vis_utils import plot_model as plot
    return plot(*args, **kwargs)
