"""The guide's training loop: ``QuantumGANTrainer``.

Each *step* is ``n_critic`` critic updates then one generator update. The loss and its
gradients are computed by one compiled function per side (``tf.function(jit_compile=True)``
on the compiled engine); the gradient managers then check every gradient in Python (and, if
one is ``None`` or non-finite, replace it by finite differences of the same compiled loss),
clip, and apply. A non-finite loss skips the step (counted in ``skipped_steps``).

Runs are reproducible: latent vectors and interpolation weights come from the trainer's own
``tf.random.Generator`` (seeded), the data generators of :mod:`qgan_lab.data` carry their own
numpy generator, and checkpoints store both, the models, both optimizers and the epoch, so a
resumed run continues exactly where it stopped. Taught in ``06_training_loop``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ._compat import release_memory
from .callbacks import QuantumGANCallback
from .data import check_batch_source
from .gradients import QuantumGradientManager, count_valid, gradient_flow_report
from .losses import LOSS_TYPES, make_loss
from .metrics import evaluate_samples, wasserstein_per_feature

logger = logging.getLogger(__name__)

HISTORY_KEYS = (
    "g_loss",
    "d_loss",
    "w_distance",
    "gradient_penalty",
    "g_gradients",
    "d_gradients",
    "min_trace",
    "g_grad_norm",
    "d_grad_norm",
    "epoch_time",
    "skipped_steps",
)


def _compile(fn: Callable) -> Callable:
    """``tf.function(fn, jit_compile=True)`` that returns compiler memory to the OS after tracing."""
    compiled = tf.function(fn, jit_compile=True)

    def call(*args):
        before = compiled.experimental_get_tracing_count()
        out = compiled(*args)
        if compiled.experimental_get_tracing_count() != before:
            release_memory()
        return out

    return call


def _output_and_min_trace(forward: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    return forward["output"], tf.reduce_min(forward["trace"])


def _combine(base: tf.Tensor, regs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The generator's losses: ``total_loss = base_loss + regularisers``, and each regulariser."""
    losses = {k: v for k, v in regs.items() if k != "total_loss"}
    losses.update(total_loss=base + regs["total_loss"], base_loss=base)
    return losses


def _global_norm(gradients: Sequence[Any]) -> float:
    present = [np.asarray(g) for g in gradients if g is not None]
    return float(np.sqrt(sum(float(np.sum(g**2)) for g in present))) if present else 0.0


class QuantumGANTrainer:
    """Trains a quantum generator against a quantum discriminator.

    Args:
        generator, discriminator: :class:`~qgan_lab.models.PureQuantumGenerator` and
            :class:`~qgan_lab.models.PureQuantumDiscriminator` (``output_dim`` must equal
            ``input_dim``).
        loss_type: ``"wasserstein"`` (WGAN-GP with quantum regularisers), ``"measurement"``
            (generator: the guide's measurement loss; critic: BCE, as in the guide) or
            ``"bce"`` (standard GAN, non-saturating generator loss).
        n_critic: critic updates per generator update (guide: 5).
        learning_rate_g, learning_rate_d, beta_1: Adam settings (guide: 1e-3, 1e-3, 0.5).
        loss_kwargs: passed to the loss class (e.g. ``lambda_gp``).
        callbacks: :class:`~qgan_lab.callbacks.QuantumGANCallback` objects.
        seed: seeds the trainer's random generator (latent vectors, interpolates).
        finite_difference_backup: give the gradient managers the loss closure, so bad
            gradients are replaced by finite differences instead of being skipped.
        lr_decay: both learning rates fall geometrically over the epochs of :meth:`train` to
            ``lr_decay`` times their initial values at the last epoch (1: constant, the guide).
            Adversarial training oscillates around its target: without decay the last iterate
            drifts away from the best one. The rate depends only on the epoch, so a resumed run
            follows the same schedule (it overrides callbacks that change the rate).
        lambda_cutoff, trace_floor: add ``lambda_cutoff * mean(relu(trace_floor - trace))`` to
            the generator's loss (reported as ``cutoff_reg``): the probability that leaks past
            the Fock cutoff is not simulated, so a state whose trace falls is no longer the
            circuit's state; the penalty keeps it inside (0: off, the guide).
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
    ):
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
        if generator.output_dim != discriminator.input_dim:
            raise ValueError(
                f"generator.output_dim={generator.output_dim} must equal discriminator.input_dim="
                f"{discriminator.input_dim}"
            )
        if isinstance(n_critic, bool) or not isinstance(n_critic, int) or n_critic < 1:
            raise ValueError(f"n_critic must be a positive int, got {n_critic!r}")
        for name, lr in (("learning_rate_g", learning_rate_g), ("learning_rate_d", learning_rate_d)):
            if not (np.isfinite(lr) and lr > 0):
                raise ValueError(f"{name} must be a positive number, got {lr}")
        self.generator = generator
        self.discriminator = discriminator
        self.loss_type = loss_type
        self.loss_fn = make_loss(loss_type, **(loss_kwargs or {}))
        self.n_critic = n_critic
        self.latent_dim = generator.latent_dim
        self.g_gradient_manager = QuantumGradientManager(max_gradient_norm=max_gradient_norm)
        self.d_gradient_manager = QuantumGradientManager(max_gradient_norm=max_gradient_norm)
        if not (np.isfinite(lr_decay) and 0 < lr_decay <= 1):
            raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")
        self.lr_decay = float(lr_decay)
        if not (np.isfinite(lambda_cutoff) and lambda_cutoff >= 0):
            raise ValueError(f"lambda_cutoff must be a finite number >= 0, got {lambda_cutoff!r}")
        if not (0 < trace_floor <= 1):
            raise ValueError(f"trace_floor must be in (0, 1], got {trace_floor!r}")
        self.lambda_cutoff, self.trace_floor = float(lambda_cutoff), float(trace_floor)
        self.base_learning_rates = {"g": float(learning_rate_g), "d": float(learning_rate_d)}
        self.g_optimizer = tf.keras.optimizers.Adam(learning_rate_g, beta_1=beta_1)
        self.d_optimizer = tf.keras.optimizers.Adam(learning_rate_d, beta_1=beta_1)
        self.g_optimizer.build(generator.trainable_variables)
        self.d_optimizer.build(discriminator.trainable_variables)
        self.callbacks = list(callbacks or [])
        self.finite_difference_backup = finite_difference_backup
        self.seed = int(seed)
        self.rng = tf.random.Generator.from_seed(self.seed)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.metrics_history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
        self.stop_training = False
        self.initial_gradient_report: dict[str, list[dict[str, Any]]] = {}
        self._plot_z = tf.random.stateless_normal([500, self.latent_dim], seed=[self.seed, 7])
        self.checkpoint = tf.train.Checkpoint(
            generator=generator,
            discriminator=discriminator,
            g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer,
            epoch=self.epoch,
            rng=self.rng,
        )
        compiled = generator.engine.compilable and discriminator.engine.compilable
        wrap = _compile if compiled else (lambda f: f)
        self._d_step = wrap(self._d_step_impl)
        self._sample_loss_vjp = wrap(self._sample_loss_vjp_impl)
        self._generator_vjp = wrap(self._generator_vjp_impl)
        self._d_loss_only = wrap(lambda real, fake, alpha: self._d_losses(real, fake, alpha)["total_loss"])
        self._g_loss_only = wrap(lambda z, real: self._g_losses(z, real)[0]["total_loss"])
        self._sample = wrap(lambda z: generator._forward_impl(z)["output"])
        self._sample_with_trace = wrap(lambda z: _output_and_min_trace(generator._forward_impl(z)))
        self._apply_fns = {
            "d": tf.function(
                lambda grads: self.d_optimizer.apply(grads, discriminator.trainable_variables), jit_compile=True
            ),
            "g": tf.function(
                lambda grads: self.g_optimizer.apply(grads, generator.trainable_variables), jit_compile=True
            ),
        }

    # ------------------------------------------------------------------ losses (traced)
    # Every loss object answers the same questions (see qgan_lab.losses): the step below has no
    # branch per loss type.
    def _critic(self, x: tf.Tensor) -> tf.Tensor:
        return self.discriminator._forward_impl(x)["output"]

    def _d_losses(self, real, fake, alpha):
        """Critic losses on a real and a generated batch (the fakes are made outside, so the
        compiled critic step does not contain the generator circuit: a smaller graph)."""
        real_out, fake_out = self._critic(real), self._critic(fake)
        return self.loss_fn.critic_objective(real_out, fake_out, real, fake, self._critic, alpha)

    def _g_losses(self, z, real):
        """The generator's whole loss in one piece (for finite-difference backups)."""
        fake = self.generator._forward_impl(z)
        base = self.loss_fn.sample_loss(fake["output"], real, self._critic)
        return _combine(base, self._generator_regularizers(fake, real)), tf.reduce_min(fake["trace"])

    def _generator_regularizers(self, fake: dict[str, tf.Tensor], real: tf.Tensor) -> dict[str, tf.Tensor]:
        """The loss's regularisers plus the cutoff penalty (if ``lambda_cutoff``)."""
        regs = self.loss_fn.regularizers(fake["measurements"], real, self.generator.trainable_variables)
        if self.lambda_cutoff:
            leak = tf.reduce_mean(tf.nn.relu(self.trace_floor - tf.cast(fake["trace"], regs["total_loss"].dtype)))
            regs = {**regs, "cutoff_reg": leak, "total_loss": regs["total_loss"] + self.lambda_cutoff * leak}
        return regs

    def _d_step_impl(self, real, fake, alpha):
        with tf.GradientTape() as tape:
            losses = self._d_losses(real, fake, alpha)
        return losses, tape.gradient(losses["total_loss"], self.discriminator.trainable_variables)

    # The generator step is split in two compiled pieces, joined by the chain rule: (1) the part
    # of the loss that depends on the samples only (through the critic, or MMD) and its gradient
    # with respect to the samples, (2) the generator's vector-Jacobian product with that gradient
    # plus the regularisers. Same gradient as one function, but two smaller XLA compilations
    # (lower peak memory), and the generator circuit runs once for all the fakes of a step.
    def _sample_loss_vjp_impl(self, samples, real):
        with tf.GradientTape() as tape:
            tape.watch(samples)
            base = self.loss_fn.sample_loss(samples, real, self._critic)
        return base, tape.gradient(base, samples, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def _generator_vjp_impl(self, z, upstream, real):
        with tf.GradientTape() as tape:
            fake = self.generator._forward_impl(z)
            regs = self._generator_regularizers(fake, real)
            surrogate = tf.reduce_sum(fake["output"] * upstream) + regs["total_loss"]
        grads = tape.gradient(surrogate, self.generator.trainable_variables)
        return regs, grads, tf.reduce_min(fake["trace"])

    def _g_step(self, z, real, samples=None):
        """Generator losses, gradients and smallest trace (split as above).

        ``samples`` may pass ``G(z)`` if it was already computed with the current weights.
        """
        base, upstream = self._sample_loss_vjp(self._sample(z) if samples is None else samples, real)
        regs, grads, trace = self._generator_vjp(z, upstream, real)
        return _combine(base, regs), grads, trace

    # ------------------------------------------------------------------ single steps
    def _apply(self, side: str, losses, grads, trace, loss_closure) -> dict[str, Any]:
        manager = self.d_gradient_manager if side == "d" else self.g_gradient_manager
        optimizer = self.d_optimizer if side == "d" else self.g_optimizer
        variables = (self.discriminator if side == "d" else self.generator).trainable_variables
        metrics: dict[str, Any] = {k: float(v) for k, v in losses.items()}
        metrics["gradient_count"] = count_valid(grads)
        metrics["min_trace"] = float(trace)
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
        fake, trace = self._sample_with_trace(tf.convert_to_tensor(z_batch, tf.float32))
        return self._critic_update(tf.convert_to_tensor(real_batch, tf.float32), fake, trace, alpha)

    def _critic_update(self, real: tf.Tensor, fake: tf.Tensor, trace: tf.Tensor, alpha: Any = None) -> dict[str, Any]:
        if alpha is None:
            alpha = self.rng.uniform([real.shape[0], 1])
        losses, grads = self._d_step(real, fake, alpha)
        return self._apply("d", losses, grads, trace, lambda: self._d_loss_only(real, fake, alpha))

    def train_generator_step(self, z_batch: Any, real_batch: Any = None, samples: Any = None) -> dict[str, Any]:
        """One generator update; ``real_batch`` is needed by the measurement loss only.

        ``samples``, if given, must be ``G(z_batch)`` under the current weights (saves a pass).
        """
        z = tf.convert_to_tensor(z_batch, tf.float32)
        real = tf.zeros([z.shape[0], self.generator.output_dim]) if real_batch is None else real_batch
        real = tf.convert_to_tensor(real, tf.float32)
        losses, grads, trace = self._g_step(z, real, samples)
        return self._apply("g", losses, grads, trace, lambda: self._g_loss_only(z, real))

    def sample(self, n: int, z: Any = None) -> tf.Tensor:
        """``n`` generated samples (fresh latent vectors from the trainer's generator unless given)."""
        z = self.rng.normal([n, self.latent_dim]) if z is None else tf.convert_to_tensor(z, tf.float32)
        return self._sample(z)

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
        skipped = 0
        n_critic = self.n_critic if self.loss_fn.needs_critic else 0
        d = {"total_loss": float("nan")}
        for _ in range(steps_per_epoch):
            real = np.asarray(data_generator(), dtype=np.float32)
            if not np.all(np.isfinite(real)):
                logger.warning("epoch %d: a data batch contained NaN or inf; step skipped", epoch_num)
                skipped += 1
                continue
            batch = real.shape[0]
            # the generator does not change during the critic updates: one generator pass makes
            # the fakes of all of them, and the samples its own update starts from
            zs = self.rng.normal([(n_critic + 1) * batch, latent_dim])
            fakes, trace = self._sample_with_trace(zs)
            real = tf.constant(real)
            for k in range(n_critic):
                d = self._critic_update(real, fakes[k * batch : (k + 1) * batch], trace)
                skipped += d["skipped"]
                if not d["skipped"]:
                    for key in ("d_loss", "w_distance", "gradient_penalty"):
                        records[key].append(d["total_loss" if key == "d_loss" else key])
                    records["d_grad_norm"].append(d["gradient_norm"])
                records["d_gradients"].append(d["gradient_count"])
                records["min_trace"].append(d["min_trace"])
            last = slice(n_critic * batch, None)
            g = self.train_generator_step(zs[last], real, fakes[last])
            skipped += g["skipped"]
            if not g["skipped"]:
                records["g_loss"].append(g["total_loss"])
                records["g_grad_norm"].append(g["gradient_norm"])
            records["g_gradients"].append(g["gradient_count"])
            records["min_trace"].append(g["min_trace"])
            if progress is not None:
                progress.update(1)
                progress.set_postfix(g=f"{g['total_loss']:.3f}", d=f"{d['total_loss']:.3f}", refresh=False)
        summary = {k: float(np.mean(v)) if v else float("nan") for k, v in records.items()}
        summary["min_trace"] = float(np.min(records["min_trace"])) if records["min_trace"] else float("nan")
        summary["skipped_steps"] = float(skipped)
        return summary

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, data_generator, latent_dim, validation_data) -> np.ndarray:
        if latent_dim != self.generator.latent_dim:
            raise ValueError(
                f"latent_dim={latent_dim} does not match the generator's latent_dim={self.generator.latent_dim}"
            )
        if not callable(data_generator):
            raise TypeError("data_generator must be a callable returning [batch, features] batches")
        batch = check_batch_source(data_generator, self.discriminator.input_dim)
        if validation_data is not None:
            check_batch_source(lambda: validation_data, self.discriminator.input_dim)
        return batch

    def verify_gradient_flow(self, real_batch: Any) -> dict[str, list[dict[str, Any]]]:
        """Gradient-flow report of both sides on one batch (the generator's alone when the loss
        needs no critic); ``RuntimeError`` if a side has none."""
        real = tf.convert_to_tensor(real_batch, tf.float32)
        z = tf.random.stateless_normal([real.shape[0], self.latent_dim], seed=[self.seed, 1])
        _, g_grads, _ = self._g_step(z, real)
        report = {"generator": gradient_flow_report(g_grads, self.generator.trainable_variables)}
        if self.loss_fn.needs_critic:
            alpha = tf.random.stateless_uniform([real.shape[0], 1], seed=[self.seed, 2])
            _, d_grads = self._d_step(real, self._sample(z), alpha)
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
        return {
            "generator": self.generator.architecture(),
            "discriminator": self.discriminator.architecture(),
            "loss_type": self.loss_type,
        }

    def _paths(self, output_dir: Path) -> dict[str, Path]:
        return {"config": output_dir / "config.json", "checkpoints": output_dir / "checkpoints"}

    def save(self, output_dir: str | Path, data_generator: Any = None) -> Path:
        """Write a checkpoint (models, optimizers, epoch, random state) plus history and config."""
        output_dir = Path(output_dir)
        paths = self._paths(output_dir)
        paths["checkpoints"].mkdir(parents=True, exist_ok=True)
        paths["config"].write_text(json.dumps(self.architecture(), indent=2))
        epoch = int(self.epoch.numpy())
        prefix = self.checkpoint.write(str(paths["checkpoints"] / f"ckpt-{epoch}"))
        state = {"epoch": epoch, "history": self.metrics_history}
        rng = getattr(data_generator, "rng", None)
        if rng is not None:
            state["data_rng"] = rng.bit_generator.state
        (paths["checkpoints"] / f"state-{epoch}.json").write_text(json.dumps(state, default=_jsonable))
        (output_dir / "history.json").write_text(json.dumps(self.metrics_history, default=_jsonable, indent=1))
        return Path(prefix)

    @staticmethod
    def latest_checkpoint_epoch(output_dir: str | Path) -> int | None:
        """The epoch of the newest complete checkpoint in ``output_dir``, or None."""
        folder = Path(output_dir) / "checkpoints"
        epochs = [int(p.stem.split("-")[1]) for p in folder.glob("state-*.json")] if folder.exists() else []
        epochs = [e for e in epochs if (folder / f"ckpt-{e}.index").exists()]
        return max(epochs) if epochs else None

    def check_checkpoint_compatible(self, output_dir: str | Path) -> None:
        """``ValueError`` if ``output_dir`` holds a run of another architecture or loss."""
        config = self._paths(Path(output_dir))["config"]
        if not config.exists():
            return
        saved = json.loads(config.read_text())
        mine = json.loads(json.dumps(self.architecture()))
        if saved != mine:
            differences = [k for k in mine if saved.get(k) != mine.get(k)]
            raise ValueError(
                f"the checkpoint folder {output_dir} was written for another architecture "
                f"(differs in {differences}): saved {saved}, this trainer {mine}. "
                "Nothing was loaded or overwritten; use another output_dir."
            )

    def restore(self, output_dir: str | Path, data_generator: Any = None) -> int:
        """Load the newest checkpoint of ``output_dir``; returns its epoch (0 if none)."""
        self.check_checkpoint_compatible(output_dir)
        epoch = self.latest_checkpoint_epoch(output_dir)
        if epoch is None:
            return 0
        folder = self._paths(Path(output_dir))["checkpoints"]
        self.checkpoint.read(str(folder / f"ckpt-{epoch}")).assert_existing_objects_matched()
        state = json.loads((folder / f"state-{epoch}.json").read_text())
        self.metrics_history = {k: list(v) for k, v in state["history"].items()}
        rng = getattr(data_generator, "rng", None)
        if rng is not None and "data_rng" in state:
            rng.bit_generator.state = state["data_rng"]
        logger.info("Restored %s at epoch %d", output_dir, epoch)
        return epoch

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
        ``save_interval`` epochs a checkpoint is written to ``output_dir``. Returns
        :attr:`metrics_history`.
        """
        for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        first_batch = self._check_inputs(data_generator, latent_dim, validation_data)
        validation = None if validation_data is None else np.asarray(validation_data, np.float32)
        if output_dir is not None:
            output_dir = Path(output_dir)
            self.check_checkpoint_compatible(output_dir)
            if resume:
                self.restore(output_dir, data_generator)
            elif self.latest_checkpoint_epoch(output_dir) is not None:
                raise ValueError(
                    f"{output_dir} already holds a run; pass resume=True to continue it or choose another output_dir"
                )
        elif resume:
            raise ValueError("resume=True needs the output_dir of the run to continue")
        start = int(self.epoch.numpy())
        if start == 0:
            self.verify_gradient_flow(first_batch)
        logger.info("Starting QGAN training: epochs %d..%d, %d steps/epoch", start + 1, epochs, steps_per_epoch)
        dashboard = _Dashboard(self, validation, live_plot, output_dir) if (live_plot or output_dir) else None
        self.stop_training = False
        for epoch in range(start + 1, epochs + 1):
            began = time.perf_counter()
            self.set_learning_rates(epoch, epochs)
            bar = _progress_bar(steps_per_epoch, f"epoch {epoch}/{epochs}") if progress else None
            logs = self.train_epoch(data_generator, steps_per_epoch, latent_dim, epoch, bar)
            if bar is not None:
                bar.close()
            logs["epoch_time"] = time.perf_counter() - began
            if validation is not None:
                generated = self._sample(self._plot_z).numpy()
                logs["val_w1"] = float(wasserstein_per_feature(validation, generated).mean())
            self.epoch.assign(epoch)
            for callback in self.callbacks:
                callback.on_epoch_end(epoch, self, logs)
            for key, value in logs.items():
                self.metrics_history.setdefault(key, []).append(float(value))
            logger.info(self.format_epoch(epoch, logs))
            if dashboard is not None and (epoch % plot_interval == 0 or epoch == epochs):
                dashboard.update(epoch)
            if output_dir is not None and (epoch % save_interval == 0 or epoch == epochs or self.stop_training):
                self.save(output_dir, data_generator)
            if self.stop_training:
                break
        if dashboard is not None:
            dashboard.close()
        return self.metrics_history

    def set_learning_rates(self, epoch: int, epochs: int) -> None:
        """Apply the ``lr_decay`` schedule for ``epoch`` (1-based) of ``epochs``."""
        if self.lr_decay == 1.0:
            return
        factor = self.lr_decay ** ((epoch - 1) / max(epochs - 1, 1))
        self.g_optimizer.learning_rate = self.base_learning_rates["g"] * factor
        self.d_optimizer.learning_rate = self.base_learning_rates["d"] * factor

    def format_epoch(self, epoch: int, logs: dict[str, float]) -> str:
        """The guide's log line: ``Epoch 5: G_loss=..., D_loss=..., G_grads=20/20, D_grads=20/20``."""
        line = (
            f"Epoch {epoch}: G_loss={logs['g_loss']:.4f}, D_loss={logs['d_loss']:.4f}, "
            f"G_grads={logs['g_gradients']:.0f}/{len(self.generator.trainable_variables)}, "
            f"D_grads={logs['d_gradients']:.0f}/{len(self.discriminator.trainable_variables)}, "
            f"W={logs['w_distance']:.4f}, min_trace={logs['min_trace']:.4f}, {logs['epoch_time']:.1f}s"
        )
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
        coverage (if ``centers``), gradient-manager summaries; saved to ``output_dir`` if given."""
        z = tf.random.stateless_normal([n_samples, self.latent_dim], seed=[self.seed, 99])
        generated = self._sample(z).numpy()
        report = evaluate_samples(generated, np.asarray(validation_data), centers)
        report["epochs"] = int(self.epoch.numpy())
        report["gradient_manager"] = {
            "generator": self.g_gradient_manager.get_summary(),
            "discriminator": self.d_gradient_manager.get_summary(),
        }
        if output_dir is not None:
            output_dir = Path(output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
            np.save(output_dir / "final_generated_samples.npy", generated)
            (output_dir / "evaluation.json").write_text(json.dumps(report, indent=2, default=_jsonable))
            (output_dir / "report.txt").write_text(format_report(report))
        return report


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable evaluation report."""
    lines = [
        f"epochs trained: {report['epochs']}",
        "Wasserstein-1 per feature: " + ", ".join(f"{w:.4f}" for w in report["wasserstein_per_feature"]),
        f"mean W1: {report['wasserstein_mean']:.4f}",
        "generated mean: " + ", ".join(f"{m:+.3f}" for m in report["generated"]["mean"]),
        "generated std:  " + ", ".join(f"{s:.3f}" for s in report["generated"]["std"]),
    ]
    if "mode_coverage" in report:
        lines.append("mode coverage: " + ", ".join(f"{100 * c:.1f}%" for c in report["mode_coverage"]))
    for side, summary in report["gradient_manager"].items():
        lines.append(
            f"{side} gradient manager: {summary['total_steps']} steps, NaN/None rate {summary['nan_rate']:.2%}, "
            f"backup rate {summary['backup_rate']:.2%}, clipped {summary['clip_rate']:.2%}, "
            f"skipped {summary['skipped_steps']}"
        )
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _progress_bar(total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True)


class _Dashboard:
    """The guide's 2x2 figure: saved as PNG, and redrawn in place in a notebook if ``live``.

    In place means one ``ipywidgets.Image`` whose PNG is replaced each time: unlike
    ``display(..., display_id=True)`` updates, which JupyterLab's ``Output`` widget ignores,
    this also redraws inside the Train panel's output.
    """

    def __init__(self, trainer: QuantumGANTrainer, validation: Any, live: bool, output_dir: Path | None):
        self.trainer, self.validation, self.live, self.output_dir = trainer, validation, live, output_dir
        self.fig = None  # created at the first update: matplotlib stays out of memory while XLA compiles
        self.image = None  # the ipywidgets.Image shown in the notebook
        self.handle = None  # a display handle, where ipywidgets is missing

    def update(self, epoch: int) -> None:
        import matplotlib.pyplot as plt

        from .plotting import plot_training_dashboard

        if self.fig is None:
            self.fig = plt.figure(figsize=(11, 8))
        generated = self.trainer._sample(self.trainer._plot_z).numpy()
        plot_training_dashboard(
            self.trainer.metrics_history,
            generated,
            self.validation,
            len(self.trainer.generator.trainable_variables),
            len(self.trainer.discriminator.trainable_variables),
            fig=self.fig,
            title=f"epoch {epoch}",
        )
        if self.output_dir is not None:
            (self.output_dir / "plots").mkdir(parents=True, exist_ok=True)
            self.fig.savefig(self.output_dir / "plots" / f"qgan_training_epoch_{epoch}.png", dpi=100)
        if self.live:
            self._show()

    def _show(self) -> None:
        import io

        from IPython.display import display

        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=72)
        try:
            import ipywidgets
        except ImportError:  # pragma: no cover - ipywidgets is a dependency
            if self.handle is None:
                self.handle = display(self.fig, display_id=True)
            else:
                self.handle.update(self.fig)
            return
        if self.image is None:
            self.image = ipywidgets.Image(value=buffer.getvalue(), format="png", layout={"max_width": "100%"})
            self.image.add_class("qgan-dashboard")
            display(self.image)
        else:
            self.image.value = buffer.getvalue()

    def close(self) -> None:
        if self.fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self.fig)
