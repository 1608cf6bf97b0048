"""Compare this checkout's Fock engine with another version of it, in one process.

    python benchmarks/ab_engine.py BASELINE [--what step|critic|forward|trainer] [--batch 16]
        [--rounds 10] [--repeats 60] [--config guide] [--cutoff 6]

The machine's speed drifts by 30-40 % within an hour, so two versions timed in two runs (or two
processes) cannot be compared. Here both are compiled in the same process and timed round by
round, alternating: ``BASELINE`` is a git revision (e.g. ``HEAD~1``; its ``qgan_lab/sim`` is
extracted with ``git archive``) or a folder holding a version of ``qgan_lab/sim``. The whole
package (engine, gate matrices, layout) is loaded as ``qgan_lab.sim_baseline`` beside
``qgan_lab.sim``, and each model gets one engine or the other. (Revisions before the package was
layered, 0645a9c and older, kept the engine in ``qgan_lab/fock.py`` and are not supported.)

``--what``: ``step``, the guide's generator step of ``bench_step.py`` (forward, Wasserstein loss
through the critic, gradients; ``--repeats`` calls per round, batch ``--batch``); ``critic``, a
2-mode, 2-layer critic at cutoff ``--cutoff`` (its forward pass, its input gradient and the
weights' gradient of both, as the gradient penalty needs); ``forward``, the
guide's generator forward pass alone (as for a training step's fakes); ``trainer``, ``--config``'s
whole training step (``train_epoch`` of 50 steps per round, at the config's batch size). Prints
each version's time per round (the two versions alternate, in turn first), the median of the
rounds, and (but for ``trainer``) the largest difference between the versions' outputs (0
or float rounding when a change only reorders work). Two identical versions measured within 6 %
of each other in most rounds and 19 % apart in one: compare the medians of many rounds.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import importlib.util
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import qgan_lab  # noqa: E402,F401  (first: quiet TensorFlow, SciPy shim)

# isort: split
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_step import compiled_steps, guide_models, median_time  # noqa: E402

from qgan_lab import PureQuantumDiscriminator  # noqa: E402
from qgan_lab.config import build, load_config  # noqa: E402
from qgan_lab.sim.fock import FockEngine  # noqa: E402


def load_baseline(source: str):
    """The engine module of ``source`` (a folder holding a version of ``qgan_lab/sim``, or a git
    revision whose ``qgan_lab/sim`` is extracted), its package loaded as ``qgan_lab.sim_baseline``."""
    folder = Path(source)
    if not folder.is_dir():
        archive = subprocess.run(["git", "archive", source, "qgan_lab/sim"], cwd=HERE.parent, capture_output=True)
        if archive.returncode != 0:
            raise SystemExit(f"BASELINE: no qgan_lab/sim at {source!r}: {archive.stderr.decode().strip()}")
        root = Path(tempfile.mkdtemp(prefix="ab_engine_"))
        atexit.register(shutil.rmtree, root, True)
        tarfile.open(fileobj=io.BytesIO(archive.stdout)).extractall(root, filter="data")
        folder = root / "qgan_lab" / "sim"
    spec = importlib.util.spec_from_file_location(
        "qgan_lab.sim_baseline", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package
    spec.loader.exec_module(package)
    return importlib.import_module("qgan_lab.sim_baseline.fock")


#: Training steps per round of ``--what trainer``.
TRAINER_STEPS = 50


def critic_step(engine, cutoff: int, batch: int):
    """``--what critic``: a compiled 2-mode critic step with a gradient-penalty-like term."""
    critic = PureQuantumDiscriminator(2, 2, 2, cutoff, seed=1, engine=engine)
    x = tf.random.stateless_normal([batch, 2], seed=[0, 1]) * 0.5

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            with tf.GradientTape() as inner:
                inner.watch(x)
                score = critic._forward_impl(x)["output"]
            slope = inner.gradient(score, x)
            loss = tf.reduce_mean(score) + tf.reduce_mean(tf.reduce_sum(slope * slope, 1))
        return loss, tape.gradient(loss, critic.trainable_variables)

    return lambda: step(x), step(x)


def candidates(what: str, batch: int, config: str, engines: dict, cutoff: int = 6):
    """Per version: a function running one timed unit, and its output (to compare versions)."""
    out = {}
    for name, engine in engines.items():
        if what == "trainer":
            trainer, data, *_ = build(load_config(config))
            trainer.generator.engine, trainer.discriminator.engine = engine, type(engine)()
            trainer.train_epoch(data, 2, trainer.latent_dim, 1)  # compiles

            def run(trainer=trainer, data=data):
                trainer.train_epoch(data, TRAINER_STEPS, trainer.latent_dim, 1)
                return []

            out[name] = (run, None)
            continue
        if what == "critic":
            out[name] = critic_step(engine, cutoff, batch)
            continue
        gen, disc = guide_models(engine)
        z = tf.random.stateless_normal([batch, gen.latent_dim], seed=[0, 1])
        if what == "step":
            step = compiled_steps(gen, disc)[0]
            out[name] = (lambda step=step, z=z: step(z), step(z))
        else:
            forward = tf.function(lambda z, gen=gen: gen._forward_impl(z)["output"], jit_compile=True)
            out[name] = (lambda forward=forward, z=z: forward(z), forward(z))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", help="a git revision, or a folder holding a version of qgan_lab/sim")
    parser.add_argument("--what", choices=["step", "critic", "forward", "trainer"], default="step")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=60, help="calls per round (step, critic, forward)")
    parser.add_argument("--config", default="guide", help="preset of --what trainer")
    parser.add_argument("--cutoff", type=int, default=6, help="cutoff of --what critic")
    args = parser.parse_args()
    engines = {"baseline": load_baseline(args.baseline).FockEngine(), "this checkout": FockEngine()}
    runs = candidates(args.what, args.batch, args.config, engines, args.cutoff)
    if args.what != "trainer":
        first, second = (tf.nest.flatten(runs[name][1]) for name in engines)
        diffs = [float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(first, second)]
        print(f"largest difference between the two versions' outputs: {max(diffs):.3g}")
    per_round = {name: [] for name in engines}
    repeats, unit = (1, "training step") if args.what == "trainer" else (args.repeats, "call")
    for k in range(args.rounds):
        for name in list(engines)[:: 1 if k % 2 == 0 else -1]:  # each version first in turn
            seconds = median_time(runs[name][0], (), repeats)[0] / (TRAINER_STEPS if args.what == "trainer" else 1)
            per_round[name].append(seconds * 1e3)
    for name, values in per_round.items():
        rounds = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:>14}: median of rounds {np.median(values):.3f} ms per {unit} (rounds: {rounds})")
    ratios = np.array(per_round["baseline"]) / np.array(per_round["this checkout"])
    print(f"baseline / this checkout, round by round: {' '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
