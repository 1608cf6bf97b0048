"""Shared fixtures: deterministic seeds, no test leaking environment variables to the next, and
the browser test's Chromium.

Each notebook runs once per ``make test``: where the browser test (``tests/browser``) will run a
notebook end to end (JupyterLab's Run All, every output checked for errors), nbval does not run it
again. Where Chromium or Playwright is missing the browser test skips, and nbval runs every notebook.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import qgan_lab  # noqa: F401  (quiet TensorFlow, patch SciPy first)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(1234)
    tf.random.set_seed(1234)
    yield


@pytest.fixture(autouse=True)
def _restore_environment():
    """Put ``os.environ`` back after each test. The CLI sets ``MPLBACKEND=Agg`` for its own
    process; called in-process by a test, that leaked into every later test of the worker, and
    the browser test's kernels (started with this environment) drew no inline plots."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


def rel_err(a, b) -> float:
    """Relative error ``|a - b| / max(|b|, tiny)`` over whole arrays."""
    a, b = np.asarray(a, dtype=np.complex128), np.asarray(b, dtype=np.complex128)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


BROWSER_TESTS = Path(__file__).resolve().parent / "browser"
NOTEBOOKS = BROWSER_TESTS.parents[1] / "notebooks"
CHROMIUM = os.environ.get("QGAN_LAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def critic_loss_and_gradient(model, x) -> tuple[float, np.ndarray]:
    """``sum(sin(D(x)))`` and its gradient over every trainable variable, flattened: what the engine
    agreement tests compare between the compiled engine and Strawberry Fields."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.sin(model.discriminate(x)))
    grads = tape.gradient(loss, model.trainable_variables)
    return float(loss), np.concatenate([g.numpy().ravel() for g in grads])


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None where it can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright missing: pip install -e '.[dev]'"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM}: `make browser` installs Debian's chromium (needs apt-get)"
    return None


def notebook_of(test_name: str) -> str | None:
    """``test_notebook_06_...`` runs the notebook whose name starts with ``06_``."""
    match = re.match(r"test_notebook_(\d\d)_", test_name)
    if not match:
        return None
    found = sorted(NOTEBOOKS.glob(f"{match.group(1)}_*.ipynb"))
    return found[0].name if found else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if browser_missing():
        return
    in_browser = {notebook_of(item.name) for item in items if item.path.parent == BROWSER_TESTS}
    in_browser.discard(None)
    twice = [item for item in items if item.path.suffix == ".ipynb" and item.path.name in in_browser]
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = [item for item in items if item not in twice]


def pytest_report_header(config: pytest.Config) -> str:
    missing = browser_missing()
    if missing:
        return f"browser test: will skip ({missing}); nbval runs every notebook"
    return f"browser test: Chromium at {CHROMIUM}; the notebooks it runs end to end are not run again by nbval"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Chromium's executable; skips, saying why, where the browser test cannot run."""
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    return CHROMIUM
