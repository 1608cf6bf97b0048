"""Observables computed in TensorFlow directly from a batched ket.

Conventions are Strawberry Fields' own: ``hbar = 2``, so ``x = a + a^dagger`` and
``p = -i (a - a^dagger)``; then ``<x> = 2 Re<a>`` and ``<p> = 2 Im<a>``. A ket has shape
``[B, c, ..., c]`` (batch first, one axis per mode, ``c`` the cutoff). Everything here is
differentiable and never forms a density matrix, which is why it is ~10x cheaper than
``state.quad_expectation``. Nothing is renormalised: on a truncated state these are exactly
the numbers Strawberry Fields reports (the tests check it). Taught in ``01_cv_circuits``.
"""

from __future__ import annotations

import tensorflow as tf

HBAR = 2.0


def _n_modes(ket: tf.Tensor) -> int:
    return len(ket.shape) - 1


def state_trace(ket: tf.Tensor) -> tf.Tensor:
    """``<psi|psi>`` per batch element, ``[B]``; below 1 when photons leak past the cutoff."""
    axes = list(range(1, len(ket.shape)))
    return tf.reduce_sum(tf.math.real(ket * tf.math.conj(ket)), axis=axes)


def annihilation_expectations(ket: tf.Tensor) -> tf.Tensor:
    """``<a_i>`` for every mode ``i``, complex ``[B, n_modes]``."""
    cutoff = ket.shape[-1]
    real_dtype = ket.dtype.real_dtype
    sqrt_n = tf.cast(tf.sqrt(tf.range(1, cutoff, dtype=real_dtype)), ket.dtype)
    values = []
    for mode in range(_n_modes(ket)):
        axis = mode + 1
        shape = [1] * len(ket.shape)
        shape[axis] = cutoff - 1
        index = [slice(None)] * len(ket.shape)
        index[axis] = slice(0, cutoff - 1)
        lower = ket[tuple(index)]  # psi_{..n..}
        index[axis] = slice(1, cutoff)
        upper = ket[tuple(index)]  # psi_{..n+1..}
        prod = tf.math.conj(lower) * upper * tf.reshape(sqrt_n, shape)
        values.append(tf.reduce_sum(tf.reshape(prod, [tf.shape(ket)[0], -1]), axis=1))
    return tf.stack(values, axis=1)


def quadrature_expectations(ket: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(<x_i>, <p_i>)`` for every mode, each real ``[B, n_modes]`` (hbar = 2)."""
    a = annihilation_expectations(ket)
    scale = tf.cast(tf.sqrt(2.0 * HBAR), a.dtype.real_dtype)  # sqrt(2 hbar) = 2
    return scale * tf.math.real(a), scale * tf.math.imag(a)


def fock_probabilities(ket: tf.Tensor) -> tf.Tensor:
    """Joint photon-number probabilities ``|psi_n|^2``, real ``[B, c, ..., c]``."""
    return tf.math.real(ket * tf.math.conj(ket))


def mode_fock_distribution(ket: tf.Tensor, mode: int) -> tf.Tensor:
    """Marginal photon-number distribution of one mode, ``[B, c]``."""
    n_modes = _n_modes(ket)
    if not 0 <= mode < n_modes:
        raise ValueError(f"mode must be in [0, {n_modes}), got {mode}")
    probs = fock_probabilities(ket)
    others = [axis + 1 for axis in range(n_modes) if axis != mode]
    return tf.reduce_sum(probs, axis=others) if others else probs


def mean_photon_numbers(ket: tf.Tensor) -> tf.Tensor:
    """``<n_i>`` for every mode, real ``[B, n_modes]``."""
    cutoff = ket.shape[-1]
    n = tf.range(cutoff, dtype=ket.dtype.real_dtype)
    return tf.stack(
        [tf.reduce_sum(mode_fock_distribution(ket, m) * n, axis=1) for m in range(_n_modes(ket))],
        axis=1,
    )
