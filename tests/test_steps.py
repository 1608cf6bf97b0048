"""qgan_lab.steps: the compiled pieces of a training step, and the eager path of models built
with ``jit_compile=False``."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import rel_err

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator
from qgan_lab.losses import QuantumMMDLoss, QuantumWassersteinLoss
from qgan_lab.steps import TrainingSteps, combine_losses


def _steps(jit: bool, loss) -> TrainingSteps:
    generator = PureQuantumGenerator(2, 2, n_modes=2, layers=1, cutoff_dim=4, seed=0, jit_compile=jit)
    discriminator = PureQuantumDiscriminator(2, n_modes=2, layers=1, cutoff_dim=4, seed=1, jit_compile=jit)
    return TrainingSteps(generator, discriminator, loss, lambda_cutoff=10.0, trace_floor=0.99)


def _flat(gradients) -> np.ndarray:
    """All gradients as one vector (float32 rounding is relative to the whole gradient)."""
    return np.concatenate([np.ravel(g) for g in gradients])


def _inputs():
    rng = np.random.default_rng(0)
    real = tf.constant(rng.normal(size=(8, 2)), tf.float32)
    z = tf.constant(rng.normal(size=(8, 2)), tf.float32)
    alpha = tf.constant(rng.uniform(size=(8, 1)), tf.float32)
    return real, z, alpha


@pytest.mark.parametrize("loss", [QuantumWassersteinLoss(lambda_gp=10.0), QuantumMMDLoss()], ids=["wgan", "mmd"])
def test_models_built_without_jit_run_eagerly_and_give_the_compiled_losses_and_gradients(loss):
    eager, compiled = _steps(False, loss), _steps(True, loss)
    # eager: the plain methods, nothing to compile; compiled: XLA wrappers
    assert eager.d_step == eager._d_step_impl and compiled.d_step != compiled._d_step_impl
    real, z, alpha = _inputs()
    g_eager, g_compiled = eager.g_step(z, real), compiled.g_step(z, real)
    assert rel_err(g_eager[0]["total_loss"], g_compiled[0]["total_loss"]) < 1e-5
    assert rel_err(_flat(g_eager[1]), _flat(g_compiled[1])) < 1e-4
    if loss.needs_critic:
        fake = compiled.sample(z)
        (d_eager, grads_eager), (d_compiled, grads_compiled) = (
            eager.d_step(real, fake, alpha),
            compiled.d_step(real, fake, alpha),
        )
        assert rel_err(d_eager["total_loss"], d_compiled["total_loss"]) < 1e-5
        assert rel_err(_flat(grads_eager), _flat(grads_compiled)) < 1e-4


def test_split_generator_step_equals_the_gradient_of_the_whole_loss():
    steps = _steps(True, QuantumWassersteinLoss(lambda_gp=10.0))
    real, z, _ = _inputs()
    losses, grads, trace = steps.g_step(z, real)
    variables = steps.generator.trainable_variables
    with tf.GradientTape() as tape:
        whole, whole_trace = steps.g_losses(z, real)
    expected = tape.gradient(whole["total_loss"], variables)
    assert rel_err(losses["total_loss"], whole["total_loss"]) < 1e-5 and float(trace) == float(whole_trace)
    assert rel_err(_flat(grads), _flat(expected)) < 1e-4
    # the cutoff penalty is part of the total and reported on its own
    assert "cutoff_reg" in losses and float(losses["cutoff_reg"]) >= 0.0


def test_combine_losses_adds_the_regularisers_to_the_base_loss():
    out = combine_losses(tf.constant(2.0), {"total_loss": tf.constant(0.5), "physics_reg": tf.constant(0.5)})
    assert float(out["total_loss"]) == 2.5 and float(out["base_loss"]) == 2.0 and float(out["physics_reg"]) == 0.5
