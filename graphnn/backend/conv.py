"""Convolution, pooling, resizing and padding of images, written on existing IR primitives.

No convolution primitive exists: a convolution is im2col -- the ``im2col`` movement op, the padded
input's strided window for each kernel tap side by side along the channel axis (its adjoint
``col2im`` is the input gradient) -- followed by ONE ``matmul`` with the
kernel viewed as ``(taps * in_channels, out_channels)``, so the compiler's GEMM generator does the
arithmetic and fuses bias and activation into its epilogue.  Pooling reduces the same patches
over the taps (the maximum as the first maximal tap, selected by ``argmax``); a transposed
convolution is the convolution of the input spread
out by a strided ``pad``.  Gradients come from the VJPs of those primitives.

Everything is computed channels-last; channels-first inputs are transposed on entry and outputs
back on exit (movement ops, inlined into the neighbouring kernels).  Kernels always have the
Keras 2 layout ``spatial... + (in_channels, out_channels)``.
"""
from __future__ import annotations

import builtins
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np

from ir import builder as b
from ir.tensor import Tensor

from .common import image_data_format
from .ops import _lift, _matmul_nd_2d, all_known, repeat_elements

IntOrTuple = Union[int, Sequence[int]]

_FORMATS = {"channels_last": "channels_last", "channels_first": "channels_first",
            "tf": "channels_last", "th": "channels_first"}
_PADDINGS = ("valid", "same", "causal", "full")


def normalize_data_format(value: Optional[str]) -> str:
    """Keras 2 ``data_format`` or Keras 1 ``dim_ordering`` ('tf'/'th'/'default') ->
    'channels_last' | 'channels_first'."""
    if value is None or value == "default":
        return image_data_format()
    if value not in _FORMATS:
        raise ValueError("The `data_format` argument must be one of \"channels_first\", "
                         "\"channels_last\" (Keras 1 `dim_ordering`: \"th\", \"tf\"). Received: "
                         + str(value))
    return _FORMATS[value]


def normalize_padding(value: str, allowed: Sequence[str] = ("valid", "same")) -> str:
    padding = str(value).lower()
    if padding not in allowed:
        raise ValueError("The `padding` argument must be one of " +
                         ", ".join(f'"{p}"' for p in allowed) + ". Received: " + str(value))
    return padding


def normalize_tuple(value: IntOrTuple, n: int, name: str) -> Tuple[int, ...]:
    """An int or an n-sequence of ints -> n-tuple (Keras's ``conv_utils.normalize_tuple``)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError("The `" + name + "` argument must be a tuple of " + str(n) +
                         " integers. Received: " + str(value)) from None
    if len(out) != n:
        raise ValueError("The `" + name + "` argument must be a tuple of " + str(n) +
                         " integers. Received: " + str(value))
    return out


def conv_output_length(length: Optional[int], filter_size: int, padding: str, stride: int,
                       dilation: int = 1) -> Optional[int]:
    """Keras's output length of a convolution or pooling along one axis (None stays None)."""
    if length is None:
        return None
    span = (filter_size - 1) * dilation + 1
    if padding in ("same", "causal"):
        out = length
    elif padding == "valid":
        out = length - span + 1
    else:  # full
        out = length + span - 1
    return builtins.max(0, (out + stride - 1) // stride)


def deconv_output_length(length: Optional[int], filter_size: int, padding: str,
                         stride: int) -> Optional[int]:
    """Output length of a transposed convolution (Keras 2.0: no output padding)."""
    if length is None:
        return None
    if padding == "same":
        return length * stride
    if padding == "valid":
        return length * stride + builtins.max(filter_size - stride, 0)
    return length * stride - (stride + filter_size - 2)  # full


def _pad_amounts(length: int, size: int, padding: str, stride: int, dilation: int):
    """(before, after) zero padding of one axis that gives Keras/TensorFlow's output length."""
    span = (size - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    if padding == "full":
        return span - 1, span - 1
    out = (length + stride - 1) // stride
    total = builtins.max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


# --- layout --------------------------------------------------------------------------------------
def _to_last(x: Tensor, fmt: str) -> Tensor:
    if fmt == "channels_first":
        return b.transpose(x, (0,) + tuple(range(2, x.ndim)) + (1,))
    return x


def _from_last(x: Tensor, fmt: str) -> Tensor:
    if fmt == "channels_first":
        return b.transpose(x, (0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))
    return x


def _check_rank(x: Tensor, rank: int, what: str) -> None:
    if x.ndim != rank + 2:
        raise ValueError(f"{what} expects an input of rank {rank + 2} (batch, {rank} spatial "
                         f"axes, channels), got shape {_show(x.shape)}")


def _show(shape) -> str:
    return str(tuple(None if isinstance(d, str) else d for d in shape))


def zero_pad(x: Tensor, pads: Sequence[Tuple[int, int]], axes: Sequence[int]) -> Tensor:
    """Zero padding of ``axes`` of ``x`` by ``(before, after)`` each (known sizes only)."""
    if builtins.all(p == (0, 0) for p in pads):
        return x
    before = [0] * x.ndim
    shape = list(x.shape)
    for (lo, hi), axis in zip(pads, axes):
        if lo < 0 or hi < 0:
            raise ValueError(f"padding must be non-negative, got {tuple(pads)}")
        if isinstance(shape[axis], str):
            raise ValueError(f"cannot pad the free axis {axis} of a tensor of shape "
                             f"{_show(x.shape)}")
        before[axis] = lo
        shape[axis] = shape[axis] + lo + hi
    return b.apply("pad", [x], before=tuple(before), steps=(1,) * x.ndim, shape=tuple(shape))


def _spatial_pad(x: Tensor, kernel: Sequence[int], padding: str, strides: Sequence[int],
                 dilation: Sequence[int]) -> Tensor:
    """Pad the spatial axes (1..rank) of a channels-last ``x`` for ``padding``."""
    pads = [_pad_amounts(x.shape[1 + i], k, padding, s, d)
            for i, (k, s, d) in enumerate(zip(kernel, strides, dilation))]
    return zero_pad(x, pads, range(1, 1 + len(kernel)))


def _geometry(x: Tensor, kernel, strides, padding, dilation, what):
    """Padded channels-last input and output spatial sizes; clear errors for impossible shapes."""
    rank = len(kernel)
    spatial = tuple(x.shape[1:1 + rank])
    if not all_known(spatial):
        raise ValueError(f"{what}: the spatial dimensions of the input must be known, got shape "
                         f"{_show(x.shape)}")
    out = tuple(conv_output_length(n, k, padding, s, d)
                for n, k, s, d in zip(spatial, kernel, strides, dilation))
    if builtins.any(o <= 0 for o in out):
        raise ValueError(f"{what}: a window of size {tuple(kernel)} (dilation "
                         f"{tuple(dilation)}) does not fit the input of shape {_show(x.shape)} "
                         f"with padding '{padding}'")
    return _spatial_pad(x, kernel, padding, strides, dilation), out


def im2col(x: Tensor, kernel: Sequence[int], strides: Sequence[int], padding: str,
           dilation: Sequence[int], what: str = "conv"):
    """Channels-last ``x`` -> patches ``(batch, *out, taps * channels)`` (tap-major, channels
    innermost, matching a kernel reshaped from ``(*kernel, cin, cout)``) and ``out``."""
    xp, out = _geometry(x, kernel, strides, padding, dilation, what)
    patches = b.apply("im2col", [xp], kernel=tuple(kernel), strides=tuple(strides),
                      dilation=tuple(dilation))
    return patches, out


def conv_nd(x: Tensor, kernel: Tensor, strides, padding: str, data_format: Optional[str],
            dilation_rate, rank: int, what: str, bias: Optional[Tensor] = None,
            activation: Optional[Callable] = None) -> Tensor:
    """N-d convolution (cross-correlation, as in Keras) with optional fused bias and activation.

    The bias and activation are applied to the matmul's own result, before its reshape to the
    spatial shape, so the GEMM absorbs them as its epilogue.
    """
    fmt = normalize_data_format(data_format)
    padding = normalize_padding(padding, _PADDINGS)
    strides = normalize_tuple(strides, rank, "strides")
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
    if builtins.any(s != 1 for s in strides) and builtins.any(d != 1 for d in dilation):
        raise ValueError(f"{what}: strides > 1 not supported in conjunction with "
                         "dilation_rate > 1")
    x = _lift(x)
    _check_rank(x, rank, what)
    if kernel.ndim != rank + 2:
        raise ValueError(f"{what}: the kernel must have rank {rank + 2} "
                         "(spatial..., in_channels, out_channels), got shape "
                         f"{_show(kernel.shape)}")
    x = _to_last(x, fmt)
    ksize = tuple(kernel.shape[:rank])
    cin, cout = kernel.shape[rank], kernel.shape[rank + 1]
    if x.shape[-1] != cin:
        raise ValueError(f"{what}: the input has {x.shape[-1]} channels but the kernel of shape "
                         f"{_show(kernel.shape)} expects {cin} (input shape {_show(x.shape)})")
    patches, out = im2col(x, ksize, strides, padding, dilation, what)
    y = b.reshape(patches, (x.shape[0], int(np.prod(out)), patches.shape[-1]))
    y = _matmul_nd_2d(y, b.reshape(kernel, (int(np.prod(ksize)) * cin, cout)))
    if bias is not None:
        y = b.add(y, bias)
    if activation is not None and fmt == "channels_last":
        y = activation(y)
    y = _from_last(b.reshape(y, (x.shape[0],) + out + (cout,)), fmt)
    if activation is not None and fmt == "channels_first":
        y = activation(y)
    return y


def _keras1(kwargs: dict, padding, data_format, dilation_rate=None):
    """Fold Keras 1 argument names (border_mode, dim_ordering, filter_dilation) into Keras 2's."""
    padding = kwargs.pop("border_mode", padding)
    data_format = kwargs.pop("dim_ordering", data_format)
    if "filter_dilation" in kwargs:
        dilation_rate = kwargs.pop("filter_dilation")
    for ignored in ("image_shape", "filter_shape", "volume_shape"):
        kwargs.pop(ignored, None)
    if kwargs:
        raise TypeError(f"unexpected arguments {sorted(kwargs)}")
    return padding, data_format, dilation_rate


# --- convolutions --------------------------------------------------------------------------------
def conv1d(x: Tensor, kernel: Tensor, strides: IntOrTuple = 1, padding: str = "valid",
           data_format: Optional[str] = None, dilation_rate: IntOrTuple = 1,
           **kwargs) -> Tensor:
    """1-d convolution of ``(batch, steps, channels)`` with a ``(width, in, out)`` kernel.
    Keras 1 spelled ``strides`` as ``stride``; its data format was always channels last."""
    strides = kwargs.pop("stride", strides)
    padding, data_format, dilation_rate = _keras1(kwargs, padding, data_format, dilation_rate)
    return conv_nd(x, kernel, strides, padding, data_format or "channels_last", dilation_rate, 1,
                   "conv1d")


def conv2d(x: Tensor, kernel: Tensor, strides: IntOrTuple = (1, 1), padding: str = "valid",
           data_format: Optional[str] = None, dilation_rate: IntOrTuple = (1, 1),
           **kwargs) -> Tensor:
    """2-d convolution with a ``(rows, cols, in, out)`` kernel."""
    padding, data_format, dilation_rate = _keras1(kwargs, padding, data_format, dilation_rate)
    return conv_nd(x, kernel, strides, padding, data_format, dilation_rate, 2, "conv2d")


def conv3d(x: Tensor, kernel: Tensor, strides: IntOrTuple = (1, 1, 1), padding: str = "valid",
           data_format: Optional[str] = None, dilation_rate: IntOrTuple = (1, 1, 1),
           **kwargs) -> Tensor:
    """3-d convolution with a ``(d1, d2, d3, in, out)`` kernel."""
    padding, data_format, dilation_rate = _keras1(kwargs, padding, data_format, dilation_rate)
    return conv_nd(x, kernel, strides, padding, data_format, dilation_rate, 3, "conv3d")


def depthwise_conv_nd(x: Tensor, depthwise_kernel: Tensor, strides, padding: str,
                      data_format: Optional[str], dilation_rate, rank: int,
                      what: str = "depthwise_conv") -> Tensor:
    """Each input channel convolved with its own ``depth_multiplier`` filters; kernel
    ``(*spatial, in, multiplier)``, output channels ``in * multiplier`` (channel-major)."""
    fmt = normalize_data_format(data_format)
    padding = normalize_padding(padding, _PADDINGS)
    strides = normalize_tuple(strides, rank, "strides")
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
    x = _to_last(_lift(x), fmt)
    _check_rank(x, rank, what)
    ksize = tuple(depthwise_kernel.shape[:rank])
    cin, mult = depthwise_kernel.shape[rank], depthwise_kernel.shape[rank + 1]
    if x.shape[-1] != cin:
        raise ValueError(f"{what}: the input has {x.shape[-1]} channels but the depthwise kernel "
                         f"of shape {_show(depthwise_kernel.shape)} expects {cin} "
                         f"(input shape {_show(x.shape)})")
    patches, out = im2col(x, ksize, strides, padding, dilation, what)
    taps_n = int(np.prod(ksize))
    patches = b.reshape(patches, (x.shape[0],) + out + (taps_n, cin))   # (N, *out, T, cin)
    w = b.reshape(depthwise_kernel, (taps_n, cin, mult))
    prod = b.mul(b.expand_dims(patches, -1), w)             # (N, *out, T, cin, mult)
    y = b.sum(prod, axis=x.ndim - 1)                        # (N, *out, cin, mult)
    y = b.reshape(y, (x.shape[0],) + out + (cin * mult,))
    return _from_last(y, fmt)


def depthwise_conv2d(x: Tensor, depthwise_kernel: Tensor, strides=(1, 1), padding: str = "valid",
                     data_format: Optional[str] = None, dilation_rate=(1, 1)) -> Tensor:
    return depthwise_conv_nd(x, depthwise_kernel, strides, padding, data_format, dilation_rate,
                             2, "depthwise_conv2d")


def separable_conv2d(x: Tensor, depthwise_kernel: Tensor, pointwise_kernel: Tensor,
                     strides: IntOrTuple = (1, 1), padding: str = "valid",
                     data_format: Optional[str] = None, dilation_rate: IntOrTuple = (1, 1),
                     **kwargs) -> Tensor:
    """Depthwise convolution then a 1x1 convolution (``pointwise_kernel (1, 1, in*mult, out)``)."""
    padding, data_format, dilation_rate = _keras1(kwargs, padding, data_format, dilation_rate)
    fmt = normalize_data_format(data_format)
    y = depthwise_conv2d(x, depthwise_kernel, strides, padding, fmt, dilation_rate)
    return conv2d(y, pointwise_kernel, (1, 1), "valid", fmt)


def conv_transpose_nd(x: Tensor, kernel: Tensor, output_shape, strides, padding: str,
                      data_format: Optional[str], rank: int, what: str,
                      bias: Optional[Tensor] = None,
                      activation: Optional[Callable] = None) -> Tensor:
    """Transposed convolution (the gradient of a convolution with respect to its input); kernel
    ``(*spatial, out_channels, in_channels)`` as in Keras.

    The input is spread out by a strided ``pad`` (``stride - 1`` zeros between entries, the
    kernel's reach at the edges) and convolved with the spatially flipped, transposed kernel.
    ``output_shape`` (Keras 1 style, optional) is checked against the computed shape.
    """
    fmt = normalize_data_format(data_format)
    padding = normalize_padding(padding, ("valid", "same"))
    strides = normalize_tuple(strides, rank, "strides")
    x = _to_last(_lift(x), fmt)
    _check_rank(x, rank, what)
    ksize = tuple(kernel.shape[:rank])
    cout, cin = kernel.shape[rank], kernel.shape[rank + 1]
    if x.shape[-1] != cin:
        raise ValueError(f"{what}: the input has {x.shape[-1]} channels but the kernel of shape "
                         f"{_show(kernel.shape)} expects {cin} (input shape {_show(x.shape)})")
    spatial = tuple(x.shape[1:1 + rank])
    if not all_known(spatial):
        raise ValueError(f"{what}: the spatial dimensions of the input must be known, got shape "
                         f"{_show(x.shape)}")
    out = tuple(deconv_output_length(n, k, padding, s) for n, k, s in zip(spatial, ksize, strides))
    if output_shape is not None:
        want = tuple(output_shape)
        want = want[1:] if len(want) == rank + 2 else want
        want_sp = want[1:] if fmt == "channels_first" else want[:-1]
        if tuple(int(v) for v in want_sp if v is not None) != \
                tuple(o for o, v in zip(out, want_sp) if v is not None):
            raise ValueError(f"{what}: output_shape {tuple(output_shape)} does not match the "
                             f"computed output spatial shape {out}")
    before, shape = [0], [x.shape[0]]
    for n, k, s, o in zip(spatial, ksize, strides, out):
        pb = 0 if padding == "valid" else _pad_amounts(o, k, "same", s, 1)[0]
        before.append(k - 1 - pb)
        shape.append(o + k - 1)
    before.append(0)
    shape.append(cin)
    spread = b.apply("pad", [x], before=tuple(before), steps=(1,) + strides + (1,),
                     shape=tuple(shape))
    w = b.transpose(_flip(kernel, rank), tuple(range(rank)) + (rank + 1, rank))  # (*k, cin, cout)
    if fmt == "channels_last":
        return conv_nd(spread, w, 1, "valid", "channels_last", 1, rank, what, bias, activation)
    y = _from_last(conv_nd(spread, w, 1, "valid", "channels_last", 1, rank, what, bias), fmt)
    return activation(y) if activation is not None else y


def _flip(kernel: Tensor, rank: int) -> Tensor:
    """Reverse the spatial axes: slices are forward only, so a reversal is the concatenation
    of single-entry slices in reverse order (pure movement, inlined by the compiler)."""
    k = kernel
    for axis in range(rank):
        n = k.shape[axis]
        if n == 1:
            continue
        parts = [b.slice_axes(k, [slice(i, i + 1) if a == axis else slice(None)
                                  for a in range(k.ndim)]) for i in reversed(range(n))]
        k = b.concat(parts, axis=axis)
    return k


def conv2d_transpose(x: Tensor, kernel: Tensor, output_shape=None,
                     strides: IntOrTuple = (1, 1), padding: str = "valid",
                     data_format: Optional[str] = None, **kwargs) -> Tensor:
    """2-d transposed convolution ("deconvolution"); kernel ``(rows, cols, out, in)``."""
    padding, data_format, _ = _keras1(kwargs, padding, data_format)
    return conv_transpose_nd(x, kernel, output_shape, strides, padding, data_format, 2,
                             "conv2d_transpose")


deconv2d = conv2d_transpose  # Keras 1 name


# --- pooling -------------------------------------------------------------------------------------
def pool_nd(x: Tensor, pool_size, strides, padding: str, data_format: Optional[str],
            pool_mode: str, rank: int, what: str) -> Tensor:
    """Max or average pooling as an elementwise maximum / sum over the window's strided slices.
    'same' max pooling pads with -inf; 'same' average pooling divides by the number of real
    (unpadded) entries of each window, like TensorFlow."""
    if pool_mode not in ("max", "avg"):
        raise ValueError("Invalid pooling mode: " + str(pool_mode))
    fmt = normalize_data_format(data_format)
    padding = normalize_padding(padding)
    pool_size = normalize_tuple(pool_size, rank, "pool_size")
    strides = normalize_tuple(strides if strides is not None else pool_size, rank, "strides")
    x = _to_last(_lift(x), fmt)
    _check_rank(x, rank, what)
    ones = (1,) * rank
    xp, out = _geometry(x, pool_size, strides, padding, ones, what)
    pads = [_pad_amounts(x.shape[1 + i], k, padding, s, 1)
            for i, (k, s) in enumerate(zip(pool_size, strides))]
    padded = builtins.any(p != (0, 0) for p in pads)
    if pool_mode == "max" and padded:
        inside = np.zeros((1,) + xp.shape[1:1 + rank] + (1,), dtype=x.dtype)
        region = tuple([slice(None)] + [slice(lo, lo + n) for (lo, _), n in
                                        zip(pads, x.shape[1:1 + rank])] + [slice(None)])
        mask = np.full(inside.shape, -np.inf, dtype=x.dtype)
        mask[region] = 0
        xp = b.add(xp, b.constant(mask))
    acc = _window_reduce(xp, pool_size, strides, out, pool_mode)
    if pool_mode == "avg":
        if padded:
            ones_in = np.ones((1,) + tuple(x.shape[1:1 + rank]) + (1,), dtype=np.float64)
            ones_p = np.pad(ones_in, [(0, 0)] + list(pads) + [(0, 0)])
            count = np.zeros((1,) + out + (1,))
            for tap in np.ndindex(*pool_size):
                idx = tuple([slice(None)] + [slice(t, t + (o - 1) * s + 1, s) for t, s, o in
                                             zip(tap, strides, out)] + [slice(None)])
                count += ones_p[idx]
            acc = b.mul(acc, b.constant((1.0 / count).astype(x.dtype)))
        else:
            acc = b.mul(acc, b.constant(np.asarray(1.0 / int(np.prod(pool_size)), dtype=x.dtype)))
    return _from_last(acc, fmt)


def _window_reduce(xp: Tensor, pool_size: Sequence[int], strides: Sequence[int],
                   out: Sequence[int], pool_mode: str) -> Tensor:
    """Sum or maximum over each window of a padded channels-last ``xp``, on its ``im2col`` patches
    viewed as ``(N, *out, taps, C)``.  The maximum is the patch at the first maximal tap
    (``argmax``), selected with a one-hot mask: its gradient is ``col2im`` of the masked output
    gradient -- one int32 index per output is stored, not a chain of intermediate maxima and
    comparison masks -- and ties go to the first tap, as with TensorFlow."""
    taps = int(np.prod(pool_size))
    cin = xp.shape[-1]
    ones = (1,) * len(pool_size)
    cols = b.apply("im2col", [xp], kernel=tuple(pool_size), strides=tuple(strides),
                   dilation=ones)
    axis = 1 + len(out)
    patches = b.reshape(cols, (xp.shape[0],) + tuple(out) + (taps, cin))
    if pool_mode == "avg":
        return b.apply("sum", [patches], axes=(axis,))
    arg = b.apply("argmax", [patches], axes=(axis,))
    arg = b.broadcast_to(b.reshape(arg, (xp.shape[0],) + tuple(out) + (1, cin)), patches.shape)
    iota = np.arange(taps, dtype=np.int32).reshape((1,) * axis + (taps, 1))
    first = b.equal(arg, b.broadcast_to(b.constant(iota), patches.shape))
    return b.apply("sum", [b.where(first, patches, 0.0)],
                   axes=(axis,))


def _pool_keras1(kwargs, padding, data_format):
    padding = kwargs.pop("border_mode", padding)
    data_format = kwargs.pop("dim_ordering", data_format)
    if kwargs:
        raise TypeError(f"unexpected arguments {sorted(kwargs)}")
    return padding, data_format


def pool1d(x: Tensor, pool_size: IntOrTuple, strides: Optional[IntOrTuple] = None,
           padding: str = "valid", data_format: Optional[str] = None, pool_mode: str = "max",
           **kwargs) -> Tensor:
    """Pooling of ``(batch, steps, channels)`` (channels first: ``(batch, channels, steps)``)."""
    padding, data_format = _pool_keras1(kwargs, padding, data_format)
    return pool_nd(x, pool_size, strides, padding, data_format or "channels_last", pool_mode, 1,
                   "pool1d")


def pool2d(x: Tensor, pool_size: IntOrTuple, strides: IntOrTuple = (1, 1),
           padding: str = "valid", data_format: Optional[str] = None, pool_mode: str = "max",
           **kwargs) -> Tensor:
    padding, data_format = _pool_keras1(kwargs, padding, data_format)
    return pool_nd(x, pool_size, strides, padding, data_format, pool_mode, 2, "pool2d")


def pool3d(x: Tensor, pool_size: IntOrTuple, strides: IntOrTuple = (1, 1, 1),
           padding: str = "valid", data_format: Optional[str] = None, pool_mode: str = "max",
           **kwargs) -> Tensor:
    padding, data_format = _pool_keras1(kwargs, padding, data_format)
    return pool_nd(x, pool_size, strides, padding, data_format, pool_mode, 3, "pool3d")


# --- resizing and padding ------------------------------------------------------------------------
def _spatial_axes(ndim: int, fmt: str) -> Tuple[int, ...]:
    return tuple(range(2, ndim)) if fmt == "channels_first" else tuple(range(1, ndim - 1))


def resize_images(x: Tensor, height_factor: int, width_factor: int,
                  data_format: Optional[str] = None, **kwargs) -> Tensor:
    """Nearest-neighbour upsampling of rows and columns by integer factors."""
    data_format = kwargs.pop("dim_ordering", data_format)
    if kwargs:
        raise TypeError(f"unexpected arguments {sorted(kwargs)}")
    x = _lift(x)
    rows, cols = _spatial_axes(x.ndim, normalize_data_format(data_format))
    return repeat_elements(repeat_elements(x, int(height_factor), rows), int(width_factor), cols)


def resize_volumes(x: Tensor, depth_factor: int, height_factor: int, width_factor: int,
                   data_format: Optional[str] = None, **kwargs) -> Tensor:
    data_format = kwargs.pop("dim_ordering", data_format)
    x = _lift(x)
    axes = _spatial_axes(x.ndim, normalize_data_format(data_format))
    for axis, f in zip(axes, (depth_factor, height_factor, width_factor)):
        x = repeat_elements(x, int(f), axis)
    return x


def _pairs(padding, n: int, name: str):
    """Keras 2 ``((lo, hi), ...)`` or Keras 1 symmetric ``(p, ...)`` / int -> n (lo, hi) pairs."""
    if isinstance(padding, (int, np.integer)):
        return [(int(padding), int(padding))] * n
    padding = list(padding)
    if len(padding) != n:
        raise ValueError(f"`{name}` should have {n} entries. Found: {padding}")
    out = []
    for p in padding:
        if isinstance(p, (int, np.integer)):
            out.append((int(p), int(p)))
        else:
            p = tuple(int(v) for v in p)
            if len(p) != 2:
                raise ValueError(f"`{name}` entries should be ints or pairs. Found: {padding}")
            out.append(p)
    return out


def temporal_padding(x: Tensor, padding=(1, 1)) -> Tensor:
    """Pad the middle (time) axis of a 3-d tensor; Keras 1 passed one int for both sides."""
    x = _lift(x)
    if isinstance(padding, (int, np.integer)):
        padding = (padding, padding)
    return zero_pad(x, [tuple(int(v) for v in padding)], [1])


def spatial_2d_padding(x: Tensor, padding=((1, 1), (1, 1)), data_format: Optional[str] = None,
                       **kwargs) -> Tensor:
    """Zero padding of rows and columns; Keras 1's ``padding=(1, 1)`` is symmetric."""
    data_format = kwargs.pop("dim_ordering", data_format)
    x = _lift(x)
    axes = _spatial_axes(x.ndim, normalize_data_format(data_format))
    return zero_pad(x, _pairs(padding, 2, "padding"), axes)


def spatial_3d_padding(x: Tensor, padding=((1, 1), (1, 1), (1, 1)),
                       data_format: Optional[str] = None, **kwargs) -> Tensor:
    data_format = kwargs.pop("dim_ordering", data_format)
    x = _lift(x)
    axes = _spatial_axes(x.ndim, normalize_data_format(data_format))
    return zero_pad(x, _pairs(padding, 3, "padding"), axes)
