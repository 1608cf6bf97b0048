"""Which quantum critic can teach? Critic designs side by side: capacity, then the GAN.

    python benchmarks/critic_designs.py [--designs NAME ...] [--seeds 0 1 2] [--epochs N] [--jobs 2]
                                        [--capacity-only | --gan-only] [--eval-samples 20000]
                                        [--json runs/critic_designs.json]

For every design (a set of ``[discriminator]`` settings over the ``bimodal`` preset) it prints

* the **capacity diagnostic** (:func:`qgan_lab.training.capacity.capacity_diagnostic`): a fresh critic
  trained to convergence (WGAN-GP, 600 updates, batch 64, learning rate 0.02; the classical MLP
  reference 0.002) against a *fixed* fake distribution,
  its held-out Wasserstein estimate beside the exact W1 between the two (POT's ``emd2`` on 2000
  samples of each; two samples of the target itself are about 0.1 apart at that size), for the
  target's best single Gaussian, a copy widened (std x 1.4) and a copy shifted by 0.3. This says
  whether a critic *can* teach before a GAN run says whether it *did*;
* the **GAN** with that critic: the preset's generator, data and loss, one game for all (``--game``,
  :data:`GAMES`; ``ttur``: batch 64, 5 critic updates per generator update, critic learning rate
  0.03, generator 0.004, both decaying to a tenth, a 0.99 weight average of the generator), the
  same seeds, only the critic changed (``--epochs`` shortens every run alike), evaluated as ``bench_quality.py`` does
  (per-feature W1 of ``--eval-samples`` samples, 20 000 by default, against as many held-out ones,
  the *last* iterate or the weight average where the preset keeps one; never a best epoch) and the
  critic's smallest trace. ``--eval-samples 1000`` is the evaluation of the tables before 8 December
  2026 (1000 samples against the 5000 of the run's validation set).

Every (design, seed) runs in a fresh process, ``--jobs`` at a time. Results are also written as
JSON. The critic tables of ``benchmarks/RESULTS.md`` are this script's output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_quality import EVAL_SAMPLES  # benchmarks/: the evaluation's sample size

os.environ.setdefault("MPLBACKEND", "Agg")

#: today's critic of the ``bimodal`` preset, before this comparison
BASE = {
    "n_modes": 2,
    "layers": 2,
    "cutoff_dim": 10,
    "encoding_scale": 0.3,
    "readout": "photon_number",
    "reupload": True,
    "passive_std": 0.1,
}
AUTO = {"input_center": "auto", "input_width": "auto"}
JOINT = {"readout": "joint", "passive_std": 0.5}
PHASE = {"cutoff_dim": 10, "encoding": "phase", "encoding_scale": 0.6, "active_std": 0.05, **AUTO}
#: name -> [discriminator] settings (over BASE)
DESIGNS: dict[str, dict] = {
    "photon_number": {},
    "joint": {**JOINT, "cutoff_dim": 8, "encoding_scale": 0.5},
    "joint+bounded": {**JOINT, "cutoff_dim": 8, "encoding": "bounded", "encoding_scale": 0.5, **AUTO},
    "joint+phase": {**JOINT, **PHASE},
    "joint+phase 3 layers": {**JOINT, **PHASE, "layers": 3},
    "joint+phase c12": {**JOINT, **PHASE, "cutoff_dim": 12, "encoding_scale": 0.8},
    "classical MLP": {},  # the reference: qgan_lab.models.classical.ClassicalCritic (2-64-64-1), not a quantum design
}
CLASSICAL = "classical MLP"


#: games (settings over the preset's [training], [data] and [loss]); every design of a table plays one
TTUR = {"n_critic": 5, "learning_rate_d": 0.03, "learning_rate_g": 0.004, "lr_decay": 0.1, "ema_decay": 0.99}
GAMES: dict[str, dict] = {
    "preset": {},
    "ttur": {"training": TTUR, "data": {"batch_size": 64}},
    "ttur-no-average": {"training": {**TTUR, "ema_decay": 0.0}, "data": {"batch_size": 64}},
    "ttur-gp1": {"training": TTUR, "data": {"batch_size": 64}, "loss": {"lambda_gp": 1.0}},
    # variants of the preset's game tried on its seed 0 with its own critic, "joint+phase 3 layers"
    # (benchmarks/RESULTS.md, 7 December 2026)
    "ema995": {"training": {"ema_decay": 0.995}},
    "decay003": {"training": {"lr_decay": 0.03}},
    "ema995-decay003": {"training": {"ema_decay": 0.995, "lr_decay": 0.03}},
    "lrg3e-3": {"training": {"learning_rate_g": 3e-3}},
    "batch128": {"data": {"batch_size": 128}},
    "batch128-25steps": {"data": {"batch_size": 128}, "training": {"steps_per_epoch": 25}},
}


def design_settings(name: str) -> dict:
    return {**BASE, **DESIGNS[name]}


def run_capacity(name: str, seed: int = 0) -> list[dict]:
    """The capacity diagnostic of one design on the bimodal target."""
    import qgan_lab  # noqa: F401
    from qgan_lab.config import derive_input_range
    from qgan_lab.models import PureQuantumDiscriminator
    from qgan_lab.training.capacity import capacity_diagnostic

    if name == CLASSICAL:
        from qgan_lab.models.classical import ClassicalCritic

        make = lambda: ClassicalCritic(2, 64, seed + 1)  # noqa: E731
        return capacity_diagnostic(make, "bimodal", steps=600, batch_size=64, learning_rate=0.002, seed=seed)
    settings = derive_input_range(design_settings(name), "bimodal")
    make = lambda: PureQuantumDiscriminator(2, seed=seed + 1, **settings)  # noqa: E731
    return capacity_diagnostic(make, "bimodal", steps=600, batch_size=64, learning_rate=0.02, seed=seed)


def run_gan(name: str, seed: int, epochs: int | None, preset: str, game: str, eval_samples: int) -> dict:
    """Train ``preset`` with this design's critic, the game ``game`` and one seed; the evaluation."""
    import qgan_lab  # noqa: F401
    from qgan_lab.config import build, load_config, with_overrides

    started = time.perf_counter()
    cfg = load_config(preset)
    for section, values in GAMES[game].items():
        cfg.setdefault(section, {}).update(values)
    cfg = with_overrides(cfg, seed=seed, epochs=epochs)
    cfg["discriminator"] = {"input_dim": cfg["discriminator"]["input_dim"], **design_settings(name)}
    trainer, data, validation, centers = build(cfg)
    if name == CLASSICAL:
        from qgan_lab.config import trainer_for
        from qgan_lab.models.classical import ClassicalCritic

        trainer = trainer_for(cfg, trainer.generator, ClassicalCritic(2, 64, seed + 1))
    train = cfg["training"]
    trainer.train(data, int(train["epochs"]), int(train["steps_per_epoch"]), trainer.latent_dim, progress=False)
    if eval_samples != 1000:  # bench_quality's held-out set
        from bench_quality import HELD_OUT_SEED

        from qgan_lab.data import validation_set

        validation = validation_set(cfg["data"]["target"], eval_samples, HELD_OUT_SEED)
    report = trainer.evaluate(validation, centers, n_samples=eval_samples)
    history = trainer.metrics_history
    return {
        "w1": report["wasserstein_per_feature"],
        "coverage": report.get("mode_coverage"),
        "critic_min_trace": min(history["critic_min_trace"]),
        "wall_s": time.perf_counter() - started,
    }


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="shorten every GAN run alike (the preset's schedule otherwise)")
    parser.add_argument("--preset", default="bimodal", help="the generator and data the critics are put in")
    parser.add_argument("--game", default="ttur", choices=list(GAMES), help="the game every design plays")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, each in its own process")
    parser.add_argument("--eval-samples", type=int, default=EVAL_SAMPLES, help="generated and held-out samples")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--capacity-only", action="store_true")
    only.add_argument("--gan-only", action="store_true")
    parser.add_argument("--json", default="runs/critic_designs.json")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, name, seed = args.child[0], args.child[1], int(args.child[2])
        if kind == "capacity":
            result = run_capacity(name, seed)
        else:
            result = run_gan(name, seed, args.epochs, args.preset, args.game, args.eval_samples)
        print(json.dumps(result))
        return
    jobs: list[tuple[str, str, int]] = []
    if not args.gan_only:
        jobs += [("capacity", name, 0) for name in args.designs]
    if not args.capacity_only:
        jobs += [("gan", name, seed) for name in args.designs for seed in args.seeds]
    extra = ["--preset", args.preset, "--game", args.game, "--eval-samples", str(args.eval_samples)]
    extra += ["--epochs", str(args.epochs)] if args.epochs else []

    def run(job: tuple[str, str, int]) -> dict:
        result = _child(["--child", job[0], job[1], str(job[2]), *extra])
        print(f"done: {job[0]} {job[1]} seed {job[2]}: {json.dumps(result)}", flush=True)
        return result

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(run, jobs))
    table: dict[str, dict] = {name: {"capacity": None, "gan": {}} for name in args.designs}
    for (kind, name, seed), result in zip(jobs, results):
        if kind == "capacity":
            table[name]["capacity"] = result
        else:
            table[name]["gan"][seed] = result
    schedule = f"{args.preset}, game {args.game}" + (f", {args.epochs} epochs" if args.epochs else ", full schedule")
    print(f"critic designs on bimodal: capacity (critic estimate / exact W1) and the GAN ({schedule})")
    print(f"{'design':<20} {'gaussian':>15} {'widened':>15} {'shifted':>15}   GAN W1 per feature by seed (coverage)")
    for name in args.designs:
        row = table[name]
        cells = []
        for fake in ("gaussian", "widened", "shifted"):
            match = [r for r in row["capacity"] or [] if r["fake"] == fake]
            cells.append(f"{match[0]['w_critic']:.2f}/{match[0]['w_true']:.2f}" if match else "-")
        runs = []
        for seed, r in sorted(row["gan"].items()):
            cov = "/".join(f"{100 * c:.0f}" for c in r["coverage"] or [])
            runs.append(f"{seed}: {max(r['w1']):.2f} ({cov}, trace {r['critic_min_trace']:.2f}, {r['wall_s']:.0f} s)")
        print(f"{name:<20} {cells[0]:>15} {cells[1]:>15} {cells[2]:>15}   " + "; ".join(runs), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
