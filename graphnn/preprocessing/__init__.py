"""Data preparation (Keras ``preprocessing``): sequences, text, images."""
from . import image, sequence, text  # noqa: F401
