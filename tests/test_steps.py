"""qgan_lab.training.steps: the compiled pieces of a training step, and the eager path of models built
with ``jit_compile=False``."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import rel_err

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator
from qgan_lab.training.losses import QuantumWassersteinLoss
from qgan_lab.training.mmd import QuantumMMDLoss
from qgan_lab.training.steps import TrainingSteps, combine_losses


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
    # compiled and eager: the same arithmetic up to float32 rounding
    assert rel_err(losses["total_loss"], whole["total_loss"]) < 1e-5 and abs(float(trace) - float(whole_trace)) < 1e-6
    assert rel_err(_flat(grads), _flat(expected)) < 1e-4
    # the cutoff penalty is part of the total and reported on its own
    assert "cutoff_reg" in losses and float(losses["cutoff_reg"]) >= 0.0
    # on one tape (the fused step's form): the same losses, gradients, trace, and the samples
    taped, taped_grads, taped_trace, samples = steps.g_step_taped(z, real)
    assert set(taped) == set(losses) and rel_err(taped["total_loss"], whole["total_loss"]) < 1e-5
    assert rel_err(_flat(taped_grads), _flat(expected)) < 1e-4 and abs(float(taped_trace) - float(trace)) < 1e-6
    assert rel_err(samples, steps.sample(z)) < 1e-6


def test_combine_losses_adds_the_regularisers_to_the_base_loss():
    out = combine_losses(tf.constant(2.0), {"total_loss": tf.constant(0.5), "physics_reg": tf.constant(0.5)})
    assert float(out["total_loss"]) == 2.5 and float(out["base_loss"]) == 2.0 and float(out["physics_reg"]) == 0.5


def test_sample_reuses_the_training_programme_for_any_number_of_samples():
    """After the first generator call (a training step's fakes), ``sample`` of any size runs
    that compiled programme in chunks: the same samples, no second compilation."""
    steps = _steps(True, QuantumWassersteinLoss(lambda_gp=10.0))
    z = tf.constant(np.random.default_rng(1).normal(size=(29, 2)), tf.float32)
    steps.sample_with_trace(z[:8])
    assert steps.sample_rows == 8
    compilations = steps._sample_with_trace.tracing_count()
    samples = steps.sample(z)
    assert steps._sample_with_trace.tracing_count() == compilations
    expected = steps.generator._forward_impl(z)["output"]
    assert samples.shape == (29, 2) and rel_err(samples, expected) < 1e-5


def test_sample_rows_that_fit_the_generator_engines_memory_limit():
    steps = _steps(True, QuantumWassersteinLoss(lambda_gp=10.0))
    generator, engine = steps.generator, steps.generator.engine
    assert steps.rows_that_fit(500) == 500 and steps.rows_that_fit(3) == 3
    z = tf.constant(np.random.default_rng(3).normal(size=(9, 2)), tf.float32)
    expected = generator._forward_impl(z)["output"]
    engine.max_memory_bytes = engine.memory_estimate(generator.circuit, 4, generator.dtype) + 1.0
    assert steps.rows_that_fit(500) == 4 and steps.rows_that_fit(3) == 3
    steps.sample_rows = steps.rows_that_fit(500)
    assert rel_err(steps.sample(z), expected) < 1e-5  # 3 chunks of 4 rows, the last padded


def _two_pass_critic_losses(steps, real, fake, alpha):
    """The critic's losses as computed before the single pass: real and fake scored apart."""
    critic = steps.discriminator
    real_f, fake_f = critic._forward_impl(real), critic._forward_impl(fake)
    losses = steps.loss_fn.critic_objective(real_f["output"], fake_f["output"], real, fake, steps._critic, alpha)
    leak = steps.leak(tf.concat([real_f["trace"], fake_f["trace"]], 0), losses["total_loss"].dtype)
    traces = tf.concat([real_f["trace"], fake_f["trace"]], 0)
    return {**losses, "total_loss": losses["total_loss"] + steps.lambda_cutoff * leak}, tf.reduce_min(traces)


@pytest.mark.parametrize("memory_limit", [None, 1.0], ids=["one-pass", "two-pass-fallback"])
def test_critic_losses_and_gradients_equal_separate_passes_over_real_and_fake(memory_limit):
    """One critic pass over real and fake (or two, when twice the rows would exceed the engine's
    memory limit) gives the separate passes' losses, gradient penalty, smallest trace and gradients."""
    steps = _steps(True, QuantumWassersteinLoss(lambda_gp=10.0))
    real, z, alpha = _inputs()
    fake = steps.generator._forward_impl(z)["output"]
    engine = steps.discriminator.engine
    if memory_limit is not None:  # a limit that 8 rows pass and 16 do not
        need = [engine.memory_estimate(steps.discriminator.circuit, n, steps.discriminator.dtype) for n in (8, 16)]
        engine.max_memory_bytes = float(need[0] + need[1]) / 2
        assert not steps._fits_twice(real)
    else:
        assert steps._fits_twice(real)
    variables = steps.discriminator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        losses = steps.d_losses(real, fake, alpha)
        reference, smallest = _two_pass_critic_losses(steps, real, fake, alpha)
    for key in ("total_loss", "w_distance", "gradient_penalty"):
        assert rel_err(losses[key], reference[key]) < 1e-5, key
    assert abs(float(losses["critic_min_trace"]) - float(smallest)) < 1e-6
    got, expected = (tape.gradient(t["total_loss"], variables) for t in (losses, reference))
    assert rel_err(_flat(got), _flat(expected)) < 1e-4


def test_sample_runs_eagerly_models_unpadded_and_small_batches_whole():
    eager = _steps(False, QuantumWassersteinLoss(lambda_gp=10.0))
    z = tf.constant(np.random.default_rng(2).normal(size=(5, 2)), tf.float32)
    eager.sample_with_trace(tf.concat([z, z], 0))
    rows_run = []
    run = eager._sample_with_trace
    eager._sample_with_trace = lambda x: rows_run.append(int(x.shape[0])) or run(x)
    assert eager.sample_rows == 10 and eager.sample(z).shape == (5, 2) and rows_run == [5]
    compiled = _steps(True, QuantumWassersteinLoss(lambda_gp=10.0))
    assert compiled.sample(z[:1]).shape == (1, 2) and compiled.sample_rows is None  # sample() does not fix it
