#!/usr/bin/env bash
# Missing modalities (issue 13, Deliver 3): cold items registered with only some of the bundle's
# modalities, measured on Amazon Scientific text+image with the models table's MICRO run. From
# the repository root after `make install`.
set -euo pipefail
export OMP_NUM_THREADS=1 THREADS=1
source "$(dirname "$0")/../settings.sh"  # SHARED, TRAIN_RULE
RUN=runs/amazon_scientific_mm/micro
# 1. The models table's MICRO run (docs/results/models/commands.sh, same command; ~6 min on one
#    thread here): its metrics.json matches docs/results/models/runs/amazon_scientific_mm/micro/.
[ -f "$RUN/metrics.json" ] ||
    .venv/bin/coldrec train --data "$SHARED/amazon_scientific_mm" --model micro --out "$RUN" \
        "${TRAIN_RULE[@]}" --quiet
# 2. Re-project the run's cold items (validation and test) with text only and with image only
#    as the service does (models.projection.project_features, missing modalities fed as zeros,
#    then the bundle's simulated-edges step and content floor where it has them) and recompute
#    the test cold tracks from the saved embeddings (seconds, no retraining).
.venv/bin/python -m training.evaluation.missing_modalities "$RUN" \
    --keep text --keep image > docs/results/missing_modalities/sci-mm-micro.json
