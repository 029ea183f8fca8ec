#!/usr/bin/env bash
# docs/results/ablation/report.md comes from the same script as docs/results/models (its
# `ablation` step: MICRO with each modality alone beside MICRO with all of them).
exec "$(dirname "$0")/../models/commands.sh"
