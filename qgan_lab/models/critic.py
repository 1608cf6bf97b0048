"""The pure quantum discriminator (critic) of the guide: samples in, one score out.

Its circuit is that of :mod:`qgan_lab.models.circuit_model`; what it adds is the choice of
readout (:mod:`qgan_lab.models.readouts`), data re-uploading and the bounded input encodings.
Taught in ``02_quantum_models`` (section "An expressive critic").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from ..sim.circuits import _check_int
from ..sim.observables import mean_photon_numbers, state_trace
from .circuit_model import QuantumCircuitModel
from .readouts import READOUTS as CRITIC_READOUTS
from .readouts import critic_score, init_readout

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
