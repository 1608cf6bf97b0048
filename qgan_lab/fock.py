"""A compiled Fock-space simulator in pure TensorFlow (the default engine).

Strawberry Fields' TF backend builds every gate matrix per batch element in Python with
numpy custom gradients, so it cannot run under ``tf.function``. Here every gate matrix is
built *in TensorFlow* from (batched) parameters, and its elements are the **exact** elements
of the infinite-dimensional operator cut to the cutoff (the matrices of thewalrus'
recurrences, which Strawberry Fields uses), not ``expm`` of a truncated generator: displacement
and squeezing from their normal-ordered forms (triangular factors, so truncation is exact),
beamsplitters as polynomials in ``cos(theta), sin(theta)`` with precomputed coefficients. Each
is a few matrix products rather than a recurrence unrolled over the cutoff, so the compiled
graph is small (about a third less compile time than the recurrences, measured on the default
presets). Autodiff gives exact gradients of any order, and the whole forward and backward
pass compiles into one XLA graph.

How a circuit runs (see :class:`FockEngine`):

1. All gates of one kind are built at once: e.g. every beamsplitter of every layer in one
   vectorised call producing ``[K, c, c, c, c]``.
2. Consecutive single-mode gates on a mode are fused into one ``c x c`` matrix. Where a pass
   over the state costs more than a product with a ``c^4`` matrix (``c^(4 - M) < B``: 4 modes
   at any batch over 1), and for 2 modes, by measurement, up to ``c^2 < 4 B`` (see
   :func:`folds_gates`), shared (not per-sample) ones are then multiplied into the next
   beamsplitter's ``c^2 x c^2`` matrix, or, after a mode's last beamsplitter, into that one
   from the left (guide's generator: 20-30 % faster).
3. The circuit starts in vacuum, so single-mode gates before the first beamsplitter only
   need column 0 of their matrix: the state starts as an outer product of mode vectors.
4. Each beamsplitter is one ``[rows, c^2] x [c^2, c^2]`` matrix product, its two modes moved
   last (and left there until another gate needs others); from :data:`REAL_FORM_MIN_ROWS` rows
   on (:data:`FOLDED_TWO_MODE_REAL_ROWS` for a 2-mode circuit that folds), the state is kept in
   real form between beamsplitters and each product is a real
   ``[rows, 2c^2] x [2c^2, 2c^2]`` one (:func:`product_form`). A beamsplitter conserves ``p + q``,
   so ``two_mode="blocked"`` applies it by photon-number blocks instead (about 3x fewer
   multiplications, but slower on CPU with XLA, measured).

Taught in ``02_quantum_models``.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from .circuits import CVCircuit


# ---------------------------------------------------------------------- gate matrices
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


# ---------------------------------------------------------------------- applying gates
_LETTERS = string.ascii_letters


def apply_single_mode(state: tf.Tensor, matrix: tf.Tensor, mode: int) -> tf.Tensor:
    """Apply ``matrix`` (``[c, c]`` or batched ``[B, c, c]``) to ``mode`` of ``state [B, c...]``."""
    n_modes = len(state.shape) - 1
    axes = _LETTERS[1 : n_modes + 1]
    out_axes = axes[:mode] + "Z" + axes[mode + 1 :]
    lhs = ("a" if len(matrix.shape) == 3 else "") + "Z" + axes[mode]
    return tf.einsum(f"{lhs},a{axes}->a{out_axes}", matrix, state)


def skew(pairs: tf.Tensor) -> tf.Tensor:
    """Regroup ``[L, c, c, R]`` amplitudes ``A[l, p, q, r]`` by total photon number.

    Returns ``[L, c, 2c-1, R]`` with ``S[l, p, N, r] = A[l, p, N - p, r]`` (``N = p + q``),
    made with a pad and two reshapes (no gather, so the gradient needs no scatter).
    Entries with ``N - p`` outside ``[0, c)`` are 0.
    """
    lead, c, rest = pairs.shape[0], pairs.shape[1], pairs.shape[3]
    lead = -1 if lead is None else lead
    padded = tf.pad(pairs, [[0, 0], [0, 0], [0, c], [0, 0]])  # [L, c, 2c, R]
    flat = tf.reshape(padded, [lead, 2 * c * c, rest])[:, : c * (2 * c - 1)]
    return tf.reshape(flat, [lead, c, 2 * c - 1, rest])


def unskew(skewed: tf.Tensor) -> tf.Tensor:
    """Inverse of :func:`skew`: ``[L, c, 2c-1, R]`` -> ``[L, c, c, R]``."""
    lead, c, rest = skewed.shape[0], skewed.shape[1], skewed.shape[3]
    lead = -1 if lead is None else lead
    flat = tf.reshape(skewed, [lead, c * (2 * c - 1), rest])
    flat = tf.pad(flat, [[0, 0], [0, c], [0, 0]])
    return tf.reshape(flat, [lead, c, 2 * c, rest])[:, :, :c]


def photon_number_blocks(cutoff: int) -> np.ndarray:
    """Flat indices into a zero-padded ``c^4`` gate giving ``block[N, m, p] = Z[m, N-m, p, N-p]``.

    Out-of-range entries point at index ``c^4``, the zero slot appended by the caller.
    """
    c = cutoff
    index = np.full((2 * c - 1, c, c), c**4, dtype=np.int32)
    for total in range(2 * c - 1):
        for m in range(c):
            for p in range(c):
                n, q = total - m, total - p
                if 0 <= n < c and 0 <= q < c:
                    index[total, m, p] = ((m * c + n) * c + p) * c + q
    return index


def blocked_beamsplitter(matrix: tf.Tensor, cutoff: int) -> tf.Tensor:
    """Dense ``[..., c, c, c, c]`` two-mode gates -> photon-number blocks ``[..., 2c-1, c, c]``.

    A beamsplitter conserves ``p + q``, so ``<m, n|BS|p, q> = 0`` unless ``m + n = p + q``:
    only the ``2c - 1`` blocks of fixed total ``N`` are kept, ``block[N, m, p]``.
    """
    lead = tf.shape(matrix)[:-4]
    flat = tf.reshape(matrix, tf.concat([lead, [cutoff**4]], 0))
    flat = tf.pad(flat, [[0, 0]] * (len(matrix.shape) - 4) + [[0, 1]])
    return tf.gather(flat, photon_number_blocks(cutoff), axis=-1)


def apply_two_mode(state: tf.Tensor, blocks: tf.Tensor, modes: tuple[int, int]) -> tf.Tensor:
    """Apply photon-number blocks ``[2c-1, c, c]`` (or per sample ``[B, 2c-1, c, c]``) to ``modes``.

    The two modes are moved last, the state viewed as ``[B, M, c, c]`` and regrouped by total
    photon number (:func:`skew`), then each block is one small matrix product. (Measured:
    faster on CPU than skewing in place, or than the dense ``c^2 x c^2`` product.)
    """
    n_modes = len(state.shape) - 1
    i, j = modes
    others = [m for m in range(n_modes) if m not in modes]
    perm = [0] + [m + 1 for m in others] + [i + 1, j + 1]
    moved = tf.transpose(state, perm)
    c = state.shape[-1]
    if len(blocks.shape) == 3:
        view = tf.reshape(moved, [-1, c, c, 1])
        out = unskew(tf.einsum("Nmp,LpNR->LmNR", blocks, skew(view)))
    else:  # a different gate for every sample: keep the batch axis apart
        per_sample = c ** (n_modes - 2)
        view = tf.reshape(moved, [-1, c, c, 1])
        skewed = tf.reshape(skew(view), [-1, per_sample, c, 2 * c - 1])
        out = tf.einsum("BNmp,BLpN->BLmN", blocks, skewed)
        out = unskew(tf.reshape(out, [-1, c, 2 * c - 1, 1]))
    return tf.transpose(tf.reshape(out, tf.shape(moved)), np.argsort(perm))


def apply_two_mode_dense(state: tf.Tensor, matrix: tf.Tensor, modes: tuple[int, int]) -> tf.Tensor:
    """Apply a dense ``[c, c, c, c]`` (or per sample ``[B, c, c, c, c]``) gate: one einsum."""
    n_modes = len(state.shape) - 1
    axes = _LETTERS[1 : n_modes + 1]
    i, j = modes
    out = axes.replace(axes[i], "Y").replace(axes[j], "Z")
    lhs = ("a" if len(matrix.shape) == 5 else "") + "YZ" + axes[i] + axes[j]
    return tf.einsum(f"{lhs},a{axes}->a{out}", matrix, state)


def apply_two_mode_last(
    state: tf.Tensor, matrix: tf.Tensor, order: list[int], modes: tuple[int, int]
) -> tuple[tf.Tensor, list[int]]:
    """Apply a dense two-mode gate to ``modes`` of a state whose axes hold the modes in ``order``
    (after the batch axis): the two modes are moved last (one transpose, none if they already
    are; the two keep their relative order, the gate's modes are swapped instead) and the gate
    is one ``[rows, c^2] x [c^2, c^2]`` product. Returns the state and its new order. (Measured
    on the guide's 24 beamsplitters: 5-24 % faster than transposing the modes back after every
    gate.) A state in real form (:func:`to_real`, a trailing (re, im) axis) is multiplied by the
    gate's :func:`real_matrix`: one real ``[rows, 2c^2] x [2c^2, 2c^2]`` product."""
    i, j = (order.index(m) for m in modes)
    if len(matrix.shape) == 5:  # a gate per sample: the plain einsum, axes unchanged
        return apply_two_mode_dense(complex_form(state), matrix, (i, j)), order
    if i > j:  # keep the two axes in their order: swap the gate's modes instead
        i, j, matrix = j, i, tf.transpose(matrix, [1, 0, 3, 2])
    n_modes = len(order)
    real = state.dtype.is_floating  # in real form: a trailing (re, im) axis
    if (i, j) != (n_modes - 2, n_modes - 1):
        rest = [k for k in range(n_modes) if k not in (i, j)] + [i, j]
        state = _transpose(state, [0] + [k + 1 for k in rest], real)
        order = [order[k] for k in rest]
    c = matrix.shape[0]
    square = tf.reshape(matrix, [c * c, c * c])
    if real:
        square = real_matrix(square)
    shape = tf.shape(state)
    flat = tf.reshape(state, [-1, square.shape[0]])
    return tf.reshape(tf.matmul(flat, square, transpose_b=True), shape), order


def _transpose(state: tf.Tensor, perm: list[int], real: bool) -> tf.Tensor:
    """``tf.transpose(state, perm)``; a state in real form keeps its (re, im) axis last. XLA's
    CPU copies ``[B, X, Y, 2] -> [B, Y, X, 2]`` (a rotation of the mode axes) at a third of its
    usual speed; moving the (re, im) axis first and stacking the two planes back is as fast as
    the other transposes (measured: 7.4 against 14.7 us at the guide's size)."""
    if not real:
        return tf.transpose(state, perm)
    start = next((k for k, axis in enumerate(perm) if axis != k), len(perm))  # axes before it stay
    axes = list(range(start, len(perm)))
    if not any(perm[start:] == axes[k:] + axes[:k] for k in range(1, len(axes))):
        return tf.transpose(state, perm + [len(perm)])
    return tf.stack(tf.unstack(tf.transpose(state, [len(perm)] + perm)), -1)


#: :meth:`FockEngine.ket` keeps the state in real form (:func:`to_real`) through its shared
#: beamsplitters from this many rows of ``c^2`` amplitudes on (the guide's generator: 576 rows
#: and more). The state is converted once, not at every gate (measured on the guide's generator
#: step: 4.6 -> 4.3 ms, with the faster transposes of :func:`_transpose` 3.6 ms). Below, the
#: gain was small where single-mode gates were applied on their own (each one converts back) and
#: a 2-mode state of batch 1 ran slower (rearranging the gate costs more than its product); a
#: 2-mode circuit that folds uses :data:`FOLDED_TWO_MODE_REAL_ROWS` instead
REAL_FORM_MIN_ROWS = 128

#: A 2-mode circuit whose single-mode gates fold (:func:`folds_gates`) keeps its state in real
#: form from this many rows on: every shared gate is then one product on it, so the state is
#: converted once per stretch of shared gates (back to complex only for a per-sample gate, such
#: as ``bimodal``'s critic's re-uploaded displacements) for the guide's and ``bimodal``'s
#: critics, 16-64 rows (see :func:`folds_gates` for what it measured; ``bimodal``'s peak memory
#: 1.30 -> 1.32 GB).
FOLDED_TWO_MODE_REAL_ROWS = 16


def real_form_min_rows(n_modes: int, folded: bool) -> int:
    """Rows of ``c^2`` amplitudes from which :meth:`FockEngine.ket` keeps the state of a circuit
    with ``n_modes`` modes in real form through its shared beamsplitters (``folded``: its
    single-mode gates fold, :func:`folds_gates`)."""
    return FOLDED_TWO_MODE_REAL_ROWS if folded and n_modes == 2 else REAL_FORM_MIN_ROWS


def to_real(state: tf.Tensor) -> tf.Tensor:
    """A complex state ``[..., n]`` as real ``[..., n, 2]`` (re, im) pairs."""
    return tf.stack([tf.math.real(state), tf.math.imag(state)], -1)


def to_complex(state: tf.Tensor) -> tf.Tensor:
    """Inverse of :func:`to_real`."""
    return tf.complex(state[..., 0], state[..., 1])


def product_form(
    state: tf.Tensor, matrix: tf.Tensor, n_modes: int, batch: int | None, min_rows: int | None = None
) -> tf.Tensor:
    """``state`` (``n_modes`` modes, complex or in real form) in the form
    :func:`apply_two_mode_last` multiplies by ``matrix`` fastest: real for a shared gate from
    ``min_rows`` (default :data:`REAL_FORM_MIN_ROWS`) rows on (with the batch size known when
    traced), else complex."""
    rows = None if batch is None else batch * matrix.shape[-1] ** (n_modes - 2)
    min_rows = REAL_FORM_MIN_ROWS if min_rows is None else min_rows
    if len(matrix.shape) == 5 or rows is None or rows < min_rows:
        return complex_form(state)
    return state if state.dtype.is_floating else to_real(state)


def complex_form(state: tf.Tensor) -> tf.Tensor:
    """``state`` as a complex tensor, whichever form it is in."""
    return to_complex(state) if state.dtype.is_floating else state


def real_matrix(matrix: tf.Tensor) -> tf.Tensor:
    """The real ``[2n, 2n]`` matrix that acts on interleaved (re, im) pairs as the complex
    ``matrix [n, n]`` acts on complex vectors: ``real[(i, a), (j, b)]`` is the 2x2 block
    ``[[re, -im], [im, re]]`` of ``matrix[i, j]``.

    The same multiplications as the complex product, but CPU matrix libraries run real
    products about twice as fast as complex ones at these sizes (measured with XLA on 2
    cores: ``[2880, 36] x [36, 36]``, the guide's generator, 124 GFLOP/s complex, 227 real).
    Splitting real and imaginary parts into four real products instead measured no faster.
    """
    n = matrix.shape[-1]
    re, im = tf.math.real(matrix), tf.math.imag(matrix)
    blocks = tf.stack([tf.stack([re, -im], -1), tf.stack([im, re], -1)], -2)  # [i, j, a, b]
    return tf.reshape(tf.transpose(blocks, [0, 2, 1, 3]), [2 * n, 2 * n])


def folds_gates(cutoff: int, n_modes: int, batch: int | None) -> bool:
    """Does the dense engine fold shared single-mode gates into beamsplitter matrices? Where
    that is cheaper: folding a ``c x c`` matrix into a ``c^4`` one costs ``c^5``, a pass over the
    state ``B c^(M+1)``, so folding pays from ``c^(4 - M) < B`` (4 modes at any batch over 1, 3
    from ``c < B``). A folded 2-mode circuit runs every shared gate as one product on a state in
    real form (:data:`FOLDED_TWO_MODE_REAL_ROWS`), far fewer compiled kernels than its passes, so
    by measurement it folds up to ``c^2 < 4 B`` (measured in one process against the
    rule ``c^2 < B``, ``benchmarks/ab_engine.py``: a 2-mode critic step with its input gradient
    at batch 64 7-33 % faster at cutoffs 8-15, but 17-42 % slower folded at batch 16 and cutoffs
    10-15, which this rule leaves unfolded; the whole training step of the guide 1-8 % and of
    ``bimodal`` 11 % faster)."""
    if batch is None:
        return False
    return cutoff ** (4 - n_modes) < (4 if n_modes == 2 else 1) * batch


def paired_start(circuit: CVCircuit) -> set[int]:
    """Indices of the gates :class:`FockEngine` applies to two-mode states: with 3 or more modes,
    the first beamsplitters (shared, not per sample) that each meet two modes no beamsplitter
    has touched, until the first that does not. The guide's 4-mode mesh starts with (0, 1) and
    (2, 3): 2 of its 24 beamsplitters cost ``B c^4`` instead of ``B c^6`` each."""
    if circuit.n_modes < 3:
        return set()
    paired, touched = set(), set()
    for index, gate in enumerate(circuit.gates()):
        if len(gate.modes) != 2:
            continue
        if gate.per_sample or touched.intersection(gate.modes):
            break
        paired.add(index)
        touched.update(gate.modes)
    return paired


def product_state(vectors: list[tf.Tensor], batch_size) -> tf.Tensor:
    """Outer product of per-mode vectors (each ``[c]`` or ``[B, c]``) as ``[B, c, ..., c]``."""
    state = None
    for k, vec in enumerate(vectors):
        if len(vec.shape) == 1:
            vec = tf.broadcast_to(vec, tf.stack([batch_size, vec.shape[0]]))
        if state is None:
            state = vec
            continue
        axes = _LETTERS[1 : k + 1]
        state = tf.einsum(f"a{axes},aZ->a{axes}Z", state, vec)
    return state


# ---------------------------------------------------------------------- the engine
class FockEngine:
    """Compiled, batched pure-state Fock simulator (the default engine).

    Args:
        max_memory_bytes: refuse (with a ``ValueError`` naming the memory needed) circuits
            whose forward and backward pass would need more than this. Default 1.5 GiB,
            Binder's 2 GB minus room for Python and TensorFlow.
        two_mode: ``"dense"`` applies each beamsplitter as one ``c^2 x c^2`` matrix product
            with its two modes moved last (:func:`apply_two_mode_last`), the shared
            single-mode gates around it multiplied into its matrix;
            ``"blocked"`` (no folding: blocks must stay blocks) uses photon-number
            conservation (about 3x fewer multiplications, but more, smaller operations). On 2
            CPU cores with XLA the dense form measured faster for the guide's configuration,
            so it is the default; compare on your machine with ``benchmarks/bench_step.py --two-mode blocked``.

    The engine is stateless; :meth:`ket` is plain TensorFlow and is meant to be called
    inside ``tf.function(jit_compile=True)`` (the models and trainer do that).
    """

    name = "fock"
    compilable = True

    def __init__(self, max_memory_bytes: float = 1.5 * 2**30, two_mode: str = "dense"):
        if two_mode not in ("dense", "blocked"):
            raise ValueError(f"two_mode must be 'dense' or 'blocked', got {two_mode!r}")
        self.max_memory_bytes = float(max_memory_bytes)
        self.two_mode = two_mode

    def memory_estimate(self, circuit: CVCircuit, batch_size: int, dtype=tf.complex64) -> int:
        """Bytes the tape keeps for one forward + backward pass: one state per gate, x3."""
        state = batch_size * circuit.cutoff_dim**circuit.n_modes * tf.as_dtype(dtype).size
        applications = sum(len(g.modes) == 2 for g in circuit.gates()) + 2 * circuit.n_modes * circuit.layers
        return int(3 * state * (applications + 2))

    def check_memory(self, circuit: CVCircuit, batch_size: int, dtype=tf.complex64) -> None:
        """Raise ``ValueError`` when :meth:`memory_estimate` exceeds ``max_memory_bytes``."""
        need = self.memory_estimate(circuit, batch_size, dtype)
        if need > self.max_memory_bytes:
            amplitudes = circuit.cutoff_dim**circuit.n_modes
            raise ValueError(
                f"n_modes={circuit.n_modes}, cutoff_dim={circuit.cutoff_dim}, batch {batch_size}: "
                f"the state has {amplitudes:,} amplitudes per sample and training would need "
                f"about {need / 2**30:.2f} GiB, over the {self.max_memory_bytes / 2**30:.2f} GiB "
                "limit (max_memory_bytes). Lower cutoff_dim, n_modes or the batch size."
            )

    @staticmethod
    def _column(refs, read, inputs, scale, dtype) -> tf.Tensor:
        """One parameter slot of a group of gates: ``[K]`` (weights/constants) or ``[K, B]``.

        Consecutive weights of one group become a single slice of the variable (so 24
        beamsplitter angles cost a few graph nodes, not 24 reads and 24 slices).
        """
        real = dtype.real_dtype
        if any(ref.source == "x" for ref in refs):
            batch = tf.shape(inputs)[:1]
            values = []
            for ref in refs:
                if ref.source == "x":
                    values.append(scale * ref.factor * tf.cast(inputs[:, ref.index], real))
                elif ref.source == "w":
                    values.append(tf.broadcast_to(read(ref.group)[ref.index], batch))
                else:
                    values.append(tf.fill(batch, tf.constant(ref.value, real)))
            return tf.stack(values)
        pieces: list[tf.Tensor] = []
        run_start = 0
        for i in range(1, len(refs) + 1):
            first, ref = refs[run_start], refs[i] if i < len(refs) else None
            extends = (
                ref is not None
                and first.source == "w"
                and ref.source == "w"
                and ref.group == first.group
                and ref.index == first.index + (i - run_start)
            )
            if extends:
                continue
            if first.source == "w":
                values = read(first.group)
                stop = first.index + (i - run_start)
                whole = first.index == 0 and stop == values.shape[0]
                pieces.append(values if whole else values[first.index : stop])
            else:
                pieces.append(tf.constant([r.value for r in refs[run_start:i]], real))
            run_start = i
        return pieces[0] if len(pieces) == 1 else tf.concat(pieces, axis=0)

    def gate_matrices(
        self,
        circuit: CVCircuit,
        weights: Mapping[str, tf.Tensor],
        inputs: tf.Tensor | None,
        dtype: tf.DType = tf.complex64,
    ) -> list[tf.Tensor]:
        """The matrix of every gate of ``circuit``, built kind by kind in one vectorised call.

        Gates fed by inputs get a batch axis (``[B, c, c]``); the others do not.
        """
        gates = circuit.gates()
        matrices: list[tf.Tensor | None] = [None] * len(gates)
        groups: dict[tuple[str, bool], list[int]] = {}
        for i, gate in enumerate(gates):
            groups.setdefault((gate.name, gate.per_sample), []).append(i)
        cache: dict[str, tf.Tensor] = {}

        def read(group: str) -> tf.Tensor:  # each variable is read once
            if group not in cache:
                cache[group] = tf.cast(weights[group], dtype.real_dtype)
            return cache[group]

        for (name, batched), members in groups.items():
            columns = [
                self._column([gates[i].params[k] for i in members], read, inputs, circuit.input_scale, dtype)
                for k in range(len(gates[members[0]].params))
            ]
            if batched:  # constants or weights beside per-sample inputs: broadcast to [K, B]
                batch = tf.shape(inputs)[:1]
                columns = [
                    c if len(c.shape) == 2 else tf.broadcast_to(c[:, None], tf.concat([[len(members)], batch], 0))
                    for c in columns
                ]
            built = GATE_MATRICES[name](*columns, circuit.cutoff_dim, dtype)
            if name == "BS" and self.two_mode == "blocked":
                built = blocked_beamsplitter(built, circuit.cutoff_dim)
            for slot, matrix in zip(members, tf.unstack(built, num=len(members))):
                matrices[slot] = matrix
        return matrices

    def ket(
        self,
        circuit: CVCircuit,
        weights: Mapping[str, tf.Tensor],
        inputs: tf.Tensor | None = None,
        dtype: tf.DType = tf.complex64,
        batch_size: int | None = None,
    ) -> tf.Tensor:
        """Run ``circuit`` from vacuum and return the ket ``[B, c, ..., c]``.

        ``inputs [B, n_inputs]`` feed the encoding displacements; without inputs the batch
        size is ``batch_size`` (default 1).
        """
        dtype = tf.as_dtype(dtype)
        if inputs is not None:
            static_batch = inputs.shape[0]
            batch = tf.shape(inputs)[0] if static_batch is None else static_batch
        else:
            batch = static_batch = batch_size or 1
        if static_batch is not None:
            self.check_memory(circuit, int(static_batch), dtype)
        gates = circuit.gates()
        matrices = self.gate_matrices(circuit, weights, inputs, dtype)
        fold = self.two_mode == "dense" and folds_gates(circuit.cutoff_dim, circuit.n_modes, static_batch)
        tails = self._tails(gates, matrices) if fold else {}
        real_rows = real_form_min_rows(circuit.n_modes, fold)
        pending: dict[int, tf.Tensor] = {}
        state = None
        # The state's axes stay in the order the last beamsplitter left them (its two modes
        # last): one transpose per beamsplitter instead of two. order[k] = the mode on axis k+1.
        # Between beamsplitters the state may be in real form (product_form): converted once,
        # back to complex for a gate applied on its own and at the end.
        order = list(range(circuit.n_modes))
        # the first beamsplitters on modes no other has touched act on two-mode states
        pairs: dict[tuple[int, int], tf.Tensor] = {}
        paired = paired_start(circuit) if self.two_mode == "dense" else set()

        def flush(mode: int) -> None:
            nonlocal state
            if mode in pending:
                state = apply_single_mode(complex_form(state), pending.pop(mode), order.index(mode))

        for index, (gate, matrix) in enumerate(zip(gates, matrices)):
            if len(gate.modes) == 1:
                mode = gate.modes[0]
                if mode in tails and index > tails[mode][0]:
                    continue  # folded into the mode's last two-mode gate
                pending[mode] = matrix if mode not in pending else tf.matmul(matrix, pending[mode])
                continue
            if index in paired:  # the gates pending on its modes make the pair's initial state
                pair = product_state(self._initial_vectors(circuit, pending, gate.modes, dtype), batch)
            elif state is None:
                state, order = self._initial_state(circuit, pending, batch, dtype, pairs)
            if fold and len(matrix.shape) == 4:
                matrix = self._fold(matrix, gate.modes, pending, tails, index)
            if index in paired:
                pair = product_form(pair, matrix, 2, static_batch)
                pairs[gate.modes] = complex_form(apply_two_mode_last(pair, matrix, list(gate.modes), gate.modes)[0])
                continue
            for mode in gate.modes:
                flush(mode)
            if self.two_mode == "blocked":
                state = apply_two_mode(state, matrix, tuple(order.index(m) for m in gate.modes))
            else:
                state = product_form(state, matrix, circuit.n_modes, static_batch, real_rows)
                state, order = apply_two_mode_last(state, matrix, order, gate.modes)
        if state is None:
            state, order = self._initial_state(circuit, pending, batch, dtype, pairs)
        state = complex_form(state)
        for mode in sorted(pending):
            flush(mode)
        if order != sorted(order):
            state = tf.transpose(state, [0] + [order.index(m) + 1 for m in range(circuit.n_modes)])
        return state

    @staticmethod
    def _tails(gates, matrices) -> dict[int, tuple[int, tf.Tensor]]:
        """Per mode: (index of its last two-mode gate, product of the shared single-mode gates
        after it), when all those gates are shared (not per sample)."""
        last: dict[int, int] = {}
        for index, gate in enumerate(gates):
            if len(gate.modes) == 2:
                for mode in gate.modes:
                    last[mode] = index
        tails = {}
        for mode, at in last.items():
            if len(matrices[at].shape) != 4:
                continue
            after = [matrices[k] for k in range(at + 1, len(gates)) if gates[k].modes == (mode,)]
            if not after or any(len(m.shape) != 2 for m in after):
                continue
            product = after[0]
            for m in after[1:]:
                product = tf.matmul(m, product)
            tails[mode] = (at, product)
        return tails

    @staticmethod
    def _fold(matrix, modes, pending, tails, index) -> tf.Tensor:
        """The two-mode ``matrix [m, n, p, q]`` with the shared single-mode gates pending on its
        modes multiplied in from the right, and the modes' tails (when this is their last
        two-mode gate) from the left; those gates then need no pass over the state."""
        a, b = modes
        for mode, spec in ((a, "mnxq,xp->mnpq"), (b, "mnpx,xq->mnpq")):
            if mode in pending and len(pending[mode].shape) == 2:
                matrix = tf.einsum(spec, matrix, pending.pop(mode))
        for mode, spec in ((a, "mx,xnpq->mnpq"), (b, "nx,mxpq->mnpq")):
            if mode in tails and tails[mode][0] == index:
                matrix = tf.einsum(spec, tails[mode][1], matrix)
        return matrix

    @staticmethod
    def _initial_vectors(circuit, pending, modes, dtype) -> list[tf.Tensor]:
        """Vacuum through the gates pending on each of ``modes`` (column 0 of its matrix)."""
        vacuum = tf.one_hot(0, circuit.cutoff_dim, dtype=dtype)
        return [pending.pop(m)[..., :, 0] if m in pending else vacuum for m in modes]

    @staticmethod
    def _initial_state(circuit, pending, batch, dtype, pairs) -> tuple[tf.Tensor, list[int]]:
        """The whole state before its first full beamsplitter: the modes in no pair as a product
        state (:meth:`_initial_vectors`) times the two-mode states ``pairs`` made so far; returns
        it with its axes' ``order``."""
        order = [m for m in range(circuit.n_modes) if not any(m in pair for pair in pairs)]
        vectors = FockEngine._initial_vectors(circuit, pending, order, dtype)
        factors = [product_state(vectors, batch)] if vectors else []
        for pair, two_mode_state in pairs.items():
            factors.append(two_mode_state)
            order += list(pair)
        state = factors[0]
        for factor in factors[1:]:
            state = tf.reshape(tf.reshape(state, [batch, -1, 1]) * tf.reshape(factor, [batch, 1, -1]), [batch, -1])
        return tf.reshape(state, tf.concat([[batch], [circuit.cutoff_dim] * circuit.n_modes], 0)), order


def flop_estimate(circuit: CVCircuit, batch_size: int, two_mode: str = "dense") -> float:
    """Real floating-point operations of one forward pass of ``circuit`` on this engine.

    Counts the state updates only (the dominant cost): per group of ``c^2`` two-mode
    amplitudes a dense beamsplitter does ``c^4`` complex multiply-adds (one on a two-mode
    state of :func:`paired_start`: ``c^4`` per sample), a blocked one ``(2c-1) c^2``; a
    single-mode gate applied to the state ``c`` per amplitude (with dense beamsplitters, where
    :func:`folds_gates`, only per-sample gates after the first beamsplitter are: the others are
    folded into beamsplitter matrices); a complex multiply-add is 8 real flops. A training step
    (forward plus backward) costs about 3x this.
    """
    c, n = circuit.cutoff_dim, circuit.n_modes
    amplitudes_rest = batch_size * c ** (n - 2) if n >= 2 else batch_size
    per_group = (2 * c - 1) * c * c if two_mode == "blocked" else c**4
    gates = circuit.gates()
    paired = len(paired_start(circuit)) if two_mode == "dense" else 0  # on two-mode states
    bs_macs = (sum(len(g.modes) == 2 for g in gates) - paired) * amplitudes_rest * per_group
    bs_macs += paired * batch_size * per_group
    if two_mode == "blocked" or not folds_gates(c, n, batch_size):  # 2 groups per mode and layer
        passes = 2 * n * circuit.layers
    else:  # shared gates folded into beamsplitters: per-sample ones after the first beamsplitter
        first = next((k for k, g in enumerate(gates) if len(g.modes) == 2), len(gates))
        passes = sum(len(g.modes) == 1 and g.per_sample for g in gates[first:])
    single_macs = passes * batch_size * c**n * c
    return 8.0 * (bs_macs + single_macs)


__all__ = [
    "FockEngine",
    "apply_single_mode",
    "apply_two_mode",
    "beamsplitter_matrix",
    "blocked_beamsplitter",
    "displacement_matrix",
    "flop_estimate",
    "folds_gates",
    "kerr_matrix",
    "photon_number_blocks",
    "rotation_matrix",
    "squeezing_matrix",
]
