"""Checkpoints: atomic files, verification with fallback, Ctrl-C, and a short kill loop.

The full loop (30 SIGKILLs) is ``benchmarks/kill_resume.py``; here it runs with 3.
"""

import importlib.util
import json
import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator, QuantumGANTrainer
from qgan_lab.data import make_data_generator
from qgan_lab.training import checkpoints
from qgan_lab.training.callbacks import QuantumGANCallback

ROOT = Path(__file__).resolve().parents[1]


def tiny_trainer(seed=0, **kwargs):
    g = PureQuantumGenerator(1, 2, 1, 1, 3, seed=0)
    d = PureQuantumDiscriminator(2, 1, 1, 3, seed=1)
    return QuantumGANTrainer(g, d, n_critic=1, seed=seed, **kwargs)


def saved_run(folder, epochs=(1, 2, 3)):
    """A folder with checkpoints of distinct weights and counters at ``epochs`` (no training)."""
    trainer = tiny_trainer()
    weights = {}
    for epoch in epochs:
        trainer.generator.set_weights({k: v + epoch for k, v in trainer.generator.get_weights().items()})
        trainer.g_gradient_manager.total_steps = 10 * epoch
        trainer.metrics_history["g_loss"].append(float(epoch))
        trainer.epoch.assign(epoch)
        trainer.save(folder, make_data_generator("bimodal", 4, seed=0))
        weights[epoch] = trainer.generator.get_weights()
    return weights


def _truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _zero(path):
    path.write_bytes(b"\0" * len(path.read_bytes()))


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _edit_history(path):
    """A hand edit: one digit of the state's history changed, the JSON still valid."""
    state = json.loads(path.read_text())
    state["history"]["g_loss"][0] += 1
    path.write_text(json.dumps(state))


def _edit_random_state(path):
    state = json.loads(path.read_text())
    state["data_rng"]["state"]["state"] += 1
    path.write_text(json.dumps(state))


DAMAGE = [
    ("state-3.json", _edit_history),
    ("state-3.json", _edit_random_state),
    ("ckpt-3.data-00000-of-00001", _truncate),
    ("ckpt-3.data-00000-of-00001", _flip),
    ("ckpt-3.index", _zero),
    ("ckpt-3.index", _flip),
    ("state-3.json", _truncate),
    ("state-3.json", lambda p: p.write_text("")),
    ("state-3.json", os.remove),
    ("ckpt-3.index", os.remove),
]


@pytest.mark.parametrize("name, damage", DAMAGE, ids=[f"{n}-{d.__name__}" for n, d in DAMAGE])
def test_damaged_newest_checkpoint_falls_back_with_a_warning(tmp_path, caplog, name, damage):
    weights = saved_run(tmp_path)
    damage(tmp_path / "checkpoints" / name)
    (tmp_path / "config.json").write_text("")  # a config.json killed mid-write (before atomic saves)
    trainer = tiny_trainer()
    with caplog.at_level(logging.WARNING):
        assert trainer.restore(tmp_path, make_data_generator("bimodal", 4)) == 2
    assert f"epoch 3: {name}" in caplog.text and "Restored the newest intact one, epoch 2" in caplog.text
    if damage in (_edit_history, _edit_random_state):
        assert f"{name} (content does not match its own digest: hand-edited or damaged)" in caplog.text
    assert "config.json is damaged" in caplog.text
    restored = trainer.generator.get_weights()
    assert all(np.array_equal(restored[k], weights[2][k]) for k in restored)
    assert trainer.g_gradient_manager.total_steps == 20  # the gradient managers' counters come back
    assert trainer.metrics_history["g_loss"] == [1.0, 2.0]


@pytest.mark.parametrize("config", ["[]", "one bit"], ids=["wrong-shape", "one-bit"])
def test_a_changed_config_json_is_named_not_blamed_on_the_architecture(tmp_path, caplog, config):
    saved_run(tmp_path)
    path = tmp_path / "config.json"
    if config == "one bit":  # still valid JSON, one digit of the architecture changed
        path.write_text(path.read_text().replace('"cutoff_dim": 3', '"cutoff_dim": 2', 1))
    else:
        path.write_text(config)
    with caplog.at_level(logging.WARNING):
        assert tiny_trainer().restore(tmp_path) == 3  # every checkpoint is intact: it resumes
    expected = "differs from the architecture stored in state-3.json" if config == "one bit" else "not an architecture"
    assert "config.json" in caplog.text and expected in caplog.text, caplog.text


def test_no_intact_checkpoint_is_an_error(tmp_path):
    saved_run(tmp_path, epochs=(1,))
    _flip(tmp_path / "checkpoints" / "ckpt-1.data-00000-of-00001")
    with pytest.raises(ValueError, match=r"^output_dir=: no intact checkpoint .*ckpt-1.data"):
        tiny_trainer().restore(tmp_path)


def test_atomic_writes_keep_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "history.json"
    checkpoints.atomic_write_text(target, "old")

    def crash(*_):
        raise KeyboardInterrupt  # the process dies between writing and renaming

    monkeypatch.setattr(checkpoints.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    monkeypatch.undo()
    saved_run(tmp_path / "run", epochs=(1,))
    names = {p.name for p in (tmp_path / "run").rglob("*")}
    assert not any(".tmp-" in n for n in names), names  # every temporary was renamed into place


def test_ctrl_c_saves_the_last_finished_epoch(tmp_path, caplog):
    class Record(QuantumGANCallback):
        weights = {}

        def on_epoch_end(self, epoch, trainer, logs=None):
            self.weights[epoch] = trainer.generator.get_weights()

    calls = {"n": 0}
    source = make_data_generator("bimodal", 4, seed=0)

    def data():
        calls["n"] += 1
        if calls["n"] == 1 + 2 * 2 + 1:  # check batch, two epochs of two steps, then Ctrl-C mid-epoch 3
            raise KeyboardInterrupt
        return source()

    data.rng = source.rng
    trainer = tiny_trainer(callbacks=[Record()])
    with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
        trainer.train(data, 5, 2, 1, save_interval=10, output_dir=tmp_path, progress=False)
    assert "Interrupted; saved epoch 2" in caplog.text and "continue with resume=True" in caplog.text
    assert trainer.latest_checkpoint_epoch(tmp_path) == 2  # no regular save was due (save_interval=10)
    resumed = tiny_trainer()
    assert resumed.restore(tmp_path) == 2
    assert all(np.array_equal(v, Record.weights[2][k]) for k, v in resumed.generator.get_weights().items())
    assert len(resumed.metrics_history["g_loss"]) == 2


def test_every_interruption_saves_what_finished_and_says_so(tmp_path, caplog):
    """An exception from the data generator or a callback after finished epochs saves them, as
    Ctrl-C does; a second Ctrl-C during that save waits for it; a Ctrl-C before the first epoch
    finished says nothing was saved. New learning rates on resume are applied, and said."""
    source = make_data_generator("bimodal", 4, seed=0)
    calls = {"n": 0, "fail_at": 1 + 2 * 2 + 1}  # the check batch, two epochs of two steps, then epoch 3

    def data():
        calls["n"] += 1
        if calls["n"] == calls["fail_at"]:
            raise RuntimeError("the data source went away")
        return source()

    data.rng = source.rng

    class Failing(QuantumGANCallback):
        def on_epoch_end(self, epoch, trainer, logs=None):
            if epoch == 4:
                raise ValueError("a bug in user code")

    trainer = tiny_trainer()
    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError, match="went away"):
        trainer.train(data, 5, 2, 1, save_interval=10, output_dir=tmp_path, progress=False)
    assert "Stopped by RuntimeError: the data source went away; saved epoch 2" in caplog.text
    assert checkpoints.latest_epoch(tmp_path) == 2 and int(trainer.epoch.numpy()) == 2
    assert len(trainer.metrics_history["g_loss"]) == 2  # the trainer is back at the end of epoch 2

    trainer.callbacks.append(Failing())
    real_save = trainer.save

    def save_with_a_second_ctrl_c(*args):
        os.kill(os.getpid(), signal.SIGINT)  # arrives during the emergency save: held back
        return real_save(*args)

    trainer.save = save_with_a_second_ctrl_c
    calls["fail_at"] = -1
    trainer.base_learning_rates["g"] = 2e-3  # as a new learning_rate_g on resume
    caplog.clear()
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="a bug in user code"):
        trainer.train(data, 5, 2, 1, save_interval=10, output_dir=tmp_path, resume=True, progress=False)
    assert "learning_rate_g=0.001 -> 0.002 (applied)" in caplog.text
    assert float(trainer.g_optimizer.learning_rate.numpy()) == pytest.approx(2e-3)
    assert "Stopped by ValueError: a bug in user code; saved epoch 3" in caplog.text  # epoch 4 never finished
    assert "A second interrupt arrived during the save" in caplog.text
    assert checkpoints.latest_epoch(tmp_path) == 3

    fresh, before = tiny_trainer(), {"n": 0}

    def interrupted():
        before["n"] += 1
        if before["n"] == 2:  # the first step of epoch 1
            raise KeyboardInterrupt
        return source()

    caplog.clear()
    with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
        fresh.train(interrupted, 5, 2, 1, output_dir=tmp_path / "new", progress=False)
    assert "Interrupted before the first epoch finished: nothing was saved" in caplog.text
    assert checkpoints.latest_epoch(tmp_path / "new") is None


def test_kill_loop_resumes_to_the_uninterrupted_result(tmp_path):
    spec = importlib.util.spec_from_file_location("kill_resume", ROOT / "benchmarks" / "kill_resume.py")
    kill_resume = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kill_resume)
    # CI's fast version: a double Ctrl-C, a SIGKILL, an exception from user code, and a kill
    # during the final evaluation; `python benchmarks/kill_resume.py` runs 30 kills and every kind
    soft = ("exception", "double_sigint")
    summary = kill_resume.run(kills=1, epochs=12, seed=1, folder=tmp_path, soft_every=2, soft=soft)
    assert summary["kills"] >= 1 and summary["double_sigint"] == 1 and summary["exception"] == 1, summary
    assert summary["final_kills"] == 1, summary
    assert summary["differences"] == [], summary


def test_weight_average_is_saved_and_a_resumed_run_is_bit_identical(tmp_path):
    """ema_decay: the generator's moving average lives in the checkpoint; a run stopped after 2
    epochs and resumed ends with the same weights *and* average as one run of 4 epochs, and the
    evaluation samples the average, not the last iterate."""

    def run(folder, epochs, resume=False):
        trainer = tiny_trainer(ema_decay=0.8)
        data = make_data_generator("bimodal", 4, seed=0)
        trainer.train(data, epochs, 3, 1, save_interval=1, output_dir=folder, resume=resume, progress=False)
        return trainer

    whole = run(tmp_path / "whole", 4)
    run(tmp_path / "parts", 2)
    resumed = run(tmp_path / "parts", 4, resume=True)
    for a, b in ((whole, resumed),):
        averaged = a.generator.averaged_weights
        for key in a.generator.weights:
            assert np.array_equal(a.generator.weights[key].numpy(), b.generator.weights[key].numpy()), key
            assert np.array_equal(averaged[key].numpy(), b.generator.averaged_weights[key].numpy()), key
    gen = whole.generator
    last = np.concatenate([v.numpy().ravel() for v in gen.weights.values()])
    mean = np.concatenate([v.numpy().ravel() for v in gen.averaged_weights.values()])
    assert np.abs(last - mean).max() > 1e-4  # the average is not the last iterate
    z = np.random.default_rng(0).normal(size=(6, 1)).astype(np.float32)
    with gen.using_average():
        inside = gen.generate(z, averaged=False).numpy()
    assert np.allclose(gen.generate(z).numpy(), inside)  # generate() samples the average
    assert not np.allclose(gen.generate(z, averaged=False).numpy(), inside)
    assert np.array_equal(np.concatenate([v.numpy().ravel() for v in gen.weights.values()]), last)  # put back
    assert checkpoints.saved_architecture(tmp_path / "whole")["ema_decay"] == 0.8
    with pytest.raises(ValueError, match="another architecture"):
        tiny_trainer().check_checkpoint_compatible(tmp_path / "whole")  # a run without an average
