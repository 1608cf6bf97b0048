import numpy as np
import pytest

from qgan_lab.metrics import evaluate_samples, mode_coverage, sample_statistics, wasserstein_1d, wasserstein_per_feature


def test_wasserstein_1d_is_scipys():
    """The numpy W1 gives scipy.stats.wasserstein_distance: unequal sizes, ties, one point."""
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(3)
    cases = [
        (rng.normal(size=500), rng.normal(0.3, 2.0, size=77)),
        (rng.integers(0, 4, size=40).astype(float), rng.integers(1, 6, size=25).astype(float)),
        (np.array([0.5]), rng.uniform(size=9)),
    ]
    for u, v in cases:
        assert wasserstein_1d(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-12, abs=1e-15)


def test_wasserstein_of_shifted_distributions_is_the_shift():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(4000, 2))
    shifted = real + np.array([0.5, -1.5])
    assert np.allclose(wasserstein_per_feature(real, shifted), [0.5, 1.5], atol=1e-9)
    assert np.allclose(wasserstein_per_feature(real, real), 0.0)


def test_mode_coverage_known_answers():
    centers = np.array([[-2.0, -2.0], [2.0, 2.0]])
    samples = np.array([[-1.9, -2.1]] * 3 + [[2.2, 1.8]] * 1)
    assert np.allclose(mode_coverage(samples, centers), [0.75, 0.25])
    collapsed = np.zeros((10, 2)) + 1.0
    assert np.allclose(mode_coverage(collapsed, centers), [0.0, 1.0])


def test_statistics_and_evaluate():
    rng = np.random.default_rng(1)
    samples = rng.normal(3.0, 2.0, size=(20000, 2))
    stats = sample_statistics(samples)
    assert np.allclose(stats["mean"], 3.0, atol=0.05) and np.allclose(stats["std"], 2.0, atol=0.05)
    report = evaluate_samples(samples, samples, centers=[[0, 0], [3, 3]])
    assert report["wasserstein_mean"] == 0.0 and sum(report["mode_coverage"]) == pytest.approx(1.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        wasserstein_per_feature([[np.nan]], [[0.0]])
    with pytest.raises(ValueError, match="features"):
        mode_coverage(np.zeros((3, 2)), np.zeros((2, 3)))
