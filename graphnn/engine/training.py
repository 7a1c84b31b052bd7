"""``Model``: compile / fit / evaluate / predict on top of a ``Container``.

Performance contract: ``compile`` only builds symbolic tensors (cheap); the train, test and
predict functions are created on first use and cached.  One training batch is exactly one call of
the train function, which computes the forward pass, loss, metrics, gradients and every update.
The Python loop only slices batches and averages the returned scalars for the epoch logs.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Dict, List, Optional

import numpy as np

from ir import builder as b
from ir.tensor import origin_scope

from .. import backend as K
from .. import callbacks as cbks
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers
from ..backend.phase import learning_phase_placeholder
from ..utils.generic_utils import Progbar, to_list
from .container import Container
from .generators import GeneratorMixin
from .saving import ModelSavingMixin
from .data import (check_array_lengths, check_loss_and_target_compatibility, make_batches,
                   slice_arrays, standardize_input_data, standardize_sample_or_class_weights,
                   standardize_weights)


def weighted_objective(fn):
    """Per-sample loss -> scalar: mask, then Keras's sample weighting
    ``mean(loss * w) / mean(w != 0)``."""
    def weighted(y_true, y_pred, weights, mask=None):
        score = fn(y_true, y_pred)
        if mask is not None:
            mask = K.cast(mask, K.floatx())
            score = score * mask
            score = score / K.mean(mask)
        if weights is not None:
            extra = list(range(K.ndim(weights), K.ndim(score)))
            if extra:
                score = K.mean(score, axis=extra)
            score = score * weights
            score = score / K.mean(K.cast(K.not_equal(weights, 0), K.floatx()))
        return K.mean(score)
    return weighted


def _per_output(value, names: List[str], what: str, default=None) -> List:
    """Expand a dict/list/single value of ``compile`` into one entry per output."""
    if isinstance(value, dict):
        for key in value:
            if key not in names:
                raise ValueError("Unknown entry in " + what + ' dictionary: "' + key +
                                 '". Only expected the following keys: ' + str(names))
        return [value.get(name, default) for name in names]
    if isinstance(value, list):
        if len(value) != len(names):
            raise ValueError("When passing a list as " + what + ", it should have one entry per "
                             "model output. The model has " + str(len(names)) + " outputs, but "
                             "you passed " + what + "=" + str(value))
        return list(value)
    return [value] * len(names)


class Model(ModelSavingMixin, GeneratorMixin, Container):
    """A trainable Container (functional API); ``Sequential`` subclasses it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reset_compiled()
        self.optimizer = None
        self.stop_training = False
        self.history = None

    def _reset_compiled(self) -> None:
        self._compiled = False
        self.train_function = None
        self.test_function = None
        self.predict_function = None
        self._predict_fast = None

    # --- compile ------------------------------------------------------------------------------------
    def compile(self, optimizer, loss, metrics=None, loss_weights=None, sample_weight_mode=None,
                **kwargs) -> None:
        """Resolve the optimizer, losses and metrics and build the symbolic loss.  No code is
        generated here: the functions are compiled on first use."""
        if not self.outputs:
            raise TypeError("Sequential model cannot be compiled before layers are added.")
        self._reset_compiled()
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self.loss_weights = loss_weights
        self.sample_weight_mode = sample_weight_mode
        self._function_kwargs = kwargs
        names = self.output_names
        self.loss_functions = [losses_module.get(fn) for fn in _per_output(loss, names, "loss")]
        for name, fn in zip(names, self.loss_functions):
            if fn is None:
                raise ValueError('Output "' + name + '" missing from loss dictionary.')
        weights = _per_output(loss_weights if loss_weights is not None else 1.0, names,
                              "loss_weights", 1.0)
        modes = _per_output(sample_weight_mode, names, "sample_weight_mode")
        self.sample_weight_modes = modes
        self.targets, self.sample_weights = [], []
        self._feed_target_shapes, self._target_dtypes = [], []
        for out, name, fn, mode in zip(self.outputs, names, self.loss_functions, modes):
            shape, dtype = tuple(out.shape), out.dtype
            keras_shape = K.int_shape(out)
            if fn is losses_module.sparse_categorical_crossentropy:
                shape, dtype = shape[:-1] + (1,), "int32"
                keras_shape = keras_shape[:-1] + (1,)
            target = b.placeholder(shape, dtype, name + "_target")
            target._keras_shape = keras_shape
            self.targets.append(target)
            self._feed_target_shapes.append(keras_shape if getattr(losses_module, fn.__name__, None)
                                            is fn else None)
            self._target_dtypes.append(dtype)
            sw_shape = tuple(out.shape[:2]) if mode == "temporal" else (out.shape[0],)
            self.sample_weights.append(b.placeholder(sw_shape, K.floatx(), name + "_sample_weights"))
        self._build_loss_and_metrics(metrics, weights)
        self._collected_trainable_weights = self.trainable_weights
        self._compiled = True

    def _build_loss_and_metrics(self, metrics, loss_weights) -> None:
        names = self.output_names
        multi = len(self.outputs) > 1
        self.metrics_names = ["loss"]
        self.metrics_tensors = []
        with origin_scope("loss"):
            total = None
            for i, (y_true, y_pred) in enumerate(zip(self.targets, self.outputs)):
                mask = getattr(y_pred, "_keras_mask", None)
                out_loss = weighted_objective(self.loss_functions[i])(
                    y_true, y_pred, self.sample_weights[i], mask)
                if multi:
                    self.metrics_tensors.append(out_loss)
                    self.metrics_names.append(names[i] + "_loss")
                term = out_loss * float(loss_weights[i]) if loss_weights[i] != 1 else out_loss
                total = term if total is None else total + term
            for reg in self.losses:
                total = total + reg
            self.total_loss = total
        per_output = metrics if isinstance(metrics, dict) else {n: metrics for n in names}
        for i, name in enumerate(names):
            for metric in to_list(per_output.get(name) or []):
                fn, label = self._resolve_metric(metric, i)
                with origin_scope("metrics"):
                    self.metrics_tensors.append(K.mean(fn(self.targets[i], self.outputs[i])))
                self.metrics_names.append(name + "_" + label if multi else label)
        self.metrics = metrics

    def _resolve_metric(self, metric, i: int):
        """'acc'/'accuracy' pick the accuracy matching the loss (Keras); the log name is the
        string given.  Other metrics are named after their function."""
        if metric in ("accuracy", "acc"):
            fn = self.loss_functions[i]
            if K.int_shape(self.outputs[i])[-1] == 1 or fn is losses_module.binary_crossentropy:
                return metrics_module.binary_accuracy, metric
            if fn is losses_module.sparse_categorical_crossentropy:
                return metrics_module.sparse_categorical_accuracy, metric
            return metrics_module.categorical_accuracy, metric
        fn = metrics_module.get(metric)
        return fn, fn.__name__

    # --- function construction (lazy, cached) ---------------------------------------------------
    def _check_compiled(self) -> None:
        if not self._compiled:
            raise RuntimeError("You must compile a model before training/testing. "
                               "Use `model.compile(optimizer, loss)`.")

    def _get_training_updates(self) -> List[tuple]:
        get_updates = self.optimizer.get_updates
        try:
            params = inspect.signature(get_updates).parameters
        except (TypeError, ValueError):
            params = {}
        weights = self._collected_trainable_weights
        if "constraints" in params:  # Keras 1 / 2.0 signature
            return get_updates(params=weights, constraints=self.constraints, loss=self.total_loss)
        if "loss" in params and "params" in params:  # Keras 2.1+
            return get_updates(loss=self.total_loss, params=weights)
        return get_updates(weights, self.constraints, self.total_loss)

    def _make_train_function(self):
        self._check_compiled()
        if self.train_function is None:
            inputs = self.inputs + self.targets + self.sample_weights
            updates = list(self.updates) + list(self._get_training_updates())
            self.train_function = K.function(
                inputs, [self.total_loss] + self.metrics_tensors, updates=updates,
                givens={learning_phase_placeholder(): True}, name="train_function",
                **self._function_kwargs)
        return self.train_function

    def _make_test_function(self):
        self._check_compiled()
        if self.test_function is None:
            inputs = self.inputs + self.targets + self.sample_weights
            self.test_function = K.function(
                inputs, [self.total_loss] + self.metrics_tensors,
                givens={learning_phase_placeholder(): False}, name="test_function",
                **getattr(self, "_function_kwargs", {}))
        return self.test_function

    def _make_predict_function(self):
        if self.predict_function is None:
            # stateful layers (recurrent) carry their states over between predict calls
            state_updates = [u for layer in getattr(self, "layers", [])
                             if getattr(layer, "stateful", False) for u in layer.updates]
            self.predict_function = K.function(
                self.inputs, self.outputs, updates=state_updates,
                givens={learning_phase_placeholder(): False},
                name="predict_function", **getattr(self, "_function_kwargs", {}))
            x = self.inputs[0]
            shape = K.int_shape(x)
            if len(self.inputs) == 1 and None not in shape[1:]:
                self._predict_fast = (np.dtype(x.dtype), tuple(shape[1:]))
        return self.predict_function

    # --- data ---------------------------------------------------------------------------------------
    @property
    def _feed_input_shapes(self):
        return [K.int_shape(x) for x in self.inputs]

    def _standardize_x(self, x) -> List[np.ndarray]:
        return standardize_input_data(x, self.input_names, self._feed_input_shapes,
                                      check_batch_dim=False, exception_prefix="model input",
                                      dtypes=[x.dtype for x in self.inputs])

    def _standardize_user_data(self, x, y, sample_weight=None, class_weight=None):
        self._check_compiled()
        x = self._standardize_x(x)
        y = standardize_input_data(y, self.output_names, self._feed_target_shapes,
                                   check_batch_dim=False, exception_prefix="model target",
                                   dtypes=self._target_dtypes)
        sws = standardize_sample_or_class_weights(sample_weight, self.output_names,
                                                  "sample_weight")
        cws = standardize_sample_or_class_weights(class_weight, self.output_names, "class_weight")
        weights = [standardize_weights(ref, sw, cw, mode) for ref, sw, cw, mode in
                   zip(y, sws, cws, self.sample_weight_modes)]
        check_array_lengths(x, y, weights)
        check_loss_and_target_compatibility(y, self.loss_functions,
                                            [K.int_shape(o) for o in self.outputs])
        return x, y, weights

    # --- loops --------------------------------------------------------------------------------------
    def _fit_loop(self, f, ins, out_labels, batch_size, epochs, verbose, callbacks, val_f,
                  val_ins, shuffle, callback_metrics, initial_epoch):
        do_validation = bool(val_f and val_ins)
        num_train = ins[0].shape[0]
        if verbose and do_validation:
            print("Train on %d samples, validate on %d samples" % (num_train, val_ins[0].shape[0]))
        index_array = np.arange(num_train)
        self.history = cbks.History()
        callback_list = [cbks.BaseLogger()] + list(callbacks or []) + [self.history]
        if verbose:
            callback_list.append(cbks.ProgbarLogger())
        callbacks = cbks.CallbackList(callback_list)
        callback_model = getattr(self, "callback_model", None) or self
        callbacks.set_model(callback_model)
        callbacks.set_params({
            "batch_size": batch_size, "epochs": epochs, "nb_epoch": epochs,
            "samples": num_train, "nb_sample": num_train, "verbose": verbose,
            "do_validation": do_validation, "metrics": callback_metrics,
        })
        callbacks.on_train_begin()
        callback_model.stop_training = False
        for cb in callbacks:
            cb.validation_data = val_ins
        batches = make_batches(num_train, batch_size)
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            if shuffle == "batch":
                index_array = _batch_shuffle(index_array, batch_size)
            elif shuffle:
                np.random.shuffle(index_array)
            epoch_logs: Dict = {}
            for batch_index, (start, end) in enumerate(batches):
                if shuffle:
                    ids = index_array[start:end]
                    ins_batch = [a[ids] for a in ins]
                else:
                    ins_batch = [a[start:end] for a in ins]
                batch_logs = {"batch": batch_index, "size": end - start}
                callbacks.on_batch_begin(batch_index, batch_logs)
                outs = f(ins_batch)
                for label, o in zip(out_labels, outs):
                    batch_logs[label] = o[()]
                callbacks.on_batch_end(batch_index, batch_logs)
                if callback_model.stop_training:
                    break
            if do_validation:
                val_outs = self._test_loop(val_f, val_ins, batch_size=batch_size, verbose=0)
                for label, o in zip(out_labels, to_list(val_outs)):
                    epoch_logs["val_" + label] = o
            callbacks.on_epoch_end(epoch, epoch_logs)
            if callback_model.stop_training:
                break
        callbacks.on_train_end()
        return self.history

    def _test_loop(self, f, ins, batch_size: int = 32, verbose: int = 0):
        num = ins[0].shape[0]
        totals: List = []
        progbar = Progbar(target=num) if verbose == 1 else None
        for start, end in make_batches(num, batch_size):
            outs = f([a[start:end] for a in ins])
            if not totals:
                totals = [0.0] * len(outs)
            for i, o in enumerate(outs):
                totals[i] += o[()] * (end - start)
            if progbar is not None:
                progbar.update(end, force=end == num)
        totals = [t / num for t in totals]
        return totals[0] if len(totals) == 1 else totals

    def _predict_loop(self, f, ins, batch_size: int = 32, verbose: int = 0):
        num = ins[0].shape[0]
        outs: List[np.ndarray] = []
        progbar = Progbar(target=num) if verbose == 1 else None
        for start, end in make_batches(num, batch_size):
            batch_outs = f([a[start:end] for a in ins])
            if not outs:
                outs = [np.empty((num,) + o.shape[1:], dtype=o.dtype) for o in batch_outs]
            for out, o in zip(outs, batch_outs):
                out[start:end] = o
            if progbar is not None:
                progbar.update(end, force=end == num)
        return outs[0] if len(outs) == 1 else outs

    # --- public training API ------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: int = 32, epochs: Optional[int] = None,
            verbose: int = 1, callbacks=None, validation_split: float = 0.0, validation_data=None,
            shuffle=True, class_weight=None, sample_weight=None, initial_epoch: int = 0,
            nb_epoch: Optional[int] = None, **kwargs) -> cbks.History:
        """Train for ``epochs`` (Keras 1: ``nb_epoch``; default 1 as in Keras 2)."""
        if "show_accuracy" in kwargs:
            kwargs.pop("show_accuracy")
            warnings.warn('The "show_accuracy" argument is deprecated, instead you should pass '
                          'the "accuracy" metric to the model at compile time:\n'
                          '`model.compile(optimizer, loss, metrics=["accuracy"])`')
        if kwargs:
            raise TypeError("Unrecognized keyword arguments: " + str(kwargs))
        epochs = epochs if epochs is not None else (nb_epoch if nb_epoch is not None else 1)
        x, y, sample_weights = self._standardize_user_data(x, y, sample_weight, class_weight)
        val_f = val_ins = None
        if validation_data:
            if len(validation_data) == 2:
                val_x, val_y = validation_data
                val_sw = None
            elif len(validation_data) == 3:
                val_x, val_y, val_sw = validation_data
            else:
                raise ValueError("When passing validation_data, it must contain 2 (x_val, y_val) "
                                 "or 3 (x_val, y_val, val_sample_weights) items, however it "
                                 "contains %d items" % len(validation_data))
            vx, vy, vw = self._standardize_user_data(val_x, val_y, val_sw)
            val_ins = vx + vy + vw
        elif validation_split and 0.0 < validation_split < 1.0:
            split_at = int(len(x[0]) * (1.0 - validation_split))
            arrays = x + y + sample_weights
            val_ins = slice_arrays(arrays, split_at)
            x, y, sample_weights = (slice_arrays(x, 0, split_at), slice_arrays(y, 0, split_at),
                                    slice_arrays(sample_weights, 0, split_at))
        f = self._make_train_function()
        if val_ins is not None:
            val_f = self._make_test_function()
        out_labels = list(self.metrics_names)
        callback_metrics = out_labels + (["val_" + n for n in out_labels] if val_f else [])
        return self._fit_loop(f, x + y + sample_weights, out_labels, batch_size, epochs, verbose,
                              callbacks, val_f, val_ins, shuffle, callback_metrics, initial_epoch)

    def evaluate(self, x, y, batch_size: int = 32, verbose: int = 1, sample_weight=None):
        """Scalar test loss, or ``[loss, metrics...]`` (see ``metrics_names``)."""
        x, y, sw = self._standardize_user_data(x, y, sample_weight)
        return self._test_loop(self._make_test_function(), x + y + sw, batch_size, verbose)

    def predict(self, x, batch_size: int = 32, verbose: int = 0):
        f = self.predict_function or self._make_predict_function()
        if not verbose and self._is_plain_batch(x) and 0 < x.shape[0] <= batch_size:
            outs = f([x])     # one batch of a ready array: no copies, no loop
            return outs[0] if len(outs) == 1 else outs
        x = self._standardize_x(x)
        return self._predict_loop(f, x, batch_size, verbose)

    def _is_plain_batch(self, x) -> bool:
        """``x`` is one contiguous array of the single input's dtype and shape: it can go to the
        compiled function as it is (a few attribute checks instead of the full validation)."""
        fast = self._predict_fast
        return fast is not None and type(x) is np.ndarray and x.dtype == fast[0] \
            and x.shape[1:] == fast[1] and x.flags.c_contiguous

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        x, y, sw = self._standardize_user_data(x, y, sample_weight, class_weight)
        outs = self._make_train_function()(x + y + sw)
        return outs[0][()] if len(outs) == 1 else [o[()] for o in outs]

    def test_on_batch(self, x, y, sample_weight=None):
        x, y, sw = self._standardize_user_data(x, y, sample_weight)
        outs = self._make_test_function()(x + y + sw)
        return outs[0][()] if len(outs) == 1 else [o[()] for o in outs]

    def predict_on_batch(self, x):
        f = self.predict_function or self._make_predict_function()
        if self._is_plain_batch(x):
            outs = f([x])
        else:
            outs = f(self._standardize_x(x))
        return outs[0] if len(outs) == 1 else outs


def _batch_shuffle(index_array: np.ndarray, batch_size: int) -> np.ndarray:
    """Shuffle whole batches (for data that must be read in order, e.g. HDF5)."""
    batch_count = len(index_array) // batch_size
    last = index_array[batch_count * batch_size:]
    index_array = index_array[:batch_count * batch_size].reshape((batch_count, batch_size))
    np.random.shuffle(index_array)
    return np.append(index_array.flatten(), last)
