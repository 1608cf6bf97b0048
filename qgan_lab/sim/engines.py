"""Choosing a simulation engine by name: ``"fock"`` (compiled, default) or ``"sf"``.

Both engines expose ``ket(circuit, weights, inputs, dtype, batch_size) -> [B, c, ..., c]``
plus ``name`` and ``compilable`` (whether the call may run inside ``tf.function``).
Taught in ``02_quantum_models``.
"""

from __future__ import annotations

from typing import Any

from .fock import FockEngine

ENGINES = ("fock", "sf")


def get_engine(engine: Any = "fock") -> Any:
    """Return an engine instance for ``"fock"``, ``"sf"`` or an object with a ``ket`` method."""
    if isinstance(engine, str):
        if engine == "fock":
            return FockEngine()
        if engine == "sf":
            from .sf_engine import StrawberryFieldsEngine

            return StrawberryFieldsEngine()
        raise ValueError(f"engine must be one of {ENGINES} or an engine object, got {engine!r}")
    if not callable(getattr(engine, "ket", None)):
        raise TypeError(f"engine must be a name in {ENGINES} or have a ket() method, got {engine!r}")
    return engine
