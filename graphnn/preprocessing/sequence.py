"""Sequence helpers (Keras ``preprocessing.sequence``): padding and skip-gram pairs."""
from __future__ import annotations

import random
from typing import List, Optional, Sequence, Tuple

import numpy as np


def pad_sequences(sequences: Sequence, maxlen: Optional[int] = None, dtype: str = "int32",
                  padding: str = "pre", truncating: str = "pre", value: float = 0.0) -> np.ndarray:
    """Lists of varying length -> a ``(n, maxlen)`` array; longer ones lose their start
    (``truncating='pre'``) or end, shorter ones are filled with ``value`` before (``'pre'``) or
    after.  Items may themselves be arrays (the trailing shape is kept)."""
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    lengths = []
    for x in sequences:
        if not hasattr(x, "__len__"):
            raise ValueError("`sequences` must be a list of iterables. Found non-iterable: " +
                             str(x))
        lengths.append(len(x))
    num_samples = len(sequences)
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    sample_shape: tuple = ()
    for s in sequences:
        if len(s) > 0:
            sample_shape = np.asarray(s).shape[1:]
            break
    x = np.full((num_samples, maxlen) + sample_shape, value, dtype=dtype)
    for idx, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        if truncating == "pre":
            trunc = s[-maxlen:]
        elif truncating == "post":
            trunc = s[:maxlen]
        else:
            raise ValueError('Truncating type "%s" not understood' % truncating)
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError("Shape of sample %s of sequence at position %s is different from "
                             "expected shape %s" % (trunc.shape[1:], idx, sample_shape))
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        elif padding == "pre":
            x[idx, -len(trunc):] = trunc
        else:
            raise ValueError('Padding type "%s" not understood' % padding)
    return x


def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """Probability of keeping word rank ``i`` under a Zipf distribution (word2vec's
    subsampling of frequent words)."""
    gamma = 0.577
    rank = np.arange(size)
    rank[0] = 1
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(sequence: Sequence[int], vocabulary_size: int, window_size: int = 4,
              negative_samples: float = 1.0, shuffle: bool = True, categorical: bool = False,
              sampling_table=None, seed: Optional[int] = None) -> Tuple[List, List]:
    """(word, context) pairs within ``window_size`` labelled 1, plus random negative pairs
    labelled 0 (index 0 is reserved and skipped)."""
    couples, labels = [], []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < random.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([wi, sequence[j]])
                labels.append([0, 1] if categorical else 1)
    if negative_samples > 0 and couples:
        num_negative = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [[words[i % len(words)], random.randint(1, vocabulary_size - 1)]
                    for i in range(num_negative)]
        labels += [[1, 0] if categorical else 0] * num_negative
    if shuffle:
        if seed is None:
            seed = random.randint(0, 10 ** 7)
        random.Random(seed).shuffle(couples)
        random.Random(seed).shuffle(labels)
    return couples, labels
