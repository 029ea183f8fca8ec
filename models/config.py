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
    """LATTICE (MODELS.md 1.1): learned + frozen cosine kNN item graph over LightGCN."""

    knn_k: int = 10
    skip_lambda: float = 0.9  # weight of the frozen feature graph in the mixed item graph
    item_layers: int = 1  # propagations of the ID table over the item graph
    feat_embed_dim: int = 64  # width of W_m x^m, the space the learned graph's cosines live in
    knn_chunk: int = 2048  # rows per block of the chunked top-k (peak chunk x n_items floats)


@dataclass
class MicroConfig:
    """MICRO (MODELS.md 1.2): one item graph per modality, attention fusion, contrastive fusion."""

    knn_k: int = 10
    skip_lambda: float = 0.9
    item_layers: int = 1
    feat_embed_dim: int = 64
    knn_chunk: int = 2048
    cl_weight: float = 0.03
    cl_temperature: float = 0.5
    # InfoNCE runs over the batch's distinct items (positives and negatives), at most this many
    # (a random subset beyond it); the original contrasts all items on every batch, O(I^2 d).
    # 1024 keeps the term at a few percent of a step on CPU (4096 made it most of the step).
    cl_max_items: int = 1024


@dataclass
class DiffMMConfig:
    """DiffMM (MODELS.md 1.3): per-modality diffusion over user rows, generated user-item graphs."""

    steps: int = 5
    noise_scale: float = 0.1
    noise_min: float = 1e-4
    noise_max: float = 0.02
    denoiser_hidden: int = 1000
    denoiser_dropout: float = 0.5
    time_embed_dim: int = 10
    msi_weight: float = 0.1  # e_loss in the paper's code
    denoiser_lr: float = 1e-3
    denoise_batch: int = 1024  # users per denoiser batch (a dense [batch, n_items] slice)
    denoise_users_per_epoch: int = 0  # users the denoisers train on per epoch; 0 = all (paper)
    rebuild_every: int = 1  # regenerate the modal graphs every this many epochs (paper: 1)
    # Users whose generated edges each rebuild renews, in turn (a rolling window over the users);
    # 0 = every user (paper). Denoising costs users x items x hidden per step, ~240 TFLOP per
    # modality for Amazon Electronics, so large catalogues renew a slice per rebuild.
    regenerate_users_per_epoch: int = 0
    rebuild_k: int = 1
    keep_rate: float = 0.5
    modal_graph_weight: float = 0.2  # ris_adj_lambda
    ris_lambda: float = 0.5
    feat_transform: str = "linear"  # "linear" (trans 1) or "leaky" (LeakyReLU(X W), trans 0)
    ssl_weight: float = 1e-2
    ssl_temperature: float = 0.5
    cl_method: int = 0  # 0: modality vs modality (all pairs); 1: each modality vs the main view
    # False: InfoNCE denominators over the batch's distinct users / items; True: over all nodes
    # as in the paper (O(B (U + I) d) per batch).
    ssl_all_nodes: bool = False
    # Anchors of each InfoNCE term: the batch's distinct users / items, or at most this many of
    # them drawn at random (0 = all). Its cost grows with their square: 3,400 distinct users of
    # a 4,096 batch on Beauty made the two terms ~40% of a step (MICRO caps its own at 1,024).
    ssl_max_nodes: int = 0
    # "bf16": the denoisers (training and regeneration, the MSI term too) and the contrastive
    # logits multiply in bfloat16 (AMX / AVX512-BF16 on a recent Xeon: 5-7x fp32's matmul speed);
    # weights, Adam and the graph propagation stay fp32. Only where the device multiplies bf16
    # natively (models.diffusion.bf16_is_native: AVX-512/AMX CPUs through oneDNN, GPUs); on an
    # AVX2-only CPU (this AMD EPYC) torch's bf16 matmul is ~80x slower than fp32, so "bf16" runs
    # fp32 there, exactly as "fp32". "fp32" (default): everything in fp32.
    precision: str = "fp32"


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
