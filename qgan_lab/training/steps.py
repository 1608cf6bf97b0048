"""The compiled pieces of a training step: losses, gradients and samples of both models.

:class:`TrainingSteps` holds what is traced and compiled (``tf.function(jit_compile=True)`` on
the compiled engine, plain eager functions on Strawberry Fields); :class:`~qgan_lab.training.trainer.
QuantumGANTrainer` calls them, checks the gradients and applies them. Every loss object of
:mod:`qgan_lab.training.losses` answers the same questions (``critic_objective``, ``sample_loss``,
``regularizers``, ``needs_critic``), so nothing here branches on the loss type. Taught in
``06_training_loop``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from .._compat import release_memory


def compile_xla(fn: Callable) -> Callable:
    """``tf.function(fn, jit_compile=True)`` that returns compiler memory to the OS after tracing.

    Without AutoGraph (``autograph=False``): the traced code has no Python control flow on
    tensors (its loops and branches are ``tf.while_loop`` and ``tf.cond``), and AutoGraph's
    source rewriting took 3-4.5 s of each compilation (fused step: guide 15.3 -> 12.5 s,
    ``bimodal`` 23.6 -> 19.1 s, ``bimodal_mmd`` 11.3 -> 7.1 s; same graph, 5066 ops).
    """
    compiled = tf.function(fn, jit_compile=True, autograph=False)

    def call(*args):
        before = compiled.experimental_get_tracing_count()
        out = compiled(*args)
        if compiled.experimental_get_tracing_count() != before:
            release_memory()
        return out

    call.tracing_count = compiled.experimental_get_tracing_count  # (compilations: the tests count them)
    return call


def combine_losses(base: tf.Tensor, regs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The generator's losses: ``total_loss = base_loss + regularisers``, and each regulariser."""
    losses = {k: v for k, v in regs.items() if k != "total_loss"}
    losses.update(total_loss=base + regs["total_loss"], base_loss=base)
    return losses


class TrainingSteps:
    """Losses and gradients of one generator/critic pair, traced once and compiled.

    Args:
        generator, discriminator: the models (their ``_forward_impl`` returns ``output``,
            ``trace`` and ``measurements``).
        loss_fn: a loss object of :mod:`qgan_lab.training.losses`.
        lambda_cutoff, trace_floor: the cutoff penalty ``lambda_cutoff * mean(relu(trace_floor
            - trace))`` added to both sides' losses (0: off).
    """

    def __init__(self, generator: Any, discriminator: Any, loss_fn: Any, lambda_cutoff: float, trace_floor: float):
        self.generator, self.discriminator, self.loss_fn = generator, discriminator, loss_fn
        self.lambda_cutoff, self.trace_floor = lambda_cutoff, trace_floor
        # models built with jit_compile=False (or on Strawberry Fields) train eagerly: no compile wait
        compiled = all(m.engine.compilable and getattr(m, "_jit", True) for m in (generator, discriminator))
        self.compiled = compiled
        wrap = compile_xla if compiled else (lambda f: f)
        self.d_step = wrap(self._d_step_impl)
        self.d_loss_only = wrap(lambda real, fake, alpha: self.d_losses(real, fake, alpha)["total_loss"])
        self.g_loss_only = wrap(lambda z, real: self.g_losses(z, real)[0]["total_loss"])
        self._sample_with_trace = wrap(self._sample_with_trace_impl)
        #: rows of the first :meth:`sample_with_trace` call (a training step's fakes, or the
        #: guide's single critic update), or set by the first fused step
        #: (:class:`~qgan_lab.training.fused.FusedStep`: the trainer's validation samples): :meth:`sample`
        #: compiles one program for that many rows and reuses it for any number of samples
        self.sample_rows: int | None = None
        self._sample_loss_vjp = wrap(self._sample_loss_vjp_impl)
        self._generator_vjp = wrap(self._generator_vjp_impl)

    # ------------------------------------------------------------------ traced losses
    def _critic(self, x: tf.Tensor) -> tf.Tensor:
        return self.discriminator._forward_impl(x)["output"]

    def sample_with_trace(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``G(z)`` and the smallest trace of the generator's states."""
        if self.sample_rows is None:
            self.sample_rows = int(z.shape[0])
        return self._sample_with_trace(z)

    def sample(self, z: tf.Tensor) -> tf.Tensor:
        """``G(z)`` in chunks of :attr:`sample_rows` rows (the last one padded with zeros): one
        compiled program for every batch size (each new size would cost a compilation). The
        generator's rows are independent (each output depends on its own latent row only)."""
        rows, n = self.sample_rows, int(z.shape[0])
        if rows is None or not self.compiled or n in (0, rows):  # (eager: padding would only cost)
            return self._sample_with_trace(z)[0]
        padded = tf.concat([z, tf.zeros([-n % rows, z.shape[1]], z.dtype)], 0)
        chunks = [self._sample_with_trace(padded[i : i + rows])[0] for i in range(0, n, rows)]
        return tf.concat(chunks, 0)[:n]

    def rows_that_fit(self, rows: int) -> int:
        """``rows``, or fewer if more than the generator's :meth:`~qgan_lab.models.generator.
        PureQuantumGenerator.inference_chunk` (what fits the engine's memory limit)."""
        chunk = self.generator.inference_chunk()
        return rows if chunk is None else min(rows, chunk)

    def _sample_with_trace_impl(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        forward = self.generator._forward_impl(z)
        return forward["output"], tf.reduce_min(forward["trace"])

    def leak(self, traces: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
        """``mean(relu(trace_floor - trace))``: how far the states fall below the trace floor."""
        return tf.reduce_mean(tf.nn.relu(self.trace_floor - tf.cast(traces, dtype)))

    def d_losses(self, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor) -> dict[str, tf.Tensor]:
        """Critic losses on a real and a generated batch (the fakes are made outside, so the
        compiled critic step does not contain the generator circuit: a smaller graph)."""
        # one critic pass over the real and the generated batch (measured: faster and a smaller
        # graph than two; the gradient penalty's interpolates stay apart, as batching them too
        # would run its input gradient over every row, which measured slower)
        critic = self.discriminator
        if self._fits_twice(real):
            both = critic._forward_impl(tf.concat([real, tf.cast(fake, real.dtype)], 0))
            rows = real.shape[0]  # static: _fits_twice needs it
            real_out, fake_out, traces = both["output"][:rows], both["output"][rows:], both["trace"]
        else:  # two passes: each within the engine's memory limit
            real_f, fake_f = critic._forward_impl(real), critic._forward_impl(fake)
            real_out, fake_out = real_f["output"], fake_f["output"]
            traces = tf.concat([real_f["trace"], fake_f["trace"]], 0)
        losses = self.loss_fn.critic_objective(real_out, fake_out, real, fake, self._critic, alpha)
        # the critic's own states: the smallest trace over the real and the generated batch
        losses["critic_min_trace"] = tf.reduce_min(traces)
        if self.lambda_cutoff:
            leak = self.leak(traces, losses["total_loss"].dtype)
            losses.update(cutoff_reg=leak, total_loss=losses["total_loss"] + self.lambda_cutoff * leak)
        return losses

    def _fits_twice(self, real: tf.Tensor) -> bool:
        """Does the critic's engine accept twice ``real``'s rows (one pass over real and fake)?"""
        critic, rows = self.discriminator, real.shape[0]
        if rows is None or not hasattr(critic.engine, "memory_estimate"):
            return rows is not None
        return critic.engine.memory_estimate(critic.circuit, 2 * rows, critic.dtype) <= critic.engine.max_memory_bytes

    def g_losses(self, z: tf.Tensor, real: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """The generator's whole loss in one piece (for finite-difference backups) and its
        states' smallest trace."""
        losses, trace, _ = self._g_losses_and_samples(z, real)
        return losses, trace

    def _g_losses_and_samples(self, z: tf.Tensor, real: tf.Tensor):
        """:meth:`g_losses` and the samples ``G(z)`` they were computed on."""
        fake = self.generator._forward_impl(z)
        base = self.loss_fn.sample_loss(fake["output"], real, self._critic)
        losses = combine_losses(base, self._regularizers(fake, real))
        return losses, tf.reduce_min(fake["trace"]), fake["output"]

    def _regularizers(self, fake: dict[str, tf.Tensor], real: tf.Tensor) -> dict[str, tf.Tensor]:
        """The loss's regularisers plus the cutoff penalty (if ``lambda_cutoff``)."""
        regs = self.loss_fn.regularizers(fake["measurements"], real, self.generator.trainable_variables)
        if self.lambda_cutoff:
            leak = self.leak(fake["trace"], regs["total_loss"].dtype)
            regs = {**regs, "cutoff_reg": leak, "total_loss": regs["total_loss"] + self.lambda_cutoff * leak}
        return regs

    # ------------------------------------------------------------------ gradients
    def _d_step_impl(self, real, fake, alpha):
        with tf.GradientTape() as tape:
            losses = self.d_losses(real, fake, alpha)
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
            regs = self._regularizers(fake, real)
            surrogate = tf.reduce_sum(fake["output"] * upstream) + regs["total_loss"]
        grads = tape.gradient(surrogate, self.generator.trainable_variables)
        return regs, grads, tf.reduce_min(fake["trace"])

    def g_step(self, z: tf.Tensor, real: tf.Tensor, samples: tf.Tensor | None = None):
        """Generator losses, gradients and smallest trace (split as above).

        ``samples`` may pass ``G(z)`` if it was already computed with the current weights.
        """
        base, upstream = self._sample_loss_vjp(self.sample(z) if samples is None else samples, real)
        regs, grads, trace = self._generator_vjp(z, upstream, real)
        return combine_losses(base, regs), grads, trace

    def g_step_taped(self, z: tf.Tensor, real: tf.Tensor):
        """:meth:`g_step` on one tape: the generator runs once on ``z`` and its samples feed the
        loss directly (traced inside :class:`~qgan_lab.training.fused.FusedStep`'s program, where the
        split into two compiled pieces saves nothing; run eagerly by the trainer's
        ``verify_gradient_flow``). Returns the losses, the gradients, the smallest trace and the
        samples."""
        with tf.GradientTape() as tape:
            losses, trace, samples = self._g_losses_and_samples(z, real)
        grads = tape.gradient(losses["total_loss"], self.generator.trainable_variables)
        return losses, grads, trace, samples
