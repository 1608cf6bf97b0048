"""Sweeps: ``python -m qgan_lab sweep SPEC.toml`` on Ray Tune, or one trial after another where
Ray does not fit (notebook 08).

* :mod:`~qgan_lab.sweep.spec` - the spec file (documented there), read and checked before any
  trial: :func:`load_spec`, :func:`parse_spec`, :class:`SweepSpec`;
* :mod:`~qgan_lab.sweep.tune` - what runs on Ray: each trial, Tune's settings, the cluster,
  :func:`run_sweep`;
* :mod:`~qgan_lab.sweep.loop` - the same grid without Ray: :func:`run_loop`, :func:`ray_fits`;
* :mod:`~qgan_lab.sweep.results` - a row per trial, written as ``results.csv``/``.json`` and a
  plot: :class:`SweepResults`.

The names above are imported on first use: ``import qgan_lab.sweep`` loads none of these modules,
and Ray is imported only when a sweep runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loop import ray_fits, run_loop
    from .results import SweepResults
    from .spec import SweepSpec, load_spec, parse_spec
    from .tune import run_sweep

#: public name -> the module that defines it
_HOMES = {
    "SweepResults": "results",
    "SweepSpec": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "ray_fits": "loop",
    "run_loop": "loop",
    "run_sweep": "tune",
}

__all__ = ["SweepResults", "SweepSpec", "load_spec", "parse_spec", "ray_fits", "run_loop", "run_sweep"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
