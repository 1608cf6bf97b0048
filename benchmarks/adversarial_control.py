"""Why does adversarial training fall short? The same game with a classical critic, as a control.

    python benchmarks/adversarial_control.py [--seeds 0 1 2] [--hidden 64] [--epochs N]

The ``bimodal`` preset trains its Born-machine generator against a quantum critic (WGAN-GP).
Where it falls short there are two suspects: the generator and the game (schedule, learning
rates, gradient penalty, weight average), or the critic. This script keeps everything of the
preset (generator, data, the whole ``[training]`` game via :func:`qgan_lab.config.trainer_for`,
seeds, evaluation) and swaps only the critic for a small classical network
(:class:`qgan_lab.models.classical.ClassicalCritic`: two hidden layers, leaky ReLU). If the generator
then reaches the bar, the quantum critic is the bottleneck. ``bench_quality.py`` runs the same
control as its ``mlp_critic`` row, on every target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as qgan_lab sets it, before TensorFlow starts
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


import qgan_lab  # noqa: E402, F401

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peak.py
from peak import peak_rss_mib  # noqa: E402

from qgan_lab.config import build, load_config, trainer_for, with_overrides  # noqa: E402
from qgan_lab.models.classical import ClassicalCritic  # noqa: E402


def run(seed: int, hidden: int, epochs: int | None = None) -> dict:
    started = time.perf_counter()
    cfg = with_overrides(load_config("bimodal"), seed=seed, epochs=epochs)
    quantum_trainer, data, validation, centers = build(cfg)  # the preset's generator, data, validation
    train = cfg["training"]
    critic = ClassicalCritic(quantum_trainer.generator.output_dim, hidden, seed + 1)
    trainer = trainer_for(cfg, quantum_trainer.generator, critic)  # the preset's whole game
    trainer.train(data, int(train["epochs"]), int(train["steps_per_epoch"]), trainer.latent_dim, progress=False)
    report = trainer.evaluate(validation, centers, n_samples=1000)
    report["wall_s"] = time.perf_counter() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--hidden", type=int, default=64, help="units per hidden layer of the classical critic")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (a quick check)")
    args = parser.parse_args()
    print("bimodal preset, quantum critic replaced by a classical MLP critic (everything else the same)")
    print("seed  W1 per feature   modes         wall")
    for seed in args.seeds:
        r = run(seed, args.hidden, args.epochs)
        w1 = ", ".join(f"{w:.3f}" for w in r["wasserstein_per_feature"])
        modes = "/".join(f"{100 * c:.0f}%" for c in r["mode_coverage"])
        print(f"{seed:4d}  {w1:<16} {modes:<12} {r['wall_s']:5.0f} s", flush=True)
    print(f"peak memory {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
