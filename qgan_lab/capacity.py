"""How expressive is a critic? Two measurements: a regression and a separation test.

* :func:`fit_function` trains a :class:`~qgan_lab.models.PureQuantumDiscriminator` with one
  input by least squares on ``f(x)``, ``x`` uniform in ``[low, high]`` (the CV neural-network
  paper's task, Killoran et al. 2019: ``sin(pi x)`` on ``[-1, 1]``), and returns the mean
  squared error on a fixed grid.
* :func:`critic_separation` trains it as a WGAN-GP critic (loss
  :class:`~qgan_lab.losses.QuantumWassersteinLoss`) between a target and a "fake"
  distribution, and returns the Wasserstein estimate ``E[D(real)] - E[D(fake)]`` on held-out
  samples. With :func:`matched_gaussian` as the fake (same mean and covariance as the
  target) a critic that is affine in its input scores about 0: it only sees means.

Both compile their training step with XLA. Taught in ``02_quantum_models``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from .data import Mixture, get_target
from .losses import QuantumWassersteinLoss


def _traced_score(model: Any) -> Callable[[tf.Tensor], tf.Tensor]:
    """The model's score for use *inside* a compiled step: its uncompiled forward pass (calling
    the model's own compiled ``forward`` there recompiles on every step; the trainer does the same).
    """
    impl = getattr(model, "_forward_impl", None)
    return (lambda x: impl(x)["output"]) if impl is not None else model.discriminate


def _adam(learning_rate: float, steps: int, decay: float, variables: list) -> Callable[[list], Any]:
    """A compiled Adam update of ``variables`` (learning rate decaying exponentially from
    ``learning_rate`` to ``decay`` times it over ``steps``): call it with the gradients.
    """
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate}")
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    schedule = tf.keras.optimizers.schedules.ExponentialDecay(learning_rate, max(steps, 1), decay)
    optimizer = tf.keras.optimizers.Adam(schedule)
    optimizer.build(variables)
    return tf.function(lambda grads: optimizer.apply(grads, variables), jit_compile=True, autograph=False)


def fit_function(
    model: Any,
    f: Callable[[np.ndarray], np.ndarray] = lambda x: np.sin(np.pi * x),
    low: float = -1.0,
    high: float = 1.0,
    steps: int = 300,
    batch_size: int = 32,
    learning_rate: float = 0.05,
    decay: float = 0.1,
    seed: int = 0,
) -> dict[str, Any]:
    """Least-squares fit of ``model(x)`` to ``f(x)``; returns ``mse`` (on 101 grid points),
    ``grid``, ``prediction``, ``target`` and the training ``history`` of batch losses.
    """
    if getattr(model, "input_dim", None) != 1:
        raise ValueError(f"model must take one input feature (input_dim=1), got {getattr(model, 'input_dim', None)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    dtype = model.real_dtype
    rng = np.random.default_rng(seed)
    variables = list(model.trainable_variables)
    apply = _adam(learning_rate, steps, decay, variables)
    score = _traced_score(model)

    @tf.function(jit_compile=True, autograph=False)
    def step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(score(x) - y))
        return loss, tape.gradient(loss, variables)

    history = []
    for _ in range(steps):
        x = rng.uniform(low, high, (batch_size, 1))
        value, grads = step(tf.constant(x, dtype), tf.constant(f(x), dtype))
        apply(grads)
        history.append(float(value))
    grid = np.linspace(low, high, 101)[:, None]
    prediction = score(tf.constant(grid, dtype)).numpy()  # eagerly: no second compilation
    target = f(grid)
    return {
        "mse": float(np.mean((prediction - target) ** 2)),
        "grid": grid[:, 0],
        "prediction": prediction[:, 0],
        "target": target[:, 0],
        "history": history,
    }


def matched_gaussian(target: str | Mixture = "bimodal") -> tuple[np.ndarray, np.ndarray]:
    """``(mean, covariance)`` of a mixture target: the single Gaussian that matches it to 2nd order."""
    mixture = get_target(target)
    centers = np.asarray(mixture.centers, dtype=np.float64)
    mean = centers.mean(axis=0)
    spread = (centers - mean).T @ (centers - mean) / len(centers)
    return mean, spread + mixture.std**2 * np.eye(mixture.dim)


def _gaussian_sampler(target: str | Mixture) -> Callable[[int, np.random.Generator], np.ndarray]:
    mean, cov = matched_gaussian(target)
    return lambda n, rng: rng.multivariate_normal(mean, cov, n)


def wasserstein_estimate(
    model: Any,
    target: str | Mixture = "bimodal",
    fake: Callable[[int, np.random.Generator], np.ndarray] | None = None,
    n_test: int = 2000,
    seed: int = 1,
) -> float:
    """``mean D(real) - mean D(fake)`` on ``n_test`` samples of each drawn with ``seed``
    (``fake`` defaults to the :func:`matched_gaussian`). Runs eagerly (no compilation).
    """
    mixture = get_target(target)
    fake = fake or _gaussian_sampler(mixture)
    rng = np.random.default_rng(seed)
    real_test = tf.constant(mixture.sample(n_test, rng), model.real_dtype)
    fake_test = tf.constant(fake(n_test, rng), model.real_dtype)
    score = _traced_score(model)
    return float(tf.reduce_mean(score(real_test)) - tf.reduce_mean(score(fake_test)))


def critic_separation(
    model: Any,
    target: str | Mixture = "bimodal",
    fake: Callable[[int, np.random.Generator], np.ndarray] | None = None,
    steps: int = 300,
    batch_size: int = 32,
    learning_rate: float = 0.02,
    decay: float = 0.3,
    lambda_gp: float = 10.0,
    n_test: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``model`` as a WGAN-GP critic of ``target`` against ``fake``; return ``w_test``.

    ``fake(n, rng)`` draws ``[n, dim]`` samples; by default the :func:`matched_gaussian`.
    ``w_test`` is ``mean D(real) - mean D(fake)`` on ``n_test`` fresh samples of each (held
    out: never used in training); ``history`` holds the training ``w_distance`` per step and
    ``step_seconds`` the median time of one step (the first one compiles).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    mixture = get_target(target)
    fake = fake or _gaussian_sampler(mixture)
    dtype = model.real_dtype
    rng = np.random.default_rng(seed)
    tf_seed = int(rng.integers(2**31))
    loss = QuantumWassersteinLoss(lambda_gp=lambda_gp)
    variables = list(model.trainable_variables)
    apply = _adam(learning_rate, steps, decay, variables)
    score = _traced_score(model)

    @tf.function(jit_compile=True, autograph=False)
    def step(real: tf.Tensor, fake_batch: tf.Tensor, alpha: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            out = loss.discriminator_loss(score(real), score(fake_batch), real, fake_batch, score, alpha)
        return out["w_distance"], tape.gradient(out["total_loss"], variables)

    alpha_rng = np.random.default_rng(tf_seed)
    history, times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        real = tf.constant(mixture.sample(batch_size, rng), dtype)
        fake_batch = tf.constant(fake(batch_size, rng), dtype)
        alpha = tf.constant(alpha_rng.uniform(size=(batch_size, 1)), dtype)
        value, grads = step(real, fake_batch, alpha)
        apply(grads)
        history.append(float(value))
        times.append(time.perf_counter() - start)
    w_test = wasserstein_estimate(model, mixture, fake, n_test, seed + 1)
    return {"w_test": w_test, "history": history, "step_seconds": float(np.median(times))}


__all__ = ["critic_separation", "fit_function", "matched_gaussian", "wasserstein_estimate"]
