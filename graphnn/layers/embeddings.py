"""Embedding: integer indices -> dense vectors (rows of a trainable table)."""
from __future__ import annotations

from typing import Optional

from .. import backend as K
from .. import constraints, initializers, regularizers
from ..engine.topology import Layer
from ..utils.generic_utils import serialize_object
from .core import _first


class Embedding(Layer):
    """``(batch, length)`` integer indices -> ``(batch, length, output_dim)``.

    Keras 2: ``Embedding(input_dim, output_dim, embeddings_initializer='uniform',
    embeddings_regularizer, activity_regularizer, embeddings_constraint, mask_zero=False,
    input_length=None)``; Keras 1: ``init``, ``W_regularizer``, ``W_constraint``, ``dropout``
    (drops whole rows of the table while training).  ``mask_zero`` makes index 0 padding: the
    output mask is ``inputs != 0`` (so ``input_dim`` should be the vocabulary size + 1).
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer=None,
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero: bool = False,
                 input_length: Optional[int] = None, init=None, W_regularizer=None,
                 W_constraint=None, dropout: float = 0.0, **kwargs):
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        if "dtype" not in kwargs and "input_dtype" not in kwargs:
            kwargs["dtype"] = "int32"  # indices (Keras 1 set input_dtype='int32')
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers.get(_first(embeddings_initializer, init,
                                                              "uniform"))
        self.embeddings_regularizer = regularizers.get(_first(embeddings_regularizer,
                                                              W_regularizer))
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(_first(embeddings_constraint, W_constraint))
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length
        self.dropout = float(dropout)

    def build(self, input_shape) -> None:
        self.embeddings = self.add_weight((self.input_dim, self.output_dim),
                                          self.embeddings_initializer, name="embeddings",
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.W = self.embeddings  # Keras 1 name
        self.built = True

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return K.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        if self.input_length is None:
            return tuple(input_shape) + (self.output_dim,)
        lengths = (self.input_length,) if not isinstance(self.input_length, (list, tuple)) \
            else tuple(self.input_length)
        in_lengths = tuple(input_shape[1:])
        if len(lengths) != len(in_lengths):
            raise ValueError('"input_length" is ' + str(self.input_length) + ", but received "
                             "input has shape " + str(tuple(input_shape)))
        for given, found in zip(lengths, in_lengths):
            if given is not None and found is not None and int(given) != int(found):
                raise ValueError('"input_length" is ' + str(self.input_length) + ", but "
                                 "received input has shape " + str(tuple(input_shape)))
        return (input_shape[0],) + tuple(f if f is not None else g
                                         for g, f in zip(lengths, in_lengths)) + \
            (self.output_dim,)

    def call(self, inputs, mask=None):
        if K.dtype(inputs) not in ("int32", "int64"):
            inputs = K.cast(inputs, "int32")
        table = self.embeddings
        if 0.0 < self.dropout < 1.0:
            retain = 1.0 - self.dropout
            keep = K.random_binomial((self.input_dim,), p=retain, dtype=table.dtype)
            dropped = table * K.expand_dims(keep, -1) * (1.0 / retain)
            return K.in_train_phase(lambda: K.gather(dropped, inputs),
                                    lambda: K.gather(table, inputs))
        return K.gather(table, inputs)

    def get_config(self) -> dict:
        config = {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": serialize_object(self.embeddings_regularizer),
            "activity_regularizer": serialize_object(self.activity_regularizer),
            "embeddings_constraint": serialize_object(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        }
        if self.dropout:
            config["dropout"] = self.dropout
        return dict(super().get_config(), **config)
