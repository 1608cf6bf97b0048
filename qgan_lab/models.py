"""The pure quantum generator and discriminator of the guide.

Both are :class:`tf.Module` s around one :class:`~qgan_lab.circuits.CVCircuit`:

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

The whole batch runs in one circuit evaluation. Taught in ``02_quantum_models``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import tensorflow as tf

from .circuits import CVCircuit, _check_int
from .cutoff import TRACE_THRESHOLD
from .engines import get_engine
from .observables import quadrature_expectations, state_trace

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
        name: str | None = None,
    ):
        super().__init__(name=name)
        _check_int("output_dim", output_dim, 1)
        self.circuit = CVCircuit(n_modes, layers, cutoff_dim, n_inputs, encoding_scale)
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
        self._forward = tf.function(impl, jit_compile=True, reduce_retracing=True) if self._jit else impl

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
            "n_inputs": self.circuit.n_inputs,
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
            self.weights[key].assign(value)

    # ------------------------------------------------------------------ simulation
    def ket(self, inputs: Any) -> tf.Tensor:
        """The output state ``[B, c, ..., c]`` for a batch of (already checked) inputs."""
        return self.engine.ket(self.circuit, self.weights, inputs, self.dtype)

    def _forward_impl(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        ket = self.ket(inputs)
        x, p = quadrature_expectations(ket)
        columns = x if self._combiner.shape[0] == self.n_modes else tf.concat([x, p], axis=1)
        measurements = columns @ self._combiner
        return {
            "output": self.output_scale * measurements,
            "measurements": measurements,
            "x": x,
            "p": p,
            "trace": state_trace(ket),
        }

    def forward(self, inputs: Any) -> dict[str, tf.Tensor]:
        """All outputs for a batch: ``output``, ``measurements``, per-mode ``x``, ``p``, ``trace``."""
        inputs = check_batch(inputs, self._input_name, self.circuit.n_inputs, self.real_dtype)
        if inputs.shape[0] is not None and hasattr(self.engine, "check_memory"):
            self.engine.check_memory(self.circuit, int(inputs.shape[0]), self.dtype)
        out = self._forward(inputs)
        if tf.executing_eagerly():
            smallest = float(tf.reduce_min(out["trace"]))
            if smallest < TRACE_THRESHOLD:
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


class PureQuantumGenerator(QuantumCircuitModel):
    """Quantum generator: latent ``z [B, latent_dim]`` -> samples ``[B, output_dim]``.

    The guide's configuration is ``PureQuantumGenerator(latent_dim=4, output_dim=2,
    n_modes=4, layers=2, cutoff_dim=6)``. Keyword options: ``engine`` (``"fock"`` compiled,
    default, or ``"sf"`` Strawberry Fields), ``dtype`` (``tf.complex64`` or
    ``tf.complex128``; outputs are float32 or float64 to match), ``encoding_scale``,
    ``output_scale``, ``passive_std``, ``active_std``, ``seed``. Taught in ``02_quantum_models``.
    """

    _input_name = "z"

    def __init__(
        self,
        latent_dim: int = 4,
        output_dim: int = 2,
        n_modes: int = 4,
        layers: int = 2,
        cutoff_dim: int = 6,
        **kwargs: Any,
    ):
        _check_int("latent_dim", latent_dim, 1)
        _check_int("n_modes", n_modes, 1)
        if latent_dim > 2 * n_modes:
            raise ValueError(
                f"latent_dim={latent_dim} cannot be encoded on n_modes={n_modes}: at most 2 * n_modes = {2 * n_modes}"
            )
        kwargs.setdefault("name", "generator")
        super().__init__(latent_dim, output_dim, n_modes, layers, cutoff_dim, **kwargs)
        self.latent_dim = int(latent_dim)

    def generate(self, z: Any) -> tf.Tensor:
        """Samples ``[B, output_dim]`` for latent vectors ``z [B, latent_dim]``."""
        return self.forward(z)["output"]

    def generate_with_measurements(self, z: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """``(samples, measurements)``: measurements are the homodyne means before ``output_scale``."""
        out = self.forward(z)
        return out["output"], out["measurements"]


class PureQuantumDiscriminator(QuantumCircuitModel):
    """Quantum discriminator/critic: ``x [B, input_dim]`` -> score ``[B, 1]``.

    The score is the combined homodyne mean of all modes, an unbounded real number (in
    practice within about +-2 sqrt(cutoff)), usable as a Wasserstein critic or as the logit
    of binary cross-entropy. The guide's configuration is
    ``PureQuantumDiscriminator(input_dim=2, n_modes=2, layers=2, cutoff_dim=6)``.
    Taught in ``02_quantum_models``.
    """

    _input_name = "x"

    def __init__(
        self,
        input_dim: int = 2,
        n_modes: int = 2,
        layers: int = 2,
        cutoff_dim: int = 6,
        **kwargs: Any,
    ):
        _check_int("input_dim", input_dim, 1)
        _check_int("n_modes", n_modes, 1)
        if input_dim > 2 * n_modes:
            raise ValueError(
                f"input_dim={input_dim} cannot be encoded on n_modes={n_modes}: at most 2 * n_modes = {2 * n_modes}"
            )
        kwargs.setdefault("name", "discriminator")
        super().__init__(input_dim, 1, n_modes, layers, cutoff_dim, **kwargs)
        self.input_dim = int(input_dim)

    def discriminate(self, x: Any) -> tf.Tensor:
        """Scores ``[B, 1]`` for samples ``x [B, input_dim]``."""
        return self.forward(x)["output"]
