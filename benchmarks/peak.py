"""Peak resident memory of this process, for the benchmarks.

``getrusage(RUSAGE_SELF).ru_maxrss`` survives ``exec`` on Linux: a benchmark started by a large
parent process (``bench_targets.py`` runs ``bench_training.py``) would report the parent's peak.
``VmHWM`` of ``/proc/self/status`` is the peak of this process's own memory map.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """Peak resident memory in MiB (``VmHWM`` where Linux gives it, else ``ru_maxrss``)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
