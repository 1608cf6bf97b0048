"""Shared fixtures: deterministic seeds and the guide's small configurations."""

import numpy as np
import pytest
import tensorflow as tf

import qgan_lab  # noqa: F401  (quiet TensorFlow, patch SciPy first)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(1234)
    tf.random.set_seed(1234)
    yield


def rel_err(a, b) -> float:
    """Relative error ``|a - b| / max(|b|, tiny)`` over whole arrays."""
    a, b = np.asarray(a, dtype=np.complex128), np.asarray(b, dtype=np.complex128)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))
