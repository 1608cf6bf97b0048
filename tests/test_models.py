"""Generator and discriminator: shapes, gradient flow, finite differences, engines, bad input."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import critic_loss_and_gradient, rel_err

from qgan_lab.models import PureQuantumDiscriminator, PureQuantumGenerator, combiner_matrix
from qgan_lab.training.gradients import finite_difference_gradient, gradient_flow_report


def guide_models(**kwargs):
    g = PureQuantumGenerator(latent_dim=4, output_dim=2, n_modes=4, layers=2, cutoff_dim=6, seed=0, **kwargs)
    d = PureQuantumDiscriminator(input_dim=2, n_modes=2, layers=2, cutoff_dim=6, seed=1, **kwargs)
    return g, d


def test_shapes_dtypes_and_batch_mode():
    g, d = guide_models()
    z = tf.random.normal([16, 4])
    samples, measurements = g.generate_with_measurements(z)
    assert samples.shape == (16, 2) and samples.dtype == tf.float32
    assert measurements.shape == (16, 2)
    assert d.discriminate(samples).shape == (16, 1)
    # one batched evaluation equals sample-by-sample evaluation
    one_by_one = np.concatenate([g.generate(z[i : i + 1]).numpy() for i in range(4)])
    assert np.allclose(g.generate(z[:4]), one_by_one, atol=1e-5)
    g64 = PureQuantumGenerator(4, 2, 4, 2, 6, seed=0, dtype=tf.complex128)
    assert g64.generate(z).dtype == tf.float64


def test_modules_track_variables_for_checkpoints(tmp_path):
    g, _ = guide_models()
    assert len(g.trainable_variables) == len(g.circuit.group_sizes()) == 20
    ckpt = tf.train.Checkpoint(generator=g)
    path = ckpt.write(str(tmp_path / "g"))
    before = g.get_weights()
    for v in g.trainable_variables:
        v.assign(tf.zeros_like(v))
    ckpt.read(path).assert_consumed()
    assert all(np.array_equal(before[k], g.get_weights()[k]) for k in before)


def test_combiner_reads_every_mode():
    m = combiner_matrix(4, 2)
    assert np.allclose(m, [[2**-0.5, 0], [0, 2**-0.5], [2**-0.5, 0], [0, 2**-0.5]])
    assert np.allclose(combiner_matrix(3, 1).T @ combiner_matrix(3, 1), 1.0)  # balanced: unit norm


def test_every_variable_gets_a_finite_nonzero_gradient_at_initialisation():
    g, d = guide_models()
    z, x = tf.random.normal([16, 4]), tf.random.normal([16, 2])
    with tf.GradientTape(persistent=True) as tape:
        g_loss = tf.reduce_mean(d.discriminate(g.generate(z)))
        d_loss = tf.reduce_mean(d.discriminate(x))
    for loss, model in [(g_loss, g), (d_loss, d)]:
        report = gradient_flow_report(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        assert [r["status"] for r in report] == ["ok"] * len(report), report


def _fd_check(model, loss_of_output, inputs):
    variables = model.trainable_variables

    def loss_fn():
        return loss_of_output(model.forward(inputs)["output"])

    with tf.GradientTape() as tape:
        loss = loss_fn()
    auto = np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, variables)])
    fd = np.concatenate([g.ravel() for g in finite_difference_gradient(loss_fn, variables, eps=1e-5)])
    return auto, fd


def test_generator_and_discriminator_gradients_match_finite_differences():
    g = PureQuantumGenerator(4, 2, 4, 2, 6, seed=3, dtype=tf.complex128, passive_std=0.5, active_std=0.2)
    d = PureQuantumDiscriminator(2, 2, 2, 6, seed=4, dtype=tf.complex128, passive_std=0.5, active_std=0.2)
    z = tf.constant(np.random.default_rng(0).normal(size=(4, 4)))
    x = tf.constant(np.random.default_rng(1).normal(size=(4, 2)))
    weights = tf.constant([[0.7], [-1.3]], tf.float64)
    auto, fd = _fd_check(g, lambda out: tf.reduce_sum(tf.sin(out) @ weights), z)
    assert rel_err(auto, fd) < 1e-3
    auto, fd = _fd_check(d, lambda out: tf.reduce_sum(out**2), x)
    assert rel_err(auto, fd) < 1e-3


def test_gradient_penalty_second_order_gradient_matches_finite_differences():
    d = PureQuantumDiscriminator(2, 2, 1, 5, seed=5, dtype=tf.complex128, passive_std=0.5, active_std=0.2)
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 2)))

    def penalty():
        with tf.GradientTape() as inner:
            inner.watch(x)
            score = d.discriminate(x)
        grad_norm = tf.norm(inner.gradient(score, x), axis=1)
        return tf.reduce_mean((grad_norm - 1.0) ** 2)

    with tf.GradientTape() as tape:
        value = penalty()
    auto = np.concatenate([g.numpy().ravel() for g in tape.gradient(value, d.trainable_variables)])
    fd = np.concatenate([g.ravel() for g in finite_difference_gradient(penalty, d.trainable_variables, 1e-5)])
    assert rel_err(auto, fd) < 1e-3


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_engines_give_the_same_outputs_and_gradients(kind):
    def make(engine):
        if kind == "generator":
            return PureQuantumGenerator(3, 2, 2, 2, 5, seed=8, engine=engine, dtype=tf.complex128, passive_std=0.5)
        return PureQuantumDiscriminator(2, 2, 2, 5, seed=8, engine=engine, dtype=tf.complex128, passive_std=0.5)

    inputs = tf.constant(np.random.default_rng(3).normal(size=(3, 3 if kind == "generator" else 2)))
    results = []
    for model in (make("fock"), make("sf")):
        with tf.GradientTape() as tape:
            out = model.forward(inputs)["output"]
            loss = tf.reduce_sum(out * tf.constant([1.0, -2.0][: out.shape[1]], tf.float64))
        grads = tape.gradient(loss, model.trainable_variables)
        results.append((out.numpy(), np.concatenate([v.numpy().ravel() for v in grads])))
    # measured: SF's TF backend differs from exact double precision by ~1e-8 here
    assert np.max(np.abs(results[0][0] - results[1][0])) < 1e-6
    assert rel_err(results[0][1], results[1][1]) < 1e-6


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((3, 5)), r"z must have shape \[batch, 4\]"),
        (np.zeros((4,)), r"z must have shape"),
        (np.zeros((0, 4)), "at least one row"),
        (np.array([[0.0, np.nan, 0.0, 0.0]]), "NaN or inf"),
        (np.array([[0.0, np.inf, 0.0, 0.0]]), "NaN or inf"),
    ],
)
def test_bad_latent_vectors(bad, match):
    g, _ = guide_models()
    with pytest.raises(ValueError, match=match):
        g.generate(bad)


def test_bad_discriminator_input_and_types():
    _, d = guide_models()
    with pytest.raises(ValueError, match=r"x must have shape \[batch, 2\]"):
        d.discriminate(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="x must be"):
        d.discriminate(np.array([["a", "b"]]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cutoff_dim=1), "cutoff_dim"),
        (dict(n_modes=0), "n_modes"),
        (dict(latent_dim=9), "latent_dim"),
        (dict(output_dim=9), "output_dim"),
        (dict(engine="qiskit"), "engine"),
        (dict(dtype=tf.float32), "dtype"),
    ],
)
def test_bad_generator_configuration(kwargs, match):
    config = dict(latent_dim=4, output_dim=2, n_modes=4, layers=2, cutoff_dim=6)
    config.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PureQuantumGenerator(**config)


def test_memory_error_is_raised_before_simulating():
    g = PureQuantumGenerator(4, 2, 6, 1, 12, seed=0)
    with pytest.raises(ValueError, match="GiB"):
        g.generate(tf.zeros([64, 4]))


# ---------------------------------------------------------------------- sampled readout
def cat_generator(latent_dim=2):
    g = PureQuantumGenerator(latent_dim, 2, n_modes=2, layers=2, cutoff_dim=8, readout="sample", seed=0)
    g.set_weights(g.cat_weights())
    return g


def test_sample_readout_of_the_hand_set_cat_is_bimodal_deterministic_and_scales_to_5000_rows():
    g = cat_generator()
    z = tf.random.stateless_normal([5000, 2], seed=[1, 2])
    out = g.generate(z).numpy()
    assert out.shape == (5000, 2) and out.dtype == np.float32
    upper = out[:, 0] > 0
    assert 0.45 < upper.mean() < 0.55  # both modes, equally
    for side, centre in ((upper, 2.0), (~upper, -2.0)):
        np.testing.assert_allclose(out[side].mean(0), [centre, centre], atol=0.1)
        assert np.all(out[side].std(0) < 0.75)
    assert np.corrcoef(out.T)[0, 1] > 0.85  # the two features move together: (+2, +2) or (-2, -2)
    forward = g.forward(z)  # same shape: no new compilation
    np.testing.assert_array_equal(forward["output"].numpy(), out)  # a deterministic function of z
    assert set(forward) >= {"output", "measurements", "trace", "x", "p"}
    assert forward["trace"].shape == (5000,) and float(tf.reduce_min(forward["trace"])) > 0.95


def test_sample_readout_gradients_are_finite_and_reach_every_variable():
    g = PureQuantumGenerator(3, 2, n_modes=2, layers=1, cutoff_dim=6, readout="sample", seed=3, jit_compile=False)
    assert g.circuit.n_inputs == 1  # the third latent component is displacement-encoded
    z = tf.random.stateless_normal([16, 3], seed=[4, 5])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.sin(g.forward(z)["output"]))
    grads = tape.gradient(loss, list(g.weights.values()))
    assert all(gr is not None and np.all(np.isfinite(gr.numpy())) for gr in grads)
    assert sum(float(tf.reduce_max(tf.abs(gr))) > 0 for gr in grads) >= len(grads) - 1


def test_sample_readout_configuration_errors_and_checkpoint_refusal(tmp_path):
    from qgan_lab.training.trainer import QuantumGANTrainer

    with pytest.raises(ValueError, match="readout"):
        PureQuantumGenerator(2, 2, 2, 1, 4, readout="photons")
    with pytest.raises(ValueError, match="output_dim"):
        PureQuantumGenerator(3, 3, 2, 1, 4, readout="sample")
    with pytest.raises(ValueError, match="at least 2 inputs"):
        PureQuantumGenerator(1, 2, 2, 1, 4, readout="sample")
    mean = PureQuantumGenerator(2, 2, 2, 1, 4, seed=0)
    sample = PureQuantumGenerator(2, 2, 2, 1, 4, seed=0, readout="sample")
    assert mean.architecture()["readout"] == "mean" and sample.architecture()["readout"] == "sample"
    critic = PureQuantumDiscriminator(2, 2, 1, 4, seed=1)
    QuantumGANTrainer(mean, critic, n_critic=1, seed=0).save(tmp_path)
    with pytest.raises(ValueError, match="another architecture"):
        QuantumGANTrainer(sample, critic, n_critic=1, seed=0).check_checkpoint_compatible(tmp_path)


def test_generate_runs_batches_over_the_training_memory_limit_in_chunks():
    from qgan_lab.sim.fock import FockEngine

    probe = PureQuantumGenerator(2, 2, 2, 1, 4, seed=0)
    per_row = probe.engine.memory_estimate(probe.circuit, 1)
    engine = FockEngine(max_memory_bytes=3.5 * per_row)  # training fits 3 rows at most
    g = PureQuantumGenerator(2, 2, 2, 1, 4, seed=0, engine=engine, jit_compile=False)
    z = tf.random.stateless_normal([10, 2], seed=[6, 7])
    with pytest.raises(ValueError, match="GiB"):
        g.forward(z)
    np.testing.assert_allclose(g.generate(z).numpy(), probe.generate(z).numpy(), atol=1e-6)


def test_critic_readouts_are_the_expected_observables_on_coherent_states():
    """All circuit weights 0: the layer is the identity, the state is the coherent |s x>, so
    <n> = (s x)^2 and P(0) = exp(-(s x)^2): quadratic, and a Gaussian bump in the input."""
    x = np.array([[-1.0], [0.3], [0.8]])
    s = 0.9
    expected = {"photon_number": (s * x) ** 2, "vacuum": np.exp(-((s * x) ** 2)), "fock": (s * x) ** 2}
    for readout, value in expected.items():
        d = PureQuantumDiscriminator(
            1, 1, 1, 14, readout=readout, encoding_scale=s, dtype=tf.complex128, jit_compile=False
        )
        weights = {k: np.zeros_like(v) for k, v in d.get_weights().items()}
        weights["readout_weights"] = np.arange(14.0)[None] if readout == "fock" else np.ones(1)
        weights["readout_bias"] = np.array([0.25])
        d.set_weights(weights)
        out = d.forward(x)
        assert np.allclose(out["output"], value + 0.25, atol=1e-6), readout
        assert np.allclose(out["photon_numbers"], (s * x) ** 2, atol=1e-6)


@pytest.mark.parametrize("readout", ["photon_number", "fock"])
def test_expressive_critics_agree_across_engines_with_reuploading(readout):
    def make(engine):
        return PureQuantumDiscriminator(
            2,
            2,
            2,
            5,
            readout=readout,
            reupload=True,
            seed=8,
            engine=engine,
            dtype=tf.complex128,
            passive_std=0.5,
            jit_compile=False,
        )

    inputs = tf.constant(np.random.default_rng(3).normal(size=(3, 2)))
    results = [critic_loss_and_gradient(make(engine), inputs) for engine in ("fock", "sf")]
    assert abs(results[0][0] - results[1][0]) < 1e-6
    assert rel_err(results[0][1], results[1][1]) < 1e-6


def test_critic_options_enter_the_architecture_and_are_checked():
    plain = PureQuantumDiscriminator(2, 2, 1, 5, seed=0)
    expressive = PureQuantumDiscriminator(2, 2, 1, 5, seed=0, readout="photon_number", reupload=True)
    assert plain.architecture()["readout"] == "mean" and plain.architecture()["reupload"] is False
    assert expressive.architecture()["readout"] == "photon_number" and expressive.reupload is True
    assert sorted(set(expressive.weights) - set(plain.weights)) == ["readout_bias", "readout_weights"]
    with pytest.raises(ValueError, match="weights must have keys"):
        expressive.set_weights(plain.get_weights())  # another critic's weights do not load
    with pytest.raises(ValueError, match="readout must be one of"):
        PureQuantumDiscriminator(2, 2, 1, 5, readout="parity")
    with pytest.raises(TypeError, match="reupload"):
        PureQuantumDiscriminator(2, 2, 1, 5, reupload=1)


@pytest.mark.parametrize("encoding", ["bounded", "phase"])
def test_bounded_encodings_keep_the_critic_inside_its_cutoff_for_every_input(encoding):
    """The state depends on x only through tanh((x - c) / w): the trace over a grid of that cube
    bounds every input, |x| = 10 and 50 included. The guide's displacement encoding leaves the
    cutoff at |x| = 10 (the failure the bounded encodings exist for)."""
    options = dict(readout="joint", reupload=True, passive_std=0.5, seed=2, input_width=2.0, encoding_scale=0.4)
    critic = PureQuantumDiscriminator(2, 2, 2, 8, encoding=encoding, **options)
    floor = critic.min_trace_over_inputs(21)
    assert floor >= 0.99
    far = np.array([[10.0, -10.0], [50.0, 50.0], [-50.0, 3.0], [0.0, 1e6]], np.float32)
    traces = critic.forward(far)["trace"].numpy()
    assert traces.min() >= 0.99 and traces.min() >= floor - 1e-6
    assert np.abs(critic.encode(tf.constant(far)).numpy()).max() <= (0.75 * np.pi if encoding == "phase" else 1.0)
    plain = PureQuantumDiscriminator(2, 2, 2, 8, **{**options, "encoding_scale": 0.3})
    assert plain.forward(far[:1])["trace"].numpy().min() < 0.5
    with pytest.raises(ValueError, match="bounded encoding"):
        plain.min_trace_over_inputs()


def test_encoding_options_are_checked_and_enter_the_architecture():
    critic = PureQuantumDiscriminator(2, 2, 1, 5, encoding="phase", input_center=[1.0, -1.0], input_width=3.0)
    arch = critic.architecture()
    assert arch["encoding"] == "phase" and arch["input_center"] == [1.0, -1.0] and arch["input_width"] == [3.0, 3.0]
    assert "encoding" not in PureQuantumDiscriminator(2, 2, 1, 5).architecture()  # older checkpoints still load
    with pytest.raises(ValueError, match="encoding must be one of"):
        PureQuantumDiscriminator(2, 2, 1, 5, encoding="angle")
    with pytest.raises(ValueError, match="input_width must be positive"):
        PureQuantumDiscriminator(2, 2, 1, 5, encoding="bounded", input_width=[1.0, 0.0])
    with pytest.raises(ValueError, match="input_center must be a number or 2 numbers"):
        PureQuantumDiscriminator(2, 2, 1, 5, encoding="bounded", input_center=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at most 1"):
        PureQuantumDiscriminator(2, 1, 1, 5, encoding="phase")  # one phase per mode
