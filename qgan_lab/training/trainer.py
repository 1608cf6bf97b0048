"""The guide's trainer, ``QuantumGANTrainer``: what it holds, and its checkpoints.

The class is assembled from rooms that each read in one sitting: the guide's per-update
methods (:class:`~qgan_lab.training.updates.GuideUpdates`), the loop over epochs and steps
(:class:`~qgan_lab.training.loop.TrainingLoop`), which opens, resumes and, when interrupted, saves
a run with :mod:`qgan_lab.training.resume`. This module builds the trainer (every argument checked
where it enters) and saves and restores it.

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
``tf.random.Generator`` (seeded), the data generators of :mod:`qgan_lab.data` carry their own numpy
generator, and checkpoints store both, the models, both optimizers and the epoch, so a resumed run
continues exactly where it stopped. Checkpoint files are handled by
:mod:`qgan_lab.training.checkpoints` (atomic, verified; the emergency save on Ctrl-C is
:mod:`qgan_lab.training.resume`'s) and every argument is checked by :mod:`qgan_lab.validation`
before the first step. The smallest trace of the generator's and the critic's states is tracked
(``min_trace``, ``critic_min_trace``) and watched by
:class:`~qgan_lab.training.callbacks.CutoffMonitor`. The final evaluation lives in
:mod:`qgan_lab.training.evaluation`, the progress bar and live figure in
:mod:`qgan_lab.training.dashboard`.
Taught in ``06_training_loop``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..sim.cutoff import TRACE_THRESHOLD, parameter_bounds
from ..validation import BadType, BadValue, check, check_callback
from . import checkpoints, evaluation
from .callbacks import CutoffMonitor, QuantumGANCallback
from .gradients import QuantumGradientManager
from .loop import TrainingLoop
from .losses import check_loss
from .steps import TrainingSteps
from .updates import GuideUpdates

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


class QuantumGANTrainer(GuideUpdates, TrainingLoop):
    """Trains a quantum generator against a quantum discriminator.

    Args:
        generator, discriminator: :class:`~qgan_lab.models.generator.PureQuantumGenerator` and
            :class:`~qgan_lab.models.critic.PureQuantumDiscriminator` (``output_dim`` must equal
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
