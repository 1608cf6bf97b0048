"""The right answers of the notebooks' checked exercises, computed with the lab's own code.

One function per exercise (the Fock matrices, the homodyne density, the losses, the metrics: never
a number typed in), grouped by notebook; :mod:`qgan_lab.lab.exercises` holds the questions, the
hints and :func:`~qgan_lab.lab.exercises.check`. Each runs only when its exercise is first checked,
so the heavier imports stay inside the functions. Used in ``01_cv_circuits`` to
``07_evaluation_and_troubleshooting``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

#: Fock levels for the "exact" states of the checks: |alpha| <= 2 and r <= 0.5 keep all but
#: 1e-12 of their norm below it.
_BIG_CUTOFF = 40


# ------------------------------------------------------------------ shared: exact states and quantile grids


def _vacuum(cutoff: int = _BIG_CUTOFF) -> np.ndarray:
    return np.eye(cutoff, dtype=np.complex128)[0]


def _coherent(alpha: complex, cutoff: int = _BIG_CUTOFF) -> np.ndarray:
    """``D(alpha)|0>`` from the lab's exact truncated displacement matrix."""
    from ..sim.gates import displacement_matrix

    matrix = displacement_matrix(abs(alpha), float(np.angle(alpha)), cutoff, tf.complex128).numpy()
    return matrix @ _vacuum(cutoff)


def _gaussian_quantiles(mean: float, std: float, n: int) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf((np.arange(n) + 0.5) / n, loc=mean, scale=std)


def _min_over(f: Callable[[float], float], low: float, high: float) -> float:
    """The minimum of a unimodal ``f`` on ``[low, high]`` by golden-section search."""
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    for _ in range(80):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        a, b = (a, d) if f(c) < f(d) else (c, b)
    return f((a + b) / 2)


# ------------------------------------------------------------------ 01_cv_circuits


def cutoff_keeping(alpha: float, keep: float) -> int:
    probabilities = np.abs(_coherent(alpha)) ** 2
    return int(np.argmax(np.cumsum(probabilities) >= keep)) + 1  # levels 0 .. c-1 kept


def squeezed_x_variance(r: float) -> float:
    from ..sim.gates import squeezing_matrix

    ket = squeezing_matrix(r, 0.0, _BIG_CUTOFF, tf.complex128).numpy() @ _vacuum()
    a = np.diag(np.sqrt(np.arange(1, _BIG_CUTOFF)), 1)
    x = a + a.T  # hbar = 2
    mean = np.vdot(ket, x @ ket).real
    return float(np.vdot(ket, x @ x @ ket).real - mean**2)


def coherent_quadratures(alpha: complex) -> np.ndarray:
    from ..sim.observables import quadrature_expectations

    x, p = quadrature_expectations(tf.constant(_coherent(alpha)[None]))
    return np.array([float(x[0, 0]), float(p[0, 0])])


# ------------------------------------------------------------------ 02_quantum_models


def modes_that_fit(cutoff: int, batch: int, budget: int, bytes_per_amplitude: int = 8) -> int:
    modes = 0
    while batch * cutoff ** (modes + 1) * bytes_per_amplitude <= budget:
        modes += 1
    return modes


def phase_encoding_max_photons(amplitude: float) -> float:
    """``<n>`` of ``D(s e^{i phi}) D(s)|0>`` from the lab's displacement matrices, largest over a
    grid of the encoding's angles."""
    from ..sim.gates import displacement_matrix

    reference = _coherent(amplitude)
    levels = np.arange(_BIG_CUTOFF)
    photons = []
    for phi in np.linspace(-0.75 * np.pi, 0.75 * np.pi, 301):
        ket = displacement_matrix(amplitude, float(phi), _BIG_CUTOFF, tf.complex128).numpy() @ reference
        photons.append(float(np.sum(levels * np.abs(ket) ** 2)))
    return max(photons)


# ------------------------------------------------------------------ 03_measuring_cv_states


def kerr_cat_weights(alpha: float = math.sqrt(2.0)) -> np.ndarray:
    """``(c+, c-)`` with ``K(pi/2)|alpha> = c+ |alpha> + c- |-alpha>``, by least squares."""
    from ..sim.gates import kerr_matrix

    cat = kerr_matrix(math.pi / 2, _BIG_CUTOFF, tf.complex128).numpy() @ _coherent(alpha)
    basis = np.stack([_coherent(alpha), _coherent(-alpha)], axis=1)
    weights, *_ = np.linalg.lstsq(basis, cat, rcond=None)
    return weights


def displaced_then_squeezed_slope(squeeze: float = 0.5) -> float:
    """``d<x>/dz`` for ``D(z)`` then ``S(squeeze)``, from the lab's engine at two inputs."""
    from ..sim.circuits import GateList, GateSpec, ParamRef
    from ..sim.fock import FockEngine
    from ..sim.observables import quadrature_expectations

    gates = (
        GateSpec("D", (0,), (ParamRef("x", index=0), ParamRef("c", value=0.0))),
        GateSpec("S", (0,), (ParamRef("c", value=squeeze), ParamRef("c", value=0.0))),
    )
    inputs = tf.constant([[0.0], [0.5]], tf.float64)
    ket = FockEngine().ket(GateList(1, 30, gates), {}, inputs, tf.complex128)
    x = quadrature_expectations(ket)[0].numpy()[:, 0]
    return float((x[1] - x[0]) / 0.5)


# ------------------------------------------------------------------ 04_loss_functions


def w1_unequal_widths() -> float:
    from ..metrics import wasserstein_1d

    return wasserstein_1d(_gaussian_quantiles(0.0, 1.0, 200_000), _gaussian_quantiles(0.0, 2.0, 200_000))


def bce_critic_at_equilibrium() -> float:
    """The critic's BCE loss when it cannot tell the two sides apart: ``D = 1/2`` (logit 0)."""
    from ..training.losses import BinaryCrossEntropyLoss

    logits = tf.zeros([8, 1], tf.float64)
    return float(BinaryCrossEntropyLoss().discriminator_loss(logits, logits)["total_loss"])


def gp_barrier(gap: float = -3.0, lambda_gp: float = 10.0) -> float:
    """The lab's two-sided Wasserstein critic loss over linear critics ``s x`` (samples whose mean
    gap is exactly ``gap``): its value at 0 minus its smallest value over ``s > 0``."""
    from ..training.losses import QuantumWassersteinLoss

    loss = QuantumWassersteinLoss(lambda_gp=lambda_gp)
    real = tf.constant([[-1.0], [1.0]], tf.float64)
    fake = real - gap

    def at(s: float) -> float:
        critic = lambda x: s * x  # noqa: E731
        return float(loss.discriminator_loss(critic(real), critic(fake), real, fake, critic)["total_loss"])

    return at(0.0) - _min_over(at, 1e-4, 2.0)


def mmd_shifted_gaussians(shift: float = 2.0, bandwidth: float = 1.0) -> float:
    """The lab's unbiased ``MMD^2`` on quantile grids of ``N(0, 1)`` and ``N(shift, 1)``."""
    from ..training.mmd import mmd_squared

    x = _gaussian_quantiles(0.0, 1.0, 3000)[:, None]
    y = _gaussian_quantiles(shift, 1.0, 3000)[:, None]
    return float(mmd_squared(tf.constant(x), tf.constant(y), tf.constant([bandwidth], tf.float64)))


# ------------------------------------------------------------------ 05_gradient_manager


def fd_errors() -> dict[str, Any]:
    """Finite-difference errors of notebook 05's overflow case against its true gradient."""
    from ..training.gradients import finite_difference_gradient
    from .troubleshooting import cutoff_overflow_case

    case = cutoff_overflow_case()
    truth = np.ravel(case.reference_gradient()[0])

    def error(eps: float) -> float:
        estimate = finite_difference_gradient(case.loss_fn, case.variables, eps=eps)[0]
        return float(np.max(np.abs(np.ravel(estimate) - truth)))

    log_eps = np.arange(-12.0, -0.49, 0.5)
    errors = np.array([error(10.0**e) for e in log_eps])
    return {"log10_eps": log_eps, "errors": errors, "error": error}


def fd_eps_accepts(answer: np.ndarray, solution: dict[str, Any]) -> bool:
    eps = float(answer)
    if not 0 < eps < 1:
        return False
    return solution["error"](eps) <= 10.0 * float(solution["errors"].min())


def fd_cost() -> int:
    """Loss evaluations of one finite-difference backup for notebook 05's small generator."""
    from ..models import PureQuantumGenerator
    from ..training.gradients import finite_difference_gradient

    model = PureQuantumGenerator(2, 2, 2, 1, 5, seed=0, jit_compile=False)
    calls = []
    finite_difference_gradient(lambda: calls.append(1) or 0.0, model.trainable_variables)
    return len(calls)


# ------------------------------------------------------------------ 06_training_loop


def ema_recent_share(decay: float = 0.99, updates: int = 100) -> float:
    """The lab's weight average (:class:`~qgan_lab.models.averaging.WeightAverage`) of a model whose
    weights were 0, then 1 for ``updates`` updates: the share of the recent weights."""
    from ..models.classical import ClassicalGenerator

    model = ClassicalGenerator(1, 1, 1, seed=0)
    for variable in model.weights.values():
        variable.assign(tf.zeros_like(variable))
    model.track_average()
    for variable in model.weights.values():
        variable.assign(tf.ones_like(variable))
    for _ in range(updates):
        model.update_average(decay)
    return float(next(iter(model.averaged_weights.values())).numpy().ravel()[0])


def w1_floor(draws: int = 5) -> float:
    """Mean per-feature W1 of 1000 fresh bimodal samples against notebook 06's 2000 validation samples."""
    from ..data import get_target, validation_set
    from ..metrics import wasserstein_per_feature

    validation = validation_set("bimodal", n=2000)
    rng = np.random.default_rng(2024)
    return float(
        np.mean([wasserstein_per_feature(validation, get_target("bimodal").sample(1000, rng)) for _ in range(draws)])
    )


# ------------------------------------------------------------------ 07_evaluation_and_troubleshooting


def blob_coverage() -> np.ndarray:
    from ..data import centers_of, validation_set
    from ..metrics import mode_coverage

    target = validation_set("bimodal", 20_000)
    blob = _gaussian_quantiles(0.0, float(target.std()), 20_000)
    samples = np.stack([blob, np.random.default_rng(0).permutation(blob)], axis=1)
    return mode_coverage(samples, centers_of("bimodal"))


def displacement_bound_at_6() -> float:
    from ..sim.cutoff import displacement_bound

    return displacement_bound(6, keep=0.99)
