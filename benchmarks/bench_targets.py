"""Issue 9's speed targets, measured in one run against plain Strawberry Fields.

    python benchmarks/bench_targets.py [--rounds 4] [--steps 25] [--quick] [--intra-op-threads N]

1. One Strawberry Fields generator update of the guide's configuration (forward, Wasserstein
   generator loss through the critic, gradients), both ways of ``bench_step.py``: (a) outputs
   from ``state.quad_expectation``, (b) observables read from its ket.
2. One whole training step of the guide's configuration (5 critic updates + 1 generator
   update, batch 16) on the trainer's per-update path and its fused step, alternating in
   ``--rounds`` rounds of ``--steps`` steps in this process (the machine's speed drifts: the
   two paths are compared round by round), and the ratio to (a) and (b).
3. ``bench_step.py``'s compiled generator step (the generator's forward pass, the Wasserstein
   loss through the critic, the gradients of the generator's weights; batch 16) in ``--rounds``
   rounds of 50 calls, and in the same rounds its large matrix products alone
   (``bench_step.product_chain``: about what the step would take with nothing but them).
4. Unless ``--quick``: the guide's full schedule (100 x 50 steps) and the default preset's
   (``bimodal``) full training, each in a fresh process (``bench_training.py``): wall time and
   peak resident memory.

Targets (issue 9, 2 CPU cores): a step at least 50x faster than one SF generator update (the
faster SF way, (b)), the generator's forward + gradient in at most 4 ms, the guide's schedule in
at most 90 s, the default preset under 2 minutes, peak memory under 1.5 GB. The script prints
each target as met or not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import qgan_lab  # noqa: E402,F401  (first: quiet TensorFlow, SciPy shim)

# isort: split
import logging  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_step import (  # noqa: E402
    add_threads_option,
    apply_threads_option,
    compiled_steps,
    guide_models,
    make_steps,
    median_time,
    product_chain,
    sf_quad_forward,
    step_and_products,
)

from qgan_lab.config import build, load_config  # noqa: E402
from qgan_lab.sim.fock import FockEngine  # noqa: E402


def sf_generator_update(repeats: int) -> dict[str, float]:
    """Median seconds of one SF generator update, (a) and (b), on the guide's models."""
    gen, disc = guide_models("sf")
    z = tf.random.stateless_normal([16, 4], seed=[0, 1])
    out = {}
    for name, forward in (("(a) SF quad_expectation", sf_quad_forward), ("(b) SF ket observables", None)):
        step = make_steps(gen, disc, forward or (lambda m, x: m.forward(x)["output"]))[0]
        out[name] = median_time(step, (z,), repeats)[0]
    return out


def training_step(rounds: int, steps: int) -> dict[str, list[float]]:
    """Seconds per whole step of the guide's configuration, per path, round by round."""
    trainer, data, *_ = build(load_config("guide"))
    fused = trainer.fused
    paths = {"per-update path": None, "fused step": fused}
    for path in paths.values():  # compile and warm up
        trainer.fused = path
        trainer.train_epoch(data, 2, trainer.latent_dim, 1)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, path in paths.items():
            trainer.fused = path
            start = time.perf_counter()
            trainer.train_epoch(data, steps, trainer.latent_dim, 1)
            times[name].append((time.perf_counter() - start) / steps)
    return times


def generator_step(rounds: int, repeats: int) -> tuple[list[float], list[float], float]:
    """Seconds of ``bench_step.py``'s compiled generator step (forward, Wasserstein generator
    loss through the critic, gradients; batch 16), the median of ``repeats`` calls per round,
    and, in the same rounds, those of its large products alone (``bench_step.product_chain``);
    and those products' flops."""
    gen, disc = guide_models(FockEngine())
    g_step = compiled_steps(gen, disc)[0]
    z = tf.random.stateless_normal([16, 4], seed=[0, 1])
    g_step(z)  # compiles
    chain, chain_flops = product_chain(gen.circuit, 16)
    return (*step_and_products(g_step, z, chain, rounds, repeats), chain_flops)


def full_schedule(config: str) -> tuple[float, float, str]:
    """Wall seconds, peak GB and the first-epoch line of ``bench_training.py --config config``."""
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_training.py"), "--config", config],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    ).stdout
    wall = float(re.search(r"wall time: ([\d.]+) s", done).group(1))
    peak = float(re.search(r"= ([\d.]+) GB", done).group(1))
    first = re.search(r"first epoch incl. compilation ([\d.]+) s; ([\d.]+) ms per step", done)
    return wall, peak, f"compile + first epoch {first.group(1)} s, {first.group(2)} ms per step"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=25, help="steps per round and path")
    parser.add_argument("--sf-repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="leave out the two full trainings")
    add_threads_option(parser)  # (not passed on to the full trainings' processes)
    args = parser.parse_args()
    setting = apply_threads_option(parser, args)
    logging.disable(logging.WARNING)
    print(f"machine: {os.cpu_count()} CPU cores, {setting}")

    sf = sf_generator_update(args.sf_repeats)
    times = training_step(args.rounds, args.steps)
    print("\nguide's configuration: one whole training step (5 critic + 1 generator updates, batch 16)")
    medians = {name: float(np.median(t)) for name, t in times.items()}
    for name, t in times.items():
        rounds = ", ".join(f"{x * 1e3:.1f}" for x in t)
        ratios = ", ".join(f"{sf_t / medians[name]:.0f}x faster than {sf_name}" for sf_name, sf_t in sf.items())
        print(f"  {name:<16} median {medians[name] * 1e3:6.1f} ms (rounds: {rounds}); {ratios}")
    per_round = np.array(times["per-update path"]) / np.array(times["fused step"])
    print(f"  fused step vs per-update path, round by round: {', '.join(f'{r:.2f}x' for r in per_round)}")
    for name, t in sf.items():
        print(f"  one SF generator update, {name}: {t * 1e3:.0f} ms")
    ratio = sf["(b) SF ket observables"] / medians["fused step"]
    print(f"target: a step >= 50x faster than one SF generator update (b): {ratio:.0f}x, {verdict(ratio >= 50)}")

    gen_rounds, chain_rounds, chain_flops = generator_step(args.rounds, 50)
    gen_median, chain_median = float(np.median(gen_rounds)), float(np.median(chain_rounds))
    rounds = ", ".join(f"{x * 1e3:.2f}" for x in gen_rounds)
    print("\nthe guide's generator forward + gradient through the critic's loss (bench_step.py's (c), batch 16):")
    print(f"  median {gen_median * 1e3:.2f} ms (rounds of 50 calls: {rounds})")
    chain_text = ", ".join(f"{x * 1e3:.2f}" for x in chain_rounds)
    print(
        f"  its large products alone (bench_step.product_chain, the same rounds): median {chain_median * 1e3:.2f} ms "
        f"= {chain_flops / chain_median / 1e9:.0f} GFLOP/s (rounds: {chain_text})"
    )
    print(f"target: at most 4 ms: {verdict(gen_median <= 0.004)}")

    if args.quick:
        return
    for config, limit in (("guide", 90.0), ("bimodal", 120.0)):
        wall, peak, detail = full_schedule(config)
        print(f"\nfull training of preset {config!r}: {wall:.0f} s ({detail}), peak memory {peak:.2f} GB")
        print(f"target: at most {limit:.0f} s: {verdict(wall <= limit)}; peak under 1.5 GB: {verdict(peak < 1.5)}")


if __name__ == "__main__":
    main()
