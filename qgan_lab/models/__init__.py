"""Models: the quantum generator and critic, their readouts, and classical models of their size
(notebook 02).

Imports :mod:`qgan_lab.sim` and the foundation modules, nothing from training.
"""

from .quantum import PureQuantumDiscriminator, PureQuantumGenerator, QuantumCircuitModel

__all__ = ["PureQuantumDiscriminator", "PureQuantumGenerator", "QuantumCircuitModel"]
