"""The expressive critic's capacity: a regression and a WGAN-GP separation (small, compiled)."""

import numpy as np
import pytest

from qgan_lab.capacity import critic_separation, fit_function, matched_gaussian
from qgan_lab.data import validation_set
from qgan_lab.models import PureQuantumDiscriminator

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
