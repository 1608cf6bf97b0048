"""The pure quantum generator of the guide: latent vectors in, samples out.

Its circuit, input encoding and readouts (homodyne means, or one homodyne sample per row) are
those of :mod:`qgan_lab.models.circuit_model`. Taught in ``02_quantum_models`` and
``03_measuring_cv_states``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ..sim.circuits import _check_int
from .averaging import WeightAverage
from .circuit_model import QuantumCircuitModel, check_batch


class PureQuantumGenerator(WeightAverage, QuantumCircuitModel):
    """Quantum generator: latent ``z [B, latent_dim]`` -> samples ``[B, output_dim]``.

    The guide's configuration is ``PureQuantumGenerator(latent_dim=4, output_dim=2,
    n_modes=4, layers=2, cutoff_dim=6)``. Keyword options: ``engine`` (``"fock"`` compiled,
    default, or ``"sf"`` Strawberry Fields), ``dtype`` (``tf.complex64`` or
    ``tf.complex128``; outputs are float32 or float64 to match), ``encoding_scale``,
    ``output_scale``, ``passive_std``, ``active_std``, ``seed``, and ``readout``: ``"mean"``
    (default, the guide's homodyne means) or ``"sample"`` (one homodyne sample per row, see
    :mod:`qgan_lab.models.circuit_model`; needs ``output_dim <= n_modes`` and
    ``latent_dim >= output_dim``).
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
