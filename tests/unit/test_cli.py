"""The `coldrec` command line (coldrec/cli.py) on generated data: data stats, train, report."""

import json

import pytest

from coldrec.cli import build_parser, main


def test_data_stats_prints_one_json_object(capsys) -> None:
    assert main(["data", "stats", "synthetic:n_users=50,n_items=40,seed=2"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["users"] == 50 and stats["items"] == 40
    assert stats["interactions"] > 0 and stats["modalities"] == {"image": 16, "text": 32}


def test_train_then_report(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            "synthetic:n_users=80,n_items=60",
            "--model",
            "lightgcn",
            "--out",
            str(run),
            "--epochs",
            "3",
            "--seed",
            "4",
            "--cold-fraction",
            "0.3",
            "--quiet",
            "--set",
            "model.dim=16",
            "--set",
            "model.projector.hidden=32",
            "--set",
            "train.projector_epochs=3",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "lightgcn"
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["seed"] == 4 and config["train"]["cold_fraction"] == 0.3
    assert config["model"]["dim"] == 16
    assert (run / "bundle" / "manifest.json").exists() and (run / "split.npz").exists()
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").read_text().startswith("#")


def test_bad_setting_is_a_clear_error(tmp_path, capsys) -> None:
    code = main(
        [
            "train",
            "--data",
            "synthetic",
            "--model",
            "lightgcn",
            "--out",
            str(tmp_path),
            "--set",
            "model.nonsense=1",
            "--quiet",
        ]
    )
    assert code == 2
    assert "unknown setting 'model.nonsense'" in capsys.readouterr().err


def test_unknown_model_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--data", "x", "--model", "nope", "--out", "y"])


def test_modality_ablation_keeps_only_the_named_modalities(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    args = ["train", "--data", "synthetic:n_users=60,n_items=40", "--model", "lightgcn"]
    args += ["--out", str(run), "--epochs", "2", "--quiet", "--modalities", "image"]
    args += ["--set", "model.dim=16", "--set", "train.projector_epochs=2"]
    assert main(args) == 0
    assert json.loads((run / "config.json").read_text())["modal_dims"] == {"image": 16}
    # the ablation is its own dataset in reports, beside the run with every modality
    assert json.loads((run / "metrics.json").read_text())["dataset"].endswith("[image]")
    with __import__("numpy").load(run / "embeddings.npz") as z:
        assert z["items"].shape == (40, 16) and z["users"].shape == (60, 16)
    capsys.readouterr()
    bad = ["train", "--data", "synthetic", "--model", "lightgcn", "--out", str(tmp_path / "x")]
    assert main([*bad, "--modalities", "audio", "--quiet"]) == 2
    assert "has no modality audio" in capsys.readouterr().err
