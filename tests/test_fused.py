"""qgan_lab.training.fused: the whole training step in one compiled call gives the per-update path's results,
and a bad update inside it is redone on the per-update path (finite differences or a skip)."""

import numpy as np
import pytest
import tensorflow as tf

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator
from qgan_lab.data import create_bimodal_data_generator
from qgan_lab.training.fused import FusedStep, all_finite, clip_by_norm
from qgan_lab.training.gradients import QuantumGradientManager
from qgan_lab.training.trainer import QuantumGANTrainer


def _trainer(fused: bool, loss_type: str = "wasserstein", dtype=tf.complex64, **kwargs) -> QuantumGANTrainer:
    generator = PureQuantumGenerator(2, 2, n_modes=2, layers=1, cutoff_dim=4, seed=0, dtype=dtype)
    discriminator = PureQuantumDiscriminator(2, n_modes=2, layers=1, cutoff_dim=4, seed=1, dtype=dtype)
    kwargs.setdefault("n_critic", 2)
    return QuantumGANTrainer(generator, discriminator, loss_type, seed=0, fused_step=fused, **kwargs)


def _weights(trainer) -> np.ndarray:
    models = (trainer.generator, trainer.discriminator, trainer.g_optimizer, trainer.d_optimizer)
    variables = [v for m in models for v in (m.trainable_variables if hasattr(m, "_forward_impl") else m.variables)]
    return np.concatenate([np.ravel(v.numpy()) for v in variables])


def _data(bad_steps=None):
    """The bimodal target; ``bad_steps`` maps a (0-based) step to the sentinel its batch carries."""
    source = create_bimodal_data_generator(8, seed=0)
    calls = {"n": 0}

    def data():
        batch = np.array(source(), np.float32)
        if calls["n"] in (bad_steps or {}):
            batch[0, 0] = bad_steps[calls["n"]]
        calls["n"] += 1
        return batch

    return data


def _run(trainer, data, steps):
    logs = trainer.train_epoch(data, steps, trainer.latent_dim, 1)
    return logs, _weights(trainer), trainer.g_gradient_manager.get_summary(), trainer.d_gradient_manager.get_summary()


def _both_paths(trainer, steps=4, bad_steps=None):
    """Run the per-update path, rewind the trainer (weights, optimizers, random state, counters),
    run the fused step (its own compiled program, built from the same traced losses)."""
    models = (trainer.generator, trainer.discriminator, trainer.g_optimizer, trainer.d_optimizer)
    variables = [v for m in models for v in m.variables]
    start = [v.numpy() for v in variables]
    fused, trainer.fused = trainer.fused, None
    plain = _run(trainer, _data(bad_steps), steps)
    for var, value in zip(variables, start):
        var.assign(value)
    trainer.rng.reset_from_seed(trainer.seed)
    norm = trainer.g_gradient_manager.max_gradient_norm
    trainer.g_gradient_manager = QuantumGradientManager(max_gradient_norm=norm)
    trainer.d_gradient_manager = QuantumGradientManager(max_gradient_norm=norm)
    trainer.fused = fused
    return _run(trainer, _data(bad_steps), steps), plain


def _same(fused_run, plain_run):
    (logs_f, w_f, g_f, d_f), (logs_p, w_p, g_p, d_p) = fused_run, plain_run
    assert np.max(np.abs(w_f - w_p)) <= 1e-5 * max(1.0, np.max(np.abs(w_p)))
    assert g_f == g_p and d_f == d_p
    assert logs_f.keys() == logs_p.keys()
    for key in logs_f:
        np.testing.assert_allclose(logs_f[key], logs_p[key], rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.parametrize(
    "loss_type, kwargs",
    [
        ("wasserstein", {"lr_decay": 0.5, "lambda_cutoff": 1.0}),
        ("wasserstein", {"max_gradient_norm": 0.01}),  # every update clipped
        ("mmd", {}),
        ("measurement", {}),  # BCE critic; the generator's loss reads the real batch
        ("wasserstein", {"dtype": tf.complex128}),  # float64 losses come back as float64
    ],
    ids=["wgan-gp", "clipped", "mmd", "measurement", "complex128"],
)
def test_fused_step_gives_the_per_update_weights_metrics_and_counters(loss_type, kwargs):
    trainer = _trainer(True, loss_type, **kwargs)
    assert trainer.fused is not None and _trainer(False).fused is None
    trainer.set_learning_rates(2, 3)
    runs = _both_paths(trainer)
    _same(*runs)
    assert trainer.fused.usable and trainer.fused.redone == 0  # every update ran fused
    if "max_gradient_norm" in kwargs:
        assert runs[0][2]["clipped_steps"] == runs[0][2]["total_steps"] > 0


#: where each injected failure strikes: the three ways of qgan_lab.lab.troubleshooting that give NaN
#: gradients in the graph, at one update (counted by that side's optimizer), and a non-finite
#: loss, on the step whose real batch carries a sentinel (a skipped update does not count)
FAILURES = {
    ("d", "sqrt_at_zero"): ("update", 4),  # sqrt(p q) with q = 0: infinite d sqrt(u)/du times 0
    ("g", "masked_division"): ("update", 2),  # the cutoff-overflow case: finite loss, 0/0 in the gradient
    ("d", "nan_loss"): ("batch", 1003.0),  # a loss that is itself not finite: the update is skipped
    ("g", "nan_loss"): ("batch", 1004.0),
}


def _failure(real, var, optimizer, side):
    """0 with a fine gradient, unless this update or batch is one of this side's failures."""
    param = tf.reduce_sum(var)
    bad = {
        "sqrt_at_zero": lambda: tf.sqrt(tf.square(param) * tf.zeros([])),
        "masked_division": lambda: tf.where(tf.constant(True), 0.0, param / tf.constant(0.0)),
        "nan_loss": lambda: param * float("nan"),
    }
    out = 0.0 * param
    for (where, kind), (trigger, value) in FAILURES.items():
        if where == side:
            hit = tf.equal(optimizer.iterations, value) if trigger == "update" else tf.equal(real[0, 0], value)
            out = tf.cond(hit, bad[kind], lambda out=out: out)
    return out


def _inject(trainer):
    base = trainer.loss_fn
    critic_var, generator_var = (m.trainable_variables[0] for m in (trainer.discriminator, trainer.generator))
    d_opt, g_opt = trainer.d_optimizer, trainer.g_optimizer

    class Failing(type(base)):
        def critic_objective(self, real_output, fake_output, real, fake, critic, alpha=None):
            losses = base.critic_objective(real_output, fake_output, real, fake, critic, alpha)
            return {**losses, "total_loss": losses["total_loss"] + _failure(real, critic_var, d_opt, "d")}

        def regularizers(self, measurements, real, params):
            regs = base.regularizers(measurements, real, params)
            return {**regs, "total_loss": regs["total_loss"] + _failure(real, generator_var, g_opt, "g")}

    failing = Failing.__new__(Failing)
    failing.__dict__.update(base.__dict__)
    trainer.loss_fn = trainer.steps.loss_fn = failing


def test_a_bad_update_is_not_applied_in_the_graph_and_is_redone_on_the_per_update_path():
    trainer = _trainer(True, n_critic=3)
    _inject(trainer)
    calls = {"_critic_update": 0, "train_generator_step": 0}
    for name in calls:
        original = getattr(trainer, name)

        def counted(*args, name=name, original=original, **kw):
            calls[name] += 1
            return original(*args, **kw)

        setattr(trainer, name, counted)
    runs = _both_paths(trainer, steps=8, bad_steps={4: 1003.0, 6: 1004.0})
    _same(*runs)
    g, d = runs[0][2], runs[0][3]
    assert d["nan_steps"] == d["backup_steps"] == 1 and d["skipped_steps"] == 3  # critic update 4; step 4
    assert g["nan_steps"] == g["backup_steps"] == 1 and g["skipped_steps"] == 1  # generator update 2; step 6
    # the per-update run makes every update in Python (8 steps x (3 + 1)); the fused run only
    # from a failing step's first bad update on: step 1 from its second critic update (critic
    # update 4 of the run; the first was applied in the graph), step 2's generator update,
    # step 4 all four, step 6 the generator's
    assert calls == {"_critic_update": 24 + 2 + 3, "train_generator_step": 8 + 1 + 1 + 1 + 1}
    assert trainer.fused.redone == 2 + 1 + 1 + 4 + 1


def test_a_variable_without_gradient_falls_back_to_the_per_update_path_for_good():
    """The dropped-gate case: a variable the loss never sees has a None gradient."""
    trainer = _trainer(True)
    unused = trainer.generator.unused = tf.Variable([0.5], name="unused")  # joins trainable_variables
    regularizers = trainer.loss_fn.regularizers  # which would see it: leave it out there

    def without_unused(measurements, real, params):
        return regularizers(measurements, real, [p for p in params if p is not unused])

    trainer.loss_fn.regularizers = without_unused
    trainer.g_optimizer = tf.keras.optimizers.Adam(1e-3, beta_1=0.5)
    trainer.g_optimizer.build(trainer.generator.trainable_variables)
    trainer.fused = FusedStep(trainer.steps, trainer.d_optimizer, trainer.g_optimizer, 2, 5.0)
    runs = _both_paths(trainer)
    assert not trainer.fused.usable
    _same(*runs)
    assert runs[0][2]["backup_steps"] == runs[0][2]["total_steps"] > 0


def test_clipping_and_finiteness_checks():
    grads = [tf.constant([3.0, 4.0]), tf.constant([0.1])]
    clipped, any_clipped, norm = clip_by_norm(grads, 1.0)
    np.testing.assert_allclose(clipped[0].numpy(), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(clipped[1].numpy(), [0.1])
    assert bool(any_clipped) and abs(float(norm) - np.sqrt(1.01)) < 1e-6
    assert not bool(clip_by_norm([tf.constant([0.0])], 1.0)[1])
    assert clip_by_norm([tf.constant([3.0, 4.0], tf.float64)], 1.0)[0][0].dtype == tf.float64  # complex128 models
    assert bool(all_finite(tf.constant(1.0), grads))
    assert not bool(all_finite(tf.constant(np.inf), grads))
    assert not bool(all_finite(tf.constant(1.0), [tf.constant([np.nan])]))


def test_a_step_is_one_compiled_call_traced_once():
    trainer = _trainer(True, n_critic=3)
    trainer.train_epoch(_data(), 3, trainer.latent_dim, 1)
    steps = trainer.steps
    assert trainer.fused._step.tracing_count() == 1 and trainer.fused.redone == 0
    # the per-update path's compiled pieces were never needed
    pieces = (steps.d_step, steps._sample_loss_vjp, steps._generator_vjp, steps._sample_with_trace)
    assert all(f.tracing_count() == 0 for f in pieces)
    # sample() compiles one size: the trainer's validation samples (one call per epoch)
    assert steps.sample_rows == trainer._plot_z.shape[0] == 500 and trainer.sample(5).shape == (5, 2)
    assert steps.rows_that_fit(10**9) < 10**9  # the engine's memory limit caps it
