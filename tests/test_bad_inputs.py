"""Every bad input is refused before any work, with the argument named (issue 11).

One table per entry point: the trainer, ``train()``, the models, the TOML config and the CLI.
Each case names the exception type and a regular expression the message must match (the
argument's name). Nothing here compiles a training step, so the whole file is cheap.
"""

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_training import TINY_TOML

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator, QuantumGANTrainer
from qgan_lab.cli import main
from qgan_lab.config import build, load_config
from qgan_lab.data import make_data_generator
from qgan_lab.training import checkpoints

ROOT = Path(__file__).resolve().parents[1]


def tiny(cutoff=4):
    return PureQuantumGenerator(2, 2, 2, 1, cutoff, seed=0), PureQuantumDiscriminator(2, 2, 1, 4, seed=1)


TRAINER_CASES = [
    ({"loss_type": "hinge"}, ValueError, r"^loss_type=: .*'hinge'"),
    ({"loss_type": 3}, TypeError, r"^loss_type=:"),
    ({"n_critic": 0}, ValueError, r"^n_critic=:"),
    ({"n_critic": 2.5}, TypeError, r"^n_critic=:"),
    ({"n_critic": True}, TypeError, r"^n_critic=:"),
    ({"learning_rate_g": "0.001"}, TypeError, r"^learning_rate_g=:"),
    ({"learning_rate_d": -1.0}, ValueError, r"^learning_rate_d=:"),
    ({"learning_rate_g": float("nan")}, ValueError, r"^learning_rate_g=:"),
    ({"beta_1": 1.5}, ValueError, r"^beta_1=:"),
    ({"seed": "x"}, TypeError, r"^seed=:"),
    ({"seed": -1}, ValueError, r"^seed=:"),
    ({"loss_kwargs": {"lambda_gp": "10"}}, ValueError, r"lambda_gp"),
    ({"loss_kwargs": {"lambda_gp": float("inf")}}, ValueError, r"lambda_gp"),
    ({"loss_kwargs": {"lambda_gp": -1.0}}, ValueError, r"^loss_kwargs\['lambda_gp'\]: lambda_gp must be >= 0"),
    ({"loss_kwargs": {"lambda_gpp": 1.0}}, TypeError, r"^loss_kwargs=:.*lambda_gpp"),
    ({"max_gradient_norm": 0}, ValueError, r"^max_gradient_norm=:"),
    ({"trace_threshold": 2.0}, ValueError, r"^trace_threshold=:"),
    ({"callbacks": [object()]}, TypeError, r"^callbacks=:"),
]


def case_id(value) -> str:
    """A stable test id (no memory addresses: pytest-xdist workers must collect the same ids)."""
    return re.sub(r" at 0x[0-9a-f]+", "", str(value))[:40]


@pytest.mark.parametrize("kwargs, error, pattern", TRAINER_CASES, ids=case_id)
def test_trainer_arguments(kwargs, error, pattern):
    g, d = tiny()
    loss_type = kwargs.pop("loss_type", "wasserstein")
    with pytest.raises(error, match=pattern):
        QuantumGANTrainer(g, d, loss_type, **kwargs)


def test_trainer_models_and_numpy_ints():
    g, d = tiny()
    with pytest.raises(TypeError, match=r"^generator=:"):
        QuantumGANTrainer("not a model", d)
    with pytest.raises(ValueError, match=r"^discriminator=: generator.output_dim=1"):
        QuantumGANTrainer(PureQuantumGenerator(2, 1, 2, 1, 4), d)
    trainer = QuantumGANTrainer(g, d, n_critic=np.int64(2), seed=np.int64(3))  # the guide's numpy ints pass
    assert trainer.n_critic == 2 and trainer.seed == 3


def test_model_arguments():
    with pytest.raises(ValueError, match=r"n_modes must be >= 1"):
        PureQuantumGenerator(latent_dim=2, n_modes=0)
    g, _ = tiny()
    with pytest.raises(ValueError, match=r"z must have shape \[batch, 2\], got \[4, 3\]"):
        g.generate(np.zeros((4, 3)))  # an extra latent column is refused, not ignored
    sf = PureQuantumGenerator(2, 2, 6, 1, 20, engine="sf")
    with pytest.raises(ValueError, match=r"n_modes=6, cutoff_dim=20.*amplitudes"):
        sf.generate(np.zeros((16, 2)))  # a clear memory error instead of an out-of-memory crash


@pytest.fixture(scope="module")
def trainer():
    return QuantumGANTrainer(*tiny(), n_critic=1, seed=0)


def _data():
    return make_data_generator("bimodal", 8, seed=0)


def _blocked(tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root writes through permissions: use /proc
        if not Path("/proc/self").exists():
            pytest.skip("root can write anywhere")
        return Path("/proc/qgan_lab_test/run")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / "run"


TRAIN_CASES = [
    ({"epochs": 2.9}, TypeError, r"^epochs=:"),
    ({"epochs": True}, TypeError, r"^epochs=:"),
    ({"epochs": 0}, ValueError, r"^epochs=:"),
    ({"steps_per_epoch": -1}, ValueError, r"^steps_per_epoch=:"),
    ({"save_interval": 0}, ValueError, r"^save_interval=:"),
    ({"plot_interval": 0}, ValueError, r"^plot_interval=:"),
    ({"plot_interval": -2}, ValueError, r"^plot_interval=:"),
    ({"latent_dim": 3}, ValueError, r"^latent_dim=:"),
    ({"latent_dim": "2"}, TypeError, r"^latent_dim=:"),
    ({"data_generator": np.zeros((8, 2))}, TypeError, r"^data_generator=:"),
    ({"data_generator": lambda: np.zeros((8, 3))}, ValueError, r"data_generator returns 3 features"),
    ({"validation_data": np.zeros((10, 3))}, ValueError, r"^validation_data=: .*3 features"),
    ({"resume": True}, ValueError, r"^resume=True: needs the output_dir"),
    ({"resume": "yes"}, TypeError, r"^resume=:"),
    ({"output_dir": "FILE"}, ValueError, r"^output_dir=: .* is a file"),
    ({"output_dir": "FILE/sub"}, ValueError, r"^output_dir=: .* is a file"),
    ({"output_dir": "LOCKED"}, ValueError, r"^output_dir=: cannot write"),
    ({"output_dir": "EMPTY", "resume": True}, ValueError, r"^resume=True: .* holds no checkpoint"),
]


@pytest.mark.parametrize("kwargs, error, pattern", TRAIN_CASES, ids=case_id)
def test_train_arguments_fail_before_any_step(trainer, tmp_path, kwargs, error, pattern):
    args = {"data_generator": _data(), "epochs": 2, "steps_per_epoch": 1, "latent_dim": 2, "progress": False}
    args.update(kwargs)
    if isinstance(args.get("output_dir"), str):
        (tmp_path / "FILE").write_text("not a folder")
        places = {"FILE": tmp_path / "FILE", "FILE/sub": tmp_path / "FILE" / "sub", "EMPTY": tmp_path / "empty"}
        args["output_dir"] = _blocked(tmp_path) if args["output_dir"] == "LOCKED" else places[args["output_dir"]]
    before = trainer.generator.get_weights()
    with pytest.raises(error, match=pattern):
        trainer.train(**args)
    assert all(np.array_equal(v, trainer.generator.get_weights()[k]) for k, v in before.items())
    assert int(trainer.epoch.numpy()) == 0


def test_step_inputs(trainer):
    real, z = np.zeros((8, 2), np.float32), np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"^z_batch=: must have as many rows as the real batch \(8\), got 4"):
        trainer.train_discriminator_step(real, z)  # the gradient penalty's batch mismatch
    with pytest.raises(ValueError, match=r"^alpha=: must have shape \[8, 1\]"):
        trainer.train_discriminator_step(real, np.zeros((8, 2)), alpha=np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"z_batch must have shape \[batch, 2\]"):
        trainer.train_generator_step(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"^z=: must have as many rows"):
        trainer.sample(3, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"validation_data=: .*3 features"):
        trainer.evaluate(np.zeros((10, 3)))

    # train() checked the first batch; a later one of another width is named, not a traceback
    with pytest.raises(ValueError, match=r"^data_generator=: epoch 1: returned a batch of shape \(8, 3\)"):
        trainer.train_epoch(lambda: np.zeros((8, 3)), 2, 2, 1)


def fake_run(folder, epoch=3, seed=0, cutoff=4, batch_size=8):
    """A run folder with a checkpoint at ``epoch`` (saved without training: nothing compiles)."""
    trainer = QuantumGANTrainer(*tiny(cutoff), n_critic=1, seed=seed)
    trainer.epoch.assign(epoch)
    trainer.save(folder, make_data_generator("bimodal", batch_size, seed=0))
    return trainer


def test_resume_mistakes(tmp_path, caplog):
    fake_run(tmp_path)
    args = {"data_generator": _data(), "steps_per_epoch": 1, "latent_dim": 2, "progress": False}
    with pytest.raises(ValueError, match=r"^epochs=: .*already done 3 epochs.*more than 3 .*got 3"):
        QuantumGANTrainer(*tiny(), n_critic=1).train(epochs=3, output_dir=tmp_path, resume=True, **args)
    with pytest.raises(ValueError, match=r"^output_dir=: .* already holds a run; pass resume=True"):
        QuantumGANTrainer(*tiny(), n_critic=1).train(epochs=5, output_dir=tmp_path, **args)
    # a changed seed or batch size is allowed, with a warning naming it
    changed = QuantumGANTrainer(*tiny(), n_critic=1, seed=5)
    with caplog.at_level(logging.WARNING):
        assert changed.restore(tmp_path, make_data_generator("bimodal", 16)) == 3
    assert "changed settings (seed=0 -> 5, batch_size=8 -> 16)" in caplog.text
    # config.json deleted: the architecture stored with each checkpoint still guards it
    (tmp_path / "config.json").unlink()
    with pytest.raises(ValueError, match=r"^output_dir=: .*another architecture"):
        QuantumGANTrainer(*tiny(cutoff=5), n_critic=1).restore(tmp_path)


# (line of TINY_TOML, its replacement, error, pattern)
CONFIG_CASES = [
    ("batch_size = 8", 'batch_size = "four"', TypeError, r"^\[data\] batch_size: must be an int"),
    ("epochs = 4", "epochs = 2.9", TypeError, r"^\[training\] epochs:"),
    ("epochs = 4", "epochs = true", TypeError, r"^\[training\] epochs:"),
    ("n_critic = 2", "n_critic = 2\nbeta_1 = 1.5", ValueError, r"^\[training\] beta_1:"),
    ("save_interval = 1", "save_interval = -1", ValueError, r"^\[training\] save_interval:"),
    ("plot_interval = 2", "plot_interval = 0", ValueError, r"^\[training\] plot_interval:"),
    ("seed = 3", 'seed = "x"', TypeError, r"^\[training\] seed:"),
    ("n_critic = 2", "n_critic = 2\nlearning_rate_g = '0.001'", TypeError, r"^\[training\] learning_rate_g:"),
    ("lambda_gp = 10.0", "lambda_gp = inf", ValueError, r"^\[loss\] lambda_gp:"),
    ("lambda_gp = 10.0", "lambda_gp = '10'", ValueError, r"^\[loss\] lambda_gp:"),
    ("lambda_gp = 10.0", "lambda_gp = -1.0", ValueError, r"^\[loss\] lambda_gp: lambda_gp must be >= 0"),
    ("lambda_gp = 10.0", "lambda_gpp = 1.0", TypeError, r"^\[loss\]: 'lambda_gpp' is not a keyword"),
    ("lambda_gp = 10.0", "lambda_gp = 10.0\npenalty = 3", TypeError, r"^\[loss\] penalty: must be a string"),
    ("lambda_gp = 10.0", 'lambda_gp = 10.0\npenalty = "both"', ValueError, r"^\[loss\] penalty: penalty must be one"),
]
TOML = TINY_TOML.format(cutoff=4, steps=1) + "[loss]\nlambda_gp = 10.0\n"

# issue 23: the TOML goes through the same table as the Python keywords
CONFIG_CASES_23 = [
    ("n_critic = 2", "n_critic = 2\nlr_decay = true", TypeError, r"^\[training\] lr_decay: must be a number"),
    ("n_critic = 2", 'n_critic = 2\nlr_decay = "0.1"', TypeError, r"^\[training\] lr_decay:"),
    ("n_critic = 2", "n_critic = 2\nlr_decay = 1.5", ValueError, r"^\[training\] lr_decay:"),
    ("n_critic = 2", 'n_critic = 2\nlambda_cutoff = "x"', TypeError, r"^\[training\] lambda_cutoff:"),
    ("n_critic = 2", "n_critic = 2\nlambda_cutoff = -1.0", ValueError, r"^\[training\] lambda_cutoff:"),
    ("n_critic = 2", "n_critic = 2\nema_decay = true", TypeError, r"^\[training\] ema_decay:"),
    ('loss_type = "wasserstein"', 'loss_type = "hinge"', ValueError, r"^\[training\] loss_type: must be one of"),
    ("seed = 3", "seed = 18446744073709551616", ValueError, r"^\[training\] seed: must be an int in \[0, "),
    ("latent_dim = 2", 'latent_dim = 2\nencoding_scale = "0.5"', TypeError, r"^\[generator\] encoding_scale:"),
    ("latent_dim = 2", "latent_dim = 2\nactive_std = 0.0", ValueError, r"^\[generator\] active_std:"),
    ("input_dim = 2", "input_dim = 2\noutput_scale = 0.0", ValueError, r"^\[discriminator\] output_scale:"),
    ("input_dim = 2", 'input_dim = 2\ninput_width = ["a"]', TypeError, r"^\[discriminator\] input_width:"),
    ('target = "bimodal"', "target = 3", TypeError, r"^\[data\] target: must be a string"),
]


@pytest.mark.parametrize("old, new, error, pattern", CONFIG_CASES + CONFIG_CASES_23, ids=lambda c: case_id(c)[:30])
def test_config_values(tmp_path, old, new, error, pattern):
    assert old in TOML
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace(old, new))
    with pytest.raises(error, match=pattern):
        load_config(path)


def _cli(capsys, *argv):
    """Run the CLI in this process: (exit code, stderr)."""
    try:
        code = main(["train", "--no-progress", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    return code, capsys.readouterr().err


def test_cli_names_the_argument(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text(TOML)
    (tmp_path / "a_file").write_text("x")
    done = tmp_path / "done"  # a run with 4 epochs done and evaluated, as the TOML's architecture
    trainer, _, validation, _ = build(load_config(good))
    trainer.epoch.assign(4)
    trainer.save(done)
    trainer.evaluate(validation, n_samples=8, output_dir=done)
    bad = tmp_path / "bad.toml"
    bad.write_text(TOML.replace("batch_size = 8", 'batch_size = "four"'))
    cases = [
        (["--config", str(good), "--epochs", "0"], r"error: argument --epochs: must be an int >= 1"),
        (["--config", str(good), "--epochs", "2.9"], r"error: argument --epochs: must be an int"),
        (["--config", str(good), "--seed", "x"], r"error: argument --seed: must be an int"),
        (["--config", "nope"], r"error: --config: unknown preset 'nope'"),
        (["--config", str(bad)], r"error: \[data\] batch_size: must be an int"),
        (["--config", str(good), "--loss-type", "hinge", "--output-dir", str(tmp_path / "h")], r"error: --loss-type:"),
        (["--config", str(good), "--output-dir", str(tmp_path / "a_file")], r"error: --output-dir: .* is a file"),
        (
            ["--config", str(good), "--output-dir", str(tmp_path / "empty"), "--resume"],
            r"error: --resume: .* holds no checkpoint to continue; leave out --resume",
        ),
        (
            ["--config", str(good), "--output-dir", str(done), "--resume", "--epochs", "4"],
            r"error: --epochs: .*already done 4 epochs; --epochs counts all",
        ),
        (
            ["--config", str(good), "--output-dir", str(done)],
            r"error: --output-dir: .* already holds a run; pass --resume to continue it",
        ),
    ]
    for argv, pattern in cases:
        code, err = _cli(capsys, *argv)
        assert code == 2 and re.search(pattern, err) and "Traceback" not in err, (argv, code, err)
    assert not (done / "run_config.json").exists()  # nothing was rewritten
    assert not (tmp_path / "empty").exists()  # a failed --resume creates no folder


def test_cli_exit_code_in_a_real_process(tmp_path):
    (tmp_path / "a_file").write_text("x")
    argv = ["train", "--config", "bimodal", "--epochs", "1", "--output-dir", str(tmp_path / "a_file")]
    result = subprocess.run([sys.executable, "-m", "qgan_lab", *argv], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert re.search(r"^error: --output-dir: .* is a file", result.stderr, re.M), result.stderr


# ---------------------------------------------------------------------- issue 23
# One table of checks (qgan_lab.validation.ARGUMENTS): the same value is refused the same way
# by the models, the trainer, the TOML and the CLI, each naming it as it was spelled there.

MODEL_CASES = [
    ({"encoding_scale": "0.5"}, TypeError, r"^encoding_scale=:"),
    ({"encoding_scale": float("nan")}, ValueError, r"^encoding_scale=:"),
    ({"output_scale": "1"}, TypeError, r"^output_scale=:"),
    ({"output_scale": 0.0}, ValueError, r"^output_scale=: .*non-zero"),
    ({"passive_std": "0.1"}, TypeError, r"^passive_std=:"),
    ({"active_std": -0.1}, ValueError, r"^active_std=:"),
    ({"active_std": float("inf")}, ValueError, r"^active_std=:"),
    ({"seed": "3"}, TypeError, r"^seed=:"),
    ({"seed": -1}, ValueError, r"^seed=:"),
    ({"seed": 1.5}, TypeError, r"^seed=:"),
    ({"seed": 2**64}, ValueError, r"^seed=: must be an int in \[0, "),
]


@pytest.mark.parametrize("model", [PureQuantumGenerator, PureQuantumDiscriminator])
@pytest.mark.parametrize("kwargs, error, pattern", MODEL_CASES, ids=case_id)
def test_model_scales_stds_and_seeds(model, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        model(2, n_modes=1, layers=1, cutoff_dim=3, **kwargs)


class TwoArgumentCallback:
    def on_epoch_end(self, epoch):  # the guide's hook takes (epoch, trainer, logs)
        pass


TRAINER_CASES_23 = [
    ({"seed": 2**64}, ValueError, r"^seed=: must be an int in \[0, 9223372036854775807\]"),
    ({"seed": 1.0}, TypeError, r"^seed=:"),
    ({"lr_decay": True}, TypeError, r"^lr_decay=:"),
    ({"lr_decay": "0.1"}, TypeError, r"^lr_decay=:"),
    ({"lr_decay": 0.0}, ValueError, r"^lr_decay=:"),
    ({"lambda_cutoff": "x"}, TypeError, r"^lambda_cutoff=:"),
    ({"ema_decay": 1.0}, ValueError, r"^ema_decay=:"),
    # a known keyword of the wrong type is not reported as an unknown one
    ({"loss_kwargs": {"lambda_gp": [1.0, "a"]}}, ValueError, r"^loss_kwargs\['lambda_gp'\]: must be a finite number"),
    ({"loss_kwargs": {"lambda_gp": None}}, ValueError, r"^loss_kwargs\['lambda_gp'\]:"),
    ({"loss_kwargs": {"lambda_gp": {"a": 1}}}, ValueError, r"^loss_kwargs\['lambda_gp'\]:"),
    ({"loss_kwargs": {"bandwidth": 1.0}}, TypeError, r"^loss_kwargs=: 'bandwidth' is not a keyword of the"),
    ({"callbacks": [TwoArgumentCallback()]}, TypeError, r"^callbacks=: TwoArgumentCallback.on_epoch_end must accept"),
]


@pytest.mark.parametrize("kwargs, error, pattern", TRAINER_CASES_23, ids=case_id)
def test_trainer_arguments_23(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        QuantumGANTrainer(*tiny(), **kwargs)


def _ragged():
    return [[0.0, 1.0]] * 7 + [[0.0]]


TRAIN_CASES_23 = [
    ({"data_generator": _ragged}, ValueError, r"^data_generator=: returns rows of different lengths"),
    ({"data_generator": lambda: np.array([["a", "b"]] * 8)}, TypeError, r"^data_generator=: returns <U1 values"),
    ({"data_generator": lambda: [[None, 1.0]] * 8}, TypeError, r"^data_generator=: returns object values"),
    ({"validation_data": _ragged()}, ValueError, r"^validation_data=: holds rows of different lengths"),
    ({"validation_data": [["1", "2"]] * 4}, TypeError, r"^validation_data=: holds <U1 values"),
    ({"validation_data": np.array([[{}, 1.0]] * 4)}, TypeError, r"^validation_data=: holds object values"),
]


@pytest.mark.parametrize("kwargs, error, pattern", TRAIN_CASES_23, ids=case_id)
def test_train_data_23(trainer, kwargs, error, pattern):
    args = {"data_generator": _data(), "epochs": 2, "steps_per_epoch": 1, "latent_dim": 2, "progress": False}
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        trainer.train(**args)
    assert int(trainer.epoch.numpy()) == 0


def test_a_second_train_call_that_would_train_nothing_is_refused():
    trainer = QuantumGANTrainer(*tiny(), n_critic=1)
    trainer.epoch.assign(2)  # as after train(..., epochs=2)
    with pytest.raises(ValueError, match=r"^epochs=: this trainer has already done 2 epochs.*more than 2 .*got 2"):
        trainer.train(_data(), 2, 1, 2, progress=False)


def test_non_finite_weights_are_reported(caplog):
    g, d = tiny(3)
    weights = g.get_weights()
    key = sorted(weights)[0]
    with pytest.raises(ValueError, match=rf"^weights\['{key}'\]: holds 1 NaN or inf"):
        g.set_weights({**weights, key: np.where(np.arange(weights[key].size) == 0, np.nan, weights[key].ravel())})
    assert np.array_equal(g.get_weights()[key], weights[key])  # nothing was assigned
    g.weights[key].assign(np.full(weights[key].shape, np.nan, np.float32))  # behind set_weights' back
    with caplog.at_level(logging.WARNING):
        samples = g.generate(np.zeros((3, 2)))
    assert not np.all(np.isfinite(samples.numpy()))
    assert "non-finite outputs" in caplog.text and key in caplog.text
    trainer = QuantumGANTrainer(g, d, n_critic=1)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        trainer._report_non_finite(1, {"val_w1": float("nan")})  # the epoch check
    assert f"epoch 1: the generator holds non-finite weights (NaN or inf) in ['{key}']" in caplog.text
    assert "validation W1 = nan" in caplog.text


def test_cutoffs_the_engine_holds_never_crash_the_bounds():
    from qgan_lab.sim.cutoff import displacement_bound, parameter_bounds, squeezing_bound

    for cutoff in (155, 156, 171, 400):
        r_disp, r_sq = displacement_bound(cutoff), squeezing_bound(cutoff)
        assert np.sqrt(cutoff) - 4 < r_disp < np.sqrt(cutoff) and 0 < r_sq < np.arcsinh(np.sqrt(cutoff))
    assert displacement_bound(400) > displacement_bound(156) > 10  # no fixed ceiling
    g = PureQuantumGenerator(1, 1, 1, 1, 160, seed=0)
    assert all(np.isfinite(parameter_bounds(g)))
    QuantumGANTrainer(g, PureQuantumDiscriminator(1, 1, 1, 3, seed=1), n_critic=1)  # the trainer builds


def test_config_files_and_targets(tmp_path):
    with pytest.raises(ValueError, match=r"^config=: .* is a folder"):
        load_config(tmp_path)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(TOML.encode() + "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"^config=: config file .* is not UTF-8 text"):
        load_config(latin)
    narrow = tmp_path / "narrow.toml"
    narrow.write_text(TOML.replace('target = "bimodal"', 'target = "skewed_1d"'))
    with pytest.raises(
        ValueError, match=r"^\[data\] target: 'skewed_1d' has 1 features, but \[generator\] output_dim = 2"
    ):
        build(load_config(narrow))


def test_full_disk_names_the_folder_and_keeps_the_older_checkpoints(tmp_path, monkeypatch):
    import tensorflow as tf

    from qgan_lab.training import checkpoints

    trainer = fake_run(tmp_path, epoch=3)
    trainer.epoch.assign(4)

    def full(*_args, **_kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(trainer.checkpoint, "write", full)
    with pytest.raises(ValueError, match=r"^output_dir=: cannot write the checkpoint of epoch 4 .*epoch 3, is intact"):
        trainer.save(tmp_path)
    monkeypatch.undo()

    def no_space(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.os, "replace", no_space)
    with pytest.raises(ValueError, match=r"^output_dir=: .*OSError: No space left on device.*epoch 3, is intact"):
        trainer.save(tmp_path)
    monkeypatch.undo()
    names = {p.name for p in tmp_path.rglob("*")}
    assert not any(n.startswith("ckpt-4") or ".tmp-" in n for n in names), names  # half-written: removed
    assert QuantumGANTrainer(*tiny(), n_critic=1).restore(tmp_path) == 3


def test_cli_23(tmp_path, capsys, monkeypatch):
    good = tmp_path / "good.toml"
    good.write_text(TOML)
    bad_loss = tmp_path / "loss.toml"
    bad_loss.write_text(TOML.replace('loss_type = "wasserstein"', 'loss_type = "hinge"'))
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"# caf\xe9\n" + TOML.encode())
    done = tmp_path / "done"  # 4 epochs trained and evaluated; its config.json then replaced by []
    trainer, _, validation, _ = build(load_config(good))
    trainer.epoch.assign(4)
    trainer.save(done)
    trainer.evaluate(validation, n_samples=8, output_dir=done)
    (done / "config.json").write_text("[]")
    monkeypatch.chdir(tmp_path)
    cases = [
        (["--config", str(good), "--seed", str(2**64)], r"error: argument --seed: must be an int in \[0, "),
        (["--config", str(tmp_path)], r"error: --config: .* is a folder"),
        (["--config", str(latin)], r"error: --config: .* is not UTF-8"),
        (["--config", str(good), "--output-dir", ""], r"error: --output-dir: must name a folder, got ''"),
        (["--config", str(bad_loss), "--output-dir", "x"], r"error: \[training\] loss_type: must be one of"),
        (
            ["--config", str(good), "--output-dir", str(done), "--resume", "--epochs", "4"],
            r"error: --epochs: .*already done 4 epochs",  # not an AttributeError from the [] config.json
        ),
    ]
    for argv, pattern in cases:
        code, err = _cli(capsys, *argv)
        assert code == 2 and re.search(pattern, err) and "Traceback" not in err, (argv, code, err)
        assert "error: --loss-type" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done", "good.toml", "latin.toml", "loss.toml"]


def test_cli_resume_finishes_a_missing_evaluation(tmp_path, capsys):
    """Killed during the final evaluation (after the last checkpoint): --resume with the same
    --epochs evaluates instead of saying the run is done."""
    good = tmp_path / "good.toml"
    good.write_text(TOML)
    trainer = build(load_config(good))[0]
    trainer.epoch.assign(4)
    trainer.save(tmp_path / "run")
    (tmp_path / "run" / "history.json").unlink()  # a kill between the state file and the history
    code = main(["train", "--no-progress", "--config", str(good), "--output-dir", str(tmp_path / "run"), "--resume"])
    out = capsys.readouterr().out
    assert code == 0 and "finished at epoch 4; its final evaluation is missing: evaluating now" in out, out
    assert checkpoints.evaluation_done(tmp_path / "run", 4) and (tmp_path / "run" / "history.json").exists()
    (tmp_path / "run" / "report.txt").write_text("edited")  # a damaged evaluation file is not 'done'
    assert not checkpoints.evaluation_done(tmp_path / "run", 4)
