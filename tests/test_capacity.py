"""The expressive critic's capacity: a regression and a WGAN-GP separation (small, compiled)."""

import numpy as np
import pytest

from qgan_lab.data import validation_set
from qgan_lab.models import PureQuantumDiscriminator
from qgan_lab.training.capacity import critic_separation, fit_function, matched_gaussian

# measured with benchmarks/critic_capacity.py (300 steps: MSE 0.0015, held-out W 0.89)
CRITIC = dict(readout="mean", reupload=True)
REG = dict(layers=2, cutoff=10, steps=300)
SEP = dict(layers=2, cutoff=8, steps=150)


def test_matched_gaussian_has_the_mixtures_mean_and_covariance():
    mean, cov = matched_gaussian("bimodal")
    sample = validation_set("bimodal", 20000, seed=0)
    assert np.allclose(mean, 0.0) and np.allclose(cov, [[4.25, 4.0], [4.0, 4.25]])
    assert np.allclose(np.cov(sample.T), cov, atol=0.15)


def test_critic_fits_sin_pi_x_by_regression():
    critic = PureQuantumDiscriminator(
        1, 1, REG["layers"], REG["cutoff"], encoding_scale=1.0, seed=0, jit_compile=False, **CRITIC
    )
    result = fit_function(critic, steps=REG["steps"], seed=0)
    assert result["mse"] <= 0.02, result["mse"]
    assert result["history"][-1] < result["history"][0]


def test_expressive_critic_separates_bimodal_target_from_its_matched_gaussian():
    critic = PureQuantumDiscriminator(2, 2, SEP["layers"], SEP["cutoff"], seed=0, jit_compile=False, **CRITIC)
    result = critic_separation(critic, steps=SEP["steps"], seed=0)
    assert result["w_test"] > 0.3, result["w_test"]


def test_capacity_helpers_reject_bad_arguments():
    with pytest.raises(ValueError, match="input_dim=1"):
        fit_function(PureQuantumDiscriminator(2, 2, 1, 4, jit_compile=False), steps=1)
    with pytest.raises(ValueError, match="steps"):
        critic_separation(PureQuantumDiscriminator(2, 2, 1, 4, jit_compile=False), steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        critic_separation(PureQuantumDiscriminator(2, 2, 1, 4, jit_compile=False), steps=1, learning_rate=-1.0)


def test_exact_w1_is_optimal_transport_on_samples():
    from scipy.stats import wasserstein_distance

    from qgan_lab.training.capacity import exact_w1

    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 2))
    assert abs(exact_w1(a, a + [0.3, -0.4]) - 0.5) < 1e-9  # a translation moves every point by |v|
    x, y = rng.normal(size=(200, 1)), rng.exponential(size=(250, 1))
    assert abs(exact_w1(x, y) - wasserstein_distance(x[:, 0], y[:, 0])) < 1e-9  # 1-D: the sorted formula
    with pytest.raises(ValueError, match="one width"):
        exact_w1(a, x)


def test_capacity_diagnostic_compares_a_trained_critic_with_the_exact_distance():
    from qgan_lab.training.capacity import capacity_diagnostic, diagnostic_fakes

    fakes = diagnostic_fakes("bimodal")
    assert sorted(fakes) == ["gaussian", "shifted", "widened"]
    widened = fakes["widened"](20000, np.random.default_rng(0))
    assert abs(np.std(widened[widened[:, 0] > 0][:, 0]) - 0.7) < 0.02  # the modes' std 0.5 x 1.4
    rows = capacity_diagnostic(
        lambda: PureQuantumDiscriminator(2, 2, 1, 6, readout="joint", passive_std=0.5, seed=0, jit_compile=False),
        "bimodal",
        {"shifted": fakes["shifted"]},
        steps=60,
        n_exact=500,
    )
    (row,) = rows
    assert row["fake"] == "shifted" and 0.35 < row["w_true"] < 0.6  # |(0.3, 0.3)| = 0.42, plus sampling noise
    assert 0 < row["w_critic"] < row["w_true"] and row["ratio"] == row["w_critic"] / row["w_true"]
