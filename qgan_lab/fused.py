"""The whole training step with every update checked, clipped and applied by compiled code:
``n_critic`` critic updates and the generator update, no loss or gradient copied to Python
between them.

The per-update path of :class:`~qgan_lab.training.QuantumGANTrainer` (the guide's
``train_discriminator_step`` / ``train_generator_step``) brings every loss and gradient to
Python, checks it with the gradient manager in numpy, clips it and applies it. :class:`FusedStep`
keeps everything as tensors until the step ends:

1. the generator makes the fakes of every update of the step at once (it does not change
   during the critic updates);
2. each critic update calls the compiled loss-and-gradient of
   :class:`~qgan_lab.steps.TrainingSteps`, then one compiled *update*: the loss and every
   gradient checked finite (as tensors), each gradient clipped to ``max_gradient_norm`` as the
   gradient manager does, and the optimizer step applied only if all is well;
3. the generator update does the same with the generator's loss (split as in
   :meth:`~qgan_lab.steps.TrainingSteps.g_step`).

An update whose loss or gradient is not finite is **not applied**, and neither is any update
after it: the step reports how many updates it applied (``done``), and the trainer redoes the
rest on the per-update path, where the gradient manager replaces bad gradients by finite
differences or skips a non-finite loss, exactly as without fusion (rare by construction;
``tests/test_fused.py`` forces each case). Same random numbers, same order of updates, same
compiled losses and gradients: the weights match the per-update path to float32 rounding
(tested; the clipping factor is computed in float32 here, in float64 there). The step is
still a short Python loop over compiled calls (``2 n_critic + 4``: the samples, a loss-and-gradient
call and an update per critic update, the generator's two halves and its update); what it saves is the copy
of every loss and gradient to numpy, the numpy checks and the separate optimizer calls.
(Making each update one compiled call, loss and gradients with the checked update, measured no
faster on ``bimodal`` and raised its peak memory from 1.59 to 1.78 GB.) The
gradient manager's ``last_report`` (a per-variable table) is filled on the per-update path only.

Why a chain of compiled calls and not one XLA program (all measured on the guide's
configuration, 2 cores, ``benchmarks/bench_training.py``): one ``tf.function(jit_compile=True)``
for the whole step took 46 s to compile and 2.8 GiB of memory (Binder allows 2 GB); a
``tf.function`` graph calling the compiled pieces recompiled them (XLA's cache is not shared
between eager and in-graph calls), 4-7 s more compile and 0.2-0.45 GiB more memory, and ran
no faster than this chain, which reuses the per-update path's compiled code. Taught in
``06_training_loop``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .steps import TrainingSteps, compile_xla


def clip_by_norm(gradients: list[tf.Tensor], max_norm: float) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
    """Each gradient rescaled to norm at most ``max_norm`` (as
    :meth:`~qgan_lab.gradients.QuantumGradientManager.check_gradients`); returns the clipped
    gradients, whether any was clipped and the global norm after clipping."""
    norms = [tf.norm(tf.reshape(g, [-1])) for g in gradients]
    clipped = [g * tf.minimum(1.0, max_norm / tf.maximum(n, 1e-30)) for g, n in zip(gradients, norms)]
    any_clipped = tf.reduce_any(tf.stack([n > max_norm for n in norms]))
    total = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in clipped]))
    return clipped, any_clipped, total


def all_finite(loss: tf.Tensor, gradients: list[tf.Tensor]) -> tf.Tensor:
    """True when the loss and every gradient entry are finite."""
    checks = [tf.math.is_finite(loss)] + [tf.reduce_all(tf.math.is_finite(g)) for g in gradients]
    return tf.reduce_all(tf.stack(checks))


class FusedStep:
    """The whole training step of a trainer, tensors only until it ends (see the module docstring).

    Args:
        steps: the trainer's :class:`~qgan_lab.steps.TrainingSteps`.
        d_optimizer, g_optimizer: the trainer's (built) optimizers.
        n_critic: critic updates per step (0 when the loss has no critic).
        max_gradient_norm: per-variable clipping norm.

    ``usable`` is False when a model has a variable with no gradient at all (``None``: the
    per-update path reports it); the trainer then keeps the per-update path. ``redone`` counts
    the updates the trainer had to redo on the per-update path. The step is bound to the
    optimizers and ``n_critic`` it was built with (:meth:`matches` says whether a trainer still
    has them; the trainer rebuilds it otherwise).
    """

    def __init__(
        self, steps: TrainingSteps, d_optimizer: Any, g_optimizer: Any, n_critic: int, max_gradient_norm: float
    ):
        self.steps, self.n_critic = steps, n_critic
        self.max_gradient_norm = float(max_gradient_norm)
        self.optimizers = (d_optimizer, g_optimizer)
        self.usable = True
        self.redone = 0
        models = (steps.discriminator, steps.generator)
        self._update = {
            side: compile_xla(self._make_update(model.trainable_variables, optimizer))
            for side, model, optimizer in zip("dg", models, self.optimizers)
        }
        self._gradient_counts = {side: len(model.trainable_variables) for side, model in zip("dg", models)}

    def matches(self, trainer: Any) -> bool:
        """Does ``trainer`` still have this step's optimizers, critic count and clipping norm?"""
        n_critic = trainer.n_critic if trainer.loss_fn.needs_critic else 0
        same = self.optimizers == (trainer.d_optimizer, trainer.g_optimizer) and n_critic == self.n_critic
        return same and self.max_gradient_norm == trainer.g_gradient_manager.max_gradient_norm

    def _make_update(self, variables: list[tf.Variable], optimizer: Any):
        def update(ok, loss, grads):
            """Check (the loss and every gradient finite, and ``ok``: no earlier update of the
            step failed), clip, apply; returns whether it applied, clipped, and the norm."""
            good = tf.logical_and(ok, all_finite(loss, grads))
            clipped, any_clipped, norm = clip_by_norm(grads, self.max_gradient_norm)

            def apply() -> tf.Tensor:
                optimizer.apply(clipped, variables)
                return tf.constant(True)

            tf.cond(good, apply, lambda: tf.constant(False))
            return good, any_clipped, norm

        return update

    def _checked(self, side: str, ok, losses, grads):
        if any(g is None for g in grads):  # seen while tracing: apply nothing; the trainer
            self.usable = False  # falls back to the per-update path, which reports it
            return tf.constant(False), tf.constant(False), tf.constant(float("nan"))
        return self._update[side](ok, losses["total_loss"], list(grads))

    def _impl(self, real, zs, alphas):
        batch, steps = real.shape[0], self.steps
        fakes, trace = steps.sample_with_trace(zs)
        out: dict[str, Any] = {"fakes": fakes, "trace": trace, "d": [], "d_ok": [], "d_clipped": [], "d_norm": []}
        ok = tf.constant(True)
        for k in range(self.n_critic):
            losses, grads = steps.d_step(real, fakes[k * batch : (k + 1) * batch], alphas[k])
            ok, clipped, norm = self._checked("d", ok, losses, grads)
            for key, value in (("d", losses), ("d_ok", ok), ("d_clipped", clipped), ("d_norm", norm)):
                out[key].append(value)
        last = slice(self.n_critic * batch, None)
        g_losses, grads, g_trace = steps.g_step(zs[last], real, fakes[last])
        g_ok, g_clipped, g_norm = self._checked("g", ok, g_losses, grads)
        out.update(g=g_losses, g_ok=g_ok, g_clipped=g_clipped, g_norm=g_norm, g_trace=g_trace)
        return out

    def __call__(self, real: tf.Tensor, zs: tf.Tensor, alphas: list[tf.Tensor]) -> dict[str, Any]:
        """Run the step; returns Python numbers: ``done`` (updates applied, ``n_critic + 1`` when
        all were), per critic update ``d`` (loss dicts), ``d_clipped``, ``d_norm``, and ``g``,
        ``g_clipped``, ``g_norm``, ``g_trace``, plus the step's ``fakes`` and their ``trace``
        (tensors, for the updates the per-update path must redo)."""
        out = self._impl(real, zs, list(alphas))
        flags = [bool(f) for f in out["d_ok"]] + [bool(out["g_ok"])]
        result = {key: out[key] for key in ("fakes", "trace")}
        result.update({k: np.asarray(out[k]) for k in ("d_clipped", "d_norm", "g_clipped", "g_norm")})
        result["g_trace"] = float(out["g_trace"])
        result["d"] = [{k: float(v) for k, v in losses.items()} for losses in out["d"]]
        result["g"] = {k: float(v) for k, v in out["g"].items()}
        result["done"] = flags.index(False) if False in flags else len(flags)
        return result


def run_fused_step(trainer: Any, real: tf.Tensor, zs: tf.Tensor, alphas: list[tf.Tensor]):
    """One step of ``trainer`` by its :class:`FusedStep`, as the trainer's metrics (one dict per
    critic update, one for the generator's). The updates the fused step did not apply (a bad
    loss or gradient) are redone on the trainer's per-update path."""
    if len(alphas) != trainer.fused.n_critic:
        raise ValueError(f"alphas: one per critic update ({trainer.fused.n_critic}), got {len(alphas)}")
    out = trainer.fused(real, zs, alphas)
    batch, n_critic, done = real.shape[0], len(alphas), out["done"]
    trainer.fused.redone += n_critic + 1 - done
    fakes, trace = out["fakes"], out["trace"]
    critic_updates = []
    for k in range(n_critic):
        if k < done:
            critic_updates.append(_applied(trainer, "d", out["d"][k], out["d_norm"][k], out["d_clipped"][k], trace))
        else:
            critic_updates.append(trainer._critic_update(real, fakes[k * batch : (k + 1) * batch], trace, alphas[k]))
    last = slice(n_critic * batch, None)
    if done > n_critic:
        g = _applied(trainer, "g", out["g"], out["g_norm"], out["g_clipped"], out["g_trace"])
    else:
        g = trainer.train_generator_step(zs[last], real, fakes[last])
    return critic_updates, g


def _applied(trainer: Any, side: str, losses: dict[str, float], norm: Any, clipped: Any, trace: Any) -> dict[str, Any]:
    """An update the fused step applied, counted by its gradient manager and reported as the
    per-update path does (every gradient was present and finite)."""
    manager = trainer.d_gradient_manager if side == "d" else trainer.g_gradient_manager
    manager.total_steps += 1
    manager.clipped_steps += int(bool(clipped))
    metrics = {**losses, "gradient_count": trainer.fused._gradient_counts[side], "min_trace": float(trace)}
    metrics["low_trace"] = trainer._low(trace, metrics)
    return {**metrics, "gradient_success": True, "gradient_norm": float(norm), "skipped": False}
