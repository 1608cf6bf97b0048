"""Three real ways a quantum model's gradient breaks, reproducible on demand.

Each :class:`FailureCase` holds trainable variables, a loss closure whose autodiff gradient is
broken (``None`` or NaN although the true gradient exists), and an independent way to get the
true gradient (a numerically safe rewrite, or the other engine). The gradient manager is tested
on them, and ``05_gradient_manager`` and ``07_evaluation_and_troubleshooting`` show them live.

1. :func:`sqrt_at_zero_case` - a fidelity-type loss ``sum_n sqrt(p_n q_n)`` on a squeezed state:
   odd photon numbers have probability exactly 0, and ``d sqrt(u)/du`` is infinite there, so
   autodiff multiplies ``inf x 0 = NaN`` (the cause of NaN costs that Strawberry Fields' own
   quantum-neural-network example fixed with a "safe" absolute value).
2. :func:`dropped_gate_case` - Strawberry Fields skips ``Dgate(r, phi)`` when ``r`` is 0, so
   a displacement initialised at exactly 0 gets ``None`` gradients (true value ``2 cos phi``).
3. :func:`cutoff_overflow_case` - one sample is displaced so far that its whole state leaves
   the truncated space (trace 0); the loss masks it with ``tf.where``, so the loss is finite,
   but the masked branch's ``0 / 0`` still poisons the gradient with NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..sim.circuits import GateList, GateSpec, ParamRef
from ..sim.fock import FockEngine
from ..sim.observables import fock_probabilities, quadrature_expectations, state_trace


@dataclass
class FailureCase:
    """A loss whose autodiff gradient is broken, with an independent true gradient."""

    name: str
    description: str
    variables: list[tf.Variable]
    loss_fn: Callable[[], tf.Tensor]
    reference_gradient: Callable[[], list[np.ndarray]]

    def autodiff_gradient(self) -> list[tf.Tensor | None]:
        """What ``tape.gradient`` returns for :attr:`loss_fn`."""
        with tf.GradientTape() as tape:
            loss = self.loss_fn()
        return tape.gradient(loss, self.variables)


def _gradient_of(loss_fn: Callable[[], tf.Tensor], variables: list[tf.Variable]) -> list[np.ndarray]:
    with tf.GradientTape() as tape:
        loss = loss_fn()
    return [g.numpy() for g in tape.gradient(loss, variables)]


def sqrt_at_zero_case(cutoff: int = 8) -> FailureCase:
    """Bhattacharyya overlap with a target distribution; odd Fock probabilities are exactly 0."""
    circuit = GateList(
        1,
        cutoff,
        (
            GateSpec("S", (0,), (ParamRef("w", "squeeze", 0), ParamRef("w", "squeeze", 1))),
            GateSpec("K", (0,), (ParamRef("w", "kerr", 0),)),
        ),
    )
    weights = {
        "squeeze": tf.Variable([0.5, 0.3], dtype=tf.float64, name="squeeze"),
        "kerr": tf.Variable([0.2], dtype=tf.float64, name="kerr"),
    }
    target = tf.constant(np.exp(-0.7 * np.arange(cutoff)) / np.sum(np.exp(-0.7 * np.arange(cutoff))))
    engine = FockEngine()

    def probabilities():
        return fock_probabilities(engine.ket(circuit, weights, dtype=tf.complex128))[0]

    def loss_fn():
        return -tf.reduce_sum(tf.sqrt(probabilities() * target))

    def safe_loss():  # the "safe" rewrite: sqrt only where the probability is nonzero
        p = probabilities()
        nonzero = p > 0
        return -tf.reduce_sum(tf.where(nonzero, tf.sqrt(tf.where(nonzero, p, 1.0) * target), 0.0))

    variables = list(weights.values())
    return FailureCase(
        "sqrt at zero",
        "fidelity-type loss sum_n sqrt(p_n q_n) on a squeezed state: p_n = 0 for odd n",
        variables,
        loss_fn,
        lambda: _gradient_of(safe_loss, variables),
    )


def dropped_gate_case(phi: float = 0.3, cutoff: int = 8) -> FailureCase:
    """Strawberry Fields with ``Dgate(r, phi)``, ``r`` a variable equal to 0: the gate is skipped."""
    from .._compat import import_strawberryfields

    sf = import_strawberryfields()
    from strawberryfields import ops

    r = tf.Variable(0.0, dtype=tf.float64, name="r")
    phase = tf.Variable(phi, dtype=tf.float64, name="phi")
    kappa = tf.Variable(0.1, dtype=tf.float64, name="kappa")
    engine = sf.Engine("tf", backend_options={"cutoff_dim": cutoff, "dtype": tf.complex128})

    def loss_fn():
        prog = sf.Program(1)
        with prog.context as q:
            ops.Dgate(r, phase) | q[0]
            ops.Kgate(kappa) | q[0]
        if engine.run_progs:
            engine.reset()
        return engine.run(prog).state.quad_expectation(0)[0]

    circuit = GateList(
        1,
        cutoff,
        (
            GateSpec("D", (0,), (ParamRef("w", "d", 0), ParamRef("w", "d", 1))),
            GateSpec("K", (0,), (ParamRef("w", "k", 0),)),
        ),
    )

    def reference():  # the compiled engine never drops a gate: plain autodiff is right
        weights = {"d": tf.Variable([r.numpy(), phase.numpy()]), "k": tf.Variable([kappa.numpy()])}
        grads = _gradient_of(
            lambda: quadrature_expectations(FockEngine().ket(circuit, weights, dtype=tf.complex128))[0][0, 0],
            list(weights.values()),
        )
        return [grads[0][0], grads[0][1], grads[1][0]]

    return FailureCase(
        "dropped gate",
        "Strawberry Fields skips Dgate(r, phi) when r == 0: r and phi get None gradients",
        [r, phase, kappa],
        loss_fn,
        reference,
    )


def cutoff_overflow_case(cutoff: int = 6) -> FailureCase:
    """Batch of three samples; the last is displaced by 30: its trace is 0 and 0/0 = NaN."""
    circuit = GateList(
        1,
        cutoff,
        (
            GateSpec("D", (0,), (ParamRef("x", index=0), ParamRef("c", value=0.0))),
            GateSpec("S", (0,), (ParamRef("w", "gates", 0), ParamRef("w", "gates", 1))),
            GateSpec("K", (0,), (ParamRef("w", "gates", 2),)),
        ),
    )
    gates = tf.Variable([0.2, 0.4, 0.15], dtype=tf.float64, name="gates")
    inputs = tf.constant([[0.5], [-1.0], [30.0]], dtype=tf.float64)
    engine = FockEngine()

    def normalised_x(safe: bool):
        ket = engine.ket(circuit, {"gates": gates}, inputs, tf.complex128)
        x, _ = quadrature_expectations(ket)
        trace = state_trace(ket)
        valid = trace > 1e-12
        denominator = tf.where(valid, trace, 1.0) if safe else trace
        return tf.reduce_mean(tf.where(valid, x[:, 0] / denominator, 0.0))

    return FailureCase(
        "state past the cutoff",
        "one sample's state leaves the truncated space (trace 0); normalising by the trace gives 0/0",
        [gates],
        lambda: normalised_x(safe=False),
        lambda: _gradient_of(lambda: normalised_x(safe=True), [gates]),
    )


def all_cases() -> list[FailureCase]:
    """The three cases, freshly built."""
    return [sqrt_at_zero_case(), dropped_gate_case(), cutoff_overflow_case()]


# ---------------------------------------------------------------------- capacity diagnostics
def linearity_r2(latent: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """R^2 of the best affine fit ``outputs ~ latent @ A + b``, per output feature.

    Near 1 means the generator acts almost linearly on its latent vector, and a linear map
    of a Gaussian is Gaussian: unimodal, whatever the weights.
    """
    latent, outputs = np.asarray(latent, np.float64), np.asarray(outputs, np.float64)
    design = np.concatenate([latent, np.ones((len(latent), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, outputs, rcond=None)
    residual = outputs - design @ coef
    return 1.0 - residual.var(axis=0) / outputs.var(axis=0)


def sliced_wasserstein(a: tf.Tensor, b: tf.Tensor, directions: tf.Tensor) -> tf.Tensor:
    """Mean 1-D Wasserstein distance of equal-size samples along fixed unit ``directions``."""
    pa = tf.sort(tf.matmul(a, directions), axis=0)
    pb = tf.sort(tf.matmul(tf.cast(b, a.dtype), directions), axis=0)
    return tf.reduce_mean(tf.abs(pa - pb))


def direct_fit(
    generator,
    real: np.ndarray,
    steps: int = 600,
    batch: int = 256,
    learning_rate: float = 0.01,
    n_directions: int = 32,
    seed: int = 0,
) -> list[float]:
    """Fit ``generator`` straight to samples ``real`` by minimising the sliced Wasserstein distance.

    No critic, no adversarial game: if this cannot reach the target, the GAN cannot either,
    and the limit is the generator's capacity. Returns the loss per step.
    """
    rng = np.random.default_rng(seed)
    dim = real.shape[1]
    directions = rng.normal(size=(dim, n_directions))
    directions = tf.constant(directions / np.linalg.norm(directions, axis=0), tf.float32)
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    variables = generator.trainable_variables

    @tf.function(jit_compile=generator.engine.compilable, autograph=False)
    def step(z, target):
        with tf.GradientTape() as tape:
            loss = sliced_wasserstein(generator._forward_impl(z)["output"], target, directions)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    losses = []
    for _ in range(steps):
        z = tf.constant(rng.normal(size=(batch, generator.latent_dim)), tf.float32)
        target = tf.constant(real[rng.integers(0, len(real), batch)], tf.float32)
        losses.append(float(step(z, target)))
    return losses
