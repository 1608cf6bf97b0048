"""The critic's gradient penalty and the generator's regularisers, shared by the losses of
:mod:`qgan_lab.training.losses` and :mod:`qgan_lab.training.mmd`.

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

Taught in ``04_loss_functions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

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
