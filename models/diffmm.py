"""DiffMM (Jiang et al., MM'24, "DiffMM: Multi-Modal Diffusion Model for Recommendation").

Per modality m, a denoiser learns to reconstruct users' interaction rows (with MSI, the
modality-aware signal injection); each epoch it denoises every user's row and keeps the top
`rebuild_k` items, giving a generated user-item graph G_m = N(edges + I) with edge dropout.
Recommender, with A = N(B + I) and f_m the projected modality features:
  Z_m = A [E_u; norm f_m];  Z_m += A [Z_m,users; E_i];  Z_m += 0.2 G_m [E_u; E_i]
  Z = sum_m softmax(w)_m Z_m;  E = sum_{l=0..L} A^l Z;  output E + ris_lambda norm(Z).
Loss: BPR + reg |tables|^2 + ssl_weight * cross-modal InfoNCE over the views
V_m = sum_{l=0..L} A^l G_m [E_u; norm f_m] (MODELS.md 1.3).

Differences from the original code, on purpose:
- the interaction matrix is never dense: denoisers see [batch, I] slices, the rebuild is batched
  top-k on tensors (the original loops per user in Python with a .cpu() per element);
- InfoNCE denominators run over the batch's distinct users / items unless `ssl_all_nodes`
  (the original: all nodes, O(B (U + I) d) per batch);
- `cfg.n_layers` GCN layers (the original's gnn_layer is 1); raw features frozen;
- optional sampling for large catalogues (both off by default, i.e. the paper's schedule): the
  denoisers may train on `denoise_users_per_epoch` users, the graphs may be rebuilt every
  `rebuild_every` epochs, and each rebuild may renew `regenerate_users_per_epoch` users in turn;
- two speed options, also off by default (issue 16): `precision` "bf16" runs the denoisers' and
  the contrastive logits' matmuls in bfloat16 (where the device does so natively, else fp32),
  `ssl_max_nodes` caps the contrastive anchors.
The generated graphs are stored as buffers (each user's generated items and the dropout seed), so
a restored state_dict restores the graphs the weights were trained with.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.base import Batch, RecModel, TrainGraphs, bpr_terms
from models.config import ModelConfig
from models.diffmm_cold import ItemViews, cold_item_views, warm_item_views
from models.diffusion import Denoiser, DiffusionSchedule, HiddenChain, UserRows, matmul
from models.graph import bipartite_adjacency, spmm
from models.modal_graphs import check_modal_features, require_modalities


class DiffMM(RecModel):
    """DiffMM over any number of modalities; the denoisers have their own optimizers."""

    name = "diffmm"

    def __init__(
        self, cfg: ModelConfig, n_users: int, n_items: int, modal_dims: dict[str, int]
    ) -> None:
        super().__init__(cfg, n_users, n_items, modal_dims)
        require_modalities(self.name, modal_dims)
        dc = cfg.diffmm
        if dc.feat_transform not in {"linear", "leaky"}:
            raise ValueError(
                f"feat_transform must be 'linear' or 'leaky', not {dc.feat_transform!r}"
            )
        if dc.precision not in {"fp32", "bf16"}:
            raise ValueError(f"precision must be 'fp32' or 'bf16', not {dc.precision!r}")
        self.bf16 = dc.precision == "bf16"
        self.names = sorted(modal_dims)
        self.user_table = nn.Embedding(n_users, cfg.dim)
        self.item_table = nn.Embedding(n_items, cfg.dim)
        nn.init.xavier_uniform_(self.user_table.weight)
        nn.init.xavier_uniform_(self.item_table.weight)
        bias = dc.feat_transform == "linear"
        transforms = {m: nn.Linear(modal_dims[m], cfg.dim, bias=bias) for m in self.names}
        for layer in transforms.values():
            nn.init.xavier_uniform_(layer.weight)
        self.feat_trans = nn.ModuleDict(transforms)
        self.modal_logits = nn.Parameter(torch.full((len(self.names),), 0.5))
        self.denoisers = nn.ModuleDict(
            {
                m: Denoiser(
                    n_items, dc.denoiser_hidden, dc.time_embed_dim, dc.denoiser_dropout, self.bf16
                )
                for m in self.names
            }
        )
        self.rebuild_k = min(dc.rebuild_k, n_items)
        for m in self.names:  # -1: nothing generated yet (G_m is the identity)
            self.register_buffer(
                f"generated_{m}", torch.full((n_users, self.rebuild_k), -1, dtype=torch.int64)
            )
        self.register_buffer("drop_seed", torch.zeros((), dtype=torch.int64))
        self.register_buffer("regen_cursor", torch.zeros((), dtype=torch.int64))
        self.schedule = DiffusionSchedule(dc)
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._features: dict[str, Tensor] = {}
        self._rows: UserRows | None = None
        self._adj: Tensor | None = None
        self._modal_graphs: list[Tensor] | None = None
        self._epochs_seen = 0
        self.register_load_state_dict_post_hook(  # type: ignore[no-untyped-call]
            lambda module, keys: self._forget_graphs()
        )

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self, graphs: TrainGraphs) -> None:
        features = check_modal_features(graphs, self.modal_dims)  # raises before any state changes
        super().prepare(graphs)
        self._features = features
        self._rows = UserRows(graphs.users, graphs.items, self.n_users, self.n_items)
        users, items = graphs.users.cpu().numpy(), graphs.items.cpu().numpy()
        adj = bipartite_adjacency(users, items, self.n_users, self.n_items, self_loops=True)
        self._adj = adj.to(graphs.adj.device)  # N(B + I), as DiffMM's torchBiAdj
        lr = self.cfg.diffmm.denoiser_lr
        self._optimizers = {
            m: torch.optim.Adam(self.denoisers[m].parameters(), lr=lr) for m in self.names
        }
        self._forget_graphs()

    def recommender_parameters(self) -> Iterator[nn.Parameter]:
        """Everything but the projector and the denoisers (they have their own Adam)."""
        skip = {id(p) for p in self.denoisers.parameters()}
        return (p for p in super().recommender_parameters() if id(p) not in skip)

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        """Train the denoisers over the users, then regenerate every modal graph."""
        logs: dict[str, float] = {}
        if self._epochs_seen % self.cfg.diffmm.rebuild_every == 0:
            logs = self.train_denoisers()
            self.regenerate()
        self._epochs_seen += 1
        return logs

    # -- diffusion side ------------------------------------------------------------------------
    def _user_rows(self) -> UserRows:
        _ = self.graphs  # raises ModelNotPrepared before prepare
        assert self._rows is not None
        return self._rows

    def modal_features(self, m: str) -> Tensor:
        """f_m(X_m): Linear, or LeakyReLU_0.2(X W) for feat_transform 'leaky': [I, d]."""
        return self.transform_features(m, self._features[m])

    def train_denoisers(self) -> dict[str, float]:
        """One pass of every denoiser over (a sample of) the users, batch by batch."""
        dc = self.cfg.diffmm
        rows = self._user_rows()
        device = self.item_table.weight.device
        order = torch.randperm(self.n_users, device=device)
        if dc.denoise_users_per_epoch > 0:
            order = order[: dc.denoise_users_per_epoch]
        with torch.no_grad():
            item_emb = self.item_table.weight.detach()  # [I, d]
            feats = {m: self.modal_features(m).detach() for m in self.names}
        sums = {m: [0.0, 0.0] for m in self.names}
        n_batches = 0
        for start in range(0, len(order), dc.denoise_batch):
            x0 = rows.dense(order[start : start + dc.denoise_batch])  # [B, I]
            for m in self.names:
                denoiser, optimizer = self._denoiser(m), self._optimizers[m]
                denoiser.train()
                diff, msi = self.schedule.training_losses(denoiser, x0, item_emb, feats[m])
                optimizer.zero_grad(set_to_none=True)
                (diff + dc.msi_weight * msi).backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                sums[m][0] += float(diff.detach())
                sums[m][1] += float(msi.detach())
            n_batches += 1
        for optimizer in self._optimizers.values():
            optimizer.zero_grad(set_to_none=True)  # free the gradients until the next epoch
        logs = {}
        for m, (diff_sum, msi_sum) in sums.items():
            logs[f"diff_{m}"] = diff_sum / max(n_batches, 1)
            logs[f"msi_{m}"] = msi_sum / max(n_batches, 1)
        return logs

    @torch.no_grad()
    def regenerate(self) -> None:
        """Denoise users' rows and keep each one's top `rebuild_k` items per modality (batched):
        every user, or the next `regenerate_users_per_epoch` of them in turn."""
        rows = self._user_rows()
        dc = self.cfg.diffmm
        device = self.item_table.weight.device
        chosen = self._users_to_regenerate(device)
        for m in self.names:
            denoiser = self._denoiser(m)
            chain = HiddenChain(denoiser)  # the weights' products, once for every batch
            with denoiser.autocast(device.type):  # bf16: its weights cast once, not per pass
                for start in range(0, len(chosen), dc.denoise_batch):
                    users = chosen[start : start + dc.denoise_batch]
                    denoised = self.schedule.denoise(denoiser, rows.dense(users), chain)  # [B, I]
                    self._generated(m)[users] = denoised.topk(self.rebuild_k, dim=1).indices
        self._drop_seed().fill_(int(torch.randint(0, 2**62, ())))
        self._forget_graphs()

    def _users_to_regenerate(self, device: torch.device) -> Tensor:
        """All users, or the window [cursor, cursor + n) mod n_users, advancing the cursor."""
        n = self.cfg.diffmm.regenerate_users_per_epoch
        if n <= 0 or n >= self.n_users:
            return torch.arange(self.n_users, device=device)
        cursor: Tensor = self.get_buffer("regen_cursor")
        start = int(cursor)
        cursor.fill_((start + n) % self.n_users)
        return (start + torch.arange(n, device=device)) % self.n_users

    def _denoiser(self, m: str) -> Denoiser:
        module = self.denoisers[m]
        assert isinstance(module, Denoiser)
        return module

    def _drop_seed(self) -> Tensor:
        buf = self.get_buffer("drop_seed")
        return buf

    def _generated(self, m: str) -> Tensor:
        buf: Tensor = getattr(self, f"generated_{m}")
        return buf

    def _forget_graphs(self) -> None:
        self._modal_graphs = None

    def modal_graphs(self) -> list[Tensor]:
        """G_m = dropout(N(generated edges + I)), sparse [U + I, U + I], in modality order."""
        if self._modal_graphs is None:
            self._modal_graphs = [self._build_modal_graph(j, m) for j, m in enumerate(self.names)]
        return self._modal_graphs

    def _build_modal_graph(self, j: int, m: str) -> Tensor:
        """Users not generated yet (-1) have their self-loop only; before any rebuild, G_m = I."""
        gen = self._generated(m).cpu()
        users = torch.arange(self.n_users).repeat_interleave(self.rebuild_k)
        items = gen.reshape(-1)
        known = items >= 0
        graph = bipartite_adjacency(
            users[known].numpy(), items[known].numpy(), self.n_users, self.n_items, self_loops=True
        )
        if not bool(known.any()):
            return graph.to(self._adjacency().device)
        seed = int(self._drop_seed()) + j
        return edge_dropout(graph, self.cfg.diffmm.keep_rate, seed).to(self._adjacency().device)

    def _adjacency(self) -> Tensor:
        _ = self.graphs  # raises ModelNotPrepared before prepare
        assert self._adj is not None
        return self._adj

    # -- recommender ---------------------------------------------------------------------------
    def _layers_sum(self, x: Tensor) -> Tensor:
        """sum_{l=0..L} A^l x."""
        total, layer = x, x
        for _ in range(self.cfg.n_layers):
            layer = spmm(self._adjacency(), layer)
            total = total + layer
        return total

    def forward_views(self) -> tuple[Tensor, Tensor, list[Tensor]]:
        """(users [U, d], items [I, d], per modality the feature-side nodes [E_u; norm f_m])."""
        adj, graphs = self._adjacency(), self.modal_graphs()
        dc = self.cfg.diffmm
        users_e, items_e = self.user_table.weight, self.item_table.weight
        ego = torch.cat([users_e, items_e])  # [U + I, d]
        feat_nodes = [
            torch.cat([users_e, row_normalize(self.modal_features(m))]) for m in self.names
        ]
        weights = torch.softmax(self.modal_logits, 0)
        fused: Tensor | None = None  # no zeros to start from: 0 + a is a
        for j, nodes in enumerate(feat_nodes):
            z = spmm(adj, nodes)  # [U + I, d]
            z = z + spmm(adj, torch.cat([z[: self.n_users], items_e]))
            z = z + dc.modal_graph_weight * spmm(graphs[j], ego)
            fused = weights[j] * z if fused is None else fused + weights[j] * z
        assert fused is not None  # require_modalities: at least one
        out = self._layers_sum(fused) + dc.ris_lambda * row_normalize(fused)
        return out[: self.n_users], out[self.n_users :], feat_nodes

    def propagate(self) -> tuple[Tensor, Tensor]:
        users, items, _ = self.forward_views()
        return users, items

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        users, items, feat_nodes = self.forward_views()
        terms = {"bpr": bpr_terms(users, items, batch, 0.0)["bpr"]}
        tables = self.user_table.weight.pow(2).sum() + self.item_table.weight.pow(2).sum()
        terms["reg"] = self.cfg.reg * tables
        terms["ssl"] = self.cfg.diffmm.ssl_weight * self._ssl(users, items, feat_nodes, batch)
        return terms

    def _ssl(self, users: Tensor, items: Tensor, feat_nodes: list[Tensor], batch: Batch) -> Tensor:
        """Cross-modal InfoNCE on the batch's users and positive items (DiffMM's contrastLoss)."""
        dc = self.cfg.diffmm
        graphs = self.modal_graphs()
        views = [self._layers_sum(spmm(g, x)) for g, x in zip(graphs, feat_nodes, strict=True)]
        split = [(v[: self.n_users], v[self.n_users :]) for v in views]
        if dc.cl_method == 0 and len(split) >= 2:
            pairs = list(combinations(split, 2))
        else:
            pairs = [(view, (users, items)) for view in split]
        pools = (batch.users, batch.pos_items)
        total = torch.zeros((), device=users.device)
        for first, second in pairs:
            for side in (0, 1):
                total = total + contrast(
                    first[side],
                    second[side],
                    pools[side],
                    dc.ssl_temperature,
                    dc.ssl_all_nodes,
                    self.bf16,
                    dc.ssl_max_nodes,
                )
        return total

    # -- the original's cold start (a diagnostic, issue 3 item 4) ------------------------------
    def native_cold_embeddings(self, features: dict[str, Tensor]) -> Tensor:
        """What DiffMM's own code gives items with no interaction: [n, d] (`cold_item_views`)."""
        return self.cold_item_views(features).embedding

    def cold_item_views(
        self, features: dict[str, Tensor], id_embeddings: Tensor | None = None, seed: int = 0
    ) -> ItemViews:
        """DiffMM's forward pass for zero-degree items (models/diffmm_cold.py)."""
        return cold_item_views(self, features, id_embeddings, seed)

    def warm_item_views(self) -> ItemViews:
        """The same three views for the training items (models/diffmm_cold.py)."""
        return warm_item_views(self)

    def transform_features(self, m: str, x: Tensor) -> Tensor:
        """f_m of given features, as `modal_features` does for the training items: [n, d]."""
        h = self.feat_trans[m](x)
        return F.leaky_relu(h, 0.2) if self.cfg.diffmm.feat_transform == "leaky" else h


def contrast(
    a: Tensor,
    b: Tensor,
    nodes: Tensor,
    tau: float,
    all_nodes: bool,
    bf16: bool = False,
    max_nodes: int = 0,
) -> Tensor:
    """mean over `nodes` of -log e^{s(a_i, b_i)/tau} / sum_j e^{s(a_i, b_j)/tau}, s = cosine;
    j runs over every node (`all_nodes`) or over the distinct `nodes` (in-batch).

    Computed once per distinct node and weighted by its count in `nodes` (the same mean: a
    batch repeats popular users and items, 4,096 positives are ~2,600 distinct items on
    Beauty), with 1/tau applied to the [P, d] anchors rather than the [P, P] logits; the
    logits multiplied in bfloat16 with `bf16`. `max_nodes` > 0: at most that many distinct
    nodes, drawn at random, are anchors (and, in-batch, the pool), their counts the weights.
    """
    distinct, counts = torch.unique(nodes, return_counts=True)  # [P], [P]
    if 0 < max_nodes < len(distinct):
        keep = torch.randperm(len(distinct), device=distinct.device)[:max_nodes]
        distinct, counts = distinct[keep], counts[keep]
    anchors = F.normalize(a[distinct], dim=1) / tau  # [P, d]
    positives = F.normalize(b[distinct], dim=1)  # [P, d]
    pool = F.normalize(b, dim=1) if all_nodes else positives  # [P or U + I, d]
    logits = matmul(anchors, pool.T, bf16)  # [P, P]
    per_node = torch.logsumexp(logits, dim=1) - (anchors * positives).sum(1)  # [P]
    loss: Tensor = (per_node * counts).sum() / counts.sum()
    return loss


def row_normalize(x: Tensor) -> Tensor:
    """F.normalize(x, dim=1) (eps 1e-12), the same values, with a cheaper backward."""
    out: Tensor = _RowNormalize.apply(x)  # type: ignore[no-untyped-call]
    return out


class _RowNormalize(torch.autograd.Function):
    """y = x / max(|x|, eps) per row; grad = (g - y <g, y>) / max(|x|, eps), g / eps on rows
    the clamp holds. Three passes over [n, d] backward where autograd's F.normalize makes ~10
    (the division by an expanded norm): issue 16, [32044, 384] forward and backward, one thread,
    0.37-0.43 s against 0.23-0.27 s; gradients equal up to float rounding (~1e-7 relative)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)  # [n, 1]
        denom = norm.clamp_min(1e-12)
        y = x / denom
        ctx.save_for_backward(y, denom, norm >= 1e-12)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        y, denom, unclamped = ctx.saved_tensors
        along = (grad * y).sum(1, keepdim=True) * unclamped  # [n, 1]
        out: Tensor = (grad - y * along) / denom
        return out


def edge_dropout(graph: Tensor, keep_rate: float, seed: int) -> Tensor:
    """Keep each stored entry with probability keep_rate, rescaled by 1 / keep_rate (seeded)."""
    if keep_rate >= 1.0:
        return graph
    generator = torch.Generator().manual_seed(seed)
    values = graph.values()
    keep = torch.rand(len(values), generator=generator) < keep_rate
    index = graph.indices()[:, keep]
    return torch.sparse_coo_tensor(
        index, values[keep] / keep_rate, graph.shape, is_coalesced=True, check_invariants=False
    )
