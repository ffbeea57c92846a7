"""A detector on hold-out scenes through ``Detector.detect`` only (the detector node's call).

Usage: .venv/bin/python benchmarks/detector_holdout.py [--model models/segnet/model.pt]
[--frames 100] (same as ``grasp-pipeline benchmark detector-holdout``); writes
benchmarks/results/detector_holdout.json: per camera (D435, SR300 at 640x480) and catalog pool
(classic2018, the shipped model's classes; rulebook, the current set) the hit rate, false objects
per frame, pickup rate (paper 000, Eq. 4), per-class hit rates and chance levels. Seeds 9000+,
never used for training (see grasp_pipeline.commands.holdout.TRAINING_SEEDS).
"""

from __future__ import annotations

import sys

from grasp_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "detector-holdout", *sys.argv[1:]]))
