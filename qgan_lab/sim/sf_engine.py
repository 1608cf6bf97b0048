"""The reference engine: Strawberry Fields' own TensorFlow backend.

It runs the ``strawberryfields.Program`` of :meth:`CVCircuit.to_program` with the
weights and inputs bound to its symbolic parameters, exactly as a user of Strawberry Fields
would. It is slow (every gate matrix is built per batch element in Python, with numpy
custom gradients, so no ``tf.function``) but it is the ground truth the compiled engine is
tested against. Taught in ``02_quantum_models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import tensorflow as tf

from .._compat import import_strawberryfields
from .circuits import CVCircuit


@lru_cache(maxsize=32)
def _program(circuit: CVCircuit):
    return circuit.to_program()


class StrawberryFieldsEngine:
    """Runs circuits on ``sf.Engine("tf")`` (batched with ``batch_size``) and returns kets."""

    name = "sf"
    compilable = False

    def __init__(self) -> None:
        self._engines: dict[tuple, object] = {}

    def _engine(self, cutoff: int, batch_size: int | None, dtype: tf.DType):
        key = (cutoff, batch_size, dtype)
        if key not in self._engines:
            sf = import_strawberryfields()
            options = {"cutoff_dim": cutoff, "batch_size": batch_size, "dtype": dtype}
            self._engines[key] = sf.Engine("tf", backend_options=options)
        return self._engines[key]

    def run(
        self,
        circuit: CVCircuit,
        weights: Mapping[str, tf.Tensor],
        inputs: tf.Tensor | None = None,
        dtype: tf.DType = tf.complex64,
        batch_size: int | None = None,
    ):
        """Run the program and return Strawberry Fields' ``FockStateTF``.

        Batched (``state.batched``) for more than one sample; a single sample runs unbatched.
        """
        if not tf.executing_eagerly():
            raise RuntimeError(
                "Strawberry Fields' TF backend converts parameters with .numpy() and cannot run "
                "inside tf.function; use engine='fock' for compiled code"
            )
        dtype = tf.as_dtype(dtype)
        batch = int(inputs.shape[0]) if inputs is not None else (batch_size or 1)
        real = dtype.real_dtype
        # SF refuses batch_size=1: a single sample runs unbatched, with scalar parameters
        shape = [batch] if batch > 1 else []
        args = {
            name: tf.reshape(tf.broadcast_to(tf.cast(value, real), [batch]), shape)
            for name, value in circuit.program_args(weights, inputs).items()
        }
        eng = self._engine(circuit.cutoff_dim, batch if batch > 1 else None, dtype)
        if eng.run_progs:
            eng.reset()
        return eng.run(_program(circuit), args=args).state

    def check_memory(self, circuit: CVCircuit, batch_size: int, dtype: tf.DType = tf.complex64) -> None:
        """The compiled engine's memory check: a clear ``ValueError`` instead of an out-of-memory
        crash (Strawberry Fields' backend needs at least the same amplitudes per sample)."""
        from .fock import FockEngine

        FockEngine().check_memory(circuit, batch_size, dtype)

    def ket(
        self,
        circuit: CVCircuit,
        weights: Mapping[str, tf.Tensor],
        inputs: tf.Tensor | None = None,
        dtype: tf.DType = tf.complex64,
        batch_size: int | None = None,
    ) -> tf.Tensor:
        """The ket ``[B, c, ..., c]`` of the state the program prepares."""
        state = self.run(circuit, weights, inputs, dtype, batch_size)
        ket = state.ket()
        return ket if state.batched else ket[None]
