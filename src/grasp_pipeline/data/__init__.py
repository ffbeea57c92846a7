"""Datasets: the on-disk format, torch Datasets and synthetic pair generation."""
