"""A compiled Fock-space simulator in pure TensorFlow (the default engine).

Its gate matrices are exact and built in TensorFlow (:mod:`qgan_lab.sim.gates`); the state's
layout and the way each gate is applied are in :mod:`qgan_lab.sim.layout`. The whole forward
and backward pass compiles into one XLA graph.

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
4. Each beamsplitter is one ``[rows, c^2] x [c^2, c^2]`` matrix product, its two modes moved last
   (and left there until another gate needs others); from
   :data:`~qgan_lab.sim.layout.REAL_FORM_MIN_ROWS` rows on
   (:data:`~qgan_lab.sim.layout.FOLDED_TWO_MODE_REAL_ROWS` for a 2-mode circuit that folds), the
   state is kept in real form between beamsplitters and each product is a real
   ``[rows, 2c^2] x [2c^2, 2c^2]`` one (:func:`~qgan_lab.sim.layout.product_form`). A
   beamsplitter conserves ``p + q``, so ``two_mode="blocked"`` applies it by photon-number blocks
   instead (about 3x fewer multiplications, but slower on CPU with XLA, measured).

Taught in ``02_quantum_models``.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from .circuits import CVCircuit
from .gates import GATE_MATRICES
from .layout import (
    apply_single_mode,
    apply_two_mode,
    apply_two_mode_last,
    blocked_beamsplitter,
    complex_form,
    folds_gates,
    paired_start,
    product_form,
    product_state,
    real_form_min_rows,
)


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


__all__ = ["FockEngine", "flop_estimate"]
