#!/usr/bin/env bash
# The field files `coldrec report --field` shows beside our runs (docs/results/models/commands.sh,
# report()). Run from the repository root; needs git history only, no data, no training.
# - coldrec_before.json: coldrec's own models table before issues 13 and 16, the test figures of
#   docs/results/models/report.md at commit 1ea0887 (30 epochs, patience 10, a 20-minute budget,
#   no cold-start options), read from its tables by before_from_report.py.
# - coldrec_toolkit.json: the ColdRec toolkit's Beauty figures as filed in issue 13, measured
#   outside this repository (its `source` says how); nothing here regenerates them.
set -euo pipefail
python3 docs/results/field/before_from_report.py 1ea0887 > docs/results/field/coldrec_before.json
