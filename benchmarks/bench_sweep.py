"""A 4-trial sweep on Ray Tune against the same 4 runs one after another, and Ray's memory.

    python benchmarks/bench_sweep.py [--config bimodal] [--epochs 3] [--steps 10] [--trials 4] [--no-one-trial]

The runs: ``--config`` with ``--epochs`` and ``--steps`` per epoch, seeds 0..trials-1. First
``python -m qgan_lab train`` runs them one after another, each a fresh process (as a shell loop
would); then ``python -m qgan_lab sweep`` runs them as one sweep of 1-CPU trials on a local Ray
(on 2 cores: 2 at a time). Then (unless ``--no-one-trial``) a sweep of the first run alone.
Memory is the peak, sampled every 0.2 s, of the summed proportional set size (PSS: shared pages
split between the processes that map them) of the command's whole process tree (driver, Ray's
processes, trials). Ray's overhead is the one-trial sweep's peak minus one ``train`` run's peak;
Binder gives a session 2 GB. Prints the wall times, the speed-up and the memory table.

Last (unless ``--no-pinned``, or on one CPU), the first run again, pinned to one core
(``taskset``): how many cores one ``train`` run already keeps busy, T(1 core) / T(all cores).
Trials of 1 CPU each cannot beat one-after-another runs by more than the CPU count divided by it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER_LIMIT_MIB = 2048


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def _pss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_pss_mib(root: int) -> float:
    """Summed PSS of ``root`` and every descendant, in MiB."""
    tree, todo, total = _children(), [root], 0.0
    while todo:
        pid = todo.pop()
        total += _pss_mib(pid)
        todo.extend(tree.get(pid, []))
    return total


def run_measured(command: list[str], log: Path) -> tuple[float, float]:
    """Wall time (s) and peak process-tree PSS (MiB) of a command; its output goes to ``log``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "QGAN_LAB_FAST": "0"}
    peak = [0.0]
    began = time.perf_counter()
    with open(log, "w") as sink:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], tree_pss_mib(proc.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        sampler.join()
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{' '.join(command)} failed (rc {proc.returncode}); its log: {log}\n{tail}")
    return wall, peak[0]


def spec_text(config: str, epochs: int, steps: int, seeds: list[int], output: Path) -> str:
    base = config if not Path(config).suffix else str(Path(config).resolve())
    return (
        f'[sweep]\nbase = "{base}"\noutput_dir = "{output}"\nmetric = "w1"\ncpus_per_trial = 1\n'
        f"[fixed.training]\nepochs = {epochs}\nsteps_per_epoch = {steps}\n"
        f"[space.training]\nseed = {seeds}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="bimodal", help="preset or .toml (default: bimodal)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--no-one-trial", action="store_true", help="skip the one-trial sweep (memory)")
    parser.add_argument("--no-pinned", action="store_true", help="skip the run pinned to one core")
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder (default: a temporary one)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    folder.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.trials))
    python = [sys.executable, "-m", "qgan_lab"]
    size = f"{args.config}, {args.epochs} epochs x {args.steps} steps"
    print(f"{os.cpu_count()} CPUs; {size}, seeds {seeds}; in {folder}")

    def train_command(seed: int, out: Path) -> list[str]:
        command = [*python, "train", "--config", args.config, "--epochs", str(args.epochs), "--no-progress"]
        return command + ["--steps-per-epoch", str(args.steps), "--seed", str(seed), "--output-dir", str(out)]

    sequential, train_peaks = 0.0, []
    for seed in seeds:
        wall, peak = run_measured(train_command(seed, folder / f"train_seed{seed}"), folder / f"train_seed{seed}.log")
        sequential += wall
        train_peaks.append(peak)
        print(f"  train seed {seed}: {wall:.1f} s, peak {peak:.0f} MiB")

    spec = folder / "sweep.toml"
    spec.write_text(spec_text(args.config, args.epochs, args.steps, seeds, folder / "sweep"))
    sweep_wall, sweep_peak = run_measured([*python, "sweep", str(spec)], folder / "sweep.log")
    print(f"  sweep of {args.trials}: {sweep_wall:.1f} s, peak {sweep_peak:.0f} MiB")

    rows = [("one train run (largest)", max(train_peaks))]
    if not args.no_one_trial:
        one = folder / "one.toml"
        one.write_text(spec_text(args.config, args.epochs, args.steps, seeds[:1], folder / "sweep_one"))
        one_wall, one_peak = run_measured([*python, "sweep", str(one)], folder / "one.log")
        print(f"  sweep of 1: {one_wall:.1f} s, peak {one_peak:.0f} MiB")
        rows.append(("one-trial sweep", one_peak))
    rows.append((f"{args.trials}-trial sweep", sweep_peak))

    print(f"\n{args.trials} runs one after another: {sequential:.1f} s")
    print(f"the same {args.trials} as one sweep:     {sweep_wall:.1f} s")
    print(f"speed-up: {sequential / sweep_wall:.2f}x on {os.cpu_count()} CPUs")
    cpus = len(os.sched_getaffinity(0))
    if not args.no_pinned and cpus > 1:
        pinned_command = ["taskset", "-c", "0", *train_command(seeds[0], folder / "pinned")]
        pinned, _ = run_measured(pinned_command, folder / "pinned.log")
        unpinned = sequential / len(seeds)
        busy = pinned / unpinned
        print(f"one run pinned to one core: {pinned:.1f} s against {unpinned:.1f} s on {cpus} (mean): it keeps")
        print(f"{busy:.2f} cores busy, so 1-CPU trials can reach at most {cpus / busy:.2f}x here")
    print("\npeak memory (summed PSS of the process tree)")
    for name, value in rows:
        print(f"  {name:<26} {value:7.0f} MiB")
    if not args.no_one_trial:
        overhead = rows[1][1] - rows[0][1]
        fits = "fits" if rows[1][1] < BINDER_LIMIT_MIB else "does NOT fit"
        print(f"Ray's overhead (one-trial sweep - one train run): {overhead:.0f} MiB; the one-trial sweep {fits}")
        print(f"in Binder's {BINDER_LIMIT_MIB} MiB")


if __name__ == "__main__":
    main()
