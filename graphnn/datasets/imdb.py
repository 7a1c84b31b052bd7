"""IMDB reviews from Keras's ``imdb.npz`` (word-index sequences), found locally."""
from __future__ import annotations

import json
from typing import Dict, Optional

import numpy as np

from ._files import find_file
from ._sequences import prepare


def load_data(path: str = "imdb.npz", num_words: Optional[int] = None, skip_top: int = 0,
              maxlen: Optional[int] = None, seed: int = 113, start_char: Optional[int] = 1,
              oov_char: Optional[int] = 2, index_from: int = 3, nb_words: Optional[int] = None):
    """``((x_train, y_train), (x_test, y_test))``, sequences as object arrays of lists, with
    Keras's arguments (Keras 1: ``nb_words``)."""
    num_words = num_words if num_words is not None else nb_words
    with np.load(find_file(path, "IMDB"), allow_pickle=True) as f:  # Keras's file: lists
        parts = [(f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])]
    out = []
    for k, (x, y) in enumerate(parts):
        out.append(prepare(x, y, num_words, skip_top, maxlen, seed if k == 0 else seed * 2,
                           start_char, oov_char, index_from))
    return tuple(out)


def get_word_index(path: str = "imdb_word_index.json") -> Dict[str, int]:
    with open(find_file(path, "IMDB word index")) as f:
        return json.load(f)
