import json
import subprocess
import sys
from pathlib import Path

import pytest

from qgan_lab.config import load_config, loss_kwargs, presets, validate_config, with_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_guide_preset_is_the_guides_configuration():
    cfg = load_config("guide")
    assert {"guide", "bimodal", "bimodal_mmd"} <= set(presets())
    assert cfg["generator"] == {
        **cfg["generator"],
        "latent_dim": 4,
        "output_dim": 2,
        "n_modes": 4,
        "layers": 2,
        "cutoff_dim": 6,
    }
    assert cfg["discriminator"]["n_modes"] == 2 and cfg["training"]["n_critic"] == 5
    assert (
        cfg["training"]["epochs"] == 100
        and cfg["training"]["steps_per_epoch"] == 50
        and cfg["data"]["batch_size"] == 16
    )


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        load_config("nope")
    with pytest.raises(ValueError, match="unknown keys"):
        validate_config({**load_config("bimodal"), "training": {"epochz": 3}})
    with pytest.raises(ValueError, match="missing"):
        validate_config({"data": {}})
    cfg = with_overrides(load_config("bimodal"), epochs=3, batch_size=8, seed=None)
    assert cfg["training"]["epochs"] == 3 and cfg["data"]["batch_size"] == 8 and cfg["training"]["seed"] == 0


def test_cli_writes_every_output(tmp_path):
    from test_training import TINY_TOML, _cli

    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML.format(cutoff=4, steps=2))
    out = tmp_path / "run"
    cmd, env = _cli(config, out, "--epochs", "2")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    assert "Epoch 2: G_loss=" in result.stdout and "mode coverage" in result.stdout
    for name in (
        "config.json",
        "history.json",
        "evaluation.json",
        "report.txt",
        "final_generated_samples.npy",
        "run_config.json",
        "plots/qgan_training_epoch_2.png",
        "checkpoints/ckpt-2.index",
    ):
        assert (out / name).exists(), name
    assert json.loads((out / "evaluation.json").read_text())["epochs"] == 2


def test_cli_reports_bad_config_clearly():
    result = subprocess.run(
        [sys.executable, "-m", "qgan_lab", "train", "--config", "nope"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 2 and "unknown preset 'nope'" in result.stderr


def test_loss_arguments_per_loss_type_and_a_flat_table_that_would_be_ignored_is_named(caplog):
    bimodal = load_config("bimodal")  # a flat [loss] table: the Wasserstein loss's
    assert loss_kwargs(bimodal)["lambda_gp"] == 10.0 and not caplog.records
    mmd = with_overrides(bimodal, loss_type="mmd")
    assert loss_kwargs(mmd) is None
    assert "[loss.mmd]" in caplog.text and "lambda_gp" in caplog.text
    caplog.clear()
    assert loss_kwargs(load_config("bimodal_mmd"))["bandwidth_factors"] == [0.125, 0.25, 0.5, 1.0, 2.0]
    assert not caplog.records


@pytest.mark.parametrize("restore", [True, False])
def test_after_an_interruption_the_process_entry_keeps_ctrl_c_ignored(tmp_path, monkeypatch, capsys, restore):
    """``python -m qgan_lab`` calls ``main(restore_signals=False)``: once a run was interrupted and
    its message printed, a late second Ctrl-C must not kill the process before it exits with 130
    (the kill loop saw exit -2). Inside a test process (``restore_signals=True``) the handlers
    come back."""
    import signal

    from qgan_lab import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_train", interrupted)
    before, before_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        arguments = ["train", "--config", "bimodal", "--output-dir", str(tmp_path / "run")]
        code = cli.main(arguments, restore_signals=restore)
        assert code == 130 and "interrupted before any epoch was saved" in capsys.readouterr().out
        assert signal.getsignal(signal.SIGINT) is (before if restore else signal.SIG_IGN)
    finally:
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, before_term)
