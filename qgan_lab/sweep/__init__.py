"""Sweeps: ``python -m qgan_lab sweep SPEC.toml`` on Ray Tune (:mod:`~qgan_lab.sweep.tune`), or
one trial after another where Ray does not fit (:mod:`~qgan_lab.sweep.loop`; notebook 08).

Ray is imported only when a sweep runs.
"""
