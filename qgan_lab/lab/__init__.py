"""The lab: what the notebooks add on top of training - widgets, figures, exercises and
failure cases to study (notebooks 00-08).

Nothing here is imported by ``import qgan_lab``: :mod:`~qgan_lab.lab.widgets` needs ipywidgets,
which only the notebooks install.
"""
