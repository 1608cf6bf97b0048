"""GAN losses for quantum models: Wasserstein with gradient penalty, measurement, BCE.

Names, arguments and returned dictionaries follow the guide. Where the guide was vague
the definition below is the one implemented (and tested):

* **gradient penalty** (WGAN-GP, Gulrajani et al. 2017): ``x_hat = a x_real + (1 - a) x_fake``
  with ``a ~ U[0, 1]`` per sample; ``GP = mean_b (||grad_x D(x_hat_b)||_2 - 1)^2``. The norm is
  ``sqrt(sum g^2 + 1e-12)`` so that its gradient stays finite where ``g = 0``. The
  **one-sided** penalty (WGAN-LP, Petzka et al. 2018) ``mean_b max(0, ||grad D|| - 1)^2`` only
  punishes slopes above 1. In one dimension the two-sided one traps the critic: its slope is a
  number, +1 and -1 are both free of penalty, and turning from one to the other passes slope 0,
  which costs ``lambda_gp`` (10) per sample. A critic that learned "higher is more real" while
  the fakes sat left of the data keeps that slope once the fakes pass to the right, and the
  generator follows it away (measured: the ``bimodal`` preset on every 1-D target, with the
  classical critic too, ended at W1 4.16 with the two-sided penalty). In two or more dimensions
  the gradient can turn round without shrinking, so both penalties train alike there.
* **entropy regulariser** on the generator's measurements ``m [B, d]``: per sample,
  ``p_b = softmax(m_b)`` over the *feature* axis (the last one), ``H_b = -sum_j p_bj log p_bj``;
  ``entropy_reg = -mean_b H_b``, between ``-log d`` (all features equal: maximal entropy) and
  0 (one feature dominates). Minimising it pushes towards diverse measurement outcomes. (The
  guide summed over the batch too, which made the weight depend on the batch size.)
* **physics regulariser** on the generator's parameters ``theta`` (a variable or a list of
  them, all scalars pooled): ``mean(relu(|theta| - bound))`` with ``bound = 5``: 0 while every
  parameter is inside ``[-5, 5]``, growing linearly outside (large squeezing or displacement
  pushes photons past any cutoff). ``bound`` may also be one number per variable: the trainer
  passes :func:`qgan_lab.sim.cutoff.parameter_bounds`, which ties displacement and squeezing
  amplitudes to what the cutoff holds (``r^2`` resp. ``sinh^2 r`` photons well inside it).
* **maximum mean discrepancy** (Gretton et al., JMLR 13, 2012) compares samples directly, with
  no critic: ``MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)`` with the kernel
  ``k(x, y) = mean_s exp(-||x - y||^2 / (2 sigma_s^2))``, estimated by the *unbiased*
  U-statistic (pairs ``i != j`` only, so it can be slightly negative). Bandwidths are
  ``sigma_s = f_s * scale`` with factors ``f = (0.25, 0.5, 1, 2)`` and ``scale`` the pooled
  standard deviation ``sqrt(mean_j var_b(x_bj))`` of the *real* batch (no gradient through it):
  for the bimodal target (scale ~2.06) that is about 0.5, 1, 2 and 4, from one mode's width to
  the distance between the modes.

Every loss also answers the same three questions for the trainer (so the training step has
no branch per loss): ``needs_critic`` (is there a critic to train?), ``critic_objective(...)``
(the critic's losses, always with ``total_loss``, ``w_distance`` and ``gradient_penalty``) and
the generator's loss split in two, ``sample_loss(samples, real, critic)`` (the part that depends
on the generated samples only, differentiated through the samples) plus
``regularizers(measurements, real, params)`` (the part that depends on the generator's
measurements and weights).

Taught in ``04_loss_functions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

LOSS_TYPES = ("wasserstein", "measurement", "bce", "mmd")
#: the Wasserstein critic's gradient penalties: WGAN-GP's, or WGAN-LP's (slopes above 1 only)
PENALTIES = ("two_sided", "one_sided")


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


def _zero(like: tf.Tensor) -> tf.Tensor:
    return tf.zeros([], like.dtype)


def _with_critic_gap(losses: dict[str, tf.Tensor], real_output: tf.Tensor, fake_output: tf.Tensor):
    """Add the critic's score gap ``E[D(real)] - E[D(fake)]`` and a zero penalty (for the history)."""
    losses["w_distance"] = tf.reduce_mean(real_output) - tf.reduce_mean(fake_output)
    losses["gradient_penalty"] = _zero(real_output)
    return losses


def _paired_batches(first: Any, second: Any, first_name: str, second_name: str) -> tuple[tf.Tensor, tf.Tensor]:
    """Both as tensors (``second`` in ``first``'s dtype); ``ValueError`` unless both are
    ``[batch, features]`` with the same number of features."""
    first = tf.convert_to_tensor(first)
    second = tf.cast(second, first.dtype)
    if first.shape.rank != 2 or second.shape.rank != 2 or first.shape[1] != second.shape[1]:
        raise ValueError(
            f"{first_name} and {second_name} must be [batch, features] with the same number of features, "
            f"got {first.shape.as_list()} and {second.shape.as_list()}"
        )
    return first, second


def gradient_penalty(
    real_samples: tf.Tensor,
    fake_samples: tf.Tensor,
    discriminator: Any,
    alpha: tf.Tensor | None = None,
    one_sided: bool = False,
) -> tf.Tensor:
    """WGAN-GP penalty on random interpolates (see the module docstring); ``one_sided``: only
    slopes above 1 (WGAN-LP).

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
    excess = tf.nn.relu(norm - 1.0) if one_sided else norm - 1.0
    return tf.reduce_mean(tf.square(excess))


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
        penalty: str = "two_sided",
    ):
        for name, value in (
            ("lambda_gp", lambda_gp),
            ("lambda_entropy", lambda_entropy),
            ("lambda_physics", lambda_physics),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
        self.penalty = penalty
        self.lambda_gp = float(lambda_gp)
        self.lambda_entropy = float(lambda_entropy)
        self.lambda_physics = float(lambda_physics)
        self.param_bound = float(param_bound)

    needs_critic = True

    def critic_objective(self, real_output, fake_output, real_samples, fake_samples, critic, alpha=None):
        """The trainer's question: critic losses (here :meth:`discriminator_loss`)."""
        return self.discriminator_loss(real_output, fake_output, real_samples, fake_samples, critic, alpha)

    def sample_loss(self, samples: tf.Tensor, real_samples: tf.Tensor, critic: Any) -> tf.Tensor:
        """``-E[D(samples)]``."""
        return self.generator_loss(_score_fn(critic)(samples))["base_loss"]

    def regularizers(self, measurements: tf.Tensor, real_samples: tf.Tensor, params: Any) -> dict[str, tf.Tensor]:
        """``lambda_entropy * entropy_reg + lambda_physics * physics_reg`` as ``total_loss``, and both terms."""
        return self._regularizer_terms(measurements, params, measurements.dtype)

    def _regularizer_terms(self, measurements: Any, params: Any, dtype: tf.DType) -> dict[str, tf.Tensor]:
        entropy_reg = tf.zeros([], dtype)
        if measurements is not None:
            entropy_reg = tf.cast(entropy_regularization(measurements), dtype)
        physics_reg = tf.zeros([], dtype)
        if params is not None:
            physics_reg = tf.cast(physics_regularization(params, self.param_bound), dtype)
        total = self.lambda_entropy * entropy_reg + self.lambda_physics * physics_reg
        return {"total_loss": total, "entropy_reg": entropy_reg, "physics_reg": physics_reg}

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
            one_sided = self.penalty == "one_sided"
            penalty = gradient_penalty(real_samples, fake_samples, discriminator, alpha, one_sided)
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
        losses = self._regularizer_terms(fake_measurements, generator_params, base.dtype)
        losses["total_loss"] = base + losses["total_loss"]
        losses["base_loss"] = base
        return losses


class QuantumMeasurementLoss:
    """The guide's direct loss on measurements: match feature means, reward spread.

    ``distribution_loss = mean_j (mean_b m_bj - mean_b x_bj)^2`` (generated measurements ``m``
    and real data ``x`` must have the same number of features), ``diversity_loss =
    -mean_j var_b(m_bj)`` (per-feature variance over the batch), ``param_reg = param_weight *
    mean(theta^2)``; ``total = measurement_weight * distribution + distribution_weight *
    diversity + param_reg``. It only matches first moments, so it cannot learn a bimodal
    distribution: notebook 04 shows this against the adversarial losses. Its generator loss
    uses no critic, but the guide trains a BCE critic beside it (to monitor the game), so
    ``needs_critic`` is True.
    """

    def __init__(self, measurement_weight: float = 1.0, distribution_weight: float = 0.1, param_weight: float = 0.01):
        self.measurement_weight = float(measurement_weight)
        self.distribution_weight = float(distribution_weight)
        self.param_weight = float(param_weight)

    needs_critic = True  # the guide trains a BCE critic beside it (only for monitoring)

    def critic_objective(self, real_output, fake_output, *_: Any, **__: Any) -> dict[str, tf.Tensor]:
        """The guide pairs this loss with a binary cross-entropy critic."""
        return BinaryCrossEntropyLoss().critic_objective(real_output, fake_output)

    def sample_loss(self, samples: tf.Tensor, real_samples: tf.Tensor, critic: Any) -> tf.Tensor:
        """Zero: this loss looks at the measurements, not through a critic."""
        return _zero(samples)

    def regularizers(self, measurements: tf.Tensor, real_samples: tf.Tensor, params: Any) -> dict[str, tf.Tensor]:
        """The whole loss: :meth:`compute_loss` on the measurements."""
        return self.compute_loss(measurements, real_samples, params)

    def compute_loss(
        self, generated_measurements: tf.Tensor, real_data: tf.Tensor, generator_params: Any = None
    ) -> dict[str, tf.Tensor]:
        """``total_loss``, ``distribution_loss``, ``diversity_loss``, ``param_reg``."""
        generated, real = _paired_batches(generated_measurements, real_data, "generated_measurements", "real_data")
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

    needs_critic = True

    def critic_objective(self, real_output, fake_output, *_: Any, **__: Any) -> dict[str, tf.Tensor]:
        """:meth:`discriminator_loss` plus the score gap and a zero penalty."""
        return _with_critic_gap(self.discriminator_loss(real_output, fake_output), real_output, fake_output)

    def sample_loss(self, samples: tf.Tensor, real_samples: tf.Tensor, critic: Any) -> tf.Tensor:
        """The non-saturating generator loss of the critic's scores."""
        return self.generator_loss(_score_fn(critic)(samples))["total_loss"]

    def regularizers(self, measurements: tf.Tensor, real_samples: tf.Tensor, params: Any) -> dict[str, tf.Tensor]:
        """None: ``total_loss`` 0."""
        return {"total_loss": _zero(measurements)}

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


def _pairwise_kernel(a: tf.Tensor, b: tf.Tensor, bandwidths: tf.Tensor) -> tf.Tensor:
    """``[n_a, n_b]`` Gaussian kernel averaged over ``bandwidths`` (see the module docstring)."""
    sq_dist = tf.reduce_sum(tf.square(a[:, None, :] - b[None, :, :]), axis=-1)
    return tf.reduce_mean(tf.exp(-sq_dist[..., None] / (2.0 * tf.square(bandwidths))), axis=-1)


def mmd_squared(x: tf.Tensor, y: tf.Tensor, bandwidths: tf.Tensor) -> tf.Tensor:
    """Unbiased estimate of ``MMD^2`` between samples ``x [m, d]`` and ``y [n, d]`` (m, n >= 2)."""
    x = tf.convert_to_tensor(x)
    y = tf.cast(y, x.dtype)
    bandwidths = tf.cast(bandwidths, x.dtype)
    m = tf.cast(tf.shape(x)[0], x.dtype)
    n = tf.cast(tf.shape(y)[0], x.dtype)
    k_xx = _pairwise_kernel(x, x, bandwidths)
    k_yy = _pairwise_kernel(y, y, bandwidths)
    k_xy = _pairwise_kernel(x, y, bandwidths)
    within_x = (tf.reduce_sum(k_xx) - tf.linalg.trace(k_xx)) / (m * (m - 1.0))
    within_y = (tf.reduce_sum(k_yy) - tf.linalg.trace(k_yy)) / (n * (n - 1.0))
    return within_x + within_y - 2.0 * tf.reduce_mean(k_xy)


class QuantumMMDLoss:
    """Maximum mean discrepancy between generated and real samples: a loss with no critic.

    Args:
        bandwidth_factors: ``f_s``; the bandwidths are ``f_s * scale``. Default
            ``(0.25, 0.5, 1.0, 2.0)``.
        scale: a fixed data scale, or ``None`` (default) for the pooled standard deviation of
            each real batch (see the module docstring).
        lambda_physics, param_bound: the physics regulariser on the generator's parameters,
            as in :class:`QuantumWassersteinLoss` (default weight 0: off).

    ``generator_loss(fake_samples, real_samples)`` returns ``total_loss``, ``base_loss`` and
    ``mmd`` (all the unbiased ``MMD^2``; the total adds the regulariser), ``physics_reg`` and
    the ``bandwidths`` used. Differentiable in both sample sets; runs under
    ``tf.function(jit_compile=True)``.
    """

    needs_critic = False

    def __init__(
        self,
        bandwidth_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0),
        scale: float | None = None,
        lambda_physics: float = 0.0,
        param_bound: float = 5.0,
    ):
        factors = tuple(float(f) for f in bandwidth_factors)
        if not factors or not all(f > 0 and f < float("inf") for f in factors):
            raise ValueError(f"bandwidth_factors must be positive finite numbers, got {bandwidth_factors!r}")
        if scale is not None and not (float(scale) > 0 and float(scale) < float("inf")):
            raise ValueError(f"scale must be a positive finite number or None, got {scale!r}")
        if not lambda_physics >= 0:
            raise ValueError(f"lambda_physics must be >= 0, got {lambda_physics}")
        self.bandwidth_factors = factors
        self.scale = None if scale is None else float(scale)
        self.lambda_physics = float(lambda_physics)
        self.param_bound = float(param_bound)

    def bandwidths(self, real_samples: tf.Tensor) -> tf.Tensor:
        """``f_s * scale`` for this real batch (the scale carries no gradient)."""
        real_samples = tf.convert_to_tensor(real_samples)
        if self.scale is not None:
            scale = tf.constant(self.scale, real_samples.dtype)
        else:
            variance = tf.reduce_mean(tf.math.reduce_variance(tf.stop_gradient(real_samples), axis=0))
            scale = tf.sqrt(tf.maximum(variance, tf.constant(1e-12, real_samples.dtype)))
        return scale * tf.constant(self.bandwidth_factors, real_samples.dtype)

    def generator_loss(
        self, fake_samples: tf.Tensor, real_samples: tf.Tensor, generator_params: Any = None
    ) -> dict[str, tf.Tensor]:
        """``total_loss``, ``base_loss``, ``mmd`` (unbiased MMD^2), ``physics_reg``, ``bandwidths``."""
        fake, real = _paired_batches(fake_samples, real_samples, "fake_samples", "real_samples")
        for name, t in (("fake_samples", fake), ("real_samples", real)):
            if t.shape[0] is not None and t.shape[0] < 2:
                raise ValueError(f"{name} must hold at least 2 rows for the unbiased MMD, got {t.shape[0]}")
        bandwidths = self.bandwidths(real)
        mmd = mmd_squared(fake, real, bandwidths)
        regs = self.regularizers(fake, real, generator_params)
        return {
            "total_loss": mmd + regs["total_loss"],
            "base_loss": mmd,
            "mmd": mmd,
            "physics_reg": regs["physics_reg"],
            "bandwidths": bandwidths,
        }

    compute_loss = generator_loss

    def sample_loss(self, samples: tf.Tensor, real_samples: tf.Tensor, critic: Any = None) -> tf.Tensor:
        """The trainer's question: the unbiased ``MMD^2`` of the samples (no critic)."""
        return self.generator_loss(samples, real_samples)["base_loss"]

    def regularizers(self, measurements: tf.Tensor, real_samples: tf.Tensor, params: Any) -> dict[str, tf.Tensor]:
        """``lambda_physics * physics_reg`` as ``total_loss`` (0 by default)."""
        physics_reg = tf.zeros([], measurements.dtype)
        if params is not None and self.lambda_physics > 0:
            physics_reg = tf.cast(physics_regularization(params, self.param_bound), measurements.dtype)
        return {"total_loss": self.lambda_physics * physics_reg, "physics_reg": physics_reg}


def make_loss(loss_type: str, **kwargs: Any):
    """The loss object for ``"wasserstein"``, ``"measurement"``, ``"bce"`` or ``"mmd"``."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    return loss_class(loss_type)(**kwargs)


def loss_class(loss_type: str) -> type:
    """The class behind a ``loss_type`` name (its ``__init__`` lists the loss's keywords)."""
    return {
        "wasserstein": QuantumWassersteinLoss,
        "measurement": QuantumMeasurementLoss,
        "bce": BinaryCrossEntropyLoss,
        "mmd": QuantumMMDLoss,
    }[loss_type]
