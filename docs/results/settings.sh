# Shared by the results scripts (sourced): the one training rule every committed run follows.
# Batch 4096 with lr 2e-3 (each step propagates the whole graph, so larger batches make CPU epochs
# cheaper); at most 30 epochs; early stopping on validation Recall@20 with patience 10; a 20-minute
# budget for backbone training. THREADS (default 0: torch's choice) sets torch threads per run.
# shellcheck shell=bash disable=SC2034  # the sourcing script uses these
SHARED=${SHARED:-../shared/data}
TRAIN_RULE=(--epochs 30 --set train.batch_size=4096 --set train.lr=2e-3 --set train.patience=10
    --set train.time_budget_s=1200 --set "train.threads=${THREADS:-0}")
# DiffMM's denoisers cost users x items per epoch: on TikTok (9.3k users x 5.4k warm items) and
# Beauty (22k x 9.7k) they train on 4,096 sampled users per epoch and regenerate the modal graphs
# every 5th epoch; Scientific (2.9k x 1.3k) runs the paper's schedule (all users, every epoch).
DIFFMM_SAMPLED="--set model.diffmm.denoise_users_per_epoch=4096 --set model.diffmm.rebuild_every=5"
