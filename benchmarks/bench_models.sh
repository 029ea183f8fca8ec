#!/usr/bin/env bash
# Epoch time and peak memory of LATTICE, MICRO and DiffMM per dataset (issue 3 item 7), written to
# docs/results/benchmarks/: one JSON and one Markdown table per dataset, plus README.md joining
# them. Run from the repository root after `make install`; not part of the test suite.
#
#   benchmarks/bench_models.sh [electronics] [scientific] [tiktok] [beauty] [electronics-gpu] [readme]
#
# (default: the four CPU steps; `readme` alone only rebuilds README.md from the tables already
# there; `electronics-gpu` needs a CUDA device: the committed table ran on one H100 with the
# machine's own `python3`, torch 2.11.0+cu130, as `PYTHON=python3 benchmarks/bench_models.sh
# electronics-gpu`)
#
# Settings are those of docs/results/models/commands.sh (d 384, 3 layers, batch 4096, lr 2e-3;
# DiffMM's denoisers on 4,096 sampled users where the results use that). Each model runs in its
# own child process (peak RSS its own). On the real datasets every epoch is measured whole
# (--steps 0). At Electronics' size an epoch is 413 steps of 1-3 s each on one thread, so the
# table's epoch there is measured begin_epoch + 413 x the mean of 40 measured steps ("est."); the
# peak RSS is measured (later steps allocate nothing new: graphs, tables and Adam state are all
# there after the first step). THREADS (default 1) sets torch threads; the committed figures ran
# with one thread while another single-threaded job used the machine's second core.
set -euo pipefail
SHARED=${SHARED:-../shared/data}
OUT=docs/results/benchmarks
THREADS=${THREADS:-1}
PYTHON=${PYTHON:-.venv/bin/python}
COMMON=(--steps 0 --batch 4096 --lr 2e-3 --threads "$THREADS")
mkdir -p "$OUT"

bench() {  # NAME ARGS...: one table per dataset
    local name=$1
    shift
    "$PYTHON" -m benchmarks.bench_models_scale "${COMMON[@]}" "$@" \
        --json "$OUT/$name.json" | tee "$OUT/$name.md"
}

for step in "${@:-electronics scientific tiktok beauty}"; do
    for part in $step; do
        case $part in
            # Amazon Electronics' size, generated. DiffMM's denoisers train on 4,096 users and
            # renew 4,096 users' generated edges per epoch (all 192k: ~240 TFLOP per modality).
            electronics) bench electronics --steps 40 --denoise-users 4096 --regenerate-users 4096 ;;
            scientific) bench scientific --data "$SHARED/amazon_scientific_mm" ;;
            tiktok) bench tiktok --data "$SHARED/tiktok" --denoise-users 4096 ;;
            beauty) bench beauty --data "$SHARED/amazon_beauty" --denoise-users 4096 ;;
            # The same generated catalogue on a GPU, every epoch measured whole.
            electronics-gpu) bench electronics_gpu --device cuda --threads 8 \
                --denoise-users 4096 --regenerate-users 4096 ;;
            readme) ;;
            *) echo "unknown step $part (electronics scientific tiktok beauty electronics-gpu readme)" >&2; exit 2 ;;
        esac
    done
done

{
    echo "# Model benchmarks: seconds per epoch and peak memory"
    echo
    echo "Produced by \`benchmarks/bench_models.sh\` (settings and machine in its header) on"
    cat <<'TEXT'
2 CPU cores (one torch thread per job, two jobs side by side), 24 GiB, no GPU.

Columns: `prepare` builds the model and its frozen graphs (LATTICE/MICRO: chunked sparse kNN over
item features); `begin_epoch` is the per-epoch graph work (LATTICE/MICRO: the learned item graph;
DiffMM: denoiser training plus a regeneration of the generated graphs); `step` is one batch of
4,096 (sample, loss, backward, Adam, each a pass over the whole graph); `epoch` = begin_epoch +
steps/epoch x step. DiffMM's epoch here always includes a regeneration; the results runs rebuild
every 5th epoch on TikTok and Beauty, so four epochs in five cost only the steps (their median
epoch is in docs/results/models/report.md). Peak RSS is the child process's whole peak: data,
graphs, model, Adam state, autograd buffers. `electronics_gpu` is the exception: the Electronics-size
catalogue on one NVIDIA H100 (80 GB), every epoch measured whole, peak GPU memory from
`torch.cuda.max_memory_allocated`.
TEXT
    for name in electronics scientific tiktok beauty electronics_gpu; do
        [ -f "$OUT/$name.md" ] || continue
        echo
        echo "## $name"
        echo
        sed -E -e 's/^# (.*)$/`\1`  /' -e 's/^\| model/\n| model/' "$OUT/$name.md"  # settings as code
    done
} > "$OUT/README.md"
