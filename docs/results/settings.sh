# Shared by the results scripts (sourced): the one training rule every committed run follows.
# Batch 4096 with lr 2e-3 (each step propagates the whole graph, so larger batches make CPU epochs
# cheaper); at most 200 epochs; early stopping on validation Recall@20 with patience 10; a 3-hour
# budget for backbone training that no run of docs/results/models may reach (issue 16: every model
# stops because validation stopped improving, not by the clock). The budget is wall seconds: on
# this shared 2-core box a 60-minute one stopped Beauty's MICRO at epoch 30, its best, at 95 s an
# epoch beside four other jobs. THREADS (default 0: torch's choice) sets torch threads per run.
# coldrec train's defaults came after the models table (docs/results/defaults/): batch 4096 with
# lr 1e-3, and train.min_epochs 20, which would change one of the table's runs
# (Scientific DiffMM stopped by patience at epoch 17, best 7), so the rule keeps early stopping
# from the first epoch (min_epochs 0; every other kept run stopped at epoch 20 or later, where
# both agree).
# shellcheck shell=bash disable=SC2034  # the sourcing script uses these
SHARED=${SHARED:-../shared/data}
TRAIN_RULE=(--epochs 200 --set train.batch_size=4096 --set train.lr=2e-3 --set train.patience=10
    --set train.min_epochs=0 --set train.time_budget_s=10800 --set "train.threads=${THREADS:-0}")
# The rule before issue 16 (at most 30 epochs, a 20-minute budget), which the issue-13 ablations
# (content_floor/, simulated_edges/), shipped/, scale/ and deploy_beauty/ ran under: their base runs
# are comparable with each other, not with the models table.
TRAIN_RULE_30=(--epochs 30 --set train.batch_size=4096 --set train.lr=2e-3 --set train.patience=10
    --set train.min_epochs=0 --set train.time_budget_s=1200 --set "train.threads=${THREADS:-0}")
# DiffMM's denoisers cost users x items per epoch: on TikTok (9.3k users x 5.4k warm items) and
# Beauty (22k x 9.7k) they train on 4,096 sampled users per epoch and regenerate the modal graphs
# every 5th epoch; Scientific (2.9k x 1.3k) runs the paper's schedule (all users, every epoch).
DIFFMM_SAMPLED="--set model.diffmm.denoise_users_per_epoch=4096 --set model.diffmm.rebuild_every=5"
# DiffMM's speed options (issue 16; docs/results/scale/): its denoisers' and contrastive logits'
# matmuls in bfloat16 where the CPU multiplies bf16 natively (AVX-512 / AMX; on an AVX2-only CPU,
# this AMD EPYC among them, the flag runs the fp32 path: models.diffusion.bf16_is_native) and at
# most 1,024 anchors per contrastive term. On a Xeon: Beauty step 3.6 -> 1.15 s CPU; validation
# Recall@20 Scientific 0.2518 -> 0.2526, TikTok 0.1399 -> 0.1397 (the same curve). On this AMD
# EPYC (fp32, 1,024 anchors): Scientific 0.2518, the same curve before and after the issue-16
# regeneration and kernel changes.
DIFFMM_FAST="--set model.diffmm.precision=bf16 --set model.diffmm.ssl_max_nodes=1024"
# Catalogues of a million interactions and more (issue 16; docs/results/scale/): every step
# propagates the whole graph, so an epoch costs its number of steps x one propagation. Batch
# 32,768 with lr 5.7e-3 (2e-3 x sqrt(32,768 / 4,096)) makes Amazon Electronics' 1.7M interactions
# 52 steps an epoch instead of 412. On a generated 20k x 6k set it reaches the validation Recall@20
# of batch 4,096 / lr 2e-3 in as many epochs (LightGCN 0.2995 at epoch 26 against 0.2978 at 21);
# linear scaling (lr 1.6e-2) peaks early and lower (0.2960 at epoch 8).
LARGE_DATA=(--set train.batch_size=32768 --set train.lr=5.7e-3)
