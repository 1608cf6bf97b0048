"""How much does one evaluation draw move a trained generator's W1? The spread behind EVAL_SAMPLES.

    python benchmarks/eval_spread.py [--preset bimodal] [--target bimodal] [--seeds 0 1 2] [--draws 20]

For each seed it trains the preset on the target exactly as ``bench_quality.py`` does (same
configuration, full schedule), then evaluates the final generator (the weight average where the
preset keeps one) several ways against the run's 5000 validation samples:

* ``first draw``: 1000 samples from the latent vectors ``bench_quality.py`` used before 8 December
  2026 (seed ``[seed, 99]``), the number its tables reported;
* ``--draws`` more draws of 1000 samples (latent seeds ``[seed, 1000 + k]``): their mean, standard
  deviation and largest W1 per feature, and the range of the first mode's share;
* one draw of 20 000 samples (latent seed ``[seed, 7]``), against the same 5000.

A W1 estimated from few samples is biased upwards (two samples of the same distribution are not 0
apart) and scatters from draw to draw; with more generated samples both shrink (the 5000
validation samples keep some of each: ``bench_quality.py`` uses 20 000 on both sides). One JSON
line per seed, then a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/bench_quality.py
from bench_quality import adapted_config  # noqa: E402


def spread(preset: str, target: str, seed: int, draws: int) -> dict:
    """Train one seed, then evaluate its final generator with many latent draws."""
    import tensorflow as tf

    import qgan_lab  # noqa: F401
    from qgan_lab.config import build
    from qgan_lab.models.averaging import averaged
    from qgan_lab.training.evaluation import evaluate_samples

    cfg = adapted_config(preset, target, seed, None)
    trainer, data, validation, centers = build(cfg)
    train = cfg["training"]
    trainer.train(data, int(train["epochs"]), int(train["steps_per_epoch"]), trainer.latent_dim, progress=False)
    validation = np.asarray(validation)

    def evaluate(n: int, latent_seed: list[int]) -> dict:
        z = tf.random.stateless_normal([n, trainer.latent_dim], seed=latent_seed)
        with averaged(trainer.generator):
            return evaluate_samples(trainer.steps.sample(z).numpy(), validation, centers)

    first = evaluate(1000, [seed, 99])
    more = [evaluate(1000, [seed, 1000 + k]) for k in range(draws)]
    large = evaluate(20_000, [seed, 7])
    w1 = np.array([r["wasserstein_per_feature"] for r in more])
    shares = [r["mode_coverage"][0] for r in more if r.get("mode_coverage")]
    return {
        "seed": seed,
        "first_draw": first["wasserstein_per_feature"],
        "first_draw_modes": first.get("mode_coverage"),
        "draws_mean": w1.mean(0).tolist(),
        "draws_std": w1.std(0).tolist(),
        "draws_max": w1.max(0).tolist(),
        "draws_first_mode_share": [min(shares), max(shares)] if shares else None,
        "w1_20000": large["wasserstein_per_feature"],
        "modes_20000": large.get("mode_coverage"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="bimodal")
    parser.add_argument("--target", default="bimodal")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--draws", type=int, default=20, help="draws of 1000 samples per seed")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(spread(args.preset, args.target, args.one, args.draws)))
        return
    rows = []
    for seed in args.seeds:  # one process per seed, one after another
        command = [sys.executable, __file__, "--one", str(seed), "--preset", args.preset, "--target", args.target]
        out = subprocess.run([*command, "--draws", str(args.draws)], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    fmt = lambda values: "/".join(f"{v:.3f}" for v in values)  # noqa: E731
    print(f"\n{args.preset} on {args.target}: W1 per feature of the final generator against 5000 validation samples")
    print("| seed | first draw of 1000 | mean ± std, draws of 1000 | largest | first mode's share | 20 000 vs 5000 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        spread_text = " / ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(r["draws_mean"], r["draws_std"]))
        share = r["draws_first_mode_share"]
        share_text = f"{100 * share[0]:.1f}-{100 * share[1]:.1f} %" if share else "-"
        modes = "/".join(f"{100 * c:.1f}" for c in r["modes_20000"] or [])
        print(
            f"| {r['seed']} | {fmt(r['first_draw'])} | {spread_text} | {fmt(r['draws_max'])} | {share_text} "
            f"| {fmt(r['w1_20000'])} ({modes} %) |"
        )


if __name__ == "__main__":
    main()
