"""Homodyne sampling: Hermite functions, the Born density (against Strawberry Fields), the
samples' distribution (KS and chi-squared tests) and their implicit gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import eval_hermite, gammaln

from qgan_lab._compat import import_strawberryfields
from qgan_lab.sim.circuits import GateList, GateSpec, ParamRef
from qgan_lab.sim.fock import FockEngine
from qgan_lab.sim.homodyne import (
    hermite_functions,
    hermite_integrals,
    marginal_cdf,
    quadrature_density,
    quadrature_range,
    sample_homodyne,
)

CUTOFF = 10
ENGINE = FockEngine()
# a two-mode non-Gaussian, entangled state: squeezed, displaced Kerr state on mode 0 mixed
# with a displaced squeezed mode 1 (every parameter below moves the x distributions)
PARAMS = [0.3, 1.1, 0.3, 0.6, 0.4, -0.2, 0.5, -0.2, 0.6, 0.2]
GATES = (
    GateSpec("S", (0,), (ParamRef("w", "g", 0), ParamRef("c", value=0.0))),
    GateSpec("D", (0,), (ParamRef("w", "g", 1), ParamRef("w", "g", 2))),
    GateSpec("K", (0,), (ParamRef("w", "g", 3),)),
    GateSpec("S", (1,), (ParamRef("w", "g", 4), ParamRef("w", "g", 5))),
    GateSpec("D", (1,), (ParamRef("w", "g", 6), ParamRef("w", "g", 7))),
    GateSpec("BS", (0, 1), (ParamRef("w", "g", 8), ParamRef("w", "g", 9))),
)
CIRCUIT = GateList(2, CUTOFF, GATES)


def ket_of(params, batch=1, dtype=tf.complex128):
    return ENGINE.ket(CIRCUIT, {"g": params}, None, dtype, batch_size=batch)


def grid_2d(half=9.0, points=241):
    xs = np.linspace(-half, half, points)
    return xs, np.stack(np.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)


def test_hermite_functions_match_the_closed_form_and_are_orthonormal():
    x = np.linspace(-12, 12, 2401)
    psi = hermite_functions(tf.constant(x), 12).numpy()
    for n in range(12):
        norm = np.exp(-0.25 * np.log(2 * np.pi) - 0.5 * n * np.log(2) - 0.5 * gammaln(n + 1))
        exact = norm * eval_hermite(n, x / np.sqrt(2)) * np.exp(-(x**2) / 4)
        np.testing.assert_allclose(psi[:, n], exact, atol=1e-12)
    gram = psi.T @ psi * (x[1] - x[0])
    np.testing.assert_allclose(gram, np.eye(12), atol=1e-8)
    assert np.isclose(np.sum(x**2 * psi[:, 0] ** 2) * (x[1] - x[0]), 1.0)  # hbar = 2: vacuum variance 1


def test_hermite_integrals_are_the_antiderivatives_of_products():
    x = tf.constant(np.linspace(-7, 7, 57))
    h = 1e-5
    integrals = hermite_integrals(x, CUTOFF).numpy()
    slope = (hermite_integrals(x + h, CUTOFF).numpy() - hermite_integrals(x - h, CUTOFF).numpy()) / (2 * h)
    psi = hermite_functions(x, CUTOFF).numpy()
    np.testing.assert_allclose(slope, psi[:, :, None] * psi[:, None, :], atol=1e-8)
    np.testing.assert_allclose(integrals, np.swapaxes(integrals, 1, 2), atol=1e-14)
    edge = quadrature_range(CUTOFF)
    ends = hermite_integrals(tf.constant([-edge, edge], tf.float64), CUTOFF).numpy()
    np.testing.assert_allclose(ends[0], 0.0, atol=1e-9)
    np.testing.assert_allclose(ends[1], np.eye(CUTOFF), atol=1e-9)


def test_density_matches_strawberry_fields_x_quadrature_distribution():
    sf = import_strawberryfields()
    from strawberryfields import ops

    prog = sf.Program(2)
    p = PARAMS
    with prog.context as q:
        ops.Sgate(p[0], 0.0) | q[0]
        ops.Dgate(p[1], p[2]) | q[0]
        ops.Kgate(p[3]) | q[0]
        ops.Sgate(p[4], p[5]) | q[1]
        ops.Dgate(p[6], p[7]) | q[1]
        ops.BSgate(p[8], p[9]) | (q[0], q[1])
    state = sf.Engine("fock", backend_options={"cutoff_dim": CUTOFF}).run(prog).state
    ket = ket_of(tf.constant(PARAMS, tf.float64))
    np.testing.assert_allclose(ket.numpy()[0], state.ket(), atol=1e-10)
    xvec, pvec = np.linspace(-6, 6, 61), np.linspace(-9, 9, 401)
    trace = float(np.sum(np.abs(state.ket()) ** 2))
    for mode in (0, 1):
        sf_density = state.x_quad_values(mode, xvec, pvec) / trace  # the Wigner function integrated over p
        points = np.zeros((61, 1))
        points[:, 0] = xvec
        ours = quadrature_density(ket, points, modes=[mode]).numpy()[0]
        np.testing.assert_allclose(ours, sf_density, atol=2e-4)
        # and the mean against <x> of the (renormalised) state
        fine = np.linspace(-12, 12, 4001)
        dens = quadrature_density(ket, fine[:, None], modes=[mode]).numpy()[0]
        mean = np.sum(fine * dens) * (fine[1] - fine[0])
        assert mean == pytest.approx(state.quad_expectation(mode)[0] / trace, abs=1e-6)


def test_joint_density_is_normalised_and_its_marginal_matches_the_one_mode_density():
    ket = ket_of(tf.constant(PARAMS, tf.float64))
    xs, points = grid_2d()
    joint = quadrature_density(ket, points).numpy()[0].reshape(len(xs), len(xs))
    dx = xs[1] - xs[0]
    assert joint.sum() * dx * dx == pytest.approx(1.0, abs=1e-8)
    marginal = quadrature_density(ket, xs[:, None], modes=[1]).numpy()[0]
    np.testing.assert_allclose(joint.sum(axis=0) * dx, marginal, atol=1e-9)


def test_one_mode_samples_follow_the_exact_marginal_ks():
    ket = ket_of(tf.constant(PARAMS, tf.float64))
    u = np.random.default_rng(3).uniform(size=(3000, 1))
    samples = sample_homodyne(tf.tile(ket, [3000, 1, 1]), u, modes=[0]).numpy()[:, 0]
    fine = np.linspace(-12, 12, 24001)  # the CDF by quadrature of the density, not from the sampler
    cdf = np.cumsum(quadrature_density(ket, fine[:, None], modes=[0]).numpy()[0]) * (fine[1] - fine[0])
    result = stats.kstest(samples, lambda v: np.interp(v, fine, cdf))
    assert result.pvalue > 0.01, result
    # each sample solves F(x) = u to rounding
    np.testing.assert_allclose(marginal_cdf(ket, samples[:50], mode=0).numpy()[0], u[:50, 0], atol=1e-12)


def test_two_mode_samples_follow_the_joint_density_chi_squared():
    ket = ket_of(tf.constant(PARAMS, tf.float64))
    n = 4000
    u = np.random.default_rng(4).uniform(size=(n, 2))
    samples = sample_homodyne(tf.tile(ket, [n, 1, 1]), u).numpy()
    edges = np.array([-9.0, -1.0, 0.0, 0.8, 1.6, 2.4, 9.0])
    xs, points = grid_2d(9.0, 361)
    joint = quadrature_density(ket, points).numpy()[0].reshape(len(xs), len(xs))
    dx = xs[1] - xs[0]
    cell = np.digitize(xs, edges[1:-1])
    expected = np.zeros((6, 6))
    np.add.at(expected, (cell[:, None], cell[None, :]), joint * dx * dx)
    observed, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=[edges, edges])
    keep = expected.ravel() * n > 5
    assert keep.sum() >= 15
    obs, exp = observed.ravel()[keep], expected.ravel()[keep] * n
    exp *= obs.sum() / exp.sum()
    assert stats.chisquare(obs, exp).pvalue > 0.01


def _expectation_on_grid(params, f):
    """``E[f(x0, x1)]`` of the state, exactly (a fine 2-D quadrature of the Born density)."""
    xs, points = grid_2d(9.0, 181)
    dens = quadrature_density(ket_of(tf.constant(params, tf.float64)), points).numpy()[0]
    return float(np.sum(f(points[:, 0], points[:, 1]) * dens) * (xs[1] - xs[0]) ** 2)


def test_sample_gradients_match_finite_differences_per_sample_and_in_expectation():
    n = 4096
    u = stats.qmc.Sobol(2, seed=5).random(n)  # common random numbers, low variance
    params = tf.Variable(PARAMS, dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        x = sample_homodyne(ket_of(params, n), u)
        mean_f = tf.reduce_mean(tf.sin(x[:, 0]) + 0.3 * x[:, 0] * x[:, 1])
        picked = [x[i, j] for j in range(2) for i in range(6)]
    jacobian = np.stack([tape.gradient(value, params).numpy() for value in picked])
    grad_f = tape.gradient(mean_f, params).numpy()
    # 1) each sample x(theta) = F^{-1}(u; theta) at fixed u, by central differences (the
    #    second mode's sample moves through the first one's too)
    h = 1e-5
    for k in range(len(PARAMS)):
        plus, minus = np.array(PARAMS), np.array(PARAMS)
        plus[k] += h
        minus[k] -= h
        xp = sample_homodyne(ket_of(tf.constant(plus), 6), u[:6]).numpy()
        xm = sample_homodyne(ket_of(tf.constant(minus), 6), u[:6]).numpy()
        fd = ((xp - xm) / (2 * h)).T.ravel()
        np.testing.assert_allclose(jacobian[:, k], fd, atol=1e-6, rtol=1e-5)

    # 2) the gradient of E[f(x)] against central differences of the exact expectation
    def f(a, b):
        return np.sin(a) + 0.3 * a * b

    h = 1e-4
    exact = []
    for k in (1, 3, 6, 8):  # displacement, Kerr, displacement of mode 1, beamsplitter
        plus, minus = np.array(PARAMS), np.array(PARAMS)
        plus[k] += h
        minus[k] -= h
        exact.append((_expectation_on_grid(plus, f) - _expectation_on_grid(minus, f)) / (2 * h))
    # measured: the estimate converges to the exact values (about 3 % off at 1024 samples, 1 % at 16384)
    np.testing.assert_allclose(grad_f[[1, 3, 6, 8]], exact, atol=0.05 * np.abs(exact).max())
    assert mean_f.numpy() == pytest.approx(_expectation_on_grid(PARAMS, f), abs=0.005)


@pytest.mark.parametrize("dtype", [tf.complex64, tf.complex128])
def test_shapes_dtypes_one_sample_and_no_nan_gradient_at_extreme_uniforms(dtype):
    ket = tf.Variable(ket_of(tf.constant(PARAMS, tf.float64), 4, dtype))
    u = np.array([[0.0, 1.0], [1.0, 0.0], [1e-12, 1 - 1e-12], [0.5, 0.5]])

    def run(u):
        with tf.GradientTape() as tape:
            x = sample_homodyne(ket, u)
            loss = tf.reduce_sum(x**2)
        return x, tape.gradient(loss, ket)

    if dtype == tf.complex64:  # float32, compiled: the case where tail gradients used to blow up
        run = tf.function(run, jit_compile=True)
    x, grad = run(tf.constant(u, dtype.real_dtype))
    assert x.shape == (4, 2) and x.dtype == dtype.real_dtype
    assert np.all(np.isfinite(x.numpy())) and np.all(np.isfinite(grad.numpy()))
    assert np.abs(x.numpy()).max() < quadrature_range(CUTOFF)
    assert x.numpy()[0, 0] < -2 and x.numpy()[1, 0] > 2  # u -> 0 and 1 reach the tails
    assert grad.dtype == dtype and np.abs(grad.numpy()).max() > 0
    one = sample_homodyne(ket[:1], [[0.5]], modes=[1])
    assert one.shape == (1, 1)


def test_three_modes_measured_out_of_order_with_one_traced_out():
    cutoff = 6
    gates = (
        GateSpec("D", (0,), (ParamRef("c", value=0.8), ParamRef("c", value=0.0))),
        GateSpec("K", (0,), (ParamRef("c", value=0.5),)),
        GateSpec("BS", (0, 1), (ParamRef("c", value=0.7), ParamRef("c", value=0.1))),
        GateSpec("BS", (1, 2), (ParamRef("c", value=0.5), ParamRef("c", value=0.0))),
    )
    ket = ENGINE.ket(GateList(3, cutoff, gates), {}, None, tf.complex128)
    x = sample_homodyne(tf.tile(ket, [5, 1, 1, 1]), np.full((5, 2), 0.3), modes=[2, 0])
    assert x.shape == (5, 2)
    # the first measured mode (2) solves its own marginal CDF
    np.testing.assert_allclose(marginal_cdf(ket, x[:, 0], mode=2).numpy()[0], 0.3, atol=1e-12)


def test_bad_input_is_refused_with_clear_errors():
    ket = ket_of(tf.constant(PARAMS, tf.float64))
    with pytest.raises(ValueError, match="uniforms"):
        sample_homodyne(ket, [[0.5]])
    with pytest.raises(ValueError, match="modes"):
        sample_homodyne(ket, [[0.5]], modes=[2])
    with pytest.raises(ValueError, match="modes"):
        sample_homodyne(ket, [[0.5, 0.5]], modes=[0, 0])
    with pytest.raises(TypeError, match="complex"):
        sample_homodyne(tf.math.real(ket), [[0.5, 0.5]])
    with pytest.raises(ValueError, match="x must"):
        quadrature_density(ket, np.zeros((3, 3)))
    assert math.isfinite(quadrature_range(CUTOFF))
