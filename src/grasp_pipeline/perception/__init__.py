"""Perception: the segmentation (pickup point) and dense-descriptor (6D pose) detectors."""
