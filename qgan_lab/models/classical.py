"""Classical controls: small MLPs with the interface the trainer expects of a model.

Not part of any quantum model: they answer *where does the quantum model stand?* Each one
slots into :class:`~qgan_lab.training.trainer.QuantumGANTrainer` in place of a quantum model, so that
everything else of a run (data, loss, schedule, seeds, evaluation) stays the same:

* :class:`ClassicalCritic` - the critic swapped for an MLP (two hidden layers, leaky ReLU):
  if the quantum generator then learns, the quantum critic was the bottleneck
  (``benchmarks/adversarial_control.py``);
* :class:`ClassicalGenerator` - the generator swapped for an MLP with about as many parameters
  as the quantum one (:func:`matching_width`), fed the same standard-normal latent vectors: the
  classical rows of ``benchmarks/bench_quality.py``.

Neither has a cutoff: their "trace" is 1. Taught in ``06_training_loop``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import tensorflow as tf

from .averaging import WeightAverage


class _MLP(tf.Module):
    """``sizes[0] -> ... -> sizes[-1]``, leaky-ReLU hidden layers, Glorot-uniform initialisation."""

    def __init__(self, sizes: list[int], seed: int, name: str):
        super().__init__(name=name)
        init = tf.keras.initializers.GlorotUniform(seed=seed)
        self.sizes = [int(n) for n in sizes]
        self.weights = {}
        for i, (a, b) in enumerate(zip(self.sizes, self.sizes[1:])):
            self.weights[f"kernel_{i}"] = tf.Variable(init([a, b]), name=f"kernel_{i}")
            self.weights[f"bias_{i}"] = tf.Variable(tf.zeros([b]), name=f"bias_{i}")
        self.real_dtype = self.dtype = tf.float32  # (the trainer reads both)
        self.engine = SimpleNamespace(compilable=True)
        self._jit = True

    @property
    def n_parameters(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.weights.values()))

    def _mlp(self, x: tf.Tensor) -> tf.Tensor:
        h = tf.cast(x, tf.float32)
        layers = len(self.sizes) - 1
        for i in range(layers):
            h = h @ self.weights[f"kernel_{i}"] + self.weights[f"bias_{i}"]
            if i < layers - 1:
                h = tf.nn.leaky_relu(h, 0.2)
        return h

    def architecture(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "sizes": self.sizes}

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.numpy().copy() for k, v in self.weights.items()}


class ClassicalCritic(_MLP):
    """An MLP critic ``x [B, input_dim] -> [B, 1]`` (two hidden layers of ``hidden`` units)."""

    def __init__(self, input_dim: int, hidden: int = 64, seed: int = 0):
        super().__init__([input_dim, hidden, hidden, 1], seed, "classical_critic")
        self.input_dim = int(input_dim)

    def _forward_impl(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        h = self._mlp(x)
        return {"output": h, "trace": tf.ones([tf.shape(h)[0]]), "measurements": h}


class ClassicalGenerator(WeightAverage, _MLP):
    """An MLP generator ``z [B, latent_dim] -> [B, output_dim]`` (two hidden layers of ``hidden``)."""

    def __init__(self, latent_dim: int, output_dim: int, hidden: int, seed: int = 0):
        super().__init__([latent_dim, hidden, hidden, output_dim], seed, "classical_generator")
        self.latent_dim, self.output_dim = int(latent_dim), int(output_dim)

    def _forward_impl(self, z: tf.Tensor) -> dict[str, tf.Tensor]:
        h = self._mlp(z)
        return {"output": h, "trace": tf.ones([tf.shape(h)[0]]), "measurements": h}

    def inference_chunk(self) -> None:
        return None  # no memory limit to respect

    def generate(self, z: Any, averaged: bool = True) -> tf.Tensor:
        with self.using_average(averaged):
            return self._forward_impl(tf.convert_to_tensor(z, tf.float32))["output"]


def matching_width(n_parameters: int, latent_dim: int, output_dim: int) -> int:
    """The smallest hidden width whose two-hidden-layer MLP generator has at least
    ``n_parameters`` parameters (the quantum generator's count): a fair-sized classical row."""
    hidden = 1
    while (latent_dim + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * output_dim < n_parameters:
        hidden += 1
    return hidden


__all__ = ["ClassicalCritic", "ClassicalGenerator", "matching_width"]
