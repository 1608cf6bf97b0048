"""GAN losses for quantum models: Wasserstein with gradient penalty, measurement, BCE.

Names, arguments and returned dictionaries follow the guide. Where the guide was vague, the
definitions implemented (and tested) are in :mod:`qgan_lab.training.penalties` (the gradient
penalty, one- or two-sided, and the regularisers) and :mod:`qgan_lab.training.mmd` (the maximum
mean discrepancy, a loss with no critic).

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

import inspect
from typing import Any

import tensorflow as tf

from ..validation import BadType, BadValue, finite_numbers
from .mmd import QuantumMMDLoss
from .penalties import (
    PENALTIES,
    _flatten_params,
    _paired_batches,
    _score_fn,
    _with_critic_gap,
    _zero,
    entropy_regularization,
    gradient_penalty,
    physics_regularization,
)

LOSS_TYPES = ("wasserstein", "measurement", "bce", "mmd")


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


def check_loss(loss_type: Any, loss_kwargs: Any, spelled: str = "loss_type", table: str = "loss_kwargs") -> Any:
    """Build the loss by calling :func:`~qgan_lab.training.losses.make_loss`. ``loss_type`` must be one of
    its names (named as ``spelled`` in the error); each keyword must be one of the loss class's
    (else a ``BadType`` naming ``table``) and hold a finite number or a list of them (a string
    where the class's default is one), in the range the loss class accepts (else a ``BadValue``
    naming the keyword: ``loss_kwargs['key']``, or ``[loss] key`` for a TOML ``table``)."""

    def keyword(key: str) -> str:
        return f"{table} {key}" if table.startswith("[") else f"{table}[{key!r}]"

    if not isinstance(loss_type, str):
        raise BadType(spelled, f"must be a str, got {loss_type!r}")
    if loss_type not in LOSS_TYPES:
        raise BadValue(spelled, f"must be one of {LOSS_TYPES}, got {loss_type!r}")
    if loss_kwargs is not None and not isinstance(loss_kwargs, dict):
        raise BadType(table, f"must be a dict, got {type(loss_kwargs).__name__}")
    signature = inspect.signature(loss_class(loss_type).__init__).parameters
    accepted = [p for p in signature if p != "self"]
    for key, value in (loss_kwargs or {}).items():
        if key not in accepted:
            raise BadType(table, f"{key!r} is not a keyword of the {loss_type!r} loss; it takes {accepted}")
        if isinstance(signature[key].default, str):  # a named choice (penalty = "one_sided")
            if not isinstance(value, str):
                raise BadType(keyword(key), f"must be a string, got {value!r} ({type(value).__name__})")
            continue
        if not finite_numbers(value) and not (value is None and key == "scale"):
            raise BadValue(keyword(key), f"must be a finite number (or a list of them), got {value!r}")
    try:
        return make_loss(loss_type, **(loss_kwargs or {}))
    except (TypeError, ValueError) as exc:  # a range the loss class checks itself ("lambda_gp must be >= 0")
        named = [key for key in (loss_kwargs or {}) if str(exc).startswith(f"{key} ")]
        raise BadValue(keyword(named[0]) if named else table, str(exc)) from exc
