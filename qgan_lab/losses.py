"""GAN losses for quantum models: Wasserstein with gradient penalty, measurement, BCE.

Names, arguments and returned dictionaries follow the guide. Where the guide was vague
the definition below is the one implemented (and tested):

* **gradient penalty** (WGAN-GP, Gulrajani et al. 2017): ``x_hat = a x_real + (1 - a) x_fake``
  with ``a ~ U[0, 1]`` per sample; ``GP = mean_b (||grad_x D(x_hat_b)||_2 - 1)^2``. The norm is
  ``sqrt(sum g^2 + 1e-12)`` so that its gradient stays finite where ``g = 0``.
* **entropy regulariser** on the generator's measurements ``m [B, d]``: per sample,
  ``p_b = softmax(m_b)`` over the *feature* axis (the last one), ``H_b = -sum_j p_bj log p_bj``;
  ``entropy_reg = -mean_b H_b``, between ``-log d`` (all features equal: maximal entropy) and
  0 (one feature dominates). Minimising it pushes towards diverse measurement outcomes. (The
  guide summed over the batch too, which made the weight depend on the batch size.)
* **physics regulariser** on the generator's parameters ``theta`` (a variable or a list of
  them, all scalars pooled): ``mean(relu(|theta| - bound))`` with ``bound = 5``: 0 while every
  parameter is inside ``[-5, 5]``, growing linearly outside (large squeezing or displacement
  pushes photons past any cutoff). ``bound`` may also be one number per variable: the trainer
  passes :func:`qgan_lab.cutoff.parameter_bounds`, which ties displacement and squeezing
  amplitudes to what the cutoff holds (``r^2`` resp. ``sinh^2 r`` photons well inside it).

Taught in ``04_loss_functions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

LOSS_TYPES = ("wasserstein", "measurement", "bce")


def _score_fn(discriminator: Any) -> Callable[[tf.Tensor], tf.Tensor]:
    if hasattr(discriminator, "discriminate"):
        return discriminator.discriminate
    if callable(discriminator):
        return discriminator
    raise TypeError(f"discriminator must have .discriminate() or be callable, got {type(discriminator).__name__}")


def _flatten_params(params: Any) -> tf.Tensor:
    if isinstance(params, (list, tuple)):
        if not params:
            return tf.zeros([0])
        dtype = params[0].dtype
        return tf.concat([tf.reshape(tf.cast(p, dtype), [-1]) for p in params], axis=0)
    return tf.reshape(tf.convert_to_tensor(params), [-1])


def gradient_penalty(
    real_samples: tf.Tensor,
    fake_samples: tf.Tensor,
    discriminator: Any,
    alpha: tf.Tensor | None = None,
) -> tf.Tensor:
    """WGAN-GP penalty on random interpolates (see the module docstring).

    ``alpha [B, 1]`` may be given for reproducible results; by default ``U[0, 1]``.
    """
    real_samples = tf.convert_to_tensor(real_samples)
    fake_samples = tf.cast(fake_samples, real_samples.dtype)
    if real_samples.shape.rank != 2 or real_samples.shape[1:] != fake_samples.shape[1:]:
        raise ValueError(
            f"real_samples and fake_samples must both be [batch, features], got "
            f"{real_samples.shape.as_list()} and {fake_samples.shape.as_list()}"
        )
    if alpha is None:
        alpha = tf.random.uniform([tf.shape(real_samples)[0], 1], 0.0, 1.0, dtype=real_samples.dtype)
    alpha = tf.cast(alpha, real_samples.dtype)
    interpolated = alpha * real_samples + (1.0 - alpha) * fake_samples
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        score = _score_fn(discriminator)(interpolated)
    grads = tape.gradient(score, interpolated)
    if grads is None:
        raise ValueError("the discriminator's score does not depend on its input: no gradient penalty")
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
    return tf.reduce_mean(tf.square(norm - 1.0))


def entropy_regularization(measurements: tf.Tensor) -> tf.Tensor:
    """``-mean_b H(softmax(m_b))`` over the feature axis (see the module docstring)."""
    measurements = tf.convert_to_tensor(measurements)
    if measurements.shape.rank != 2:
        raise ValueError(f"measurements must be [batch, features], got {measurements.shape.as_list()}")
    log_p = tf.nn.log_softmax(measurements, axis=-1)
    entropy = -tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1)
    return -tf.reduce_mean(entropy)


def physics_regularization(params: Any, bound: Any = 5.0) -> tf.Tensor:
    """``mean(relu(|theta| - bound))`` over all scalars of ``params`` (``bound``: a number, or
    one per variable of a list of variables)."""
    flat = _flatten_params(params)
    if isinstance(bound, (list, tuple)):
        bound = tf.concat([tf.fill([p.shape.num_elements()], float(b)) for p, b in zip(params, bound)], 0)
        bound = tf.cast(bound, flat.dtype)
    return tf.reduce_mean(tf.nn.relu(tf.abs(flat) - bound)) if flat.shape[0] else tf.constant(0.0)


class QuantumWassersteinLoss:
    """Wasserstein critic loss with gradient penalty, generator loss with quantum regularisers.

    ``d_loss = -(E[D(real)] - E[D(fake)]) + lambda_gp GP`` and
    ``g_loss = -E[D(fake)] + lambda_entropy entropy_reg + lambda_physics physics_reg``.
    """

    def __init__(
        self,
        lambda_gp: float = 10.0,
        lambda_entropy: float = 0.5,
        lambda_physics: float = 1.0,
        param_bound: float = 5.0,
    ):
        for name, value in (
            ("lambda_gp", lambda_gp),
            ("lambda_entropy", lambda_entropy),
            ("lambda_physics", lambda_physics),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.lambda_gp = float(lambda_gp)
        self.lambda_entropy = float(lambda_entropy)
        self.lambda_physics = float(lambda_physics)
        self.param_bound = float(param_bound)

    def discriminator_loss(
        self,
        real_output: tf.Tensor,
        fake_output: tf.Tensor,
        real_samples: tf.Tensor,
        fake_samples: tf.Tensor,
        discriminator: Any,
        alpha: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """``total_loss``, ``w_distance`` (E[D(real)] - E[D(fake)]) and ``gradient_penalty``."""
        w_distance = tf.reduce_mean(real_output) - tf.reduce_mean(fake_output)
        if self.lambda_gp > 0:
            penalty = gradient_penalty(real_samples, fake_samples, discriminator, alpha)
        else:
            penalty = tf.zeros([], w_distance.dtype)
        penalty = tf.cast(penalty, w_distance.dtype)
        return {
            "total_loss": -w_distance + self.lambda_gp * penalty,
            "w_distance": w_distance,
            "gradient_penalty": penalty,
        }

    def generator_loss(
        self,
        fake_output: tf.Tensor,
        fake_measurements: tf.Tensor | None = None,
        generator_params: Any = None,
    ) -> dict[str, tf.Tensor]:
        """``total_loss``, ``base_loss`` (-E[D(fake)]), ``entropy_reg`` and ``physics_reg``."""
        base = -tf.reduce_mean(fake_output)
        entropy_reg = tf.zeros([], base.dtype)
        if fake_measurements is not None:
            entropy_reg = tf.cast(entropy_regularization(fake_measurements), base.dtype)
        physics_reg = tf.zeros([], base.dtype)
        if generator_params is not None:
            physics_reg = tf.cast(physics_regularization(generator_params, self.param_bound), base.dtype)
        total = base + self.lambda_entropy * entropy_reg + self.lambda_physics * physics_reg
        return {
            "total_loss": total,
            "base_loss": base,
            "entropy_reg": entropy_reg,
            "physics_reg": physics_reg,
        }


class QuantumMeasurementLoss:
    """The guide's direct loss on measurements: match feature means, reward spread.

    ``distribution_loss = mean_j (mean_b m_bj - mean_b x_bj)^2`` (generated measurements ``m``
    and real data ``x`` must have the same number of features), ``diversity_loss =
    -mean_j var_b(m_bj)`` (per-feature variance over the batch), ``param_reg = param_weight *
    mean(theta^2)``; ``total = measurement_weight * distribution + distribution_weight *
    diversity + param_reg``. It only matches first moments, so it cannot learn a bimodal
    distribution: notebook 04 shows this against the adversarial losses.
    """

    def __init__(self, measurement_weight: float = 1.0, distribution_weight: float = 0.1, param_weight: float = 0.01):
        self.measurement_weight = float(measurement_weight)
        self.distribution_weight = float(distribution_weight)
        self.param_weight = float(param_weight)

    def compute_loss(
        self, generated_measurements: tf.Tensor, real_data: tf.Tensor, generator_params: Any = None
    ) -> dict[str, tf.Tensor]:
        """``total_loss``, ``distribution_loss``, ``diversity_loss``, ``param_reg``."""
        generated = tf.convert_to_tensor(generated_measurements)
        real = tf.cast(real_data, generated.dtype)
        if generated.shape.rank != 2 or real.shape.rank != 2 or generated.shape[1] != real.shape[1]:
            raise ValueError(
                "generated_measurements and real_data must be [batch, features] with the same number "
                f"of features, got {generated.shape.as_list()} and {real.shape.as_list()}"
            )
        distribution = tf.reduce_mean(tf.square(tf.reduce_mean(generated, 0) - tf.reduce_mean(real, 0)))
        diversity = -tf.reduce_mean(tf.math.reduce_variance(generated, axis=0))
        param_reg = tf.zeros([], generated.dtype)
        if generator_params is not None:
            flat = tf.cast(_flatten_params(generator_params), generated.dtype)
            param_reg = self.param_weight * tf.reduce_mean(tf.square(flat))
        total = self.measurement_weight * distribution + self.distribution_weight * diversity + param_reg
        return {
            "total_loss": total,
            "distribution_loss": distribution,
            "diversity_loss": diversity,
            "param_reg": param_reg,
        }


class BinaryCrossEntropyLoss:
    """The standard GAN loss with the discriminator's score as a logit.

    ``d_loss = BCE(1, D(real)) + BCE(0, D(fake))``; the generator uses the non-saturating
    ``g_loss = BCE(1, D(fake)) = -E[log sigmoid(D(fake))]`` (Goodfellow et al. 2014), which keeps
    its gradient alive when the discriminator wins.
    """

    def discriminator_loss(
        self, real_output: tf.Tensor, fake_output: tf.Tensor, *_: Any, **__: Any
    ) -> dict[str, tf.Tensor]:
        """``total_loss``, ``real_loss``, ``fake_loss``."""
        real_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_output), real_output))
        fake_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_output), fake_output))
        return {"total_loss": real_loss + fake_loss, "real_loss": real_loss, "fake_loss": fake_loss}

    def generator_loss(self, fake_output: tf.Tensor, *_: Any, **__: Any) -> dict[str, tf.Tensor]:
        """``total_loss`` (= ``base_loss``), the non-saturating generator loss."""
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_output), fake_output))
        return {"total_loss": loss, "base_loss": loss}


def make_loss(loss_type: str, **kwargs: Any):
    """The loss object for ``"wasserstein"``, ``"measurement"`` or ``"bce"``."""
    classes = {
        "wasserstein": QuantumWassersteinLoss,
        "measurement": QuantumMeasurementLoss,
        "bce": BinaryCrossEntropyLoss,
    }
    if loss_type not in classes:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    return classes[loss_type](**kwargs)
