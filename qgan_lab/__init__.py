"""qgan-lab: a teaching lab for quantum GANs on continuous-variable circuits.

Import order matters: :mod:`qgan_lab._compat` quiets TensorFlow and patches SciPy for
Strawberry Fields before either is imported. The notebooks in ``notebooks/`` teach each
piece; every helper's docstring names its notebook.
"""

from . import _compat  # noqa: F401  (must come first)
from .circuits import CVCircuit, GateSpec, ParamRef
from .engines import get_engine
from .fock import FockEngine
from .models import PureQuantumDiscriminator, PureQuantumGenerator

__version__ = "0.1.0"

__all__ = [
    "CVCircuit",
    "FockEngine",
    "GateSpec",
    "ParamRef",
    "PureQuantumDiscriminator",
    "PureQuantumGenerator",
    "get_engine",
]
