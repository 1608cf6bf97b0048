"""Gradient checks and the gradient manager.

* :func:`finite_difference_gradient` - central differences of a loss closure, the honest
  reference every autodiff gradient in this package is tested against.
* :func:`gradient_flow_report` - per variable: ``ok``, ``None`` (not connected to the loss),
  ``nan`` (NaN or inf somewhere) or ``zero``.
* :class:`QuantumGradientManager` - the guide's manager, made honest: where autodiff gives
  ``None`` or non-finite values, the backup is a *real* gradient estimate by central finite
  differences of a loss closure the caller passes (two loss evaluations per scalar
  parameter), never random noise. Gradients are clipped by norm, and nothing non-finite
  ever reaches the optimizer.

Taught in ``05_gradient_manager`` (the finite-difference check also in ``02_quantum_models``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

STATUSES = ("ok", "None", "nan", "zero")


def finite_difference_gradient(
    loss_fn: Callable[[], Any],
    variables: Sequence[tf.Variable],
    eps: float = 1e-4,
) -> list[np.ndarray]:
    """Central finite-difference gradient ``(L(v + eps) - L(v - eps)) / (2 eps)`` per scalar.

    ``loss_fn`` takes no argument and returns a scalar; it must be deterministic (fix any
    random numbers outside it). Costs two evaluations per scalar parameter. Every variable
    is restored to its exact original value afterwards.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grads = []
    for var in variables:
        original = np.array(var.numpy(), copy=True)
        grad = np.zeros(original.shape, dtype=np.float64)
        try:
            for index in np.ndindex(*original.shape):
                values = []
                for sign in (1.0, -1.0):
                    shifted = original.copy()
                    shifted[index] += sign * eps
                    var.assign(shifted)
                    values.append(float(loss_fn()))
                grad[index] = (values[0] - values[1]) / (2.0 * eps)
        finally:
            var.assign(original)
        grads.append(grad)
    return grads


def gradient_status(gradient: Any) -> str:
    """``"None"``, ``"nan"`` (any NaN/inf), ``"zero"`` (all exactly 0) or ``"ok"``."""
    if gradient is None:
        return "None"
    values = np.asarray(gradient)
    if not np.all(np.isfinite(values)):
        return "nan"
    if not np.any(values):
        return "zero"
    return "ok"


def gradient_flow_report(gradients: Sequence[Any], variables: Sequence[tf.Variable]) -> list[dict[str, Any]]:
    """One row per variable: ``name``, ``shape``, ``status`` (see :data:`STATUSES`), ``norm``."""
    if len(gradients) != len(variables):
        raise ValueError(f"got {len(gradients)} gradients for {len(variables)} variables")
    rows = []
    for grad, var in zip(gradients, variables):
        status = gradient_status(grad)
        norm = float(np.linalg.norm(np.asarray(grad))) if status in ("ok", "zero") else float("nan")
        rows.append({"name": var.name, "shape": tuple(var.shape), "status": status, "norm": norm})
    return rows


def count_valid(gradients: Sequence[Any]) -> int:
    """Number of gradients that are present and finite (the guide's ``G_grads=50/50``)."""
    return sum(gradient_status(g) in ("ok", "zero") for g in gradients)


class QuantumGradientManager:
    """Detects bad gradients, replaces them by finite differences, clips, applies safely.

    Args:
        nan_threshold: if more than this fraction of the variables have a bad (None or
            non-finite) gradient, autodiff is not trusted for the step and *all* gradients
            are recomputed by finite differences (when a ``loss_fn`` is given).
        max_gradient_norm: each variable's gradient is rescaled to at most this norm.
        backup_std: accepted for compatibility with the guide, unused: the guide's backup
            was random noise with this spread, which is not a gradient.
        finite_difference_eps: step of the central differences.

    Counters (see :meth:`get_summary`): ``total_steps``, ``nan_steps`` (steps with at least
    one bad gradient), ``backup_steps`` (steps that used finite differences),
    ``clipped_steps``, ``skipped_steps`` (applies that had nothing finite to apply).
    """

    def __init__(
        self,
        nan_threshold: float = 0.7,
        backup_std: float = 0.01,
        max_gradient_norm: float = 5.0,
        finite_difference_eps: float = 1e-3,
    ):
        if not 0.0 <= nan_threshold <= 1.0:
            raise ValueError(f"nan_threshold must be in [0, 1], got {nan_threshold}")
        if not max_gradient_norm > 0:
            raise ValueError(f"max_gradient_norm must be positive, got {max_gradient_norm}")
        self.nan_threshold = float(nan_threshold)
        self.backup_std = backup_std
        self.max_gradient_norm = float(max_gradient_norm)
        self.finite_difference_eps = float(finite_difference_eps)
        self.total_steps = 0
        self.nan_steps = 0
        self.backup_steps = 0
        self.clipped_steps = 0
        self.skipped_steps = 0
        self.last_report: list[dict[str, Any]] = []

    def safe_gradient(
        self,
        tape: tf.GradientTape,
        loss: tf.Tensor,
        variables: Sequence[tf.Variable],
        loss_fn: Callable[[], Any] | None = None,
    ) -> list[tf.Tensor | None]:
        """``tape.gradient(loss, variables)`` made safe by :meth:`check_gradients`."""
        return self.check_gradients(tape.gradient(loss, variables), variables, loss_fn)

    def check_gradients(
        self,
        gradients: Sequence[Any],
        variables: Sequence[tf.Variable],
        loss_fn: Callable[[], Any] | None = None,
    ) -> list[tf.Tensor | None]:
        """Replace bad gradients (finite differences of ``loss_fn`` if given), then clip.

        Without ``loss_fn`` a bad gradient stays ``None`` and that variable is not updated.
        """
        variables = list(variables)
        arrays = [None if g is None else np.asarray(g) for g in gradients]
        self.last_report = gradient_flow_report(arrays, variables)
        bad = [row["status"] in ("None", "nan") for row in self.last_report]
        self.total_steps += 1
        out: list[Any] = [None if b else a for a, b in zip(arrays, bad)]
        if any(bad):
            self.nan_steps += 1
            n_bad = sum(bad)
            if loss_fn is not None:
                redo_all = n_bad / max(len(variables), 1) > self.nan_threshold
                targets = [i for i, b in enumerate(bad) if b or redo_all]
                estimates = finite_difference_gradient(
                    loss_fn, [variables[i] for i in targets], self.finite_difference_eps
                )
                for i, est in zip(targets, estimates):
                    out[i] = est.astype(variables[i].dtype.as_numpy_dtype)
                self.backup_steps += 1
                logger.warning(
                    "%d/%d gradients were None or non-finite; replaced %d by finite differences",
                    n_bad,
                    len(variables),
                    len(targets),
                )
            else:
                logger.warning("%d/%d gradients were None or non-finite; skipped", n_bad, len(variables))
        clipped = False
        for i, grad in enumerate(out):
            if grad is None:
                continue
            if not np.all(np.isfinite(grad)):  # a finite-difference estimate may fail too
                out[i] = None
                continue
            norm = float(np.linalg.norm(grad))
            if norm > self.max_gradient_norm:
                out[i] = grad * (self.max_gradient_norm / norm)
                clipped = True
        self.clipped_steps += int(clipped)
        return [None if g is None else tf.convert_to_tensor(g) for g in out]

    def apply_gradients_safely(
        self,
        optimizer: Any,
        gradients: Sequence[Any],
        variables: Sequence[tf.Variable],
        apply_fn: Callable[[list[tf.Tensor]], Any] | None = None,
    ) -> bool:
        """Apply the finite gradients; skip (return False) if there are none.

        A bad ``optimizer`` is a ``TypeError``; a failure while applying is raised as a
        ``RuntimeError`` (not logged and swallowed: a run whose updates fail must stop).

        ``apply_fn(gradients)``, if given, is used when *every* gradient is present and
        finite (the trainer passes a compiled ``optimizer.apply``: an eager Keras update of
        20 variables costs more than the whole compiled training step).
        """
        if not callable(getattr(optimizer, "apply_gradients", None)):
            kind = type(optimizer).__name__
            raise TypeError(f"optimizer must have apply_gradients() (a Keras optimizer), got {kind}")
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None and np.all(np.isfinite(np.asarray(g)))]
        if not pairs:
            self.skipped_steps += 1
            logger.warning("no finite gradient to apply; optimizer step skipped")
            return False
        try:
            if apply_fn is not None and len(pairs) == len(variables):
                apply_fn([g for g, _ in pairs])
                return True
            optimizer.apply_gradients(pairs)
        except Exception as exc:
            self.skipped_steps += 1
            raise RuntimeError(f"applying gradients failed ({type(exc).__name__}: {exc})") from exc
        return True

    def get_summary(self) -> dict[str, Any]:
        """Counters and rates, as in the guide plus ``clipped_steps`` and ``skipped_steps``."""
        steps = max(self.total_steps, 1)
        return {
            "total_steps": self.total_steps,
            "nan_steps": self.nan_steps,
            "backup_steps": self.backup_steps,
            "clipped_steps": self.clipped_steps,
            "skipped_steps": self.skipped_steps,
            "nan_rate": self.nan_steps / steps,
            "backup_rate": self.backup_steps / steps,
            "clip_rate": self.clipped_steps / steps,
        }


def guide_random_backup(variables: Sequence[tf.Variable], backup_std: float = 0.01) -> list[tf.Tensor]:
    """The guide's "backup gradients": noise scaled by the mean parameter magnitude.

    Kept only so ``05_gradient_manager`` can show what it does to training. It is **not** a
    gradient: it does not depend on the loss at all.
    """
    out = []
    for var in variables:
        magnitude = tf.maximum(tf.abs(tf.reduce_mean(var)), 1e-3)
        out.append(tf.random.normal(var.shape, stddev=magnitude * backup_std, dtype=var.dtype))
    return out
