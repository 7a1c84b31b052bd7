"""Image augmentation (Keras ``preprocessing.image``): ``ImageDataGenerator`` and ``flow``.

Geometric transforms are one affine map about the image centre (rotation, shifts, shear, zoom)
sampled with nearest-neighbour interpolation, as Keras did with ``order=0``; implemented in numpy
so no SciPy is needed.  Images are ``(rows, cols, channels)`` (``channels_last``) or
``(channels, rows, cols)``.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional, Tuple

import numpy as np

from .. import backend as K


def transform_matrix_offset_center(matrix: np.ndarray, x: int, y: int) -> np.ndarray:
    """``matrix`` applied about the image centre instead of the corner."""
    o_x, o_y = float(x) / 2 + 0.5, float(y) / 2 + 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return offset @ matrix @ reset


def _source_index(coords: np.ndarray, size: int, fill_mode: str) -> Tuple[np.ndarray, np.ndarray]:
    """Nearest source index per output pixel, and where it falls outside (for 'constant')."""
    idx = np.rint(coords).astype(np.int64)
    outside = (idx < 0) | (idx >= size)
    if fill_mode == "nearest":
        idx = np.clip(idx, 0, size - 1)
    elif fill_mode == "wrap":
        idx = np.mod(idx, size)
    elif fill_mode == "reflect":
        period = 2 * size
        idx = np.mod(idx, period)
        idx = np.where(idx >= size, period - 1 - idx, idx)
    elif fill_mode == "constant":
        idx = np.clip(idx, 0, size - 1)
    else:
        raise ValueError("Invalid fill_mode: " + str(fill_mode) +
                         "; expected 'constant', 'nearest', 'reflect' or 'wrap'.")
    return idx, outside


def apply_transform(x: np.ndarray, transform_matrix: np.ndarray, channel_axis: int = 0,
                    fill_mode: str = "nearest", cval: float = 0.0) -> np.ndarray:
    """Output pixel ``(r, c)`` takes input pixel ``M @ (r, c, 1)`` (rows first, as Keras)."""
    x = np.rollaxis(x, channel_axis, 0)
    rows, cols = x.shape[1], x.shape[2]
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    m = transform_matrix
    src_r = m[0, 0] * r + m[0, 1] * c + m[0, 2]
    src_c = m[1, 0] * r + m[1, 1] * c + m[1, 2]
    ri, r_out = _source_index(src_r, rows, fill_mode)
    ci, c_out = _source_index(src_c, cols, fill_mode)
    out = x[:, ri, ci]
    if fill_mode == "constant":
        out = np.where((r_out | c_out)[None], np.asarray(cval, dtype=x.dtype), out)
    return np.rollaxis(out, 0, channel_axis + 1)


def flip_axis(x: np.ndarray, axis: int) -> np.ndarray:
    return np.flip(x, axis=axis).copy()


def random_channel_shift(x: np.ndarray, intensity: float, channel_axis: int = 0) -> np.ndarray:
    x = np.rollaxis(x, channel_axis, 0)
    lo, hi = np.min(x), np.max(x)
    x = np.stack([np.clip(ch + np.random.uniform(-intensity, intensity), lo, hi) for ch in x])
    return np.rollaxis(x, 0, channel_axis + 1)


class ImageDataGenerator:
    """Real-time augmentation and normalization of image batches.  ``fit(x)`` computes the
    statistics for the feature-wise options; ``flow(x, y)`` yields transformed batches
    forever (use it with ``fit_generator``)."""

    def __init__(self, featurewise_center: bool = False, samplewise_center: bool = False,
                 featurewise_std_normalization: bool = False,
                 samplewise_std_normalization: bool = False, zca_whitening: bool = False,
                 zca_epsilon: float = 1e-6, rotation_range: float = 0.0,
                 width_shift_range: float = 0.0, height_shift_range: float = 0.0,
                 shear_range: float = 0.0, zoom_range=0.0, channel_shift_range: float = 0.0,
                 fill_mode: str = "nearest", cval: float = 0.0, horizontal_flip: bool = False,
                 vertical_flip: bool = False, rescale: Optional[float] = None,
                 preprocessing_function: Optional[Callable] = None,
                 data_format: Optional[str] = None, dim_ordering: Optional[str] = None):
        if data_format is None and dim_ordering is not None:
            data_format = {"tf": "channels_last", "th": "channels_first"}.get(dim_ordering)
        data_format = data_format or K.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("`data_format` should be `\"channels_last\"` (channel after row and "
                             "column) or `\"channels_first\"` (channel before row and column). "
                             "Received arg: " + str(data_format))
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening, self.zca_epsilon = zca_whitening, zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.shear_range = shear_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode, self.cval = fill_mode, cval
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.data_format = data_format
        if data_format == "channels_first":
            self.channel_axis, self.row_axis, self.col_axis = 1, 2, 3
        else:
            self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        if np.isscalar(zoom_range):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif len(zoom_range) == 2:
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError("`zoom_range` should be a float or a tuple or list of two floats. "
                             "Received arg: " + str(zoom_range))
        self.mean = self.std = self.principal_components = None

    # --- per image ------------------------------------------------------------------------------
    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Normalization of one image (rescale, sample-wise then feature-wise statistics)."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x = x * self.rescale
        if self.samplewise_center:
            x = x - np.mean(x)
        if self.samplewise_std_normalization:
            x = x / (np.std(x) + K.epsilon())
        if self.featurewise_center:
            if self.mean is None:
                raise ValueError("This ImageDataGenerator specifies `featurewise_center`, but "
                                 "it hasn't been fit on any training data. Fit it first by "
                                 "calling `.fit(numpy_data)`.")
            x = x - self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                raise ValueError("This ImageDataGenerator specifies "
                                 "`featurewise_std_normalization`, but it hasn't been fit on any "
                                 "training data. Fit it first by calling `.fit(numpy_data)`.")
            x = x / (self.std + K.epsilon())
        if self.zca_whitening:
            if self.principal_components is None:
                raise ValueError("This ImageDataGenerator specifies `zca_whitening`, but it "
                                 "hasn't been fit on any training data. Fit it first by calling "
                                 "`.fit(numpy_data)`.")
            flat = np.reshape(x, (1, -1)) @ self.principal_components
            x = np.reshape(flat, x.shape)
        return x

    def random_transform(self, x: np.ndarray, seed: Optional[int] = None) -> np.ndarray:
        """One random augmentation of one image (no batch axis)."""
        row_axis, col_axis, channel_axis = self.row_axis - 1, self.col_axis - 1, \
            self.channel_axis - 1
        if seed is not None:
            np.random.seed(seed)
        theta = np.deg2rad(np.random.uniform(-self.rotation_range, self.rotation_range)) \
            if self.rotation_range else 0.0
        tx = np.random.uniform(-self.height_shift_range, self.height_shift_range) * \
            x.shape[row_axis] if self.height_shift_range else 0.0
        ty = np.random.uniform(-self.width_shift_range, self.width_shift_range) * \
            x.shape[col_axis] if self.width_shift_range else 0.0
        shear = np.random.uniform(-self.shear_range, self.shear_range) if self.shear_range \
            else 0.0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx = zy = 1.0
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        matrix = np.eye(3)
        if theta:
            matrix = matrix @ np.array([[np.cos(theta), -np.sin(theta), 0],
                                        [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
        if tx or ty:
            matrix = matrix @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        if shear:
            matrix = matrix @ np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0],
                                        [0, 0, 1]])
        if zx != 1 or zy != 1:
            matrix = matrix @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
        if not np.array_equal(matrix, np.eye(3)):
            h, w = x.shape[row_axis], x.shape[col_axis]
            matrix = transform_matrix_offset_center(matrix, h, w)
            x = apply_transform(x, matrix, channel_axis, fill_mode=self.fill_mode, cval=self.cval)
        if self.channel_shift_range:
            x = random_channel_shift(x, self.channel_shift_range, channel_axis)
        if self.horizontal_flip and np.random.random() < 0.5:
            x = flip_axis(x, col_axis)
        if self.vertical_flip and np.random.random() < 0.5:
            x = flip_axis(x, row_axis)
        return x

    # --- data sets --------------------------------------------------------------------------------
    def fit(self, x, augment: bool = False, rounds: int = 1, seed: Optional[int] = None) -> None:
        """Statistics for feature-wise centering, normalization and ZCA whitening."""
        x = np.asarray(x, dtype=K.floatx())
        if x.ndim != 4:
            raise ValueError("Input to `.fit()` should have rank 4. Got array with shape: " +
                             str(x.shape))
        if seed is not None:
            np.random.seed(seed)
        if augment:
            x = np.concatenate([np.stack([self.random_transform(img) for img in x])
                                for _ in range(rounds)])
        axes = (0, self.row_axis, self.col_axis)
        if self.featurewise_center:
            self.mean = np.mean(x, axis=axes, keepdims=True)[0]
            x = x - self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=axes, keepdims=True)[0]
            x = x / (self.std + K.epsilon())
        if self.zca_whitening:
            flat = np.reshape(x, (x.shape[0], -1))
            sigma = flat.T @ flat / flat.shape[0]
            u, s, _ = np.linalg.svd(sigma)
            self.principal_components = (u * (1.0 / np.sqrt(s + self.zca_epsilon))) @ u.T

    def flow(self, x, y=None, batch_size: int = 32, shuffle: bool = True,
             seed: Optional[int] = None) -> "NumpyArrayIterator":
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, seed=seed)


class Iterator:
    """Batches of indices over ``n`` samples, reshuffled each epoch (seeded per batch count, so a
    seed reproduces the whole stream); safe to call ``next`` from several threads."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: Optional[int]):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self._order: Optional[np.ndarray] = None

    def reset(self) -> None:
        self.batch_index = 0

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def _next_indices(self) -> np.ndarray:
        with self.lock:
            if self.batch_index == 0:
                if self.shuffle:
                    rng = np.random.RandomState(None if self.seed is None
                                                else self.seed + self.total_batches_seen)
                    self._order = rng.permutation(self.n)
                else:
                    self._order = np.arange(self.n)
            start = self.batch_index * self.batch_size
            idx = self._order[start:start + self.batch_size]
            self.batch_index = self.batch_index + 1 if start + self.batch_size < self.n else 0
            self.total_batches_seen += 1
            return idx

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    def next(self):
        raise NotImplementedError


class NumpyArrayIterator(Iterator):
    """``ImageDataGenerator.flow``: transformed and standardized batches of ``x`` (and ``y``)."""

    def __init__(self, x, y, image_data_generator: ImageDataGenerator, batch_size: int = 32,
                 shuffle: bool = False, seed: Optional[int] = None):
        if y is not None and len(x) != len(y):
            raise ValueError("X (images tensor) and y (labels) should have the same length. "
                             "Found: X.shape = %s, y.shape = %s" % (np.asarray(x).shape,
                                                                   np.asarray(y).shape))
        self.x = np.asarray(x, dtype=K.floatx())
        if self.x.ndim != 4:
            raise ValueError("Input data in `NumpyArrayIterator` should have rank 4. You passed "
                             "an array with shape", self.x.shape)
        self.y = np.asarray(y) if y is not None else None
        self.image_data_generator = image_data_generator
        self._rng = np.random.RandomState(seed)
        super().__init__(len(self.x), batch_size, shuffle, seed)

    def next(self):
        idx = self._next_indices()
        gen = self.image_data_generator
        batch = np.zeros((len(idx),) + self.x.shape[1:], dtype=K.floatx())
        for i, j in enumerate(idx):
            seed = int(self._rng.randint(0, 2 ** 31 - 1)) if self.seed is not None else None
            batch[i] = gen.standardize(gen.random_transform(self.x[j], seed=seed))
        if self.y is None:
            return batch
        return batch, self.y[idx]
