"""Does the generator learn? W1 and mode coverage over several seeds, on held-out data.

    python benchmarks/bench_quality.py [--presets bimodal bimodal_mmd] [--seeds 0 1 2] [--target NAME]

Each (preset, seed) trains in a fresh process with the preset's full schedule, then draws 1000
samples (fixed latent seed) and compares them with 5000 validation samples of the target
(a different seed from the training data): per-feature Wasserstein-1 and, for mixtures, the
fraction of samples nearest each mode. Printed beside them: the wall time of the whole run
(compilation included), the peak resident memory, and the **noise floor**: the W1 of 1000 fresh
samples of the target itself against the same validation set (a perfect generator scores about
this). Bars (issue 8): ``bimodal`` (WGAN-GP, quantum generator and critic) W1 <= 0.3 per feature,
each mode 40-60 %, under 5 minutes; ``bimodal_mmd`` W1 <= 0.2 per feature, under 2 minutes.
``--target`` trains the same presets on another target (no bar; see ``qgan_lab.data.TARGETS``).
Results are also written as JSON to ``--json`` (default ``runs/bench_quality.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peak.py
from peak import peak_rss_mib  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

#: (max W1 per feature, (min, max) fraction per mode, max wall seconds) per preset
BARS = {"bimodal": (0.3, (0.4, 0.6), 300.0), "bimodal_mmd": (0.2, (0.4, 0.6), 120.0)}


def run_one(preset: str, seed: int, target: str | None, epochs: int | None) -> dict:
    """Train one preset with one seed in this process; the evaluation report plus timings."""
    import numpy as np

    import qgan_lab  # noqa: F401
    from qgan_lab.config import build, load_config, with_overrides
    from qgan_lab.data import get_target, validation_set
    from qgan_lab.metrics import wasserstein_per_feature

    started = time.perf_counter()
    cfg = with_overrides(load_config(preset), seed=seed, epochs=epochs)
    if target is not None:
        cfg["data"]["target"] = target
    trainer, data, validation, centers = build(cfg)
    train = cfg["training"]
    trainer.train(data, int(train["epochs"]), int(train["steps_per_epoch"]), trainer.latent_dim, progress=False)
    report = trainer.evaluate(validation, centers, n_samples=1000)
    fresh = get_target(cfg["data"]["target"]).sample(1000, np.random.default_rng(10_000 + seed))
    report["noise_floor_w1"] = wasserstein_per_feature(validation_set(cfg["data"]["target"]), fresh).tolist()
    report["wall_s"] = time.perf_counter() - started
    report["peak_rss_mib"] = peak_rss_mib()
    report["preset"], report["seed"], report["target"] = preset, seed, cfg["data"]["target"]
    return report


def verdict(report: dict) -> str:
    """'yes'/'NO' against the preset's bar, '-' where there is none."""
    bar = BARS.get(report["preset"])
    if bar is None or report["target"] != "bimodal":
        return "-"
    max_w1, (low, high), max_wall = bar
    ok = max(report["wasserstein_per_feature"]) <= max_w1 and report["wall_s"] <= max_wall
    ok = ok and all(low <= c <= high for c in report.get("mode_coverage", []))
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["bimodal", "bimodal_mmd"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--target", help="train on this target instead of the preset's")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (no bar then)")
    parser.add_argument("--json", default="runs/bench_quality.json")
    parser.add_argument("--one", nargs=2, metavar=("PRESET", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.target, args.epochs)))
        return
    rows = []
    print(f"{'preset':<12} {'target':<12} seed  W1 per feature   noise floor   modes            wall    peak   bar met")
    for preset in args.presets:
        for seed in args.seeds:
            cmd = [sys.executable, __file__, "--one", preset, str(seed)]
            cmd += ["--target", args.target] if args.target else []
            cmd += ["--epochs", str(args.epochs)] if args.epochs else []
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            report = json.loads(out.strip().splitlines()[-1])
            if args.epochs:
                report["preset"] += f"@{args.epochs}ep"
            report["bar_met"] = verdict(report)
            rows.append(report)
            w1 = ", ".join(f"{w:.3f}" for w in report["wasserstein_per_feature"])
            floor = ", ".join(f"{w:.3f}" for w in report["noise_floor_w1"])
            modes = "/".join(f"{100 * c:.0f}%" for c in report.get("mode_coverage", [])) or "-"
            print(
                f"{preset:<12} {report['target']:<12} {seed:>4}  {w1:<16} {floor:<13} {modes:<16} "
                f"{report['wall_s']:5.0f} s {report['peak_rss_mib']:5.0f} MiB  {report['bar_met']}",
                flush=True,
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    judged = [r["bar_met"] for r in rows if r["bar_met"] != "-"]
    if judged:
        print(f"bars met: {judged.count('yes')}/{len(judged)} runs")


if __name__ == "__main__":
    main()
