"""The whole training step as **one compiled call**: ``n_critic`` critic updates and the
generator update, every gradient checked, clipped and applied inside one XLA program, nothing
copied to Python between the updates.

The per-update path of :class:`~qgan_lab.training.trainer.QuantumGANTrainer` (the guide's
``train_discriminator_step`` / ``train_generator_step``) brings every loss and gradient to
Python, checks it with the gradient manager in numpy, clips it and applies it. :class:`FusedStep`
runs the same updates in one ``tf.function(jit_compile=True)``:

1. the generator makes the fakes of every critic update of the step at once (it does not
   change during the critic updates), without a tape;
2. the critic updates run as a ``tf.while_loop`` (its body is traced and compiled once, however
   large ``n_critic``): the critic's loss and gradients (the functions of
   :class:`~qgan_lab.training.steps.TrainingSteps` the per-update path compiles on its own, when it first
   runs), the loss and every gradient
   checked finite as tensors, each gradient clipped to ``max_gradient_norm`` as the gradient
   manager does, and the optimizer step applied under ``tf.cond`` only if all is well;
3. the generator update does the same with the generator's loss, its own samples made on its
   tape (:meth:`~qgan_lab.training.steps.TrainingSteps.g_step_taped`: the same loss and gradient as the
   per-update path's :meth:`~qgan_lab.training.steps.TrainingSteps.g_step`, which splits it in two
   compiled pieces; here it is one program anyway, and the generator runs once on those rows
   instead of twice: guide 20 -> 18 ms per step).

An update whose loss or gradient is not finite is **not applied**, and neither is any update
after it: the step reports how many updates it applied (``done``), and the trainer redoes the
rest on the per-update path, where the gradient manager replaces bad gradients by finite
differences or skips a non-finite loss, exactly as without fusion (rare by construction;
``tests/test_fused.py`` forces each case; the first redo compiles the per-update path's pieces,
a few seconds once). Same random numbers, same order of updates, same
losses and gradients: the weights match the per-update path to float32 rounding (tested; the
clipping factor is computed in float32 here, in float64 there). The gradient manager's
``last_report`` (a per-variable table) is filled on the per-update path only.

Measured (2 cores, ``benchmarks/bench_targets.py`` and ``bench_training.py``): against the chain
of ``2 n_critic + 4`` compiled calls this replaced, a step of ``bimodal`` 30 -> 23.5 ms and of
the guide's configuration 37 -> 27 ms, for 3-4 s more compile and 160-290 MiB more peak memory.
An earlier one-program attempt unrolled the critic updates in Python: 46 s of compile and
2.8 GiB on the guide's configuration; the loop (and XLA's older CPU emitters, see
:mod:`qgan_lab._compat`) is what makes it fit. Taught in ``06_training_loop``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .steps import TrainingSteps, compile_xla


def clip_by_norm(gradients: list[tf.Tensor], max_norm: float) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
    """Each gradient rescaled to norm at most ``max_norm`` (as
    :meth:`~qgan_lab.training.gradients.QuantumGradientManager.check_gradients`); returns the clipped
    gradients, whether any was clipped and the global norm after clipping."""
    norms = [tf.norm(tf.reshape(g, [-1])) for g in gradients]
    # (the tensor first: a float64 gradient's factor stays float64)
    clipped = [g * tf.minimum(max_norm / tf.maximum(n, 1e-30), 1.0) for g, n in zip(gradients, norms)]
    any_clipped = tf.reduce_any(tf.stack([n > max_norm for n in norms]))
    total = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in clipped]))
    return clipped, any_clipped, total


def all_finite(loss: tf.Tensor, gradients: list[tf.Tensor]) -> tf.Tensor:
    """True when the loss and every gradient entry are finite."""
    checks = [tf.math.is_finite(loss)] + [tf.reduce_all(tf.math.is_finite(g)) for g in gradients]
    return tf.reduce_all(tf.stack(checks))


class FusedStep:
    """The whole training step of a trainer as one compiled call (see the module docstring).

    Args:
        steps: the trainer's :class:`~qgan_lab.training.steps.TrainingSteps`.
        d_optimizer, g_optimizer: the trainer's (built) optimizers.
        n_critic: critic updates per step (0 when the loss has no critic).
        max_gradient_norm: per-variable clipping norm.
        sample_rows: the rows of the one program :meth:`~qgan_lab.training.steps.TrainingSteps.sample`
            compiles, set at the first step (default: the step's fakes). The trainer passes its
            validation samples' count: one call per epoch (the guide's 500 samples: 31 ms in 7
            calls of 80 rows, 16 ms in one); fewer samples are padded to it (5 samples cost
            as much as 500, a few milliseconds).

    ``usable`` is False when a model has a variable with no gradient at all (``None``: the
    per-update path reports it); the trainer then keeps the per-update path. ``redone`` counts
    the updates the trainer had to redo on the per-update path. The step is bound to the
    optimizers and ``n_critic`` it was built with (:meth:`matches` says whether a trainer still
    has them; the trainer rebuilds it otherwise).
    """

    def __init__(
        self,
        steps: TrainingSteps,
        d_optimizer: Any,
        g_optimizer: Any,
        n_critic: int,
        max_gradient_norm: float,
        sample_rows: int | None = None,
    ):
        self.steps, self.n_critic, self.sample_rows = steps, n_critic, sample_rows
        self.max_gradient_norm = float(max_gradient_norm)
        self.optimizers = (d_optimizer, g_optimizer)
        self.usable = True
        self.redone = 0
        models = (steps.discriminator, steps.generator)
        self._variables = {side: model.trainable_variables for side, model in zip("dg", models)}
        self._gradient_counts = {side: len(variables) for side, variables in self._variables.items()}
        self._d_keys: list[str] = []  # the critic's loss names, in the order of the rows of ``d``
        self._step = compile_xla(self._impl)

    def matches(self, trainer: Any) -> bool:
        """Does ``trainer`` still have this step's optimizers, critic count and clipping norm?"""
        n_critic = trainer.n_critic if trainer.loss_fn.needs_critic else 0
        same = self.optimizers == (trainer.d_optimizer, trainer.g_optimizer) and n_critic == self.n_critic
        return same and self.max_gradient_norm == trainer.g_gradient_manager.max_gradient_norm

    def _update(self, side: str, ok, loss, grads):
        """Check (the loss and every gradient finite, and ``ok``: no earlier update of the step
        failed), clip, apply; returns whether it applied, whether it clipped, and the norm."""
        if any(g is None for g in grads):  # seen while tracing: apply nothing; the trainer
            self.usable = False  # falls back to the per-update path, which reports it
            return tf.constant(False), tf.constant(False), tf.constant(float("nan"))
        good = tf.logical_and(ok, all_finite(loss, grads))
        clipped, any_clipped, norm = clip_by_norm(list(grads), self.max_gradient_norm)
        optimizer, variables = self.optimizers["dg".index(side)], self._variables[side]

        def apply() -> tf.Tensor:
            optimizer.apply(clipped, variables)
            return tf.constant(True)

        tf.cond(good, apply, lambda: tf.constant(False))
        return good, any_clipped, norm

    def _critic_updates(self, real, fakes, alphas):
        """The ``n_critic`` critic updates as one loop (traced and compiled once, whatever
        ``n_critic``); returns ``ok`` after the last and one row per update: its losses (in the
        order of ``_d_keys``), then applied, clipped and the gradient norm."""
        per_update = tf.reshape(fakes, [self.n_critic, real.shape[0], fakes.shape[1]])
        dtype = self.steps.discriminator.dtype.real_dtype  # the losses' (float32 or float64)

        def update(k, ok, rows):
            losses, grads = self.steps._d_step_impl(real, per_update[k], alphas[k])
            ok, clipped, norm = self._update("d", ok, losses["total_loss"], grads)
            self._d_keys = sorted(losses)
            row = [losses[key] for key in self._d_keys] + [ok, clipped, norm]
            return k + 1, ok, rows.write(k, tf.stack([tf.cast(v, dtype) for v in row]))

        start = (tf.constant(0), tf.constant(True), tf.TensorArray(dtype, size=self.n_critic))
        _, ok, rows = tf.while_loop(lambda k, *_: k < self.n_critic, update, start)
        return ok, rows.stack()

    def _impl(self, real, zs, alphas):
        rows, steps = self.n_critic * real.shape[0], self.steps
        ok = tf.constant(True)
        out: dict[str, Any] = {}
        if self.n_critic:  # the critic's fakes: made once, without a tape
            fakes, trace = steps._sample_with_trace_impl(zs[:rows])
            ok, out["d"] = self._critic_updates(real, fakes, alphas)
        # the generator's own samples are made on its tape, after the critic updates
        g_losses, grads, g_trace, g_fakes = steps.g_step_taped(zs[rows:], real)
        g_ok, g_clipped, g_norm = self._update("g", ok, g_losses["total_loss"], grads)
        out.update(fakes=g_fakes, trace=g_trace)  # all the step's fakes and their smallest trace
        if self.n_critic:
            out.update(fakes=tf.concat([fakes, g_fakes], 0), trace=tf.minimum(trace, g_trace))
        out.update(g=g_losses, g_ok=g_ok, g_clipped=g_clipped, g_norm=g_norm, g_trace=g_trace)
        return out

    def __call__(self, real: tf.Tensor, zs: tf.Tensor, alphas: tf.Tensor) -> dict[str, Any]:
        """Run the step; returns Python numbers: ``done`` (updates applied, ``n_critic + 1`` when
        all were), per critic update ``d`` (loss dicts), ``d_clipped``, ``d_norm``, and ``g``,
        ``g_clipped``, ``g_norm``, ``g_trace``, plus the step's ``fakes`` and their ``trace``
        (tensors, for the updates the per-update path must redo)."""
        out = self._step(real, zs, alphas)
        if not self.usable:  # a None gradient: the trainer keeps the per-update path from now on
            self._step = None  # (frees the compiled program; sample() shares the path's size)
        elif self.steps.sample_rows is None:  # sample() compiles one size (the step has its own)
            self.steps.sample_rows = self.sample_rows or int(zs.shape[0])
        result = {key: out[key] for key in ("fakes", "trace")}
        rows = np.asarray(out["d"]) if self.n_critic else np.zeros((0, 3), np.float32)
        keys = len(self._d_keys)
        result["d"] = [{k: float(v) for k, v in zip(self._d_keys, row[:keys])} for row in rows]
        flags = [bool(f) for f in rows[:, keys]] + [bool(out["g_ok"])]
        result.update(d_clipped=rows[:, keys + 1] > 0, d_norm=rows[:, keys + 2])
        result.update(g_clipped=np.asarray(out["g_clipped"]), g_norm=np.asarray(out["g_norm"]))
        result["g_trace"] = float(out["g_trace"])
        result["g"] = {k: float(v) for k, v in out["g"].items()}
        result["done"] = flags.index(False) if False in flags else len(flags)
        return result


def run_fused_step(trainer: Any, real: tf.Tensor, zs: tf.Tensor, alphas: tf.Tensor):
    """One step of ``trainer`` by its :class:`FusedStep`, as the trainer's metrics (one dict per
    critic update, one for the generator's); ``alphas [n_critic, batch, 1]``. The updates the
    fused step did not apply (a bad loss or gradient) are redone on the trainer's per-update path."""
    if alphas.shape[0] != trainer.fused.n_critic:
        raise ValueError(f"alphas: one row per critic update ({trainer.fused.n_critic}), got {alphas.shape[0]}")
    out = trainer.fused(real, zs, alphas)
    batch, n_critic, done = real.shape[0], alphas.shape[0], out["done"]
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
