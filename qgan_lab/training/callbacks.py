"""Callbacks run by the trainer at the end of every epoch.

``QuantumGANCallback`` is the guide's hook, ``on_epoch_end(epoch, trainer, logs)``; subclass
it. Built in: the guide's two checks, split into :class:`ModeCollapseMonitor` and
:class:`LearningRateRule` (:func:`guide_callbacks` gives both), :class:`EarlyStopping`, and
:class:`CutoffMonitor` (every trainer has one). Taught in ``06_training_loop``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import tensorflow as tf

from ..metrics import mode_coverage

logger = logging.getLogger(__name__)


class QuantumGANCallback:
    """Base class: override :meth:`on_epoch_end` (``epoch`` counts from 1)."""

    def on_epoch_end(self, epoch: int, trainer: Any, logs: dict[str, float] | None = None) -> None:
        """Called after each epoch with that epoch's summary in ``logs``."""


class ModeCollapseMonitor(QuantumGANCallback):
    """Warn when the generated samples collapse.

    The guide's check: the total variance of ``n_samples`` samples drops below ``threshold``
    (0.1). That misses a generator that piles its samples near *one* of several modes while
    keeping some spread, so with ``centers`` (the target's mode centres) it also warns when a
    mode gets less than ``min_coverage`` of the samples (nearest-centre fractions, as in
    :func:`qgan_lab.metrics.mode_coverage`). Flagged epochs go to ``collapsed_epochs``.
    """

    def __init__(self, threshold: float = 0.1, n_samples: int = 100, centers: Any = None, min_coverage: float = 0.05):
        self.threshold = float(threshold)
        self.n_samples = int(n_samples)
        self.centers = None if centers is None else np.asarray(centers, dtype=float)
        if self.centers is not None and (self.centers.ndim != 2 or len(self.centers) < 2):
            raise ValueError(f"centers must be a (n_modes >= 2, dim) array, got shape {self.centers.shape}")
        if not 0 < min_coverage < 1:
            raise ValueError(f"min_coverage must be in (0, 1), got {min_coverage}")
        self.min_coverage = float(min_coverage)
        self.collapsed_epochs: list[int] = []

    def on_epoch_end(self, epoch, trainer, logs=None):
        samples = trainer.sample(self.n_samples).numpy()
        variance = float(np.var(samples, axis=0).sum())
        coverage = None if self.centers is None else mode_coverage(samples, self.centers)
        if logs is not None:
            logs["sample_variance"] = variance
            if coverage is not None:
                logs["min_mode_coverage"] = float(coverage.min())
        if variance < self.threshold:
            self.collapsed_epochs.append(epoch)
            logger.warning("Potential mode collapse at epoch %d: sample variance %.4f", epoch, variance)
        elif coverage is not None and coverage.min() < self.min_coverage:
            self.collapsed_epochs.append(epoch)
            logger.warning(
                "Potential mode collapse at epoch %d: mode coverage %s (a mode below %.0f%%)",
                epoch,
                ", ".join(f"{100 * c:.0f}%" for c in coverage),
                100 * self.min_coverage,
            )


class CutoffMonitor(QuantumGANCallback):
    """Warn when a generator or critic state leaves the Fock cutoff: the epoch's smallest trace
    (``logs["min_trace"]``, ``logs["critic_min_trace"]``) below ``threshold`` (default 0.9).

    Below the threshold the model's outputs are no longer the circuit's (photons past the
    cutoff are lost), so each such epoch is recorded in ``low_trace_epochs`` as
    ``(epoch, model, trace)``; with ``stop=True`` training stops too. Taught in
    ``07_evaluation_and_troubleshooting``.
    """

    def __init__(self, threshold: float = 0.9, stop: bool = False):
        self.threshold = float(threshold)
        self.stop = bool(stop)
        self.low_trace_epochs: list[tuple[int, str, float]] = []

    def on_epoch_end(self, epoch, trainer, logs=None):
        for key, model in (("min_trace", "generator"), ("critic_min_trace", "critic")):
            value = (logs or {}).get(key)
            if value is None or not value < self.threshold:
                continue
            self.low_trace_epochs.append((epoch, model, float(value)))
            logger.warning(
                "Epoch %d: the %s's state leaves the cutoff (smallest trace %.3g < %.2f): its outputs are "
                "wrong. Lower the learning rate, raise cutoff_dim, or rescale the data.",
                epoch,
                model,
                value,
                self.threshold,
            )
            if self.stop:
                trainer.stop_training = True


class LearningRateRule(QuantumGANCallback):
    """The guide's rule: after ``start_epoch``, if ``|g_loss| > factor * |d_loss|``, multiply the
    generator's learning rate by ``decay``. (Magnitudes, because Wasserstein losses are signed.)"""

    def __init__(self, start_epoch: int = 50, factor: float = 10.0, decay: float = 0.9):
        self.start_epoch, self.factor, self.decay = int(start_epoch), float(factor), float(decay)
        self.changes: list[tuple[int, float]] = []

    def on_epoch_end(self, epoch, trainer, logs=None):
        if logs is None or epoch <= self.start_epoch:
            return
        if abs(logs["g_loss"]) > self.factor * abs(logs["d_loss"]):
            new = float(np.asarray(trainer.g_optimizer.learning_rate)) * self.decay
            trainer.g_optimizer.learning_rate = new  # Keras assigns to its variable
            self.changes.append((epoch, new))
            logger.info("Reduced generator learning rate to %.3g", new)


class EarlyStopping(QuantumGANCallback):
    """Stop when ``logs[monitor]`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_w1", patience: int = 10, min_delta: float = 0.0, mode: str = "min"):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, int(patience), float(min_delta), mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch, trainer, logs=None):
        if not logs or self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which the trainer did not log "
                f"(available: {sorted(logs or {})}); pass validation_data to train() for val_* metrics"
            )
        value = logs[self.monitor]
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            logger.info(
                "Early stopping at epoch %d: best %s = %.4f at epoch %d",
                epoch,
                self.monitor,
                self.best,
                self.best_epoch,
            )


class CriticSnapshots(QuantumGANCallback):
    """Keep the critic's score on a grid of inputs at chosen epochs: what the critic *sees*.

    ``maps[epoch]`` is ``[points, points]`` (rows: the second feature; 2-D inputs) or
    ``[points]`` (1-D), with :attr:`grid` the coordinates along each axis, and ``samples[epoch]``
    the generator's samples of that epoch's validation (where the trainer drew them). Plot with
    :func:`qgan_lab.lab.plotting.plot_critic_maps`. Taught in ``06_training_loop``.
    """

    def __init__(self, epochs: Any, low: float = -5.0, high: float = 5.0, points: int = 41):
        self.epochs = {int(e) for e in epochs}
        self.grid = np.linspace(low, high, int(points))
        self.maps: dict[int, np.ndarray] = {}
        self.samples: dict[int, np.ndarray] = {}

    def on_epoch_end(self, epoch, trainer, logs=None):
        if epoch not in self.epochs:
            return
        critic = trainer.discriminator
        if critic.input_dim == 1:
            inputs = self.grid[:, None]
        else:
            gx, gy = np.meshgrid(self.grid, self.grid)
            inputs = np.stack([gx.ravel(), gy.ravel()] + [np.zeros(gx.size)] * (critic.input_dim - 2), 1)
        score = trainer.steps._critic(tf.constant(inputs, critic.real_dtype)).numpy()[:, 0]
        self.maps[epoch] = score.reshape(self.grid.size, -1) if critic.input_dim > 1 else score
        if trainer.epoch_samples is not None and trainer.epoch_samples[0] == epoch:
            self.samples[epoch] = trainer.epoch_samples[1]


def guide_callbacks(centers: Any = None) -> list[QuantumGANCallback]:
    """The guide's example callback: mode-collapse warning and learning-rate rule.

    With ``centers`` the mode-collapse monitor also watches mode coverage (see
    :class:`ModeCollapseMonitor`)."""
    return [ModeCollapseMonitor(centers=centers), LearningRateRule()]
