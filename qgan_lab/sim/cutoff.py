"""What a Fock cutoff holds: trace warnings and the physics regulariser's bounds.

A state simulated with cutoff ``c`` keeps only ``|n>`` with ``n < c``; its trace
``sum_n |<n|psi>|^2`` is 1 while the state fits and falls as photons leak past the cutoff
(then every expectation value is wrong: the model silently outputs about 0).

* :data:`TRACE_THRESHOLD` (0.9): below it the trainer and the models warn.
* :func:`displacement_bound` - the largest ``r`` such that the coherent state ``D(r)|0>``
  keeps at least ``keep`` (default 0.99) of its norm: its photon number is Poisson with mean
  ``r^2``, so ``P(N < c) >= keep``.
* :func:`squeezing_bound` - likewise for squeezed vacuum ``S(r)|0>``, whose even photon
  numbers have ``P(2k) = tanh(r)^(2k) (2k)! / (4^k k!^2 cosh r)`` (mean ``sinh^2 r``).
* :func:`parameter_bounds` - one bound per trainable variable of a model: these two for
  displacement and squeezing amplitudes, ``default`` (the guide's 5) for angles, phases and
  Kerr strengths, which do not change the photon number. The trainer hands them to the
  Wasserstein loss's physics regulariser, so it pushes back while every single gate still
  fits the cutoff, before the trace collapses.

Taught in ``07_evaluation_and_troubleshooting``.
"""

from __future__ import annotations

import math
from typing import Any

TRACE_THRESHOLD = 0.9


def _coherent_kept(r: float, cutoff: int) -> float:
    """``P(N < cutoff)`` for Poisson ``N`` of mean ``r^2``; terms in log space (``lgamma``), so
    any cutoff the engine holds works (``n!`` overflows a float from ``n = 171``, ``mean**n`` sooner)."""
    if r == 0:
        return 1.0
    log_mean = 2.0 * math.log(r)
    return sum(math.exp(n * log_mean - r * r - math.lgamma(n + 1)) for n in range(cutoff))


def _squeezed_kept(r: float, cutoff: int) -> float:
    """``P(N < cutoff)`` for squeezed vacuum, each term ``tanh(r)^(2k) (2k)! / (4^k k!^2)`` in log space."""
    if r == 0:
        return 1.0
    log_t = math.log(math.tanh(r))
    total = sum(
        math.exp(2 * k * log_t + math.lgamma(2 * k + 1) - k * math.log(4.0) - 2 * math.lgamma(k + 1))
        for k in range((cutoff - 1) // 2 + 1)
    )
    return total / math.cosh(r)


def _largest(kept, cutoff: int, keep: float, high: float) -> float:
    """Bisection on ``[0, high]``; ``high`` is a state whose mean photon number is ``cutoff``, which
    keeps at most about half its norm, so the answer lies inside for any cutoff."""
    low = 0.0
    for _ in range(60):  # bisection: kept(r) falls monotonically with r
        mid = 0.5 * (low + high)
        low, high = (mid, high) if kept(mid, cutoff) >= keep else (low, mid)
    return low


def displacement_bound(cutoff_dim: int, keep: float = 0.99) -> float:
    """Largest displacement ``r`` whose coherent state keeps ``keep`` of its norm in the cutoff."""
    return _largest(_coherent_kept, int(cutoff_dim), keep, math.sqrt(cutoff_dim))  # <N> = r^2


def squeezing_bound(cutoff_dim: int, keep: float = 0.99) -> float:
    """Largest squeezing ``r`` whose squeezed vacuum keeps ``keep`` of its norm in the cutoff."""
    return _largest(_squeezed_kept, int(cutoff_dim), keep, math.asinh(math.sqrt(cutoff_dim)))  # <N> = sinh^2 r


def parameter_bounds(model: Any, default: float = 5.0, keep: float = 0.99) -> list[float]:
    """A bound per ``model.trainable_variables`` entry (see the module docstring)."""
    cutoff = model.cutoff_dim
    bounds = {"disp_r": displacement_bound(cutoff, keep), "squeeze_r": squeezing_bound(cutoff, keep)}
    out = []
    for var in model.trainable_variables:
        group = var.name.split(":")[0].split("_", 1)[-1]
        out.append(bounds.get(group, float(default)))
    return out
