"""``python -m qgan_lab``: see :mod:`qgan_lab.cli`."""

import sys

from . import _compat  # noqa: F401  (quiet TensorFlow first)
from .cli import main

sys.exit(main(restore_signals=False))
