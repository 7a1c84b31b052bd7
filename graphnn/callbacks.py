"""Training callbacks (Keras ``callbacks``): hooks around epochs and batches."""
from __future__ import annotations

import csv
import io
import os
import sys
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np

from .utils.generic_utils import Progbar
from .utils.io_utils import atomic_open


class Callback:
    """Base class; ``self.model`` and ``self.params`` are set before training starts."""

    def __init__(self):
        self.model = None
        self.params: Dict = {}
        self.validation_data = None

    def set_params(self, params: Dict) -> None:
        self.params = params

    def set_model(self, model) -> None:
        self.model = model

    # Keras 1 private names
    _set_params = set_params
    _set_model = set_model

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict] = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Optional[Dict] = None) -> None:
        pass

    def on_batch_begin(self, batch: int, logs: Optional[Dict] = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: Optional[Dict] = None) -> None:
        pass

    def on_train_begin(self, logs: Optional[Dict] = None) -> None:
        pass

    def on_train_end(self, logs: Optional[Dict] = None) -> None:
        pass


class CallbackList:
    """Dispatches each hook to every callback; per-batch hooks skip callbacks that do not override
    them, keeping the per-batch Python cost small."""

    def __init__(self, callbacks: Optional[List[Callback]] = None):
        self.callbacks = list(callbacks or [])
        self._refresh()

    def _refresh(self):
        def overriding(name):
            base = getattr(Callback, name)
            hooks = (getattr(c, name) for c in self.callbacks)
            return [f for f in hooks if getattr(f, "__func__", f) is not base]
        self._batch_begin = overriding("on_batch_begin")
        self._batch_end = overriding("on_batch_end")

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        self._refresh()

    def set_params(self, params: Dict) -> None:
        for c in self.callbacks:
            c.set_params(params)

    def set_model(self, model) -> None:
        for c in self.callbacks:
            c.set_model(model)

    _set_params = set_params
    _set_model = set_model

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        logs = logs if logs is not None else {}
        for c in self.callbacks:
            c.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs if logs is not None else {}
        for c in self.callbacks:
            c.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs=None) -> None:
        for f in self._batch_begin:
            f(batch, logs)

    def on_batch_end(self, batch: int, logs=None) -> None:
        for f in self._batch_end:
            f(batch, logs)

    def on_train_begin(self, logs=None) -> None:
        for c in self.callbacks:
            c.on_train_begin(logs or {})

    def on_train_end(self, logs=None) -> None:
        for c in self.callbacks:
            c.on_train_end(logs or {})

    def __iter__(self):
        return iter(self.callbacks)


class BaseLogger(Callback):
    """Epoch averages of the batch metrics, weighted by batch size (always added by ``fit``)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0
        self.totals: Dict[str, float] = {}

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        batch_size = logs.get("size", 0)
        self.seen += batch_size
        for k, v in logs.items():
            if k in ("batch", "size"):
                continue
            self.totals[k] = self.totals.get(k, 0.0) + v * batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            for k in self.params["metrics"]:
                if k in self.totals:
                    logs[k] = self.totals[k] / self.seen


class ProgbarLogger(Callback):
    """Prints 'Epoch i/n' and a progress bar (verbose=1) or one line per epoch (verbose=2)."""

    def __init__(self, count_mode: str = "samples", stream=None):
        super().__init__()
        if count_mode not in ("samples", "steps"):
            raise ValueError("Unknown `count_mode`: " + str(count_mode))
        self.use_steps = count_mode == "steps"
        self.stream = stream

    def on_train_begin(self, logs=None):
        self.verbose = self.params["verbose"]
        self.epochs = self.params["epochs"]
        target = self.params.get("steps") if self.use_steps else None
        self.target = target if target is not None else self.params["samples"]

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            (self.stream or sys.stdout).write("Epoch %d/%d\n" % (epoch + 1, self.epochs))
            self.progbar = Progbar(target=self.target, verbose=self.verbose, stream=self.stream)
        self.seen = 0
        self.log_values = []

    def on_batch_begin(self, batch, logs=None):
        if self.seen < self.target:
            self.log_values = []

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.seen += 1 if self.use_steps else logs.get("size", 0)
        for k in self.params["metrics"]:
            if k in logs:
                self.log_values.append((k, logs[k]))
        # the last batch is drawn by on_epoch_end, together with the validation metrics
        if self.verbose and self.seen < self.target:
            self.progbar.update(self.seen, self.log_values)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for k in self.params["metrics"]:
            if k in logs:
                self.log_values.append((k, logs[k]))
        if self.verbose:
            self.progbar.update(self.seen, self.log_values, force=True)


class History(Callback):
    """Records the epoch logs: ``history.history['loss']`` etc. (returned by ``fit``)."""

    def on_train_begin(self, logs=None):
        self.epoch: List[int] = []
        self.history: Dict[str, List] = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto"):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        if mode not in ("auto", "min", "max"):
            warnings.warn("EarlyStopping mode %s is unknown, fallback to auto mode." % mode)
            mode = "auto"
        if mode == "max" or (mode == "auto" and "acc" in monitor):
            self.monitor_op, self.min_delta = np.greater, abs(min_delta)
        else:
            self.monitor_op, self.min_delta = np.less, -abs(min_delta)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.monitor_op is np.less else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn("Early stopping requires %s available!" % self.monitor, RuntimeWarning)
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
        else:
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
            self.wait += 1

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print("Epoch %05d: early stopping" % (self.stopped_epoch))


class LearningRateScheduler(Callback):
    """Sets ``optimizer.lr`` each epoch from ``schedule(epoch)`` (no recompilation needed)."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        from . import backend as K
        lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.floating, int)):
            raise ValueError("The output of the \"schedule\" function should be float.")
        K.set_value(self.model.optimizer.lr, lr)


class LambdaCallback(Callback):
    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None):
        super().__init__()
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_begin", on_batch_begin), ("on_batch_end", on_batch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)


def _monitor_op(mode: str, monitor: str, who: str):
    """``np.less`` or ``np.greater`` for 'min'/'max'; 'auto' maximizes accuracies."""
    if mode not in ("auto", "min", "max"):
        warnings.warn("%s mode %s is unknown, fallback to auto mode." % (who, mode),
                      RuntimeWarning)
        mode = "auto"
    if mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.startswith("fmeasure"))):
        return np.greater
    return np.less


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after every ``period`` epochs to ``filepath``, which may
    name epoch and log values: ``weights.{epoch:02d}-{val_loss:.2f}.hdf5`` (epochs count from 1,
    as in Keras 2).  Each write is atomic, so an interrupted save keeps the previous file."""

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", period: int = 1):
        super().__init__()
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.period = period
        self.epochs_since_last_save = 0
        self.monitor_op = _monitor_op(mode, monitor, "ModelCheckpoint")
        self.best = np.inf if self.monitor_op is np.less else -np.inf

    def _save(self, filepath: str) -> None:
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        filepath = self.filepath.format(epoch=epoch + 1, **logs)
        if not self.save_best_only:
            if self.verbose > 0:
                print("Epoch %05d: saving model to %s" % (epoch + 1, filepath))
            self._save(filepath)
            return
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn("Can save best model only with %s available, skipping." % self.monitor,
                          RuntimeWarning)
        elif self.monitor_op(current, self.best):
            if self.verbose > 0:
                print("Epoch %05d: %s improved from %0.5f to %0.5f, saving model to %s"
                      % (epoch + 1, self.monitor, self.best, current, filepath))
            self.best = current
            self._save(filepath)
        elif self.verbose > 0:
            print("Epoch %05d: %s did not improve" % (epoch + 1, self.monitor))


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by
    ``epsilon`` (Keras 2.1+: ``min_delta``) for ``patience`` epochs; then wait ``cooldown``
    epochs; never below ``min_lr``.  Writes the variable: no recompilation."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", epsilon: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0, min_delta: Optional[float] = None):
        super().__init__()
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0.")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.epsilon = epsilon if min_delta is None else min_delta
        self.cooldown, self.min_lr = cooldown, min_lr
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        op = _monitor_op(self.mode, self.monitor, "Learning Rate Plateau Reducing")
        if op is np.less:
            self.monitor_op = lambda a, b: np.less(a, b - self.epsilon)
            self.best = np.inf
        else:
            self.monitor_op = lambda a, b: np.greater(a, b + self.epsilon)
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        from . import backend as K
        logs = logs if logs is not None else {}
        logs["lr"] = float(K.get_value(self.model.optimizer.lr))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn("Learning Rate Plateau Reducing requires %s available!" % self.monitor,
                          RuntimeWarning)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            if self.wait >= self.patience:
                old_lr = float(K.get_value(self.model.optimizer.lr))
                if old_lr > self.min_lr:
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    K.set_value(self.model.optimizer.lr, new_lr)
                    if self.verbose > 0:
                        print("\nEpoch %05d: reducing learning rate to %s." % (epoch + 1, new_lr))
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
            self.wait += 1


class CSVLogger(Callback):
    """One row per epoch (``epoch`` then the sorted log keys) in a CSV file; ``append=True``
    continues an existing file.  Each row rewrites the file atomically."""

    def __init__(self, filename: str, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.sep, self.append = filename, separator, append
        self.keys: Optional[List[str]] = None

    def on_train_begin(self, logs=None):
        self.keys = None
        self._header = not (self.append and os.path.exists(self.filename) and
                            os.path.getsize(self.filename) > 0)
        self._mode = "a" if self.append else "w"

    @staticmethod
    def _text(value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
            return '"[%s]"' % ", ".join(str(v) for v in value)
        return str(value)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs.keys())
        row = OrderedDict([("epoch", epoch)])
        row.update((k, self._text(logs.get(k, "NA"))) for k in self.keys)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(row), delimiter=self.sep,
                                lineterminator="\n")
        if self._header:
            writer.writeheader()
            self._header = False
        writer.writerow(row)
        with atomic_open(self.filename, self._mode, newline="") as f:
            f.write(buf.getvalue())
        self._mode = "a"


class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            print("Batch %d: Invalid loss, terminating training" % batch)
            self.model.stop_training = True


class RemoteMonitor(Callback):
    """Not available: graphnn runs offline (kept so Keras code that names it fails clearly)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("RemoteMonitor is not supported by graphnn (it needs network "
                                  "access); use CSVLogger or a LambdaCallback instead.")
