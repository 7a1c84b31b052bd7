"""Text helpers (Keras ``preprocessing.text``): word splitting, hashing, ``Tokenizer``."""
from __future__ import annotations

import hashlib
from collections import OrderedDict, defaultdict
from typing import Callable, Dict, Iterable, List, Optional, Union

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text: str, filters: str = DEFAULT_FILTERS, lower: bool = True,
                          split: str = " ") -> List[str]:
    """Lower-case, turn every filtered character into ``split``, split, drop empty words."""
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


def hashing_trick(text: str, n: int, hash_function: Union[None, str, Callable] = None,
                  filters: str = DEFAULT_FILTERS, lower: bool = True,
                  split: str = " ") -> List[int]:
    """Words -> indices in ``[1, n)`` by hashing (0 is reserved).  Python's ``hash`` differs
    between runs; ``hash_function='md5'`` is stable."""
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        def hash_function(w):
            return int(hashlib.md5(w.encode()).hexdigest(), 16)
    seq = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    return [(hash_function(w) % (n - 1) + 1) for w in seq]


def one_hot(text: str, n: int, filters: str = DEFAULT_FILTERS, lower: bool = True,
            split: str = " ") -> List[int]:
    """Keras's name for ``hashing_trick`` with Python's ``hash``."""
    return hashing_trick(text, n, hash_function=hash, filters=filters, lower=lower, split=split)


class Tokenizer:
    """Word counts and a word index (1 = most frequent) from texts; texts to index sequences or
    to ``(n, num_words)`` matrices (binary, count, freq, tfidf).  Only the ``num_words - 1``
    most frequent words are used (Keras 1: ``nb_words``)."""

    def __init__(self, num_words: Optional[int] = None, filters: str = DEFAULT_FILTERS,
                 lower: bool = True, split: str = " ", char_level: bool = False,
                 oov_token: Optional[str] = None, nb_words: Optional[int] = None, **kwargs):
        if kwargs:
            raise TypeError("Unrecognized keyword arguments: " + str(kwargs))
        self.num_words = num_words if num_words is not None else nb_words
        self.word_counts: "OrderedDict[str, int]" = OrderedDict()
        self.word_docs: Dict[str, int] = defaultdict(int)
        self.filters, self.split, self.lower = filters, split, lower
        self.char_level = char_level
        self.oov_token = oov_token
        self.document_count = 0
        self.word_index: Dict[str, int] = {}
        self.index_docs: Dict[int, int] = defaultdict(int)

    @property
    def nb_words(self) -> Optional[int]:  # Keras 1 name
        return self.num_words

    def _words(self, text) -> List[str]:
        if self.char_level or isinstance(text, list):
            return [t.lower() for t in text] if self.lower else list(text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts: Iterable) -> None:
        for text in texts:
            self.document_count += 1
            seq = self._words(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        ordered = sorted(self.word_counts.items(), key=lambda kv: kv[1], reverse=True)  # stable
        words = ([self.oov_token] if self.oov_token is not None else []) + \
            [w for w, _ in ordered if w != self.oov_token]
        self.word_index = {w: i + 1 for i, w in enumerate(words)}
        self.index_docs = defaultdict(int)
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences: Iterable[Iterable[int]]) -> None:
        """Document frequencies for ``tfidf`` when the input is already index sequences."""
        self.document_count += len(sequences) if hasattr(sequences, "__len__") else 0
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts: Iterable) -> List[List[int]]:
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts: Iterable):
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for text in texts:
            vect = []
            for w in self._words(text):
                i = self.word_index.get(w)
                if i is not None and (not self.num_words or i < self.num_words):
                    vect.append(i)
                elif oov is not None:
                    vect.append(oov)
            yield vect

    def texts_to_matrix(self, texts: Iterable, mode: str = "binary") -> np.ndarray:
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode: str = "binary") -> np.ndarray:
        if not self.num_words:
            if not self.word_index:
                raise ValueError("Specify a dimension (num_words argument), or fit on some "
                                 "text data first.")
            num_words = len(self.word_index) + 1
        else:
            num_words = self.num_words
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")
        if mode not in ("binary", "count", "tfidf", "freq"):
            raise ValueError("Unknown vectorization mode:", mode)
        x = np.zeros((len(sequences), num_words))
        for i, seq in enumerate(sequences):
            if not seq:
                continue
            counts: Dict[int, int] = defaultdict(int)
            for j in seq:
                if j < num_words:
                    counts[j] += 1
            for j, c in counts.items():
                if mode == "count":
                    x[i][j] = c
                elif mode == "freq":
                    x[i][j] = c / len(seq)
                elif mode == "binary":
                    x[i][j] = 1
                else:
                    tf = 1 + np.log(c)
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[i][j] = tf * idf
        return x
