"""Sample-quality metrics for generated data.

Taught in ``07_evaluation_and_troubleshooting`` (used by the trainer's evaluation).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_2d(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [n, features] array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf values")
    return array


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance of two 1-D samples: the area between their empirical CDFs,
    ``sum |F_u(t) - F_v(t)| dt`` over the sorted pooled values (what ``scipy.stats.
    wasserstein_distance`` computes; tested equal. Numpy only: ``scipy.stats`` costs 54 MiB
    of memory when imported, and the trainer computes this every epoch)."""
    u, v = np.sort(u), np.sort(v)
    pooled = np.sort(np.concatenate([u, v]))
    cdf_u = np.searchsorted(u, pooled[:-1], side="right") / u.size
    cdf_v = np.searchsorted(v, pooled[:-1], side="right") / v.size
    return float(np.sum(np.abs(cdf_u - cdf_v) * np.diff(pooled)))


def wasserstein_per_feature(real: Any, generated: Any) -> np.ndarray:
    """1-D Wasserstein-1 distance between the marginals of each feature (:func:`wasserstein_1d`)."""
    real, generated = _as_2d(real, "real"), _as_2d(generated, "generated")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(f"real has {real.shape[1]} features, generated {generated.shape[1]}")
    return np.array([wasserstein_1d(real[:, j], generated[:, j]) for j in range(real.shape[1])])


def mode_coverage(samples: Any, centers: Any) -> np.ndarray:
    """Fraction of ``samples`` whose nearest centre is each of ``centers`` (sums to 1)."""
    samples, centers = _as_2d(samples, "samples"), _as_2d(centers, "centers")
    if samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples have {samples.shape[1]} features, centers {centers.shape[1]}")
    nearest = np.argmin(((samples[:, None, :] - centers[None, :, :]) ** 2).sum(-1), axis=1)
    return np.bincount(nearest, minlength=len(centers)) / len(samples)


def sample_statistics(samples: Any) -> dict[str, list[float]]:
    """Per-feature mean and standard deviation, and the total variance (collapse indicator)."""
    samples = _as_2d(samples, "samples")
    return {
        "mean": samples.mean(0).tolist(),
        "std": samples.std(0).tolist(),
        "total_variance": [float(samples.var(0).sum())],
    }


def evaluate_samples(generated: Any, real: Any, centers: Any | None = None) -> dict[str, Any]:
    """All metrics at once: per-feature and mean W1, statistics, mode coverage if ``centers``."""
    w1 = wasserstein_per_feature(real, generated)
    out: dict[str, Any] = {
        "wasserstein_per_feature": w1.tolist(),
        "wasserstein_mean": float(w1.mean()),
        "generated": sample_statistics(generated),
        "real": sample_statistics(real),
    }
    if centers is not None:
        out["mode_coverage"] = mode_coverage(generated, centers).tolist()
    return out
