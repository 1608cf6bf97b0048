"""The compiled engine against Strawberry Fields' TF backend, gate by gate and whole circuits."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import rel_err

from qgan_lab.sim import fock, gates, layout
from qgan_lab.sim.circuits import CVCircuit, GateList, GateSpec, ParamRef
from qgan_lab.sim.fock import FockEngine, flop_estimate
from qgan_lab.sim.gates import beamsplitter_matrix, displacement_matrix, kerr_matrix, rotation_matrix, squeezing_matrix
from qgan_lab.sim.layout import skew, unskew
from qgan_lab.sim.observables import quadrature_expectations
from qgan_lab.sim.sf_engine import StrawberryFieldsEngine

C128 = tf.complex128
CUTOFF = 5
# parameters of the gate under test: generic, zero, negative
GATE_PARAMS = {
    "D": [(0.3, 0.7), (0.0, 0.0), (-0.45, -1.2)],
    "S": [(0.2, 0.4), (0.0, 0.0), (-0.3, -2.0)],
    "BS": [(0.6, 0.3), (0.0, 0.0), (-0.9, -0.5)],
    "R": [(0.8,), (0.0,), (-1.1,)],
    "K": [(0.15,), (0.0,), (-0.2,)],
}


def w(index):
    return ParamRef("w", "g", index)


def prepared(gate: GateSpec, batched_from_inputs: bool = False) -> GateList:
    """Two modes prepared in a non-trivial state (so every Fock level is populated), then ``gate``."""
    prep = (
        GateSpec("D", (0,), (ParamRef("w", "prep", 0), ParamRef("w", "prep", 1))),
        GateSpec("S", (1,), (ParamRef("w", "prep", 2), ParamRef("w", "prep", 3))),
        GateSpec("D", (1,), (ParamRef("w", "prep", 4), ParamRef("w", "prep", 5))),
        GateSpec("BS", (0, 1), (ParamRef("w", "prep", 6), ParamRef("w", "prep", 7))),
    )
    if batched_from_inputs:  # the gate's first parameter comes from a per-sample input
        gate = GateSpec(gate.name, gate.modes, (ParamRef("x", index=0),) + gate.params[1:])
    return GateList(2, CUTOFF, prep + (gate,))


def weights_for(params):
    return {
        "prep": tf.Variable([0.5, 0.3, 0.25, 0.8, -0.4, 1.1, 0.7, -0.3], dtype=tf.float64),
        "g": tf.Variable(params, dtype=tf.float64),
    }


def functional(ket):
    """A real function of the state that depends on amplitudes and phases."""
    x, p = quadrature_expectations(ket)
    probs = tf.math.real(ket * tf.math.conj(ket))
    ramp = tf.reshape(tf.range(CUTOFF**2, dtype=tf.float64), [CUTOFF, CUTOFF])
    return tf.reduce_sum(x * [1.0, -0.7]) + tf.reduce_sum(p * [0.3, 0.9]) + tf.reduce_sum(probs * ramp)


def ket_and_grads(engine, circuit, weights, inputs=None):
    with tf.GradientTape() as tape:
        ket = engine.ket(circuit, weights, inputs, C128, batch_size=1)
        value = functional(ket)
    return ket.numpy(), [g.numpy() for g in tape.gradient(value, list(weights.values()))]


@pytest.mark.parametrize("name", list(GATE_PARAMS))
def test_gate_state_and_gradients_match_strawberry_fields(name):
    modes = (0, 1) if name == "BS" else (1,)
    for params in GATE_PARAMS[name]:
        gate = GateSpec(name, modes, tuple(w(i) for i in range(len(params))))
        circuit = prepared(gate)
        weights = weights_for(params)
        ket_f, grads_f = ket_and_grads(FockEngine(), circuit, weights)
        ket_s, grads_s = ket_and_grads(StrawberryFieldsEngine(), circuit, weights)
        assert np.max(np.abs(ket_f - ket_s)) < 1e-5, (name, params)
        for gf, gs in zip(grads_f, grads_s):
            assert np.all(np.isfinite(gf)), (name, params)
            assert np.max(np.abs(gf - gs)) <= 1e-4 * max(1.0, np.max(np.abs(gs))), (name, params)


@pytest.mark.parametrize("name", list(GATE_PARAMS))
def test_batched_gate_parameters_match_strawberry_fields(name):
    modes = (0, 1) if name == "BS" else (1,)
    params = GATE_PARAMS[name][0]
    gate = GateSpec(name, modes, tuple(w(i) for i in range(len(params))))
    circuit = prepared(gate, batched_from_inputs=True)
    inputs = tf.constant([[0.4], [0.0], [-0.7]], dtype=tf.float64)  # 3 samples, 3 gate strengths
    weights = weights_for(params)
    ket_f = FockEngine().ket(circuit, weights, inputs, C128).numpy()
    ket_s = StrawberryFieldsEngine().ket(circuit, weights, inputs, C128).numpy()
    assert ket_f.shape == (3, CUTOFF, CUTOFF)
    assert np.max(np.abs(ket_f - ket_s)) < 1e-5


def test_unbatched_strawberry_fields_run_agrees():
    """Against SF without batch_size (its plain single-state mode)."""
    from qgan_lab._compat import import_strawberryfields

    sf = import_strawberryfields()
    circuit = CVCircuit(3, 1, 5)
    weights = {k: tf.constant(v) for k, v in circuit.init_weights(3, 0.7, 0.3).items()}
    eng = sf.Engine("tf", backend_options={"cutoff_dim": 5, "dtype": C128})
    args = {k: tf.constant(v) for k, v in circuit.program_args(weights).items()}
    ket_s = eng.run(circuit.to_program(), args=args).state.ket().numpy()
    ket_f = FockEngine().ket(circuit, weights, None, C128, batch_size=1).numpy()[0]
    assert np.max(np.abs(ket_f - ket_s)) < 1e-5


def test_matrices_match_thewalrus_recurrences():
    from thewalrus.fock_gradients import beamsplitter, displacement, squeezing

    for a, b in [(0.3, 0.7), (-0.8, 2.5), (0.0, 0.0)]:
        for ours, ref in [
            (displacement_matrix, displacement),
            (squeezing_matrix, squeezing),
            (beamsplitter_matrix, beamsplitter),
        ]:
            got = ours(tf.constant(a, tf.float64), tf.constant(b, tf.float64), 7, C128).numpy()
            assert np.max(np.abs(got - ref(a, b, 7))) < 1e-12


@pytest.mark.parametrize("dtype", [tf.complex64, C128])
def test_every_gate_is_accurate_at_the_largest_cutoff_and_amplitude_in_both_dtypes(dtype):
    """Cutoff 15, |alpha| = 2, r = 1: the complex64 matrices are built in double, then cast."""
    from thewalrus.fock_gradients import beamsplitter, displacement, squeezing

    c = 15
    tolerance = 1e-6 if dtype == tf.complex64 else 1e-10
    real = dtype.real_dtype
    cases = [
        (displacement_matrix, displacement, (2.0, 0.7)),
        (squeezing_matrix, squeezing, (1.0, -0.4)),
        (beamsplitter_matrix, beamsplitter, (0.9, 0.3)),
    ]
    for ours, ref, (a, b) in cases:
        got = ours(tf.constant(a, real), tf.constant(b, real), c, dtype)
        assert got.dtype == dtype
        assert np.max(np.abs(got.numpy() - ref(a, b, c))) < tolerance, ours.__name__
    n = np.arange(c)
    np.testing.assert_allclose(
        np.diag(rotation_matrix(tf.constant(0.8, tf.float64), c, dtype).numpy()), np.exp(0.8j * n), atol=tolerance
    )
    np.testing.assert_allclose(
        np.diag(kerr_matrix(tf.constant(0.3, tf.float64), c, dtype).numpy()), np.exp(0.3j * n**2), atol=tolerance
    )


@pytest.mark.parametrize("cutoff", [2, 6, gates.BS_POLYNOMIAL_MAX_CUTOFF])
def test_polynomial_and_recurrence_beamsplitters_agree_with_their_gradients(cutoff):
    """The two constructions (polynomial up to BS_POLYNOMIAL_MAX_CUTOFF, recurrence above) are
    the same matrix for batched parameters (theta = pi/2 included), and so are the gradients."""
    theta = tf.Variable([[0.3, -1.2], [np.pi / 2, 2.9]], dtype=tf.float64)
    phi = tf.Variable([[0.7, -2.5], [0.4, 0.0]], dtype=tf.float64)
    rng = np.random.default_rng(3)
    probe = tf.constant(rng.normal(size=(cutoff,) * 4) + 1j * rng.normal(size=(cutoff,) * 4), C128)
    results = []
    for build in (gates._beamsplitter_polynomial, gates._beamsplitter_recurrence):
        with tf.GradientTape() as tape:
            matrix = build(theta, phi, cutoff, C128)
            loss = tf.reduce_sum(tf.math.real(matrix * probe))
        results.append((matrix.numpy(), [g.numpy() for g in tape.gradient(loss, [theta, phi])]))
    (poly, poly_grads), (rec, rec_grads) = results
    assert poly.shape == (2, 2) + (cutoff,) * 4
    assert np.max(np.abs(poly - rec)) < 1e-12
    for a, b in zip(poly_grads, rec_grads):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_displacement_and_squeezing_derivatives_at_zero_are_their_generators():
    """Built from powers by repeated products, the gradient is finite at r = 0 and exact:
    dD/dr = a^dagger - a and dS/dr = (a^2 - a^dagger^2) / 2 there."""
    c = 6
    a = np.diag(np.sqrt(np.arange(1, c)), 1)
    r = tf.Variable(0.0, dtype=tf.float64)
    for build, generator in ((displacement_matrix, a.T - a), (squeezing_matrix, (a @ a - a.T @ a.T) / 2)):
        with tf.GradientTape(persistent=True) as tape:
            matrix = build(r, tf.constant(0.0, tf.float64), c, C128)
            real, imag = tf.math.real(matrix), tf.math.imag(matrix)
        np.testing.assert_allclose(tape.jacobian(real, r).numpy(), generator, atol=1e-12)
        np.testing.assert_allclose(tape.jacobian(imag, r).numpy(), 0.0, atol=1e-12)


def test_truncated_matrices_are_not_expm_of_truncated_generators():
    """Exact truncation differs from expm(truncated generator): we must match the former."""
    from scipy.linalg import expm

    c, r = 4, 0.6
    a = np.diag(np.sqrt(np.arange(1, c)), 1)
    naive = expm(r * (a.T - a))
    exact = displacement_matrix(tf.constant(r, tf.float64), tf.constant(0.0, tf.float64), c, C128).numpy()
    assert np.max(np.abs(naive - exact)) > 1e-3


def test_skew_round_trip_groups_by_photon_number():
    c = 4
    pairs = np.arange(2 * c * c, dtype=np.float64).reshape(2, c, c, 1) + 1
    skewed = skew(tf.constant(pairs)).numpy()
    for p in range(c):
        for total in range(2 * c - 1):
            q = total - p
            expected = pairs[:, p, q, 0] if 0 <= q < c else 0.0
            assert np.all(skewed[:, p, total, 0] == expected)
    assert np.array_equal(unskew(tf.constant(skewed)).numpy(), pairs)


@pytest.mark.parametrize("reupload", [False, True])
def test_whole_circuit_and_gradients_match_sf_including_second_order(reupload):
    circuit = CVCircuit(2, 2, 5, n_inputs=2, reupload=reupload)
    init = circuit.init_weights(7, 0.4, 0.2)
    x = tf.constant([[0.3, -0.5], [1.0, 0.2]], dtype=tf.float64)

    def run(engine):
        weights = {k: tf.Variable(v) for k, v in init.items()}
        inputs = tf.Variable(x)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                xq, _ = quadrature_expectations(engine.ket(circuit, weights, inputs, C128))
                score = tf.reduce_sum(xq)
            grad_x = inner.gradient(score, inputs)
            penalty = tf.reduce_sum(grad_x**2)
        second = outer.gradient(penalty, list(weights.values()))
        return xq.numpy(), grad_x.numpy(), [g.numpy() for g in second]

    xf, gxf, secf = run(FockEngine())
    xs, gxs, secs = run(StrawberryFieldsEngine())
    assert np.max(np.abs(xf - xs)) < 1e-6
    assert rel_err(gxf, gxs) < 1e-6
    assert rel_err(np.concatenate([s.ravel() for s in secf]), np.concatenate([s.ravel() for s in secs])) < 1e-4


def test_memory_limit_names_the_memory_needed():
    engine = FockEngine()
    big = CVCircuit(6, 2, 15)
    with pytest.raises(ValueError, match=r"GiB"):
        engine.check_memory(big, 16)
    engine.check_memory(CVCircuit(2, 2, 15), 16)  # 2 modes at cutoff 15: fine
    engine.check_memory(CVCircuit(4, 2, 8), 16)  # 4 modes at cutoff 8: fine


def test_larger_sizes_run():
    for circuit in (CVCircuit(2, 1, 15, n_inputs=2), CVCircuit(4, 1, 8, n_inputs=4)):
        weights = {k: tf.constant(v, tf.float32) for k, v in circuit.init_weights(0).items()}
        x = tf.random.normal([4, circuit.n_inputs])
        ket = FockEngine().ket(circuit, weights, x)
        assert ket.shape == (4,) + (circuit.cutoff_dim,) * circuit.n_modes
        assert np.all(np.isfinite(ket.numpy()))


def test_flop_estimate_grows_with_size():
    assert flop_estimate(CVCircuit(4, 2, 6), 16) > flop_estimate(CVCircuit(2, 2, 6), 16) > 0
    # single-mode passes counted only where they are not folded into beamsplitters
    beamsplitters_only = {c: 8.0 * 4 * 16 * c**4 for c in (6, 10)}  # 4 beamsplitters on 2 modes
    assert layout.folds_gates(6, 2, 16) and flop_estimate(CVCircuit(2, 2, 6), 16) == beamsplitters_only[6]
    assert not layout.folds_gates(10, 2, 16) and flop_estimate(CVCircuit(2, 2, 10), 16) > beamsplitters_only[10]
    # 2 modes fold up to c^2 < 4 B, other sizes up to c^(4 - M) < B
    assert layout.folds_gates(10, 2, 26) and not layout.folds_gates(10, 2, 25)
    assert layout.folds_gates(4, 3, 5) and not layout.folds_gates(4, 3, 4) and not layout.folds_gates(4, 2, None)


def test_blocked_and_dense_two_mode_gates_agree_including_per_sample_beamsplitters():
    circuit = CVCircuit(3, 1, 5, n_inputs=3)
    weights = {k: tf.constant(v) for k, v in circuit.init_weights(1, 0.8, 0.3).items()}
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 3)))
    dense = FockEngine(two_mode="dense").ket(circuit, weights, x, C128).numpy()
    blocked = FockEngine(two_mode="blocked").ket(circuit, weights, x, C128).numpy()
    assert np.max(np.abs(dense - blocked)) < 1e-12
    gate = GateSpec("BS", (0, 1), (w(0), w(1)))
    per_sample = prepared(gate, batched_from_inputs=True)
    inputs = tf.constant([[0.4], [-0.7]], dtype=tf.float64)
    kets = [
        FockEngine(two_mode=m).ket(per_sample, weights_for((0.6, 0.3)), inputs, C128).numpy()
        for m in ("dense", "blocked")
    ]
    assert np.max(np.abs(kets[0] - kets[1])) < 1e-12
    with pytest.raises(ValueError, match="two_mode"):
        FockEngine(two_mode="sparse")


def test_flop_estimate_counts_fewer_multiplications_for_blocked_gates():
    circuit = CVCircuit(4, 2, 6)
    assert flop_estimate(circuit, 16, "dense") > 2 * flop_estimate(circuit, 16, "blocked")


@pytest.mark.parametrize("real_from_rows", [1, 10**9])  # real form, complex
def test_two_mode_gates_on_axes_left_in_any_order_match_the_plain_einsum(monkeypatch, real_from_rows):
    """apply_two_mode_last moves a gate's modes last and leaves them there; undoing the order
    at the end gives the plain einsum's state, for shared, per-sample and repeated pairs, with
    the state in real form (product_form) or complex."""
    monkeypatch.setattr(layout, "REAL_FORM_MIN_ROWS", real_from_rows)
    c, batch = 3, 2
    rng = np.random.default_rng(7)
    state = tf.constant(rng.normal(size=(batch, c, c, c)) + 1j * rng.normal(size=(batch, c, c, c)), tf.complex128)
    plain, moved, order, forms = state, state, [0, 1, 2], set()
    for modes, per_sample in (((0, 1), False), ((2, 0), False), ((2, 0), False), ((1, 2), True), ((0, 2), False)):
        shape = (batch, c, c, c, c) if per_sample else (c, c, c, c)
        gate = tf.constant(rng.normal(size=shape) + 1j * rng.normal(size=shape), tf.complex128)
        plain = layout.apply_two_mode_dense(plain, gate, modes)
        moved = layout.product_form(moved, gate, 3, batch)
        forms.add(moved.dtype.is_floating)
        moved, order = layout.apply_two_mode_last(moved, gate, order, modes)
    assert forms == ({True, False} if real_from_rows == 1 else {False})  # per-sample gates: complex
    assert order != [0, 1, 2]  # the axes were left permuted
    restored = tf.transpose(layout.complex_form(moved), [0] + [order.index(m) + 1 for m in range(3)])
    assert rel_err(restored, plain) < 1e-12


def test_a_per_sample_gate_works_on_the_complex_form_of_a_real_form_state():
    rng = np.random.default_rng(12)
    shape = (2, 3, 3, 3)
    state = tf.constant(rng.normal(size=shape) + 1j * rng.normal(size=shape), tf.complex128)
    for modes in ((0, 1), (2, 0)):
        gate = tf.constant(rng.normal(size=(2, 3, 3, 3, 3)) + 1j * rng.normal(size=(2, 3, 3, 3, 3)), tf.complex128)
        out, order = layout.apply_two_mode_last(layout.to_real(state), gate, [0, 1, 2], modes)
        assert order == [0, 1, 2] and rel_err(out, layout.apply_two_mode_dense(state, gate, modes)) < 1e-12


@pytest.mark.parametrize("dtype", [tf.complex64, C128])
def test_real_matrix_on_real_form_rows_is_the_complex_product_with_its_gradients(dtype):
    """to_real(rows) @ real_matrix(matrix)^T is to_real(rows @ matrix^T), with the same
    gradients with respect to both factors as the complex matmul."""
    rng = np.random.default_rng(5)
    rows = tf.constant(rng.normal(size=(7, 9)) + 1j * rng.normal(size=(7, 9)), dtype)
    matrix = tf.constant(rng.normal(size=(9, 9)) + 1j * rng.normal(size=(9, 9)), dtype)
    weights = tf.constant(rng.normal(size=(7, 9)), dtype.real_dtype)

    def real_form(a, b):
        out = tf.matmul(tf.reshape(layout.to_real(a), [7, 18]), layout.real_matrix(b), transpose_b=True)
        return layout.to_complex(tf.reshape(out, [7, 9, 2]))

    results = []
    for product in (real_form, lambda a, b: tf.matmul(a, b, transpose_b=True)):
        with tf.GradientTape() as tape:
            tape.watch([rows, matrix])
            out = product(rows, matrix)
            value = tf.reduce_sum(weights * tf.math.real(out) + weights**2 * tf.math.imag(out))
        results.append((out.numpy(), *(g.numpy() for g in tape.gradient(value, [rows, matrix]))))
    tol = 1e-5 if dtype == tf.complex64 else 1e-12
    for real, complex_ in zip(*results):
        assert rel_err(real, complex_) < tol


def test_transposes_of_real_form_states_keep_the_pair_axis_last():
    """layout._transpose of a state in real form is tf.transpose with the (re, im) axis kept last,
    for every order of 4 modes: rotations (done as planes stacked back) and the others."""
    import itertools

    rng = np.random.default_rng(8)
    state = tf.constant(rng.normal(size=(2, 2, 3, 4, 5, 2)))
    rotations = 0
    for perm in itertools.permutations(range(1, 5)):
        perm = [0, *perm]
        start = next((k for k, axis in enumerate(perm) if axis != k), None)
        if start is None:
            continue
        rest = perm[start:]
        rotations += any(rest == sorted(rest)[k:] + sorted(rest)[:k] for k in range(1, len(rest)))
        expected = tf.transpose(state, perm + [5])
        assert np.array_equal(layout._transpose(state, perm, True).numpy(), expected.numpy()), perm
        assert np.array_equal(layout._transpose(state[..., 0], perm, False).numpy(), expected[..., 0].numpy())
    assert rotations >= 6  # both branches ran
    assert np.array_equal(layout._transpose(state, [0, 1, 2, 3, 4], True).numpy(), state.numpy())  # identity


@pytest.mark.parametrize("dtype", [tf.float64, C128])
def test_sparse_product_is_the_dense_product_to_second_order(dtype):
    """gates._sparse_product(table) gives x @ table, and the gradients of first and second order
    of a nonlinear function of it (as the gradient penalty needs) equal the dense product's;
    the beamsplitter and ladder tables' products equal their einsums."""
    rng = np.random.default_rng(9)
    table = rng.normal(size=(7, 5)) * (rng.uniform(size=(7, 5)) < 0.3)
    table[:, 2] = 0.0  # an empty column
    x = tf.constant(rng.normal(size=(3, 7)) + (1j * rng.normal(size=(3, 7)) if dtype.is_complex else 0), dtype)
    apply = gates._sparse_product(table)[0]
    results = []
    for product in (apply, lambda v: tf.matmul(v, tf.constant(table, dtype))):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                out = product(x)
                value = tf.reduce_sum(tf.abs(tf.sin(out)) ** 2)
            grad = inner.gradient(value, x)
            second = tf.reduce_sum(tf.abs(grad * tf.cos(x)) ** 2)
        results.append((out.numpy(), grad.numpy(), outer.gradient(second, x).numpy()))
    for sparse, dense in zip(*results):
        assert rel_err(sparse, dense) < 1e-12
    monomials = tf.constant(rng.normal(size=(2, 121)))
    coef = gates._beamsplitter_tables(6)[0]
    assert rel_err(gates._beamsplitter_product(6)[0](monomials), monomials.numpy() @ coef) < 1e-12
    powers = tf.constant(rng.normal(size=(4, 3)))
    ladder = gates._ladder_table(6, 2)
    flat = gates._ladder_product(6, 2)[0](powers).numpy()
    assert rel_err(flat, np.einsum("bj,jmk->bmk", powers.numpy(), ladder).reshape(4, 36)) < 1e-12


def phase_sensitive_sum(ket: tf.Tensor, batch: int) -> tf.Tensor:
    """A real function of every amplitude of ``ket`` that depends on their phases too."""
    flat = tf.reshape(ket, [batch, -1])
    ramp = tf.range(flat.shape[1], dtype=flat.dtype.real_dtype)
    return tf.reduce_sum(tf.math.real(flat) * ramp + tf.math.imag(flat) * ramp**0.5)


def assert_dense_matches_blocked(circuit, params, inputs) -> np.ndarray:
    """The dense engine (folds, pairs) gives the blocked engine's ket (which does neither) and
    the same gradient of a phase-sensitive function of it, with respect to the weights
    ``{"g": params}``; returns the blocked engine's ket."""
    results = []
    for engine in (FockEngine(), FockEngine(two_mode="blocked")):
        with tf.GradientTape() as tape:
            ket = engine.ket(circuit, {"g": params}, inputs, C128)
            value = phase_sensitive_sum(ket, inputs.shape[0])
        results.append((ket.numpy(), tape.gradient(value, params).numpy()))
    (ket_a, grad_a), (ket_b, grad_b) = results
    assert np.max(np.abs(ket_a - ket_b)) < 1e-12 and rel_err(grad_a, grad_b) < 1e-10
    return ket_b


def test_shared_single_mode_gates_are_folded_into_beamsplitters_with_the_same_state(monkeypatch):
    """Dense beamsplitters absorb the shared single-mode gates before them and, after a mode's
    last beamsplitter, the ones after it; per-sample gates (and gates around per-sample
    beamsplitters) are still applied to the state. Same ket and gradients as the blocked engine,
    which folds nothing."""
    passes = []
    original = layout.apply_single_mode
    monkeypatch.setattr(fock, "apply_single_mode", lambda *a: passes.append(1) or original(*a))
    guide = CVCircuit(4, 2, 4, n_inputs=4)  # the guide's layout (no re-uploading), small cutoff
    weights = {k: tf.constant(v) for k, v in guide.init_weights(3, 0.5, 0.2).items()}
    z = tf.constant(np.random.default_rng(1).normal(size=(3, 4)))
    folded = FockEngine().ket(guide, weights, z, C128).numpy()
    assert not passes  # every single-mode gate folded (or in the initial product state)
    unfolded = FockEngine(two_mode="blocked").ket(guide, weights, z, C128).numpy()
    assert passes and np.max(np.abs(folded - unfolded)) < 1e-12
    x0 = ParamRef("x", index=0)
    gates = (
        GateSpec("D", (0,), (w(0), w(1))),
        GateSpec("BS", (0, 1), (w(2), w(3))),
        GateSpec("S", (0,), (w(4), w(5))),  # pending before a per-sample beamsplitter: applied
        GateSpec("K", (1,), (w(6),)),  # folded into the beamsplitter of (1, 2)
        GateSpec("BS", (1, 2), (w(7), w(8))),
        GateSpec("BS", (0, 1), (x0, w(9))),  # per sample: mode 0's and 1's last beamsplitter
        GateSpec("R", (0,), (w(10),)),  # after a per-sample last beamsplitter: applied
        GateSpec("D", (2,), (x0, w(11))),  # per sample after mode 2's last beamsplitter: applied
        GateSpec("S", (2,), (w(12), w(13))),
    )
    circuit = GateList(3, 4, gates)
    params = tf.Variable(np.random.default_rng(2).uniform(-0.6, 0.6, 14))
    inputs = tf.constant([[0.3], [-0.8], [0.1], [1.2], [-0.4]], dtype=tf.float64)  # 5 > c^(4-M): folded
    assert_dense_matches_blocked(circuit, params, inputs)
    # where a pass over the state is cheaper than a fold (2 modes, batch 3 <= c^2), nothing folds
    passes.clear()
    FockEngine().ket(
        CVCircuit(2, 1, 4, n_inputs=2),
        {k: tf.constant(v) for k, v in CVCircuit(2, 1, 4).init_weights(0).items()},
        z[:, :2],
        C128,
    )
    assert len(passes) > 0


def test_states_in_real_form_give_the_complex_kets_and_gradients(monkeypatch):
    """The state kept in real form through the shared beamsplitters (product_form; back to
    complex for per-sample gates, re-uploaded displacements and the end) gives the ket and the
    gradients, first and second order (as the gradient penalty needs), of the engine that stays
    complex: the guide's layout in complex128 and complex64, a re-uploading circuit and a
    hand-written circuit with per-sample gates between shared ones."""
    x0 = ParamRef("x", index=0)
    gates = (
        GateSpec("BS", (0, 1), (w(0), w(1))),
        GateSpec("D", (1,), (x0, w(2))),  # per sample between two shared beamsplitters
        GateSpec("BS", (1, 2), (w(3), w(4))),
        GateSpec("BS", (2, 0), (x0, w(5))),  # per sample
        GateSpec("S", (2,), (w(6), w(7))),
        GateSpec("BS", (0, 2), (w(8), w(9))),
    )
    circuits = [
        (CVCircuit(4, 2, 4, n_inputs=4), 4, C128),
        (CVCircuit(4, 2, 4, n_inputs=4), 4, tf.complex64),
        (CVCircuit(3, 2, 4, n_inputs=3, reupload=True), 3, C128),
        (GateList(3, 4, gates), 1, C128),
    ]
    converted = []
    original = layout.to_real
    monkeypatch.setattr(layout, "to_real", lambda s: converted.append(1) or original(s))
    rng = np.random.default_rng(11)
    for circuit, n_inputs, dtype in circuits:
        real = dtype.real_dtype
        if isinstance(circuit, CVCircuit):
            weights = {k: tf.Variable(v, dtype=real) for k, v in circuit.init_weights(5, 0.5, 0.2).items()}
        else:
            weights = {"g": tf.Variable(rng.uniform(-0.7, 0.7, 10), dtype=real)}
        inputs = tf.constant(rng.normal(size=(3, n_inputs)), real)
        results = []
        for real_from_rows in (1, 10**9):
            monkeypatch.setattr(layout, "REAL_FORM_MIN_ROWS", real_from_rows)
            converted.clear()
            # a gradient-penalty-like value: the weights' gradient of a norm of the input gradient
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    inner.watch(inputs)
                    ket = FockEngine().ket(circuit, weights, inputs, dtype)
                    value = phase_sensitive_sum(ket, 3)
                penalty = tf.reduce_sum(inner.gradient(value, inputs) ** 2)
            grads = outer.gradient([value, penalty], list(weights.values()))
            results.append((ket.numpy(), np.concatenate([g.numpy().ravel() for g in grads])))
            assert bool(converted) == (real_from_rows == 1)
        (ket_real, grad_real), (ket_complex, grad_complex) = results
        tol = 1e-5 if dtype == tf.complex64 else 1e-10
        assert np.max(np.abs(ket_real - ket_complex)) < tol and rel_err(grad_real, grad_complex) < tol


@pytest.mark.parametrize(("cutoff", "reupload", "folds"), [(4, False, True), (4, True, True), (10, False, False)])
def test_a_folded_two_mode_circuit_in_real_form_gives_the_blocked_engines_ket_and_gradients(
    monkeypatch, cutoff, reupload, folds
):
    """A 2-mode circuit that folds (batch 16, cutoff 4: c^2 < 4 B) keeps its state in real form
    from FOLDED_TWO_MODE_REAL_ROWS rows on, also with re-uploaded (per-sample) displacements
    between its layers (as ``bimodal``'s critic): the same ket and first- and second-order
    gradients (a gradient-penalty-like value) as the blocked engine, which neither folds nor
    converts. At cutoff 10 it does not fold, and stays complex."""
    circuit = CVCircuit(2, 2, cutoff, n_inputs=2, reupload=reupload)
    assert layout.folds_gates(cutoff, 2, 16) == folds and 16 >= layout.FOLDED_TWO_MODE_REAL_ROWS
    assert layout.real_form_min_rows(2, folds) == (16 if folds else layout.REAL_FORM_MIN_ROWS)
    assert layout.real_form_min_rows(4, True) == layout.REAL_FORM_MIN_ROWS  # (the paired states' rule too)
    weights = {k: tf.Variable(v, dtype=tf.float64) for k, v in circuit.init_weights(3, 0.5, 0.2).items()}
    inputs = tf.constant(np.random.default_rng(4).normal(size=(16, 2)) * 0.5, tf.float64)
    converted = []
    original = layout.to_real
    monkeypatch.setattr(layout, "to_real", lambda s: converted.append(1) or original(s))
    results = []
    for engine in (FockEngine(), FockEngine(two_mode="blocked")):
        converted.clear()
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(inputs)
                ket = engine.ket(circuit, weights, inputs, C128)
                value = phase_sensitive_sum(ket, 16)
            penalty = tf.reduce_sum(inner.gradient(value, inputs) ** 2)
        grads = outer.gradient([value, penalty], list(weights.values()))
        results.append((ket.numpy(), np.concatenate([g.numpy().ravel() for g in grads]), bool(converted)))
    (ket_dense, grad_dense, real), (ket_blocked, grad_blocked, _) = results
    assert real == folds  # the dense engine took the real form where it folds, only there
    assert np.max(np.abs(ket_dense - ket_blocked)) < 1e-10 and rel_err(grad_dense, grad_blocked) < 1e-10


def test_first_beamsplitters_on_untouched_modes_act_on_two_mode_states():
    """paired_start picks the first shared beamsplitters that meet untouched modes (the guide's
    (0, 1) and (2, 3)); the dense engine applies them to two-mode states and gives the blocked
    engine's ket and gradients (which pairs nothing): with gates pending on paired modes, a
    per-sample beamsplitter, and a circuit that ends before the whole state is built."""
    guide = CVCircuit(4, 2, 4, n_inputs=4)
    first = [k for k, g in enumerate(guide.gates()) if len(g.modes) == 2][:3]
    assert layout.paired_start(guide) == set(first[:2])
    assert [guide.gates()[k].modes for k in first[:2]] == [(0, 1), (2, 3)]
    assert layout.paired_start(CVCircuit(2, 1, 4)) == set()  # two modes: the pair is the state
    x0 = ParamRef("x", index=0)
    circuits = {
        "pending and per-sample": (
            GateSpec("D", (0,), (x0, w(0))),
            GateSpec("BS", (0, 1), (w(1), w(2))),  # paired
            GateSpec("S", (1,), (w(3), w(4))),  # pending on a paired mode
            GateSpec("D", (3,), (x0, w(5))),
            GateSpec("BS", (2, 3), (w(6), w(7))),  # paired
            GateSpec("BS", (1, 2), (x0, w(8))),  # per sample: builds the state
            GateSpec("BS", (0, 3), (w(9), w(10))),
        ),
        "pairs only": (
            GateSpec("S", (0,), (w(0), w(1))),
            GateSpec("BS", (0, 1), (w(2), w(3))),
            GateSpec("D", (2,), (x0, w(4))),
            GateSpec("BS", (2, 3), (w(5), w(6))),
            GateSpec("K", (1,), (w(7),)),
        ),
    }
    five = CVCircuit(5, 1, 3, n_inputs=2)  # a mode left over beside the two pairs
    assert len(layout.paired_start(five)) == 2
    weights = {k: tf.constant(v) for k, v in five.init_weights(2, 0.4, 0.2).items()}
    z = tf.constant(np.random.default_rng(6).normal(size=(2, 2)))
    kets = [engine.ket(five, weights, z, C128).numpy() for engine in (FockEngine(), FockEngine(two_mode="blocked"))]
    assert kets[0].shape == (2, 3, 3, 3, 3, 3) and np.max(np.abs(kets[0] - kets[1])) < 1e-12
    inputs = tf.constant([[0.3], [-0.8], [1.2]], dtype=tf.float64)
    for gate_list in circuits.values():
        circuit = GateList(4, 3, gate_list)
        assert len(layout.paired_start(circuit)) == 2
        params = tf.Variable(np.random.default_rng(4).uniform(-0.7, 0.7, 11))
        ket_b = assert_dense_matches_blocked(circuit, params, inputs)
        # a batch unknown when traced: pairs without folding (folds_gates needs the batch size)
        traced = tf.function(
            lambda x, circuit=circuit, params=params: FockEngine().ket(circuit, {"g": params}, x, C128),
            input_signature=[tf.TensorSpec([None, 1], tf.float64)],
            autograph=False,
        )
        assert np.max(np.abs(traced(inputs).numpy() - ket_b)) < 1e-12


@pytest.mark.parametrize("cutoff", [4, 13])  # the polynomial and the recurrence
def test_beamsplitter_parameters_broadcast_against_each_other(cutoff):
    thetas, phis = [0.3, -0.7], [0.2, 1.1]
    one_theta = beamsplitter_matrix(0.3, phis, cutoff, C128).numpy()
    one_phi = beamsplitter_matrix(thetas, 0.2, cutoff, C128).numpy()
    assert one_theta.shape == one_phi.shape == (2,) + (cutoff,) * 4
    for k in range(2):
        assert np.max(np.abs(one_theta[k] - beamsplitter_matrix(0.3, phis[k], cutoff, C128).numpy())) < 1e-13
        assert np.max(np.abs(one_phi[k] - beamsplitter_matrix(thetas[k], 0.2, cutoff, C128).numpy())) < 1e-13
