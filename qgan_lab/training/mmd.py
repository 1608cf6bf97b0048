"""Maximum mean discrepancy: a loss that compares samples directly, with no critic.

* **maximum mean discrepancy** (Gretton et al., JMLR 13, 2012) compares samples directly, with
  no critic: ``MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)`` with the kernel
  ``k(x, y) = mean_s exp(-||x - y||^2 / (2 sigma_s^2))``, estimated by the *unbiased*
  U-statistic (pairs ``i != j`` only, so it can be slightly negative). Bandwidths are
  ``sigma_s = f_s * scale`` with factors ``f = (0.25, 0.5, 1, 2)`` and ``scale`` the pooled
  standard deviation ``sqrt(mean_j var_b(x_bj))`` of the *real* batch (no gradient through it):
  for the bimodal target (scale ~2.06) that is about 0.5, 1, 2 and 4, from one mode's width to
  the distance between the modes.

Taught in ``04_loss_functions``.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from .penalties import _paired_batches, physics_regularization


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
            as in :class:`~qgan_lab.training.losses.QuantumWassersteinLoss` (default weight 0: off).

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
