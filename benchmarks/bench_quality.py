"""Does the generator learn, on every target? W1 and mode coverage over seeds, beside classical rows.

    python benchmarks/bench_quality.py [--targets bimodal ... | all] [--presets bimodal bimodal_mmd]
                                       [--rows quantum mlp_critic mlp_generator] [--seeds 0 1 2]
                                       [--epochs N] [--jobs 2] [--json runs/bench_quality.json]
                                       [--merge runs/earlier.json ...] [--markdown]

Each (preset, target, row, seed) trains in a fresh process (``--jobs`` at a time) with the
preset's full schedule. Only the dimensions are adapted to a target (``output_dim``,
``latent_dim``, ``input_dim``); whatever else a target needs (the critic's input range) the
preset derives from the data (``input_width = "auto"``). Rows:

* ``quantum`` - the preset as it is (``bimodal``: quantum generator and quantum critic);
* ``mlp_critic`` - the same, the critic swapped for a classical MLP (the control: how well can this
  generator learn in this game?); presets without a critic (MMD) have no such row;
* ``mlp_generator`` - the generator swapped for an MLP of about the same number of parameters
  (:func:`qgan_lab.models.classical.matching_width`), same critic, loss, batch, steps and seeds.

Evaluation: ``EVAL_SAMPLES`` (20 000) samples of the generator (the weight average where the
preset keeps one, else the last iterate; never a best epoch) against as many held-out target
samples: per-feature Wasserstein-1, its value at initialisation (``start``: a run that ends worse
than it started diverged), mode coverage for mixtures, wall time (compilation included) and peak
memory. The **noise floor** is the W1 of as many fresh target samples against the same held-out
set. Why 20 000: with 1000, one trained generator's W1 moves by 0.02 (one standard deviation)
from one latent draw to the next and its mode shares by 1.6 points, as much as the bar's margin;
the estimate then says more about the draw than about the model (RESULTS.md, 8 December).

Bars (issue 25): ``bimodal`` on its target W1 <= 0.2 per feature, each mode 45-55 %, under 3
minutes; on every target no run diverges and the quantum row's mean W1 is within 1.5x of the
``mlp_critic`` row's. ``bimodal_mmd`` on its target: W1 <= 0.2, under 2 minutes. The classical
generator rows are printed for comparison (no bar).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peak.py
from peak import peak_rss_mib  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

#: (max W1 per feature, (min, max) fraction per mode, max wall seconds) per preset, on its own target
BARS = {"bimodal": (0.2, (0.45, 0.55), 180.0), "bimodal_mmd": (0.2, (0.4, 0.6), 120.0)}
#: the quantum row's mean W1 may be at most this times the mlp_critic row's, on every target
CONTROL_RATIO = 1.5
ROWS = ("quantum", "mlp_critic", "mlp_generator")
#: generated and held-out samples per evaluation (and for the start and the noise floor)
EVAL_SAMPLES = 20_000
#: the held-out set's seed: not the training data's, nor the validation curve's
HELD_OUT_SEED = 54321


def adapted_config(preset: str, target: str, seed: int, epochs: int | None) -> dict:
    """The preset with its dimensions set to the target's; nothing else changed."""
    from qgan_lab.config import load_config, with_overrides
    from qgan_lab.data import get_target

    cfg = with_overrides(load_config(preset), seed=seed, epochs=epochs)
    dim = get_target(target).dim
    cfg["data"]["target"] = target
    cfg["generator"].update(
        output_dim=dim, latent_dim=dim + cfg["generator"]["latent_dim"] - cfg["generator"]["output_dim"]
    )
    cfg["discriminator"]["input_dim"] = dim
    return cfg


def run_one(preset: str, target: str, row: str, seed: int, epochs: int | None) -> dict:
    """Train one row with one seed in this process; the evaluation report plus timings."""
    import tensorflow as tf

    import qgan_lab  # noqa: F401
    from qgan_lab.config import build, trainer_for
    from qgan_lab.data import get_target, validation_set
    from qgan_lab.metrics import wasserstein_per_feature
    from qgan_lab.models.classical import ClassicalCritic, ClassicalGenerator, matching_width

    started = time.perf_counter()
    cfg = adapted_config(preset, target, seed, epochs)
    trainer, data, _validation, centers = build(cfg)
    train = cfg["training"]
    if row != "quantum":  # one model swapped for a classical control; the same game (config.trainer_for)
        generator, critic = trainer.generator, trainer.discriminator
        if row == "mlp_critic":
            critic = ClassicalCritic(generator.output_dim, 64, seed + 1)
        else:
            n_params = sum(int(np.prod(v.shape)) for v in generator.trainable_variables)
            width = matching_width(n_params, generator.latent_dim, generator.output_dim)
            generator = ClassicalGenerator(generator.latent_dim, generator.output_dim, width, seed)
        trainer = trainer_for(cfg, generator, critic)
    held_out = validation_set(target, EVAL_SAMPLES, HELD_OUT_SEED)
    z = tf.random.stateless_normal([EVAL_SAMPLES, trainer.latent_dim], seed=[seed, 99])
    start_w1 = wasserstein_per_feature(held_out, trainer.steps.sample(z).numpy())
    trainer.train(data, int(train["epochs"]), int(train["steps_per_epoch"]), trainer.latent_dim, progress=False)
    report = trainer.evaluate(held_out, centers, n_samples=EVAL_SAMPLES)
    fresh = get_target(target).sample(EVAL_SAMPLES, np.random.default_rng(10_000 + seed))
    report["noise_floor_w1"] = wasserstein_per_feature(held_out, fresh).tolist()
    report["eval_samples"] = EVAL_SAMPLES
    report["start_w1"] = start_w1.tolist()
    report["n_parameters"] = int(sum(int(np.prod(v.shape)) for v in trainer.generator.trainable_variables))
    report["wall_s"] = time.perf_counter() - started
    report["peak_rss_mib"] = peak_rss_mib()
    report.update(preset=preset, target=target, row=row, seed=seed)
    return report


def own_bar(report: dict) -> str:
    """'yes'/'NO' against the preset's bar on its own target, '-' elsewhere."""
    bar = BARS.get(report["preset"])
    if bar is None or report["target"] != "bimodal" or report["row"] != "quantum" or report.get("shortened"):
        return "-"
    max_w1, (low, high), max_wall = bar
    ok = max(report["wasserstein_per_feature"]) <= max_w1 and report["wall_s"] <= max_wall
    ok = ok and all(low <= c <= high for c in report.get("mode_coverage", []))
    return "yes" if ok else "NO"


def _child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary_lines(reports: list[dict]) -> list[str]:
    """Per (preset, target): each row's mean W1 over seeds, divergences, and the control ratio."""
    lines = []
    keys = sorted({(r["preset"], r["target"]) for r in reports if "error" not in r})
    for preset, target in keys:
        mean = {}
        for row in ROWS:
            runs = [r for r in reports if (r.get("preset"), r.get("target"), r.get("row")) == (preset, target, row)]
            if runs:
                mean[row] = float(np.mean([np.mean(r["wasserstein_per_feature"]) for r in runs]))
        quantum = [
            r for r in reports if (r.get("preset"), r.get("target"), r.get("row")) == (preset, target, "quantum")
        ]
        diverged = sum(np.mean(r["wasserstein_per_feature"]) >= np.mean(r["start_w1"]) for r in quantum)
        text = f"{preset:<12} {target:<13} " + "  ".join(f"{row} {value:.3f}" for row, value in mean.items())
        text += f"  diverged {diverged}/{len(quantum)}"
        if "quantum" in mean and "mlp_critic" in mean:
            ratio = mean["quantum"] / mean["mlp_critic"]
            text += f"  quantum/control {ratio:.2f} ({'within' if ratio <= CONTROL_RATIO else 'NOT within'} 1.5x)"
        if "quantum" in mean and "mlp_generator" in mean:
            text += f"  quantum/classical generator {mean['quantum'] / mean['mlp_generator']:.2f}"
        lines.append(text)
    return lines


def markdown_table(reports: list[dict]) -> str:
    """Per target: each row's W1 (per-feature mean) for every seed and their mean, the quantum
    row's mode coverage range, divergences, the control ratio and (with that row) the ratio to the
    classical generator, as a Markdown table."""
    done = [r for r in reports if "error" not in r]
    rows = [row for row in ROWS if any(r["row"] == row for r in done)]
    head = "| target | " + " | ".join(f"{row} W1 (seeds; mean)" for row in rows)
    head += " | noise floor | quantum modes | diverged | quantum / mlp_critic |"
    versus_generator = "quantum" in rows and "mlp_generator" in rows
    head += " quantum / mlp_generator |" if versus_generator else ""
    lines = [head, "|" + "---|" * (len(rows) + 5 + versus_generator)]
    for preset, target in sorted({(r["preset"], r["target"]) for r in done}):
        mine = [r for r in done if (r["preset"], r["target"]) == (preset, target)]
        cells, means = [], {}
        for row in rows:
            runs = sorted((r for r in mine if r["row"] == row), key=lambda r: r["seed"])
            values = [float(np.mean(r["wasserstein_per_feature"])) for r in runs]
            means[row] = float(np.mean(values)) if values else float("nan")
            cells.append(", ".join(f"{v:.3f}" for v in values) + (f"; **{means[row]:.3f}**" if values else "-"))
        quantum = [r for r in mine if r["row"] == "quantum"]
        shares = [c for r in quantum for c in r.get("mode_coverage", [])]
        modes = f"{100 * min(shares):.0f}-{100 * max(shares):.0f} %" if shares else "-"
        diverged = sum(np.mean(r["wasserstein_per_feature"]) >= np.mean(r["start_w1"]) for r in quantum)
        ratio = means.get("quantum", float("nan")) / means.get("mlp_critic", float("nan"))
        name = target if preset == "bimodal" else f"{preset}: {target}"
        floor = float(np.mean([np.mean(r["noise_floor_w1"]) for r in mine]))
        tail = f" | {floor:.3f} | {modes} | {diverged}/{len(quantum)} | {ratio:.2f} |"
        if versus_generator:
            tail += f" {means['quantum'] / means['mlp_generator']:.2f} |"
        lines.append(f"| `{name}` | " + " | ".join(cells) + tail)
    return "\n".join(lines)


def main() -> None:
    from qgan_lab.data import TARGETS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["bimodal"])
    parser.add_argument("--targets", nargs="+", default=["bimodal"], help="target names, or 'all'")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (no bar then)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, each in its own process")
    parser.add_argument("--json", default="runs/bench_quality.json")
    parser.add_argument(
        "--merge",
        nargs="+",
        default=[],
        help="earlier --json files: their runs are reused (not rerun) and join the summary",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the summary as a Markdown table")
    parser.add_argument("--one", nargs=4, metavar=("PRESET", "TARGET", "ROW", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        preset, target, row, seed = args.one
        print(json.dumps(run_one(preset, target, row, int(seed), args.epochs)))
        return
    targets = sorted(TARGETS) if args.targets == ["all"] else args.targets
    jobs = []
    for preset in args.presets:
        from qgan_lab.config import load_config

        has_critic = load_config(preset)["training"].get("loss_type", "wasserstein") != "mmd"
        rows = [row for row in args.rows if has_critic or row != "mlp_critic"]
        jobs += [(preset, target, row, seed) for target in targets for row in rows for seed in args.seeds]
    extra = ["--epochs", str(args.epochs)] if args.epochs else []
    if any(Path(name).resolve() == Path(args.json).resolve() for name in args.merge):
        parser.error(f"--json {args.json} is also a --merge file: it is rewritten after every run; choose another")
    earlier, skipped = {}, 0
    for name in args.merge:  # runs of an earlier invocation (same code: the caller's responsibility)
        for report in json.loads(Path(name).read_text()):
            same_evaluation = report.get("eval_samples", 1000) == EVAL_SAMPLES
            if "error" not in report and bool(report.get("shortened")) == bool(args.epochs) and same_evaluation:
                earlier[(report["preset"], report["target"], report["row"], int(report["seed"]))] = report
            else:
                skipped += 1
    if skipped:
        print(f"--merge: {skipped} runs not reused (failed, another schedule, or not on {EVAL_SAMPLES} samples)")
    print(f"{'preset':<12} {'target':<13} {'row':<14} seed  {'W1 per feature':<16} {'start W1':<16} floor   ", end="")
    print(f"{'modes':<12} {'wall':>7} {'peak':>9}  bar", flush=True)

    done: list[dict] = []  # written after every run: a stopped invocation keeps what it finished
    lock = threading.Lock()

    def run(job: tuple[str, str, str, int]) -> dict:
        report = _run(job)
        with lock:
            done.append(report)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(done, indent=1))
        return report

    def _run(job: tuple[str, str, str, int]) -> dict:
        if job in earlier:
            report = dict(earlier[job], merged=True)
        else:
            report = _child(["--one", *map(str, job), *extra])
        report.update(dict(zip(("preset", "target", "row", "seed"), job)))
        if "error" in report:
            print(f"{job[0]:<12} {job[1]:<13} {job[2]:<14} {job[3]:>4}  FAILED: {report['error']}", flush=True)
            return report
        report["shortened"] = bool(args.epochs)
        report["bar_met"] = own_bar(report)
        w1 = ", ".join(f"{w:.3f}" for w in report["wasserstein_per_feature"])
        start = ", ".join(f"{w:.2f}" for w in report["start_w1"])
        floor = max(report["noise_floor_w1"])
        modes = "/".join(f"{100 * c:.0f}" for c in report.get("mode_coverage", [])) or "-"
        print(
            f"{job[0]:<12} {job[1]:<13} {job[2]:<14} {job[3]:>4}  {w1:<16} {start:<16} {floor:.3f}   {modes:<12} "
            f"{report['wall_s']:5.0f} s {report['peak_rss_mib']:5.0f} MiB  {report['bar_met']}"
            + ("  (merged)" if report.get("merged") else ""),
            flush=True,
        )
        return report

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        reports = list(pool.map(run, jobs))
    print("\nmean W1 over seeds (per-feature mean), per preset and target:")
    for line in summary_lines(reports):
        print(line)
    judged = [r["bar_met"] for r in reports if r.get("bar_met", "-") != "-"]
    if judged:
        print(f"own-target bars met: {judged.count('yes')}/{len(judged)} runs")
    if args.markdown:
        print("\n" + markdown_table(reports))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
