"""A sweep without Ray, for machines too small for it: the same trials one after another.

Ray Tune (:func:`qgan_lab.sweep.tune.run_sweep`) costs about 930 MiB beside its trials (measured by
``benchmarks/bench_sweep.py``: a one-trial sweep of the ``bimodal`` preset peaks at 2373 MiB,
one ``train`` at 1443 MiB), so on Binder's 2 GB a sweep does not fit. :func:`ray_fits` reads the
memory this process may use (Binder's ``MEM_LIMIT``, else the cgroup's limit, else the machine's
memory) and :func:`run_loop` runs a grid spec's trials in this process, each through
:func:`qgan_lab.cli.run_config` (the ``train`` command's code), into the same folders and the
same ``results.csv``/``.json`` and plot as a sweep. Taught in ``08_sweeps``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

from ..validation import BadValue
from .results import SweepResults, write_results
from .spec import SweepSpec, _name, trial_config, trial_folder_name

#: the peak of a one-trial Ray sweep of the bimodal preset (MiB, benchmarks/bench_sweep.py), with
#: room for the notebook's kernel: below this much memory, sweep with :func:`run_loop`
RAY_SWEEP_MIB = 3072

_CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_limit_mib(environ: dict[str, str] | None = None, cgroup_files: tuple[str, ...] = _CGROUP_FILES) -> float:
    """The memory this process may use, in MiB: ``MEM_LIMIT`` (bytes; set by Binder and
    JupyterHub's Kubernetes spawner), else the cgroup's limit, else the machine's memory."""
    environ = os.environ if environ is None else environ
    limits = []
    if str(environ.get("MEM_LIMIT", "")).strip().isdigit():
        limits.append(int(environ["MEM_LIMIT"]))
    for name in cgroup_files:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max", or v1's "unlimited" 2**63 - 4096
            limits.append(int(text))
    if not limits:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return min(limits) / 2**20


def ray_fits(limit_mib: float | None = None) -> tuple[bool, str]:
    """Whether Ray is installed and a sweep on it fits this machine's memory, and why not."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return False, "Ray is not installed (pip install -e '.[sweep]')"
    limit = memory_limit_mib() if limit_mib is None else limit_mib
    if limit < RAY_SWEEP_MIB:
        return False, f"{limit:.0f} MiB of memory here; a sweep on Ray needs about {RAY_SWEEP_MIB} MiB"
    return True, f"{limit:.0f} MiB of memory here"


def grid_params(spec: SweepSpec) -> list[dict[str, Any]]:
    """A grid spec's trials, ``num_samples`` times over: one ``{"section.key": value}`` each."""
    if spec.search != "grid" or not all(isinstance(v, list) for v in spec.space.values()):
        only = "the loop without Ray runs grids only (lists of values, search = 'grid')"
        raise BadValue(_name("[sweep] search"), only)
    keys = list(spec.space)
    grid = [dict(zip(keys, values)) for values in itertools.product(*(spec.space[k] for k in keys))]
    return grid * spec.num_samples


def run_loop(spec: SweepSpec, tensorboard: bool = True) -> SweepResults:
    """Run a grid spec's trials one after another in this process; a trial that raises is a row
    with its error, and the others go on. Writes and returns the results, as
    :func:`~qgan_lab.sweep.tune.run_sweep` does."""
    from ..cli import run_config
    from ..training.checkpoints import atomic_write_text

    sweep_dir = Path(spec.output_dir)
    rows = []
    for number, params in enumerate(grid_params(spec)):
        folder = sweep_dir / "trials" / trial_folder_name(f"loop_{number:05d}", params)
        row: dict[str, Any] = {"trial": folder.name, **params, "w1": float("nan"), "mode_coverage": float("nan")}
        started = time.perf_counter()
        try:
            cfg = trial_config(spec.config, params)
            report = run_config(cfg, folder, tensorboard=tensorboard)
        except Exception as exc:  # noqa: BLE001 - reported in the row, as Tune reports a failed trial
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / "error.txt", traceback.format_exc())
            row.update(epochs=0, status="error", error=f"{type(exc).__name__}: {exc}")
        else:
            row["w1"] = float(report["wasserstein_mean"])
            if "mode_coverage" in report:
                row["mode_coverage"] = float(min(report["mode_coverage"]))
            row.update(epochs=int(cfg["training"]["epochs"]), status="finished", error="")
        row.update(wall_time_s=round(time.perf_counter() - started, 2), resumed_from=0, path=str(folder))
        atomic_write_text(folder / "trial.json", json.dumps({"params": params, "status": row["status"]}, default=str))
        rows.append(row)
    results = SweepResults(rows, sweep_dir, spec.metric, spec.mode, list(spec.space))
    write_results(results)
    print(results.table())
    return results
