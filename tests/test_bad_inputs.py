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

ROOT = Path(__file__).resolve().parents[1]


def tiny(cutoff=4):
    return PureQuantumGenerator(2, 2, 2, 1, cutoff, seed=0), PureQuantumDiscriminator(2, 2, 1, 4, seed=1)


TRAINER_CASES = [
    ({"loss_type": "hinge"}, ValueError, r"^loss_type: .*'hinge'"),
    ({"loss_type": 3}, TypeError, r"^loss_type:"),
    ({"n_critic": 0}, ValueError, r"^n_critic:"),
    ({"n_critic": 2.5}, TypeError, r"^n_critic:"),
    ({"n_critic": True}, TypeError, r"^n_critic:"),
    ({"learning_rate_g": "0.001"}, TypeError, r"^learning_rate_g:"),
    ({"learning_rate_d": -1.0}, ValueError, r"^learning_rate_d:"),
    ({"learning_rate_g": float("nan")}, ValueError, r"^learning_rate_g:"),
    ({"beta_1": 1.5}, ValueError, r"^beta_1:"),
    ({"seed": "x"}, TypeError, r"^seed:"),
    ({"seed": -1}, ValueError, r"^seed:"),
    ({"loss_kwargs": {"lambda_gp": "10"}}, ValueError, r"lambda_gp"),
    ({"loss_kwargs": {"lambda_gp": float("inf")}}, ValueError, r"lambda_gp"),
    ({"loss_kwargs": {"lambda_gp": -1.0}}, ValueError, r"lambda_gp"),
    ({"loss_kwargs": {"lambda_gpp": 1.0}}, TypeError, r"^loss_kwargs:.*lambda_gpp"),
    ({"max_gradient_norm": 0}, ValueError, r"^max_gradient_norm:"),
    ({"trace_threshold": 2.0}, ValueError, r"^trace_threshold:"),
    ({"callbacks": [object()]}, TypeError, r"^callbacks:"),
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
    with pytest.raises(TypeError, match=r"^generator:"):
        QuantumGANTrainer("not a model", d)
    with pytest.raises(ValueError, match=r"^discriminator: generator.output_dim=1"):
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
    ({"epochs": 2.9}, TypeError, r"^epochs:"),
    ({"epochs": True}, TypeError, r"^epochs:"),
    ({"epochs": 0}, ValueError, r"^epochs:"),
    ({"steps_per_epoch": -1}, ValueError, r"^steps_per_epoch:"),
    ({"save_interval": 0}, ValueError, r"^save_interval:"),
    ({"plot_interval": 0}, ValueError, r"^plot_interval:"),
    ({"plot_interval": -2}, ValueError, r"^plot_interval:"),
    ({"latent_dim": 3}, ValueError, r"^latent_dim:"),
    ({"latent_dim": "2"}, TypeError, r"^latent_dim:"),
    ({"data_generator": np.zeros((8, 2))}, TypeError, r"^data_generator:"),
    ({"data_generator": lambda: np.zeros((8, 3))}, ValueError, r"data_generator returns 3 features"),
    ({"validation_data": np.zeros((10, 3))}, ValueError, r"^validation_data: .*3 features"),
    ({"resume": True}, ValueError, r"^resume=True: needs the output_dir"),
    ({"resume": "yes"}, TypeError, r"^resume:"),
    ({"output_dir": "FILE"}, ValueError, r"^output_dir: .* is a file"),
    ({"output_dir": "FILE/sub"}, ValueError, r"^output_dir: .* is a file"),
    ({"output_dir": "LOCKED"}, ValueError, r"^output_dir: cannot write"),
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
    with pytest.raises(ValueError, match=r"^z_batch: must have as many rows as the real batch \(8\), got 4"):
        trainer.train_discriminator_step(real, z)  # the gradient penalty's batch mismatch
    with pytest.raises(ValueError, match=r"^alpha: must have shape \[8, 1\]"):
        trainer.train_discriminator_step(real, np.zeros((8, 2)), alpha=np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"z_batch must have shape \[batch, 2\]"):
        trainer.train_generator_step(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"^z: must have as many rows"):
        trainer.sample(3, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"validation_data: .*3 features"):
        trainer.evaluate(np.zeros((10, 3)))

    # train() checked the first batch; a later one of another width is named, not a traceback
    with pytest.raises(ValueError, match=r"^data_generator: epoch 1: returned a batch of shape \(8, 3\)"):
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
    with pytest.raises(ValueError, match=r"^epochs: .*already done 3 epochs.*more than 3 .*got 3"):
        QuantumGANTrainer(*tiny(), n_critic=1).train(epochs=3, output_dir=tmp_path, resume=True, **args)
    with pytest.raises(ValueError, match=r"^output_dir: .* already holds a run; pass resume=True"):
        QuantumGANTrainer(*tiny(), n_critic=1).train(epochs=5, output_dir=tmp_path, **args)
    # a changed seed or batch size is allowed, with a warning naming it
    changed = QuantumGANTrainer(*tiny(), n_critic=1, seed=5)
    with caplog.at_level(logging.WARNING):
        assert changed.restore(tmp_path, make_data_generator("bimodal", 16)) == 3
    assert "changed settings (seed 0 -> 5, batch_size 8 -> 16)" in caplog.text
    # config.json deleted: the architecture stored with each checkpoint still guards it
    (tmp_path / "config.json").unlink()
    with pytest.raises(ValueError, match=r"^output_dir: .*another architecture"):
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
]
TOML = TINY_TOML.format(cutoff=4, steps=1) + "[loss]\nlambda_gp = 10.0\n"


@pytest.mark.parametrize("old, new, error, pattern", CONFIG_CASES, ids=lambda c: case_id(c)[:30])
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
    done = tmp_path / "done"  # a run with 4 epochs done, as the TOML's architecture
    trainer = build(load_config(good))[0]
    trainer.epoch.assign(4)
    trainer.save(done)
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
