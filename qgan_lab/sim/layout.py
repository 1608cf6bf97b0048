"""How the Fock engine (:mod:`qgan_lab.sim.fock`) lays out a state and applies gates to it.

A state of ``M`` modes is a ``[B, c, ..., c]`` tensor. Single-mode gates are einsums over one
axis; a two-mode gate moves its modes last and is one ``[rows, c^2] x [c^2, c^2]`` product
(:func:`apply_two_mode_last`), in complex or real form (:func:`product_form`: CPU libraries
run real products about twice as fast), or by photon-number blocks (:func:`apply_two_mode`).
When the engine folds single-mode gates into beamsplitters and which beamsplitters start on
two-mode states are decided here too (:func:`folds_gates`, :func:`paired_start`).

Taught in ``02_quantum_models`` (its optional engine section).
"""

from __future__ import annotations

import string

import numpy as np
import tensorflow as tf

from .circuits import CVCircuit

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


#: :meth:`~qgan_lab.sim.fock.FockEngine.ket` keeps the state in real form (:func:`to_real`) through its shared
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
    """Rows of ``c^2`` amplitudes from which :meth:`~qgan_lab.sim.fock.FockEngine.ket` keeps the state of a circuit
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
    """Indices of the gates :class:`~qgan_lab.sim.fock.FockEngine` applies to two-mode states: with 3 or more modes,
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
