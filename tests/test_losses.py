import numpy as np
import pytest
import tensorflow as tf
from conftest import rel_err

from qgan_lab.models import PureQuantumDiscriminator, PureQuantumGenerator
from qgan_lab.training.gradients import finite_difference_gradient
from qgan_lab.training.losses import BinaryCrossEntropyLoss, QuantumMeasurementLoss, QuantumWassersteinLoss, make_loss
from qgan_lab.training.penalties import entropy_regularization, gradient_penalty, physics_regularization


def linear_critic(w, b=0.3):
    w = tf.constant(w, tf.float64)
    return lambda x: tf.matmul(x, w[:, None]) + b


def test_gradient_penalty_of_linear_critics_is_analytic():
    real = tf.constant(np.random.default_rng(0).normal(size=(8, 3)))
    fake = tf.constant(np.random.default_rng(1).normal(size=(8, 3)))
    w = np.array([0.5, -2.0, 1.0])
    assert np.isclose(gradient_penalty(real, fake, linear_critic(w)), (np.linalg.norm(w) - 1) ** 2)
    unit = w / np.linalg.norm(w)
    assert abs(float(gradient_penalty(real, fake, linear_critic(unit)))) < 1e-10


def test_one_sided_penalty_only_punishes_slopes_above_one():
    real = tf.constant(np.random.default_rng(0).normal(size=(8, 3)))
    fake = tf.constant(np.random.default_rng(1).normal(size=(8, 3)))
    w = np.array([0.5, -2.0, 1.0])
    steep = gradient_penalty(real, fake, linear_critic(w), one_sided=True)
    assert np.isclose(steep, (np.linalg.norm(w) - 1) ** 2)
    assert float(gradient_penalty(real, fake, linear_critic(0.3 * w / np.linalg.norm(w)), one_sided=True)) == 0.0
    with pytest.raises(ValueError, match="penalty must be one of"):
        QuantumWassersteinLoss(penalty="both")


@pytest.mark.parametrize("penalty, trapped", [("two_sided", True), ("one_sided", False)])
def test_in_one_dimension_the_two_sided_penalty_traps_the_critic(penalty, trapped):
    """A 1-D linear critic D(x) = w x whose slope says "higher is more real" (w = 1) while the
    fakes sit to the right of the data: the right critic has w < 0. The two-sided penalty puts a
    barrier of lambda_gp at w = 0 (|w| - 1 = -1) that gradient descent does not cross; the
    one-sided one does not, and the critic turns round."""
    rng = np.random.default_rng(0)
    real = tf.constant(np.concatenate([rng.normal(-2, 0.5, (64, 1)), rng.normal(2, 0.5, (64, 1))]))
    fake = tf.constant(rng.normal(4, 1, (128, 1)))
    loss = QuantumWassersteinLoss(lambda_gp=10.0, penalty=penalty)
    w = tf.Variable([1.0], dtype=tf.float64)
    alpha = tf.constant(rng.uniform(size=(128, 1)))
    optimizer = tf.keras.optimizers.SGD(0.01)
    for _ in range(300):
        with tf.GradientTape() as tape:
            critic = lambda x: x * w  # noqa: E731
            out = loss.discriminator_loss(critic(real), critic(fake), real, fake, critic, alpha)
        optimizer.apply_gradients([(tape.gradient(out["total_loss"], w), w)])
    assert (float(w[0]) > 0) == trapped  # trapped: still "higher is more real", W < 0
    assert (float(out["w_distance"]) < 0) == trapped


def test_wasserstein_sign_conventions():
    loss = QuantumWassersteinLoss(lambda_gp=0.0)
    real_out, fake_out = tf.constant([[2.0], [3.0]]), tf.constant([[0.0], [1.0]])
    out = loss.discriminator_loss(real_out, fake_out, None, None, None)
    assert np.isclose(out["w_distance"], 2.0)  # E[D(real)] - E[D(fake)] > 0 when the critic separates
    assert np.isclose(out["total_loss"], -2.0)  # the critic minimises -W
    g = loss.generator_loss(fake_out)
    assert np.isclose(g["base_loss"], -0.5) and np.isclose(g["total_loss"], -0.5)


def test_entropy_regulariser_extremes():
    uniform = tf.zeros([4, 5])
    peaked = tf.constant([[50.0, 0, 0, 0, 0]] * 4)
    assert np.isclose(entropy_regularization(uniform), -np.log(5))  # maximal entropy: the minimum
    assert abs(float(entropy_regularization(peaked))) < 1e-12 + 1e-15  # one outcome: 0
    random = tf.constant(np.random.default_rng(0).normal(size=(4, 5)), tf.float32)
    assert -np.log(5) <= float(entropy_regularization(random)) <= 0


def test_physics_regulariser_is_zero_inside_the_bound_and_grows_outside():
    inside = [tf.Variable([1.0, -4.9]), tf.Variable([0.0])]
    assert float(physics_regularization(inside)) == 0.0
    values = [float(physics_regularization([tf.constant([6.0 + k, 0.0])])) for k in range(3)]
    assert values == pytest.approx([0.5, 1.0, 1.5])


def test_measurement_loss_terms():
    loss = QuantumMeasurementLoss()
    generated = tf.constant([[0.0, 1.0], [2.0, 3.0]])
    real = tf.constant([[1.0, 2.0], [1.0, 2.0]])
    out = loss.compute_loss(generated, real, [tf.constant([1.0, 3.0])])
    assert np.isclose(out["distribution_loss"], 0.0)
    assert np.isclose(out["diversity_loss"], -1.0)
    assert np.isclose(out["param_reg"], 0.01 * 5.0)
    assert np.isclose(out["total_loss"], -0.1 + 0.05)
    with pytest.raises(ValueError, match="same number"):
        loss.compute_loss(generated, tf.zeros([2, 3]))


def test_bce_non_saturating():
    bce = BinaryCrossEntropyLoss()
    logits = tf.constant([[0.0]])
    assert np.isclose(bce.generator_loss(logits)["total_loss"], np.log(2))
    assert np.isclose(bce.discriminator_loss(logits, logits)["total_loss"], 2 * np.log(2))


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="loss_type must be one of"):
        make_loss("hinge")
    assert isinstance(make_loss("bce"), BinaryCrossEntropyLoss)


def test_loss_gradients_match_finite_differences_on_quantum_models():
    g = PureQuantumGenerator(2, 2, 2, 1, 5, seed=0, dtype=tf.complex128, passive_std=0.5, active_std=0.2)
    d = PureQuantumDiscriminator(2, 2, 1, 5, seed=1, dtype=tf.complex128, passive_std=0.5, active_std=0.2)
    rng = np.random.default_rng(0)
    z, real = tf.constant(rng.normal(size=(4, 2))), tf.constant(rng.normal(size=(4, 2)))
    alpha = tf.constant(rng.uniform(size=(4, 1)))
    wgan = QuantumWassersteinLoss(lambda_gp=10.0, lambda_entropy=0.5, lambda_physics=1.0)
    measurement, bce = QuantumMeasurementLoss(), BinaryCrossEntropyLoss()

    def d_wgan():
        fake = g.generate(z)
        return wgan.discriminator_loss(d.discriminate(real), d.discriminate(fake), real, fake, d, alpha)["total_loss"]

    def g_wgan():
        fake, meas = g.generate_with_measurements(z)
        return wgan.generator_loss(d.discriminate(fake), meas, g.trainable_variables)["total_loss"]

    def g_measurement():
        return measurement.compute_loss(g.generate_with_measurements(z)[1], real, g.trainable_variables)["total_loss"]

    def d_bce():
        return bce.discriminator_loss(d.discriminate(real), d.discriminate(g.generate(z)))["total_loss"]

    def g_bce():
        return bce.generator_loss(d.discriminate(g.generate(z)))["total_loss"]

    for loss_fn, model in [(d_wgan, d), (g_wgan, g), (g_measurement, g), (d_bce, d), (g_bce, g)]:
        with tf.GradientTape() as tape:
            value = loss_fn()
        auto = np.concatenate([x.numpy().ravel() for x in tape.gradient(value, model.trainable_variables)])
        fd = np.concatenate([x.ravel() for x in finite_difference_gradient(loss_fn, model.trainable_variables, 1e-5)])
        assert rel_err(auto, fd) < 1e-3, loss_fn.__name__


@pytest.mark.parametrize("loss_type", ["wasserstein", "measurement", "bce", "mmd"])
def test_every_loss_answers_the_trainers_questions_consistently(loss_type):
    """sample_loss + regularizers is the guide's generator loss; critic_objective has the history keys."""
    rng = np.random.default_rng(4)
    real = tf.constant(rng.normal(size=(6, 2)))
    fake = tf.constant(rng.normal(size=(6, 2)))
    params = [tf.constant(rng.normal(scale=4.0, size=5))]
    critic = linear_critic([0.7, -1.2])
    loss = make_loss(loss_type)
    assert loss.needs_critic == (loss_type != "mmd")
    if loss.needs_critic:
        critic_losses = loss.critic_objective(critic(real), critic(fake), real, fake, critic, tf.fill([6, 1], 0.5))
        assert {"total_loss", "w_distance", "gradient_penalty"} <= set(critic_losses)
        gap = np.mean(critic(real)) - np.mean(critic(fake))
        np.testing.assert_allclose(critic_losses["w_distance"], gap, rtol=1e-12)
    total = loss.sample_loss(fake, real, critic) + loss.regularizers(fake, real, params)["total_loss"]
    if loss_type == "wasserstein":
        expected = loss.generator_loss(critic(fake), fake, params)["total_loss"]
    elif loss_type in ("measurement", "mmd"):
        expected = loss.compute_loss(fake, real, params)["total_loss"]
    else:
        expected = loss.generator_loss(critic(fake))["total_loss"]
    np.testing.assert_allclose(total, expected, rtol=1e-12)


def numpy_mmd2(x, y, bandwidths):
    """Plain loops: the unbiased MMD^2 U-statistic with the averaged Gaussian kernel."""

    def k(a, b):
        return np.mean([np.exp(-np.sum((a - b) ** 2) / (2 * s**2)) for s in bandwidths])

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_matches_a_numpy_reference_in_value_and_gradient():
    rng = np.random.default_rng(0)
    fake, real = rng.normal(size=(5, 2)), rng.normal(1.0, 2.0, size=(7, 2))
    loss = make_loss("mmd")
    assert loss.needs_critic is False and QuantumWassersteinLoss.needs_critic is True
    bandwidths = np.array([0.25, 0.5, 1.0, 2.0]) * np.sqrt(np.mean(np.var(real, axis=0)))
    out = loss.generator_loss(tf.constant(fake), tf.constant(real))
    assert np.allclose(out["bandwidths"], bandwidths)
    assert np.isclose(out["mmd"], numpy_mmd2(fake, real, bandwidths), rtol=1e-10)
    assert float(out["total_loss"]) == float(out["base_loss"]) == float(out["mmd"])
    # gradient with respect to the generated samples (the real batch fixes the bandwidths)
    variable = tf.Variable(fake)
    with tf.GradientTape() as tape:
        value = loss.generator_loss(variable, tf.constant(real))["total_loss"]
    auto = tape.gradient(value, variable).numpy()
    eps, fd = 1e-6, np.zeros_like(fake)
    for idx in np.ndindex(*fake.shape):
        step = np.zeros_like(fake)
        step[idx] = eps
        fd[idx] = (numpy_mmd2(fake + step, real, bandwidths) - numpy_mmd2(fake - step, real, bandwidths)) / (2 * eps)
    assert rel_err(auto, fd) < 1e-6


def test_mmd_is_unbiased_compiles_and_tells_distributions_apart():
    loss = make_loss("mmd", scale=1.0)
    rng = np.random.default_rng(1)
    # unbiased: over many pairs of batches from ONE distribution the estimate averages to ~0
    same = [float(loss.generator_loss(rng.normal(size=(8, 2)), rng.normal(size=(8, 2)))["mmd"]) for _ in range(200)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same)) and min(same) < 0
    compiled = tf.function(lambda f, r: loss.generator_loss(f, r)["mmd"], jit_compile=True)
    f, r = tf.constant(rng.normal(size=(16, 2))), tf.constant(rng.normal(2.0, 1.0, size=(16, 2)))
    assert np.isclose(compiled(f, r), loss.generator_loss(f, r)["mmd"]) and float(compiled(f, r)) > 0.1
    with pytest.raises(ValueError, match="at least 2 rows"):
        loss.generator_loss(np.zeros((1, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="same number of features"):
        loss.generator_loss(np.zeros((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="bandwidth_factors"):
        make_loss("mmd", bandwidth_factors=(1.0, -1.0))
