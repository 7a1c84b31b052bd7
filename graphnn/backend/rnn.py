"""``K.rnn``: Keras's recurrence helper, compiled into one ``scan`` (no Python per timestep).

The step function is traced once on symbolic per-step tensors.  The scan carries one tensor:
the previous output and the states concatenated along the features, so a masked step keeps
both (Keras's semantics for padded timesteps).
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from ir import builder as b
from ir.ops.scan import last_step, scan
from ir.tensor import Tensor


def _time_major(x: Tensor) -> Tensor:
    return b.transpose(x, (1, 0) + tuple(range(2, x.ndim)))


def rnn(step_function: Callable, inputs: Tensor, initial_states: Sequence[Tensor],
        go_backwards: bool = False, mask: Optional[Tensor] = None,
        constants: Optional[Sequence[Tensor]] = None, unroll: bool = False,
        input_length: Optional[int] = None) -> Tuple[Tensor, Tensor, List[Tensor]]:
    """Iterate ``step_function(x_t, states + constants) -> (output, new_states)`` over axis 1 of
    ``inputs`` (``(samples, time, ...)``).  Returns ``(last_output, outputs, new_states)``;
    ``outputs`` is ``(samples, time, ...)`` in time order (also with ``go_backwards``, where
    ``outputs[:, t]`` is the output after reading step ``t``).  ``unroll`` compiles the same loop."""
    if inputs.ndim < 3:
        raise ValueError(f"K.rnn needs inputs of shape (samples, time, ...), got {inputs.type}")
    states = list(initial_states)
    for s in states:
        if s.ndim != 2:
            raise ValueError(f"K.rnn: states must be (samples, units) matrices, got {s.type}")
    constants = list(constants or [])
    x = _time_major(inputs)
    # the output's width: trace the step once on a symbolic step
    probe = b.placeholder(x.shape[1:], x.dtype, "step_input")
    out_probe, _ = step_function(probe, states + constants)
    if out_probe.ndim != 2:
        raise ValueError(f"K.rnn: the step output must be (samples, units), got {out_probe.type}")
    width = out_probe.shape[1]
    sizes = [width] + [s.shape[1] for s in states]
    zero_out = b.broadcast_to(b.constant(np.zeros((), x.dtype)),
                              (states[0].shape[0] if states else x.shape[1], width))
    init = b.concat([zero_out] + states, axis=1)
    seqs = [x]
    if mask is not None:
        m = b.cast(mask, x.dtype)
        seqs.append(b.expand_dims(b.transpose(m, (1, 0)), -1))   # (time, samples, 1)

    def split(c):
        parts, start = [], 0
        for n in sizes:
            parts.append(c[:, start:start + n])
            start += n
        return parts

    def step(c, s, k):
        parts = split(c)
        out, new_states = step_function(s[0], parts[1:] + constants)
        new = b.concat([out] + list(new_states), axis=1)
        if mask is not None:
            new = b.where(b.greater(s[1], 0.5), new, c)
        return new

    y = scan(init, seqs, [], step, reverse=go_backwards, name="rnn_step")
    last = last_step(y, reverse=go_backwards)
    parts = split(last)
    outputs = _time_major(y[:, :, :width])
    return parts[0], outputs, parts[1:]
