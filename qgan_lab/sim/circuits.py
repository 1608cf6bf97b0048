"""Continuous-variable circuits: the quantum neural-network layer and its parameters.

A :class:`CVCircuit` is a *static description* of a circuit: an ordered tuple of
:class:`GateSpec` (gate name, modes, where each parameter comes from). Both simulation
engines execute the very same description, gate by gate, so they can be compared exactly:

* :mod:`qgan_lab.sim.sf_engine` turns it into a ``strawberryfields.Program`` with symbolic
  parameters (see :meth:`CVCircuit.to_program`), and
* :mod:`qgan_lab.sim.fock` runs it as a compiled, batched TensorFlow Fock simulation.

The layer is the CV neural-network layer of Killoran et al., *Continuous-variable quantum
neural networks*, Phys. Rev. Research 1, 033063 (2019)::

    interferometer -> squeezers -> interferometer -> displacements -> Kerr gates

with interferometers built as the rectangular mesh of beamsplitters ``BSgate(theta, phi)``
followed by rotations ``Rgate`` on all modes but the last (as in Strawberry Fields'
quantum-neural-network example). Inputs (latent vectors or data points) are encoded by
displacements before the first layer; with ``reupload=True`` they are repeated before every
layer (*data re-uploading*, Pérez-Salinas et al., Quantum 4, 226 (2020)), which makes the
circuit's output a richer, non-polynomial-in-few-terms function of its input. Taught in
``01_cv_circuits`` (re-uploading in ``02_quantum_models``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Gate names used in circuit descriptions, with Strawberry Fields' class for each.
GATE_NAMES = {"D": "Dgate", "S": "Sgate", "R": "Rgate", "BS": "BSgate", "K": "Kgate"}

#: How a :class:`CVCircuit` loads its inputs: a displacement by the input, or of the input's phase.
CIRCUIT_ENCODINGS = ("displacement", "phase")

#: Parameter groups of one layer, and whether each is *active* (changes the photon number).
LAYER_GROUPS = {
    "int1_theta": False,
    "int1_phi": False,
    "int1_rphi": False,
    "squeeze_r": True,
    "int2_theta": False,
    "int2_phi": False,
    "int2_rphi": False,
    "disp_r": True,
    "disp_phi": False,
    "kerr": True,
}


@dataclass(frozen=True)
class ParamRef:
    """Where one gate parameter comes from.

    ``source`` is ``"w"`` (trainable weight ``group[index]``), ``"x"`` (input feature
    ``index`` times the circuit's :attr:`~CVCircuit.input_scale` times ``factor``) or ``"c"``
    (the constant ``value``).
    """

    source: str
    group: str = ""
    index: int = 0
    value: float = 0.0
    factor: float = 1.0

    @property
    def symbol(self) -> str:
        """Name of the symbolic Strawberry Fields parameter for this reference."""
        if self.source == "w":
            return f"{self.group}_{self.index}"
        if self.source == "x":
            return f"x_{self.index}" if self.factor == 1.0 else f"x_{self.index}_times_{self.factor:g}"
        return repr(self.value)


@dataclass(frozen=True)
class GateSpec:
    """One gate: ``name`` (a key of :data:`GATE_NAMES`), the ``modes`` it acts on, its params."""

    name: str
    modes: tuple[int, ...]
    params: tuple[ParamRef, ...]

    @property
    def per_sample(self) -> bool:
        """Does a parameter come from the inputs (``x``), so that the gate differs per sample?"""
        return any(ref.source == "x" for ref in self.params)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def n_beamsplitters(n_modes: int) -> int:
    """Beamsplitters in one rectangular interferometer mesh on ``n_modes`` modes."""
    return n_modes * (n_modes - 1) // 2


def mesh_pairs(n_modes: int) -> list[tuple[int, int]]:
    """Mode pairs of the rectangular beamsplitter mesh, in the order they are applied."""
    pairs = []
    for depth in range(n_modes):
        for k in range(n_modes - 1):
            if (depth + k) % 2 != 1:
                pairs.append((k, k + 1))
    return pairs


class ProgramMixin:
    """Strawberry Fields export shared by :class:`CVCircuit` and :class:`GateList`."""

    n_modes: int
    encoding_scale: float

    @property
    def input_scale(self) -> float:
        """What an input feature is multiplied by to give its gate parameter (``"x"`` refs)."""
        return self.encoding_scale

    def gates(self) -> tuple[GateSpec, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_program(self):
        """This circuit as a ``strawberryfields.Program`` with symbolic parameters.

        Every weight and input is a free parameter (``L0_int1_theta_0``, ``x_0``...), bound
        when the program runs. ``print(circuit.to_program())`` or ``.print()`` lists it.
        """
        from .._compat import import_strawberryfields

        sf = import_strawberryfields()
        from strawberryfields import ops

        prog = sf.Program(self.n_modes, name="cv_qnn")
        symbols: dict[str, Any] = {}

        def resolve(ref: ParamRef):
            if ref.source == "c":
                return ref.value
            if ref.symbol not in symbols:
                symbols[ref.symbol] = prog.params(ref.symbol)
            return symbols[ref.symbol]

        with prog.context as q:
            for gate in self.gates():
                op = getattr(ops, GATE_NAMES[gate.name])(*map(resolve, gate.params))
                op | tuple(q[m] for m in gate.modes)
        return prog

    def program_args(self, weights: Mapping[str, Any], inputs: Any | None = None) -> dict[str, Any]:
        """Values for the free parameters of :meth:`to_program` (weights and scaled inputs)."""
        args: dict[str, Any] = {}
        for gate in self.gates():
            for ref in gate.params:
                if ref.source == "w":
                    args[ref.symbol] = weights[ref.group][ref.index]
                elif ref.source == "x":
                    args[ref.symbol] = self.input_scale * ref.factor * inputs[:, ref.index]
        return args


@dataclass(frozen=True)
class CVCircuit(ProgramMixin):
    """A layered CV quantum neural network with displacement-encoded inputs.

    Args:
        n_modes: number of optical modes (>= 1).
        layers: number of Killoran layers (>= 1).
        cutoff_dim: Fock-space truncation per mode (>= 2): photon numbers 0 .. cutoff_dim - 1.
        n_inputs: number of input features encoded (0 <= n_inputs <= 2 * n_modes). Feature
            ``k < n_modes`` displaces mode ``k`` along x (``Dgate(s * x_k, 0)``); feature
            ``n_modes <= k < 2 n_modes`` displaces mode ``k - n_modes`` along p
            (``Dgate(s * x_k, pi/2)``). Modes without a feature start in vacuum.
        encoding_scale: ``s`` above, a fixed (not trained) number.
        reupload: if ``True`` the encoding displacements are applied again before every
            layer (data re-uploading), not only before the first. The weights are the same.
        encoding: ``"displacement"`` (above) or ``"phase"``: feature ``k`` sets the *phase* of a
            displacement of fixed amplitude ``s`` on mode ``k`` that follows a fixed reference
            displacement (``Dgate(s, 0)`` then ``Dgate(s, x_k)``: the coherent amplitude
            ``s (1 + e^{i x_k})``, whose photon number ``2 s^2 (1 + cos x_k)`` reads the angle
            from the first gate on). Re-upload ``l`` (before layer ``l``) rotates mode ``k`` by
            ``(l + 1) x_k``, ``Rgate((l + 1) x_k)``: the higher multiples resolve the angle more
            finely, and the first upload tells their aliases apart (needs ``n_inputs <=
            n_modes``). The input moves the amplitude on a circle of radius ``s``, at most ``2 s``
            from vacuum whatever its value, and a rotation conserves photon number: no input can
            push the state out of the cutoff. The input enters as an angle
            (:class:`~qgan_lab.models.critic.PureQuantumDiscriminator` squashes it first).
    """

    n_modes: int
    layers: int
    cutoff_dim: int
    n_inputs: int = 0
    encoding_scale: float = 0.5
    reupload: bool = False
    encoding: str = "displacement"

    def __post_init__(self) -> None:
        _check_int("n_modes", self.n_modes, 1)
        _check_int("layers", self.layers, 1)
        if not isinstance(self.reupload, (bool, np.bool_)):
            raise TypeError(f"reupload must be True or False, got {type(self.reupload).__name__} {self.reupload!r}")
        _check_int("cutoff_dim", self.cutoff_dim, 2)
        _check_int("n_inputs", self.n_inputs, 0)
        if self.n_inputs > 2 * self.n_modes:
            raise ValueError(
                f"n_inputs={self.n_inputs} features cannot be encoded on n_modes="
                f"{self.n_modes} modes: at most 2 * n_modes = {2 * self.n_modes} "
                "(one x and one p displacement per mode)"
            )
        if not math.isfinite(self.encoding_scale):
            raise ValueError(f"encoding_scale must be finite, got {self.encoding_scale}")
        if self.encoding not in CIRCUIT_ENCODINGS:
            raise ValueError(f"encoding must be one of {CIRCUIT_ENCODINGS}, got {self.encoding!r}")
        if self.encoding == "phase" and self.n_inputs > self.n_modes:
            raise ValueError(
                f"encoding='phase' sets one displacement phase per mode: n_inputs={self.n_inputs} needs "
                f"n_inputs <= n_modes={self.n_modes}"
            )

    @property
    def input_scale(self) -> float:
        """The factor on an input in its gate: ``s`` for displacement, 1 for phase (the angle is the
        input itself; ``s`` is then the fixed amplitude)."""
        return 1.0 if self.encoding == "phase" else self.encoding_scale

    # ------------------------------------------------------------------ parameters
    def group_sizes(self) -> dict[str, int]:
        """Trainable parameter groups ``{"L0_int1_theta": 6, ...}`` in circuit order."""
        n = self.n_modes
        size = {
            "int1_theta": n_beamsplitters(n),
            "int1_phi": n_beamsplitters(n),
            "int1_rphi": max(1, n - 1),
            "squeeze_r": n,
            "int2_theta": n_beamsplitters(n),
            "int2_phi": n_beamsplitters(n),
            "int2_rphi": max(1, n - 1),
            "disp_r": n,
            "disp_phi": n,
            "kerr": n,
        }
        return {
            f"L{layer}_{group}": size[group]
            for layer in range(self.layers)
            for group in LAYER_GROUPS
            if size[group] > 0
        }

    @property
    def n_parameters(self) -> int:
        """Total number of trainable scalars."""
        return sum(self.group_sizes().values())

    def init_weights(
        self,
        seed: int | None = None,
        passive_std: float = 0.1,
        active_std: float = 0.1,
    ) -> dict[str, np.ndarray]:
        """Random initial weights, normal with separate scales for passive and active groups.

        Passive parameters (beamsplitter angles, phases) use ``passive_std``; active ones
        (squeezing, displacement amplitude, Kerr) use ``active_std``. No value is exactly 0:
        Strawberry Fields skips a gate whose first parameter is the constant 0, which would
        silently cut the gradient of the parameters behind it.
        """
        for name, std in (("passive_std", passive_std), ("active_std", active_std)):
            if not (math.isfinite(std) and std > 0):
                raise ValueError(f"{name} must be a positive finite number, got {std}")
        rng = np.random.default_rng(seed)
        weights = {}
        for key, size in self.group_sizes().items():
            group = key.split("_", 1)[1]
            std = active_std if LAYER_GROUPS[group] else passive_std
            values = rng.normal(0.0, std, size)
            values[values == 0.0] = std * 1e-3  # measure-zero event, but never exactly 0
            weights[key] = values
        return weights

    # ------------------------------------------------------------------ gates
    def encoding_gates(self, upload: int = 0) -> list[GateSpec]:
        """Displacements that load the input features (see the class docstring); for
        ``encoding="phase"``, re-upload ``upload >= 1`` rotates by ``(upload + 1) x_k``."""
        if self.encoding == "phase":
            if upload:
                rotations = []
                for k in range(self.n_inputs):
                    angle = ParamRef("x", index=k, factor=float(upload + 1))
                    rotations.append(GateSpec("R", (k,), (angle,)))
                return rotations
            amplitude = ParamRef("c", value=float(self.encoding_scale))
            gates = []
            for k in range(self.n_inputs):  # a fixed reference, then the input's phase: |s + s e^{i x}|
                gates.append(GateSpec("D", (k,), (amplitude, ParamRef("c", value=0.0))))
                gates.append(GateSpec("D", (k,), (amplitude, ParamRef("x", index=k))))
            return gates
        gates = []
        for k in range(self.n_inputs):
            mode, phase = (k, 0.0) if k < self.n_modes else (k - self.n_modes, math.pi / 2)
            gates.append(GateSpec("D", (mode,), (ParamRef("x", index=k), ParamRef("c", value=phase))))
        return gates

    def interferometer_gates(self, prefix: str) -> list[GateSpec]:
        """Rectangular beamsplitter mesh then rotations, parameters from ``prefix_*`` groups."""
        n = self.n_modes
        gates = []
        for i, (a, b) in enumerate(mesh_pairs(n)):
            theta, phi = ParamRef("w", f"{prefix}_theta", i), ParamRef("w", f"{prefix}_phi", i)
            gates.append(GateSpec("BS", (a, b), (theta, phi)))
        for mode in range(max(1, n - 1)):
            gates.append(GateSpec("R", (mode,), (ParamRef("w", f"{prefix}_rphi", mode),)))
        return gates

    def layer_gates(self, layer: int) -> list[GateSpec]:
        """The gates of layer ``layer`` (0-based)."""
        p = f"L{layer}"
        modes = range(self.n_modes)
        gates = self.interferometer_gates(f"{p}_int1")
        gates += [GateSpec("S", (m,), (ParamRef("w", f"{p}_squeeze_r", m), ParamRef("c", value=0.0))) for m in modes]
        gates += self.interferometer_gates(f"{p}_int2")
        for m in modes:
            r, phi = ParamRef("w", f"{p}_disp_r", m), ParamRef("w", f"{p}_disp_phi", m)
            gates.append(GateSpec("D", (m,), (r, phi)))
            gates.append(GateSpec("K", (m,), (ParamRef("w", f"{p}_kerr", m),)))
        return gates

    def gates(self) -> tuple[GateSpec, ...]:
        """Every gate of the circuit in the order it is applied."""
        gates = []
        for layer in range(self.layers):
            if layer == 0 or self.reupload:
                gates += self.encoding_gates(upload=layer)
            gates += self.layer_gates(layer)
        return tuple(gates)


@dataclass(frozen=True)
class GateList(ProgramMixin):
    """A hand-written circuit: any sequence of :class:`GateSpec` on ``n_modes`` modes.

    Used in ``01_cv_circuits`` to try single gates, and by the tests to compare each gate
    with Strawberry Fields. Weights referenced by the gates are supplied when it runs.
    """

    n_modes: int
    cutoff_dim: int
    gate_specs: tuple[GateSpec, ...]
    encoding_scale: float = 1.0
    layers: int = 1

    def __post_init__(self) -> None:
        _check_int("n_modes", self.n_modes, 1)
        _check_int("cutoff_dim", self.cutoff_dim, 2)
        for gate in self.gate_specs:
            if gate.name not in GATE_NAMES:
                raise ValueError(f"unknown gate {gate.name!r}; expected one of {sorted(GATE_NAMES)}")
            if any(not 0 <= m < self.n_modes for m in gate.modes):
                raise ValueError(f"gate {gate.name} acts on modes {gate.modes}, outside 0..{self.n_modes - 1}")

    def gates(self) -> tuple[GateSpec, ...]:
        return self.gate_specs
