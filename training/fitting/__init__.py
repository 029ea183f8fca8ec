"""Fitting: the warm training view, the backbone trainer, the modal projector, ensembles."""
