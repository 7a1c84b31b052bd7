"""``KernelProfiler``: time per generated kernel during ``fit``."""
from __future__ import annotations

import sys
from typing import Optional

from ..callbacks import Callback


class KernelProfiler(Callback):
    """At the end of every ``every``-th epoch (default: the last), replay the train step's last
    batch through the profiled entry point and report each kernel's median time, FLOP and byte
    rates (as ``graphnn bench``); ``self.results`` keeps one report per profiled epoch.  The
    weights are restored after the replays, so training is unchanged."""

    def __init__(self, every: Optional[int] = None, repeats: int = 10, top: int = 10,
                 verbose: int = 1, stream=None):
        super().__init__()
        self.every, self.repeats, self.top, self.verbose = every, repeats, top, verbose
        self.stream = stream or sys.stdout
        self.results = []
        self._peaks = None

    def _profile(self, epoch: int) -> None:
        from .bench import bench_function, format_table, machine_peaks
        f = self.model.train_function
        program = getattr(getattr(f, "_fn", None), "_program", None)
        if program is None or program.last_values is None:
            return
        if self._peaks is None:
            self._peaks = machine_peaks(0.1)
        r = bench_function(program, program.last_values, self._peaks, seconds=0.1,
                           repeats=self.repeats)
        report = {"model": self.model.name, "batch": int(program.last_values[0].shape[0]),
                  "epoch": epoch, "peaks": self._peaks, "functions": {"train": r}}
        self.results.append(report)
        if self.verbose:
            print(f"epoch {epoch + 1}: " + format_table(report, top=self.top), file=self.stream)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.every and (epoch + 1) % self.every == 0:
            self._profile(epoch)

    def on_train_end(self, logs=None) -> None:
        if not self.every:
            self._profile(self.params.get("epochs", self.params.get("nb_epoch", 1)) - 1)
