"""How expressive is a critic? Two measurements: a regression and a separation test.

* :func:`fit_function` trains a :class:`~qgan_lab.models.critic.PureQuantumDiscriminator` with one
  input by least squares on ``f(x)``, ``x`` uniform in ``[low, high]`` (the CV neural-network
  paper's task, Killoran et al. 2019: ``sin(pi x)`` on ``[-1, 1]``), and returns the mean
  squared error on a fixed grid.
* :func:`critic_separation` trains it as a WGAN-GP critic (loss
  :class:`~qgan_lab.training.losses.QuantumWassersteinLoss`) between a target and a "fake"
  distribution, and returns the Wasserstein estimate ``E[D(real)] - E[D(fake)]`` on held-out
  samples. With :func:`matched_gaussian` as the fake (same mean and covariance as the
  target) a critic that is affine in its input scores about 0: it only sees means.

Both compile their training step with XLA.

:func:`capacity_diagnostic` asks whether a critic *can* teach before a GAN run says whether it
*did*: trained to convergence against a fixed "fake" distribution, its Wasserstein estimate
should come close to the true W1 between the two, which :func:`exact_w1` computes by exact
optimal transport on samples (POT's ``emd2``). The fakes (:func:`diagnostic_fakes`) are the
target's best single Gaussian and slightly shifted and widened copies of the target: a critic
that cannot see a mode's width cannot stop a generator from widening it. Taught in
``02_quantum_models``; ``benchmarks/critic_designs.py`` prints it for every critic design.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ..data import Mixture, get_target
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


def exact_w1(a: Any, b: Any) -> float:
    """The exact Wasserstein-1 distance (Euclidean ground cost) between two equal-weight sample
    sets ``[n, d]`` and ``[m, d]``: the optimal transport plan of POT's network-simplex solver."""
    import ot  # POT: imported here, not at package import

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"exact_w1 needs two [n, d] sample arrays of one width, got {a.shape} and {b.shape}")
    cost = ot.dist(a, b, metric="euclidean")
    return float(ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), cost, numItermax=10_000_000))


def diagnostic_fakes(
    target: str | Mixture = "bimodal", shift: float = 0.3, widen: float = 1.4
) -> dict[str, Callable[[int, np.random.Generator], np.ndarray]]:
    """Fixed "generated" distributions for :func:`capacity_diagnostic`, each ``fake(n, rng)``:
    the target's best single Gaussian (``"gaussian"``), the target shifted by ``shift`` along
    every axis (``"shifted"``), and, for a mixture, the mixture with its components' std times
    ``widen`` (``"widened"``; other targets: widened about their mean)."""
    mixture = get_target(target)
    fakes: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {}
    if isinstance(mixture, Mixture):
        fakes["gaussian"] = _gaussian_sampler(mixture)
        wide = Mixture(mixture.centers, mixture.std * widen)
        fakes["widened"] = lambda n, rng: wide.sample(n, rng)
    else:
        mean = mixture.sample(20_000, np.random.default_rng(0)).mean(axis=0)
        fakes["widened"] = lambda n, rng: mean + widen * (mixture.sample(n, rng) - mean)
    fakes["shifted"] = lambda n, rng: mixture.sample(n, rng) + shift
    return fakes


def capacity_diagnostic(
    make_critic: Callable[[], Any],
    target: str | Mixture = "bimodal",
    fakes: dict[str, Callable[[int, np.random.Generator], np.ndarray]] | None = None,
    steps: int = 600,
    n_exact: int = 2000,
    seed: int = 0,
    **train_kwargs: Any,
) -> list[dict[str, Any]]:
    """For each fake: a fresh critic from ``make_critic()`` trained to convergence against it
    (:func:`critic_separation`, ``steps`` updates), its held-out estimate ``w_critic``, the exact
    ``w_true`` (:func:`exact_w1` on ``n_exact`` fresh samples of each) and ``ratio =
    w_critic / w_true``. A critic that can teach has a ratio near 1 on every pair; WGAN-GP's
    penalty keeps an optimal critic slightly below 1."""
    mixture = get_target(target)
    fakes = diagnostic_fakes(mixture) if fakes is None else fakes
    rows = []
    for name, fake in fakes.items():
        result = critic_separation(make_critic(), mixture, fake, steps=steps, seed=seed, **train_kwargs)
        rng = np.random.default_rng(seed + 2)
        truth = exact_w1(mixture.sample(n_exact, rng), fake(n_exact, rng))
        rows.append(
            {
                "fake": name,
                "w_critic": result["w_test"],
                "w_true": truth,
                "ratio": result["w_test"] / truth,
                "step_seconds": result["step_seconds"],
            }
        )
    return rows


__all__ = [
    "capacity_diagnostic",
    "critic_separation",
    "diagnostic_fakes",
    "exact_w1",
    "fit_function",
    "matched_gaussian",
    "wasserstein_estimate",
]
