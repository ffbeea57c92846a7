"""The suite's own safety net: a test that hangs in native code or kills its process fails alone.

Runs pytest, configured by this repository's pyproject.toml and run the way `make test` runs it
(xdist workers), on three throw-away tests: one that aborts the interpreter, one that hangs with
the timeout signal blocked (as a hang inside a C++ kernel behaves), and one that passes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SAMPLE = textwrap.dedent(
    """
    import os, signal, time
    import pytest

    def test_aborts():
        os.abort()

    @pytest.mark.timeout(3)
    def test_hangs_where_no_signal_reaches():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        time.sleep(600)

    def test_passes():
        assert 1 + 1 == 2
    """
)


@pytest.mark.timeout(120)
def test_a_crash_and_a_hang_fail_alone(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(REPO / "pyproject.toml"),
            "-p",
            "no:cacheprovider",
            "-n",
            "1",
            "--max-worker-restart",
            "5",
            str(tmp_path / "test_sample.py"),
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )
    took = time.monotonic() - t0
    tail = proc.stdout[-3000:]
    assert proc.returncode == 1, tail
    assert re.search(r"2 failed, 1 passed", tail), tail
    assert "test_aborts" in tail and "test_hangs_where_no_signal_reaches" in tail, tail
    assert took < 100, f"the hung test was not cut short ({took:.0f} s)"
