"""Every observable against Strawberry Fields' own state methods (hbar = 2)."""

import numpy as np
import tensorflow as tf

from qgan_lab.sim.circuits import CVCircuit
from qgan_lab.sim.observables import (
    annihilation_expectations,
    fock_probabilities,
    mean_photon_numbers,
    mode_fock_distribution,
    quadrature_expectations,
    state_trace,
)
from qgan_lab.sim.sf_engine import StrawberryFieldsEngine


def sf_state(cutoff=5, strength=0.5, dtype=tf.complex64):
    circuit = CVCircuit(3, 1, cutoff, n_inputs=3)
    weights = {k: tf.constant(v) for k, v in circuit.init_weights(11, 0.8, strength).items()}
    x = tf.constant([[0.8, -0.3, 0.5], [-1.2, 0.9, 0.1]], tf.float32)
    return StrawberryFieldsEngine().run(circuit, weights, x, dtype)


def test_quadratures_photon_numbers_probabilities_and_trace_match_sf():
    state = sf_state()
    ket = state.ket()
    x, p = quadrature_expectations(ket)
    n = mean_photon_numbers(ket)
    for mode in range(3):
        assert np.allclose(x[:, mode], state.quad_expectation(mode, 0.0)[0], atol=1e-5)
        assert np.allclose(p[:, mode], state.quad_expectation(mode, np.pi / 2)[0], atol=1e-5)
        assert np.allclose(n[:, mode], state.mean_photon(mode)[0], atol=1e-5)
    probs = fock_probabilities(ket).numpy()
    for pattern in [(0, 0, 0), (1, 0, 2), (4, 4, 4), (2, 3, 1)]:
        assert np.allclose(probs[(slice(None),) + pattern], state.fock_prob(pattern), atol=1e-6)
    assert np.allclose(state_trace(ket), state.trace(), atol=1e-5)


def test_trace_falls_below_one_when_the_cutoff_is_too_small():
    small = state_trace(sf_state(cutoff=3, strength=0.9).ket()).numpy()
    large = state_trace(sf_state(cutoff=12, strength=0.9).ket()).numpy()
    assert np.all(small < 0.99) and np.all(large > small)


def test_coherent_state_analytic_values():
    # |alpha> with alpha = 0.6 + 0.2i: <x> = 2 Re alpha, <p> = 2 Im alpha, <n> = |alpha|^2
    alpha, c = 0.6 + 0.2j, 25
    from math import factorial

    amps = np.array([np.exp(-(abs(alpha) ** 2) / 2) * alpha**k / np.sqrt(float(factorial(k))) for k in range(c)])
    ket = tf.constant(amps[None], tf.complex128)
    x, p = quadrature_expectations(ket)
    assert np.allclose([x[0, 0], p[0, 0]], [2 * alpha.real, 2 * alpha.imag], atol=1e-10)
    assert np.isclose(mean_photon_numbers(ket)[0, 0], abs(alpha) ** 2, atol=1e-10)
    assert np.isclose(annihilation_expectations(ket)[0, 0], alpha, atol=1e-10)
    assert np.allclose(mode_fock_distribution(ket, 0), np.abs(amps[None]) ** 2)
