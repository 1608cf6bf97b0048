"""The critic's readouts (qgan_lab.models.readouts): the joint photon-number readout against Strawberry
Fields' own Fock probabilities and against central finite differences."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import critic_loss_and_gradient, rel_err

from qgan_lab.models import PureQuantumDiscriminator
from qgan_lab.models.readouts import init_readout, joint_expectation, readout_shapes
from qgan_lab.sim.sf_engine import StrawberryFieldsEngine
from qgan_lab.training.gradients import finite_difference_gradient


def joint_critic(engine="fock", **kwargs):
    options = dict(readout="joint", reupload=True, seed=3, passive_std=0.5, dtype=tf.complex128, engine=engine)
    return PureQuantumDiscriminator(2, 2, 2, 5, **{**options, **kwargs}, jit_compile=False)


def test_joint_readout_has_one_weight_per_joint_outcome_and_starts_as_the_photon_number():
    assert readout_shapes("joint", 3, 4) == {"readout_weights": (4, 4, 4), "readout_bias": (1,)}
    weights = init_readout("joint", 2, 5, seed=0)["readout_weights"]
    n0, n1 = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    assert np.abs(weights - (n0 + n1) / 2).max() < 0.25  # <n_0 + n_1> / 2, plus a little noise
    assert np.abs(weights - (n0 + n1) / 2).max() > 0  # (the noise tells outcomes apart)


def test_joint_readout_is_the_weighted_sum_of_strawberry_fields_fock_probabilities():
    critic = joint_critic()
    x = np.array([[0.4, -0.3], [-1.1, 0.8], [0.0, 0.2]])
    weights = critic.get_weights()
    weights["readout_weights"] = np.random.default_rng(5).normal(size=(5, 5))
    weights["readout_bias"] = np.array([0.7])
    critic.set_weights(weights)
    state = StrawberryFieldsEngine().run(critic.circuit, critic.weights, tf.constant(x), tf.complex128)
    probs = state.all_fock_probs().numpy()  # [B, c, c], Strawberry Fields' own
    expected = np.einsum("bij,ij->b", probs, weights["readout_weights"]) + 0.7
    score = critic.discriminate(x).numpy()[:, 0]
    assert np.abs(score - expected).max() < 1e-10
    # and not a sum of single-mode terms: a correlated weight table changes the score
    ket = critic.ket(tf.constant(x))
    table = np.zeros((5, 5))
    table[1, 1] = 1.0  # P(n_0 = 1 and n_1 = 1)
    joint = joint_expectation(ket, table, np.zeros(1)).numpy()[:, 0]
    assert np.abs(joint - probs[:, 1, 1]).max() < 1e-12
    assert np.abs(joint - probs[:, 1, :].sum(1) * probs[:, :, 1].sum(1)).max() > 1e-4


def test_joint_readout_gradients_match_central_finite_differences():
    critic = joint_critic()
    x = tf.constant([[0.5, -0.2], [-0.9, 0.4]], tf.float64)

    def loss():
        return tf.reduce_sum(tf.sin(critic.discriminate(x)))

    with tf.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, critic.trainable_variables)
    numeric = finite_difference_gradient(loss, critic.trainable_variables, eps=1e-6)
    analytic = np.concatenate([g.numpy().ravel() for g in grads])
    # (the last Kerr gates' gradients are 0 in both: a Kerr gate commutes with a diagonal readout)
    assert rel_err(analytic, np.concatenate([n.ravel() for n in numeric])) < 1e-6


@pytest.mark.parametrize("encoding", ["displacement", "bounded", "phase"])
def test_joint_critic_agrees_with_strawberry_fields_for_every_encoding(encoding):
    x = tf.constant(np.random.default_rng(3).normal(size=(3, 2)) * 2)
    options = dict(encoding=encoding, encoding_scale=0.5, input_width=2.5, input_center=[0.5, -0.5])
    if encoding == "displacement":
        options = dict(encoding_scale=0.2)
    results = [critic_loss_and_gradient(joint_critic(engine, **options), x) for engine in ("fock", "sf")]
    assert abs(results[0][0] - results[1][0]) < 1e-10
    assert rel_err(results[0][1], results[1][1]) < 1e-8
