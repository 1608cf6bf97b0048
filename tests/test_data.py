import numpy as np
import pytest
from scipy import stats

from qgan_lab.data import (
    TARGETS,
    HeavyTailedTarget,
    SkewedTarget,
    centers_of,
    create_bimodal_data_generator,
    get_target,
    make_data_generator,
    validation_set,
)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_gives_finite_float32_batches_of_its_width(name):
    batch = make_data_generator(name, 32, seed=0)()
    assert batch.shape == (32, get_target(name).dim)
    assert batch.dtype == np.float32 and np.all(np.isfinite(batch))


def test_generators_are_reproducible_and_the_bimodal_one_is_balanced():
    a, b = create_bimodal_data_generator(16, seed=3), create_bimodal_data_generator(16, seed=3)
    first = a().numpy()
    np.testing.assert_array_equal(first, b().numpy())
    assert np.sum(first[:, 0] > 0) == 8  # the guide's exact half/half split


def test_skewed_target_is_centred_and_right_skewed():
    x = validation_set("skewed", 20000)
    assert np.all(np.abs(x.mean(0)) < 0.05)
    assert np.all(stats.skew(x, axis=0) > 1.0)
    assert centers_of("skewed") is None


def test_heavy_tailed_target_has_heavier_tails_than_a_gaussian():
    x = validation_set("heavy_tailed", 20000)
    assert np.all(stats.kurtosis(x, axis=0) > 2.0)  # a Gaussian has excess kurtosis 0
    assert centers_of(HeavyTailedTarget()) is None


def test_mixture_centres_and_custom_targets():
    assert centers_of("three_modes").shape == (3, 2)
    assert centers_of("trimodal_1d").shape == (3, 1)
    custom = SkewedTarget(dim=1, sigma=0.3)
    assert make_data_generator(custom, 5, seed=0)().shape == (5, 1)


def test_unknown_targets_are_named():
    with pytest.raises(ValueError, match="unknown target 'tri'"):
        get_target("tri")
    with pytest.raises(TypeError, match="target must be"):
        get_target(3.0)


def test_ring_of_eight_gaussians_and_the_one_dimensional_skewed_target():
    centers = centers_of("ring8")
    assert centers.shape == (8, 2)
    assert np.allclose(np.hypot(*centers.T), 2.0) and np.allclose(centers.mean(0), 0.0, atol=1e-12)
    x = validation_set("ring8", 8000)
    nearest = np.argmin(((x[:, None] - centers[None]) ** 2).sum(-1), axis=1)
    assert np.all(np.abs(np.bincount(nearest, minlength=8) - 1000) <= 15)  # equal weights, about 1 % overlap
    skew = validation_set("skewed_1d", 20000)
    assert skew.shape == (20000, 1) and stats.skew(skew[:, 0]) > 1.0
