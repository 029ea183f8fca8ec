"""Datasets: the Dataset type, format detection, readers, synthetic data, text encoding."""
