"""Shared by the IMDB and Reuters loaders: Keras's index shifting, skipping and filtering."""
from __future__ import annotations

from typing import Optional

import numpy as np


def prepare(xs, labels, num_words: Optional[int], skip_top: int, maxlen: Optional[int],
            seed: int, start_char: Optional[int], oov_char: Optional[int], index_from: int):
    """Shuffle with ``seed``; prepend ``start_char``; shift indices by ``index_from``; drop
    sequences longer than ``maxlen``; words outside ``[skip_top, num_words)`` become
    ``oov_char`` (or are removed when it is None)."""
    order = np.random.RandomState(seed).permutation(len(xs))
    xs = [list(xs[i]) for i in order]
    labels = np.asarray(labels)[order]
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]
    if maxlen:
        keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
        if not keep:
            raise ValueError("After filtering for sequences shorter than maxlen=" + str(maxlen) +
                             ", no sequence was kept. Increase maxlen.")
        xs, labels = [xs[i] for i in keep], labels[keep]
    if not num_words:
        num_words = max(max(x) for x in xs if x) + 1 if xs else 0
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    out = np.empty(len(xs), dtype=object)
    out[:] = xs
    return out, labels
