"""Reuters newswires from Keras's ``reuters.npz`` (x, y), found locally."""
from __future__ import annotations

import json
from typing import Dict, Optional

import numpy as np

from ._files import find_file
from ._sequences import prepare


def load_data(path: str = "reuters.npz", num_words: Optional[int] = None, skip_top: int = 0,
              maxlen: Optional[int] = None, test_split: float = 0.2, seed: int = 113,
              start_char: Optional[int] = 1, oov_char: Optional[int] = 2, index_from: int = 3,
              nb_words: Optional[int] = None):
    """``((x_train, y_train), (x_test, y_test))``: the last ``test_split`` of the shuffled
    wires is the test set."""
    num_words = num_words if num_words is not None else nb_words
    with np.load(find_file(path, "Reuters"), allow_pickle=True) as f:  # Keras's file: lists
        xs, labels = f["x"], f["y"]
    xs, labels = prepare(xs, labels, num_words, skip_top, maxlen, seed, start_char, oov_char,
                         index_from)
    split = int(len(xs) * (1 - test_split))
    return (xs[:split], labels[:split]), (xs[split:], labels[split:])


def get_word_index(path: str = "reuters_word_index.json") -> Dict[str, int]:
    with open(find_file(path, "Reuters word index")) as f:
        return json.load(f)
