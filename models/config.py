"""Typed model configurations; defaults follow the seed report (d 384, 3 layers) and MODELS.md."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ProjectorConfig:
    """The modal projector: concatenated (per-modality L2-normalised) features -> hidden -> dim."""

    hidden: int = 1024
    dropout: float = 0.5


@dataclass
class LatticeConfig:
    knn_k: int = 10
    skip_lambda: float = 0.9  # weight of the frozen feature graph in the mixed item graph
    item_layers: int = 1
    feat_embed_dim: int = 64


@dataclass
class MicroConfig:
    knn_k: int = 10
    skip_lambda: float = 0.9
    item_layers: int = 1
    feat_embed_dim: int = 64
    cl_weight: float = 0.03
    cl_temperature: float = 0.5
    cl_chunk: int = 4096


@dataclass
class DiffMMConfig:
    steps: int = 5
    noise_scale: float = 0.1
    noise_min: float = 1e-4
    noise_max: float = 0.02
    denoiser_hidden: int = 1000
    time_embed_dim: int = 10
    msi_weight: float = 0.1  # e_loss in the paper's code
    denoiser_lr: float = 1e-3
    rebuild_k: int = 1
    keep_rate: float = 0.5
    modal_graph_weight: float = 0.2
    ris_lambda: float = 0.5
    ssl_weight: float = 1e-2
    ssl_temperature: float = 0.5


@dataclass
class ModelConfig:
    """Everything a model constructor needs; one section per model, the shared fields on top."""

    dim: int = 384
    n_layers: int = 3
    reg: float = 1e-5
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    lattice: LatticeConfig = field(default_factory=LatticeConfig)
    micro: MicroConfig = field(default_factory=MicroConfig)
    diffmm: DiffMMConfig = field(default_factory=DiffMMConfig)
