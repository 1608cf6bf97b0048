"""Gate matrices built in single vs double precision: error against thewalrus, and cost.

    python benchmarks/bench_gate_precision.py [--repeats N]

(1) max |ours - thewalrus| of the displacement (|alpha| = 2), squeezing (r = 1) and
beamsplitter matrices at cutoffs 10, 15, 20, 30, built directly in complex64 (the old way)
and in complex128 then cast to complex64 (what :mod:`qgan_lab.sim.fock` does now);
(2) the compiled forward + gradient step of the guide's generator (4 modes, 2 layers,
cutoff 6, batch 16) and of a 2-mode, 4-layer, cutoff-8 circuit, both ways, in the same run.
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import qgan_lab  # noqa: F401  (first: quiet TensorFlow, SciPy shim)

# isort: split
import numpy as np
import tensorflow as tf
from thewalrus.fock_gradients import beamsplitter, displacement, squeezing

from qgan_lab.sim import fock, gates
from qgan_lab.sim.circuits import CVCircuit


def single(dtype):
    """The old behaviour: build in the requested dtype."""
    return tf.as_dtype(dtype), tf.as_dtype(dtype)


def errors() -> None:
    cases = [
        ("D |alpha|=2", gates.displacement_matrix, displacement, (2.0, 0.7)),
        ("S r=1", gates.squeezing_matrix, squeezing, (1.0, -0.4)),
        ("BS", gates.beamsplitter_matrix, beamsplitter, (0.9, 0.3)),
    ]
    print(f"{'gate':<12} {'cutoff':>6} {'complex64 build':>16} {'double build':>14}")
    for label, ours, ref, (a, b) in cases:
        for cutoff in (10, 15, 20, 30):
            if label == "BS" and cutoff > 20:
                continue
            exact = ref(a, b, cutoff)
            args = (tf.constant(a, tf.float32), tf.constant(b, tf.float32), cutoff, tf.complex64)
            with mock.patch.object(gates, "_in_double", single):
                err_single = np.max(np.abs(ours(*args).numpy() - exact))
            err_double = np.max(np.abs(ours(*args).numpy() - exact))
            print(f"{label:<12} {cutoff:>6} {err_single:>16.2e} {err_double:>14.2e}")


def step_time(circuit: CVCircuit, batch: int, repeats: int) -> float:
    engine = fock.FockEngine()
    weights = {k: tf.Variable(v, dtype=tf.float32) for k, v in circuit.init_weights(0).items()}
    inputs = tf.random.stateless_normal([batch, circuit.n_inputs], seed=[1, 2])

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            ket = engine.ket(circuit, weights, inputs if circuit.n_inputs else None, tf.complex64, batch)
            loss = tf.reduce_sum(tf.abs(ket[..., 1]) ** 2)
        return tape.gradient(loss, list(weights.values()))

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    errors()
    for label, circuit in [
        ("guide generator 4 modes, 2 layers, cutoff 6", CVCircuit(4, 2, 6, 4)),
        ("2 modes, 4 layers, cutoff 8", CVCircuit(2, 4, 8, 0)),
    ]:
        with mock.patch.object(gates, "_in_double", single):
            t_single = step_time(circuit, 16, args.repeats)
        t_double = step_time(circuit, 16, args.repeats)
        print(f"{label}: step {t_single * 1e3:.2f} ms (complex64 build), {t_double * 1e3:.2f} ms (double build)")


if __name__ == "__main__":
    main()
