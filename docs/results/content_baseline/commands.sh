#!/usr/bin/env bash
# Reproduces docs/results/content_baseline/*.json (issue 13, Deliver 4): the content-only
# baseline, which trains nothing (a user = the L2-normalised mean of the L2-normalised content
# vectors of their training items, an item scores by cosine; content = the text modality, MiniLM,
# when the dataset has it, else every modality L2-normalised and concatenated), on the three
# datasets of docs/results/models and the split their models used: `coldrec train`'s default
# (seed 0, 20% of items cold). Every track on test and validation, scored in user chunks by the
# models' own evaluation code (training/evaluation/content_baseline.py). Seconds per dataset on
# 2 CPU cores. Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/../settings.sh"  # SHARED
OUT=$(dirname "$0")
for ds in amazon_scientific_mm tiktok amazon_beauty; do
    OMP_NUM_THREADS=${THREADS:-2} .venv/bin/python -m training.evaluation.content_baseline \
        --data "$SHARED/$ds" >"$OUT/$ds.json"
done
