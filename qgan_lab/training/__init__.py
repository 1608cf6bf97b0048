"""Training: losses, the gradient manager, the compiled steps, the trainer's loop and resume,
callbacks, checkpoints, evaluation (notebooks 04-07).

Imports :mod:`qgan_lab.models`, :mod:`qgan_lab.sim` and the foundation modules.
"""

from .callbacks import QuantumGANCallback
from .gradients import QuantumGradientManager
from .losses import QuantumMeasurementLoss, QuantumWassersteinLoss
from .trainer import QuantumGANTrainer

__all__ = [
    "QuantumGANCallback",
    "QuantumGANTrainer",
    "QuantumGradientManager",
    "QuantumMeasurementLoss",
    "QuantumWassersteinLoss",
]
