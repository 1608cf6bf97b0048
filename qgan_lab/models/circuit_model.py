"""What the pure quantum generator and discriminator of the guide share: the circuit model.

Both are :class:`tf.Module` s around one :class:`~qgan_lab.sim.circuits.CVCircuit`:

* **input** - each feature (a latent component, or a data coordinate) displaces one mode
  before the first layer (``Dgate(s * x_k, 0)``; with more features than modes the extra
  ones displace along p, ``Dgate(s * x_k, pi/2)``), so ``latent_dim`` may be smaller than
  ``n_modes`` (the remaining modes start in vacuum) or up to ``2 * n_modes``;
* **circuit** - ``layers`` Killoran layers, all parameters trainable;
* **output** - homodyne means ``<x_i> = 2 Re<a_i>`` (hbar = 2) of every mode, read through a
  fixed balanced combiner: output ``j`` is ``sum_i <x_i> / sqrt(k_j)`` over the ``k_j``
  modes ``i = j, j + d, j + 2d, ...`` (``d = output_dim``). That is exactly the x-quadrature
  mean of the output port of a balanced beamsplitter network, so every mode (and every
  parameter) contributes and the map stays quantum: there is no classical network. If
  ``output_dim > n_modes`` the ``<p_i>`` means are read as well. A fixed ``output_scale``
  multiplies the result (default 1: quadrature means already span about +-2 sqrt(cutoff)).

The whole batch runs in one circuit evaluation. :class:`QuantumCircuitModel` holds all of this;
:mod:`qgan_lab.models.generator` and :mod:`qgan_lab.models.critic` hold the two models.
Taught in ``02_quantum_models``.

**Sampled readout** (``readout="sample"``, generator only; taught in
``03_measuring_cv_states``): instead of means, the output is one homodyne *sample* of the x
quadratures of modes ``0 .. output_dim - 1`` drawn from the Born distribution of the output
state (:mod:`qgan_lab.sim.homodyne`), times ``output_scale``. The measurement is the noise: the
first ``output_dim`` latent components are the measurement randomness, ``u = Phi(z)`` (the
standard normal CDF), so ``generate(z)`` stays a deterministic function of ``z`` and the
trainer's seeded latent draws make runs reproducible; any further latent components are
displacement-encoded as above (``latent_dim == output_dim``: no encoding, and the circuit
runs once per batch). Gradients with respect to the weights are exact (implicit
reparameterisation); the samples carry no gradient with respect to ``z``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import tensorflow as tf

from ..sim.circuits import CVCircuit, _check_int
from ..sim.cutoff import TRACE_THRESHOLD
from ..sim.engines import get_engine
from ..sim.homodyne import sample_homodyne
from ..sim.observables import quadrature_expectations, state_trace
from ..validation import BadValue, check

#: Readouts of :class:`~qgan_lab.models.generator.PureQuantumGenerator`: homodyne means, or one homodyne sample.
READOUTS = ("mean", "sample")

logger = logging.getLogger(__name__)


def combiner_matrix(n_columns: int, output_dim: int) -> np.ndarray:
    """``[n_columns, output_dim]`` balanced-combiner weights (see the module docstring)."""
    matrix = np.zeros((n_columns, output_dim))
    for j in range(output_dim):
        members = list(range(j, n_columns, output_dim))
        matrix[members, j] = 1.0 / np.sqrt(len(members))
    return matrix


def check_batch(values: Any, name: str, width: int, dtype: tf.DType) -> tf.Tensor:
    """Convert ``values`` to a ``[B, width]`` tensor, raising ``ValueError`` if it is not one.

    In eager mode non-finite values are rejected too (inside ``tf.function`` only shapes are
    checked; the trainer checks data before it starts).
    """
    try:
        tensor = tf.convert_to_tensor(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array of shape [batch, {width}]: {exc}") from exc
    if not (tensor.dtype.is_floating or tensor.dtype.is_integer):
        raise TypeError(f"{name} must be a real numeric array, got dtype {tensor.dtype.name}")
    tensor = tf.cast(tensor, dtype)
    if tensor.shape.rank != 2 or (tensor.shape[1] is not None and tensor.shape[1] != width):
        raise ValueError(f"{name} must have shape [batch, {width}], got {tensor.shape.as_list()}")
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row, got shape {tensor.shape.as_list()}")
    if tf.executing_eagerly() and not np.all(np.isfinite(tensor.numpy())):
        raise ValueError(f"{name} contains NaN or inf values")
    return tensor


class QuantumCircuitModel(tf.Module):
    """Shared machinery: the circuit, its weights (``tf.Variable`` s) and the engine."""

    #: the readouts this kind of model offers (the first is the default)
    READOUTS: tuple[str, ...] = READOUTS

    def __init__(
        self,
        n_inputs: int,
        output_dim: int,
        n_modes: int,
        layers: int,
        cutoff_dim: int,
        *,
        engine: Any = "fock",
        dtype: Any = tf.complex64,
        encoding_scale: float = 0.5,
        output_scale: float = 1.0,
        passive_std: float = 0.1,
        active_std: float = 0.1,
        seed: int | None = None,
        jit_compile: bool = True,
        readout: str = "mean",
        name: str | None = None,
    ):
        super().__init__(name=name)
        _check_int("output_dim", output_dim, 1)
        # the shared argument table (qgan_lab.validation): strings, NaN, bad seeds named here
        scales = {"encoding_scale": encoding_scale, "output_scale": output_scale}
        for key, value in {**scales, "passive_std": passive_std, "active_std": active_std}.items():
            check(key, value)
        if seed is not None:
            seed = check("seed", seed)
        if not isinstance(readout, str) or readout not in self.READOUTS:
            raise ValueError(f"readout must be one of {self.READOUTS}, got {readout!r}")
        self.readout = readout
        self.n_inputs = _check_int("n_inputs", n_inputs, 0)
        # "sample": the first output_dim inputs are measurement randomness, not encoded
        n_encoded = n_inputs - output_dim if readout == "sample" else n_inputs
        if n_encoded < 0:
            raise ValueError(
                f"readout='sample' takes the measurement randomness from the first output_dim={output_dim} "
                f"inputs, so it needs at least {output_dim} inputs, got {n_inputs}"
            )
        self.circuit = CVCircuit(n_modes, layers, cutoff_dim, n_encoded, encoding_scale)
        if readout == "sample" and output_dim > n_modes:
            raise ValueError(
                f"readout='sample' measures x of modes 0..output_dim-1: output_dim={output_dim} needs "
                f"output_dim <= n_modes={n_modes}"
            )
        if output_dim > 2 * n_modes:
            raise ValueError(
                f"output_dim={output_dim} is more than the 2 * n_modes = {2 * n_modes} "
                "quadrature means (<x>, <p> per mode) the circuit can provide"
            )
        if not np.isfinite(output_scale) or output_scale == 0:
            raise ValueError(f"output_scale must be finite and non-zero, got {output_scale}")
        self.dtype = tf.as_dtype(dtype)
        if not self.dtype.is_complex:
            raise ValueError(f"dtype must be tf.complex64 or tf.complex128, got {self.dtype.name}")
        self.real_dtype = self.dtype.real_dtype
        self.output_dim = int(output_dim)
        self.output_scale = float(output_scale)
        self.engine = get_engine(engine)
        self.seed = seed
        n_columns = n_modes if output_dim <= n_modes else 2 * n_modes
        self._combiner = tf.constant(combiner_matrix(n_columns, output_dim), self.real_dtype)
        init = self.circuit.init_weights(seed, passive_std, active_std)
        self.weights = {key: tf.Variable(value, dtype=self.real_dtype, name=key) for key, value in init.items()}
        self._jit = bool(jit_compile and self.engine.compilable)
        impl = self._forward_impl
        self._forward = (
            tf.function(impl, jit_compile=True, reduce_retracing=True, autograph=False) if self._jit else impl
        )

    # ------------------------------------------------------------------ structure
    @property
    def n_modes(self) -> int:
        return self.circuit.n_modes

    @property
    def layers(self) -> int:
        return self.circuit.layers

    @property
    def cutoff_dim(self) -> int:
        return self.circuit.cutoff_dim

    def architecture(self) -> dict[str, Any]:
        """Everything that fixes the shapes of the weights, for checkpoints to compare."""
        return {
            "class": type(self).__name__,
            "readout": self.readout,
            "n_inputs": self.n_inputs,
            "output_dim": self.output_dim,
            "n_modes": self.n_modes,
            "layers": self.layers,
            "cutoff_dim": self.cutoff_dim,
            "parameters": {k: list(v.shape) for k, v in self.weights.items()},
        }

    def get_weights(self) -> dict[str, np.ndarray]:
        """A numpy copy of the weights."""
        return {k: v.numpy().copy() for k, v in self.weights.items()}

    def set_weights(self, weights: dict[str, Any]) -> None:
        """Assign weights from a ``{group: array}`` dict with the same keys and shapes."""
        if set(weights) != set(self.weights):
            raise ValueError(f"weights must have keys {sorted(self.weights)}, got {sorted(weights)}")
        for key, value in weights.items():
            value = np.asarray(value)
            if value.shape != tuple(self.weights[key].shape):
                raise ValueError(f"weights[{key!r}] must have shape {self.weights[key].shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):  # NaN weights would give NaN samples, silently
                raise BadValue(
                    f"weights[{key!r}]", f"holds {np.size(value) - np.isfinite(value).sum()} NaN or inf values"
                )
        for key, value in weights.items():
            self.weights[key].assign(np.asarray(value))

    # ------------------------------------------------------------------ simulation
    def ket(self, inputs: Any) -> tf.Tensor:
        """The output state ``[B, c, ..., c]`` for a batch of (already checked) inputs."""
        return self.engine.ket(self.circuit, self.weights, inputs, self.dtype)

    def _forward_impl(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.readout == "sample":
            return self._sampled_forward(inputs)
        ket = self.ket(inputs)
        x, p = quadrature_expectations(ket)
        columns = x if self._combiner.shape[0] == self.n_modes else tf.concat([x, p], axis=1)
        return self._outputs(ket, columns @ self._combiner, x=x, p=p)

    def _outputs(self, ket: tf.Tensor, measurements: tf.Tensor, **extra: tf.Tensor) -> dict[str, tf.Tensor]:
        """The forward dict: ``output`` (= ``output_scale * measurements``), ``measurements``,
        per-mode ``x``, ``p`` means and the ``trace`` of the state, plus ``extra``."""
        if "x" not in extra:
            extra["x"], extra["p"] = quadrature_expectations(ket)
        return {
            "output": self.output_scale * measurements,
            "measurements": measurements,
            "trace": state_trace(ket),
            **extra,
        }

    def _sampled_forward(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """``readout="sample"``: one homodyne sample of x on modes ``0..output_dim-1`` per row."""
        k = self.output_dim
        if self.circuit.n_inputs:
            ket = self.ket(inputs[:, k:])
        else:  # nothing encoded: one circuit run, the same state for every row
            ket = self.engine.ket(self.circuit, self.weights, None, self.dtype, batch_size=1)
            ket = tf.broadcast_to(ket, tf.concat([tf.shape(inputs)[:1], tf.shape(ket)[1:]], 0))
        z = tf.cast(inputs[:, :k], tf.float64)
        uniforms = 0.5 * tf.math.erfc(-z / np.sqrt(2.0))  # Phi(z), accurate in both tails
        return self._outputs(ket, sample_homodyne(ket, uniforms, modes=range(k)))

    def _circuit_rows(self, rows: int) -> int:
        """Rows the circuit itself runs for a batch of ``rows`` inputs."""
        return 1 if self.readout == "sample" and not self.circuit.n_inputs else rows

    def forward(self, inputs: Any) -> dict[str, tf.Tensor]:
        """All outputs for a batch: ``output``, ``measurements``, per-mode ``x``, ``p``, ``trace``."""
        inputs = check_batch(inputs, self._input_name, self.n_inputs, self.real_dtype)
        if inputs.shape[0] is not None and hasattr(self.engine, "check_memory"):
            self.engine.check_memory(self.circuit, self._circuit_rows(int(inputs.shape[0])), self.dtype)
        return self._warn_outside_cutoff(self._forward(inputs))

    def _warn_outside_cutoff(self, out: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Log a warning (eager calls only) when a state's trace is below ``TRACE_THRESHOLD``."""
        if tf.executing_eagerly():
            smallest = float(tf.reduce_min(out["trace"]))
            if not np.isfinite(smallest) or not np.all(np.isfinite(out["output"].numpy())):
                bad = [k for k, v in self.weights.items() if not np.all(np.isfinite(v.numpy()))]
                logger.warning(
                    "%s: non-finite outputs (NaN or inf)%s",
                    self.name,
                    f"; non-finite weights in {bad}" if bad else "",
                )
            elif smallest < TRACE_THRESHOLD:
                logger.warning(
                    "%s: a state leaves the cutoff (smallest trace %.3g < %.2f, cutoff_dim=%d): its outputs "
                    "are not the circuit's. Use smaller %s or a larger cutoff_dim.",
                    self.name,
                    smallest,
                    TRACE_THRESHOLD,
                    self.cutoff_dim,
                    self._input_name,
                )
        return out

    _input_name = "inputs"
