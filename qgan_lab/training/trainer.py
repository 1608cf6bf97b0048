"""The guide's training loop: ``QuantumGANTrainer``.

Each *step* is ``n_critic`` critic updates then one generator update. The losses and their
gradients come from the compiled pieces of :class:`~qgan_lab.training.steps.TrainingSteps`
(``tf.function(jit_compile=True)`` on the compiled engine). By default the whole step runs as
:class:`~qgan_lab.training.fused.FusedStep`: one compiled call per step, every gradient checked,
clipped and applied inside it, tensors only until the step ends. An update with a ``None`` or
non-finite gradient or loss is not applied there and is redone on the *per-update path* (the guide's
:meth:`~QuantumGANTrainer.train_discriminator_step` and
:meth:`~QuantumGANTrainer.train_generator_step`): the gradient managers check every gradient in
Python and, if one is ``None`` or non-finite, replace it by finite differences of the same
compiled loss, then clip and apply. A non-finite loss skips the update (counted in
``skipped_steps``).

Runs are reproducible: latent vectors and interpolation weights come from the trainer's own
``tf.random.Generator`` (seeded), the data generators of :mod:`qgan_lab.data` carry their own
numpy generator, and checkpoints store both, the models, both optimizers and the epoch, so a
resumed run continues exactly where it stopped. Checkpoint files are handled by
:mod:`qgan_lab.training.checkpoints` (atomic, verified, emergency save on Ctrl-C) and every argument is
checked by :mod:`qgan_lab.validation` before the first step. The smallest trace of the
generator's and the critic's states is tracked (``min_trace``, ``critic_min_trace``) and
watched by :class:`~qgan_lab.training.callbacks.CutoffMonitor`. The final evaluation lives in
:mod:`qgan_lab.training.evaluation`, the progress bar and live figure in :mod:`qgan_lab.training.dashboard`.
Taught in ``06_training_loop``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..data import as_numbers, check_batch_source
from ..metrics import wasserstein_per_feature
from ..models.averaging import averaged
from ..models.quantum import check_batch
from ..sim.cutoff import TRACE_THRESHOLD, parameter_bounds
from ..validation import (
    BadType,
    BadValue,
    check,
    check_callback,
    check_int,
    check_loss,
    check_output_dir,
    check_train_arguments,
    spell,
)
from . import checkpoints, evaluation
from .callbacks import CutoffMonitor, QuantumGANCallback
from .dashboard import Dashboard, progress_bar
from .fused import FusedStep, run_fused_step
from .gradients import QuantumGradientManager, count_valid, gradient_flow_report
from .steps import TrainingSteps

logger = logging.getLogger(__name__)

HISTORY_KEYS = (
    "g_loss",
    "d_loss",
    "w_distance",
    "gradient_penalty",
    "g_gradients",
    "d_gradients",
    "min_trace",
    "critic_min_trace",
    "g_grad_norm",
    "d_grad_norm",
    "epoch_time",
    "skipped_steps",
)


def _global_norm(gradients: Sequence[Any]) -> float:
    present = [np.asarray(g) for g in gradients if g is not None]
    return float(np.sqrt(sum(float(np.sum(g**2)) for g in present))) if present else 0.0


class QuantumGANTrainer:
    """Trains a quantum generator against a quantum discriminator.

    Args:
        generator, discriminator: :class:`~qgan_lab.models.quantum.PureQuantumGenerator` and
            :class:`~qgan_lab.models.quantum.PureQuantumDiscriminator` (``output_dim`` must equal
            ``input_dim``).
        loss_type: ``"wasserstein"`` (WGAN-GP with quantum regularisers), ``"measurement"``
            (generator: the guide's measurement loss; critic: BCE, as in the guide) or
            ``"bce"`` (standard GAN, non-saturating generator loss).
        n_critic: critic updates per generator update (guide: 5).
        learning_rate_g, learning_rate_d, beta_1: Adam settings (guide: 1e-3, 1e-3, 0.5).
        loss_kwargs: passed to the loss class (e.g. ``lambda_gp``).
        callbacks: :class:`~qgan_lab.training.callbacks.QuantumGANCallback` objects.
        seed: seeds the trainer's random generator (latent vectors, interpolates).
        finite_difference_backup: give the gradient managers the loss closure, so bad
            gradients are replaced by finite differences instead of being skipped.
        lr_decay: both learning rates fall geometrically over the epochs of :meth:`train` to
            ``lr_decay`` times their initial values at the last epoch (1: constant, the guide).
            Adversarial training oscillates around its target: without decay the last iterate
            drifts away from the best one. The rate depends only on the epoch, so a resumed run
            follows the same schedule (it overrides callbacks that change the rate).
        lambda_cutoff, trace_floor: add ``lambda_cutoff * mean(relu(trace_floor - trace))`` to
            the generator's loss and to the critic's (its states on the real and generated
            batch; reported as ``cutoff_reg``): the probability that leaks past the Fock cutoff
            is not simulated, so a state whose trace falls is no longer the circuit's state, and
            a critic could score by truncation; the penalty keeps both inside (0: off, the guide).
        max_gradient_norm: per-variable clipping norm of both gradient managers.
        trace_threshold: a step whose smallest state trace (generator or critic) is below
            this is flagged (``low_trace``) and a :class:`~qgan_lab.training.callbacks.CutoffMonitor`
            with this threshold is added unless one is passed in ``callbacks``.
        ema_decay: keep an exponential moving average of the generator's weights, updated after
            every step with this decay (0: none, the guide). An adversarial game circles its
            equilibrium; the average of the circling iterates sits nearer its centre than any
            one of them. The average is saved in checkpoints (a resumed run continues it exactly)
            and :meth:`sample`, the epoch's validation, :meth:`evaluate` and the generator's
            ``generate()`` use it; training continues from the last iterate.
        fused_step: run each training step as a :class:`~qgan_lab.training.fused.FusedStep` (on the
            compiled engine: the whole step one compiled call, every update checked, clipped
            and applied inside it, no loss or gradient copied to Python between updates), else
            update by update from Python (the guide's :meth:`train_discriminator_step` and
            :meth:`train_generator_step`). Both give the same weights to float32 rounding.

    Unless ``loss_kwargs`` sets ``param_bound``, the physics regulariser's bounds come from
    the generator's cutoff (:func:`qgan_lab.sim.cutoff.parameter_bounds`).
    """

    def __init__(
        self,
        generator: Any,
        discriminator: Any,
        loss_type: str = "wasserstein",
        *,
        n_critic: int = 5,
        learning_rate_g: float = 1e-3,
        learning_rate_d: float = 1e-3,
        beta_1: float = 0.5,
        loss_kwargs: dict[str, Any] | None = None,
        callbacks: Sequence[QuantumGANCallback] | None = None,
        seed: int = 0,
        finite_difference_backup: bool = True,
        max_gradient_norm: float = 5.0,
        lr_decay: float = 1.0,
        lambda_cutoff: float = 0.0,
        trace_floor: float = 0.95,
        trace_threshold: float = TRACE_THRESHOLD,
        fused_step: bool = True,
        ema_decay: float = 0.0,
    ):
        models = (("generator", generator, "latent_dim"), ("discriminator", discriminator, "input_dim"))
        for name, model, attr in models:
            if not all(hasattr(model, a) for a in (attr, "trainable_variables", "engine", "_forward_impl")):
                raise BadType(name, f"must be a qgan_lab model with .{attr}, got {type(model).__name__}")
        if generator.output_dim != discriminator.input_dim:
            raise BadValue(
                "discriminator",
                f"generator.output_dim={generator.output_dim} must equal discriminator.input_dim="
                f"{discriminator.input_dim}",
            )
        n_critic = check("n_critic", n_critic)
        learning_rate_g = check("learning_rate_g", learning_rate_g)
        learning_rate_d = check("learning_rate_d", learning_rate_d)
        beta_1 = check("beta_1", beta_1)
        max_gradient_norm = check("max_gradient_norm", max_gradient_norm)
        self.trace_threshold = check("trace_threshold", trace_threshold)
        seed = check("seed", seed)
        callbacks = list(callbacks or [])
        for callback in callbacks:
            check_callback(callback)
        self.generator = generator
        self.discriminator = discriminator
        self.loss_type = loss_type
        self.loss_fn = check_loss(loss_type, loss_kwargs)
        physical = hasattr(generator, "cutoff_dim")  # (a classical control has no cutoff)
        if physical and hasattr(self.loss_fn, "param_bound") and "param_bound" not in (loss_kwargs or {}):
            self.loss_fn.param_bound = parameter_bounds(generator, self.loss_fn.param_bound)
        self.n_critic = n_critic
        self.latent_dim = generator.latent_dim
        self.g_gradient_manager = QuantumGradientManager(max_gradient_norm=max_gradient_norm)
        self.d_gradient_manager = QuantumGradientManager(max_gradient_norm=max_gradient_norm)
        self.lr_decay = check("lr_decay", lr_decay)
        self.lambda_cutoff = check("lambda_cutoff", lambda_cutoff)
        self.trace_floor = check("trace_floor", trace_floor)
        self.ema_decay = check("ema_decay", ema_decay)
        if self.ema_decay > 0:
            generator.track_average()
        self.base_learning_rates = {"g": float(learning_rate_g), "d": float(learning_rate_d)}
        self.g_optimizer = tf.keras.optimizers.Adam(learning_rate_g, beta_1=beta_1)
        self.d_optimizer = tf.keras.optimizers.Adam(learning_rate_d, beta_1=beta_1)
        self.g_optimizer.build(generator.trainable_variables)
        self.d_optimizer.build(discriminator.trainable_variables)
        if not any(isinstance(c, CutoffMonitor) for c in callbacks):
            callbacks.append(CutoffMonitor(self.trace_threshold))
        self.callbacks = callbacks
        self.resume_changes: list[str] = []
        self.finite_difference_backup = finite_difference_backup
        self.seed = seed
        self.rng = tf.random.Generator.from_seed(self.seed)
        self._noise_fns: dict[tuple[int, int, int], Any] = {}  # compiled draws, per step shape
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.metrics_history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
        self.stop_training = False
        self.initial_gradient_report: dict[str, list[dict[str, Any]]] = {}
        self._plot_z = tf.random.stateless_normal([500, self.latent_dim], seed=[self.seed, 7])
        #: (epoch, samples of ``_plot_z`` after it), kept by the epoch's validation
        self.epoch_samples: tuple[int, np.ndarray] | None = None
        self.checkpoint = tf.train.Checkpoint(
            generator=generator,
            discriminator=discriminator,
            g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer,
            epoch=self.epoch,
            rng=self.rng,
        )
        self.steps = TrainingSteps(generator, discriminator, self.loss_fn, self.lambda_cutoff, self.trace_floor)
        # None: the per-update path, for eager models or on request
        self.fused = self._fused_step() if fused_step and self.steps.compiled else None
        self._apply_fns = {
            "d": tf.function(
                lambda grads: self.d_optimizer.apply(grads, discriminator.trainable_variables),
                jit_compile=True,
                autograph=False,
            ),
            "g": tf.function(
                lambda grads: self.g_optimizer.apply(grads, generator.trainable_variables),
                jit_compile=True,
                autograph=False,
            ),
        }

    # ------------------------------------------------------------------ single steps
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

    # ------------------------------------------------------------------ epochs
    def train_epoch(
        self,
        data_generator: Callable[[], Any],
        steps_per_epoch: int,
        latent_dim: int,
        epoch_num: int,
        progress: Any = None,
    ) -> dict[str, float]:
        """``steps_per_epoch`` steps of ``n_critic`` critic updates and one generator update
        (no critic updates when the loss needs no critic, e.g. MMD)."""
        records: dict[str, list[float]] = {k: [] for k in ("g_loss", "d_loss", "w_distance", "gradient_penalty")}
        records.update(g_gradients=[], d_gradients=[], min_trace=[], g_grad_norm=[], d_grad_norm=[])
        records["critic_min_trace"] = []
        skipped = 0
        n_critic = self.n_critic if self.loss_fn.needs_critic else 0
        for _ in range(steps_per_epoch):
            real = as_numbers(data_generator(), "data_generator", f"epoch {epoch_num}: returned").astype(np.float32)
            if real.ndim != 2 or real.shape[0] < 1 or real.shape[1] != self.discriminator.input_dim:
                raise BadValue(
                    "data_generator",
                    f"epoch {epoch_num}: returned a batch of shape {real.shape}; every batch must be "
                    f"[batch, {self.discriminator.input_dim}]",
                )
            if not np.all(np.isfinite(real)):
                logger.warning("epoch %d: a data batch contained NaN or inf; step skipped", epoch_num)
                skipped += 1
                continue
            batch = real.shape[0]
            zs, alphas = self._step_noise(batch, latent_dim, n_critic)
            real = tf.constant(real)
            if self.fused is not None and not self.fused.matches(self):  # optimizers or n_critic changed
                self.fused = self._fused_step()
            if self.fused is not None and self.fused.usable:
                critic_updates, g = run_fused_step(self, real, zs, alphas)
            else:
                critic_updates, g = self._step_per_update(real, zs, alphas)
            for d in critic_updates:
                skipped += d["skipped"]
                if not d["skipped"]:
                    for key in ("d_loss", "w_distance", "gradient_penalty"):
                        records[key].append(d["total_loss" if key == "d_loss" else key])
                    records["d_grad_norm"].append(d["gradient_norm"])
                records["d_gradients"].append(d["gradient_count"])
                records["min_trace"].append(d["min_trace"])
                records["critic_min_trace"].append(d["critic_min_trace"])
            if self.ema_decay > 0:
                self.generator.update_average(self.ema_decay)
            skipped += g["skipped"]
            if not g["skipped"]:
                records["g_loss"].append(g["total_loss"])
                records["g_grad_norm"].append(g["gradient_norm"])
            records["g_gradients"].append(g["gradient_count"])
            records["min_trace"].append(g["min_trace"])
            if progress is not None:
                progress.update(1)
                d_loss = critic_updates[-1]["total_loss"] if critic_updates else float("nan")
                progress.set_postfix(g=f"{g['total_loss']:.3f}", d=f"{d_loss:.3f}", refresh=False)
        summary = {k: float(np.mean(v)) if v else float("nan") for k, v in records.items()}
        for key in ("min_trace", "critic_min_trace"):
            summary[key] = float(np.min(records[key])) if records[key] else float("nan")
        summary["skipped_steps"] = float(skipped)
        return summary

    def _step_noise(self, batch: int, latent_dim: int, n_critic: int) -> tuple[tf.Tensor, tf.Tensor]:
        """A step's random numbers from :attr:`rng`, for both paths: the latent vectors of the
        critic updates' fakes and of the generator update (``[(n_critic + 1) batch, latent_dim]``)
        and the gradient penalty's interpolation weights (``[n_critic, batch, 1]``). One compiled
        call: drawn eagerly they cost 1.5 ms a step (0.5 in one draw each)."""
        key = (batch, latent_dim, n_critic)
        if key not in self._noise_fns:
            rng = self.rng

            def draw() -> tuple[tf.Tensor, tf.Tensor]:
                zs = rng.normal([(n_critic + 1) * batch, latent_dim])
                return zs, rng.uniform([n_critic, batch, 1]) if n_critic else tf.zeros([0, batch, 1])

            self._noise_fns[key] = tf.function(draw, jit_compile=True, autograph=False)
        return self._noise_fns[key]()

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

    def _fused_step(self) -> FusedStep:
        """A :class:`FusedStep` for the trainer's current optimizers, critic count and clipping norm."""
        n_critic = self.n_critic if self.loss_fn.needs_critic else 0
        clip_norm = self.g_gradient_manager.max_gradient_norm
        sample_rows = self.steps.rows_that_fit(int(self._plot_z.shape[0]))
        return FusedStep(self.steps, self.d_optimizer, self.g_optimizer, n_critic, clip_norm, sample_rows)

    def _low(self, trace: Any, metrics: dict[str, Any]) -> bool:
        """Did a state of this update (generator's or critic's) leave the cutoff?"""
        return bool(min(float(trace), metrics.get("critic_min_trace", 1.0)) < self.trace_threshold)

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, data_generator, latent_dim, validation_data) -> np.ndarray:
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)):
            raise BadType("latent_dim", f"must be an int, got {latent_dim!r}")
        if latent_dim != self.generator.latent_dim:
            raise BadValue(
                "latent_dim",
                f"latent_dim={latent_dim} does not match the generator's latent_dim={self.generator.latent_dim}",
            )
        if not callable(data_generator):
            raise BadType("data_generator", "must be a callable returning [batch, features] batches")
        batch = check_batch_source(data_generator, self.discriminator.input_dim)
        if validation_data is not None:
            evaluation.check_validation_data(validation_data, self.discriminator.input_dim)
        return batch

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

    # ------------------------------------------------------------------ checkpoints
    def architecture(self) -> dict[str, Any]:
        """What a checkpoint must match to be restored into this trainer."""
        arch = {
            "generator": self.generator.architecture(),
            "discriminator": self.discriminator.architecture(),
            "loss_type": self.loss_type,
        }
        if self.ema_decay > 0:  # the average is a checkpointed variable (older runs have none)
            arch["ema_decay"] = self.ema_decay
        return arch

    def save(self, output_dir: str | Path, data_generator: Any = None) -> Path:
        """Write a checkpoint (models, optimizers, epoch, random states, gradient-manager
        counters) plus history and config, atomically (:func:`qgan_lab.training.checkpoints.save`)."""
        return checkpoints.save(self, output_dir, data_generator)

    @staticmethod
    def latest_checkpoint_epoch(output_dir: str | Path) -> int | None:
        """The epoch of the newest complete checkpoint in ``output_dir``, or None."""
        return checkpoints.latest_epoch(output_dir)

    def check_checkpoint_compatible(self, output_dir: str | Path) -> None:
        """``ValueError`` if ``output_dir`` holds a run of another architecture or loss."""
        checkpoints.check_compatible(self, output_dir)

    def restore(self, output_dir: str | Path, data_generator: Any = None) -> int:
        """Load the newest intact checkpoint of ``output_dir``; returns its epoch (0 if none).
        Damaged newer checkpoints are skipped with a warning naming them."""
        return checkpoints.restore(self, output_dir, data_generator)

    # ------------------------------------------------------------------ the loop
    def train(
        self,
        data_generator: Callable[[], Any],
        epochs: int,
        steps_per_epoch: int,
        latent_dim: int,
        validation_data: Any = None,
        save_interval: int = 10,
        plot_interval: int = 5,
        *,
        output_dir: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        live_plot: bool = False,
    ) -> dict[str, list[float]]:
        """Train until ``epochs`` epochs are done in total (a resumed run counts earlier ones).

        Every ``plot_interval`` epochs the guide's 2x2 figure is drawn (saved to
        ``output_dir/plots`` and, with ``live_plot``, redrawn in place in a notebook); every
        ``save_interval`` epochs a checkpoint is written to ``output_dir``. Every argument is
        checked before the first step. A Ctrl-C (``KeyboardInterrupt``), or an exception from a
        callback or the data generator, puts the trainer back to the last finished epoch and
        writes it as an emergency checkpoint (a second Ctrl-C waits for that save; the log says
        which epoch was saved, or that nothing was), then is raised again. With ``resume``,
        learning rates given to this trainer that differ from the checkpoint's are applied, and
        a warning names them. Returns :attr:`metrics_history`.
        """
        epochs, steps_per_epoch, save_interval, plot_interval = check_train_arguments(
            epochs, steps_per_epoch, save_interval, plot_interval, resume
        )
        first_batch = self._check_inputs(data_generator, latent_dim, validation_data)
        validation = None if validation_data is None else np.asarray(validation_data, np.float32)
        if output_dir is not None:
            if resume and isinstance(output_dir, (str, Path)) and not checkpoints.saved_epochs(output_dir):
                raise BadValue(
                    "resume=True",
                    f"{output_dir} holds no checkpoint to continue; leave out {spell('resume=True')} "
                    "to start a new run there",
                )
            output_dir = check_output_dir(output_dir)
            self.check_checkpoint_compatible(output_dir)
            if resume:
                done = self.restore(output_dir, data_generator)
                if epochs <= done:
                    raise BadValue(
                        "epochs",
                        f"the run in {output_dir} has already done {done} epochs; {spell('epochs')} "
                        f"counts all epochs, so it must be more than {done} to train further (got {epochs})",
                    )
            elif self.latest_checkpoint_epoch(output_dir) is not None:
                raise BadValue(
                    "output_dir",
                    f"{output_dir} already holds a run; pass {spell('resume=True')} to continue it "
                    f"or choose another {spell('output_dir')}",
                )
        elif resume:
            raise BadValue("resume=True", f"needs the {spell('output_dir')} of the run to continue")
        start = int(self.epoch.numpy())
        if epochs <= start:  # (a second train() call with the same epochs would train nothing)
            raise BadValue(
                "epochs",
                f"this trainer has already done {start} epochs; {spell('epochs')} counts all epochs, so it "
                f"must be more than {start} to train further (got {epochs})",
            )
        if start == 0:
            self.verify_gradient_flow(first_batch)
        logger.info("Starting QGAN training: epochs %d..%d, %d steps/epoch", start + 1, epochs, steps_per_epoch)
        dashboard = Dashboard(self, validation, live_plot, output_dir) if (live_plot or output_dir) else None
        self.stop_training = False
        saved_epoch = start if resume else 0  # (a trained trainer's first save in a new folder is still due)
        snapshot = checkpoints.Snapshot(self, data_generator)
        try:
            for epoch in range(start + 1, epochs + 1):
                self._run_epoch(data_generator, epochs, steps_per_epoch, latent_dim, epoch, validation, progress)
                snapshot = checkpoints.Snapshot(self, data_generator)
                if dashboard is not None and (epoch % plot_interval == 0 or epoch == epochs):
                    dashboard.update(epoch)
                if output_dir is not None and (epoch % save_interval == 0 or epoch == epochs or self.stop_training):
                    self.save(output_dir, data_generator)
                    saved_epoch = epoch
                if self.stop_training:
                    break
        except BaseException as exc:  # Ctrl-C, SIGTERM, or an exception from user code
            self._save_on_interrupt(exc, snapshot, saved_epoch, output_dir, data_generator)
            raise
        finally:
            if dashboard is not None:
                dashboard.close()
        return self.metrics_history

    def _save_on_interrupt(self, exc, snapshot, saved_epoch: int, output_dir, data_generator) -> None:
        """Put the trainer back to the last finished epoch and, with an ``output_dir``, save it
        (a second Ctrl-C is held back until the save is complete); the log says exactly what
        was saved. A checkpoint that could not be written (:class:`~qgan_lab.training.checkpoints.SaveError`)
        is not tried again."""
        why = "Interrupted" if isinstance(exc, KeyboardInterrupt) else f"Stopped by {type(exc).__name__}: {exc}"
        resume = spell("resume=True")
        with checkpoints.deferred_interrupts() as received:
            snapshot.restore_into(self, data_generator)  # (an epoch cut short leaves nothing behind)
            if output_dir is None:
                logger.warning("%s; the trainer holds epoch %d (no output_dir: nothing saved)", why, snapshot.epoch)
            elif isinstance(exc, checkpoints.SaveError):
                pass  # its message says what is intact
            elif snapshot.epoch > saved_epoch:
                self.save(output_dir, data_generator)
                logger.warning("%s; saved epoch %d to %s: continue with %s", why, snapshot.epoch, output_dir, resume)
            elif saved_epoch > 0:
                logger.warning(
                    "%s; epoch %d was already saved in %s: continue with %s", why, saved_epoch, output_dir, resume
                )
            else:
                logger.warning("%s before the first epoch finished: nothing was saved in %s", why, output_dir)
        if received:
            logger.warning("A second interrupt arrived during the save; it was held back until the save was complete")

    def set_learning_rates(self, epoch: int, epochs: int) -> None:
        """Apply the ``lr_decay`` schedule for ``epoch`` (1-based) of ``epochs``."""
        if self.lr_decay == 1.0:
            return
        factor = self.lr_decay ** ((epoch - 1) / max(epochs - 1, 1))
        self.g_optimizer.learning_rate = self.base_learning_rates["g"] * factor
        self.d_optimizer.learning_rate = self.base_learning_rates["d"] * factor

    def _run_epoch(self, data_generator, epochs, steps_per_epoch, latent_dim, epoch, validation, progress) -> None:
        began = time.perf_counter()
        self.epoch_samples = None  # (after a restore, kept samples may be of other weights)
        self.set_learning_rates(epoch, epochs)
        bar = progress_bar(steps_per_epoch, f"epoch {epoch}/{epochs}") if progress else None
        logs = self.train_epoch(data_generator, steps_per_epoch, latent_dim, epoch, bar)
        if bar is not None:
            bar.close()
        logs["epoch_time"] = time.perf_counter() - began
        if validation is not None:
            with averaged(self.generator):
                generated = self.steps.sample(self._plot_z).numpy()
            logs["val_w1"] = float(wasserstein_per_feature(validation, generated).mean())
            self.epoch_samples = (epoch, generated)  # the dashboard draws these
        self._report_non_finite(epoch, logs)
        self.epoch.assign(epoch)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, self, logs)
        for key, value in logs.items():
            self.metrics_history.setdefault(key, []).append(float(value))
        logger.info(self.format_epoch(epoch, logs))

    def _report_non_finite(self, epoch: int, logs: dict[str, float]) -> None:
        """The epoch check: warn (naming the variables) when a model's weights or the epoch's
        validation W1 are NaN or inf; a NaN would otherwise pass every ``<`` test silently."""
        for side, model in (("generator", self.generator), ("discriminator", self.discriminator)):
            bad = [v.name.split(":")[0] for v in model.trainable_variables if not np.all(np.isfinite(v.numpy()))]
            if bad:
                logger.warning("epoch %d: the %s holds non-finite weights (NaN or inf) in %s", epoch, side, bad)
        if "val_w1" in logs and not np.isfinite(logs["val_w1"]):
            logger.warning("epoch %d: the generated samples are not finite (validation W1 = %s)", epoch, logs["val_w1"])

    def format_epoch(self, epoch: int, logs: dict[str, float]) -> str:
        """The guide's log line: ``Epoch 5: G_loss=..., D_loss=..., G_grads=20/20, D_grads=20/20``.

        A loss without a critic (MMD) trains no critic: its line leaves the critic's fields out.
        """
        critic = self.loss_fn.needs_critic
        fields = [
            ("G_loss", f"{logs['g_loss']:.4f}", False),
            ("D_loss", f"{logs['d_loss']:.4f}", True),
            ("G_grads", f"{logs['g_gradients']:.0f}/{len(self.generator.trainable_variables)}", False),
            ("D_grads", f"{logs['d_gradients']:.0f}/{len(self.discriminator.trainable_variables)}", True),
            ("W", f"{logs['w_distance']:.4f}", True),
            ("min_trace", f"{logs['min_trace']:.4f}", False),
            ("critic_min_trace", f"{logs.get('critic_min_trace', float('nan')):.4f}", True),
        ]
        shown = ", ".join(f"{name}={text}" for name, text, critic_only in fields if critic or not critic_only)
        line = f"Epoch {epoch}: {shown}, {logs['epoch_time']:.1f}s"
        if "val_w1" in logs:
            line += f", val_W1={logs['val_w1']:.4f}"
        return line

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        validation_data: Any,
        centers: Any = None,
        n_samples: int = 1000,
        output_dir: str | Path | None = None,
    ) -> dict[str, Any]:
        """Final evaluation on ``n_samples`` fresh samples: W1 per feature, statistics, mode
        coverage (if ``centers``), gradient-manager summaries; saved to ``output_dir`` if given
        (:func:`qgan_lab.training.evaluation.evaluate`)."""
        return evaluation.evaluate(self, validation_data, centers, n_samples, output_dir)
