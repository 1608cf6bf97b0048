"""The gate matrices of the Fock engine (:mod:`qgan_lab.sim.fock`), built in TensorFlow.

Strawberry Fields' TF backend builds every gate matrix per batch element in Python with
numpy custom gradients, so it cannot run under ``tf.function``. Here every gate matrix is
built *in TensorFlow* from (batched) parameters, and its elements are the **exact** elements
of the infinite-dimensional operator cut to the cutoff (the matrices of thewalrus'
recurrences, which Strawberry Fields uses), not ``expm`` of a truncated generator: displacement
and squeezing from their normal-ordered forms (triangular factors, so truncation is exact),
beamsplitters as polynomials in ``cos(theta), sin(theta)`` with precomputed coefficients. Each
is a few matrix products rather than a recurrence unrolled over the cutoff, so the compiled
graph is small (about a third less compile time than the recurrences, measured on the default
presets). Autodiff gives exact gradients of any order.

Taught in ``02_quantum_models`` (its optional engine section).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf


def _sqrt_const(cutoff: int, dtype: tf.DType, shape: tuple[int, ...] = (-1,)) -> tf.Tensor:
    """``sqrt(0 .. c-1)`` as one constant of the given broadcast shape (one graph node)."""
    return tf.constant(np.sqrt(np.arange(cutoff)).reshape(shape), dtype=dtype)


def _complex(real: tf.Tensor, imag: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    return tf.complex(tf.cast(real, dtype.real_dtype), tf.cast(imag, dtype.real_dtype))


def _real_to_complex(real: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """``real + 0i``; unlike ``tf.cast`` its gradient needs no complex-to-real cast."""
    return _complex(real, tf.zeros_like(real), dtype)


def _in_double(dtype: tf.DType) -> tuple[tf.DType, tf.DType]:
    """``(complex128, requested dtype)``: gates are built in double precision, then cast.

    In complex64 the constructions drift from thewalrus' matrices as cutoff x amplitude grows;
    in complex128 they stay far below complex64's rounding in the sizes used here
    (``benchmarks/bench_gate_precision.py`` prints both). Strawberry Fields builds its gates
    in double too. Taught in ``01_cv_circuits``.
    """
    return tf.complex128, tf.as_dtype(dtype)


# How the matrices are built (all exact truncations of the infinite-dimensional operators):
# displacement and squeezing from their normal-ordered forms, one small matrix product each;
# beamsplitters as polynomials in cos(theta) and sin(theta) with precomputed coefficients
# (up to cutoff BS_POLYNOMIAL_MAX_CUTOFF) or by thewalrus' recurrence (above it). Every numeric
# factor is one constant: the compiled graph stays small (fewer operations to compile and run).


def _powers(x: tf.Tensor, count: int) -> tf.Tensor:
    """``[x^0, x^1, ..., x^(count-1)]`` on a new last axis, by repeated multiplication (unlike
    ``pow`` or ``cumprod``, its gradient has no division: finite at ``x = 0``)."""
    out = [tf.ones_like(x), x]
    for _ in range(2, count):
        out.append(out[-1] * x)
    return tf.stack(out[:count], axis=-1)


def _gather_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nonzeros of each column of ``table [n, m]`` as ``(index [m, k], value [m, k])``, padded
    with index 0 and value 0 to the longest column's count ``k``."""
    rows = [np.flatnonzero(table[:, j]) for j in range(table.shape[1])]
    width = max(1, max(len(r) for r in rows))
    index = np.zeros((table.shape[1], width), np.int32)
    value = np.zeros((table.shape[1], width))
    for j, r in enumerate(rows):
        index[j, : len(r)], value[j, : len(r)] = r, table[r, j]
    return index, value


def _sparse_product(table: np.ndarray):
    """``(apply, adjoint)``: ``x [..., n] -> x @ table`` and ``g [..., m] -> g @ table^T`` for a
    sparse constant ``table [n, m]``, each the other's gradient (so gradients of any order stay
    sparse), computed from the nonzeros by a gather and a short sum. The gate tables are
    sparse: the guide's beamsplitter table ``[121, 146]`` is 1.7 % nonzero, the ladder tables
    hold one term per entry. As dense products, XLA's CPU ran them at 100 us a call inside the
    training step (the guide's step 14.8 -> 12.3 ms, ``bimodal``'s 20.3 -> 17.9 ms, measured
    alternating in one process)."""
    forward, backward = _gather_rows(table), _gather_rows(table.T)

    def product(x, index, value):
        return tf.reduce_sum(tf.gather(x, index, axis=-1) * tf.constant(value, x.dtype), axis=-1)

    @tf.custom_gradient
    def apply(x):
        return product(x, *forward), adjoint

    @tf.custom_gradient
    def adjoint(g):
        return product(g, *backward), apply

    return apply, adjoint


@functools.cache
def _ladder_table(cutoff: int, step: int) -> np.ndarray:
    """``T[j, m, k] = sqrt(m!/k!) / j!`` where ``m - k = step * j`` (else 0), so that
    ``<m|exp(x a^dagger^step)|k> = sum_j x^j T[j, m, k]`` (exactly: the series stops, as
    ``a^dagger^step`` only raises the photon number)."""
    log_fact = [math.lgamma(i + 1) for i in range(cutoff)]
    terms = (cutoff - 1) // step + 1
    table = np.zeros((terms, cutoff, cutoff))
    for j in range(terms):
        for k in range(cutoff - step * j):
            m = k + step * j
            table[j, m, k] = math.exp(0.5 * (log_fact[m] - log_fact[k]) - math.lgamma(j + 1))
    return table


def _raising_exponential(x: tf.Tensor, cutoff: int, step: int) -> tf.Tensor:
    """``<m|exp(x a^dagger^step)|k>`` for complex ``x [...]``, ``[..., c, c]`` (lower triangular)."""
    terms = _ladder_table(cutoff, step).shape[0]
    flat = _ladder_product(cutoff, step)[0](_powers(x, terms))
    return tf.reshape(flat, tf.concat([tf.shape(x), [cutoff, cutoff]], 0))


@functools.cache
def _ladder_product(cutoff: int, step: int):
    """:func:`_sparse_product` of the ladder table as ``[terms, c^2]`` (one term per entry)."""
    table = _ladder_table(cutoff, step)
    return _sparse_product(table.reshape(table.shape[0], -1))


def displacement_matrix(r, phi, cutoff: int, dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """Exact truncated ``<m|D(r e^{i phi})|n>``, shape ``r.shape + [c, c]``.

    Normal ordering: ``D(alpha) = e^{-|alpha|^2/2} e^{alpha a^dagger} e^{-conj(alpha) a}``. The
    first exponential is lower triangular and the second upper triangular in the Fock basis,
    so the top-left ``c x c`` block of their product is the product of their blocks: the exact
    truncated matrix (the same as thewalrus' recurrence, ``tests/test_fock.py``), as one small
    matrix product. Exact in exact arithmetic; the sum has terms of both signs, so rounding
    grows with cutoff x ``|alpha|`` (in complex128: 2e-12 at cutoff 15, ``|alpha| = 2``; 2e-5 at
    cutoff 30, ``|alpha| = 3.5``, where the recurrence gave 1.5e-7).
    """
    dtype, out_dtype = _in_double(dtype)
    r = tf.cast(r, dtype.real_dtype)
    phi = tf.cast(phi, dtype.real_dtype)
    alpha = _complex(r * tf.cos(phi), r * tf.sin(phi), dtype)
    lower = _raising_exponential(alpha, cutoff, 1)
    upper = tf.linalg.matrix_transpose(_raising_exponential(-tf.math.conj(alpha), cutoff, 1))
    scale = _real_to_complex(tf.exp(-0.5 * r * r), dtype)[..., None, None]
    return tf.cast(scale * tf.matmul(lower, upper), out_dtype)


def squeezing_matrix(r, theta, cutoff: int, dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """Exact truncated ``<m|S(r, theta)|n>``, shape ``r.shape + [c, c]``.

    Strawberry Fields' ``Sgate``, ``S(z) = exp((conj(z) a^2 - z a^dagger^2) / 2)``, ``z = r
    e^{i theta}``, in normal order: ``exp(mu a^dagger^2) sech(r)^(n + 1/2) exp(-conj(mu) a^2)``
    with ``mu = -e^{i theta} tanh(r) / 2``: lower triangular, diagonal, upper triangular, so
    exact once truncated (as for :func:`displacement_matrix`).
    """
    dtype, out_dtype = _in_double(dtype)
    r = tf.cast(r, dtype.real_dtype)
    theta = tf.cast(theta, dtype.real_dtype)
    tanh = tf.tanh(r)
    mu = _complex(-0.5 * tf.cos(theta) * tanh, -0.5 * tf.sin(theta) * tanh, dtype)
    lower = _raising_exponential(mu, cutoff, 2)
    upper = tf.linalg.matrix_transpose(_raising_exponential(-tf.math.conj(mu), cutoff, 2))
    sech = 1.0 / tf.cosh(r)
    middle = _real_to_complex(tf.sqrt(sech)[..., None] * _powers(sech, cutoff), dtype)  # sech^(n + 1/2)
    return tf.cast(tf.matmul(lower * middle[..., None, :], upper), out_dtype)


#: Beamsplitters are built as polynomials up to this cutoff; the coefficient table grows as
#: ``c^5`` (about 5 MB at 12), so larger cutoffs use the recurrence.
BS_POLYNOMIAL_MAX_CUTOFF = 12


@functools.cache
def _beamsplitter_tables(cutoff: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of every nonzero beamsplitter element as a polynomial in ``cos, sin``.

    ``BS|p, q> = (cos a^dagger + e^{i phi} sin b^dagger)^p (-e^{-i phi} sin a^dagger + cos
    b^dagger)^q |0> / sqrt(p! q!)``, so ``<m, n|BS|p, q>`` (``m + n = p + q``) is
    ``e^{i phi (p - m)} sum_i coef * cos^a sin^b``. Returns ``coef[a * P + b, e]`` (``P = 2c -
    1``) for the elements ``e`` in photon-number order, the phase index ``p - m + c - 1`` of each
    element, and for each of the ``c^4`` dense entries the element it holds (``E``: zero).
    """
    c, size = cutoff, 2 * cutoff - 1
    elements = [(m, n, p, q) for m in range(c) for n in range(c) for p in range(c) for q in range(c) if m + n == p + q]
    coef = np.zeros((size * size, len(elements)))
    fact = [math.factorial(i) for i in range(2 * c)]
    for e, (m, n, p, q) in enumerate(elements):
        norm = math.sqrt(fact[m] * fact[n] / (fact[p] * fact[q]))
        for i in range(max(0, m - q), min(p, m) + 1):  # i photons of a from a^dagger^p, m - i from b's
            j = m - i
            power_cos, power_sin = i + q - j, p - i + j
            coef[power_cos * size + power_sin, e] += norm * math.comb(p, i) * math.comb(q, j) * (-1) ** j
    phase_index = np.array([p - m + c - 1 for (m, _, p, _) in elements], dtype=np.int32)
    dense_index = np.full(c**4, len(elements), dtype=np.int32)
    for e, (m, n, p, q) in enumerate(elements):
        dense_index[((m * c + n) * c + p) * c + q] = e
    return coef, phase_index, dense_index


def _beamsplitter_polynomial(theta: tf.Tensor, phi: tf.Tensor, cutoff: int, dtype: tf.DType) -> tf.Tensor:
    """The beamsplitter's nonzero elements from :func:`_beamsplitter_tables`: the monomials
    times the sparse coefficient table (:func:`_beamsplitter_product`)."""
    coef, phase_index, dense_index = _beamsplitter_tables(cutoff)
    size = 2 * cutoff - 1
    lead = tf.shape(theta)
    monomials = _powers(tf.cos(theta), size)[..., :, None] * _powers(tf.sin(theta), size)[..., None, :]
    monomials = tf.reshape(monomials, tf.concat([lead, [size * size]], 0))
    values = _real_to_complex(_beamsplitter_product(cutoff)[0](monomials), dtype)
    angles = phi[..., None] * tf.constant(phase_index - (cutoff - 1), phi.dtype)  # phi (p - m)
    values = values * tf.exp(_complex(tf.zeros_like(angles), angles, dtype))
    return tf.reshape(_placer(cutoff)[0](values), tf.concat([lead, [cutoff] * 4], 0))


@functools.cache
def _beamsplitter_product(cutoff: int):
    """:func:`_sparse_product` of the beamsplitter's coefficient table (``monomials @ coef``)."""
    return _sparse_product(_beamsplitter_tables(cutoff)[0])


@functools.cache
def _placer(cutoff: int):
    """``(place, unplace)``: the beamsplitter's nonzero elements ``[..., E]`` put in their dense
    positions ``[..., c^4]`` (zeros elsewhere), and its adjoint, each the other's gradient.

    Each element has exactly one dense position, so the adjoint is a gather too. (The gradient
    ``tf.gather`` would get is a scatter, which XLA's CPU backend runs as a loop over its
    indices: about 900 iterations, 3 ms, per step of the guide's configuration; measured.)
    """
    _, _, dense_index = _beamsplitter_tables(cutoff)
    inverse = np.argsort(dense_index, kind="stable")[: int(dense_index.max())]  # element -> position

    @tf.custom_gradient
    def place(values):
        padded = tf.concat([values, tf.zeros_like(values[..., :1])], axis=-1)  # slot E: zero
        return tf.gather(padded, dense_index, axis=-1), unplace

    @tf.custom_gradient
    def unplace(dense):
        return tf.gather(dense, inverse, axis=-1), place

    return place, unplace


def _beamsplitter_recurrence(theta: tf.Tensor, phi: tf.Tensor, cutoff: int, dtype: tf.DType) -> tf.Tensor:
    """thewalrus' two-stage recurrence, first over ``p`` at ``q = 0``, then over ``q``."""
    ct = _real_to_complex(tf.cos(theta), dtype)[..., None, None]
    st = _complex(tf.sin(theta) * tf.cos(phi), tf.sin(theta) * tf.sin(phi), dtype)[..., None, None]
    ct_m = ct * _sqrt_const(cutoff, dtype, (-1, 1))  # cos(theta) sqrt(m)
    st_n = st * _sqrt_const(cutoff, dtype, (1, -1))  # e^{i phi} sin(theta) sqrt(n)
    vacuum = np.zeros((cutoff, cutoff))
    vacuum[0, 0] = 1.0
    slab = tf.zeros_like(ct) + tf.constant(vacuum, dtype=dtype)  # [..., m, n] at p = q = 0
    slabs = [slab]
    for p in range(1, cutoff):
        slab = (ct_m * tf.roll(slab, 1, axis=-2) + st_n * tf.roll(slab, 1, axis=-1)) * (1.0 / math.sqrt(p))
        slabs.append(slab)
    block = tf.stack(slabs, axis=-1)  # [..., m, n, p] at q = 0
    mst_m = -tf.math.conj(st[..., None]) * _sqrt_const(cutoff, dtype, (-1, 1, 1))
    ct_n = ct[..., None] * _sqrt_const(cutoff, dtype, (1, -1, 1))
    blocks = [block]
    for q in range(1, cutoff):
        block = (mst_m * tf.roll(block, 1, axis=-3) + ct_n * tf.roll(block, 1, axis=-2)) * (1.0 / math.sqrt(q))
        blocks.append(block)
    return tf.stack(blocks, axis=-1)


def beamsplitter_matrix(theta, phi, cutoff: int, dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """Exact truncated ``<m, n|BS(theta, phi)|p, q>``, shape ``theta.shape + [c, c, c, c]``.

    Strawberry Fields' ``BSgate``: ``a -> cos(theta) a - e^{-i phi} sin(theta) b``. Built as
    polynomials in ``cos(theta), sin(theta)`` (:func:`_beamsplitter_tables`) up to cutoff
    :data:`BS_POLYNOMIAL_MAX_CUTOFF`, by thewalrus' recurrence above it (the same matrix to
    rounding, ``tests/test_fock.py``).
    """
    dtype, out_dtype = _in_double(dtype)
    theta = tf.cast(theta, dtype.real_dtype)
    phi = tf.cast(phi, dtype.real_dtype)
    shape = tf.broadcast_dynamic_shape(tf.shape(theta), tf.shape(phi))  # e.g. one theta, many phi
    theta, phi = tf.broadcast_to(theta, shape), tf.broadcast_to(phi, shape)
    build = _beamsplitter_polynomial if cutoff <= BS_POLYNOMIAL_MAX_CUTOFF else _beamsplitter_recurrence
    return tf.cast(build(theta, phi, cutoff, dtype), out_dtype)


def rotation_matrix(phi, cutoff: int, dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """``R(phi) = exp(i phi n)``, diagonal, shape ``phi.shape + [c, c]``."""
    dtype, out_dtype = _in_double(dtype)
    phi = tf.cast(phi, dtype.real_dtype)[..., None]
    n = tf.range(cutoff, dtype=dtype.real_dtype)
    return tf.cast(tf.linalg.diag(tf.exp(_complex(tf.zeros_like(phi * n), phi * n, dtype))), out_dtype)


def kerr_matrix(kappa, cutoff: int, dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """``K(kappa) = exp(i kappa n^2)``, diagonal, shape ``kappa.shape + [c, c]``."""
    dtype, out_dtype = _in_double(dtype)
    kappa = tf.cast(kappa, dtype.real_dtype)[..., None]
    n2 = tf.range(cutoff, dtype=dtype.real_dtype) ** 2
    return tf.cast(tf.linalg.diag(tf.exp(_complex(tf.zeros_like(kappa * n2), kappa * n2, dtype))), out_dtype)


GATE_MATRICES = {
    "D": displacement_matrix,
    "S": squeezing_matrix,
    "R": rotation_matrix,
    "K": kerr_matrix,
    "BS": beamsplitter_matrix,
}
