"""What a learner sees: plain log lines, a dashboard redrawn in place, quiet progress in log files,
and a mode-collapse warning for a generator that piles its samples on one mode."""

import argparse
import io
import logging
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from qgan_lab.cli import build_parser, show_progress
from qgan_lab.lab.widgets import notebook_logging
from qgan_lab.training.callbacks import ModeCollapseMonitor, guide_callbacks
from qgan_lab.training.dashboard import Dashboard

CENTERS = [[-2.0, -2.0], [2.0, 2.0]]


def test_notebook_logging_writes_plain_lines_to_the_current_stdout(monkeypatch):
    root = logging.getLogger()
    root_before = (root.level, list(root.handlers))
    logger = notebook_logging()
    notebook_logging()  # a second call replaces the handler instead of doubling every line
    assert logger.name == "qgan_lab" and not logger.propagate and len(logger.handlers) == 1
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)  # the handler follows sys.stdout (a cell, an Output widget)
    monkeypatch.setattr(sys, "stderr", err)
    logging.getLogger("qgan_lab.training.trainer").info("Epoch 1: G_loss=0.1")
    logging.getLogger("qgan_lab.training.callbacks").warning("Potential mode collapse")
    logging.getLogger("some_other_library").warning("Sharding callback duration")  # root untouched
    assert out.getvalue() == "Epoch 1: G_loss=0.1\nWARNING: Potential mode collapse\n"
    assert (root.level, list(root.handlers)) == root_before  # the root logger is not configured
    import tensorflow as tf

    assert tf.get_logger().level == logging.ERROR
    with pytest.raises(TypeError, match="level"):
        notebook_logging(level=1.5)


def test_training_panel_is_disabled_and_says_training_while_it_runs():
    from qgan_lab.lab.widgets import training_panel

    seen = []
    panel = training_panel(lambda **kw: seen.append((panel.button.disabled, panel.button.description)), epochs=1)
    panel.button.click()
    assert seen == [(True, "training...")]
    assert (panel.button.disabled, panel.button.description) == (False, "Train")


def test_dashboard_redraws_one_image_widget_in_place():
    import ipywidgets

    history = {"g_loss": [], "d_loss": [], "g_gradients": [], "d_gradients": [], "w_distance": []}
    rng = np.random.default_rng(0)
    sampled = []
    trainer = SimpleNamespace(
        metrics_history=history,
        _plot_z=None,
        steps=SimpleNamespace(
            sample=lambda z: sampled.append(1) or SimpleNamespace(numpy=lambda: rng.normal(size=(50, 2)))
        ),
        generator=SimpleNamespace(trainable_variables=[0] * 4),
        discriminator=SimpleNamespace(trainable_variables=[0] * 3),
        epoch_samples=(2, rng.normal(size=(50, 2))),  # the trainer's validation samples of epoch 2
    )
    dashboard = Dashboard(trainer, rng.normal(size=(50, 2)), live=True, output_dir=None)
    pngs = []
    for epoch in (1, 2):
        for key in history:
            history[key].append(float(epoch))
        dashboard.update(epoch)
        pngs.append(dashboard.image.value)
    dashboard.close()
    assert isinstance(dashboard.image, ipywidgets.Image) and dashboard.handle is None
    assert pngs[0][:8] == b"\x89PNG\r\n\x1a\n" and pngs[0] != pngs[1]
    assert len(sampled) == 1  # epoch 1 sampled; epoch 2 drew the samples the trainer kept


def test_cli_progress_bars_only_on_a_terminal(monkeypatch):
    parse = build_parser().parse_args
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # redirected: not a TTY
    assert show_progress(parse(["train"])) is False
    assert show_progress(parse(["train", "--progress"])) is True
    monkeypatch.setattr(sys, "stderr", SimpleNamespace(isatty=lambda: True))
    assert show_progress(parse(["train"])) is True
    assert show_progress(parse(["train", "--no-progress"])) is False
    with pytest.raises(SystemExit):
        parse(["train", "--progress", "--no-progress"])
    assert isinstance(parse(["train"]), argparse.Namespace)


def _trainer_sampling(points):
    return SimpleNamespace(sample=lambda n: SimpleNamespace(numpy=lambda: np.asarray(points, np.float32)))


def test_mode_collapse_monitor_catches_samples_piled_on_one_mode(caplog):
    rng = np.random.default_rng(1)
    one_mode = rng.normal([2.0, 2.0], 0.7, size=(100, 2))  # variance ~1: the guide's check alone misses it
    both = np.concatenate([rng.normal([-2.0, -2.0], 0.5, size=(50, 2)), rng.normal([2.0, 2.0], 0.5, size=(50, 2))])
    variance_only, with_centers = ModeCollapseMonitor(), ModeCollapseMonitor(centers=CENTERS)
    with caplog.at_level(logging.WARNING, logger="qgan_lab"):
        variance_only.on_epoch_end(1, _trainer_sampling(one_mode), logs := {})
        with_centers.on_epoch_end(1, _trainer_sampling(one_mode), logs)
        with_centers.on_epoch_end(2, _trainer_sampling(both), {})
    assert variance_only.collapsed_epochs == [] and with_centers.collapsed_epochs == [1]
    assert logs["min_mode_coverage"] < 0.05 and logs["sample_variance"] > 0.1
    assert [r.getMessage() for r in caplog.records] == [
        "Potential mode collapse at epoch 1: mode coverage 0%, 100% (a mode below 5%)"
    ]
    assert guide_callbacks(CENTERS)[0].centers.shape == (2, 2)
    with pytest.raises(ValueError, match="centers"):
        ModeCollapseMonitor(centers=[1.0, 2.0])
    with pytest.raises(ValueError, match="min_coverage"):
        ModeCollapseMonitor(centers=CENTERS, min_coverage=1.5)
