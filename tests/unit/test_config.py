"""Typed configuration and its overrides."""

import pytest

from training.config import RunConfig, apply_overrides, load_config_file, parse_assignments


def test_defaults() -> None:
    """The seed report's model sizes; batch and lr chosen leave-one-dataset-out (issue 13)."""
    cfg = RunConfig()
    assert (cfg.model.dim, cfg.model.n_layers, cfg.train.batch_size, cfg.train.lr) == (
        384,
        3,
        4096,
        1e-3,
    )
    assert (cfg.model.projector.hidden, cfg.model.projector.dropout) == (1024, 0.5)


def test_overrides_from_assignments_and_file(tmp_path) -> None:
    cfg = RunConfig()
    apply_overrides(cfg, parse_assignments(["model.dim=64", "train.lr=1e-3"]))
    path = tmp_path / "run.toml"
    path.write_text("[model.projector]\nhidden = 256\n[train]\nepochs = 7\n")
    apply_overrides(cfg, load_config_file(path))
    assert cfg.model.dim == 64 and cfg.train.lr == 1e-3
    assert cfg.model.projector.hidden == 256 and cfg.train.epochs == 7


@pytest.mark.parametrize(
    "assignment", ["model.nope=1", "model.dim=abc", "train=3", "model.projector=1", "dim"]
)
def test_bad_overrides_are_refused(assignment: str) -> None:
    with pytest.raises(ValueError):
        apply_overrides(RunConfig(), parse_assignments([assignment]))
