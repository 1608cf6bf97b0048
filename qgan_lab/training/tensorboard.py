"""Training curves for TensorBoard: :class:`TensorBoardLogger`, a callback that writes every
epoch's scalars with ``tf.summary``.

It writes each value the trainer logs for the epoch (the keys of ``history.json``: losses, W1,
gradient counts and norms, smallest traces, epoch time...), both learning rates, and, given the
target's mode centres, the mode coverage of the epoch's validation samples. The headless
``train`` command and every sweep trial add one writing to ``RUN_DIR/tensorboard`` (``train
--no-tensorboard`` leaves it out); in Python pass it in ``callbacks``. View them with
``tensorboard --logdir RUN_DIR`` (or a sweep's folder: every trial appears). Needs the
``tensorboard`` package (``pip install -e '.[sweep]'``). Taught in ``08_sweeps``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import mode_coverage
from .callbacks import QuantumGANCallback

#: where :func:`qgan_lab.cli.run_config` puts the event files, inside the run's folder
LOG_SUBDIR = "tensorboard"


def summary_api() -> Any:
    """``tf.summary`` with its scalar writer (which the ``tensorboard`` package provides), or an
    ``ImportError`` saying how to install it."""
    import tensorflow as tf

    if not hasattr(tf.summary, "scalar"):
        raise ImportError(
            "tf.summary.scalar needs the tensorboard package: pip install -e '.[sweep]' "
            "(or pass tensorboard=False / --no-tensorboard)"
        )
    return tf.summary


class TensorBoardLogger(QuantumGANCallback):
    """Write each epoch's scalars to ``log_dir`` (step = epoch).

    Tags: every key of the epoch's ``logs`` as is (so the event files hold what ``history.json``
    holds), ``learning_rate/g`` and ``learning_rate/d``, and with ``centers`` (``[k, dim]``, the
    target's mode centres) ``mode_coverage/min`` and ``mode_coverage/mode_i`` of the epoch's
    validation samples (the trainer keeps them when it has ``validation_data``).
    Add it last to ``callbacks`` to see what the callbacks before it add to ``logs``.
    """

    def __init__(self, log_dir: str | Path, centers: Any = None):
        self.summary = summary_api()  # fail at construction, before any training
        self.log_dir = Path(log_dir)
        self.centers = None if centers is None else np.asarray(centers, dtype=float)
        self._writer: Any = None

    def on_epoch_end(self, epoch, trainer, logs=None):
        if self._writer is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = self.summary.create_file_writer(str(self.log_dir))
        scalars = {key: float(value) for key, value in (logs or {}).items()}
        scalars["learning_rate/g"] = float(np.asarray(trainer.g_optimizer.learning_rate))
        scalars["learning_rate/d"] = float(np.asarray(trainer.d_optimizer.learning_rate))
        samples = getattr(trainer, "epoch_samples", None)
        if self.centers is not None and samples is not None and samples[0] == epoch:
            coverage = mode_coverage(samples[1], self.centers)
            scalars["mode_coverage/min"] = float(coverage.min())
            scalars.update({f"mode_coverage/mode_{i}": float(c) for i, c in enumerate(coverage)})
        with self._writer.as_default(step=epoch):
            for tag, value in scalars.items():
                self.summary.scalar(tag, value)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (also done when the logger is garbage-collected)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_scalars(log_dir: str | Path) -> dict[str, dict[int, float]]:
    """Every scalar in the event files under ``log_dir``: ``{tag: {step: value}}`` (a later
    file's value wins, as after a resumed run). For tests and notebooks."""
    import tensorflow as tf

    out: dict[str, dict[int, float]] = {}
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = tf.make_ndarray(value.tensor) if value.HasField("tensor") else value.simple_value
                out.setdefault(value.tag, {})[int(event.step)] = float(number)
    return out
