"""Resuming a run, and surviving an interruption of one.

:func:`open_run` checks a run folder before the first step and restores its newest intact
checkpoint (:func:`qgan_lab.training.checkpoints.restore`). While the loop runs, a
:class:`Snapshot` keeps the last finished epoch in memory, so a Ctrl-C (or a notebook's
Interrupt, SIGTERM, an exception from a callback or the data generator) can put the trainer back
to it and write it as an emergency checkpoint (:func:`save_on_interrupt`);
:func:`deferred_interrupts` holds a second Ctrl-C back until that save is complete. A resumed
run continues bit for bit where the saved one stopped.

Taught in ``06_training_loop`` and ``07_evaluation_and_troubleshooting``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..validation import BadValue, check_output_dir, spell
from . import checkpoints
from .checkpoints import COUNTERS

logger = logging.getLogger(__name__)


def open_run(trainer: Any, output_dir: Any, resume: bool, epochs: int, data_generator: Any) -> Path | None:
    """Check ``output_dir`` before the first step and, with ``resume``, restore the newest intact
    checkpoint in it: a new run may not overwrite a run, a resumed one needs a checkpoint of the
    same architecture and fewer than ``epochs`` epochs. Returns the folder (or None)."""
    if output_dir is not None:
        if resume and isinstance(output_dir, (str, Path)) and not checkpoints.saved_epochs(output_dir):
            raise BadValue(
                "resume=True",
                f"{output_dir} holds no checkpoint to continue; leave out {spell('resume=True')} "
                "to start a new run there",
            )
        output_dir = check_output_dir(output_dir)
        trainer.check_checkpoint_compatible(output_dir)
        if resume:
            done = trainer.restore(output_dir, data_generator)
            if epochs <= done:
                raise BadValue(
                    "epochs",
                    f"the run in {output_dir} has already done {done} epochs; {spell('epochs')} "
                    f"counts all epochs, so it must be more than {done} to train further (got {epochs})",
                )
        elif trainer.latest_checkpoint_epoch(output_dir) is not None:
            raise BadValue(
                "output_dir",
                f"{output_dir} already holds a run; pass {spell('resume=True')} to continue it "
                f"or choose another {spell('output_dir')}",
            )
    elif resume:
        raise BadValue("resume=True", f"needs the {spell('output_dir')} of the run to continue")
    return output_dir


def save_on_interrupt(
    trainer: Any, exc: BaseException, snapshot: Snapshot, saved_epoch: int, output_dir: Path | None, data_generator: Any
) -> None:
    """Put the trainer back to the last finished epoch and, with an ``output_dir``, save it
    (a second Ctrl-C is held back until the save is complete); the log says exactly what
    was saved. A checkpoint that could not be written (:class:`~qgan_lab.training.checkpoints.SaveError`)
    is not tried again."""
    why = "Interrupted" if isinstance(exc, KeyboardInterrupt) else f"Stopped by {type(exc).__name__}: {exc}"
    resume = spell("resume=True")
    with deferred_interrupts() as received:
        snapshot.restore_into(trainer, data_generator)  # (an epoch cut short leaves nothing behind)
        if output_dir is None:
            logger.warning("%s; the trainer holds epoch %d (no output_dir: nothing saved)", why, snapshot.epoch)
        elif isinstance(exc, checkpoints.SaveError):
            pass  # its message says what is intact
        elif snapshot.epoch > saved_epoch:
            trainer.save(output_dir, data_generator)
            logger.warning("%s; saved epoch %d to %s: continue with %s", why, snapshot.epoch, output_dir, resume)
        elif saved_epoch > 0:
            logger.warning(
                "%s; epoch %d was already saved in %s: continue with %s", why, saved_epoch, output_dir, resume
            )
        else:
            logger.warning("%s before the first epoch finished: nothing was saved in %s", why, output_dir)
    if received:
        logger.warning("A second interrupt arrived during the save; it was held back until the save was complete")


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """Within the block, SIGINT (a second Ctrl-C) and SIGTERM are held back, not raised, so an
    emergency save completes; the list collects the signals that arrived. (Main thread only;
    elsewhere signals go to the main thread anyway.)"""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda number, _frame: received.append(number))
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _tracked_variables(trainer: Any) -> list[tf.Variable]:
    seen: dict[int, tf.Variable] = {}
    groups = (
        trainer.generator.variables,
        trainer.discriminator.variables,
        trainer.g_optimizer.variables,
        trainer.d_optimizer.variables,
        [trainer.epoch, trainer.rng.state],
    )
    for group in groups:
        for var in group:
            seen.setdefault(id(var), var)
    return list(seen.values())


class Snapshot:
    """Everything a checkpoint holds, copied in memory (cheap for these models) at the end of
    an epoch, so that an interrupt mid-epoch can still save the last finished epoch."""

    def __init__(self, trainer: Any, data_generator: Any = None):
        self.epoch = int(trainer.epoch.numpy())
        self.values = [np.array(v.numpy(), copy=True) for v in _tracked_variables(trainer)]
        self.history = copy.deepcopy(trainer.metrics_history)
        rng = getattr(data_generator, "rng", None)
        self.data_rng = None if rng is None else copy.deepcopy(rng.bit_generator.state)
        self.counters = [
            {k: getattr(m, k) for k in COUNTERS} for m in (trainer.g_gradient_manager, trainer.d_gradient_manager)
        ]

    def restore_into(self, trainer: Any, data_generator: Any = None) -> None:
        """Put the trainer (and the data generator's random state) back to this snapshot."""
        for var, value in zip(_tracked_variables(trainer), self.values):
            var.assign(value)
        trainer.metrics_history = copy.deepcopy(self.history)
        rng = getattr(data_generator, "rng", None)
        if rng is not None and self.data_rng is not None:
            rng.bit_generator.state = copy.deepcopy(self.data_rng)
        for manager, counters in zip((trainer.g_gradient_manager, trainer.d_gradient_manager), self.counters):
            for key, value in counters.items():
                setattr(manager, key, value)
