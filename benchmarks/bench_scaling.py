"""How the cost of a generator training step grows with modes, cutoff and batch.

    python benchmarks/bench_scaling.py [--modes 2 3 4 5] [--cutoffs 6 8 10 12 15] [--batches 16]
                                       [--batch-sweep 4 6 16 64 256] [--repeats 5] [--plot PNG]

Each size runs in a fresh process (peak memory is per process): the guide's generator layout
(``n_modes`` modes, 2 Killoran layers, latent vector of ``n_modes`` components encoded as
displacements, mean readout, output 2), forward plus gradient of all its parameters, compiled
with XLA; the first call (compilation) is timed apart, then the median of ``--repeats`` calls.
``--batch-sweep M C B...`` adds a batch sweep at ``M`` modes and cutoff ``C``. A size whose
training state the engine would not hold (``FockEngine.max_memory_bytes``, 1.5 GiB) is listed with
the engine's estimate and not run. Prints a Markdown table (time per step, compile time, peak
resident memory of the process, the engine's FLOP estimate) and the least-squares exponent ``p``
of ``time ~ (batch * c^M * gates)^p`` over the sizes that took over 2 ms (below that, fixed
overheads dominate). ``--plot`` draws time and peak memory against ``batch * c^M * gates``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peak.py
from peak import peak_rss_mib  # noqa: E402


def run_one(n_modes: int, cutoff: int, batch: int, repeats: int) -> dict:
    import qgan_lab  # noqa: F401  (first: quiet TensorFlow)

    # isort: split
    import numpy as np
    import tensorflow as tf

    from qgan_lab import PureQuantumGenerator
    from qgan_lab.sim.fock import flop_estimate

    model = PureQuantumGenerator(n_modes, 2, n_modes, 2, cutoff, seed=0)
    gates = len(model.circuit.gates())
    row = {"modes": n_modes, "cutoff": cutoff, "batch": batch, "gates": gates}
    row["flops"] = 3 * flop_estimate(model.circuit, batch)
    try:
        model.engine.check_memory(model.circuit, batch)
    except ValueError:
        row["estimate_gib"] = model.engine.memory_estimate(model.circuit, batch) / 2**30
        return row
    z = tf.constant(np.random.default_rng(0).normal(size=(batch, n_modes)), tf.float32)
    variables = model.trainable_variables

    @tf.function(jit_compile=True)
    def step(z):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model._forward_impl(z)["output"])
        return loss, tape.gradient(loss, variables)

    began = time.perf_counter()
    step(z)[0].numpy()
    row["compile_s"] = time.perf_counter() - began
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        step(z)[0].numpy()
        times.append(time.perf_counter() - began)
    row["ms"] = 1e3 * float(np.median(times))
    row["peak_mib"] = peak_rss_mib()
    return row


def fitted_exponent(rows: list[dict]) -> float | None:
    """Least-squares slope of log(ms) against log(batch * c^M * gates) (rows over 2 ms)."""
    points = [
        (math.log(r["batch"] * r["cutoff"] ** r["modes"] * r["gates"]), math.log(r["ms"]))
        for r in rows
        if r.get("ms", 0) > 2
    ]
    if len(points) < 3:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def plot(rows: list[dict], path: str, exponent: float | None) -> None:
    """Time per step and peak memory against ``batch * c^M * gates``, one colour per mode count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    for m in sorted({r["modes"] for r in rows}):
        ran = [r for r in rows if r["modes"] == m and "ms" in r]
        size = [r["batch"] * r["cutoff"] ** m * r["gates"] for r in ran]
        ax_t.loglog(size, [r["ms"] for r in ran], "o", label=f"{m} modes")
        ax_m.semilogx(size, [r["peak_mib"] / 1024 for r in ran], "o", label=f"{m} modes")
    ax_t.set(xlabel="batch x cutoff^modes x gates", ylabel="time per step (ms)")
    ax_t.set_title("forward + gradient, compiled" + (f" (fitted slope {exponent:.2f})" if exponent else ""))
    ax_m.axhline(2.0, color="red", lw=1, ls="--", label="Binder's 2 GB")
    ax_m.set(xlabel="batch x cutoff^modes x gates", ylabel="peak resident memory (GiB)")
    for ax in (ax_t, ax_m):
        ax.legend()
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", type=int, default=[2, 3, 4, 5])
    parser.add_argument("--cutoffs", nargs="+", type=int, default=[6, 8, 10, 12, 15])
    parser.add_argument("--batches", nargs="+", type=int, default=[16])
    parser.add_argument("--batch-sweep", nargs="+", type=int, default=[4, 6, 16, 64, 256], metavar="M C B")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plot", help="save a plot of the table to this PNG")
    parser.add_argument("--one", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.repeats)))
        return
    sizes = [(m, c, b) for m in args.modes for c in args.cutoffs for b in args.batches]
    if args.batch_sweep:
        m, c, *batches = args.batch_sweep
        sizes += [(m, c, b) for b in batches if (m, c, b) not in sizes]
    print("| modes | cutoff | batch | gates | time per step | compile | peak memory | GFLOP per step |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for m, c, b in sizes:
        cmd = [sys.executable, __file__, "--one", str(m), str(c), str(b), "--repeats", str(args.repeats)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"| {m} | {c} | {b} | | failed: {out.stderr.strip().splitlines()[-1][:80]} | | | |", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        gflop = f"{r['flops'] / 1e9:.3g}"
        if "ms" not in r:
            cells = f"does not fit (engine's estimate {r['estimate_gib']:.1f} GiB) | | |"
        else:
            cells = f"{r['ms']:.3g} ms | {r['compile_s']:.1f} s | {r['peak_mib']:.0f} MiB |"
        print(f"| {m} | {c} | {b} | {r['gates']} | {cells} {gflop} |", flush=True)
    p = fitted_exponent(rows)
    if p is not None:
        print(f"\nfitted: time ~ (batch * c^M * gates)^{p:.2f} over the sizes above 2 ms")
    if args.plot:
        plot(rows, args.plot, p)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
