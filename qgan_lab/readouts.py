"""Critic readouts: which quantum observable turns the critic's output state into a score.

A Wasserstein critic must be a *nonlinear* function of its input. With displacement
encoding, the homodyne mean ``<x>`` of the guide's discriminator (readout ``"mean"``) is
affine in the input until the layers' squeezing and Kerr gates bend it (small at
initialisation), and an affine critic compares only means. The physics offers nonlinear
observables for free; every readout here is still the expectation of **one**
Hermitian observable (a diagonal operator in the Fock basis, plus a multiple of the
identity), never a classical network:

* ``"mean"`` - the guide's combined homodyne mean (see :mod:`qgan_lab.models`), no extra weights;
* ``"photon_number"`` - ``O = sum_i s_i n_i + b``: quadratic in a displacement
  (``<n> = |alpha|^2`` for a coherent state);
* ``"vacuum"`` - ``O = sum_i s_i |0><0|_i + b``: the vacuum probability after a displacement
  ``alpha`` is ``exp(-|alpha|^2)``, a Gaussian bump in the input;
* ``"fock"`` - ``O = sum_i sum_k w_ik |k><k|_i + b``: any diagonal single-mode observable (the
  two above are special cases), ``n_modes * cutoff`` weights.

The trainable ``s``, ``w`` and ``b`` live in the discriminator's ``weights`` dict under the keys
of :func:`readout_shapes`. Taught in ``02_quantum_models``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .observables import mode_fock_distribution

#: Readout names of :class:`~qgan_lab.models.PureQuantumDiscriminator`; the first is the default.
READOUTS = ("mean", "photon_number", "vacuum", "fock")


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
    table = (n_modes, cutoff_dim) if readout == "fock" else (n_modes,)
    return {"readout_weights": table, "readout_bias": (1,)}


def init_readout(readout: str, n_modes: int, cutoff_dim: int, seed: int | None = None) -> dict[str, np.ndarray]:
    """Initial readout weights: ``s_i = 1 / n_modes`` (``"fock"``: ``w_ik = k / n_modes``, i.e.
    the photon-number observable), plus a little noise so modes differ, and ``b = 0``.
    """
    shapes = readout_shapes(readout, n_modes, cutoff_dim)
    if not shapes:
        return {}
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    base = np.ones(n_modes) if readout != "fock" else np.tile(np.arange(cutoff_dim, dtype=float), (n_modes, 1))
    weights = base / n_modes + rng.normal(0.0, 0.05, shapes["readout_weights"])
    return {"readout_weights": weights, "readout_bias": np.zeros(1)}


def readout_table(readout: str, weights: tf.Tensor, cutoff_dim: int) -> tf.Tensor:
    """The diagonal of each mode's observable, ``[n_modes, cutoff]``: ``O = sum_i T[i, n_i]``."""
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


__all__ = [
    "READOUTS",
    "check_readout",
    "diagonal_expectation",
    "init_readout",
    "readout_shapes",
    "readout_table",
]
