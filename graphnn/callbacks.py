"""Training callbacks (Keras ``callbacks``): hooks around epochs and batches."""
from __future__ import annotations

import sys
import warnings
from typing import Dict, List, Optional

import numpy as np

from .utils.generic_utils import Progbar


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

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream

    def on_train_begin(self, logs=None):
        self.verbose = self.params["verbose"]
        self.epochs = self.params["epochs"]

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            (self.stream or sys.stdout).write("Epoch %d/%d\n" % (epoch + 1, self.epochs))
            self.progbar = Progbar(target=self.params["samples"], verbose=self.verbose,
                                   stream=self.stream)
        self.seen = 0
        self.log_values = []

    def on_batch_begin(self, batch, logs=None):
        if self.seen < self.params["samples"]:
            self.log_values = []

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.seen += logs.get("size", 0)
        for k in self.params["metrics"]:
            if k in logs:
                self.log_values.append((k, logs[k]))
        # the last batch is drawn by on_epoch_end, together with the validation metrics
        if self.verbose and self.seen < self.params["samples"]:
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
