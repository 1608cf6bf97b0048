"""The pure quantum generator and discriminator of the guide.

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

The whole batch runs in one circuit evaluation. Taught in ``02_quantum_models``.

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

import dataclasses
import logging
from typing import Any

import numpy as np
import tensorflow as tf

from ..sim.circuits import CVCircuit, _check_int
from ..sim.cutoff import TRACE_THRESHOLD
from ..sim.engines import get_engine
from ..sim.homodyne import sample_homodyne
from ..sim.observables import mean_photon_numbers, quadrature_expectations, state_trace
from ..validation import BadValue, check
from .averaging import WeightAverage
from .readouts import READOUTS as CRITIC_READOUTS
from .readouts import critic_score, init_readout

#: Readouts of :class:`PureQuantumGenerator`: homodyne means, or one homodyne sample.
READOUTS = ("mean", "sample")

#: Input encodings of :class:`PureQuantumDiscriminator` (see its docstring).
ENCODINGS = ("displacement", "bounded", "phase")

#: ``"phase"`` encoding: the largest displacement phase, reached as ``x -> +-inf`` (below pi, so
#: that the two infinities stay apart by ``2 pi - 2 PHASE_RANGE``).
PHASE_RANGE = 0.75 * np.pi


def _per_feature(name: str, value: Any, width: int, positive: bool = False) -> np.ndarray:
    """``value`` (one number, or one per feature) as a float64 array ``[width]``, checked."""
    try:
        array = np.broadcast_to(np.asarray(value, dtype=np.float64), (width,)).copy()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or {width} numbers (one per feature), got {value!r}") from exc
    if not np.all(np.isfinite(array)) or (positive and not np.all(array > 0)):
        raise ValueError(f"{name} must be {'positive and ' if positive else ''}finite, got {value!r}")
    return array


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


class PureQuantumGenerator(WeightAverage, QuantumCircuitModel):
    """Quantum generator: latent ``z [B, latent_dim]`` -> samples ``[B, output_dim]``.

    The guide's configuration is ``PureQuantumGenerator(latent_dim=4, output_dim=2,
    n_modes=4, layers=2, cutoff_dim=6)``. Keyword options: ``engine`` (``"fock"`` compiled,
    default, or ``"sf"`` Strawberry Fields), ``dtype`` (``tf.complex64`` or
    ``tf.complex128``; outputs are float32 or float64 to match), ``encoding_scale``,
    ``output_scale``, ``passive_std``, ``active_std``, ``seed``, and ``readout``: ``"mean"``
    (default, the guide's homodyne means) or ``"sample"`` (one homodyne sample per row, see
    the module docstring; needs ``output_dim <= n_modes`` and ``latent_dim >= output_dim``).
    Taught in ``02_quantum_models`` and ``03_measuring_cv_states``.
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
        encoded = latent_dim - output_dim if kwargs.get("readout") == "sample" else latent_dim
        if encoded > 2 * n_modes:
            raise ValueError(
                f"latent_dim={latent_dim} cannot be encoded on n_modes={n_modes}: at most 2 * n_modes = {2 * n_modes}"
                + (f" besides the output_dim={output_dim} measurement components" if encoded != latent_dim else "")
            )
        kwargs.setdefault("name", "generator")
        super().__init__(latent_dim, output_dim, n_modes, layers, cutoff_dim, **kwargs)
        self.latent_dim = int(latent_dim)

    def generate(self, z: Any, averaged: bool = True) -> tf.Tensor:
        """Samples ``[B, output_dim]`` for latent vectors ``z [B, latent_dim]`` (any ``B``).

        Inference needs no tape: large batches run in chunks that fit the engine's memory
        limit (which :meth:`forward` applies to a whole training batch). Where a trainer keeps
        a moving average of the weights (``ema_decay``), the samples are the averaged
        generator's; ``averaged=False`` gives the last iterate's.
        """
        with self.using_average(averaged):
            return self._inference(z)["output"]

    def generate_with_measurements(self, z: Any, averaged: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
        """``(samples, measurements)``: the homodyne means (or samples) before ``output_scale``."""
        with self.using_average(averaged):
            out = self._inference(z)
        return out["output"], out["measurements"]

    def inference_chunk(self) -> int | None:
        """Rows one inference call takes: those whose *training* memory estimate fits the
        engine's limit (ample: inference keeps no tape); None for an engine without an estimate."""
        if not hasattr(self.engine, "memory_estimate"):
            return None
        per_row = self.engine.memory_estimate(self.circuit, 1, self.dtype)
        return max(1, int(self.engine.max_memory_bytes // per_row))

    def _inference(self, z: Any) -> dict[str, tf.Tensor]:
        z = check_batch(z, self._input_name, self.n_inputs, self.real_dtype)
        rows = int(tf.shape(z)[0])
        chunk = self.inference_chunk()
        if chunk is not None:
            self.engine.check_memory(self.circuit, 1, self.dtype)
        else:
            chunk = rows
            if hasattr(self.engine, "check_memory"):  # an engine that cannot chunk checks the whole batch
                self.engine.check_memory(self.circuit, self._circuit_rows(rows), self.dtype)
        outs = [self._forward(z[i : i + chunk]) for i in range(0, rows, chunk)]
        return self._warn_outside_cutoff({key: tf.concat([out[key] for out in outs], 0) for key in outs[0]})

    def cat_weights(self) -> dict[str, np.ndarray]:
        """Hand-set weights whose sampled output is the guide's bimodal target.

        A squeezed cat sent through a beamsplitter: ``S(ln 2)`` on modes 0 and 1, ``D(sqrt 2)`` and ``K(pi/2)`` on
        mode 0 (layer 0), then a 50:50 beamsplitter on modes 0, 1 (layer 1); every other
        weight 0. With ``readout="sample"`` the output has modes near ``+-(2, 2)``, std about
        0.5 (needs ``n_modes >= 2``, ``layers >= 2``; cutoff 8 or more is accurate).
        Taught in ``03_measuring_cv_states``.
        """
        if self.n_modes < 2 or self.layers < 2:
            raise ValueError(f"cat_weights needs n_modes >= 2 and layers >= 2, got {self.n_modes}, {self.layers}")
        weights = {key: np.zeros(value.shape) for key, value in self.weights.items()}
        weights["L0_squeeze_r"][:2] = np.log(2.0)
        weights["L0_disp_r"][0] = np.sqrt(2.0)
        weights["L0_kerr"][0] = np.pi / 2
        weights["L1_int1_theta"][0] = np.pi / 4  # the first beamsplitter of the mesh acts on (0, 1)
        return weights


class PureQuantumDiscriminator(QuantumCircuitModel):
    """Quantum discriminator/critic: ``x [B, input_dim]`` -> score ``[B, 1]``.

    With the default ``readout="mean"`` the score is the combined homodyne mean of all modes,
    an unbounded real number (in practice within about +-2 sqrt(cutoff)), usable as a
    Wasserstein critic or as the logit of binary cross-entropy. The guide's configuration is
    ``PureQuantumDiscriminator(input_dim=2, n_modes=2, layers=2, cutoff_dim=6)``.

    At initialisation that score is close to affine in ``x`` (only the small active gates bend
    it), and an affine Wasserstein critic only compares means. Two options make the critic
    expressive from the start (still one quantum circuit and one observable):

    * ``readout`` - ``"mean"`` (default), ``"photon_number"`` (``sum_i s_i <n_i> + b``),
      ``"vacuum"`` (``sum_i s_i P_i(0) + b``) or ``"fock"`` (``sum_ik w_ik P_i(k) + b``), with
      trainable ``s``/``w`` (key ``readout_weights``) and ``b`` (``readout_bias``); see
      :mod:`qgan_lab.models.readouts`. ``output_scale`` multiplies every readout.
    * ``reupload`` - repeat the input displacements before every layer (data re-uploading).

    A critic must score *every* input the generator can produce, and a displacement by an
    unbounded input pushes the state out of the cutoff, where the score is no longer the
    circuit's. ``encoding`` chooses how an input enters:

    * ``"displacement"`` (default, the guide's) - ``Dgate(s * x_k)``: unbounded in ``x``;
    * ``"bounded"`` - ``Dgate(s * tanh((x_k - c_k) / w_k))``: a displacement of at most ``s``;
    * ``"phase"`` - a reference ``Dgate(s, 0)``, then ``Dgate(s, phi_k)`` with ``phi_k = PHASE_RANGE *
      tanh((x_k - c_k) / w_k)``: the amplitude ``s (1 + e^{i phi_k})`` carries the input as an angle;
      re-upload ``l`` is a rotation ``Rgate((l + 1) phi_k)``, which conserves photon number (``input_dim <= n_modes``;
      see :class:`~qgan_lab.sim.circuits.CVCircuit`).

    With either bounded encoding the input moves each mode's amplitude by at most ``s`` per upload
    (``"bounded"``) or ``2 s`` once (``"phase"``), so the state's trace is bounded below for all
    inputs at once (it is a continuous function of ``u = tanh(...)`` in the compact ``[-1, 1]^d``:
    :meth:`min_trace_over_inputs`). The price is resolution: a coherent state resolves its
    amplitude to about 1/2 and its phase to about ``1 / (2 |alpha|)``, so fewer photons see the
    input more coarsely (notebook 02 shows both).
    ``input_center`` (``c``) and ``input_width`` (``w``), one number or one per feature, put the
    data in the squashing's near-linear range; :func:`qgan_lab.config.build` derives them from
    the data (``input_width = "auto"``).

    ``forward()`` also returns ``photon_numbers`` ``<n_i>`` ``[B, n_modes]`` for these readouts.
    Taught in ``02_quantum_models`` (section "An expressive critic").
    """

    _input_name = "x"
    READOUTS = CRITIC_READOUTS

    def __init__(
        self,
        input_dim: int = 2,
        n_modes: int = 2,
        layers: int = 2,
        cutoff_dim: int = 6,
        *,
        readout: str = "mean",
        reupload: bool = False,
        encoding: str = "displacement",
        input_center: Any = 0.0,
        input_width: Any = 1.0,
        **kwargs: Any,
    ):
        _check_int("input_dim", input_dim, 1)
        _check_int("n_modes", n_modes, 1)
        if not isinstance(encoding, str) or encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        most = n_modes if encoding == "phase" else 2 * n_modes
        if input_dim > most:
            raise ValueError(
                f"input_dim={input_dim} cannot be encoded on n_modes={n_modes} with encoding={encoding!r}: "
                f"at most {most}"
            )
        self.encoding = encoding
        self.input_center = _per_feature("input_center", input_center, input_dim)
        self.input_width = _per_feature("input_width", input_width, input_dim, positive=True)
        kwargs.setdefault("name", "discriminator")
        super().__init__(input_dim, 1, n_modes, layers, cutoff_dim, readout=readout, **kwargs)
        circuit_encoding = "phase" if encoding == "phase" else "displacement"
        self.circuit = dataclasses.replace(self.circuit, reupload=reupload, encoding=circuit_encoding)
        for key, value in init_readout(readout, n_modes, cutoff_dim, self.seed).items():
            self.weights[key] = tf.Variable(value, dtype=self.real_dtype, name=key)
        self.input_dim = int(input_dim)

    @property
    def reupload(self) -> bool:
        return self.circuit.reupload

    def architecture(self) -> dict[str, Any]:
        """As for every model, plus ``reupload`` and the input encoding."""
        extra: dict[str, Any] = {"reupload": self.reupload}
        if self.encoding != "displacement":  # (keys of older checkpoints unchanged)
            extra.update(
                encoding=self.encoding,
                input_center=self.input_center.tolist(),
                input_width=self.input_width.tolist(),
                encoding_scale=self.circuit.encoding_scale,
            )
        return {**super().architecture(), **extra}

    def encode(self, x: tf.Tensor) -> tf.Tensor:
        """What the circuit loads for inputs ``x``: ``x`` itself (``"displacement"``),
        ``u = tanh((x - c) / w)`` (``"bounded"``) or the angle ``PHASE_RANGE * u`` (``"phase"``)."""
        if self.encoding == "displacement":
            return x
        center = tf.constant(self.input_center, x.dtype)
        u = tf.tanh((x - center) / tf.constant(self.input_width, x.dtype))
        return PHASE_RANGE * u if self.encoding == "phase" else u

    def ket(self, inputs: Any) -> tf.Tensor:
        """The output state for a batch of (already checked) inputs, after :meth:`encode`."""
        return self.engine.ket(self.circuit, self.weights, self.encode(inputs), self.dtype)

    def min_trace_over_inputs(self, points_per_axis: int = 41) -> float:
        """The smallest trace over *every* input, for the bounded encodings.

        The state depends on ``x`` only through ``u = tanh((x - c) / w)`` in ``[-1, 1]^d``, so a grid
        over that cube (its corners are the limits ``|x| -> inf``) covers every input; between grid
        points the trace is a smooth function of ``u``. ``ValueError`` for ``"displacement"``,
        whose inputs are unbounded.
        """
        if self.encoding == "displacement":
            raise ValueError("min_trace_over_inputs needs a bounded encoding ('bounded' or 'phase')")
        u = np.linspace(-1.0, 1.0, points_per_axis)
        grid = np.stack(np.meshgrid(*([u] * self.input_dim), indexing="ij"), -1).reshape(-1, self.input_dim)
        # the x whose tanh((x - c) / w) is u; the corners (u = +-1) as the encoded limit itself
        encoded = tf.constant(grid, self.real_dtype)
        if self.encoding == "phase":
            encoded = PHASE_RANGE * encoded
        ket = self.engine.ket(self.circuit, self.weights, encoded, self.dtype)
        return float(tf.reduce_min(state_trace(ket)))

    def _forward_impl(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.readout == "mean":  # (no zero-argument super(): AutoGraph, which a user's own
            # tf.function applies, mis-converts it; the package's tf.functions run without it)
            return QuantumCircuitModel._forward_impl(self, inputs)
        ket = self.ket(inputs)
        measurements = critic_score(self.readout, ket, self.weights, self.cutoff_dim)
        return self._outputs(ket, measurements, photon_numbers=mean_photon_numbers(ket))

    def discriminate(self, x: Any) -> tf.Tensor:
        """Scores ``[B, 1]`` for samples ``x [B, input_dim]``."""
        return self.forward(x)["output"]
