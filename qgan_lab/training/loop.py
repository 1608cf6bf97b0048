"""The training loop of :class:`~qgan_lab.training.trainer.QuantumGANTrainer`: epochs of steps.

Each *step* is ``n_critic`` critic updates then one generator update, run by default as one
compiled :class:`~qgan_lab.training.fused.FusedStep` (else update by update,
:mod:`qgan_lab.training.updates`). Each epoch sets the learning rates of the ``lr_decay``
schedule (the generator's weight average is updated after every step), measures the validation W1, calls the
callbacks and logs the guide's line. :meth:`TrainingLoop.train` checks every argument before
the first step, opens or resumes the run folder and saves the last finished epoch when
interrupted (:mod:`qgan_lab.training.resume`).

Taught in ``06_training_loop``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..data import as_numbers, check_batch_source
from ..metrics import wasserstein_per_feature
from ..models.averaging import averaged
from ..validation import BadType, BadValue, check_train_arguments, spell
from . import evaluation
from .dashboard import Dashboard, progress_bar
from .fused import FusedStep, run_fused_step
from .resume import Snapshot, open_run, save_on_interrupt

logger = logging.getLogger(__name__)


class TrainingLoop:
    """Epochs, steps and the run folder (mixed into the trainer, whose ``__init__`` sets what
    they use)."""

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
        output_dir = open_run(self, output_dir, resume, epochs, data_generator)
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
        snapshot = Snapshot(self, data_generator)
        try:
            for epoch in range(start + 1, epochs + 1):
                self._run_epoch(data_generator, epochs, steps_per_epoch, latent_dim, epoch, validation, progress)
                snapshot = Snapshot(self, data_generator)
                if dashboard is not None and (epoch % plot_interval == 0 or epoch == epochs):
                    dashboard.update(epoch)
                if output_dir is not None and (epoch % save_interval == 0 or epoch == epochs or self.stop_training):
                    self.save(output_dir, data_generator)
                    saved_epoch = epoch
                if self.stop_training:
                    break
        except BaseException as exc:  # Ctrl-C, SIGTERM, or an exception from user code
            save_on_interrupt(self, exc, snapshot, saved_epoch, output_dir, data_generator)
            raise
        finally:
            if dashboard is not None:
                dashboard.close()
        return self.metrics_history

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

    def _fused_step(self) -> FusedStep:
        """A :class:`FusedStep` for the trainer's current optimizers, critic count and clipping norm."""
        n_critic = self.n_critic if self.loss_fn.needs_critic else 0
        clip_norm = self.g_gradient_manager.max_gradient_norm
        sample_rows = self.steps.rows_that_fit(int(self._plot_z.shape[0]))
        return FusedStep(self.steps, self.d_optimizer, self.g_optimizer, n_critic, clip_norm, sample_rows)

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
