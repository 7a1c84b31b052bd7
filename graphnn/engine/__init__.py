"""The layer graph (topology), containers and the training engine."""
from .container import Container  # noqa: F401
from .topology import Input, InputLayer, InputSpec, Layer, Node, get_source_inputs  # noqa: F401
from .training import Model  # noqa: F401
