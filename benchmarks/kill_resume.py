"""Kill a training run with SIGKILL at random moments, resume it each time, compare the end.

    python benchmarks/kill_resume.py [--kills 30] [--epochs 80] [--sigint-every 4] [--seed 0] [--keep DIR]

A tiny run (1-mode generator and critic, cutoff 3, a checkpoint every epoch) is trained once
straight, with the moment each checkpoint appears recorded. Then the same run is started by
``python -m qgan_lab train``, killed (SIGKILL) after a random delay, uniform between 0 and
the time the straight run needed for its first checkpoint (import, compilation, first epoch)
or, two times in three, uniform within 1.5 epochs after the process's first new checkpoint
(steps and saving), and continued with ``--resume`` (a fresh start while no checkpoint is
complete), until ``--kills`` kills are done and a last process finishes. Every
``--sigint-every``-th interruption is a SIGINT (Ctrl-C) instead, which must exit with 130
after writing the last finished epoch. It passes when every process after a kill resumed (exit 0, or killed), and
the final checkpoint (every variable: both models, both optimizers, the epoch, the random
state), the history, the gradient managers' counters and the final samples equal the
straight run's. ``tests/test_checkpoints.py`` runs a short version (one SIGKILL, one SIGINT) in ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

TOML = """
[data]
target = "bimodal"
batch_size = 4
validation_samples = 100
[generator]
latent_dim = 1
output_dim = 2
n_modes = 1
layers = 1
cutoff_dim = 3
[discriminator]
input_dim = 2
n_modes = 1
layers = 1
cutoff_dim = 3
[training]
loss_type = "wasserstein"
epochs = {epochs}
steps_per_epoch = 2
n_critic = 1
save_interval = 1
plot_interval = 1000
seed = 3
"""


def command(config: Path, out: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "qgan_lab", "train", "--config", str(config), "--output-dir", str(out)]
    return cmd + ["--no-progress"] + (["--resume"] if resume else [])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def _states(out: Path) -> set[str]:
    folder = out / "checkpoints"
    return {p.name for p in folder.glob("state-*.json")} if folder.is_dir() else set()


def straight_run(config: Path, out: Path, epochs: int) -> list[float]:
    """Train without interruption; returns the seconds at which each state file appeared."""
    began = time.perf_counter()
    proc = subprocess.Popen(command(config, out, False), env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL)
    seen: dict[str, float] = {}
    while proc.poll() is None:
        for name in _states(out) - set(seen):
            seen[name] = time.perf_counter() - began
        time.sleep(0.01)
    if proc.returncode != 0:
        raise RuntimeError(f"the straight run failed with exit code {proc.returncode}")
    return sorted(seen.values())


def _default_sigint() -> None:
    """In the child: Ctrl-C raises KeyboardInterrupt even if this driver runs in the background
    (a shell starts background jobs with SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_moment(proc, out: Path, rng: random.Random, first: float, epoch: float, after_save: bool) -> None:
    """Wait for a random moment: a third of the time uniform in the first ``first`` seconds after
    the start (import, compilation, first epoch), else uniform in 1.5 epochs after the
    process's first new checkpoint (steps and saving). Either way, no later than 1.5 epochs
    after that checkpoint (so that a run always has epochs left to interrupt).
    ``after_save`` forces the second kind."""
    before = _states(out)
    deadline = time.perf_counter() + rng.uniform(0.0, first)
    if after_save or rng.random() >= 1 / 3:
        deadline = float("inf")
    saved = False
    while proc.poll() is None and time.perf_counter() < deadline:
        if not saved and _states(out) != before:
            saved = True
            deadline = min(deadline, time.perf_counter() + rng.uniform(0.0, 1.5 * epoch))
        time.sleep(0.005)


def kill_loop(
    config: Path, out: Path, epochs: int, kills: int, first: float, epoch: float, seed: int, sigint_every: int = 0
) -> dict:
    """Start, interrupt at random, resume, ... until ``kills`` SIGKILLs are done and a last
    process finishes; every ``sigint_every``-th interruption is a SIGINT (Ctrl-C) instead."""
    rng = random.Random(seed)
    final = out / "checkpoints" / f"state-{epochs}.json"
    counts = {"kills": 0, "sigints": 0, "starts": 0}
    codes = []
    while True:
        resume = bool(_states(out))
        proc = subprocess.Popen(
            command(config, out, resume),
            env=_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_default_sigint,
        )
        counts["starts"] += 1
        interruptions = counts["kills"] + counts["sigints"]
        sigint = bool(sigint_every) and interruptions % sigint_every == sigint_every - 1
        sent = None
        if counts["kills"] < kills:
            _interrupt_moment(proc, out, rng, first, epoch, after_save=sigint)
            if proc.poll() is None and not final.exists():  # never interrupt a run whose training is complete
                sent = signal.SIGINT if sigint else signal.SIGKILL
                proc.send_signal(sent)
                counts["sigints" if sigint else "kills"] += 1
        stdout, err = proc.communicate(timeout=900)
        codes.append(proc.returncode)
        print(f"start {counts['starts']}: exit {proc.returncode}, {counts}", file=sys.stderr, flush=True)
        expected = {None: 0, signal.SIGINT: 130, signal.SIGKILL: -signal.SIGKILL}[sent]
        if proc.returncode != expected:
            raise RuntimeError(f"start {counts['starts']} (resume={resume}) exit {proc.returncode}:\n{err.decode()}")
        if proc.returncode == 130 and b"continue with --resume" not in stdout + err:
            raise RuntimeError("a SIGINT did not report its emergency checkpoint")
        if proc.returncode == 0:
            return {**counts, "exit_codes": codes}


def final_state(out: Path, epochs: int) -> dict:
    """Everything a resumed run must reproduce exactly."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(out / "checkpoints" / f"ckpt-{epochs}"))
    weights = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "CHECKPOINTABLE" not in k}
    history = json.loads((out / "history.json").read_text())
    history.pop("epoch_time")
    evaluation = json.loads((out / "evaluation.json").read_text())
    samples = np.load(out / "final_generated_samples.npy")
    return {"weights": weights, "history": history, "managers": evaluation["gradient_manager"], "samples": samples}


def differences(a: dict, b: dict) -> list[str]:
    """Names of what differs between two :func:`final_state` results (empty: identical)."""
    diffs = []
    if a["weights"].keys() != b["weights"].keys():
        diffs.append("checkpoint variable names")
    diffs += [k for k in a["weights"] if k in b["weights"] and not np.array_equal(a["weights"][k], b["weights"][k])]
    for key in ("history", "managers"):
        if a[key] != b[key]:
            diffs.append(key)
    if not np.array_equal(a["samples"], b["samples"]):
        diffs.append("final samples")
    return diffs


def run(kills: int, epochs: int, seed: int, folder: Path, sigint_every: int = 0) -> dict:
    """The whole check in ``folder``; returns a summary with ``differences``."""
    config = folder / "tiny.toml"
    config.write_text(TOML.format(epochs=epochs))
    times = straight_run(config, folder / "straight", epochs)
    epoch_time = (times[-1] - times[0]) / max(len(times) - 1, 1)
    began = time.perf_counter()
    summary = kill_loop(config, folder / "killed", epochs, kills, times[0], epoch_time, seed, sigint_every)
    summary["kill_loop_s"] = time.perf_counter() - began
    summary["first_checkpoint_s"], summary["epoch_s"] = times[0], epoch_time
    straight, killed = final_state(folder / "straight", epochs), final_state(folder / "killed", epochs)
    summary["differences"] = differences(straight, killed)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigint-every", type=int, default=4, help="every N-th interruption is a SIGINT (0: none)")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        summary = run(args.kills, args.epochs, args.seed, args.keep, args.sigint_every)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            summary = run(args.kills, args.epochs, args.seed, Path(tmp), args.sigint_every)
    print(json.dumps(summary, indent=1))
    ok = not summary["differences"] and summary["kills"] >= args.kills
    verdict = "PASS" if ok else "FAIL"
    print(verdict, f"{summary['kills']} SIGKILLs, {summary['sigints']} SIGINTs, {summary['starts']} starts")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
