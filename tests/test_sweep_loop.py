"""The sweep without Ray (:mod:`qgan_lab.sweep.loop`): the memory limit it reads, the choice
between Ray and the loop, and a grid run one trial after another with a failing trial."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from test_sweep import write_spec

from qgan_lab.sweep import loop as sweep_loop
from qgan_lab.sweep.spec import load_spec


def test_memory_limit_reads_binder_then_the_cgroup(tmp_path):
    cgroup = tmp_path / "memory.max"
    cgroup.write_text("3221225472\n")  # 3 GiB
    files = (str(cgroup), str(tmp_path / "missing"))
    assert sweep_loop.memory_limit_mib({"MEM_LIMIT": "2147483648"}, files) == 2048  # Binder's 2 GiB, the smaller
    assert sweep_loop.memory_limit_mib({}, files) == 3072
    cgroup.write_text("max\n")  # no cgroup limit: the machine's memory
    machine = sweep_loop.memory_limit_mib({}, files)
    assert machine > 100 and machine == sweep_loop.memory_limit_mib({"MEM_LIMIT": "not a number"}, files)


def test_ray_does_not_fit_binder():
    fits, why = sweep_loop.ray_fits(2048)
    if "not installed" not in why:
        assert not fits and "2048 MiB" in why and str(sweep_loop.RAY_SWEEP_MIB) in why
        assert sweep_loop.ray_fits(24 * 1024)[0]


def test_only_grids_run_without_ray(tmp_path):
    spec = load_spec(write_spec(tmp_path, "[space.training]\nseed = { randint = [0, 9] }", 'search = "random"'))
    with pytest.raises(ValueError, match=r"^spec \[sweep\] search: the loop without Ray runs grids only"):
        sweep_loop.grid_params(spec)
    grid = load_spec(write_spec(tmp_path, "[space.training]\nseed = [1, 2]\nn_critic = [1, 2]", "num_samples = 2"))
    params = sweep_loop.grid_params(grid)
    assert len(params) == grid.n_trials() == 8 and params[0] == {"training.seed": 1, "training.n_critic": 1}


def test_the_loop_runs_every_trial_and_goes_on_after_a_failure(tmp_path, monkeypatch):
    from qgan_lab import cli

    real_run = cli.run_config

    def failing_for_seed_2(cfg, folder, **kwargs):
        if cfg["training"]["seed"] == 2:
            raise RuntimeError("trial 2 broke")
        return real_run(cfg, folder, **kwargs)

    monkeypatch.setattr(cli, "run_config", failing_for_seed_2)
    spec = load_spec(write_spec(tmp_path, "[space.training]\nseed = [1, 2]"))
    results = sweep_loop.run_loop(spec)
    first, second = results.rows
    assert first["status"] == "finished" and first["training.seed"] == 1 and first["epochs"] == 2
    evaluation = json.loads((Path(first["path"]) / "evaluation.json").read_text())
    assert math.isclose(first["w1"], evaluation["wasserstein_mean"])
    assert (Path(first["path"]) / "tensorboard").is_dir()
    assert second["status"] == "error" and "trial 2 broke" in second["error"] and math.isnan(second["w1"])
    assert "RuntimeError" in (Path(second["path"]) / "error.txt").read_text()
    with open(spec.output_dir / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["status"] for r in table] == ["finished", "error"]
    assert (spec.output_dir / "metric_vs_params.png").exists()
