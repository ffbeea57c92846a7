"""Latency of the segnet detector per inference back-end on this machine.

Usage: .venv/bin/python benchmarks/segnet_latency.py [--model models/segnet/model.pt]
(same as ``grasp-pipeline benchmark segnet-latency``); writes
benchmarks/results/segnet_latency.json.
"""

from __future__ import annotations

import sys

from grasp_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "segnet-latency", *sys.argv[1:]]))
