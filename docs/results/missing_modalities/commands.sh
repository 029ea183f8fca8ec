#!/usr/bin/env bash
# Missing modalities (issue 13, Deliver 3): cold items registered with only some of the bundle's
# modalities, measured on Amazon Scientific text+image with one MICRO run. From the repo root.
set -euo pipefail
export OMP_NUM_THREADS=1
# 1. One MICRO run (30 epochs, ~82 s on the shared 2-core box, 1 thread).
.venv/bin/coldrec train --data ../shared/data/amazon_scientific_mm --model micro \
  --out runs/sci-mm-micro --epochs 30 --set train.batch_size=4096 --set train.lr=2e-3 \
  --set train.patience=10 --set train.threads=1 --quiet
# 2. Re-project the run's cold items (validation and test) with text only and with image only
#    through models.projection.project_features, the service's function (missing modalities fed
#    as zeros), and recompute the test cold tracks from the saved embeddings (~3 s, no retraining).
.venv/bin/python -m training.evaluation.missing_modalities runs/sci-mm-micro \
  --keep text --keep image > docs/results/missing_modalities/sci-mm-micro.json
