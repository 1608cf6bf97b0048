"""Critic readouts: which quantum observable turns the critic's output state into a score.

A Wasserstein critic must be a *nonlinear* function of its input. With displacement
encoding, the homodyne mean ``<x>`` of the guide's discriminator (readout ``"mean"``) is
affine in the input until the layers' squeezing and Kerr gates bend it (small at
initialisation), and an affine critic compares only means. The physics offers nonlinear
observables for free; every readout here is still the expectation of **one**
Hermitian observable (a diagonal operator in the Fock basis, plus a multiple of the
identity), never a classical network:

* ``"mean"`` - the guide's combined homodyne mean (see :mod:`qgan_lab.models.circuit_model`), no extra weights;
* ``"photon_number"`` - ``O = sum_i s_i n_i + b``: quadratic in a displacement
  (``<n> = |alpha|^2`` for a coherent state);
* ``"vacuum"`` - ``O = sum_i s_i |0><0|_i + b``: the vacuum probability after a displacement
  ``alpha`` is ``exp(-|alpha|^2)``, a Gaussian bump in the input;
* ``"fock"`` - ``O = sum_i sum_k w_ik |k><k|_i + b``: any diagonal single-mode observable (the
  two above are special cases), ``n_modes * cutoff`` weights;
* ``"joint"`` - ``O = sum_n w_n |n><n| + b`` over every *joint* outcome ``n = (n_0, .., n_{M-1})``:
  photon-number-resolving detection of all modes, then one trainable weight per outcome
  (``cutoff ** n_modes`` weights). The readouts above are sums of single-mode terms and can score
  correlations between the features only through the circuit; this one reads them directly.

The trainable ``s``, ``w`` and ``b`` live in the discriminator's ``weights`` dict under the keys
of :func:`readout_shapes`. Taught in ``02_quantum_models``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..sim.observables import fock_probabilities, mode_fock_distribution

#: Readout names of :class:`~qgan_lab.models.critic.PureQuantumDiscriminator`; the first is the default.
READOUTS = ("mean", "photon_number", "vacuum", "fock", "joint")


def check_readout(readout: str) -> str:
    """Return ``readout`` if it is one of :data:`READOUTS`, else raise ``ValueError``."""
    if not isinstance(readout, str) or readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    return readout


def readout_shapes(readout: str, n_modes: int, cutoff_dim: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the readout's trainable weights, ``{}`` for ``"mean"``."""
    check_readout(readout)
    if readout == "mean":
        return {}
    if readout == "joint":
        table: tuple[int, ...] = (cutoff_dim,) * n_modes
    else:
        table = (n_modes, cutoff_dim) if readout == "fock" else (n_modes,)
    return {"readout_weights": table, "readout_bias": (1,)}


def init_readout(readout: str, n_modes: int, cutoff_dim: int, seed: int | None = None) -> dict[str, np.ndarray]:
    """Initial readout weights: ``s_i = 1 / n_modes`` (``"fock"``: ``w_ik = k / n_modes``;
    ``"joint"``: ``w_n = (n_0 + .. + n_{M-1}) / n_modes``: in both the mean photon number), plus a
    little noise so modes (and outcomes) differ, and ``b = 0``.
    """
    shapes = readout_shapes(readout, n_modes, cutoff_dim)
    if not shapes:
        return {}
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    counts = np.arange(cutoff_dim, dtype=float)
    if readout == "fock":
        base = np.tile(counts, (n_modes, 1))
    elif readout == "joint":
        base = sum(np.meshgrid(*([counts] * n_modes), indexing="ij"))
    else:
        base = np.ones(n_modes)
    weights = base / n_modes + rng.normal(0.0, 0.05, shapes["readout_weights"])
    return {"readout_weights": weights, "readout_bias": np.zeros(1)}


def readout_table(readout: str, weights: tf.Tensor, cutoff_dim: int) -> tf.Tensor:
    """The diagonal of each mode's observable, ``[n_modes, cutoff]``: ``O = sum_i T[i, n_i]``.

    (``"joint"`` has no per-mode table: its weights are the joint diagonal, see
    :func:`joint_expectation`.)
    """
    if readout == "fock":
        return weights
    if readout == "photon_number":
        basis = tf.range(cutoff_dim, dtype=weights.dtype)
    elif readout == "vacuum":
        basis = tf.one_hot(0, cutoff_dim, dtype=weights.dtype)
    else:
        raise ValueError(f"readout {readout!r} has no photon-number table; expected one of {READOUTS[1:]}")
    return weights[:, None] * basis[None, :]


def diagonal_expectation(ket: tf.Tensor, table: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """``<sum_i T[i, n_i] + b>`` for every sample, ``[B, 1]``: one Hermitian observable.

    Uses each mode's marginal photon-number distribution ``P_i(k)``:
    ``sum_i sum_k P_i(k) T[i, k] + b``. Not renormalised (as everywhere in the lab).
    """
    n_modes = len(ket.shape) - 1
    table = tf.cast(table, ket.dtype.real_dtype)
    probs = tf.stack([mode_fock_distribution(ket, m) for m in range(n_modes)], axis=1)  # [B, M, c]
    score = tf.reduce_sum(probs * table[None], axis=[1, 2])
    return score[:, None] + tf.cast(bias, ket.dtype.real_dtype)


def joint_expectation(ket: tf.Tensor, weights: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """``<sum_n w_n |n><n| + b>`` for every sample, ``[B, 1]``: ``sum_n |psi_n|^2 w_n + b``.

    ``weights`` has one entry per joint photon-number outcome, shape ``[c] * n_modes``; one
    contraction of the joint Fock probabilities (not renormalised, as everywhere in the lab).
    """
    real = ket.dtype.real_dtype
    probs = tf.reshape(fock_probabilities(ket), [tf.shape(ket)[0], -1])
    score = probs @ tf.reshape(tf.cast(weights, real), [-1, 1])
    return score + tf.cast(bias, real)


def critic_score(readout: str, ket: tf.Tensor, weights: dict[str, tf.Tensor], cutoff_dim: int) -> tf.Tensor:
    """The score ``[B, 1]`` of a diagonal readout (every readout but ``"mean"``) for ``ket``."""
    if readout == "joint":
        return joint_expectation(ket, weights["readout_weights"], weights["readout_bias"])
    table = readout_table(readout, weights["readout_weights"], cutoff_dim)
    return diagonal_expectation(ket, table, weights["readout_bias"])


__all__ = [
    "READOUTS",
    "check_readout",
    "critic_score",
    "diagonal_expectation",
    "init_readout",
    "joint_expectation",
    "readout_shapes",
    "readout_table",
]
