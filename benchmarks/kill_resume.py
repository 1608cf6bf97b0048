"""Kill a training run with SIGKILL at random moments, resume it each time, compare the end.

    python benchmarks/kill_resume.py [--kills 30] [--epochs 80] [--soft-every 4] [--seed 0] [--keep DIR]

A tiny run (1-mode generator and critic, cutoff 3, a checkpoint every epoch) is trained once
straight, with the moment each checkpoint appears recorded. Then the same run is started by
``python -m qgan_lab train``, killed (SIGKILL) after a random delay, uniform between 0 and
the time the straight run needed for its first checkpoint (import, compilation, first epoch)
or, two times in three, uniform within 1.5 epochs after the process's first new checkpoint
(steps and saving), and continued with ``--resume`` (a fresh start while no checkpoint is
complete), until ``--kills`` kills are done and a last process finishes. Every
``--soft-every``-th interruption (the first included) is instead, in turn, one of :data:`SOFT`:

* ``exception``: the run is started through the Python API with a data generator that raises
  after a random number of batches (user code failing mid-epoch); the finished epochs must be
  saved (exit 3, this script's code for "the exception came through");
* ``double_sigint``: a Ctrl-C, then a second one 5-100 ms later (often during the emergency
  save, which holds it back); exit 130;
* ``sigterm``: exit 143; ``sigint``: one Ctrl-C, exit 130.

Each must say exactly which epoch is saved (the newest checkpoint on disk). Last, the final
process is killed the moment its last checkpoint appears (during the final evaluation), and
``--resume`` must complete that evaluation. It passes when every process ends as expected and
the final checkpoint (every variable: both models, both optimizers, the epoch, the random
state), the history, the gradient managers' counters and the final samples equal the
straight run's. ``tests/test_checkpoints.py`` runs a short version in ``make test`` (one
SIGKILL, a double Ctrl-C, an exception, a kill during the final evaluation).
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

#: the interruptions other than SIGKILL, in the order they are used
SOFT = ("exception", "double_sigint", "sigterm", "sigint")
EXPECTED_EXIT = {"kill": -signal.SIGKILL, "sigint": 130, "double_sigint": 130, "sigterm": 143, "exception": 3}


def command(config: Path, out: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "qgan_lab", "train", "--config", str(config), "--output-dir", str(out)]
    return cmd + ["--no-progress"] + (["--resume"] if resume else [])


def failing_command(config: Path, out: Path, batches: int) -> list[str]:
    """This script as a child that trains through the Python API and fails after ``batches``."""
    return [sys.executable, __file__, "--child-fail-after", str(batches), str(config), str(out)]


def child_fail_after(batches: int, config: Path, out: Path) -> int:
    """Train the run of ``config`` in ``out`` (resuming if it holds one) as the CLI does, with a
    data generator that raises after ``batches`` batches; 3 if it raised, 0 if training ended first."""
    import logging

    from qgan_lab.config import build, load_config
    from qgan_lab.training import checkpoints

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    cfg = load_config(config)
    trainer, source, validation, _ = build(cfg)
    drawn = [0]

    def data():
        drawn[0] += 1
        if drawn[0] > batches:
            raise RuntimeError("user code failed")
        return source()

    data.rng, data.batch_size = source.rng, source.batch_size
    train = cfg["training"]
    try:
        trainer.train(
            data,
            train["epochs"],
            train["steps_per_epoch"],
            trainer.latent_dim,
            validation,
            save_interval=1000,  # (so that the emergency save has unsaved epochs to write)
            plot_interval=train["plot_interval"],
            output_dir=out,
            resume=bool(checkpoints.saved_epochs(out)),
            progress=False,
        )
    except RuntimeError:
        return 3
    return 0


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


def _newest(out: Path) -> int | None:
    from qgan_lab.training.checkpoints import latest_epoch

    return latest_epoch(out)


def kill_loop(
    config: Path,
    out: Path,
    epochs: int,
    kills: int,
    first: float,
    epoch: float,
    seed: int,
    soft_every: int = 0,
    soft: tuple[str, ...] = SOFT,
    final_kill: bool = True,
) -> dict:
    """Start, interrupt at random, resume, ... until ``kills`` SIGKILLs and each ``soft`` kind
    are done; every ``soft_every``-th interruption is a soft one (see the module docstring).
    Then (``final_kill``) a kill during the final evaluation, and a last process that finishes."""
    rng = random.Random(seed)
    final = out / "checkpoints" / f"state-{epochs}.json"
    counts = {"kills": 0, "starts": 0, "final_kills": 0, "held_back": 0, **{kind: 0 for kind in SOFT}}
    codes = []
    interruptions = 0
    while True:
        resume = bool(_states(out))
        soft_done = sum(counts[kind] > 0 for kind in soft) == len(soft) if soft_every else True
        interrupting = counts["kills"] < kills or not soft_done
        kind = "kill"
        if interrupting and soft_every and interruptions % soft_every == 0:
            kind = soft[(interruptions // soft_every) % len(soft)]
        if interrupting and kind == "exception" and final.exists():
            kind = "kill"  # (training is complete: nothing left for user code to interrupt)
        if interrupting and kind == "exception":  # mid-epoch, after 1-3 finished epochs of this process
            steps = 2
            batches = 1 + steps * rng.randint(1, 3) + rng.randint(0, steps - 1)
            cmd = failing_command(config, out, batches)
        else:
            cmd = command(config, out, resume)
        proc = subprocess.Popen(
            cmd, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint
        )
        counts["starts"] += 1
        sent = None
        if interrupting and kind != "exception":
            _interrupt_moment(proc, out, rng, first, epoch, after_save=kind != "kill")
            if proc.poll() is None and not final.exists():  # never interrupt a run whose training is complete
                sent = kind
                proc.send_signal({"kill": signal.SIGKILL, "sigterm": signal.SIGTERM}.get(kind, signal.SIGINT))
                if kind == "double_sigint":
                    time.sleep(rng.uniform(0.005, 0.1))
                    proc.send_signal(signal.SIGINT)
        elif interrupting:
            sent = kind
        elif final_kill and counts["final_kills"] == 0:
            while proc.poll() is None and not final.exists():  # the moment the last checkpoint appears
                time.sleep(0.002)
            if proc.poll() is None and not (out / "evaluation.json").exists():
                proc.send_signal(signal.SIGKILL)
                sent = "final_kill"
        if sent is not None:
            counts[{"kill": "kills", "final_kill": "final_kills"}.get(sent, sent)] += 1
            interruptions += sent != "final_kill"
        stdout, err = proc.communicate(timeout=900)
        text = (stdout + err).decode()
        codes.append(proc.returncode)
        print(f"start {counts['starts']}: {sent or 'no interruption'}, exit {proc.returncode}", file=sys.stderr)
        expected = {None: 0, "final_kill": -signal.SIGKILL}.get(sent, EXPECTED_EXIT.get(sent))
        if sent == "exception" and proc.returncode == 0:  # training ended before the failure point
            counts["exception"] -= 1
            continue
        if proc.returncode != expected:
            raise RuntimeError(f"start {counts['starts']} ({sent}, resume={resume}) exit {proc.returncode}:\n{text}")
        newest = _newest(out)
        if sent in ("sigint", "double_sigint", "sigterm") and f"epoch {newest} is saved in" not in text:
            raise RuntimeError(f"a {sent} did not report its newest checkpoint (epoch {newest}):\n{text}")
        if sent == "exception" and not (
            f"saved epoch {newest} to" in text or f"epoch {newest} was already saved" in text
        ):
            raise RuntimeError(f"the exception did not report its newest checkpoint (epoch {newest}):\n{text}")
        counts["held_back"] += "held back until the save was complete" in text
        if counts["final_kills"] and proc.returncode == 0 and "final evaluation is missing" not in text:
            raise RuntimeError(f"--resume after the kill during the final evaluation did not evaluate:\n{text}")
        if proc.returncode == 0 and sent is None:
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


def run(
    kills: int,
    epochs: int,
    seed: int,
    folder: Path,
    soft_every: int = 0,
    soft: tuple[str, ...] = SOFT,
    final_kill: bool = True,
) -> dict:
    """The whole check in ``folder``; returns a summary with ``differences``."""
    config = folder / "tiny.toml"
    config.write_text(TOML.format(epochs=epochs))
    times = straight_run(config, folder / "straight", epochs)
    epoch_time = (times[-1] - times[0]) / max(len(times) - 1, 1)
    began = time.perf_counter()
    summary = kill_loop(
        config, folder / "killed", epochs, kills, times[0], epoch_time, seed, soft_every, soft, final_kill
    )
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
    parser.add_argument("--soft-every", type=int, default=4, help="every N-th interruption is a soft one (0: none)")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    parser.add_argument("--child-fail-after", type=int, help=argparse.SUPPRESS)
    parser.add_argument("child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_fail_after is not None:
        return child_fail_after(args.child_fail_after, Path(args.child[0]), Path(args.child[1]))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        summary = run(args.kills, args.epochs, args.seed, args.keep, args.soft_every)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            summary = run(args.kills, args.epochs, args.seed, Path(tmp), args.soft_every)
    print(json.dumps(summary, indent=1))
    ok = not summary["differences"] and summary["kills"] >= args.kills and summary["final_kills"] == 1
    verdict = "PASS" if ok else "FAIL"
    soft = ", ".join(f"{summary[kind]} {kind}" for kind in SOFT)
    print(verdict, f"{summary['kills']} SIGKILLs, {soft}, {summary['final_kills']} kill during the final evaluation,")
    print(f"{summary['held_back']} second Ctrl-C held back during a save, {summary['starts']} starts")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
