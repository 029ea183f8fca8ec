"""The Markdown report: tables, bold winners, Best column, n_users, plots, from fake runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from training.report.run_result import ReportError
from training.report.tables import dataset_label, pct, sci
from training.report.writer import write_report

FIELD_DIR = Path(__file__).resolve().parents[2] / "docs" / "results" / "field"
TRACKS = ("warm", "sparse", "active", "cold_only", "cold_all")


def track(scale: float, n_users: int) -> dict[str, float]:
    """A TRACK dict whose values grow with K: recall@K = scale * K / 1000."""
    out: dict[str, float] = {f"recall@{k}": scale * k / 1000 for k in (10, 20, 50)}
    out |= {f"ndcg@{k}": scale * k / 2000 for k in (10, 20, 50)}
    out["n_users"] = n_users
    return out


def fake_run(
    root: Path,
    model: str,
    scale: float,
    seconds: float,
    cold: bool = True,
    dataset: str = "amazon_beauty",
    content: float | None = None,
) -> Path:
    run = root / f"{model}_{dataset}"
    run.mkdir(parents=True)
    users = {"warm": 1000, "sparse": 412, "active": 37, "cold_only": 250, "cold_all": 250}
    tracks = {t: track(scale * (2 if t == "active" else 1), users[t]) for t in TRACKS}
    if not cold:
        tracks = {t: v for t, v in tracks.items() if not t.startswith("cold")}
    metrics = {
        "model": model,
        "dataset": dataset,
        "test": tracks,
        "valid": tracks,
        "random": {"test": {t: track(0.1, v["n_users"]) for t, v in tracks.items()}},
        "best_epoch": 12,
        "epochs_run": 22,
        "train_seconds": seconds,
        "epoch_seconds_median": seconds / 22,
        "stopped_by": "patience",
        "total_seconds": seconds + 1.5,
        "peak_rss_mib": 1536.0,
        "history": [{"epoch": 1, "loss": 0.69, "valid_recall@20": 0.01}],
    }
    config = {
        "model": {
            "dim": 384,
            "n_layers": 3,
            "reg": 1e-5,
            "projector": {"hidden": 1024, "dropout": 0.5},
        },
        "train": {"epochs": 200, "batch_size": 1024, "lr": 0.0005, "seed": 0, "cold_fraction": 0.2},
        "data": "amazon_beauty",
        "modal_dims": {"text": 384, "image": 512},
    }
    if content is not None:  # the content-only baseline; runs before it have no `content`
        scaled = {t: track(content, v["n_users"]) for t, v in tracks.items()}
        metrics["content"] = {"source": ["text"], "test": scaled, "valid": scaled}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_report_tables_winners_and_plots(tmp_path: Path) -> None:
    # MICRO has 1.5x LightGCN's metrics everywhere, LightGCN trains faster.
    a = fake_run(tmp_path / "runs", "lightgcn", scale=2.0, seconds=100.0)
    b = fake_run(tmp_path / "runs", "micro", scale=3.0, seconds=300.0)
    path = write_report([a, b], tmp_path / "out")
    text = path.read_text()
    assert path == tmp_path / "out" / "report.md"

    assert "| Embedding Dimension | 384 |" in text
    assert "| Learning Rate | 5e-4 |" in text
    assert "| Projection MLP | 896 → 1024 → 384 |" in text
    assert "| Projection Dropout | 0.5 |" in text
    assert "| Cold Fraction | 0.2 |" in text
    # Warm Recall@20 row: LightGCN 2 * 20 / 1000 = 4.00%, MICRO 6.00% (bold), random 0.20%.
    assert "| | R@20 | 4.00% | **6.00%** | 0.20% | – | MICRO |" in text
    assert "| **Amazon Beauty** | R@10 | 2.00% | **3.00%** | 0.10% | – | MICRO |" in text
    assert "| | N@50 | 5.00% | **7.50%** | 0.25% | – | MICRO |" in text
    assert "| Dataset | Metric | LightGCN | MICRO | Random | Content | Best |" in text
    # Segment tables carry n_users; active doubles the metrics: 8.00% vs 12.00%.
    assert "| Amazon Beauty | 412 | 4.00% | **6.00%** | 0.20% | – | MICRO |" in text
    assert "| Amazon Beauty | 37 | 8.00% | **12.00%** | 0.20% | – | MICRO |" in text
    assert "### Cold-only pool" in text and "### All-items pool" in text
    assert "Evaluated users: Amazon Beauty 250." in text
    assert "| **Cold Recall (all items)** | **MICRO** |" in text
    assert "| **Training Speed** | **LightGCN** |" in text

    for png in ("recall_amazon_beauty.png", "cold_vs_warm.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000
        assert f"]({png})" in text


def test_runs_report_what_their_bundle_serves(tmp_path: Path) -> None:
    """A run whose validation kept the content floor is reported with the floor's tracks (what
    its bundle serves), not the model's own ones before it; a run without stays as it is."""
    a = fake_run(tmp_path / "runs", "lightgcn", scale=2.0, seconds=100.0)
    b = fake_run(tmp_path / "runs", "micro", scale=3.0, seconds=300.0)
    metrics = json.loads((a / "metrics.json").read_text())
    floored = {t: track(5.0, v["n_users"]) for t, v in metrics["test"].items()}
    metrics["content_floor"] = {"weight": 1.5, "valid": floored, "test": floored}
    (a / "metrics.json").write_text(json.dumps(metrics))
    text = write_report([a, b], tmp_path / "out").read_text()
    # Warm Recall@20: LightGCN served 5 * 20 / 1000 = 10.00% (was 4.00%), MICRO 6.00%.
    assert "| | R@20 | **10.00%** | 6.00% | 0.20% | – | LightGCN |" in text
    assert "with the content floor where validation kept it (Amazon Beauty LightGCN;" in text


def test_missing_tracks_render_as_dashes(tmp_path: Path) -> None:
    a = fake_run(tmp_path / "runs", "lightgcn", scale=2.0, seconds=100.0, cold=False)
    b = fake_run(tmp_path / "runs", "lattice", scale=3.0, seconds=50.0)
    text = write_report([a, b], tmp_path / "out").read_text()
    # LightGCN has no cold track; the random baseline comes from the first run that has one.
    assert "| | R@20 | – | 6.00% | 0.20% | – | LATTICE |" in text
    assert "LATTICE 6.00% R@20 (random 0.20%, content –)" in text
    only_warm = write_report([a], tmp_path / "warm").read_text()
    assert "| **Cold Recall (cold-only pool)** | – | no run has this track |" in only_warm
    assert "| **Warm Recall** | **LightGCN** |" in only_warm
    assert "No run here has cold items" in only_warm and "Cold-only pool" not in only_warm
    assert not (tmp_path / "warm" / "cold_vs_warm.png").exists()


def test_results_below_random_are_flagged(tmp_path: Path) -> None:
    a = fake_run(tmp_path / "runs", "lightgcn", scale=0.1, seconds=5.0)  # equal to random
    text = write_report([a], tmp_path / "out").read_text()
    assert "| | R@20 | 0.20% ⚠️ | 0.20% | – | LightGCN |" in text
    assert "(random 0.20%, content –) ⚠️" in text
    row = "| LightGCN | Amazon Beauty | 22 | 12 | patience | 5.00 s | 0.23 s | 6.50 s | 1.50 GiB |"
    assert row in text


def test_several_datasets_split_the_wins(tmp_path: Path) -> None:
    runs = [
        fake_run(tmp_path, "lightgcn", 2.0, 100.0, dataset="beauty"),
        fake_run(tmp_path, "micro", 3.0, 90.0, dataset="beauty"),
        fake_run(tmp_path, "lightgcn", 4.0, 50.0, dataset="clothing"),
        fake_run(tmp_path, "micro", 1.0, 60.0, dataset="clothing"),
    ]
    text = write_report(runs, tmp_path / "out").read_text()
    assert "| **Beauty** | R@10 | 2.00% | **3.00%** | 0.10% | – | MICRO |" in text
    assert "| **Clothing** | R@10 | **4.00%** | 1.00% | 0.10% | – | LightGCN |" in text
    assert "| **Warm Recall** | Mixed |" in text
    assert "| **Training Speed** | Mixed |" in text
    assert (tmp_path / "out" / "recall_clothing.png").exists()


def test_content_baseline_column_and_ratios(tmp_path: Path) -> None:
    # Beauty: both runs carry the content baseline (scale 1: R@20 2.00%); Clothing predates it.
    runs = [
        fake_run(tmp_path, "lightgcn", 2.0, 100.0, dataset="beauty", content=1.0),
        fake_run(tmp_path, "micro", 3.0, 90.0, dataset="beauty", content=1.0),
        fake_run(tmp_path, "lightgcn", 4.0, 50.0, dataset="clothing"),
    ]
    text = write_report(runs, tmp_path / "out").read_text()
    assert "| Dataset | Metric | LightGCN | MICRO | Random | Content | Best |" in text
    assert "| Dataset | n_users | LightGCN R@20 | MICRO R@20 | Random R@20 | Content R@20 " in text
    assert "| **Beauty** | R@10 | 2.00% | **3.00%** | 0.10% | 1.00% | MICRO |" in text
    assert "| | R@20 | 4.00% | **6.00%** | 0.20% | 2.00% | MICRO |" in text  # every track
    assert "| **Clothing** | R@10 | 4.00% | – | 0.10% | – | LightGCN |" in text
    assert "Content read: Beauty text, Clothing –. –: runs from before it." in text
    assert "Beauty: MICRO 6.00% R@20 (random 0.20%, content 2.00%)" in text
    assert "### Against the content-only baseline" in text
    assert "| Beauty | text | MICRO 6.00% / 2.00% = 3.00x | MICRO 6.00% / 2.00% = 3.00x |" in text
    assert "| Clothing | – | LightGCN 8.00% / – = – | LightGCN 8.00% / – = – |" in text
    assert (tmp_path / "out" / "recall_beauty.png").stat().st_size > 1000

    # Without cold tracks there is no ratio to show.
    warm = fake_run(tmp_path / "warm", "micro", 3.0, 9.0, cold=False, content=1.0)
    only_warm = write_report([warm], tmp_path / "out_warm").read_text()
    assert "Against the content-only baseline" not in only_warm
    assert "| | R@20 | 6.00% | 0.20% | 2.00% | MICRO |" in only_warm


def test_bad_runs_are_refused(tmp_path: Path) -> None:
    a = fake_run(tmp_path / "runs", "lightgcn", scale=2.0, seconds=100.0)
    with pytest.raises(ReportError):
        write_report([a, a], tmp_path / "out")
    with pytest.raises(ReportError):
        write_report([tmp_path / "nowhere"], tmp_path / "out")


def test_formatting() -> None:
    assert pct(0.0607) == "6.07%"
    assert pct(None) == "–"
    assert sci(0.0005) == "5e-4"
    assert sci(1e-5) == "1e-5"
    assert sci(0.00025) == "2.5e-4"
    assert sci(0.1) == "0.1"
    assert dataset_label("amazon_beauty") == "Amazon Beauty"


def test_dataset_labels_name_ablations() -> None:
    from training.report.tables import dataset_label

    assert dataset_label("amazon_beauty") == "Amazon Beauty"
    assert dataset_label("tiktok") == "TikTok"
    assert dataset_label("tiktok[audio]") == "TikTok [audio]"


def test_field_beside_our_runs(tmp_path: Path) -> None:
    """`--field`: the committed toolkit file's Beauty rows beside our runs and the content
    baseline; a dataset the file does not cover gets no section; a bad file is refused."""
    field = FIELD_DIR / "coldrec_toolkit.json"
    runs = [
        fake_run(tmp_path, "micro", 3.0, 90.0, dataset="amazon_beauty", content=1.0),
        fake_run(tmp_path, "micro", 3.0, 90.0, dataset="clothing"),
    ]
    text = write_report(runs, tmp_path / "out", [field]).read_text()
    section = text.split("## The field beside us: ColdRec toolkit")[1]
    assert "Measured on our split, not by this report's runs: github YuanchenBei/ColdRec" in section
    assert "| coldrec MICRO | 6.00% | 3.00% | 6.00% | 6.00% |" in section
    assert "| content only (no training) | 2.00% | 1.00% | 2.00% | 2.00% |" in section
    assert (
        "| ColdRec toolkit: DeepMusic (content regression) | 10.53% | 4.53% | 0.95% | 5.50% |"
        in section
    )
    assert "| ColdRec toolkit: Heater | 7.09% | 3.08% | 0.00% | 4.78% |" in section
    assert "Clothing" not in section

    clothing_only = write_report(runs[1:], tmp_path / "out2", [field]).read_text()
    assert "The field beside us" not in clothing_only
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "name": "x",
                "source": "y",
                "datasets": {"b": [{"model": "m", "warm": {"recall@20": 3}}]},
            }
        )
    )
    with pytest.raises(ReportError, match="bad.json"):
        write_report(runs, tmp_path / "out3", [field, bad])


def test_several_fields_each_its_section_in_order(tmp_path: Path) -> None:
    """`--field A --field B`: the committed before-table and toolkit files, each its own section
    (our runs and the content baseline in each), in the order given; swapped, swapped."""
    runs = [fake_run(tmp_path, "micro", 3.0, 90.0, dataset="amazon_beauty", content=1.0)]
    before, toolkit = FIELD_DIR / "coldrec_before.json", FIELD_DIR / "coldrec_toolkit.json"
    text = write_report(runs, tmp_path / "out", [before, toolkit]).read_text()
    first = text.index("## The field beside us: coldrec before issues 13 and 16")
    second = text.index("## The field beside us: ColdRec toolkit")
    assert first < second
    before_section, toolkit_section = text[first:second], text[second:]
    # Beauty MICRO in commit 1ea0887's report (and issue 13's table): 16.36% / 7.98%, 6.76%, 8.77%.
    row = "| coldrec before issues 13 and 16: MICRO | 16.36% | 7.98% | 6.76% | 8.77% |"
    assert row in before_section and "ColdRec toolkit:" not in before_section
    assert "| ColdRec toolkit: ALDI | 7.69% | 3.33% | 0.28% | 5.50% |" in toolkit_section
    assert "coldrec before" not in toolkit_section
    for section in (before_section, toolkit_section):
        assert "| coldrec MICRO | 6.00% | 3.00% | 6.00% | 6.00% |" in section
        assert "| content only (no training) | 2.00% | 1.00% | 2.00% | 2.00% |" in section

    swapped = write_report(runs, tmp_path / "swapped", [toolkit, before]).read_text()
    assert swapped.index("beside us: ColdRec toolkit") < swapped.index("beside us: coldrec before")


REPORT_FIXTURE = """# Training Results Report

| Model | Dataset | Epochs Run | Best Epoch | Stopped By | Train Time |
|-------|---------|------------|------------|------------|------------|
| LightGCN | TikTok | 27 | 17 | patience | 80.8 s |
| MICRO | TikTok | 26 | 26 | time_budget | 1,174.1 s |

## Track 1: Warm Performance

### Recall@K

| Dataset | Metric | LightGCN | MICRO | Random | Best |
|---------|--------|----------|-------|--------|------|
| **TikTok** | R@10 | **9.85%** | 9.32% | 0.23% | LightGCN |
| | R@20 | **14.00%** | 13.03% | 0.42% | LightGCN |

## Track 2: User Robustness

| Dataset | n_users | LightGCN R@20 | MICRO R@20 | Random R@20 | Best |
|---------|---------|---------------|------------|-------------|------|
| TikTok | 3,781 | **14.28%** | 13.28% | 0.42% | LightGCN |

## Track 3: Cold-Start Performance (Inductive Mode)

### Cold-only pool

#### Recall@K

| Dataset | Metric | LightGCN | MICRO | Random | Best |
|---------|--------|----------|-------|--------|------|
| **TikTok** | R@20 | 7.37% | **11.48%** | 3.21% | MICRO |

#### NDCG@K

| Dataset | Metric | LightGCN | MICRO | Random | Best |
|---------|--------|----------|-------|--------|------|
| **TikTok** | N@10 | 2.50% | **4.48%** | 0.83% | MICRO |
| | N@20 | 3.27% | **5.41%** | 1.30% | MICRO |

### All-items pool

#### Recall@K

| Dataset | Metric | LightGCN | MICRO | Random | Best |
|---------|--------|----------|-------|--------|------|
| **TikTok** | R@20 | 2.09% | **3.86%** | 0.25% | MICRO |

#### NDCG@K

| Dataset | Metric | LightGCN | MICRO | Random | Best |
|---------|--------|----------|-------|--------|------|
| **TikTok** | N@20 | 0.89% | **1.56%** | 0.14% | MICRO |
"""


def test_before_figures_extracted_from_a_report(tmp_path: Path) -> None:
    """before_from_report.py reads each pool's R@20 (and cold-only N@20) per model, bold or
    not, ignores the other K, the user tracks and all-items NDCG, names budget-stopped runs, and
    writes a file `--field` accepts."""
    spec = importlib.util.spec_from_file_location("before", FIELD_DIR / "before_from_report.py")
    assert spec is not None and spec.loader is not None
    before = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(before)
    field = before.field_from_report(REPORT_FIXTURE, "abc1234")
    assert field["datasets"] == {
        "tiktok": [
            {
                "model": "LightGCN",
                "cold_only": {"recall@20": 0.0737, "ndcg@20": 0.0327},
                "cold_all": {"recall@20": 0.0209},
                "warm": {"recall@20": 0.14},
            },
            {
                "model": "MICRO",
                "cold_only": {"recall@20": 0.1148, "ndcg@20": 0.0541},
                "cold_all": {"recall@20": 0.0386},
                "warm": {"recall@20": 0.1303},
            },
        ]
    }
    assert "commit abc1234" in field["source"]
    assert "Stopped by that budget: TikTok MICRO (26 epochs)." in field["source"]
    path = tmp_path / "before.json"
    path.write_text(before.render(field))
    assert json.loads(path.read_text()) == field
    runs = [fake_run(tmp_path, "micro", 3.0, 90.0, dataset="tiktok")]
    text = write_report(runs, tmp_path / "out", [path]).read_text()
    assert "| coldrec before issues 13 and 16: MICRO | 11.48% | 5.41% | 3.86% | 13.03% |" in text
