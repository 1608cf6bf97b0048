"""Sweeps on Ray Tune: ``python -m qgan_lab sweep SPEC.toml`` or :func:`run_sweep`.

A spec (TOML) names a base config, the values to sweep and how to compare trials::

    [sweep]
    base = "bimodal"            # a preset or a config .toml (relative to the spec's folder)
    output_dir = "runs/sweeps/lr"
    metric = "w1"               # "w1": final mean W1 (lower is better); "mode_coverage": final
                                # smallest mode coverage (higher is better)
    search = "grid"             # grid | random | optuna
    num_samples = 1             # grid: repeats of the grid; random/optuna: trials
    cpus_per_trial = 1
    # max_concurrent_trials = 2  (default: as many as the CPUs allow)

    [sweep.asha]                # optional: ASHA stops poor trials early (by epoch)
    grace_period = 5
    reduction_factor = 2

    [fixed.training]            # optional: set in every trial
    epochs = 20

    [space.training]            # what is swept: [space.SECTION] KEY = ...
    learning_rate_d = [1e-3, 5e-3]            # a list: a grid axis (random/optuna: a choice)
    seed = [0, 1, 2]
    [space.generator]
    passive_std = { loguniform = [0.01, 0.3] }  # or uniform, randint (high exclusive), choice

Every trial runs the ``train`` command's code (:func:`qgan_lab.cli.run_config`) in its own
folder, ``OUTPUT_DIR/trials/trial_NNNNN_<params>``, with the usual checkpoints, history,
evaluation, plots and TensorBoard curves, and reports every epoch to Tune (``w1`` = the epoch's
validation W1, ``mode_coverage``, the losses...). A spec is checked whole before any trial starts
(unknown keys, empty grids, values that :func:`qgan_lab.config.validate_config` refuses). At the
end the sweep folder holds ``results.csv``, ``results.json`` (a row per trial: parameters, final
metrics, wall time, status, error) and ``metric_vs_params.png``; Tune's own state is in
``OUTPUT_DIR/tune`` (what ``--resume`` reads). Ray is imported only when a sweep runs (the
``sweep`` extra: ``pip install -e '.[sweep]'``). Taught in ``08_sweeps``.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import logging
import math
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..config import SECTIONS, load_config, read_toml, validate_config
from ..validation import BadType, BadValue

logger = logging.getLogger(__name__)

#: metric -> Tune mode: final mean W1 (lower is better), smallest mode coverage (higher is better)
METRICS = {"w1": "min", "mode_coverage": "max"}
SEARCHES = ("grid", "random", "optuna")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
SWEEP_KEYS = {
    "base",
    "output_dir",
    "metric",
    "search",
    "num_samples",
    "cpus_per_trial",
    "max_concurrent_trials",
    "asha",
}
ASHA_KEYS = {"grace_period", "reduction_factor", "max_t"}
TOP_TABLES = {"sweep", "fixed", "space"}
SEED_KEY = "training.seed"
RESULT_FILES = ("results.csv", "results.json", "metric_vs_params.png")


@dataclasses.dataclass
class SweepSpec:
    """A checked sweep spec (:func:`load_spec`); ``space`` maps ``"section.key"`` to a list (a
    grid axis, or a choice) or ``{distribution: arguments}``."""

    base: str
    config: dict[str, Any]
    space: dict[str, Any]
    output_dir: Path
    metric: str = "w1"
    search: str = "grid"
    num_samples: int = 1
    cpus_per_trial: float = 1.0
    max_concurrent_trials: int | None = None
    asha: dict[str, int] | None = None

    @property
    def mode(self) -> str:
        return METRICS[self.metric]

    def n_trials(self) -> int:
        """How many trials the spec makes (grid: the grid's size times ``num_samples``)."""
        if self.search != "grid":
            return self.num_samples
        return self.num_samples * math.prod(len(v) for v in self.space.values() if isinstance(v, list))

    def describe(self) -> dict[str, Any]:
        """What a resumed sweep must match: everything but the output folder."""
        return {
            "base": self.base,
            "config": self.config,
            "space": self.space,
            "metric": self.metric,
            "search": self.search,
            "num_samples": self.num_samples,
            "cpus_per_trial": self.cpus_per_trial,
            "asha": self.asha,
        }


# ---------------------------------------------------------------------- the spec
def _name(*parts: str) -> str:
    return "spec " + " ".join(parts)


def _flatten_space(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """``[space.training] seed = [..]`` -> ``{("training", "seed"): [..]}``; also ``"training.seed"`` keys."""
    out: dict[tuple[str, ...], Any] = {}
    for key, value in table.items():
        path = prefix + tuple(str(key).split("."))
        table = isinstance(value, dict)
        if table and (len(path) == 1 or (path[0] == "loss" and not set(value) & set(DISTRIBUTIONS))):
            # a section, or a loss's table; a table under a key is a distribution
            if not value:
                raise BadValue(_name(f"[space.{'.'.join(path)}]"), "is an empty table: give a list of values")
            out.update(_flatten_space(value, path))
        else:
            out[path] = value
    return out


def _set(cfg: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    table = cfg
    for part in path[:-1]:
        table = table.setdefault(part, {})
    table[path[-1]] = value


def _check_value(config: dict[str, Any], path: tuple[str, ...], value: Any, where: str) -> None:
    trial = copy.deepcopy(config)
    _set(trial, path, value)
    try:
        validate_config(trial)
    except (TypeError, ValueError) as exc:
        raise BadValue(where, f"the value {value!r} is refused by the config checks: {exc}") from None


def _check_distribution(config: dict[str, Any], path: tuple[str, ...], value: dict[str, Any], where: str) -> None:
    if len(value) != 1 or set(value) - set(DISTRIBUTIONS):
        raise BadValue(where, f"a sampled value is one of {{{', '.join(DISTRIBUTIONS)} = [...]}}, got {value!r}")
    kind, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        raise BadValue(where, f"{kind} needs a non-empty list, got {args!r}")
    if kind == "choice":
        for option in args:
            _check_value(config, path, option, where)
        return
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise BadValue(where, f"{kind} needs [low, high] numbers, got {args!r}")
    low, high = args
    if not low < high:
        raise BadValue(where, f"{kind} needs low < high, got {args!r}")
    if kind == "loguniform" and low <= 0:
        raise BadValue(where, f"loguniform needs low > 0, got {args!r}")
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        raise BadValue(where, f"randint needs integer bounds (high exclusive), got {args!r}")
    for bound in (low, high - 1 if kind == "randint" else high):
        _check_value(config, path, bound, where)


def check_space(config: dict[str, Any], space: dict[str, Any], search: str) -> dict[str, Any]:
    """The search space, checked against the base ``config``: ``{"section.key": values}``.

    ``BadValue`` naming the spec entry for an unknown section or key, an empty grid, a bad
    distribution, or a value that :func:`qgan_lab.config.validate_config` refuses."""
    if not isinstance(space, dict) or not space:
        raise BadValue(_name("[space]"), "is empty: name at least one [space.SECTION] KEY = [values]")
    out: dict[str, Any] = {}
    for path, value in _flatten_space(space).items():
        where = _name(f"[space.{path[0]}]", ".".join(path[1:]) or "?")
        section = path[0]
        if section not in SECTIONS:
            raise BadValue(where, f"unknown config section {section!r}; sections: {sorted(SECTIONS)}")
        keys = SECTIONS[section]
        if len(path) < 2 or (keys is not None and (len(path) != 2 or path[1] not in keys)):
            raise BadValue(where, f"unknown key; [{section}] keys: {sorted(keys or [])}")
        if isinstance(value, list):
            if not value:
                raise BadValue(where, "the grid is empty: give at least one value")
            for item in value:
                _check_value(config, path, item, where)
        elif isinstance(value, dict):
            _check_distribution(config, path, value, where)
            if search == "grid" and "choice" in value:
                logger.info("%s: a choice in a grid search is sampled; a list is a grid axis", where)
        else:
            raise BadValue(where, f"must be a list of values or a distribution table, got {value!r}")
        out[".".join(path)] = value
    return out


def _resolve_base(base: Any, spec_dir: Path) -> str:
    if not isinstance(base, str) or not base:
        raise BadType(_name("[sweep] base"), f"must be a preset name or a .toml path, got {base!r}")
    if Path(base).suffix and not Path(base).is_absolute() and (spec_dir / base).exists():
        return str(spec_dir / base)
    return base


def _check_number(where: str, value: Any, kind: type, minimum: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value < minimum:
        kind_text = "an int" if kind is int else "a number"
        raise BadValue(_name(where), f"must be {kind_text} >= {minimum:g}, got {value!r}")
    return kind(value)


def parse_spec(spec: dict[str, Any], spec_dir: str | Path = ".", output_dir: str | Path | None = None) -> SweepSpec:
    """A :class:`SweepSpec` from a spec's tables (as :func:`load_spec` reads them); every error
    is a ``BadValue``/``BadType`` naming the spec entry, raised before any trial."""
    unknown = set(spec) - TOP_TABLES
    if unknown:
        raise BadValue(_name(f"[{sorted(unknown)[0]}]"), f"unknown table; a spec has {sorted(TOP_TABLES)}")
    sweep = spec.get("sweep")
    if not isinstance(sweep, dict):
        raise BadValue(_name("[sweep]"), "is missing: it names at least base and output_dir")
    extra = set(sweep) - SWEEP_KEYS
    if extra:
        raise BadValue(_name("[sweep]", sorted(extra)[0]), f"unknown key; [sweep] keys: {sorted(SWEEP_KEYS)}")
    if "base" not in sweep:
        raise BadValue(_name("[sweep] base"), "is missing: a preset name or a config .toml")
    base = _resolve_base(sweep["base"], Path(spec_dir))
    try:
        config = load_config(base)
    except (TypeError, ValueError) as exc:
        raise BadValue(_name("[sweep] base"), str(exc)) from None
    fixed = spec.get("fixed", {})
    for path, value in _flatten_space(fixed).items() if fixed else ():
        where = _name(f"[fixed.{path[0]}]", ".".join(path[1:]))
        if path[0] not in SECTIONS or (SECTIONS[path[0]] is not None and path[-1] not in SECTIONS[path[0]]):
            raise BadValue(where, "unknown section or key")
        _check_value(config, path, value, where)
        _set(config, path, value)
    metric = sweep.get("metric", "w1")
    if metric not in METRICS:
        raise BadValue(_name("[sweep] metric"), f"must be one of {sorted(METRICS)}, got {metric!r}")
    search = sweep.get("search", "grid")
    if search not in SEARCHES:
        raise BadValue(_name("[sweep] search"), f"must be one of {list(SEARCHES)}, got {search!r}")
    out = output_dir if output_dir is not None else sweep.get("output_dir")
    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise BadValue(_name("[sweep] output_dir"), f"must be a folder path (or pass output_dir), got {out!r}")
    asha = sweep.get("asha")
    if asha is not None:
        if not isinstance(asha, dict) or set(asha) - ASHA_KEYS:
            raise BadValue(_name("[sweep.asha]"), f"takes the keys {sorted(ASHA_KEYS)}, got {asha!r}")
        asha = {
            k: _check_number(f"[sweep.asha] {k}", v, int, 1 if k != "reduction_factor" else 2) for k, v in asha.items()
        }
    space = check_space(config, spec.get("space"), search)
    if metric == "mode_coverage":
        from ..data import centers_of

        targets = space.get("data.target", [config["data"]["target"]])
        for target in targets if isinstance(targets, list) else [config["data"]["target"]]:
            try:
                has_modes = centers_of(target) is not None
            except (TypeError, ValueError):
                continue  # an unknown target fails its trial, with its error
            if not has_modes:
                raise BadValue(_name("[sweep] metric"), f"mode_coverage needs a target with modes; {target!r} has none")
    max_concurrent = sweep.get("max_concurrent_trials")
    return SweepSpec(
        base=base,
        config=config,
        space=space,
        output_dir=Path(out),
        metric=metric,
        search=search,
        num_samples=_check_number("[sweep] num_samples", sweep.get("num_samples", 1), int, 1),
        cpus_per_trial=_check_number("[sweep] cpus_per_trial", sweep.get("cpus_per_trial", 1), float, 0.01),
        max_concurrent_trials=None
        if max_concurrent is None
        else _check_number("[sweep] max_concurrent_trials", max_concurrent, int, 1),
        asha=asha,
    )


def load_spec(path: str | Path, output_dir: str | Path | None = None) -> SweepSpec:
    """Read and check a spec file (see the module's docstring); ``output_dir`` overrides the spec's."""
    path = Path(path)
    return parse_spec(read_toml(path, "spec"), path.parent, output_dir)


# ---------------------------------------------------------------------- one trial
def trial_config(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The base config with a trial's ``{"section.key": value}`` set, checked."""
    cfg = copy.deepcopy(base)
    for key, value in params.items():
        _set(cfg, tuple(key.split(".")), value.item() if hasattr(value, "item") else value)
    validate_config(cfg)
    return cfg


def trial_folder_name(trial_id: str, params: dict[str, Any]) -> str:
    """``trial_NNNNN_key=value,...``: Tune's trial counter, then the parameters (short keys)."""
    counter = trial_id.rsplit("_", 1)[-1]
    text = ",".join(f"{k.rsplit('.', 1)[-1]}={_short(v)}" for k, v in sorted(params.items()))
    return f"trial_{counter}_" + re.sub(r"[^A-Za-z0-9_.=,+-]", "_", text)[:100]


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


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
@dataclasses.dataclass
class SweepResults:
    """What :func:`run_sweep` returns: one row per trial (also in ``results.csv``/``.json``)."""

    rows: list[dict[str, Any]]
    output_dir: Path
    metric: str
    mode: str
    params: list[str] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "error"]

    def best(self) -> dict[str, Any] | None:
        """The finished trial with the best final metric."""
        done = [r for r in self.rows if r["status"] == "finished" and _finite(r.get(self.metric))]
        if not done:
            return None
        return (min if self.mode == "min" else max)(done, key=lambda r: r[self.metric])

    def table(self) -> str:
        """The rows as an aligned text table (what the command prints)."""
        return format_table(self.rows, self.params, self.metric)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


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


# ---------------------------------------------------------------------- results
def _short_error(error: Any) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def collect_results(grid: Any, spec: SweepSpec, sweep_dir: Path) -> SweepResults:
    """One row per trial of Tune's ``ResultGrid``, with what each trial wrote in its folder."""
    folders = {}
    for record in (sweep_dir / "trials").glob("*/trial.json"):
        folders[json.loads(record.read_text())["trial_id"]] = record.parent
    params = list(spec.space)
    rows = []
    for result in grid:
        metrics = dict(result.metrics or {})
        trial_id = metrics.get("trial_id") or next((t for t in folders if t in Path(result.path).name), "")
        folder = folders.get(trial_id)
        row: dict[str, Any] = {"trial": folder.name if folder else Path(result.path).name}
        row.update({key: (result.config or {}).get(key) for key in params})
        row["w1"] = metrics.get("w1", float("nan"))
        row["mode_coverage"] = metrics.get("mode_coverage", float("nan"))
        row["epochs"] = metrics.get("epoch", 0)
        row["wall_time_s"] = round(float(metrics.get("time_total_s", float("nan"))), 2)
        if result.error is not None:
            row["status"], row["error"] = "error", _short_error(result.error)
        else:
            # no final report: ASHA stopped it, or the sweep was interrupted before it ended
            row["status"] = "finished" if metrics.get("final") else "stopped early" if spec.asha else "unfinished"
            row["error"] = ""
        row["resumed_from"] = metrics.get("resumed_from", 0)
        row["path"] = str(folder) if folder else ""
        rows.append(row)
    rows.sort(key=lambda r: r["trial"])
    return SweepResults(rows, sweep_dir, spec.metric, spec.mode, params)


COLUMNS = ("w1", "mode_coverage", "epochs", "wall_time_s", "status", "error", "resumed_from", "path")


def write_results(results: SweepResults) -> None:
    """``results.csv``, ``results.json`` and ``metric_vs_params.png`` in the sweep folder."""
    from ..training.checkpoints import atomic_write_text

    columns = ["trial", *results.params, *COLUMNS]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(results.rows)
    atomic_write_text(results.output_dir / "results.csv", text.getvalue())
    data = {"metric": results.metric, "mode": results.mode, "params": results.params, "trials": results.rows}
    atomic_write_text(results.output_dir / "results.json", json.dumps(data, indent=2, default=str))
    plot_results(results, results.output_dir / "metric_vs_params.png")


def format_table(rows: list[dict[str, Any]], params: list[str], metric: str) -> str:
    """An aligned text table: trial, parameters, both final metrics, epochs, wall time, status."""
    columns = ["trial", *params, "w1", "mode_coverage", "epochs", "wall_time_s", "status"]
    titles = [c.rsplit(".", 1)[-1] if c in params else c for c in columns]
    titles = [t + (" *" if c == metric else "") for t, c in zip(titles, columns)]

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    for line, r in zip(body, rows):
        if r.get("error"):
            line[-1] += f": {r['error'][:80]}"
    widths = [max(len(t), *(len(line[i]) for line in body)) if body else len(t) for i, t in enumerate(titles)]
    out = ["  ".join(t.ljust(w) for t, w in zip(titles, widths))]
    out += ["  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in body]
    return "\n".join(s.rstrip() for s in out)


def plot_results(results: SweepResults, path: Path) -> Path:
    """The metric against each swept parameter but the seed: every finished trial a dot, the
    mean over seeds (and repeats) a line, their min-max a band."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    swept = [p for p in results.params if p != SEED_KEY] or list(results.params)
    done = [r for r in results.rows if r["status"] == "finished" and _finite(r.get(results.metric))]
    fig, axes = plt.subplots(1, max(len(swept), 1), figsize=(4.2 * max(len(swept), 1), 3.4), squeeze=False)
    for ax, param in zip(axes[0], swept):
        values = sorted({r[param] for r in done}, key=lambda v: (isinstance(v, str), v))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        position = {v: (float(v) if numeric else i) for i, v in enumerate(values)}
        xs = [position[r[param]] for r in done]
        ys = [r[results.metric] for r in done]
        ax.scatter(xs, ys, s=18, alpha=0.7, label="trials")
        groups = {v: [r[results.metric] for r in done if r[param] == v] for v in values}
        if values:
            centre = [position[v] for v in values]
            ax.plot(centre, [np.mean(groups[v]) for v in values], "-o", color="C1", label="mean over seeds")
            lo, hi = [min(groups[v]) for v in values], [max(groups[v]) for v in values]
            ax.fill_between(centre, lo, hi, color="C1", alpha=0.2, label="seed spread (min-max)")
        if numeric and values and min(values) > 0 and max(values) / min(values) >= 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(param)
        ax.set_ylabel(f"final {results.metric} ({'lower' if results.mode == 'min' else 'higher'} is better)")
        ax.legend(fontsize=7)
    if not done:
        axes[0][0].text(0.5, 0.5, "no finished trial", ha="center", va="center", transform=axes[0][0].transAxes)
    fig.suptitle(f"{results.output_dir.name}: {len(done)} finished trials")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
