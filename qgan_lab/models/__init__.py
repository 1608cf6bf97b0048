"""Models: the quantum generator and critic, their readouts, and classical models of their size
(notebook 02).

* :mod:`~qgan_lab.models.circuit_model` - what both quantum models share (:class:`QuantumCircuitModel`,
  :func:`check_batch`, the balanced combiner);
* :mod:`~qgan_lab.models.generator` - :class:`PureQuantumGenerator`;
* :mod:`~qgan_lab.models.critic` - :class:`PureQuantumDiscriminator`;
* :mod:`~qgan_lab.models.readouts` - the critic's readouts; :mod:`~qgan_lab.models.averaging` - the
  generator's weight average; :mod:`~qgan_lab.models.classical` - the classical controls.

Imports :mod:`qgan_lab.sim` and the foundation modules, nothing from training.
"""

from .circuit_model import QuantumCircuitModel, check_batch, combiner_matrix
from .critic import PureQuantumDiscriminator
from .generator import PureQuantumGenerator

__all__ = [
    "PureQuantumDiscriminator",
    "PureQuantumGenerator",
    "QuantumCircuitModel",
    "check_batch",
    "combiner_matrix",
]
