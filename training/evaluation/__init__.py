"""Evaluation: full-ranking metrics on every track, and the cold-start diagnostics."""
