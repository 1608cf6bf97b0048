import numpy as np
import tensorflow as tf

from qgan_lab import PureQuantumGenerator
from qgan_lab.lab.troubleshooting import direct_fit, linearity_r2, sliced_wasserstein


def test_linearity_r2_known_answers():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3))
    linear = z @ np.array([[1.0], [2.0], [-1.0]]) + 0.5
    assert np.allclose(linearity_r2(z, linear), 1.0)
    bimodal = np.sign(z[:, :1]) * 2.0
    assert linearity_r2(z, bimodal)[0] < 0.7  # a sign function is far from affine


def test_sliced_wasserstein_of_a_shift():
    a = tf.constant(np.random.default_rng(0).normal(size=(500, 2)), tf.float32)
    directions = tf.constant([[1.0], [0.0]])
    assert abs(float(sliced_wasserstein(a, a + [0.7, 0.0], directions)) - 0.7) < 1e-5


def test_direct_fit_reduces_the_distance():
    g = PureQuantumGenerator(2, 2, 2, 1, 5, seed=0)
    real = np.random.default_rng(1).normal([1.0, -1.0], 0.3, size=(1000, 2)).astype(np.float32)
    losses = direct_fit(g, real, steps=40, batch=64, learning_rate=0.05)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
