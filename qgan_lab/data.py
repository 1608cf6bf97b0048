"""Target distributions: the guide's bimodal generator, more mixtures, skewed and heavy tails.

A target is anything with a ``dim`` and a ``sample(n, rng)`` method: equal-weight Gaussian
:class:`Mixture` s (whose centres give mode coverage), a :class:`SkewedTarget` (centred
log-normal features) or a :class:`HeavyTailedTarget` (Student-t features), so that the same
architecture is not tuned to a single picture. :func:`make_data_generator` returns a
zero-argument callable yielding ``[batch, dim]`` float32 batches (the guide's interface) and
:func:`validation_set` a fixed-seed array. Any callable returning ``[batch, d]`` batches also works
as a data generator for the trainer. Taught in ``04_loss_functions`` and ``06_training_loop``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .validation import BadType, BadValue


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


@dataclass(frozen=True)
class SkewedTarget:
    """Independent right-skewed features: ``scale * (exp(sigma g) - E[exp(sigma g)])``, g ~ N(0, 1).

    Centred log-normal marginals (skewness about 1.8 at ``sigma = 0.5``); no modes to cover.
    """

    dim: int = 2
    sigma: float = 0.5
    scale: float = 1.5

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        g = rng.standard_normal((n, self.dim))
        return (self.scale * (np.exp(self.sigma * g) - np.exp(self.sigma**2 / 2))).astype(np.float32)


@dataclass(frozen=True)
class HeavyTailedTarget:
    """Independent Student-t features with ``df`` degrees of freedom times ``scale`` (heavy tails)."""

    dim: int = 2
    df: float = 3.0
    scale: float = 0.7

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return (self.scale * rng.standard_t(self.df, size=(n, self.dim))).astype(np.float32)


Target = Mixture | SkewedTarget | HeavyTailedTarget


def ring(k: int, radius: float) -> list[tuple[float, float]]:
    """``k`` points evenly spaced on a circle of ``radius`` (the classic "ring of Gaussians")."""
    angles = 2 * np.pi * np.arange(k) / k
    return [(float(radius * np.cos(a)), float(radius * np.sin(a))) for a in angles]


TARGETS: dict[str, Target] = {
    "bimodal": Mixture(((-2.0, -2.0), (2.0, 2.0)), 0.5),
    "gaussian": Mixture(((1.0, -0.5),), 0.5),
    "four_modes": Mixture(((-2.0, -2.0), (-2.0, 2.0), (2.0, -2.0), (2.0, 2.0)), 0.4),
    "three_modes": Mixture(((-2.5, -1.5), (0.0, 2.0), (2.5, -1.5)), 0.5),
    "bimodal_1d": Mixture(((-2.0,), (2.0,)), 0.5),
    "trimodal_1d": Mixture(((-3.0,), (0.0,), (3.0,)), 0.5),
    "skewed": SkewedTarget(),
    "skewed_1d": SkewedTarget(dim=1),
    "heavy_tailed": HeavyTailedTarget(),
    "ring8": Mixture(tuple(ring(8, 2.0)), 0.3),
}


def get_target(name: str | Target) -> Target:
    """A target by name (see :data:`TARGETS`) or a target object as is."""
    if not isinstance(name, str):
        if not (hasattr(name, "sample") and hasattr(name, "dim")):
            raise TypeError(f"target must be a name in {sorted(TARGETS)} or have .dim and .sample(n, rng)")
        return name
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of {sorted(TARGETS)}")
    return TARGETS[name]


def make_data_generator(
    target: str | Target = "bimodal", batch_size: int = 16, seed: int | None = None
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


def validation_set(target: str | Target = "bimodal", n: int = 5000, seed: int = 12345) -> np.ndarray:
    """A fixed-seed ``[n, dim]`` sample of ``target`` for evaluation."""
    return get_target(target).sample(n, np.random.default_rng(seed))


def centers_of(target: str | Target) -> np.ndarray | None:
    """A mixture's centres as an array ``[k, dim]`` (for mode coverage); None for other targets."""
    centers = getattr(get_target(target), "centers", None)
    return None if centers is None else np.asarray(centers, dtype=np.float64)


def as_numbers(values: object, name: str, verb: str = "holds") -> np.ndarray:
    """``values`` as a numeric array; ragged rows are a ``BadValue``, strings or other objects a
    ``BadType``, both naming ``name``."""
    try:
        array = np.asarray(values)
    except ValueError as exc:  # rows of different lengths
        raise BadValue(name, f"{verb} rows of different lengths, not a [batch, features] array ({exc})") from exc
    if array.dtype.kind not in "biuf":
        example = repr(array.flat[0]) if array.size else "none"
        raise BadType(name, f"{verb} {array.dtype} values (e.g. {example}), not numbers")
    return array


def check_batch_source(data_generator: Callable[[], object], expected_dim: int | None = None) -> np.ndarray:
    """Draw one batch and check it: numbers, rank 2, finite, the expected width. Returns the batch."""
    batch = as_numbers(data_generator(), "data_generator", "returns")
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
    "HeavyTailedTarget",
    "Mixture",
    "SkewedTarget",
    "TARGETS",
    "Target",
    "centers_of",
    "as_numbers",
    "check_batch_source",
    "create_bimodal_data_generator",
    "get_target",
    "make_data_generator",
    "ring",
    "validation_set",
]
