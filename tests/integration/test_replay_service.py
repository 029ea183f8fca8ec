"""`coldrec train` a tiny synthetic run, `coldrec serve` it, `coldrec replay` its held-out test
interactions over loopback: the service's /metrics counted exactly what the client saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import REPO, ServiceProcess, start_service

from clients.replay import held_out_by_user, sample_users
from training.data.resolve import resolve_data
from training.protocol.splits import Split

DATA = "synthetic:n_users=120,n_items=80,seed=1"
K = 10


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "coldrec", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_replay_a_tiny_run_against_a_real_service(
    redis_url: str, services: list[ServiceProcess], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    train = ["--model", "lightgcn", "--out", str(run), "--epochs", "2", "--set", "model.dim=16"]
    train += ["--set", "train.projector_epochs=10"]
    _cli("train", "--data", DATA, *train, "--quiet")
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "replay"}
    svc = start_service(services, run, env, tmp_path / "serve.log")

    out = tmp_path / "replay.json"
    done = _cli(
        "replay",
        "--run",
        str(run),
        "--data",
        DATA,
        "--url",
        svc.url,
        "--max-users",
        "40",
        "--k",
        str(K),
        "--json",
        str(out),
    )
    print(done.stdout)
    s = json.loads(out.read_text())
    split = Split.load(str(run / "split.npz"))
    truth = held_out_by_user(resolve_data(DATA), split)
    assert s["registered_cold_items"] == len(split.cold_test_items)
    assert s["users"] == min(40, len(truth))
    assert sum(s["recommended"].values()) == s["users"] * K
    assert s["online_hit_rate"] == s["client_hit_rate"]  # /metrics counted what the client saw
    assert min(s["hits"].values()) > 0
    assert set(s["offline_test_recall@10"]) >= {"warm", "cold_all"}
    assert "hit rate (/metrics)" in done.stdout and "offline recall@10" in done.stdout
    played = sample_users(sorted(truth), 40, seed=0)
    assert sum(s["held_out_interactions"].values()) == sum(len(truth[u]) for u in played)
    assert np.isfinite(list(s["online_recall@10"].values())).all()

    # Bounded in time: no user is played once the budget is spent (registration still happens).
    done = _cli("replay", "--run", str(run), "--url", svc.url, "--max-seconds", "0")
    assert "replay: 0 users" in done.stdout
