"""Checked exercises: ``check("01.cutoff", answer)`` prints right, or wrong with a hint.

Every exercise of the notebooks has a key ``"NN.name"`` (``NN`` the notebook) in
:data:`EXERCISES`, with its question and hint. Its right answer is not typed in here:
:meth:`Exercise.solution` computes it with the lab's own code (the Fock matrices, the homodyne
density, the losses, the metrics; the functions of :mod:`qgan_lab.lab.exercise_solutions`)
the first time it is asked for, and :func:`check` compares the learner's answer with it
within a stated tolerance. Some exercises judge the answer itself instead of comparing it
with one number (05.fd_eps measures the error of the step size the learner picked).

Used in ``01_cv_circuits`` to ``07_evaluation_and_troubleshooting`` (the "Exercise" cells; each
has a folded solution cell that calls :func:`check`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .exercise_solutions import (
    bce_critic_at_equilibrium,
    blob_coverage,
    coherent_quadratures,
    cutoff_keeping,
    displaced_then_squeezed_slope,
    displacement_bound_at_6,
    ema_recent_share,
    fd_cost,
    fd_eps_accepts,
    fd_errors,
    gp_barrier,
    kerr_cat_weights,
    mmd_shifted_gaussians,
    modes_that_fit,
    phase_encoding_max_photons,
    squeezed_x_variance,
    w1_floor,
    w1_unequal_widths,
)


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
            lambda: cutoff_keeping(2.0, 0.999),
            "The photon number of |alpha> is Poisson with mean |alpha|^2 = 4, and its tail is long: add "
            "P(n) = e^-4 4^n / n! for n = 0, 1, 2, ... until the sum reaches 0.999; c is the number of terms.",
        ),
        Exercise(
            "01.squeezed_variance",
            "The variance of x for the squeezed vacuum S(0.5)|0> (hbar = 2).",
            lambda: squeezed_x_variance(0.5),
            "The vacuum's x variance is 1 (hbar = 2); S(r) multiplies x by e^-r, so its variance by e^-2r.",
            atol=1e-3,
        ),
        Exercise(
            "01.coherent_quadratures",
            "(<x>, <p>) of the coherent state |alpha = 1 + 0.5i> (hbar = 2).",
            lambda: coherent_quadratures(1.0 + 0.5j),
            "With hbar = 2, x = a + a^dagger: <x> = 2 Re(alpha) and <p> = 2 Im(alpha). Mind the factor 2.",
            atol=1e-3,
        ),
        Exercise(
            "02.modes_in_memory",
            "The most modes N whose ket alone, for a batch of 64 inputs at cutoff 10 in complex64 (8 bytes "
            "per amplitude), fits in 1 GiB.",
            lambda: modes_that_fit(10, 64, 2**30),
            "The ket holds batch x cutoff^N amplitudes: 64 x 10^N x 8 bytes <= 2^30. Each mode multiplies "
            "the memory by the cutoff; do not forget the batch.",
        ),
        Exercise(
            "02.phase_photons",
            "The largest mean photon number the phase encoding with amplitude s = 0.6 puts in a mode, "
            "over every input x (reference D(s), then D(s e^{i phi}), phi in (-3 pi/4, 3 pi/4)).",
            lambda: phase_encoding_max_photons(0.6),
            "The two displacements add: the coherent amplitude is s (1 + e^{i phi}), and <n> = |alpha|^2 = "
            "2 s^2 (1 + cos phi). Which phi makes it largest?",
            atol=1e-4,
        ),
        Exercise(
            "03.cat_weights",
            "The pair (c_plus, c_minus) with K(pi/2)|alpha> = c_plus |alpha> + c_minus |-alpha>.",
            kerr_cat_weights,
            "Write |alpha> = sum_n c_n |n>; K(pi/2) multiplies |n> by e^{i pi n^2/2}, which is 1 for even n and "
            "i for odd n, i.e. [(1+i) + (1-i)(-1)^n]/2; and sum_n (-1)^n c_n |n> = |-alpha>. Complex numbers: 1j.",
            atol=1e-6,
        ),
        Exercise(
            "03.affine_slope",
            "d<x>/dz for the circuit D(z) then S(0.5) on the vacuum (z real, hbar = 2).",
            displaced_then_squeezed_slope,
            "D(z) moves <x> to 2z; S(r) then multiplies x by e^-r. The map z -> <x> is affine: its slope is 2 e^-r.",
            atol=1e-4,
        ),
        Exercise(
            "04.w1_widths",
            "W1 between N(0, 1) and N(0, 2^2), two Gaussians of unequal width.",
            w1_unequal_widths,
            "In 1-D the optimal transport pairs equal quantiles: x -> 2x. So W1 = E|2Z - Z| = E|Z| for "
            "Z ~ N(0, 1), and E|Z| = sqrt(2/pi), not 1.",
            atol=5e-3,
        ),
        Exercise(
            "04.bce_equilibrium",
            "The critic's BCE loss (real part plus fake part) when the generator is perfect and the critic "
            "does the best it can.",
            bce_critic_at_equilibrium,
            "With P_g = P_r the best discriminator says D(x) = 1/2 everywhere; each of the two terms is -log(1/2).",
            atol=1e-3,
        ),
        Exercise(
            "04.gp_barrier",
            "A 1-D linear critic D(x) = s x, gap E[x_real] - E[x_fake] = -3 (the fakes right of the data), "
            "lambda = 10, two-sided penalty: the loss at s = 0 minus the loss at the local minimum with s > 0.",
            gp_barrier,
            "L(s) = -s gap + lambda (|s| - 1)^2. For s > 0 its minimum is at s* = 1 + gap/(2 lambda) = 0.85, "
            "where L = -s* gap + lambda (s* - 1)^2; at s = 0 the penalty alone costs lambda.",
            atol=1e-3,
        ),
        Exercise(
            "04.mmd_shift",
            "The population MMD^2 between N(0, 1) and N(2, 1) in 1-D with one Gaussian kernel of bandwidth sigma = 1.",
            mmd_shifted_gaussians,
            "x - x' ~ N(0, 2) gives E k(x, x') = sqrt(s^2 / (s^2 + 2)); x - y ~ N(-2, 2) adds the factor "
            "exp(-2^2 / (2 (s^2 + 2))). MMD^2 = E k(x,x') + E k(y,y') - 2 E k(x,y).",
            atol=5e-3,
        ),
        Exercise(
            "05.fd_eps",
            "A step eps for central finite differences whose error (notebook 05's overflow case) is within "
            "10x of the best step.",
            fd_errors,
            "Truncation error grows like eps^2, rounding like 1e-16/eps; their sum is smallest near "
            "eps_mach^(1/3), about 1e-5 (sqrt(eps_mach) is the optimum of one-sided differences).",
            accepts=fd_eps_accepts,
        ),
        Exercise(
            "05.fd_cost",
            "How many loss evaluations one finite-difference backup needs for PureQuantumGenerator(2, 2, 2, 1, 5).",
            fd_cost,
            "Central differences evaluate the loss twice per scalar parameter: count the scalars of every "
            "trainable variable (sum of v.shape.num_elements()).",
        ),
        Exercise(
            "06.ema_recent",
            "With ema_decay = 0.99, the share of the weight average that comes from the last 100 generator "
            "updates (the rest is what the average held before them).",
            ema_recent_share,
            "Each update keeps 0.99 of the average and adds 0.01 of the new weights: after 100 updates the "
            "old average keeps 0.99^100 of its share.",
            atol=1e-3,
        ),
        Exercise(
            "06.w1_floor",
            "The per-feature W1 that a perfect generator scores on the bimodal target: 1000 fresh target "
            "samples against notebook 06's 2000 validation samples (mean over the two features).",
            w1_floor,
            "Draw 1000 samples from the target itself (qgan_lab.data.get_target('bimodal').sample) and "
            "compare them with validation_set('bimodal', n=2000) by wasserstein_per_feature: finite samples are "
            "never 0 apart.",
            accepts=lambda value, floor: 0.5 * floor <= float(np.real(value)) <= 2.0 * floor,
        ),
        Exercise(
            "07.blob_coverage",
            "The mode coverage (fraction nearest each centre) of a Gaussian blob centred at the origin, "
            "symmetric, against the bimodal target's two centres.",
            blob_coverage,
            "Coverage asks only which centre is nearer; a symmetric blob splits evenly between them, "
            "so coverage cannot tell a blob from two modes: W1 can.",
            atol=0.02,
        ),
        Exercise(
            "07.displacement_bound",
            "The largest displacement r whose coherent state keeps 99 % of its norm in a cutoff of 6.",
            displacement_bound_at_6,
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
