"""The recommenders' names, the choices of `coldrec train --model`: no torch, so the command line
offers them without importing a model. models/registry.py maps each name to its class and
refuses to load if the two lists disagree."""

from __future__ import annotations

MODEL_NAMES = ("lightgcn", "lattice", "micro", "diffmm")
