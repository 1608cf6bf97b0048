"""Simulation: continuous-variable circuits and the engines that run them (notebooks 01-03).

* :mod:`~qgan_lab.sim.circuits` - a circuit as data (gates, parameters, layouts);
* :mod:`~qgan_lab.sim.gates`, :mod:`~qgan_lab.sim.layout`, :mod:`~qgan_lab.sim.fock` - the compiled
  exact Fock engine: gate matrices, how a state is laid out, the engine itself;
* :mod:`~qgan_lab.sim.sf_engine` - Strawberry Fields, the reference every result is checked against;
* :mod:`~qgan_lab.sim.observables`, :mod:`~qgan_lab.sim.homodyne` - what is measured;
* :mod:`~qgan_lab.sim.cutoff` - the truncation and how to stay inside it.

Imports only :mod:`qgan_lab`'s foundation modules (``_compat``, ``validation``).
"""

from .circuits import CVCircuit, GateSpec, ParamRef
from .engines import get_engine
from .fock import FockEngine

__all__ = ["CVCircuit", "FockEngine", "GateSpec", "ParamRef", "get_engine"]
