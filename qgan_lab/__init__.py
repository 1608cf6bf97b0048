"""qgan-lab: a teaching lab for quantum GANs on continuous-variable circuits.

Import order matters: :mod:`qgan_lab._compat` quiets TensorFlow and patches SciPy for
Strawberry Fields before either is imported. The notebooks in ``notebooks/`` teach each
piece; every helper's docstring names its notebook.
"""

from . import _compat  # noqa: F401  (must come first)
from .data import create_bimodal_data_generator
from .models import PureQuantumDiscriminator, PureQuantumGenerator
from .sim.circuits import CVCircuit, GateSpec, ParamRef
from .sim.engines import get_engine
from .sim.fock import FockEngine
from .training.callbacks import QuantumGANCallback
from .training.gradients import QuantumGradientManager
from .training.losses import QuantumMeasurementLoss, QuantumWassersteinLoss
from .training.trainer import QuantumGANTrainer

_compat.quiet_tensorflow()  # TensorFlow is imported by now: its retracing warnings stay out of notebooks

__version__ = "0.1.0"

__all__ = [  # the guide's public names first
    "PureQuantumGenerator",
    "PureQuantumDiscriminator",
    "QuantumWassersteinLoss",
    "QuantumMeasurementLoss",
    "QuantumGradientManager",
    "QuantumGANTrainer",
    "QuantumGANCallback",
    "create_bimodal_data_generator",
    "CVCircuit",
    "FockEngine",
    "GateSpec",
    "ParamRef",
    "get_engine",
]
