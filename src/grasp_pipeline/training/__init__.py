"""Trainers, metrics, convergence analysis, statistics and checkpoints."""
