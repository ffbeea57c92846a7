"""What result files record of the machine and process they were measured on."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; else ``platform.processor()``): CPU times
    in result files differ between machines of one size (an AMD EPYC and an Intel Xeon of 2
    cores each ran the parts detector at 22 and 27 Hz)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """What a result file records of the machine it was measured on, and of the process's
    OpenMP spin (``perception.threads``; None where the environment has no GOMP_SPINCOUNT)."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
    }
