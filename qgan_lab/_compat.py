"""The one place that adapts third-party packages to each other.

* Strawberry Fields 0.23 does ``from scipy.integrate import simps``; SciPy 1.14 removed
  ``simps`` in favour of ``simpson`` (same integral). We alias it before SF is imported.
* TensorFlow prints INFO/WARNING lines from C++ and absl on import; a teaching notebook
  should stay quiet, so we lower the log level unless the user already chose one. The
  one line that ignores the log level is oneDNN's notice that it reorders floating-point
  sums; we switch those oneDNN kernels off (``TF_ENABLE_ONEDNN_OPTS=0``), which also makes
  results bit-for-bit reproducible. Both only apply if set before TensorFlow is imported,
  which is why ``qgan_lab/__init__.py`` imports this module first.
* XLA's CPU compiler: :func:`set_xla_cpu_flags` switches off its MLIR fusion emitters, which
  lowers the peak memory of a training process by 220-280 MiB at the same speed (measured).

Every module that needs Strawberry Fields calls :func:`import_strawberryfields` instead of
importing it directly. Taught in ``01_cv_circuits``.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's per-thread malloc arenas (what ``MALLOC_ARENA_MAX`` does at start-up).

    TensorFlow's and XLA's threads each get an arena that keeps freed memory; capping them
    lowers the peak resident memory of a training process by ~50-80 MB (measured with
    ``benchmarks/bench_training.py``). Only affects threads started afterwards, hence it runs
    when ``qgan_lab`` is imported, before TensorFlow. No-op where glibc is not the allocator
    or the user set ``MALLOC_ARENA_MAX`` already.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        m_arena_max = -8  # from glibc's malloc.h
        return bool(ctypes.CDLL(name).mallopt(m_arena_max, arenas))
    except (OSError, AttributeError):
        return False


limit_malloc_arenas()

#: XLA flags qgan-lab sets unless the user's ``XLA_FLAGS`` names them. Measured on 2 cores
#: (``benchmarks/bench_training.py``, each setting in a fresh process): the older loop emitters
#: compile the same programs with 220-280 MiB less peak memory (``bimodal`` 1500 -> 1278 MiB,
#: guide 1192 -> 916 MiB) and run them as fast (within the machine's drift).
XLA_CPU_FLAGS = {"xla_cpu_use_fusion_emitters": "false"}
#: the oldest TensorFlow whose XLA knows :data:`XLA_CPU_FLAGS` that we tested (XLA aborts the
#: process on a flag it does not know, so older versions get none)
XLA_FLAGS_SINCE = (2, 21)


def _tensorflow_version() -> tuple[int, ...]:
    """The installed TensorFlow's (major, minor), read without importing it; () if unknown."""
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return tuple(int(part) for part in metadata.version(dist).split(".")[:2])
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return ()


def set_xla_cpu_flags(flags: dict[str, str] | None = None) -> str:
    """Append ``flags`` (default :data:`XLA_CPU_FLAGS`) to ``XLA_FLAGS``, except those the user
    set; returns the new value. Leaves ``XLA_FLAGS`` alone if it names a flag file (XLA reads a
    value that does not start with ``-`` as one) or TensorFlow is older than
    :data:`XLA_FLAGS_SINCE`. XLA reads ``XLA_FLAGS`` once, at its first compilation, so this
    must run before anything is compiled (``import qgan_lab`` does it)."""
    current = os.environ.get("XLA_FLAGS", "").strip()
    if (current and not current.startswith("-")) or _tensorflow_version() < XLA_FLAGS_SINCE:
        return current
    named = {item.lstrip("-").split("=")[0] for item in current.split()}
    flags = XLA_CPU_FLAGS if flags is None else flags
    added = [f"--{name}={value}" for name, value in flags.items() if name not in named]
    os.environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return os.environ["XLA_FLAGS"]


set_xla_cpu_flags()


def quiet_tensorflow() -> ModuleType:
    """Import TensorFlow with its Python logger at ERROR level and return it."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:  # absl prints "WARNING: All log messages before absl::InitializeLog()..."
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass
    return tf


def patch_scipy_simps() -> bool:
    """Give ``scipy.integrate`` a ``simps`` alias of ``simpson`` if it lacks one.

    Returns True when the alias was added (SciPy >= 1.14), False when SciPy still has it.
    """
    import scipy.integrate

    if hasattr(scipy.integrate, "simps"):
        return False
    scipy.integrate.simps = scipy.integrate.simpson
    return True


def import_strawberryfields() -> ModuleType:
    """Import and return ``strawberryfields`` after applying the SciPy shim."""
    patch_scipy_simps()
    quiet_tensorflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import strawberryfields as sf
    return sf


def release_memory() -> bool:
    """Hand freed heap pages back to the operating system (glibc ``malloc_trim``).

    Compiling an XLA function needs a few hundred MB for a moment; glibc keeps that memory
    mapped after it is freed, so the *next* compilation would start from a higher base. The
    trainer calls this after each compilation, which keeps the peak resident memory of a
    training process under Binder's limit. Returns False where glibc is not available.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0))
    except (OSError, AttributeError):
        return False
