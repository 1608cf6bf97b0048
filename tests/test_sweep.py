"""Sweeps on Ray Tune (:mod:`qgan_lab.sweep.tune`, the spec :mod:`qgan_lab.sweep.spec`) and TensorBoard
curves (:mod:`qgan_lab.training.tensorboard`).

Tiny runs (1-mode models, cutoff 3, 2 steps an epoch): a local sweep end to end with a failing
trial among the good ones, a sweep killed (SIGKILL of its process group) and resumed on a Ray
head started here and joined by address, the bad-spec table, and the event files against
``history.json``.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qgan_lab.sweep.spec import load_spec
from qgan_lab.sweep.tune import run_sweep
from qgan_lab.training.tensorboard import read_scalars

ROOT = Path(__file__).resolve().parents[1]


def _kill_resume():
    spec = importlib.util.spec_from_file_location("kill_resume", ROOT / "benchmarks" / "kill_resume.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = _kill_resume().TOML.format(epochs=2)  # the kill loop's tiny run: 1-mode models, cutoff 3


@pytest.fixture(scope="class")
def local_ray():
    """One local Ray for the in-process sweeps of :class:`TestSweepsInThisProcess` (``run_sweep``
    uses a Ray already started in its process, and leaves it running): a Ray start costs 10-20 s
    here. It ends with the class, before the killed sweep starts Rays of its own (two starting at
    once can time out on a busy machine). Starting and ending a Ray of its own is what the killed
    sweep's first process does. Started as ``run_sweep`` starts one (``_connect``: loopback, one
    retry when Ray's 30 s start times out); ``MPLBACKEND``, which that sets for the trials, is put
    back afterwards (the per-test environment guard of conftest.py runs inside this fixture)."""
    import ray

    from qgan_lab.sweep.tune import _connect

    backend = os.environ.get("MPLBACKEND")
    started = _connect(None)
    yield ray
    if started:
        ray.shutdown()
    if backend is None:
        os.environ.pop("MPLBACKEND", None)
    else:
        os.environ["MPLBACKEND"] = backend


def write_spec(folder: Path, body: str, sweep: str = "") -> Path:
    (folder / "tiny.toml").write_text(TINY)
    spec = folder / "spec.toml"
    spec.write_text(f'[sweep]\nbase = "tiny.toml"\noutput_dir = "{folder / "sweep"}"\n{sweep}\n{body}')
    return spec


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


BAD_SPECS = [
    ("[space.training]\nlearnin_rate_d = [1e-3]", "spec [space.training] learnin_rate_d: unknown key"),
    ("[space.optimizer]\nlr = [1e-3]", "spec [space.optimizer] lr: unknown config section"),
    ("[space.training]\nseed = []", "spec [space.training] seed: the grid is empty"),
    ("[space.training]\nlearning_rate_d = [1e-3, -1.0]", "spec [space.training] learning_rate_d: the value -1.0"),
    ("[space.training]\nn_critic = [1, 0]", "refused by the config checks: [training] n_critic"),
    ("[space.generator]\npassive_std = { loguniform = [0.0, 0.3] }", "loguniform needs low > 0"),
    ("[space.generator]\npassive_std = { normal = [0.0, 0.3] }", "spec [space.generator] passive_std: a sampled"),
    ("[fixed.training]\nepochs = 0\n[space.training]\nseed = [1]", "spec [fixed.training] epochs: the value 0"),
    ("[space]", "spec [space]: is empty"),
    ("[space.training]\nseed = [1]", "spec [sweep] metric: must be one of"),  # with metric = "fid"
    ("[space.training]\nseed = [1]", "spec [sweep] num_samples: must be an int >= 1"),  # num_samples = 0
    ("[space.training]\nseed = [1]", "spec [sweep] searh: unknown key"),  # searh = "grid"
]
BAD_SWEEP_LINES = {9: 'metric = "fid"', 10: "num_samples = 0", 11: 'searh = "grid"'}


@pytest.mark.parametrize("case", range(len(BAD_SPECS)))
def test_a_bad_spec_is_a_named_error_before_any_trial(tmp_path, case):
    body, message = BAD_SPECS[case]
    spec = write_spec(tmp_path, body, BAD_SWEEP_LINES.get(case, ""))
    with pytest.raises(ValueError) as caught:
        run_sweep(spec)
    assert message in str(caught.value)
    assert not (tmp_path / "sweep").exists()  # nothing started: no sweep folder


def test_importing_the_package_imports_neither_ray_nor_tensorboard():
    sweep = "qgan_lab.sweep, qgan_lab.sweep.spec, qgan_lab.sweep.results, qgan_lab.sweep.loop, qgan_lab.sweep.tune"
    code = f"import sys, qgan_lab, qgan_lab.cli, {sweep}, qgan_lab.training.tensorboard; "
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'tensorboard', 'tensorboardX')))"
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_spec_file_and_base_config_are_checked(tmp_path):
    with pytest.raises(ValueError, match="spec=: spec file .* does not exist"):
        load_spec(tmp_path / "missing.toml")
    (tmp_path / "spec.toml").write_text('[sweep]\nbase = "no_such_preset"\n[space.training]\nseed = [1]\n')
    with pytest.raises(ValueError, match=r"spec \[sweep\] base: .*unknown preset"):
        load_spec(tmp_path / "spec.toml")
    spec = load_spec(write_spec(tmp_path, "[space.training]\nseed = [1, 2]\nlearning_rate_d = [1e-3, 2e-3, 4e-3]"))
    assert spec.n_trials() == 6 and spec.config["training"]["epochs"] == 2 and spec.mode == "min"


def test_asha_and_search_settings_reach_tune(tmp_path):
    """What the spec's [sweep.asha] and search give Tune (the scheduler itself is Ray's; no trial
    runs here): ASHA over epochs up to the config's, a random search's lists as choices."""
    from ray.tune.schedulers import ASHAScheduler

    from qgan_lab.sweep.tune import _param_space, _tune_config

    asha = 'search = "random"\nnum_samples = 3\n[sweep.asha]\ngrace_period = 1\nreduction_factor = 3'
    spec = load_spec(write_spec(tmp_path, "[space.training]\nlearning_rate_d = [1e-3, 2e-3]", asha))
    config = _tune_config(spec)
    assert isinstance(config.scheduler, ASHAScheduler) and config.scheduler._time_attr == "epoch"
    assert config.scheduler._max_t == 3 and config.num_samples == 3 and spec.n_trials() == 3
    assert _param_space(spec)["training.learning_rate_d"].categories == [1e-3, 2e-3]
    spec.search = "optuna"
    from ray.tune.search.optuna import OptunaSearch

    assert isinstance(_tune_config(spec).search_alg, OptunaSearch)  # optuna is pinned with the sweep extra


@pytest.mark.usefixtures("local_ray")
class TestSweepsInThisProcess:
    """Sweeps run by ``run_sweep`` in the test's process, on one local Ray."""

    def test_asha_stops_the_worse_trial_and_optuna_samples(self, tmp_path):
        """ASHA for real: two trials one after another, the second (the bimodal target, W1 about 2)
        far behind the first (a single Gaussian, W1 below 1) at the first rung, so ASHA stops it
        there. Then an Optuna search samples the critic's learning rate from its range."""
        body = '[fixed.training]\nepochs = 3\n[space.data]\ntarget = ["gaussian", "bimodal"]'
        asha = "max_concurrent_trials = 1\n[sweep.asha]\ngrace_period = 1\nreduction_factor = 2"
        results = run_sweep(write_spec(tmp_path, body, asha), verbose=0)
        by_target = {row["data.target"]: row for row in results.rows}
        assert by_target["gaussian"]["status"] == "finished" and by_target["gaussian"]["epochs"] == 3
        assert by_target["bimodal"]["status"] == "stopped early" and by_target["bimodal"]["epochs"] < 3
        assert by_target["bimodal"]["w1"] > by_target["gaussian"]["w1"]

        optuna_dir = tmp_path / "optuna"
        optuna_dir.mkdir()
        body = "[fixed.training]\nepochs = 1\n[space.training]\nlearning_rate_d = { loguniform = [1e-4, 1e-1] }"
        results = run_sweep(write_spec(optuna_dir, body, 'search = "optuna"\nnum_samples = 2'), verbose=0)
        rates = [row["training.learning_rate_d"] for row in results.rows]
        assert [row["status"] for row in results.rows] == ["finished", "finished"]
        assert len(set(rates)) == 2 and all(1e-4 <= r <= 1e-1 for r in rates)

    def test_local_sweep_end_to_end_with_a_failing_trial(self, tmp_path, capsys):
        """Two good trials (2 seeds) and two that fail in training (a target the config checks
        accept as a string; the data module refuses it): the failures are reported with their
        error, the others finish, and every result file agrees with the trials' own folders."""
        spec = write_spec(
            tmp_path, '[space.data]\ntarget = ["bimodal", "no_such_target"]\n[space.training]\nseed = [1, 2]'
        )
        results = run_sweep(spec, verbose=0)
        out = capsys.readouterr().out
        sweep = tmp_path / "sweep"
        assert len(results.rows) == 4
        good = [r for r in results.rows if r["data.target"] == "bimodal"]
        bad = [r for r in results.rows if r["data.target"] == "no_such_target"]
        assert sorted(r["training.seed"] for r in good) == [1, 2] and len(bad) == 2
        assert results.failed == bad and all(r["status"] == "error" and "no_such_target" in r["error"] for r in bad)
        for row in good:
            folder = Path(row["path"])
            assert row["status"] == "finished" and row["epochs"] == 2 and row["wall_time_s"] > 0
            evaluation = json.loads((folder / "evaluation.json").read_text())
            assert row["w1"] == pytest.approx(evaluation["wasserstein_mean"])
            assert row["mode_coverage"] == pytest.approx(min(evaluation["mode_coverage"]))
            assert len(json.loads((folder / "history.json").read_text())["val_w1"]) == 2
            assert json.loads((folder / "run_config.json").read_text())["training"]["seed"] == row["training.seed"]
            assert sorted(read_scalars(folder / "tensorboard")["val_w1"]) == [1, 2]
        for row in bad:
            assert "no_such_target" in (Path(row["path"]) / "error.txt").read_text()
        # the two seeds give different runs
        assert good[0]["w1"] != good[1]["w1"]
        with open(sweep / "results.csv") as f:
            table = list(csv.DictReader(f))
        assert [(r["trial"], r["status"]) for r in table] == [(r["trial"], r["status"]) for r in results.rows]
        assert json.loads((sweep / "results.json").read_text())["trials"][0]["trial"] == results.rows[0]["trial"]
        assert (sweep / "metric_vs_params.png").stat().st_size > 5000
        assert (
            "w1 *" in out
            and out.count("error") >= 2
            and "2 trials (2 failed)" not in out
            and "4 trials (2 failed)" in out
        )
        with pytest.raises(ValueError, match="already holds a sweep"):
            run_sweep(spec)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (rc {proc.returncode}) before {what}: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def _trial(sweep: Path, epochs: int) -> Path | None:
    for record in (sweep / "trials").glob("*/trial.json"):
        if json.loads(record.read_text())["params"]["training.epochs"] == epochs:
            return record.parent
    return None


LONG = 40  # epochs of the trial that is killed: long enough to be caught running


def _checkpoint_epochs(folder: Path | None) -> list[int]:
    if folder is None:
        return []
    return sorted(int(p.stem.split("-")[1]) for p in (folder / "checkpoints").glob("state-*.json"))


def test_killed_sweep_resumes_on_a_ray_head_joined_by_address(tmp_path):
    """The sweep's whole process group (driver, local Ray, trials) is killed once its short trial
    has finished and its long one has saved epoch 2. ``--resume --address`` on a head started
    here: the finished trial is not trained again and the killed one continues from its last
    checkpoint to its last epoch."""
    spec = write_spec(tmp_path, f"[space.training]\nepochs = [2, {LONG}]")
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "qgan_lab", "sweep", str(spec)]
    log = tmp_path / "first.log"
    with open(log, "w") as sink:
        first = subprocess.Popen(command, env=_env(), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    short = lambda: _trial(sweep, 2)
    long = lambda: _trial(sweep, LONG)
    try:
        done = lambda: short() is not None and (short() / "evaluation.json").exists()
        _wait(lambda: done() and len(_checkpoint_epochs(long())) >= 2, 240, "the first checkpoints", first, log)
    finally:
        # the driver's whole tree: its process group, and the Ray it started (the trials run in
        # workers of its raylet, outside that group; left alive, a busy one trained on to the
        # last epoch after its driver was gone, CI 8 December 2026)
        import psutil  # installed with ipykernel

        tree = psutil.Process(first.pid).children(recursive=True)
        os.killpg(first.pid, signal.SIGKILL)
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        first.wait(30)
    # a worker killed mid-epoch may still be writing that epoch's checkpoint: the run to resume is
    # what is on disk once that stops
    killed_at, deadline = _checkpoint_epochs(long())[-1], time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(3)
        if _checkpoint_epochs(long())[-1] == killed_at:
            break
        killed_at = _checkpoint_epochs(long())[-1]
    short_files = {p: p.stat().st_mtime_ns for p in short().rglob("*") if p.is_file() and p.name != "trial.json"}
    assert 2 <= killed_at < LONG and not (long() / "evaluation.json").exists()

    port = _free_port()
    ray = Path(sys.executable).parent / "ray"
    head_cmd = [str(ray), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--block"]
    head_cmd.append("--node-ip-address=127.0.0.1")  # loopback only
    head_log = open(tmp_path / "head.log", "w")  # closed below
    head = subprocess.Popen(head_cmd, env=_env(), stdout=head_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = lambda: "ray start --address=" in (tmp_path / "head.log").read_text()
        _wait(started, 120, "the Ray head", head, tmp_path / "head.log")
        address = re.search(r"ray start --address='([^']+)'", (tmp_path / "head.log").read_text()).group(1)
        resumed = subprocess.run(
            [*command, "--resume", "--address", address],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        head_log.close()
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
    rows = {r["training.epochs"]: r for r in json.loads((sweep / "results.json").read_text())["trials"]}
    assert {r["status"] for r in rows.values()} == {"finished"} and rows[LONG]["epochs"] == LONG
    assert rows[LONG]["resumed_from"] == killed_at
    history = json.loads((long() / "history.json").read_text())
    assert len(history["val_w1"]) == LONG and (long() / "evaluation.json").exists()
    # the finished trial was not trained or evaluated again
    assert {p: p.stat().st_mtime_ns for p in short_files} == short_files
    assert rows[2]["w1"] == pytest.approx(json.loads((short() / "evaluation.json").read_text())["wasserstein_mean"])


def test_tensorboard_event_files_hold_the_history(tmp_path):
    """The trainer's TensorBoard callback (on by default in run_config, the ``train`` command's
    code): every series of ``history.json`` is in the event files, epoch by epoch, also after a
    resumed run; plus the learning rates and mode coverage."""
    import tomllib

    from qgan_lab.cli import run_config

    cfg = tomllib.loads(TINY)
    out = tmp_path / "run"
    run_config(cfg, out)
    cfg["training"]["epochs"] = 3
    run_config(cfg, out, resume=True)
    history = json.loads((out / "history.json").read_text())
    scalars = read_scalars(out / "tensorboard")
    assert set(history) <= set(scalars) and len(history["g_loss"]) == 3
    for key, values in history.items():
        logged = scalars[key]
        assert sorted(logged) == [1, 2, 3], key
        for epoch, value in enumerate(values, start=1):
            if math.isnan(value):
                assert math.isnan(logged[epoch]), key
            else:
                assert logged[epoch] == pytest.approx(value, rel=1e-6, abs=1e-12), (key, epoch)
    assert scalars["learning_rate/g"][1] == pytest.approx(cfg["training"].get("learning_rate_g", 1e-3))
    assert 0 <= scalars["mode_coverage/min"][3] <= 0.5
    off = tmp_path / "off"
    run_config(cfg, off, tensorboard=False)
    assert not (off / "tensorboard").exists()
