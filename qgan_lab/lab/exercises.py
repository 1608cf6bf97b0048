"""Checked exercises: ``check("01.cutoff", answer)`` prints right, or wrong with a hint.

Every exercise of the notebooks has a key ``"NN.name"`` (``NN`` the notebook) in
:data:`EXERCISES`. Its right answer is not typed in here: :meth:`Exercise.solution` computes
it with the lab's own code (the Fock matrices, the homodyne density, the losses, the metrics)
the first time it is asked for, and :func:`check` compares the learner's answer with it
within a stated tolerance. Some exercises judge the answer itself instead of comparing it
with one number (05.fd_eps measures the error of the step size the learner picked).

Used in ``01_cv_circuits`` to ``07_evaluation_and_troubleshooting`` (the "Exercise" cells; each
has a folded solution cell that calls :func:`check`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

#: Fock levels for the "exact" states of the checks: |alpha| <= 2 and r <= 0.5 keep all but
#: 1e-12 of their norm below it.
_BIG_CUTOFF = 40


def _vacuum(cutoff: int = _BIG_CUTOFF) -> np.ndarray:
    return np.eye(cutoff, dtype=np.complex128)[0]


def _coherent(alpha: complex, cutoff: int = _BIG_CUTOFF) -> np.ndarray:
    """``D(alpha)|0>`` from the lab's exact truncated displacement matrix."""
    from ..sim.gates import displacement_matrix

    matrix = displacement_matrix(abs(alpha), float(np.angle(alpha)), cutoff, tf.complex128).numpy()
    return matrix @ _vacuum(cutoff)


def _cutoff_keeping(alpha: float, keep: float) -> int:
    probabilities = np.abs(_coherent(alpha)) ** 2
    return int(np.argmax(np.cumsum(probabilities) >= keep)) + 1  # levels 0 .. c-1 kept


def _squeezed_x_variance(r: float) -> float:
    from ..sim.gates import squeezing_matrix

    ket = squeezing_matrix(r, 0.0, _BIG_CUTOFF, tf.complex128).numpy() @ _vacuum()
    a = np.diag(np.sqrt(np.arange(1, _BIG_CUTOFF)), 1)
    x = a + a.T  # hbar = 2
    mean = np.vdot(ket, x @ ket).real
    return float(np.vdot(ket, x @ x @ ket).real - mean**2)


def _coherent_quadratures(alpha: complex) -> np.ndarray:
    from ..sim.observables import quadrature_expectations

    x, p = quadrature_expectations(tf.constant(_coherent(alpha)[None]))
    return np.array([float(x[0, 0]), float(p[0, 0])])


def _kerr_cat_weights(alpha: float = math.sqrt(2.0)) -> np.ndarray:
    """``(c+, c-)`` with ``K(pi/2)|alpha> = c+ |alpha> + c- |-alpha>``, by least squares."""
    from ..sim.gates import kerr_matrix

    cat = kerr_matrix(math.pi / 2, _BIG_CUTOFF, tf.complex128).numpy() @ _coherent(alpha)
    basis = np.stack([_coherent(alpha), _coherent(-alpha)], axis=1)
    weights, *_ = np.linalg.lstsq(basis, cat, rcond=None)
    return weights


def _displaced_then_squeezed_slope(squeeze: float = 0.5) -> float:
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


def _gaussian_quantiles(mean: float, std: float, n: int) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf((np.arange(n) + 0.5) / n, loc=mean, scale=std)


def _w1_unequal_widths() -> float:
    from ..metrics import wasserstein_1d

    return wasserstein_1d(_gaussian_quantiles(0.0, 1.0, 200_000), _gaussian_quantiles(0.0, 2.0, 200_000))


def _bce_critic_at_equilibrium() -> float:
    """The critic's BCE loss when it cannot tell the two sides apart: ``D = 1/2`` (logit 0)."""
    from ..training.losses import BinaryCrossEntropyLoss

    logits = tf.zeros([8, 1], tf.float64)
    return float(BinaryCrossEntropyLoss().discriminator_loss(logits, logits)["total_loss"])


def _mmd_shifted_gaussians(shift: float = 2.0, bandwidth: float = 1.0) -> float:
    """The lab's unbiased ``MMD^2`` on quantile grids of ``N(0, 1)`` and ``N(shift, 1)``."""
    from ..training.losses import mmd_squared

    x = _gaussian_quantiles(0.0, 1.0, 3000)[:, None]
    y = _gaussian_quantiles(shift, 1.0, 3000)[:, None]
    return float(mmd_squared(tf.constant(x), tf.constant(y), tf.constant([bandwidth], tf.float64)))


def _fd_errors() -> dict[str, Any]:
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


def _fd_eps_accepts(answer: np.ndarray, solution: dict[str, Any]) -> bool:
    eps = float(answer)
    if not 0 < eps < 1:
        return False
    return solution["error"](eps) <= 10.0 * float(solution["errors"].min())


def _fd_cost() -> int:
    """Loss evaluations of one finite-difference backup for notebook 05's small generator."""
    from ..models.quantum import PureQuantumGenerator
    from ..training.gradients import finite_difference_gradient

    model = PureQuantumGenerator(2, 2, 2, 1, 5, seed=0, jit_compile=False)
    calls = []
    finite_difference_gradient(lambda: calls.append(1) or 0.0, model.trainable_variables)
    return len(calls)


def _blob_coverage() -> np.ndarray:
    from ..data import centers_of, validation_set
    from ..metrics import mode_coverage

    target = validation_set("bimodal", 20_000)
    blob = _gaussian_quantiles(0.0, float(target.std()), 20_000)
    samples = np.stack([blob, np.random.default_rng(0).permutation(blob)], axis=1)
    return mode_coverage(samples, centers_of("bimodal"))


def _displacement_bound_at_6() -> float:
    from ..sim.cutoff import displacement_bound

    return displacement_bound(6, keep=0.99)


@dataclass(frozen=True)
class Exercise:
    """One checked exercise.

    ``solve()`` computes the right answer with the lab's code; by default an answer is right
    when it has the solution's shape and lies within ``atol`` of it elementwise (complex
    numbers allowed). ``accepts(answer, solution)`` replaces that comparison where the answer
    is judged by what it does (a step size by its error).
    """

    key: str
    question: str
    solve: Callable[[], Any]
    hint: str
    atol: float = 0.0
    accepts: Callable[[np.ndarray, Any], bool] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def solution(self) -> Any:
        """The right answer (computed once, then kept)."""
        if "value" not in self._cache:
            self._cache["value"] = self.solve()
        return self._cache["value"]

    def is_right(self, answer: Any) -> bool:
        """Whether ``answer`` is right (no printing)."""
        value = _as_numbers(answer)
        if self.accepts is not None:
            return value.size == 1 and bool(self.accepts(value.reshape(()), self.solution()))
        truth = np.asarray(self.solution())
        if value.shape != truth.shape:
            return False
        return bool(np.all(np.abs(value - truth) <= self.atol))


def _modes_that_fit(cutoff: int, batch: int, budget: int, bytes_per_amplitude: int = 8) -> int:
    modes = 0
    while batch * cutoff ** (modes + 1) * bytes_per_amplitude <= budget:
        modes += 1
    return modes


def _phase_encoding_max_photons(amplitude: float) -> float:
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


def _ema_recent_share(decay: float = 0.99, updates: int = 100) -> float:
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


def _w1_floor(draws: int = 5) -> float:
    """Mean per-feature W1 of 1000 fresh bimodal samples against notebook 06's 2000 validation samples."""
    from ..data import get_target, validation_set
    from ..metrics import wasserstein_per_feature

    validation = validation_set("bimodal", n=2000)
    rng = np.random.default_rng(2024)
    return float(
        np.mean([wasserstein_per_feature(validation, get_target("bimodal").sample(1000, rng)) for _ in range(draws)])
    )


def _gp_barrier(gap: float = -3.0, lambda_gp: float = 10.0) -> float:
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


def _min_over(f: Callable[[float], float], low: float, high: float) -> float:
    """The minimum of a unimodal ``f`` on ``[low, high]`` by golden-section search."""
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    for _ in range(80):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        a, b = (a, d) if f(c) < f(d) else (c, b)
    return f((a + b) / 2)


def _as_numbers(answer: Any) -> np.ndarray:
    try:
        value = np.asarray(answer, dtype=np.complex128)
    except (TypeError, ValueError):
        raise TypeError(f"answer must be a number or a list of numbers, got {answer!r}") from None
    if not np.all(np.isfinite(value)):
        raise ValueError(f"answer must be finite, got {answer!r}")
    return value.real if np.all(value.imag == 0) else value


EXERCISES: dict[str, Exercise] = {
    e.key: e
    for e in (
        Exercise(
            "01.cutoff",
            "The smallest cutoff c (levels 0 .. c-1) that keeps 99.9 % of the coherent state |alpha = 2>.",
            lambda: _cutoff_keeping(2.0, 0.999),
            "The photon number of |alpha> is Poisson with mean |alpha|^2 = 4, and its tail is long: add "
            "P(n) = e^-4 4^n / n! for n = 0, 1, 2, ... until the sum reaches 0.999; c is the number of terms.",
        ),
        Exercise(
            "01.squeezed_variance",
            "The variance of x for the squeezed vacuum S(0.5)|0> (hbar = 2).",
            lambda: _squeezed_x_variance(0.5),
            "The vacuum's x variance is 1 (hbar = 2); S(r) multiplies x by e^-r, so its variance by e^-2r.",
            atol=1e-3,
        ),
        Exercise(
            "01.coherent_quadratures",
            "(<x>, <p>) of the coherent state |alpha = 1 + 0.5i> (hbar = 2).",
            lambda: _coherent_quadratures(1.0 + 0.5j),
            "With hbar = 2, x = a + a^dagger: <x> = 2 Re(alpha) and <p> = 2 Im(alpha). Mind the factor 2.",
            atol=1e-3,
        ),
        Exercise(
            "02.modes_in_memory",
            "The most modes N whose ket alone, for a batch of 64 inputs at cutoff 10 in complex64 (8 bytes "
            "per amplitude), fits in 1 GiB.",
            lambda: _modes_that_fit(10, 64, 2**30),
            "The ket holds batch x cutoff^N amplitudes: 64 x 10^N x 8 bytes <= 2^30. Each mode multiplies "
            "the memory by the cutoff; do not forget the batch.",
        ),
        Exercise(
            "02.phase_photons",
            "The largest mean photon number the phase encoding with amplitude s = 0.6 puts in a mode, "
            "over every input x (reference D(s), then D(s e^{i phi}), phi in (-3 pi/4, 3 pi/4)).",
            lambda: _phase_encoding_max_photons(0.6),
            "The two displacements add: the coherent amplitude is s (1 + e^{i phi}), and <n> = |alpha|^2 = "
            "2 s^2 (1 + cos phi). Which phi makes it largest?",
            atol=1e-4,
        ),
        Exercise(
            "03.cat_weights",
            "The pair (c_plus, c_minus) with K(pi/2)|alpha> = c_plus |alpha> + c_minus |-alpha>.",
            _kerr_cat_weights,
            "Write |alpha> = sum_n c_n |n>; K(pi/2) multiplies |n> by e^{i pi n^2/2}, which is 1 for even n and "
            "i for odd n, i.e. [(1+i) + (1-i)(-1)^n]/2; and sum_n (-1)^n c_n |n> = |-alpha>. Complex numbers: 1j.",
            atol=1e-6,
        ),
        Exercise(
            "03.affine_slope",
            "d<x>/dz for the circuit D(z) then S(0.5) on the vacuum (z real, hbar = 2).",
            _displaced_then_squeezed_slope,
            "D(z) moves <x> to 2z; S(r) then multiplies x by e^-r. The map z -> <x> is affine: its slope is 2 e^-r.",
            atol=1e-4,
        ),
        Exercise(
            "04.w1_widths",
            "W1 between N(0, 1) and N(0, 2^2), two Gaussians of unequal width.",
            _w1_unequal_widths,
            "In 1-D the optimal transport pairs equal quantiles: x -> 2x. So W1 = E|2Z - Z| = E|Z| for "
            "Z ~ N(0, 1), and E|Z| = sqrt(2/pi), not 1.",
            atol=5e-3,
        ),
        Exercise(
            "04.bce_equilibrium",
            "The critic's BCE loss (real part plus fake part) when the generator is perfect and the critic "
            "does the best it can.",
            _bce_critic_at_equilibrium,
            "With P_g = P_r the best discriminator says D(x) = 1/2 everywhere; each of the two terms is -log(1/2).",
            atol=1e-3,
        ),
        Exercise(
            "04.gp_barrier",
            "A 1-D linear critic D(x) = s x, gap E[x_real] - E[x_fake] = -3 (the fakes right of the data), "
            "lambda = 10, two-sided penalty: the loss at s = 0 minus the loss at the local minimum with s > 0.",
            _gp_barrier,
            "L(s) = -s gap + lambda (|s| - 1)^2. For s > 0 its minimum is at s* = 1 + gap/(2 lambda) = 0.85, "
            "where L = -s* gap + lambda (s* - 1)^2; at s = 0 the penalty alone costs lambda.",
            atol=1e-3,
        ),
        Exercise(
            "04.mmd_shift",
            "The population MMD^2 between N(0, 1) and N(2, 1) in 1-D with one Gaussian kernel of bandwidth sigma = 1.",
            _mmd_shifted_gaussians,
            "x - x' ~ N(0, 2) gives E k(x, x') = sqrt(s^2 / (s^2 + 2)); x - y ~ N(-2, 2) adds the factor "
            "exp(-2^2 / (2 (s^2 + 2))). MMD^2 = E k(x,x') + E k(y,y') - 2 E k(x,y).",
            atol=5e-3,
        ),
        Exercise(
            "05.fd_eps",
            "A step eps for central finite differences whose error (notebook 05's overflow case) is within "
            "10x of the best step.",
            _fd_errors,
            "Truncation error grows like eps^2, rounding like 1e-16/eps; their sum is smallest near "
            "eps_mach^(1/3), about 1e-5 (sqrt(eps_mach) is the optimum of one-sided differences).",
            accepts=_fd_eps_accepts,
        ),
        Exercise(
            "05.fd_cost",
            "How many loss evaluations one finite-difference backup needs for PureQuantumGenerator(2, 2, 2, 1, 5).",
            _fd_cost,
            "Central differences evaluate the loss twice per scalar parameter: count the scalars of every "
            "trainable variable (sum of v.shape.num_elements()).",
        ),
        Exercise(
            "06.ema_recent",
            "With ema_decay = 0.99, the share of the weight average that comes from the last 100 generator "
            "updates (the rest is what the average held before them).",
            _ema_recent_share,
            "Each update keeps 0.99 of the average and adds 0.01 of the new weights: after 100 updates the "
            "old average keeps 0.99^100 of its share.",
            atol=1e-3,
        ),
        Exercise(
            "06.w1_floor",
            "The per-feature W1 that a perfect generator scores on the bimodal target: 1000 fresh target "
            "samples against notebook 06's 2000 validation samples (mean over the two features).",
            _w1_floor,
            "Draw 1000 samples from the target itself (qgan_lab.data.get_target('bimodal').sample) and "
            "compare them with validation_set('bimodal', n=2000) by wasserstein_per_feature: finite samples are "
            "never 0 apart.",
            accepts=lambda value, floor: 0.5 * floor <= float(np.real(value)) <= 2.0 * floor,
        ),
        Exercise(
            "07.blob_coverage",
            "The mode coverage (fraction nearest each centre) of a Gaussian blob centred at the origin, "
            "symmetric, against the bimodal target's two centres.",
            _blob_coverage,
            "Coverage asks only which centre is nearer; a symmetric blob splits evenly between them, "
            "so coverage cannot tell a blob from two modes: W1 can.",
            atol=0.02,
        ),
        Exercise(
            "07.displacement_bound",
            "The largest displacement r whose coherent state keeps 99 % of its norm in a cutoff of 6.",
            _displacement_bound_at_6,
            "The photon number is Poisson with mean r^2; find r where P(N <= 5) = 0.99 (bisection on r).",
            atol=0.01,
        ),
    )
}


def check(key: str, answer: Any) -> bool:
    """Print ``right``, or ``wrong`` with a hint, for ``answer`` to exercise ``key``; return it as a bool."""
    if key not in EXERCISES:
        raise ValueError(f"key must be one of {sorted(EXERCISES)}, got {key!r}")
    exercise = EXERCISES[key]
    if exercise.is_right(answer):
        print(f"{key}: right")
        return True
    print(f"{key}: wrong. Hint: {exercise.hint}")
    return False
