"""Checking and converting user arrays once per ``fit``/``evaluate``/``predict`` call (Keras's
messages), so the per-batch loop only slices."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import backend as K


def standardize_input_data(data, names: Sequence[str], shapes=None, check_batch_dim: bool = True,
                           exception_prefix: str = "", dtypes=None) -> List[np.ndarray]:
    """A list of arrays, one per name, each checked against ``shapes`` and converted to the
    placeholder dtype (contiguous, so batches slice without copies of strided data)."""
    if isinstance(data, dict):
        arrays = []
        for name in names:
            if name not in data:
                raise ValueError('No data provided for "' + name +
                                 '". Need data for each key in: ' + str(list(data.keys())))
            arrays.append(data[name])
    elif isinstance(data, list):
        if len(data) != len(names):
            if len(data) > 0 and hasattr(data[0], "shape"):
                raise ValueError("Error when checking " + exception_prefix +
                                 ": the list of Numpy arrays that you are passing to your model "
                                 "is not the size the model expected. Expected to see " +
                                 str(len(names)) + " arrays but instead got the following list "
                                 "of " + str(len(data)) + " arrays: " + str(data)[:200] + "...")
            if len(names) == 1:
                data = [np.asarray(data)]
            else:
                raise ValueError("Error when checking " + exception_prefix +
                                 ": you are passing a list as input to your model, but the model "
                                 "expects a list of " + str(len(names)) +
                                 " Numpy arrays instead. The list you passed was: " +
                                 str(data)[:200])
        arrays = list(data)
    else:
        if not hasattr(data, "shape"):
            raise TypeError("Error when checking " + exception_prefix +
                            ": data should be a Numpy array, or list/dict of Numpy arrays. "
                            "Found: " + str(data)[:200] + "...")
        if len(names) != 1:
            raise ValueError("The model expects " + str(len(names)) + " input arrays, but only "
                             "received one array. Found: array with shape " + str(data.shape))
        arrays = [data]
    arrays = [np.asarray(a) for a in arrays]
    for i, a in enumerate(arrays):
        if a.ndim == 1:
            arrays[i] = np.expand_dims(a, 1)
    if shapes:
        for i, name in enumerate(names):
            if shapes[i] is None:
                continue
            a, ref = arrays[i], tuple(shapes[i])
            if a.ndim != len(ref):
                raise ValueError("Error when checking " + exception_prefix + ": expected " + name +
                                 " to have " + str(len(ref)) + " dimensions, but got array with "
                                 "shape " + str(a.shape))
            for j, (dim, ref_dim) in enumerate(zip(a.shape, ref)):
                if not j and not check_batch_dim:
                    continue
                if ref_dim and ref_dim != dim:
                    raise ValueError("Error when checking " + exception_prefix + ": expected " +
                                     name + " to have shape " + str(ref) +
                                     " but got array with shape " + str(a.shape))
    if dtypes:
        arrays = [np.ascontiguousarray(a, dtype=dt) for a, dt in zip(arrays, dtypes)]
    return arrays


def standardize_sample_or_class_weights(x_weight, output_names: Sequence[str],
                                        weight_type: str) -> List:
    if x_weight is None or len(x_weight) == 0:
        return [None for _ in output_names]
    if len(output_names) == 1:
        if isinstance(x_weight, list) and len(x_weight) == 1:
            return x_weight
        if isinstance(x_weight, dict) and output_names[0] in x_weight:
            return [x_weight[output_names[0]]]
        return [x_weight]
    if isinstance(x_weight, list):
        if len(x_weight) != len(output_names):
            raise ValueError("Provided `" + weight_type + "` was a list of " + str(len(x_weight)) +
                             " elements, but the model has " + str(len(output_names)) +
                             " outputs. You should provide one `" + weight_type + "`"
                             "array per model output.")
        return x_weight
    if isinstance(x_weight, dict):
        return [x_weight.get(name) for name in output_names]
    raise TypeError("The model has multiple outputs, so `" + weight_type + "` should be either a "
                    "list of a dict. Provided `" + weight_type + "` type not understood: " +
                    str(x_weight))


def check_array_lengths(inputs, targets, weights) -> None:
    set_x = {x.shape[0] for x in inputs}
    set_y = {y.shape[0] for y in targets}
    set_w = {w.shape[0] for w in weights}
    if len(set_x) > 1:
        raise ValueError("All input arrays (x) should have the same number of samples.")
    if len(set_y) > 1:
        raise ValueError("All target arrays (y) should have the same number of samples.")
    if len(set_w) > 1:
        raise ValueError("All sample_weight arrays should have the same number of samples.")
    if set_x and set_y and set_x != set_y:
        raise ValueError("Input arrays should have the same number of samples as target arrays. "
                         "Found " + str(list(set_x)[0]) + " input samples and " +
                         str(list(set_y)[0]) + " target samples.")
    if set_x and set_w and set_x != set_w:
        raise ValueError("Sample_weight arrays should have the same number of samples as input "
                         "arrays. Found " + str(list(set_x)[0]) + " input samples and " +
                         str(list(set_w)[0]) + " target samples.")


def check_loss_and_target_compatibility(targets, loss_fns, output_shapes) -> None:
    key_losses = {"mean_squared_error", "binary_crossentropy", "categorical_crossentropy"}
    for y, loss, shape in zip(targets, loss_fns, output_shapes):
        name = getattr(loss, "__name__", "")
        if name == "categorical_crossentropy" and y.shape[-1] == 1:
            raise ValueError("You are passing a target array of shape " + str(y.shape) +
                             " while using as loss `categorical_crossentropy`. "
                             "`categorical_crossentropy` expects targets to be binary matrices "
                             "(1s and 0s) of shape (samples, classes). If your targets are "
                             "integer classes, you can convert them to the expected format via:"
                             "\n```\nfrom graphnn.utils.np_utils import to_categorical\n"
                             "y_binary = to_categorical(y_int)\n```\n\nAlternatively, you can "
                             "use the loss function `sparse_categorical_crossentropy` instead, "
                             "which does expect integer targets.")
        if name in key_losses:
            for target_dim, out_dim in zip(y.shape[1:], shape[1:]):
                if out_dim is not None and target_dim != out_dim:
                    raise ValueError("A target array with shape " + str(y.shape) +
                                     " was passed for an output of shape " + str(shape) +
                                     " while using as loss `" + name + "`. This loss expects "
                                     "targets to have the same shape as the output.")


def standardize_weights(y: np.ndarray, sample_weight=None, class_weight: Optional[Dict] = None,
                        sample_weight_mode: Optional[str] = None) -> np.ndarray:
    """Per-sample (or per-timestep) weights as one float array, computed once per fit."""
    if sample_weight_mode is not None:
        if sample_weight_mode != "temporal":
            raise ValueError('"sample_weight_mode should be None or "temporal". Found: ' +
                             str(sample_weight_mode))
        if y.ndim < 3:
            raise ValueError("Found a sample_weight array for an input with shape " +
                             str(y.shape) + ". Timestep-wise sample weighting (use of "
                             'sample_weight_mode="temporal") is restricted to outputs that are at '
                             "least 3D, i.e. that have a time dimension.")
        if sample_weight is not None and np.ndim(sample_weight) != 2:
            raise ValueError("Found a sample_weight array with shape " +
                             str(np.shape(sample_weight)) + ". In order to use timestep-wise "
                             "sample weighting, you should pass a 2D sample_weight array.")
    elif sample_weight is not None and np.ndim(sample_weight) != 1:
        raise ValueError("Found a sample_weight array with shape " + str(np.shape(sample_weight)) +
                         ". In order to use timestep-wise sample weighting, you should pass a 2D "
                         'sample_weight array and specify sample_weight_mode="temporal" in '
                         "compile().")
    if sample_weight is not None:
        sw = np.ascontiguousarray(sample_weight, dtype=K.floatx())
        if y.shape[:sw.ndim] != sw.shape:
            raise ValueError("Found a sample_weight with shape " + str(sw.shape) + ". Expected "
                             "sample_weight with rank less than or equal to " + str(y.ndim) +
                             " and matching the leading dimensions of the targets " +
                             str(y.shape))
        return sw
    if isinstance(class_weight, dict):
        if y.ndim > 2:
            raise ValueError("class_weight not supported for 3+ dimensional targets.")
        if y.shape[1] > 1:
            y_classes = y.argmax(axis=1)
        else:
            y_classes = np.reshape(y, y.shape[0]).astype("int64")
        return np.asarray([class_weight[int(c)] for c in y_classes], dtype=K.floatx())
    if sample_weight_mode is None:
        return np.ones((y.shape[0],), dtype=K.floatx())
    return np.ones((y.shape[0], y.shape[1]), dtype=K.floatx())


def make_batches(size: int, batch_size: int) -> List[tuple]:
    n = (size + batch_size - 1) // batch_size
    return [(i * batch_size, min(size, (i + 1) * batch_size)) for i in range(n)]


def slice_arrays(arrays: Sequence[np.ndarray], start=None, stop=None) -> List[np.ndarray]:
    """Rows ``start:stop`` of each array, or the rows listed in ``start`` (an index array)."""
    if hasattr(start, "shape") or isinstance(start, list):
        return [a[start] for a in arrays]
    return [a[start:stop] for a in arrays]
