#!/usr/bin/env bash
# Reproduces docs/results/scale/README.md (issue 16): training speed on this CPU and what it costs
# in validation Recall@20. Machine: 2 CPU cores (Xeon with AMX / AVX512-BF16), 24 GiB, no GPU,
# shared with other engineers' training jobs (load average 3-8 while these ran). One torch thread
# per job. Run from the repository root after `make install`; finished runs are skipped.
#
#   docs/results/scale/commands.sh [diffmm] [diffmm-bench] [diffmm-beauty-before] [batch]
#                                  [electronics]
#
# BEFORE is the last commit before issue 16's changes (scipy's CSR propagation, no retained heap,
# DiffMM's contrastive term per batch entry, no bf16): its tree is exported to a temporary folder
# and run with this checkout's virtual environment.
set -euo pipefail
export OMP_NUM_THREADS=1 THREADS=1
source "$(dirname "$0")/../settings.sh"  # SHARED, TRAIN_RULE_30, DIFFMM_SAMPLED, DIFFMM_FAST, LARGE_DATA
BEFORE=2a22bf4
PY=$PWD/.venv/bin/python
DATA=$(realpath "$SHARED")  # runs of BEFORE start in its own folder
OUT=$PWD/runs/scale

before_tree() {  # the BEFORE commit's files, once
    local dir=/tmp/coldrec-before-$BEFORE
    [ -d "$dir" ] || { mkdir -p "$dir" && git archive "$BEFORE" | tar -x -C "$dir"; }
    echo "$dir"
}

train() {  # TREE OUT ARGS...: coldrec train from the code in TREE
    local tree=$1 out=$2
    shift 2
    [ -f "$out/metrics.json" ] && return
    (cd "$tree" && PYTHONPATH=$tree nice -n 5 "$PY" -c \
        'import sys; from coldrec.cli import main; sys.argv[0] = "coldrec"; sys.exit(main())' \
        train --out "$out" "$@" --quiet)
}

diffmm() {  # DiffMM before / after on Scientific and TikTok (validation Recall@20, epoch time)
    local tree
    tree=$(before_tree)
    local sci=(--data "$DATA/amazon_scientific_mm" --model diffmm "${TRAIN_RULE_30[@]}")
    # shellcheck disable=SC2206  # DIFFMM_* hold whole --set flags
    local tiktok=(--data "$DATA/tiktok" --model diffmm "${TRAIN_RULE_30[@]}" $DIFFMM_SAMPLED
        --set model.n_layers=1)
    # shellcheck disable=SC2206
    local fast=($DIFFMM_FAST)
    train "$tree" "$OUT/before/amazon_scientific_mm/diffmm" "${sci[@]}"
    train "$tree" "$OUT/before/tiktok/diffmm" "${tiktok[@]}"
    train "$PWD" "$OUT/fast/amazon_scientific_mm/diffmm" "${sci[@]}" "${fast[@]}"
    train "$PWD" "$OUT/fast/tiktok/diffmm" "${tiktok[@]}" "${fast[@]}"
    train "$PWD" "$OUT/fp32/amazon_scientific_mm/diffmm" "${sci[@]}"  # this code, DiffMM's defaults
    train "$PWD" "$OUT/fp32/tiktok/diffmm" "${tiktok[@]}"
}

diffmm_bench() {  # Beauty DiffMM epoch before / after, back to back under the bench lock
    local tree
    tree=$(before_tree)
    local args=(--data "$DATA/amazon_beauty" --models diffmm --steps 0 --batch 4096 --lr 2e-3
        --threads 1 --denoise-users 4096)
    # shellcheck disable=SC2206
    local fast=($DIFFMM_FAST)
    mkdir -p "$OUT"
    (cd "$tree" && PYTHONPATH=$tree flock /tmp/coldrec-bench.lock nice -n 5 "$PY" \
        -m benchmarks.bench_models_scale "${args[@]}" --json "$OUT/beauty-diffmm-before.json")
    flock /tmp/coldrec-bench.lock nice -n 5 "$PY" -m benchmarks.bench_models_scale "${args[@]}" \
        --json "$OUT/beauty-diffmm-fp32.json"
    flock /tmp/coldrec-bench.lock nice -n 5 "$PY" -m benchmarks.bench_models_scale "${args[@]}" \
        "${fast[@]}" --json "$OUT/beauty-diffmm-fast.json"
}

diffmm_beauty_before() {  # the BEFORE code's Beauty DiffMM, the old table's settings, 6 epochs
    # (where that table's 20-minute budget stopped it): its validation Recall@20 per epoch, beside
    # the models table's run of today (docs/results/models/runs/amazon_beauty/diffmm)
    local tree
    tree=$(before_tree)
    # shellcheck disable=SC2086  # DIFFMM_SAMPLED holds whole --set flags
    train "$tree" "$OUT/before/amazon_beauty/diffmm" --data "$DATA/amazon_beauty" --model diffmm \
        --epochs 6 --set train.batch_size=4096 --set train.lr=2e-3 --set train.patience=10 \
        --set train.threads=1 $DIFFMM_SAMPLED
}

batch() {  # batch 4,096 / lr 2e-3 against LARGE_DATA on a generated 20k x 6k set, to convergence
    # The subject is the backbone's validation Recall@20 (early stopping's): the cold-start
    # steps' validation searches are left out (they do not change the backbone). In order of
    # need: LightGCN and MICRO (the heaviest at Electronics' size), then LATTICE, then
    # LightGCN's linear lr scaling (1.6e-2).
    local data=synthetic:n_users=20000,n_items=6000 spec model b lr
    for spec in lightgcn:4096:2e-3 lightgcn:32768:5.7e-3 micro:4096:2e-3 micro:32768:5.7e-3 \
        lattice:4096:2e-3 lattice:32768:5.7e-3 lightgcn:32768:1.6e-2; do
        IFS=: read -r model b lr <<<"$spec"
        train "$PWD" "$OUT/batch/b$b-lr$lr/$model" --data "$data" --model "$model" \
            --epochs 150 --set train.patience=10 --set train.min_epochs=0 --set train.threads=1 \
            --set train.batch_size="$b" --set train.lr="$lr" \
            --set train.simulated_edges=false --set train.content_floor=off
    done
}

for step in "${@:-diffmm diffmm-bench batch electronics}"; do
    for part in $step; do
        case $part in
            diffmm) diffmm ;;
            diffmm-bench) diffmm_bench ;;
            diffmm-beauty-before) diffmm_beauty_before ;;
            batch) batch ;;
            # whole epochs at Electronics' size, LARGE_DATA, one model at a time under the lock
            electronics) benchmarks/bench_models.sh electronics ;;
            *) echo "unknown step $part (diffmm diffmm-bench diffmm-beauty-before batch electronics)" >&2; exit 2 ;;
        esac
    done
done
