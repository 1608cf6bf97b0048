"""A sweep's results: one row per trial (:class:`SweepResults`), read from Tune's result grid
(:func:`collect_results`) or made by the plain loop (:mod:`~qgan_lab.sweep.loop`), and written into
the sweep folder as ``results.csv``, ``results.json`` and ``metric_vs_params.png``
(:func:`write_results`). No Ray here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from .spec import SweepSpec

#: the parameter that :func:`plot_results` averages over (unless it is the only one swept)
SEED_KEY = "training.seed"
RESULT_FILES = ("results.csv", "results.json", "metric_vs_params.png")
#: the columns after ``trial`` and the parameters in ``results.csv``
COLUMNS = ("w1", "mode_coverage", "epochs", "wall_time_s", "status", "error", "resumed_from", "path")


@dataclasses.dataclass
class SweepResults:
    """What :func:`~qgan_lab.sweep.tune.run_sweep` and :func:`~qgan_lab.sweep.loop.run_loop`
    return: one row per trial (also in ``results.csv``/``.json``)."""

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
