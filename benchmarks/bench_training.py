"""Wall time, peak memory and quality of the guide's full training schedule.

    python benchmarks/bench_training.py [--epochs 100] [--steps-per-epoch 50] [--config guide]

Runs the preset (default: the guide's configuration, 100 epochs x 50 steps, n_critic 5,
batch 16) headlessly in this process and prints: wall time (target: under 5 minutes on 2 CPU
cores), seconds per step, the peak resident memory of the process (target: under 1.5 GB, the
Binder limit is 2 GB), and the final quality on 1000 samples against 5000 validation samples
(per-feature Wasserstein-1 and mode coverage; target W1 <= 0.3 and 30-70 % per mode).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import qgan_lab  # noqa: E402,F401

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peak.py
from peak import peak_rss_mib  # noqa: E402

from qgan_lab.config import build, load_config, with_overrides  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="guide")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--loss-type")
    args = parser.parse_args()
    cfg = with_overrides(
        load_config(args.config),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        loss_type=args.loss_type,
    )
    trainer, data, validation, centers = build(cfg)
    train = cfg["training"]
    epochs, steps = int(train["epochs"]), int(train["steps_per_epoch"])
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        trainer.train(
            data,
            epochs,
            steps,
            trainer.latent_dim,
            validation_data=validation,
            save_interval=int(train["save_interval"]),
            plot_interval=int(train["plot_interval"]),
            output_dir=out,
            progress=False,
        )
        wall = time.perf_counter() - started
        report = trainer.evaluate(validation, centers)
    compile_and_first = trainer.metrics_history["epoch_time"][0]
    per_step = sum(trainer.metrics_history["epoch_time"][1:]) / max(1, (epochs - 1) * steps)
    peak_mib = peak_rss_mib()
    print(
        f"schedule: {epochs} epochs x {steps} steps, n_critic {trainer.n_critic}, batch {cfg['data']['batch_size']}, "
        f"loss {trainer.loss_type}"
    )
    print(
        f"wall time: {wall:.1f} s ({wall / 60:.2f} min) [target < 5 min]; first epoch incl. compilation "
        f"{compile_and_first:.1f} s; {per_step * 1e3:.1f} ms per step ({trainer.n_critic} critic + 1 generator updates)"
    )
    print(f"peak resident memory: {peak_mib:.0f} MiB = {peak_mib * 2**20 / 1e9:.2f} GB [target < 1.5 GB]")
    w1 = report["wasserstein_per_feature"]
    coverage = report["mode_coverage"]
    print("W1 per feature: " + ", ".join(f"{w:.3f}" for w in w1) + " [target <= 0.3]")
    print("mode coverage: " + ", ".join(f"{100 * c:.1f}%" for c in coverage) + " [target 30-70 % each]")
    print(
        "generated mean "
        + str([round(m, 2) for m in report["generated"]["mean"]])
        + ", std "
        + str([round(s, 2) for s in report["generated"]["std"]])
    )
    met = max(w1) <= 0.3 and all(0.3 <= c <= 0.7 for c in coverage)
    print(f"quality target met: {met}")


if __name__ == "__main__":
    main()
