"""Seconds per epoch and peak memory of each model, on a real dataset or on generated data.

With `--data PATH` (any `coldrec train --data` spec) the models train on that dataset's warm
training graph under our cold/warm split (seed 0, 20% cold items), exactly what `coldrec train`
fits. Without it, the data is generated at the chosen size, by default Amazon Electronics
(192,403 users, 63,001 items, 1,689,188 interactions, text 384 + image 512 features): random
(power-law item popularity, Gaussian features), so it measures cost, not quality.

Each model runs in its own child process, so its peak RSS (`ru_maxrss`) is its own. Per model:
construction + `prepare` (frozen kNN graphs), `begin_epoch` (LATTICE/MICRO: learned-graph
neighbour selection; DiffMM: denoiser training, then graph regeneration, timed apart),
`--steps` timed training steps (sample, loss, backward, Adam), and the export `embeddings()`.
Seconds per epoch = begin_epoch + mean step x ceil(interactions / batch): measured whole with
`--steps 0`, else estimated from the timed steps (the table marks it "est."). DiffMM's epoch is
what its configuration does: denoisers on `--denoise-users` users (0 = all) and graphs
regenerated for `--regenerate-users` users (0 = all), as `coldrec train` would with the same
settings. `--set section.field=value` sets any other run setting as `coldrec train --set` does
(e.g. `model.diffmm.precision=bf16`; `train.retain_freed_memory`, on by default, is applied too).

Beside wall seconds, the table gives the epoch's CPU seconds (this process's user + system time:
on a machine shared with other jobs they move less than wall seconds do) and steps per second.
`--runs DIR` adds epochs to converge from training runs' `DIR/<model>/metrics.json` (best
validation epoch, epochs run, what stopped the run); `--paper model=seconds,...` adds the papers'
own code's seconds per epoch measured on the same machine.

    python -m benchmarks.bench_models_scale --help
    python -m benchmarks.bench_models_scale --users 19240 --items 6300 --interactions 168918 \\
        --steps 20 --threads 1
    python -m benchmarks.bench_models_scale --data ../shared/data/tiktok --steps 0 --threads 1
    python -m benchmarks.bench_models_scale --data ../shared/data/tiktok --split shipped \\
        --dim 64 --batch 1024 --lr 5e-4 --steps 0 --paper diffmm=53,lattice=37,micro=137
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.base import Batch, RecModel, TrainGraphs
from models.graph import bipartite_adjacency
from models.registry import MODELS
from training.config import RunConfig, apply_overrides, parse_assignments
from training.data.resolve import resolve_data
from training.fitting.memory import retain_freed_memory
from training.fitting.trainer import make_split, peak_rss_mib
from training.fitting.warm_view import WarmView


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, description kept as written."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_models_scale",
        description=__doc__,
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "--data", default="", help="a dataset spec as `coldrec train --data` takes; '' = generate"
    )
    p.add_argument("--users", type=int, default=192_403, help="users of the generated data")
    p.add_argument("--items", type=int, default=63_001, help="items (all warm)")
    p.add_argument("--interactions", type=int, default=1_689_188, help="before de-duplication")
    p.add_argument("--modal", default="text=384,image=512", help="name=dim,... item features")
    p.add_argument(
        "--models", default="lightgcn,lattice,micro,diffmm", help="comma-separated registry names"
    )
    p.add_argument("--split", default="cold", help="with --data: cold (ours) or shipped")
    p.add_argument("--dim", type=int, default=384, help="embedding size")
    p.add_argument("--layers", type=int, default=3, help="GCN layers of the CF backbone")
    p.add_argument("--batch", type=int, default=1024, help="BPR triples per step")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate")
    p.add_argument(
        "--steps", type=int, default=20, help="timed training steps per model; 0 = a full epoch"
    )
    p.add_argument(
        "--denoise-users",
        type=int,
        default=0,
        help="DiffMM: users its denoisers train on per epoch; 0 = all",
    )
    p.add_argument(
        "--regenerate-users",
        type=int,
        default=0,
        help="DiffMM: users whose generated edges one rebuild renews; 0 = all",
    )
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda (peak GPU memory too)")
    p.add_argument("--seed", type=int, default=0, help="seeds the data and the models")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any run setting, as coldrec train --set (repeatable); after the flags above",
    )
    p.add_argument(
        "--set-model",
        action="append",
        default=[],
        metavar="MODEL:KEY=VALUE",
        help="a run setting for one model only, after --set (repeatable)",
    )
    p.add_argument(
        "--runs", default="", help="training runs DIR/<model>/metrics.json: epochs to converge"
    )
    p.add_argument(
        "--paper", default="", help="model=seconds,...: the papers' code's s/epoch, same machine"
    )
    p.add_argument(
        "--lock",
        default="",
        help="a lock file (flock) held while each model runs, and only then: shared benchmarks "
        "on one machine take turns, one model's epoch at a time",
    )
    p.add_argument("--json", default="", help="also write the per-model results to this file")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def modal_dims(spec: str) -> dict[str, int]:
    out = {}
    for part in spec.split(","):
        name, _, dim = part.partition("=")
        out[name.strip()] = int(dim)
    return out


def to_device(graphs: TrainGraphs, device: str) -> TrainGraphs:
    return TrainGraphs(
        n_users=graphs.n_users,
        n_items=graphs.n_items,
        users=graphs.users.to(device),
        items=graphs.items.to(device),
        adj=graphs.adj.to(device),
        features={m: x.to(device) for m, x in graphs.features.items()},
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def generate(args: argparse.Namespace) -> TrainGraphs:
    """Random interactions (Zipf-like item popularity) and Gaussian features, deduplicated."""
    rng = np.random.default_rng(args.seed)
    popularity = 1.0 / (np.arange(args.items) + 10.0) ** 0.8
    items = rng.choice(args.items, size=args.interactions, p=popularity / popularity.sum())
    users = rng.integers(0, args.users, args.interactions)
    pairs = np.unique(users.astype(np.int64) * args.items + items)
    users, items = pairs // args.items, pairs % args.items
    features = {
        name: torch.from_numpy(rng.standard_normal((args.items, dim), dtype=np.float32))
        for name, dim in modal_dims(args.modal).items()
    }
    return TrainGraphs(
        n_users=args.users,
        n_items=args.items,
        users=torch.from_numpy(users),
        items=torch.from_numpy(items),
        adj=bipartite_adjacency(users, items, args.users, args.items),
        features=features,
    )


def load_real(spec: str, cfg: RunConfig | None = None) -> TrainGraphs:
    """The warm training graph `coldrec train` fits on `spec` under `cfg`'s split (default:
    our seeded cold split)."""
    dataset = resolve_data(spec)
    split = make_split(dataset, cfg or RunConfig())
    return WarmView.build(dataset, split).graphs(dataset)


def run_config(args: argparse.Namespace, model: str = "") -> RunConfig:
    """The run settings `model`'s child trains with: the flags, then `--set`, then the
    `--set-model` entries naming `model`."""
    cfg = RunConfig()
    cfg.model.dim, cfg.model.n_layers = args.dim, args.layers
    cfg.model.diffmm.denoise_users_per_epoch = args.denoise_users
    cfg.model.diffmm.regenerate_users_per_epoch = args.regenerate_users
    cfg.train.split, cfg.train.batch_size, cfg.train.lr = args.split, args.batch, args.lr
    apply_overrides(cfg, parse_assignments(args.set))
    own = [entry.partition(":")[2] for entry in args.set_model if entry.partition(":")[0] == model]
    apply_overrides(cfg, parse_assignments(own))
    return cfg


def peak_rss_gib() -> float:
    return peak_rss_mib() / 1024


def random_batch(graphs: TrainGraphs, size: int, gen: torch.Generator) -> Batch:
    device = graphs.users.device
    pick = torch.randint(0, len(graphs.users), (size,), generator=gen).to(device)
    neg = torch.randint(0, graphs.n_items, (size,), generator=gen).to(device)
    return Batch(graphs.users[pick], graphs.items[pick], neg)


def timed_begin_epoch(model: RecModel, args: argparse.Namespace, out: dict[str, float]) -> float:
    """begin_epoch's seconds as they count in an epoch (DiffMM's parts timed apart); its CPU
    seconds go to out["begin_epoch_cpu_s"]."""
    cpu = time.process_time()
    try:
        return _begin_epoch(model, args, out)
    finally:
        out["begin_epoch_cpu_s"] = time.process_time() - cpu


def _begin_epoch(model: RecModel, args: argparse.Namespace, out: dict[str, float]) -> float:
    tick = time.perf_counter()
    if hasattr(model, "train_denoisers") and hasattr(model, "regenerate"):
        model.train_denoisers()
        sync(args.device)
        out["denoise_train_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        model.regenerate()
        sync(args.device)
        out["regenerate_s"] = time.perf_counter() - tick
        return out["denoise_train_s"] + out["regenerate_s"]
    model.begin_epoch(1)
    sync(args.device)
    return time.perf_counter() - tick


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run_cfg = run_config(args, name)
    if run_cfg.train.retain_freed_memory:  # as coldrec train does
        retain_freed_memory()
    tick = time.perf_counter()
    data = load_real(args.data, run_cfg) if args.data else generate(args)
    graphs = to_device(data, args.device)
    out: dict[str, float] = {
        "generate_s": time.perf_counter() - tick,
        "data_rss_gib": peak_rss_gib(),
    }
    cfg = run_cfg.model
    dims = {m: int(x.shape[1]) for m, x in graphs.features.items()}
    tick = time.perf_counter()
    model = MODELS[name](cfg, graphs.n_users, graphs.n_items, dims).to(args.device)
    model.prepare(graphs)
    sync(args.device)
    out["prepare_s"] = time.perf_counter() - tick
    model.train()
    begin_s = timed_begin_epoch(model, args, out)
    out["begin_epoch_s"] = begin_s
    batch, lr = run_cfg.train.batch_size, run_cfg.train.lr
    optimizer = torch.optim.Adam(model.recommender_parameters(), lr=lr, fused=True)  # as trained
    batches_per_epoch = math.ceil(len(graphs.users) / batch)
    steps = batches_per_epoch if args.steps <= 0 else min(args.steps, batches_per_epoch)
    gen = torch.Generator().manual_seed(args.seed)
    step_times, step_cpu = [], []
    for _ in range(steps):
        tick, cpu = time.perf_counter(), time.process_time()
        loss = torch.stack(list(model.loss(random_batch(graphs, batch, gen)).values())).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync(args.device)
        step_times.append(time.perf_counter() - tick)
        step_cpu.append(time.process_time() - cpu)
    tick = time.perf_counter()
    model.embeddings()
    sync(args.device)
    out["embeddings_s"] = time.perf_counter() - tick
    out["step_s_first"] = step_times[0]
    out["step_s_mean"] = float(np.mean(step_times[1:] if len(step_times) > 1 else step_times))
    out["step_cpu_s_mean"] = float(np.mean(step_cpu[1:] if len(step_cpu) > 1 else step_cpu))
    if steps == batches_per_epoch:  # measured whole: every step, the first one included
        out["epoch_s"] = begin_s + float(np.sum(step_times))
        out["epoch_cpu_s"] = out["begin_epoch_cpu_s"] + float(np.sum(step_cpu))
    else:
        out["epoch_s"] = begin_s + out["step_s_mean"] * batches_per_epoch
        out["epoch_cpu_s"] = out["begin_epoch_cpu_s"] + out["step_cpu_s_mean"] * batches_per_epoch
    out["steps_per_s"] = 1.0 / out["step_s_mean"]
    out["peak_rss_gib"] = peak_rss_gib()
    if args.device.startswith("cuda"):
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    rounded = {k: round(v, 3) for k, v in out.items()}
    return {
        "model": name,
        "steps_timed": steps,
        "batches_per_epoch": batches_per_epoch,
        "users": graphs.n_users,
        "items": graphs.n_items,
        "interactions": len(graphs.users),
        "epoch_measured": int(steps == batches_per_epoch),
        "config": asdict(run_cfg),  # every setting this model ran with
        **rounded,
    }


@contextmanager
def held(lock: str) -> Iterator[None]:
    """An exclusive flock(2) on `lock` for the block (as `flock LOCK command` takes it), or
    nothing without a path."""
    if not lock:
        yield
        return
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def converged(runs: str, name: str) -> str:
    """Epochs to converge from the training run `runs/<name>/metrics.json`: "best B of R
    (what stopped it)", or "-" without one."""
    path = Path(runs) / name / "metrics.json"
    if not runs or not path.is_file():
        return "-"
    metrics = json.loads(path.read_text())
    stopped = metrics.get("stopped_by", "?")
    return f"best {metrics.get('best_epoch', '?')} of {metrics.get('epochs_run', '?')} ({stopped})"


def paper_seconds(spec: str) -> dict[str, str]:
    """`diffmm=53,lattice=37` -> {"diffmm": "53", ...}: the papers' code's s/epoch as given."""
    pairs = (part.split("=", 1) for part in spec.split(",") if "=" in part)
    return {name.strip(): value.strip() for name, value in pairs}


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """The Markdown rows of the per-model table."""
    paper = paper_seconds(args.paper)
    lines = [
        "| model | prepare s | begin_epoch s | step s | steps/s | steps/epoch | epoch s "
        "| epoch CPU s | peak RSS GiB | peak GPU GiB | epochs to converge | papers' code s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        kind = "" if r["epoch_measured"] else " (est.)"
        lines.append(
            f"| {r['model']} | {r['prepare_s']} | {r['begin_epoch_s']} | {r['step_s_mean']} "
            f"| {r['steps_per_s']} | {r['batches_per_epoch']} | {r['epoch_s']}{kind} "
            f"| {r['epoch_cpu_s']}{kind} | {r['peak_rss_gib']} | {r.get('peak_gpu_gib', '-')} "
            f"| {converged(args.runs, r['model'])} | {paper.get(r['model'], '-')} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.child, args)))
        return
    raw = sys.argv[1:] if argv is None else argv
    generated_only = {"users", "items", "interactions", "modal"}  # unused with --data
    skip = {"child", "json", "runs", "paper", "lock"} | (generated_only if args.data else set())
    header = {k: v for k, v in vars(args).items() if k not in skip}
    load_before = os.getloadavg()
    results = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in MODELS:
            raise SystemExit(f"unknown model {name!r}; choose from {sorted(MODELS)}")
        cmd = [sys.executable, "-m", "benchmarks.bench_models_scale", *raw, "--child", name]
        with held(args.lock):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(
                f"{name}: failed (exit {done.returncode})\n{done.stderr[-3000:]}", file=sys.stderr
            )
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        # after every model: a long run stopped midway keeps the finished ones
        write_json(args.json, header, load_before, results)
    load = write_json(args.json, header, load_before, results)
    print(f"# bench_models_scale {json.dumps(header)} torch {torch.__version__}")
    print(
        f"# {os.cpu_count()} CPUs; load average (1/5/15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in load['before'])}, after "
        f"{'/'.join(f'{x:.2f}' for x in load['after'])}"
    )
    if results:
        r0 = results[0]
        print(f"# {r0['users']} users, {r0['items']} items, {r0['interactions']} interactions")
    print("\n".join(table(results, args)))


def write_json(
    path: str,
    header: dict[str, Any],
    load_before: tuple[float, float, float],
    results: list[dict[str, Any]],
) -> dict[str, list[float]]:
    """The load average before and now; with a `path` (--json), the results so far written
    there beside it."""
    load = {"before": list(load_before), "after": list(os.getloadavg())}
    if path:
        with open(path, "w") as fh:
            json.dump({"args": header, "load": load, "results": results}, fh, indent=1)
    return load


if __name__ == "__main__":
    main()
