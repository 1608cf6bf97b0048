"""Compiled forward + gradient step: sampled-readout generator vs the guide's mean readout.

    python benchmarks/bench_born_step.py [--repeats N]

(a) ``PureQuantumGenerator(2, 2, n_modes=2, layers=4, cutoff_dim=8, readout="sample")``;
(b) the guide's ``PureQuantumGenerator(4, 2, n_modes=4, layers=2, cutoff_dim=6)`` (means);
both at batch 16, loss ``mean(sin(output))``, gradients of every weight, timed in the same
run after one compiling call. Prints medians in milliseconds.
"""

from __future__ import annotations

import argparse
import time

import qgan_lab  # noqa: F401  (first: quiet TensorFlow, SciPy shim)

# isort: split
import numpy as np
import tensorflow as tf

from qgan_lab import PureQuantumGenerator


def median_step(gen: PureQuantumGenerator, repeats: int, batch: int = 16) -> tuple[float, float]:
    variables = list(gen.weights.values())
    z = tf.random.stateless_normal([batch, gen.latent_dim], seed=[0, 1])

    @tf.function(jit_compile=True)
    def step(z):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.sin(gen._forward_impl(z)["output"]))
        return tape.gradient(loss, variables)

    start = time.perf_counter()
    step(z)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(z)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    configs = {
        "sampled, 2 modes, 4 layers, cutoff 8": PureQuantumGenerator(2, 2, 2, 4, 8, readout="sample", seed=0),
        "guide means, 4 modes, 2 layers, cutoff 6": PureQuantumGenerator(4, 2, 4, 2, 6, seed=0),
    }
    for label, gen in configs.items():
        step_s, compile_s = median_step(gen, args.repeats)
        print(f"{label}: {step_s * 1e3:.2f} ms per step (first call, compiling: {compile_s:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
