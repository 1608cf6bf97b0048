"""Sweeps on Ray Tune: ``python -m qgan_lab sweep SPEC.toml`` or :func:`run_sweep`.

What runs on Ray: each trial (:func:`train_trial`, reporting every epoch with :class:`TuneReporter`),
the search space and Tune's settings from a spec, joining a cluster or starting a local Ray, and
the sweep itself. The spec, what a trial runs and what a sweep writes are documented in
:mod:`qgan_lab.sweep.spec`; the results table and plot are :mod:`qgan_lab.sweep.results`. Ray is
imported only when a sweep runs (the ``sweep`` extra: ``pip install -e '.[sweep]'``). Taught in
``08_sweeps``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..validation import BadValue
from .results import SweepResults, collect_results, write_results
from .spec import SweepSpec, load_spec, trial_config, trial_folder_name

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- one trial
class TuneReporter:
    """A trainer callback that reports each epoch's logs to Tune, with ``epoch``, ``w1`` (the
    epoch's validation W1) and, with ``centers``, ``mode_coverage`` (smallest share of a mode in
    the epoch's validation samples)."""

    def __init__(self, centers: Any = None, extra: dict[str, Any] | None = None):
        self.centers = centers
        self.extra = dict(extra or {})

    def on_epoch_end(self, epoch, trainer, logs=None):
        from ray import tune

        from ..metrics import mode_coverage

        metrics: dict[str, Any] = {k: float(v) for k, v in (logs or {}).items()}
        metrics.update(self.extra, epoch=epoch, final=0)
        if "val_w1" in metrics:
            metrics["w1"] = metrics["val_w1"]
        samples = trainer.epoch_samples
        if self.centers is not None and samples is not None and samples[0] == epoch:
            metrics["mode_coverage"] = float(mode_coverage(samples[1], self.centers).min())
        tune.report(metrics)


def train_trial(params: dict[str, Any], *, base: dict[str, Any], sweep_dir: str, tensorboard: bool = True) -> None:
    """Tune's trainable: one trial, the ``train`` command's code in the trial's own folder.

    A folder that holds a checkpoint (the trial was killed) is resumed from it; one whose run is
    finished and evaluated is reported without training again. Writes ``trial.json`` (Tune's
    trial id, the parameters, the status) and, if it fails, ``error.txt``."""
    from ray import tune

    from ..cli import run_config
    from ..data import centers_of
    from ..training import checkpoints

    trial_id = tune.get_context().get_trial_id()
    folder = Path(sweep_dir) / "trials" / trial_folder_name(trial_id, params)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"trial_id": trial_id, "params": params, "status": "running", "started": time.time()}
    checkpoints.atomic_write_text(folder / "trial.json", json.dumps(record, indent=2, default=str))
    try:
        cfg = trial_config(base, params)
        _limit_threads(tune.get_context().get_trial_resources().required_resources.get("CPU", 1))
        epochs = int(cfg["training"]["epochs"])
        done = checkpoints.latest_epoch(folder) or 0
        evaluation = folder / "evaluation.json"
        if done >= epochs and evaluation.exists() and json.loads(evaluation.read_text()).get("epochs") == epochs:
            report = json.loads(evaluation.read_text())  # finished before the sweep was killed
        else:
            try:
                centers = centers_of(cfg["data"]["target"])
            except (TypeError, ValueError):
                centers = None  # run_config names the bad target
            reporter = TuneReporter(centers, {"trial_dir": str(folder), "resumed_from": done})
            report = run_config(
                cfg, folder, resume=done > 0, tensorboard=tensorboard, callbacks=[reporter], finished_ok=True
            )
    except BaseException as exc:
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        checkpoints.atomic_write_text(folder / "error.txt", traceback.format_exc())
        checkpoints.atomic_write_text(folder / "trial.json", json.dumps(record, indent=2, default=str))
        raise
    final = {"epoch": epochs, "final": 1, "trial_dir": str(folder), "resumed_from": done}
    final["w1"] = float(report["wasserstein_mean"])
    if "mode_coverage" in report:
        final["mode_coverage"] = float(min(report["mode_coverage"]))
    record.update(status="finished", final=final)
    checkpoints.atomic_write_text(folder / "trial.json", json.dumps(record, indent=2, default=str))
    tune.report(final)


def _limit_threads(cpus: float) -> None:
    """TensorFlow's op threads to the trial's CPUs (its default, one per core, oversubscribes)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, int(cpus)))
    except RuntimeError:  # TensorFlow already started in this worker
        pass


# ---------------------------------------------------------------------- the sweep
def _trainable(spec: SweepSpec, sweep_dir: Path, tensorboard: bool):
    from ray import tune

    trainable = tune.with_parameters(train_trial, base=spec.config, sweep_dir=str(sweep_dir), tensorboard=tensorboard)
    return tune.with_resources(trainable, {"cpu": spec.cpus_per_trial})


def _param_space(spec: SweepSpec) -> dict[str, Any]:
    from ray import tune

    space = {}
    for key, value in spec.space.items():
        if isinstance(value, list):
            space[key] = tune.grid_search(value) if spec.search == "grid" else tune.choice(value)
        else:
            kind, args = next(iter(value.items()))
            space[key] = tune.choice(args) if kind == "choice" else getattr(tune, kind)(*args)
    return space


def _tune_config(spec: SweepSpec):
    from ray import tune

    scheduler = search_alg = None
    if spec.asha is not None:
        from ray.tune.schedulers import ASHAScheduler

        epochs = spec.space.get("training.epochs", [spec.config["training"]["epochs"]])
        longest = max(epochs) if isinstance(epochs, list) else max(next(iter(epochs.values())))
        # max_t one past the last epoch: at max_t ASHA stops a trial, and a trial that reaches its
        # last epoch must still make its final report (else a finished trial reads "stopped early")
        asha = {"max_t": int(longest) + 1, "grace_period": 1, **spec.asha}
        scheduler = ASHAScheduler(time_attr="epoch", **asha)
    if spec.search == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch

            search_alg = OptunaSearch()
        except (ImportError, AssertionError) as exc:  # Ray asserts that optuna is installed
            raise ImportError(f"search = 'optuna' needs optuna: pip install optuna ({exc})") from None
    return tune.TuneConfig(
        metric=spec.metric,
        mode=spec.mode,
        num_samples=spec.num_samples,
        scheduler=scheduler,
        search_alg=search_alg,
        max_concurrent_trials=spec.max_concurrent_trials,
    )


def _token_auth(address: str | None) -> None:
    """Joining a cluster by address: token authentication on where this machine has a Ray token.
    ``ray start`` turns it on where a token exists; a driver joining by address does not (Ray
    2.60), and the cluster then refuses it. Read when Ray is imported: call this before."""
    token = os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token")
    if address and "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or Path(token).is_file()):
        if "ray" in sys.modules:
            logger.warning("Ray was imported before the sweep: set RAY_AUTH_MODE=token if the cluster refuses it")
        os.environ["RAY_AUTH_MODE"] = "token"


#: a Ray started here listens on loopback only (Ray's default is the machine's network address)
LOOPBACK = "127.0.0.1"


def _local(address: str) -> bool:
    """Is ``address`` a Ray on this machine's loopback (``auto`` finds the one ``ray start`` left here)?"""
    return address == "auto" or address.split("://")[-1].startswith(("127.", "localhost"))


def _connect(address: str | None) -> bool:
    """Ray: the caller's, if started; else the cluster at ``address``, or a new local one.
    Returns whether this call started the connection (and so should end it)."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("MPLBACKEND", "Agg")  # trials of a local Ray inherit it
    if address:
        ray.init(address=address, logging_level=logging.WARNING, _node_ip_address=LOOPBACK if _local(address) else None)
    else:
        for attempt in (1, 2):
            try:  # "local": a new instance, never one that `ray start` left here (ray.init()'s default)
                ray.init(
                    address="local", include_dashboard=False, logging_level=logging.WARNING, _node_ip_address=LOOPBACK
                )
                break
            except Exception as exc:  # Ray gives its node 30 s to start: too little on an overloaded machine
                if attempt == 2 or "timed out during startup" not in str(exc):
                    raise
                logger.warning("Ray's local node did not start within Ray's 30 s (a busy machine?): trying again")
                ray.shutdown()
    return True


def run_sweep(
    spec: str | Path | SweepSpec,
    *,
    resume: bool = False,
    address: str | None = None,
    output_dir: str | Path | None = None,
    tensorboard: bool = True,
    verbose: int = 1,
) -> SweepResults:
    """Run (or with ``resume`` continue) a sweep; returns its :class:`SweepResults` and writes
    ``results.csv``, ``results.json`` and ``metric_vs_params.png`` into its folder.

    ``spec``: a spec file or a :class:`SweepSpec`. ``address``: an existing Ray cluster
    (``"auto"``, ``"ray://host:10001"``); by default a local Ray on this machine's cores, unless
    Ray is already initialised in this process (then that one). ``tensorboard``: every trial
    writes TensorBoard curves into its folder. ``verbose``: Tune's progress output (0-3).
    Failed trials are in the results with their error; the others go on."""
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec, output_dir)
    elif output_dir is not None:
        spec = dataclasses.replace(spec, output_dir=Path(output_dir))
    sweep_dir = spec.output_dir.resolve()
    experiment = sweep_dir / "tune"
    saved = sweep_dir / "sweep.json"
    if resume:
        if not saved.exists() or not experiment.exists():
            raise BadValue("resume", f"{sweep_dir} holds no sweep to continue; leave out resume to start one")
        before = json.loads(saved.read_text())
        now = json.loads(json.dumps(spec.describe(), default=str))
        changed = sorted(k for k in now if now[k] != before.get(k))
        if changed:
            raise BadValue("spec", f"differs from the sweep in {sweep_dir} in {changed}: resume with the same spec")
    elif saved.exists() or experiment.exists():
        raise BadValue("output_dir", f"{sweep_dir} already holds a sweep; pass resume (--resume) or choose another")
    from ..training.checkpoints import atomic_write_text
    from ..validation import check_output_dir

    check_output_dir(sweep_dir)
    _token_auth(address)
    from ray import tune

    if not resume:
        atomic_write_text(saved, json.dumps(spec.describe(), indent=2, default=str))
    started_here = _connect(address)
    began = time.perf_counter()
    try:
        trainable = _trainable(spec, sweep_dir, tensorboard)
        if resume:
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=_param_space(spec),
                tune_config=_tune_config(spec),
                run_config=tune.RunConfig(
                    name="tune",
                    storage_path=str(sweep_dir),
                    failure_config=tune.FailureConfig(max_failures=0),
                    verbose=verbose,
                ),
            )
        grid = tuner.fit()
    finally:
        if started_here:
            import ray

            ray.shutdown()
    results = collect_results(grid, spec, sweep_dir)
    write_results(results)
    print(results.table())
    best = results.best()
    wall = time.perf_counter() - began
    summary = f"{len(results.rows)} trials ({len(results.failed)} failed) in {wall:.0f} s; results in {sweep_dir}"
    if best is not None:
        summary += f"\nbest {spec.metric} = {best[spec.metric]:.4f}: {best['trial']}"
    if any(r["status"] == "unfinished" for r in results.rows):
        summary += f"\nsome trials did not finish: continue with --resume (resume=True) and output_dir {sweep_dir}"
    print(summary + f"\ncurves: tensorboard --logdir {sweep_dir}")
    return results
