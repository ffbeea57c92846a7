"""Peak memory of a training run: CUDA max allocated on a GPU, peak RSS (VmHWM) on CPU.

On Linux the RSS high-water mark of the current process can be reset by writing "5" to
/proc/self/clear_refs, so a measurement can cover only the training loop; run each setting in a
fresh subprocess so allocator caches of earlier settings do not leak into it.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_rss_bytes() -> int:
    """High-water mark of this process's resident set size, bytes."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def current_rss_bytes() -> int:
    """Current resident set size of this process, bytes (0 where /proc is missing)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager measuring the peak memory of the enclosed block.

    ``device`` "cuda...": ``torch.cuda.max_memory_allocated`` (bytes); otherwise peak RSS of the
    process during the block (``peak_bytes``) and the RSS at its start (``baseline_bytes``).
    """

    def __init__(self, device: str = "cpu"):
        self.device = str(device)
        self.peak_bytes = 0
        self.baseline_bytes = 0
        self.kind = "cuda_max_allocated" if self.device.startswith("cuda") else "peak_rss"

    def __enter__(self) -> PeakMemory:
        if self.kind == "cuda_max_allocated":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.baseline_bytes = torch.cuda.memory_allocated()
        else:
            self.baseline_bytes = current_rss_bytes()
            if not reset_peak_rss():
                self.kind = "peak_rss_since_start"
        return self

    def __exit__(self, *exc) -> None:
        if self.kind == "cuda_max_allocated":
            import torch

            torch.cuda.synchronize()
            self.peak_bytes = int(torch.cuda.max_memory_allocated())
        else:
            self.peak_bytes = peak_rss_bytes()
