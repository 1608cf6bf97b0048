"""The trainer: input checks, fault handling, callbacks, checkpoint folder rules (kill loop: test_checkpoints)."""

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator
from qgan_lab.data import create_bimodal_data_generator, make_data_generator, validation_set
from qgan_lab.training.callbacks import EarlyStopping, LearningRateRule, ModeCollapseMonitor, QuantumGANCallback
from qgan_lab.training.trainer import HISTORY_KEYS, QuantumGANTrainer

ROOT = Path(__file__).resolve().parents[1]

TINY_TOML = """
[data]
target = "bimodal"
batch_size = 8
validation_samples = 500
[generator]
latent_dim = 2
output_dim = 2
n_modes = 2
layers = 1
cutoff_dim = {cutoff}
[discriminator]
input_dim = 2
n_modes = 2
layers = 1
cutoff_dim = 4
[training]
loss_type = "wasserstein"
epochs = 4
steps_per_epoch = {steps}
n_critic = 2
save_interval = 1
plot_interval = 2
seed = 3
"""


def tiny_models(cutoff=4, **kwargs):
    g = PureQuantumGenerator(2, 2, 2, 1, cutoff, seed=0, **kwargs)
    d = PureQuantumDiscriminator(2, 2, 1, 4, seed=1)
    return g, d


@pytest.fixture(scope="module")
def trainer():
    return QuantumGANTrainer(*tiny_models(), n_critic=2, seed=0)


def test_configuration_errors():
    g, d = tiny_models()
    with pytest.raises(ValueError, match="loss_type=: must be one of"):
        QuantumGANTrainer(g, d, "hinge")
    with pytest.raises(ValueError, match="n_critic"):
        QuantumGANTrainer(g, d, n_critic=0)
    with pytest.raises(ValueError, match="output_dim"):
        QuantumGANTrainer(PureQuantumGenerator(2, 1, 2, 1, 4), d)


def test_bad_data_and_latent_size_fail_before_training(trainer):
    before = [v.numpy().copy() for v in trainer.generator.trainable_variables]
    with pytest.raises(ValueError, match="latent_dim=3"):
        trainer.train(create_bimodal_data_generator(8), 1, 1, latent_dim=3)
    with pytest.raises(ValueError, match="features"):
        trainer.train(lambda: np.zeros((8, 3)), 1, 1, latent_dim=2)
    with pytest.raises(ValueError, match="NaN or inf"):
        trainer.train(lambda: np.full((8, 2), np.nan), 1, 1, latent_dim=2)
    with pytest.raises(ValueError, match="batch, features"):
        trainer.train(lambda: np.zeros(8), 1, 1, latent_dim=2)
    with pytest.raises(ValueError, match="epochs"):
        trainer.train(create_bimodal_data_generator(8), 0, 1, latent_dim=2)
    after = [v.numpy() for v in trainer.generator.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_history_log_line_and_evaluation(trainer, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        history = trainer.train(
            create_bimodal_data_generator(8, seed=0),
            2,
            3,
            latent_dim=2,
            validation_data=validation_set(n=300),
            progress=False,
        )
    for key in (*HISTORY_KEYS, "val_w1"):
        assert len(history[key]) == 2 and np.all(np.isfinite(history[key])), key
    assert "G_grads=10/10, D_grads=10/10" in caplog.text
    assert trainer.initial_gradient_report["generator"][0]["status"] == "ok"
    report = trainer.evaluate(validation_set(n=300), [[-2, -2], [2, 2]], n_samples=200, output_dir=tmp_path)
    assert len(report["wasserstein_per_feature"]) == 2 and sum(report["mode_coverage"]) == pytest.approx(1)
    assert np.load(tmp_path / "final_generated_samples.npy").shape == (200, 2)
    assert "mode coverage" in (tmp_path / "report.txt").read_text()
    assert report["gradient_manager"]["discriminator"]["total_steps"] == 2 * 3 * 2


def test_non_finite_loss_mid_training_is_skipped_and_counted(caplog):
    class FragileCritic(PureQuantumDiscriminator):
        """Breaks down (NaN score) on inputs far outside the data range, as an overflow would."""

        def _forward_impl(self, inputs):
            out = super()._forward_impl(inputs)
            broken = tf.reduce_max(tf.abs(inputs)) > 100.0
            return {**out, "output": out["output"] + tf.where(broken, np.nan, 0.0)}

    trainer = QuantumGANTrainer(
        PureQuantumGenerator(2, 2, 2, 1, 4, seed=0), FragileCritic(2, 2, 1, 4, seed=1), n_critic=1
    )
    calls = {"n": 0}

    def data():
        calls["n"] += 1
        batch = np.random.default_rng(calls["n"]).normal(size=(8, 2)).astype(np.float32)
        if calls["n"] == 4:
            batch[0, 0] = 1e6  # finite, but the critic breaks down: a NaN loss mid-training
        return batch

    history = trainer.train(data, 1, 6, latent_dim=2, progress=False)
    assert history["skipped_steps"][0] >= 1 and "loss is not finite" in caplog.text
    assert np.isfinite(history["d_loss"][0])
    assert trainer.d_gradient_manager.get_summary()["skipped_steps"] >= 1
    assert all(np.all(np.isfinite(v.numpy())) for v in trainer.discriminator.trainable_variables)


def test_gradient_flow_check_names_dead_variables():
    class DeadCritic(PureQuantumDiscriminator):
        def _forward_impl(self, inputs):
            out = super()._forward_impl(inputs)
            return {**out, "output": tf.stop_gradient(out["output"]) + tf.reduce_sum(inputs, 1, keepdims=True)}

    g = PureQuantumGenerator(2, 2, 2, 1, 4, seed=0)
    trainer = QuantumGANTrainer(g, DeadCritic(2, 2, 1, 4, seed=1), "bce")
    with pytest.raises(RuntimeError, match="no discriminator variable has a valid gradient: .*L0_kerr"):
        trainer.train(create_bimodal_data_generator(8), 1, 1, latent_dim=2, progress=False)


def test_callbacks():
    class Recorder(QuantumGANCallback):
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, epoch, trainer, logs=None):
            self.epochs.append((epoch, sorted(logs)))

    recorder, stopper = Recorder(), EarlyStopping("val_w1", patience=1, min_delta=10.0)
    collapse = ModeCollapseMonitor(threshold=1e9)  # every epoch looks collapsed
    lr_rule = LearningRateRule(start_epoch=0, factor=0.0, decay=0.5)  # always fires
    trainer = QuantumGANTrainer(*tiny_models(), n_critic=1, callbacks=[recorder, stopper, collapse, lr_rule])
    trainer.train(
        create_bimodal_data_generator(8), 5, 1, latent_dim=2, validation_data=validation_set(n=100), progress=False
    )
    assert [e for e, _ in recorder.epochs] == [1, 2] and stopper.stopped_epoch == 2
    assert "g_loss" in recorder.epochs[0][1]
    assert collapse.collapsed_epochs == [1, 2]
    assert np.isclose(float(np.asarray(trainer.g_optimizer.learning_rate)), 1e-3 * 0.25)
    with pytest.raises(ValueError, match="did not log"):
        EarlyStopping("val_w1").on_epoch_end(1, trainer, {"g_loss": 1.0})


def test_checkpoint_folder_rules(tmp_path):
    trainer = QuantumGANTrainer(*tiny_models(), n_critic=1, seed=0)
    data = make_data_generator("bimodal", 8, seed=0)
    trainer.train(data, 1, 2, latent_dim=2, output_dir=tmp_path, progress=False)
    assert (tmp_path / "plots" / "qgan_training_epoch_1.png").exists()
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="already holds a run"):
        QuantumGANTrainer(*tiny_models(), n_critic=1).train(
            data, 2, 1, latent_dim=2, output_dir=tmp_path, progress=False
        )
    other = QuantumGANTrainer(*tiny_models(cutoff=5), n_critic=1)
    with pytest.raises(ValueError, match="another architecture"):
        other.train(data, 2, 1, latent_dim=2, output_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="another architecture"):
        other.restore(tmp_path)
    assert snapshot == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}  # nothing overwritten
    with pytest.raises(ValueError, match="resume=True: needs"):
        other.train(data, 2, 1, latent_dim=2, resume=True, progress=False)


def _cli(config, out, *extra):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return [
        sys.executable,
        "-m",
        "qgan_lab",
        "train",
        "--config",
        str(config),
        "--output-dir",
        str(out),
        "--no-progress",
        *extra,
    ], env


def test_learning_rates_decay_geometrically_to_lr_decay_at_the_last_epoch():
    g, d = tiny_models()
    trainer = QuantumGANTrainer(g, d, learning_rate_g=2e-3, learning_rate_d=1e-3, lr_decay=0.1)
    trainer.set_learning_rates(1, 5)
    assert np.isclose(float(trainer.g_optimizer.learning_rate), 2e-3)
    trainer.set_learning_rates(3, 5)
    assert np.isclose(float(trainer.d_optimizer.learning_rate), 1e-3 * 0.1**0.5)
    trainer.set_learning_rates(5, 5)
    assert np.isclose(float(trainer.g_optimizer.learning_rate), 2e-4)
    with pytest.raises(ValueError, match="lr_decay"):
        QuantumGANTrainer(g, d, lr_decay=0.0)


def test_cutoff_penalty_adds_the_leaked_probability_to_the_generator_loss():
    g, d = tiny_models(cutoff=3)
    g.weights["L0_disp_r"].assign([1.5, 1.5])  # pushes probability past cutoff 3
    plain = QuantumGANTrainer(g, d, seed=0)
    penalised = QuantumGANTrainer(g, d, seed=0, lambda_cutoff=2.0, trace_floor=1.0)
    z, real = tf.random.stateless_normal([4, 2], seed=[1, 2]), tf.zeros([4, 2])
    trace = g.forward(z)["trace"].numpy()
    assert trace.max() < 0.9
    (a, _), (b, _) = plain.steps.g_losses(z, real), penalised.steps.g_losses(z, real)
    np.testing.assert_allclose(b["cutoff_reg"], np.mean(1.0 - trace), rtol=1e-5)
    np.testing.assert_allclose(b["total_loss"] - a["total_loss"], 2.0 * np.mean(1.0 - trace), rtol=1e-4)
    with pytest.raises(ValueError, match="lambda_cutoff"):
        QuantumGANTrainer(g, d, lambda_cutoff=-1.0)


def test_a_critic_free_loss_trains_the_born_generator_alone(caplog):
    """MMD needs no critic: no critic update runs, the critic's weights stay put, the generator
    learns, and the epoch lines leave out the critic's (empty) fields."""
    g = PureQuantumGenerator(2, 2, 2, 1, 4, readout="sample", seed=0)
    d = PureQuantumDiscriminator(2, 2, 1, 4, seed=1)
    before = d.get_weights()
    trainer = QuantumGANTrainer(g, d, "mmd", seed=0, lambda_cutoff=1.0)
    g_before = g.get_weights()
    with caplog.at_level(logging.INFO, logger="qgan_lab"):
        history = trainer.train(make_data_generator("bimodal", 16, seed=0), 2, 3, 2, progress=False)
    epoch_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch ")]
    assert len(epoch_lines) == 2 and all("G_grads=" in e and "D_" not in e and "nan" not in e for e in epoch_lines)
    assert trainer.d_gradient_manager.get_summary()["total_steps"] == 0
    assert all(np.array_equal(v, d.get_weights()[k]) for k, v in before.items())
    assert any(not np.allclose(v, g.get_weights()[k]) for k, v in g_before.items())
    assert np.all(np.isfinite(history["g_loss"])) and history["g_gradients"][-1] == len(g.trainable_variables)
    assert "discriminator" not in trainer.initial_gradient_report
