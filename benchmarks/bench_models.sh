#!/usr/bin/env bash
# Epoch time, steps/s, peak memory and epochs to converge of LightGCN, LATTICE, MICRO and DiffMM
# per dataset (issue 3 item 7, issue 16 item 4), written to docs/results/benchmarks/: one JSON and
# one Markdown table per dataset, plus README.md joining them. Run from the repository root after
# `make install`; not part of the test suite.
#
#   benchmarks/bench_models.sh [electronics] [scientific] [tiktok] [beauty] [tiktok-paper]
#                              [electronics-gpu] [readme]
#
# (default: the five CPU steps; `readme` alone only rebuilds README.md from the tables already
# there; `electronics-gpu` needs a CUDA device: the committed table ran on one H100 with the
# machine's own `python3`, torch 2.11.0+cu130, as `PYTHON=python3 benchmarks/bench_models.sh
# electronics-gpu`)
#
# Settings are those of docs/results/settings.sh: the models table's rule (d 384, 3 layers, batch
# 4096, lr 2e-3; DiffMM's denoisers on 4,096 sampled users where the results use that, DIFFMM_FAST
# for its precision and contrastive anchors) on the real datasets, LARGE_DATA (batch 32,768) at
# Electronics' size. `tiktok-paper` is the papers' own setting on TikTok's shipped split (d 64,
# batch 1024, lr 5e-4, DiffMM on every user every epoch with 1 GCN layer) beside the papers' code's
# seconds per epoch on this machine (docs/results/shipped/commands.sh). Each model runs in its own
# child process (peak RSS its own), every epoch measured whole (--steps 0), under
# `flock $LOCK` (default /tmp/coldrec-bench.lock) one model at a time, so benchmarks of
# several people on one machine take turns. Epochs to converge come from the models table's
# runs kept in docs/results/models/runs/<dataset>/<model>/metrics.json (its commands.sh) where
# they exist (the papers' setting: runs/shipped/tiktok/, docs/results/shipped/commands.sh).
# THREADS (default 1) sets torch threads; the machine is shared, so each table records the load
# average before and after and the epoch's CPU seconds beside its wall seconds.
set -euo pipefail
source "$(dirname "$0")/../docs/results/settings.sh"  # SHARED, LARGE_DATA, DIFFMM_* settings
OUT=docs/results/benchmarks
THREADS=${THREADS:-1}
PYTHON=${PYTHON:-.venv/bin/python}
LOCK=${LOCK:-/tmp/coldrec-bench.lock}
COMMON=(--steps 0 --batch 4096 --lr 2e-3 --threads "$THREADS" --lock "$LOCK")
PAPER_TIKTOK=diffmm=53,lattice=37,micro=137  # the papers' code, TikTok, d 64, the earlier Xeon
mkdir -p "$OUT"

bench() {  # NAME ARGS...: one table per dataset
    local name=$1
    shift
    "$PYTHON" -m benchmarks.bench_models_scale "${COMMON[@]}" "$@" \
        --json "$OUT/$name.json" | tee "$OUT/$name.md"
}

for step in "${@:-electronics scientific tiktok beauty tiktok-paper}"; do
    for part in $step; do
        case $part in
            # Amazon Electronics' size, generated, at LARGE_DATA's batch (one propagation of
            # the whole graph serves 32,768 triples). DiffMM is left out here: its CPU epoch at
            # this size is in the table's history (29,600 s estimated at batch 4,096).
            # shellcheck disable=SC2086  # DIFFMM_FAST holds whole --set flags
            electronics) bench electronics --models lightgcn,lattice,micro "${LARGE_DATA[@]}" ;;
            # shellcheck disable=SC2086
            scientific) bench scientific --data "$SHARED/amazon_scientific_mm" $DIFFMM_FAST \
                --runs docs/results/models/runs/amazon_scientific_mm ;;
            # shellcheck disable=SC2086
            tiktok) bench tiktok --data "$SHARED/tiktok" --denoise-users 4096 $DIFFMM_FAST \
                --runs docs/results/models/runs/tiktok ;;
            # shellcheck disable=SC2086
            beauty) bench beauty --data "$SHARED/amazon_beauty" --denoise-users 4096 $DIFFMM_FAST \
                --runs docs/results/models/runs/amazon_beauty ;;
            tiktok-paper) bench tiktok_paper --data "$SHARED/tiktok" --split shipped --dim 64 \
                --batch 1024 --lr 5e-4 --models lattice,micro,diffmm,lightgcn \
                --set-model diffmm:model.n_layers=1 --paper "$PAPER_TIKTOK" --runs runs/shipped/tiktok ;;
            # The same generated catalogue on a GPU, every epoch measured whole.
            electronics-gpu) bench electronics_gpu --device cuda --threads 8 \
                --models lattice,micro,diffmm --denoise-users 4096 --regenerate-users 4096 ;;
            readme) ;;
            *) echo "unknown step $part (electronics scientific tiktok beauty tiktok-paper" \
                "electronics-gpu readme)" >&2; exit 2 ;;
        esac
    done
done

{
    echo "# Model benchmarks: seconds per epoch, steps per second, peak memory, epochs to converge"
    echo
    echo "Produced by \`benchmarks/bench_models.sh\` (settings and machine in its header) on"
    cat <<'TEXT'
2 CPU cores (AMD EPYC, AVX2 only; one torch thread per job), 24 GiB, no GPU, shared with other
engineers' training jobs: each table's second line gives the load average before and after it ran (2.0 = both cores
busy), and the epoch's CPU seconds stand beside its wall seconds (wall seconds stretch with the
load; CPU seconds much less).

Columns: `prepare` builds the model and its frozen graphs (LATTICE/MICRO: chunked sparse kNN over
item features); `begin_epoch` is the per-epoch graph work (LATTICE/MICRO: the learned item graph;
DiffMM: denoiser training plus a regeneration of the generated graphs); `step` is one batch
(sample, loss, backward, Adam, each a pass over the whole graph) and `steps/s` its inverse; `epoch`
= begin_epoch + every step of the epoch, measured whole. DiffMM's epoch here always includes a
regeneration; the results runs rebuild every 5th epoch on TikTok and Beauty, so four epochs in
five cost only the steps. Peak RSS is the child process's whole peak: data, graphs, model, Adam
state, autograd buffers, and what the heap keeps (`train.retain_freed_memory`). `epochs to
converge` is the models table's run for that model and dataset (best validation epoch of the
epochs run, and what stopped it), `-` where no such run is at hand; `papers' code s/epoch` is
the original implementations timed on this project's earlier 2-core machine (an Intel Xeon with
AMX, docs/results/shipped/; not rerun on this one) at TikTok, d 64. `electronics_gpu` is the
exception: the Electronics-size catalogue on one NVIDIA H100 (80 GB) at batch 4,096 before issue
16's changes, peak GPU memory from `torch.cuda.max_memory_allocated`.
TEXT
    for name in electronics scientific tiktok beauty tiktok_paper electronics_gpu; do
        [ -f "$OUT/$name.md" ] || continue
        echo
        echo "## $name"
        echo
        sed -E -e 's/^# (.*)$/`\1`  /' -e 's/^\| model/\n| model/' "$OUT/$name.md"  # settings as code
    done
} > "$OUT/README.md"
