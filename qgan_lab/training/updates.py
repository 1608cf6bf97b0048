"""The guide's per-update methods of :class:`~qgan_lab.training.trainer.QuantumGANTrainer`.

One critic update (:meth:`GuideUpdates.train_discriminator_step`) or one generator update
(:meth:`GuideUpdates.train_generator_step`), each checked and applied from Python: the losses
and gradients come from the compiled :class:`~qgan_lab.training.steps.TrainingSteps`, the
gradient managers check every gradient (a ``None`` or non-finite one is replaced by finite
differences of the same compiled loss), clip and apply it. A non-finite loss skips the update.
This is the *per-update path*; the trainer's default fused step (:mod:`qgan_lab.training.fused`)
falls back to it for an update it could not apply.

Taught in ``05_gradient_manager`` and ``06_training_loop``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from ..models import check_batch
from ..models.averaging import averaged
from ..validation import BadValue, check_int
from .gradients import count_valid, gradient_flow_report

logger = logging.getLogger(__name__)


def _global_norm(gradients: Sequence[Any]) -> float:
    present = [np.asarray(g) for g in gradients if g is not None]
    return float(np.sqrt(sum(float(np.sum(g**2)) for g in present))) if present else 0.0


class GuideUpdates:
    """Single updates, checked in Python (mixed into the trainer, whose ``__init__`` sets the
    models, optimizers, gradient managers, ``steps`` and ``rng`` they use)."""

    def _apply(self, side: str, losses, grads, trace, loss_closure) -> dict[str, Any]:
        manager = self.d_gradient_manager if side == "d" else self.g_gradient_manager
        optimizer = self.d_optimizer if side == "d" else self.g_optimizer
        variables = (self.discriminator if side == "d" else self.generator).trainable_variables
        metrics: dict[str, Any] = {k: float(v) for k, v in losses.items()}
        metrics["gradient_count"] = count_valid(grads)
        metrics["min_trace"] = float(trace)
        metrics["low_trace"] = self._low(trace, metrics)
        if not np.isfinite(metrics["total_loss"]):
            logger.warning("%s loss is not finite (%s); step skipped", side.upper(), metrics["total_loss"])
            manager.skipped_steps += 1
            metrics.update(gradient_success=False, gradient_norm=float("nan"), skipped=True)
            return metrics
        closure = loss_closure if self.finite_difference_backup else None
        safe = manager.check_gradients(grads, variables, closure)
        metrics["gradient_success"] = manager.apply_gradients_safely(optimizer, safe, variables, self._apply_fns[side])
        metrics["gradient_norm"] = _global_norm(safe)
        metrics["skipped"] = not metrics["gradient_success"]
        return metrics

    def train_discriminator_step(self, real_batch: Any, z_batch: Any, alpha: Any = None) -> dict[str, Any]:
        """One critic update on ``real_batch`` against ``G(z_batch)``; returns its metrics."""
        real = check_batch(real_batch, "real_batch", self.discriminator.input_dim, tf.float32)
        z = self._check_z(z_batch, "z_batch", rows=real.shape[0])
        if alpha is not None:
            alpha = tf.convert_to_tensor(alpha, tf.float32)
            if alpha.shape.as_list() != [real.shape[0], 1]:
                raise BadValue("alpha", f"must have shape [{real.shape[0]}, 1], got {alpha.shape.as_list()}")
        fake, trace = self.steps.sample_with_trace(z)
        return self._critic_update(real, fake, trace, alpha)

    def _check_z(self, z: Any, name: str, rows: int | None = None) -> tf.Tensor:
        z = check_batch(z, name, self.latent_dim, tf.float32)
        if rows is not None and z.shape[0] != rows:
            raise BadValue(name, f"must have as many rows as the real batch ({rows}), got {z.shape[0]}")
        return z

    def _critic_update(self, real: tf.Tensor, fake: tf.Tensor, trace: tf.Tensor, alpha: Any = None) -> dict[str, Any]:
        if alpha is None:
            alpha = self.rng.uniform([real.shape[0], 1])
        losses, grads = self.steps.d_step(real, fake, alpha)
        return self._apply("d", losses, grads, trace, lambda: self.steps.d_loss_only(real, fake, alpha))

    def train_generator_step(self, z_batch: Any, real_batch: Any = None, samples: Any = None) -> dict[str, Any]:
        """One generator update; ``real_batch`` is needed by the measurement loss only.

        ``samples``, if given, must be ``G(z_batch)`` under the current weights (saves a pass).
        """
        z = self._check_z(z_batch, "z_batch")
        real = tf.zeros([z.shape[0], self.generator.output_dim]) if real_batch is None else real_batch
        real = check_batch(real, "real_batch", self.generator.output_dim, tf.float32)
        losses, grads, trace = self.steps.g_step(z, real, samples)
        return self._apply("g", losses, grads, trace, lambda: self.steps.g_loss_only(z, real))

    def sample(self, n: int, z: Any = None) -> tf.Tensor:
        """``n`` generated samples (fresh latent vectors from the trainer's generator unless given)."""
        n = check_int("n", n)
        z = self.rng.normal([n, self.latent_dim]) if z is None else self._check_z(z, "z", rows=n)
        with averaged(self.generator):
            return self.steps.sample(z)

    def _step_per_update(self, real: tf.Tensor, zs: tf.Tensor, alphas: tf.Tensor):
        """One step on the per-update path: each update checked and applied from Python
        (``alphas [n_critic, batch, 1]``: the critic updates' interpolation weights)."""
        batch, n_critic = real.shape[0], alphas.shape[0]
        # the generator does not change during the critic updates: one generator pass makes
        # the fakes of all of them, and the samples its own update starts from
        fakes, trace = self.steps.sample_with_trace(zs)
        critic_updates = [
            self._critic_update(real, fakes[k * batch : (k + 1) * batch], trace, alphas[k]) for k in range(n_critic)
        ]
        last = slice(n_critic * batch, None)
        return critic_updates, self.train_generator_step(zs[last], real, fakes[last])

    def _low(self, trace: Any, metrics: dict[str, Any]) -> bool:
        """Did a state of this update (generator's or critic's) leave the cutoff?"""
        return bool(min(float(trace), metrics.get("critic_min_trace", 1.0)) < self.trace_threshold)

    def verify_gradient_flow(self, real_batch: Any) -> dict[str, list[dict[str, Any]]]:
        """Gradient-flow report of both sides on one batch (the generator's alone when the loss
        needs no critic); ``RuntimeError`` if a side has none."""
        real = tf.convert_to_tensor(real_batch, tf.float32)
        z = tf.random.stateless_normal([real.shape[0], self.latent_dim], seed=[self.seed, 1])
        # eagerly: compiling these pieces only for this check would double the compile wait
        _, g_grads, _, samples = self.steps.g_step_taped(z, real)
        report = {"generator": gradient_flow_report(g_grads, self.generator.trainable_variables)}
        if self.loss_fn.needs_critic:
            alpha = tf.random.stateless_uniform([real.shape[0], 1], seed=[self.seed, 2])
            _, d_grads = self.steps._d_step_impl(real, samples, alpha)
            report["discriminator"] = gradient_flow_report(d_grads, self.discriminator.trainable_variables)
        for side, rows in report.items():
            dead = [r["name"] for r in rows if r["status"] in ("None", "nan")]
            if len(dead) == len(rows):
                raise RuntimeError(f"gradient flow check failed: no {side} variable has a valid gradient: {dead}")
            if dead:
                logger.warning("%s variables without a valid gradient: %s", side, dead)
            logger.info("Initial gradient flow, %s: %d/%d", side, len(rows) - len(dead), len(rows))
        self.initial_gradient_report = report
        return report
