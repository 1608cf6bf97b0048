"""A sweep's spec: the TOML file read and checked whole before any trial (:func:`load_spec`,
:func:`parse_spec`), and what each trial gets from it (:func:`trial_config`, :func:`trial_folder_name`).

A spec names a base config, the values to sweep and how to compare trials::

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
evaluation, plots and TensorBoard curves, and on Ray (:mod:`~qgan_lab.sweep.tune`) reports every
epoch to Tune (``w1`` = the epoch's validation W1, ``mode_coverage``, the losses...). A spec is
checked whole before any trial starts (unknown keys, empty grids, values that
:func:`qgan_lab.config.validate_config` refuses). At the end the sweep folder holds
``results.csv``, ``results.json`` (a row per trial: parameters, final metrics, wall time, status,
error) and ``metric_vs_params.png`` (:mod:`~qgan_lab.sweep.results`); Tune's own state is in
``OUTPUT_DIR/tune`` (what ``--resume`` reads). Nothing here imports Ray; a sweep on Ray needs the
``sweep`` extra (``pip install -e '.[sweep]'``). Taught in ``08_sweeps``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import re
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
