"""``fit_generator`` / ``evaluate_generator`` / ``predict_generator`` (a mixin of ``Model``).

Batches are drawn by background threads into a bounded queue (``GeneratorEnqueuer``), so a slow
Python generator (augmentation, file reading) overlaps with the compiled training step, which
releases the GIL.  An exception raised by the generator is re-raised in the caller.

Both spellings are accepted: Keras 2 counts ``steps_per_epoch`` / ``validation_steps`` / ``steps``
(batches), Keras 1 counted ``samples_per_epoch`` / ``nb_val_samples`` / ``val_samples``
(samples); ``max_q_size``, ``nb_worker`` and ``pickle_safe`` are Keras 1's ``max_queue_size``,
``workers`` and ``use_multiprocessing``.  Workers are threads in both cases: the compiled
program and its variables live in this process.
"""
from __future__ import annotations

import queue
import sys
import threading
from typing import Any, Dict, List, Optional

import numpy as np

from .. import callbacks as cbks
from ..utils.generic_utils import to_list

_KERAS1_ONLY = ("nb_epoch", "nb_val_samples", "max_q_size", "nb_worker", "pickle_safe")


class GeneratorEnqueuer:
    """Runs ``next(generator)`` on ``workers`` daemon threads (one at a time: Python generators
    are not thread-safe) and keeps up to ``max_queue_size`` batches ready, in the generator's
    order."""

    _DONE = object()

    def __init__(self, generator, use_multiprocessing: bool = False, wait_time: float = 0.05):
        self._generator = iter(generator) if not hasattr(generator, "__next__") else generator
        self.use_multiprocessing = use_multiprocessing
        self.wait_time = wait_time
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self.queue: Optional[queue.Queue] = None

    def start(self, workers: int = 1, max_queue_size: int = 10) -> None:
        self.queue = queue.Queue(maxsize=max(1, int(max_queue_size)))
        self._stop.clear()
        for _ in range(max(1, int(workers))):
            t = threading.Thread(target=self._produce, daemon=True, name="graphnn-generator")
            self._threads.append(t)
            t.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=self.wait_time)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        # drawing and queueing under one lock keeps the generator's order (so training with
        # several workers is deterministic); the workers still overlap the consumer's steps
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    item = next(self._generator)
                except StopIteration:
                    self._put((self._DONE, None))
                    return
                except BaseException:  # re-raised by get() in the consumer's thread
                    self._put((None, sys.exc_info()))
                    return
                if not self._put((item, None)):
                    return

    def is_running(self) -> bool:
        return not self._stop.is_set() and any(t.is_alive() for t in self._threads)

    def get(self):
        """The next batch; the generator's own exception if it raised one."""
        while True:
            try:
                item, error = self.queue.get(timeout=self.wait_time)
            except queue.Empty:
                if not any(t.is_alive() for t in self._threads) and self.queue.empty():
                    raise StopIteration
                continue
            if error is not None:
                self.stop()
                raise error[1].with_traceback(error[2])
            if item is self._DONE:
                raise StopIteration
            return item

    def stop(self, timeout: Optional[float] = None) -> None:
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout if timeout is not None else 1.0)
        self._threads = []


def _unpack(batch, what: str):
    """``(x, y)`` or ``(x, y, sample_weight)`` from a generator's output."""
    if not isinstance(batch, tuple) or len(batch) not in (2, 3):
        raise ValueError("output of generator should be a tuple `(x, y, sample_weight)` or "
                         "`(x, y)`. Found: " + str(batch)[:200] + " (in " + what + ")")
    return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)


def _batch_size(x) -> int:
    if isinstance(x, dict):
        x = next(iter(x.values()))
    if isinstance(x, (list, tuple)):
        x = x[0]
    return int(np.asarray(x).shape[0])


def _pick(keras2, keras1, name2: str, name1: str, default=None):
    if keras2 is not None and keras1 is not None and keras2 != keras1:
        raise TypeError("Pass either `" + name2 + "` (Keras 2) or `" + name1 + "` (Keras 1), "
                        "not both.")
    if keras1 is not None:
        return keras1
    return keras2 if keras2 is not None else default


class _Counter:
    """Counts an epoch in steps (Keras 2) or in samples (Keras 1)."""

    def __init__(self, steps: Optional[int], samples: Optional[int], what: str):
        if steps is None and samples is None:
            raise ValueError("`" + what + "` needs `steps` (Keras 2: steps_per_epoch / "
                             "validation_steps / steps) or a number of samples (Keras 1: "
                             "samples_per_epoch / nb_val_samples / val_samples).")
        self.steps, self.samples = steps, samples
        self.done_steps = self.done_samples = 0

    def more(self) -> bool:
        if self.samples is not None:
            return self.done_samples < self.samples
        return self.done_steps < self.steps

    def add(self, size: int) -> None:
        self.done_steps += 1
        self.done_samples += size


class GeneratorMixin:
    """The generator methods of ``Model`` (kept out of ``training.py``)."""

    def fit_generator(self, generator, steps_per_epoch: Optional[int] = None,
                      epochs: Optional[int] = None, verbose: int = 1, callbacks=None,
                      validation_data=None, validation_steps: Optional[int] = None,
                      class_weight=None, max_queue_size: Optional[int] = None,
                      workers: Optional[int] = None, use_multiprocessing: Optional[bool] = None,
                      shuffle: bool = True, initial_epoch: int = 0,
                      samples_per_epoch: Optional[int] = None, nb_epoch: Optional[int] = None,
                      nb_val_samples: Optional[int] = None, max_q_size: Optional[int] = None,
                      nb_worker: Optional[int] = None, pickle_safe: Optional[bool] = None,
                      **kwargs) -> cbks.History:
        """Train on batches ``(x, y[, sample_weight])`` from ``generator``.  An epoch is
        ``steps_per_epoch`` batches, or (Keras 1) ``samples_per_epoch`` samples; a positional
        count together with Keras 1 keywords (``nb_epoch=``...) is read as samples."""
        if kwargs:
            raise TypeError("Unrecognized keyword arguments: " + str(kwargs))
        if samples_per_epoch is None and steps_per_epoch is not None and \
                (nb_epoch is not None or nb_val_samples is not None or max_q_size is not None or
                 nb_worker is not None or pickle_safe is not None):
            samples_per_epoch, steps_per_epoch = steps_per_epoch, None  # Keras 1 positional call
        epochs = _pick(epochs, nb_epoch, "epochs", "nb_epoch", 1)
        queue_size = _pick(max_queue_size, max_q_size, "max_queue_size", "max_q_size", 10)
        n_workers = _pick(workers, nb_worker, "workers", "nb_worker", 1)
        multiprocessing = _pick(use_multiprocessing, pickle_safe, "use_multiprocessing",
                                "pickle_safe", False)
        if steps_per_epoch is None and samples_per_epoch is None and hasattr(generator, "__len__"):
            steps_per_epoch = len(generator)
        _Counter(steps_per_epoch, samples_per_epoch, "fit_generator")  # validates the arguments
        val_gen = validation_data is not None and not isinstance(validation_data, (tuple, list))
        if val_gen and validation_steps is None and nb_val_samples is None:
            if hasattr(validation_data, "__len__"):
                validation_steps = len(validation_data)
            else:
                raise ValueError("When using a generator for validation data, you must specify "
                                 "a value for `validation_steps` (Keras 1: `nb_val_samples`).")
        do_validation = validation_data is not None
        f = self._make_train_function()
        if do_validation:
            self._make_test_function()
        out_labels = list(self.metrics_names)
        callback_metrics = out_labels + (["val_" + n for n in out_labels] if do_validation else [])
        self.history = cbks.History()
        callback_list = [cbks.BaseLogger()] + list(callbacks or []) + [self.history]
        if verbose:
            callback_list.append(cbks.ProgbarLogger(
                count_mode="samples" if samples_per_epoch is not None else "steps"))
        callback_list = cbks.CallbackList(callback_list)
        callback_model = getattr(self, "callback_model", None) or self
        callback_list.set_model(callback_model)
        callback_list.set_params({
            "epochs": epochs, "nb_epoch": epochs, "steps": steps_per_epoch,
            "samples": samples_per_epoch if samples_per_epoch is not None else steps_per_epoch,
            "nb_sample": samples_per_epoch, "verbose": verbose, "do_validation": do_validation,
            "metrics": callback_metrics})
        val_arrays = None
        if do_validation and not val_gen:
            vx, vy, vsw = validation_data if len(validation_data) == 3 else \
                (validation_data[0], validation_data[1], None)
            val_arrays = self._standardize_user_data(vx, vy, vsw)
        enqueuer = GeneratorEnqueuer(generator, multiprocessing)
        enqueuer.start(workers=n_workers, max_queue_size=queue_size)
        callback_model.stop_training = False
        callback_list.on_train_begin()
        try:
            for epoch in range(initial_epoch, epochs):
                callback_list.on_epoch_begin(epoch)
                counter = _Counter(steps_per_epoch, samples_per_epoch, "fit_generator")
                while counter.more():
                    x, y, sw = _unpack(enqueuer.get(), "fit_generator")
                    size = _batch_size(x)
                    logs: Dict[str, Any] = {"batch": counter.done_steps, "size": size}
                    callback_list.on_batch_begin(counter.done_steps, logs)
                    xs, ys, sws = self._standardize_user_data(x, y, sw, class_weight)
                    for label, o in zip(out_labels, f(xs + ys + sws)):
                        logs[label] = o[()]
                    callback_list.on_batch_end(counter.done_steps, logs)
                    counter.add(size)
                    if callback_model.stop_training:
                        break
                epoch_logs: Dict[str, Any] = {}
                if do_validation and not counter.more():  # a complete epoch
                    if val_gen:
                        val_outs = self.evaluate_generator(
                            validation_data, validation_steps, max_queue_size=queue_size,
                            workers=n_workers, val_samples=nb_val_samples)
                    else:
                        val_outs = self._test_loop(self._make_test_function(),
                                                   val_arrays[0] + val_arrays[1] + val_arrays[2])
                    for label, o in zip(out_labels, to_list(val_outs)):
                        epoch_logs["val_" + label] = o
                callback_list.on_epoch_end(epoch, epoch_logs)
                if callback_model.stop_training:
                    break
        except StopIteration:
            raise ValueError("The generator stopped before the epoch was complete: it must "
                             "yield batches indefinitely (or at least epochs * steps_per_epoch "
                             "batches).") from None
        finally:
            enqueuer.stop()
        callback_list.on_train_end()
        return self.history

    def evaluate_generator(self, generator, steps: Optional[int] = None,
                           max_queue_size: Optional[int] = None, workers: Optional[int] = None,
                           use_multiprocessing: Optional[bool] = None,
                           val_samples: Optional[int] = None, max_q_size: Optional[int] = None,
                           nb_worker: Optional[int] = None, pickle_safe: Optional[bool] = None,
                           verbose: int = 0):
        """Loss (and metrics) averaged over ``steps`` batches (Keras 1: ``val_samples``
        samples), weighted by batch size."""
        if steps is None and val_samples is None and hasattr(generator, "__len__"):
            steps = len(generator)
        counter = _Counter(steps, val_samples, "evaluate_generator")
        f = self._make_test_function()
        enqueuer = GeneratorEnqueuer(generator, _pick(use_multiprocessing, pickle_safe,
                                                      "use_multiprocessing", "pickle_safe", False))
        enqueuer.start(workers=_pick(workers, nb_worker, "workers", "nb_worker", 1),
                       max_queue_size=_pick(max_queue_size, max_q_size, "max_queue_size",
                                            "max_q_size", 10))
        totals: List[float] = []
        try:
            while counter.more():
                x, y, sw = _unpack(enqueuer.get(), "evaluate_generator")
                xs, ys, sws = self._standardize_user_data(x, y, sw)
                size = _batch_size(xs)
                outs = f(xs + ys + sws)
                if not totals:
                    totals = [0.0] * len(outs)
                for i, o in enumerate(outs):
                    totals[i] += float(o[()]) * size
                counter.add(size)
        except StopIteration:
            raise ValueError("The generator stopped after " + str(counter.done_steps) +
                             " batches; evaluate_generator needed more.") from None
        finally:
            enqueuer.stop()
        averages = [t / counter.done_samples for t in totals]
        return averages[0] if len(averages) == 1 else averages

    def predict_generator(self, generator, steps: Optional[int] = None,
                          max_queue_size: Optional[int] = None, workers: Optional[int] = None,
                          use_multiprocessing: Optional[bool] = None, verbose: int = 0,
                          val_samples: Optional[int] = None, max_q_size: Optional[int] = None,
                          nb_worker: Optional[int] = None, pickle_safe: Optional[bool] = None):
        """Predictions for ``steps`` batches (Keras 1: ``val_samples`` samples), concatenated.
        The generator yields ``x`` or ``(x, y[, sample_weight])``."""
        if steps is None and val_samples is None and hasattr(generator, "__len__"):
            steps = len(generator)
        counter = _Counter(steps, val_samples, "predict_generator")
        f = self.predict_function or self._make_predict_function()
        enqueuer = GeneratorEnqueuer(generator, _pick(use_multiprocessing, pickle_safe,
                                                      "use_multiprocessing", "pickle_safe", False))
        enqueuer.start(workers=_pick(workers, nb_worker, "workers", "nb_worker", 1),
                       max_queue_size=_pick(max_queue_size, max_q_size, "max_queue_size",
                                            "max_q_size", 10))
        chunks: List[List[np.ndarray]] = []
        try:
            while counter.more():
                batch = enqueuer.get()
                x = batch[0] if isinstance(batch, tuple) and len(batch) in (2, 3) else batch
                xs = self._standardize_x(x)
                outs = f(xs)
                chunks.append([np.array(o) for o in outs])
                counter.add(_batch_size(xs))
        except StopIteration:
            raise ValueError("The generator stopped after " + str(counter.done_steps) +
                             " batches; predict_generator needed more.") from None
        finally:
            enqueuer.stop()
        if not chunks:
            return []
        outs = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        return outs[0] if len(outs) == 1 else outs
