"""The notebooks' checked exercises: each check accepts the solution, derived here in closed form
(independently of the lab's code that the check runs), and rejects a typical wrong answer."""

import math

import numpy as np
import pytest

from qgan_lab.lab.exercises import EXERCISES, check


def _poisson_cutoff(mean: float, keep: float) -> int:
    total, n = 0.0, 0
    while total < keep:
        total += math.exp(-mean) * mean**n / math.factorial(n)
        n += 1
    return n


def _mmd_gaussians(shift: float, sigma: float) -> float:
    s2 = sigma**2
    return 2 * math.sqrt(s2 / (s2 + 2)) * (1 - math.exp(-(shift**2) / (2 * (s2 + 2))))


def _poisson_bound(cutoff: int, keep: float) -> float:
    kept = lambda r: sum(math.exp(-r * r) * r ** (2 * n) / math.factorial(n) for n in range(cutoff))  # noqa: E731
    low, high = 0.0, 5.0
    for _ in range(60):
        low, high = ((low + high) / 2, high) if kept((low + high) / 2) >= keep else (low, (low + high) / 2)
    return low


# key: (the solution in closed form, a typical wrong answer)
CASES = {
    "01.cutoff": (_poisson_cutoff(4.0, 0.999), 5),  # wrong: <n> + 1
    "01.squeezed_variance": (math.exp(-1.0), math.exp(-0.5)),  # wrong: e^-r, forgetting the square
    "01.coherent_quadratures": ([2.0, 1.0], [1.0, 0.5]),  # wrong: hbar = 1 conventions
    "02.modes_in_memory": (6, 8),  # wrong: the batch forgotten (10^8 x 8 bytes fits alone)
    "02.phase_photons": (4 * 0.6**2, 0.6**2),  # wrong: the reference displacement forgotten
    "03.cat_weights": ([(1 + 1j) / 2, (1 - 1j) / 2], [1 / math.sqrt(2), 1 / math.sqrt(2)]),  # wrong: even cat
    "03.affine_slope": (2 * math.exp(-0.5), 2.0),  # wrong: the squeezer ignored
    "04.w1_widths": (math.sqrt(2 / math.pi), 1.0),  # wrong: the difference of the widths
    "04.bce_equilibrium": (2 * math.log(2), 0.0),
    "04.gp_barrier": (10 - (0.85 * 3 + 10 * 0.15**2), 10.0),  # wrong: lambda, the local minimum's own loss forgotten
    "04.mmd_shift": (_mmd_gaussians(2.0, 1.0), 4.0),  # wrong: the squared mean difference
    "05.fd_eps": (np.finfo(float).eps ** (1 / 3), np.finfo(float).eps ** 0.5),  # wrong: the one-sided optimum
    "05.fd_cost": (28, 14),  # wrong: one evaluation per scalar (the small generator has 14 scalars)
    "06.ema_recent": (1 - 0.99**100, 0.99),  # wrong: the decay itself
    "06.w1_floor": (0.03, 0.0),  # wrong: a perfect generator scores 0 on finite samples
    "07.blob_coverage": ([0.5, 0.5], [1.0, 0.0]),
    "07.displacement_bound": (_poisson_bound(6, 0.99), 1.5),
}


def test_every_exercise_is_tested():
    assert set(CASES) == set(EXERCISES)


@pytest.mark.parametrize("key", sorted(CASES))
def test_check_accepts_the_solution_and_rejects_a_typical_wrong_answer(key, capsys):
    right, wrong = CASES[key]
    assert check(key, right) is True
    assert capsys.readouterr().out == f"{key}: right\n"
    assert check(key, wrong) is False
    out = capsys.readouterr().out
    assert out.startswith(f"{key}: wrong. Hint: ") and len(out) > 60


def test_wrong_shape_is_wrong_and_bad_input_names_the_argument(capsys):
    assert check("01.coherent_quadratures", 2.0) is False  # a pair was asked for
    assert check("05.fd_eps", [1e-5, 1e-5]) is False and check("05.fd_eps", -1e-5) is False
    with pytest.raises(ValueError, match="key"):
        check("01.no_such_exercise", 1)
    with pytest.raises(TypeError, match="answer"):
        check("01.cutoff", "twelve")
    with pytest.raises(ValueError, match="answer"):
        check("01.cutoff", float("nan"))


def test_fd_cost_counts_two_evaluations_per_scalar():
    from qgan_lab import PureQuantumGenerator

    model = PureQuantumGenerator(2, 2, 2, 1, 5, seed=0, jit_compile=False)
    assert EXERCISES["05.fd_cost"].solution() == 2 * sum(v.shape.num_elements() for v in model.trainable_variables)
