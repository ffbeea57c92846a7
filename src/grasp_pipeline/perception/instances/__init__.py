"""The parts detector: instances from depth geometry, named by a classifier on RGB-D crops."""
