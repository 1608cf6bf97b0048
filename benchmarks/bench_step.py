"""Time one training step three ways, in the same run, and print medians and ratios.

    python benchmarks/bench_step.py [--repeats N] [--sf-repeats N] [--batch B] [--two-mode dense|blocked]
        [--intra-op-threads N]

(a) plain Strawberry Fields: its TF backend, outputs from ``state.quad_expectation`` per mode;
(b) Strawberry Fields' TF backend, observables read from the ket (<x> = 2 Re<a>);
(c) qgan-lab's compiled Fock engine under ``tf.function(jit_compile=True)``.

Steps: the generator step of the guide's configuration (latent 4, output 2, 4 modes, 2
layers, cutoff 6; forward, Wasserstein generator loss through the critic, gradients of all
generator parameters) and a discriminator step (2 modes, 2 layers, cutoff 6; Wasserstein
critic loss plus the WGAN gradient penalty, gradients of all critic parameters). The first
call of (c) compiles and is not timed; it is reported separately.

Then the generator step's flops against this machine's matmul rate, and the step's large
products alone (:func:`product_chain`, in the form the engine runs them), timed in rounds right
after the step's: about what the step would take with nothing but those products.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import qgan_lab  # noqa: F401  (first: quiet TensorFlow, SciPy shim)

# isort: split
import numpy as np
import tensorflow as tf

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator
from qgan_lab.models import check_batch
from qgan_lab.sim.fock import FockEngine, flop_estimate
from qgan_lab.sim.layout import folds_gates, paired_start, real_form_min_rows


def sf_quad_forward(model, inputs):
    """Model output the plain Strawberry Fields way: ``state.quad_expectation`` per mode."""
    inputs = check_batch(inputs, "inputs", model.circuit.n_inputs, model.real_dtype)
    state = model.engine.run(model.circuit, model.weights, inputs, model.dtype)
    # (a scalar per mode at batch 1, where Strawberry Fields' state is not batched)
    x = tf.stack([tf.reshape(state.quad_expectation(m)[0], [-1]) for m in range(model.n_modes)], axis=1)
    return model.output_scale * (x @ model._combiner)


def ket_forward(model, inputs):
    return model.forward(inputs)["output"]


def make_steps(gen, disc, forward, lambda_gp=10.0):
    def g_step(z):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(forward(disc, forward(gen, z)))
        return loss, tape.gradient(loss, gen.trainable_variables)

    def d_step(real, z, alpha):
        with tf.GradientTape() as tape:
            fake = forward(gen, z)
            inter = alpha * real + (1.0 - alpha) * fake
            with tf.GradientTape() as inner:
                inner.watch(inter)
                score = forward(disc, inter)
            norm = tf.sqrt(tf.reduce_sum(inner.gradient(score, inter) ** 2, axis=1) + 1e-12)
            penalty = tf.reduce_mean((norm - 1.0) ** 2)
            loss = tf.reduce_mean(forward(disc, fake)) - tf.reduce_mean(forward(disc, real)) + lambda_gp * penalty
        return loss, tape.gradient(loss, disc.trainable_variables)

    return g_step, d_step


def guide_models(engine):
    """The guide's generator (latent 4, output 2, 4 modes, 2 layers, cutoff 6) and critic (2
    modes, 2 layers, cutoff 6) on ``engine``."""
    gen = PureQuantumGenerator(4, 2, 4, 2, 6, seed=0, engine=engine)
    disc = PureQuantumDiscriminator(2, 2, 2, 6, seed=1, engine=engine)
    return gen, disc


def compiled_steps(gen, disc):
    """(c): the generator and critic steps of :func:`make_steps` on the compiled Fock engine,
    each one ``tf.function(jit_compile=True)``."""
    g_step, d_step = make_steps(gen, disc, lambda m, x: m._forward_impl(x)["output"])
    return tf.function(g_step, jit_compile=True), tf.function(d_step, jit_compile=True)


def median_time(fn, args, repeats):
    """Median seconds of ``fn(*args)``, every tensor it returns fetched each call, and its last
    output."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def product_chain(circuit, batch: int):
    """The large products of a generator step on ``circuit`` alone, in the form the engine runs
    them: one compiled call of the chain of its shared full-state beamsplitters' products, with
    the gradients of every matrix and, where the circuit starts with paired beamsplitters
    (:func:`qgan_lab.sim.layout.paired_start`: its first full-state beamsplitter's input depends on
    weights), of the chain's input. Real ``[B c^(M-2), 2 c^2] x [2 c^2, 2 c^2]`` products where
    the engine keeps the state in real form (the guide's: 22 of ``[576, 72] x [72, 72]`` at batch
    16, 66 products with the gradients), complex ``[B c^(M-2), c^2] x [c^2, c^2]`` ones where it
    does not (:func:`qgan_lab.sim.layout.product_form`); per-sample beamsplitters (einsums in the
    engine) are left out. Returns the call (its arguments bound) and its real flops, or ``None``
    for a circuit with no shared full-state beamsplitter."""
    c, n = circuit.cutoff_dim, circuit.n_modes
    paired = paired_start(circuit)
    shared = [g for k, g in enumerate(circuit.gates()) if len(g.modes) == 2 and k not in paired and not g.per_sample]
    if not shared:
        return None
    gates, rows = len(shared), batch * c ** (n - 2)
    real = rows >= real_form_min_rows(n, folds_gates(c, n, batch))
    width, dtype = (2 * c * c, tf.float32) if real else (c * c, tf.complex64)
    rng = np.random.default_rng(0)

    def draw(*shape):
        values = rng.normal(size=shape) + (1j * rng.normal(size=shape) if not real else 0)
        return tf.constant(values / np.sqrt(shape[-1]), dtype)

    state, mats = draw(rows, width), [draw(width, width) for _ in range(gates)]
    input_gradient = bool(paired)

    @tf.function(jit_compile=True)
    def chain(x, mats):
        with tf.GradientTape() as tape:
            tape.watch([x, *mats] if input_gradient else mats)
            y = x
            for m in mats:
                y = tf.matmul(y, m, transpose_b=True)
            loss = tf.reduce_sum(tf.abs(y) ** 2)
        if input_gradient:
            dx, *dm = tape.gradient(loss, [x, *mats])
            return dx, tf.stack(dm)
        return tf.stack(tape.gradient(loss, mats))

    chain(state, mats)
    flops_per_product = 2.0 * rows * width * width if real else 8.0 * rows * width * width
    return (lambda: chain(state, mats)), flops_per_product * (3 * gates - (0 if input_gradient else 1))


def step_and_products(g_step, z, chain, rounds: int, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of ``g_step(z)`` and of ``chain()`` (:func:`product_chain`), each the median of
    ``repeats`` calls, in ``rounds`` rounds that time one right after the other (the machine's
    speed drifts)."""
    steps, chains = [], []
    for _ in range(rounds):
        steps.append(median_time(g_step, (z,), repeats)[0])
        chains.append(median_time(chain, (), repeats)[0])
    return steps, chains


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--intra-op-threads N``: TensorFlow's intra-op thread pool, which XLA's CPU programs use."""
    parser.add_argument(
        "--intra-op-threads", type=int, default=0, help="TensorFlow's intra-op threads (0: its default, one per core)"
    )


def apply_threads_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """Set ``--intra-op-threads`` (before TensorFlow runs anything); returns the setting as the
    scripts print it."""
    if args.intra_op_threads < 0:
        parser.error(f"--intra-op-threads must be 0 (TensorFlow's default) or more, got {args.intra_op_threads}")
    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    return f"TensorFlow {tf.__version__}, intra-op threads: {args.intra_op_threads or 'default'}"


def matmul_gflops(size=512, repeats=20):
    """Measured float32 matmul throughput of this machine (a practical peak)."""
    a = tf.random.normal([size, size])
    f = tf.function(lambda x: x @ x @ x @ x, jit_compile=True)
    f(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        f(a).numpy()
    return 3 * 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50, help="timed calls of the compiled engine")
    parser.add_argument("--sf-repeats", type=int, default=3, help="timed calls of each SF variant")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--two-mode", choices=["dense", "blocked"], default="dense", help="compiled engine's beamsplitters"
    )
    add_threads_option(parser)
    args = parser.parse_args()
    setting = apply_threads_option(parser, args)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {setting}")
    rng = np.random.default_rng(0)
    z = tf.constant(rng.normal(size=(args.batch, 4)), tf.float32)
    real = tf.constant(rng.normal(size=(args.batch, 2)), tf.float32)
    alpha = tf.constant(rng.uniform(size=(args.batch, 1)), tf.float32)

    gen_c, disc_c = guide_models(FockEngine(two_mode=args.two_mode))
    gen_s, disc_s = guide_models("sf")
    gen_s.set_weights(gen_c.get_weights())
    disc_s.set_weights(disc_c.get_weights())

    g_c, d_c = compiled_steps(gen_c, disc_c)
    variants = {
        "(a) SF quad_expectation": make_steps(gen_s, disc_s, sf_quad_forward),
        "(b) SF ket observables": make_steps(gen_s, disc_s, ket_forward),
    }

    results = {}
    for which, call_args in (("generator", (z,)), ("discriminator+GP", (real, z, alpha))):
        index = 0 if which == "generator" else 1
        start = time.perf_counter()
        compiled = (g_c, d_c)[index]
        compiled(*call_args)
        compile_s = time.perf_counter() - start
        t_c, (loss_c, _) = median_time(compiled, call_args, args.repeats)
        rows = {"(c) compiled Fock engine": (t_c, float(loss_c))}
        for name, steps in variants.items():
            t, (loss, _) = median_time(steps[index], call_args, args.sf_repeats)
            rows[name] = (t, float(loss))
        results[which] = rows
        print(f"\n{which} step, batch {args.batch}, two-mode gates {args.two_mode} (compile of (c): {compile_s:.1f} s)")
        print(f"  {'variant':<28}{'median':>12}{'loss':>12}{'ratio to (c)':>15}")
        for name, (t, loss) in rows.items():
            print(f"  {name:<28}{t * 1e3:>10.2f}ms{loss:>12.5f}{t / t_c:>14.1f}x")

    t_gen = results["generator"]["(c) compiled Fock engine"][0]
    # generator circuit + critic on the fakes, ~3x for forward + backward
    flops = 3 * sum(flop_estimate(m.circuit, args.batch, args.two_mode) for m in (gen_c, disc_c))
    peak = matmul_gflops()
    floor = flops / peak / 1e9
    print(
        f"\nFLOP estimate of the generator step: {flops / 1e6:.1f} MFLOP; measured {t_gen * 1e3:.2f} ms = "
        f"{flops / t_gen / 1e9:.2f} GFLOP/s; this machine's float32 matmul: {peak:.1f} GFLOP/s "
        f"(arithmetic floor {floor * 1e3:.2f} ms, measured is {t_gen / floor:.0f}x that)"
    )
    gen_rows = results["generator"]
    ratio_a = gen_rows["(a) SF quad_expectation"][0] / t_gen
    ratio_b = gen_rows["(b) SF ket observables"][0] / t_gen
    probe = product_chain(gen_c.circuit, args.batch) if args.two_mode == "dense" else None
    if probe is not None:  # (the blocked engine's products have other shapes)
        step_rounds, chain_rounds = step_and_products(g_c, z, probe[0], 3, args.repeats)
        t_step, t_chain = float(np.median(step_rounds)), float(np.median(chain_rounds))
        print(
            f"its full-state beamsplitters' products alone (product_chain, forward and backward), "
            f"3 rounds right after the step's: {t_chain * 1e3:.2f} ms = {probe[1] / t_chain / 1e9:.0f} GFLOP/s "
            f"(the step in those rounds {t_step * 1e3:.2f} ms: {(t_step - t_chain) * 1e3:.2f} ms more)"
        )
    print(f"generator step: {ratio_a:.0f}x faster than (a) [target 300x], {ratio_b:.0f}x than (b) [target 30x]")
    if args.batch == 16 and args.two_mode == "dense":  # the target's configuration
        verdict = "met" if t_gen <= 0.004 else "NOT met"
        print(f"target (issue 9): the generator step in at most 4 ms: {t_gen * 1e3:.2f} ms, {verdict}")


if __name__ == "__main__":
    main()
