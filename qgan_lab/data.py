"""Target distributions: the guide's bimodal generator and a few small mixtures.

Every target is a Gaussian mixture ``(centers, std)``; :func:`make_data_generator` returns a
zero-argument callable yielding ``[batch, dim]`` float32 batches (the guide's interface) and
:func:`validation_set` a fixed-seed array. Taught in ``04_loss_functions`` and ``06_training_loop``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians."""

    centers: tuple[tuple[float, ...], ...]
    std: float

    @property
    def dim(self) -> int:
        return len(self.centers[0])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples: ``n // k`` per component (the guide's exact balance), shuffled."""
        k = len(self.centers)
        counts = [n // k + (1 if i < n % k else 0) for i in range(k)]
        parts = [rng.normal(c, self.std, size=(m, self.dim)) for c, m in zip(self.centers, counts)]
        out = np.concatenate(parts).astype(np.float32)
        return out[rng.permutation(n)]


TARGETS: dict[str, Mixture] = {
    "bimodal": Mixture(((-2.0, -2.0), (2.0, 2.0)), 0.5),
    "gaussian": Mixture(((1.0, -0.5),), 0.5),
    "four_modes": Mixture(((-2.0, -2.0), (-2.0, 2.0), (2.0, -2.0), (2.0, 2.0)), 0.4),
}


def get_target(name: str | Mixture) -> Mixture:
    """A target by name (see :data:`TARGETS`) or a :class:`Mixture` as is."""
    if isinstance(name, Mixture):
        return name
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of {sorted(TARGETS)}")
    return TARGETS[name]


def make_data_generator(
    target: str | Mixture = "bimodal", batch_size: int = 16, seed: int | None = None
) -> Callable[[], tf.Tensor]:
    """A callable returning a fresh ``[batch_size, dim]`` float32 batch on each call."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    mixture = get_target(target)
    rng = np.random.default_rng(seed)

    def data_generator() -> tf.Tensor:
        return tf.constant(mixture.sample(int(batch_size), rng))

    data_generator.rng = rng  # type: ignore[attr-defined]  (checkpoints save its state)
    data_generator.target = mixture  # type: ignore[attr-defined]
    data_generator.batch_size = int(batch_size)  # type: ignore[attr-defined]
    return data_generator


def create_bimodal_data_generator(batch_size: int = 16, seed: int | None = None) -> Callable[[], tf.Tensor]:
    """The guide's generator: half the batch around (-2, -2), half around (2, 2), std 0.5, shuffled."""
    return make_data_generator("bimodal", batch_size, seed)


def validation_set(target: str | Mixture = "bimodal", n: int = 5000, seed: int = 12345) -> np.ndarray:
    """A fixed-seed ``[n, dim]`` sample of ``target`` for evaluation."""
    return get_target(target).sample(n, np.random.default_rng(seed))


def centers_of(target: str | Mixture) -> np.ndarray:
    """The mixture's centres as an array ``[k, dim]`` (for mode coverage)."""
    return np.asarray(get_target(target).centers, dtype=np.float64)


def check_batch_source(data_generator: Callable[[], object], expected_dim: int | None = None) -> np.ndarray:
    """Draw one batch and check it: rank 2, finite, the expected width. Returns the batch."""
    batch = np.asarray(data_generator())
    if batch.ndim != 2 or batch.shape[0] < 1:
        raise ValueError(f"data_generator must return [batch, features], got shape {batch.shape}")
    if expected_dim is not None and batch.shape[1] != expected_dim:
        raise ValueError(
            f"data_generator returns {batch.shape[1]} features but the discriminator expects {expected_dim}"
        )
    if not np.all(np.isfinite(batch)):
        raise ValueError("data_generator returned NaN or inf values")
    return batch


__all__: Sequence[str] = [
    "Mixture",
    "TARGETS",
    "centers_of",
    "check_batch_source",
    "create_bimodal_data_generator",
    "get_target",
    "make_data_generator",
    "validation_set",
]
