"""Full-ranking evaluation: Recall@K and NDCG@K on the warm, user-robustness and cold tracks.

Pure functions, arrays in, metrics out. Scores are computed in user chunks, so memory stays at
`chunk x n_candidates` floats whatever the number of users (never a dense users x items matrix).
NDCG uses the standard IDCG over min(|T_u|, K) ideal hits (MMRec/DiffMM, MODELS.md section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from training.data.dataset import Dataset
from training.protocol.splits import Part, Split

KS: tuple[int, ...] = (10, 20, 50)
CHUNK = 2048  # users scored at once: 2048 x 12k float32 = 100 MB at most
SPARSE_MAX = 5  # sparse users: <= 5 training interactions
ACTIVE_MIN = 20  # active users: >= 20 training interactions
TRACKS: tuple[str, ...] = ("warm", "sparse", "active", "cold_only", "cold_all")
COLD_TRACKS: tuple[str, ...] = ("cold_only", "cold_all")

TrackMetrics = dict[str, float]
# (user chunk [b] int64, candidate items [c] int64) -> scores [b, c]
ScoreFn = Callable[[np.ndarray, np.ndarray], Tensor]


def metric_names(ks: Sequence[int] = KS) -> list[str]:
    """Keys of a track dict besides `n_users`: recall@K for each K, then ndcg@K."""
    return [f"recall@{k}" for k in ks] + [f"ndcg@{k}" for k in ks]


def rank_metrics(
    user_emb: np.ndarray | Tensor,
    item_emb: np.ndarray | Tensor,
    *,
    exclude: sp.csr_matrix,
    truth: sp.csr_matrix,
    candidates: np.ndarray | None,
    users: np.ndarray | None = None,
    ks: Sequence[int] = KS,
) -> TrackMetrics:
    """Mean Recall@K and NDCG@K of an inner-product ranking, plus `n_users`.

    `exclude` and `truth` are [n_users, n_items] CSR (training items; held-out items).
    `candidates` is a bool mask [n_items] of the rankable items (None: all); excluded items
    score -inf. Evaluated users: those of `users` (default all) with >= 1 truth item among the
    candidates; T_u is restricted to the candidates. With fewer candidates than K, the whole
    candidate list is the top-K.
    """
    u = _as_tensor(user_emb)  # [n_users, d]
    v = _as_tensor(item_emb)  # [n_items, d]
    if v.shape[0] != truth.shape[1] or u.shape[0] != truth.shape[0]:
        raise ValueError("embeddings and truth disagree on the number of users or items")

    def score(chunk: np.ndarray, cand: np.ndarray) -> Tensor:
        return u[torch.from_numpy(chunk).to(u.device)] @ v[torch.from_numpy(cand).to(v.device)].T

    _, per_user = per_user_metrics(
        score, exclude=exclude, truth=truth, candidates=candidates, users=users, ks=ks
    )
    return summarise(per_user, ks)


def per_user_metrics(
    score: ScoreFn,
    *,
    exclude: sp.csr_matrix,
    truth: sp.csr_matrix,
    candidates: np.ndarray | None,
    users: np.ndarray | None = None,
    ks: Sequence[int] = KS,
    chunk_size: int = CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user metrics: (evaluated users [m] int64, values [m, 2 * len(ks)] float64) with the
    columns in the order of `metric_names(ks)`. `score` gives the raw scores of a user chunk
    against the candidate items; the rest is as in `rank_metrics`."""
    n_users, n_items = truth.shape
    cand = np.arange(n_items) if candidates is None else np.flatnonzero(candidates)
    truth_c = sp.csr_matrix(truth[:, cand])  # [n_users, c]
    excl_c = sp.csr_matrix(exclude[:, cand])  # [n_users, c]
    n_truth = np.diff(truth_c.indptr)  # [n_users]
    pool = np.arange(n_users) if users is None else np.unique(np.asarray(users, dtype=np.int64))
    evaluated = pool[n_truth[pool] > 0]
    out = np.zeros((len(evaluated), 2 * len(ks)), dtype=np.float64)
    if len(evaluated) == 0 or len(cand) == 0:
        return evaluated, out

    k_max = min(max(ks), len(cand))
    discount = 1.0 / np.log2(np.arange(2, k_max + 2))  # [k_max]: rank r (0-based) -> 1/log2(r+2)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])  # [k_max + 1]: IDCG of n ideal hits
    for start in range(0, len(evaluated), chunk_size):
        chunk = evaluated[start : start + chunk_size]  # [b]
        with torch.no_grad():
            scores = score(chunk, cand).float()  # [b, c], on the embeddings' device
            _mask(scores, excl_c[chunk])
            top_scores, top = torch.topk(scores, k_max, dim=1)  # [b, k_max]
        finite = torch.isfinite(top_scores).cpu().numpy()
        hits = _hits(truth_c[chunk], top.cpu().numpy()) & finite  # [b, k_max]
        n_t = n_truth[chunk].astype(np.float64)  # [b]
        for j, k in enumerate(ks):
            kk = min(k, k_max)
            h = hits[:, :kk]
            out[start : start + len(chunk), j] = h.sum(axis=1) / n_t
            dcg = h @ discount[:kk]
            idcg = ideal[np.minimum(n_t.astype(np.int64), kk)]
            out[start : start + len(chunk), len(ks) + j] = dcg / idcg
    return evaluated, out


def summarise(per_user: np.ndarray, ks: Sequence[int] = KS) -> TrackMetrics:
    """Average per-user rows into a track dict (zeros when no user is evaluated)."""
    means = per_user.mean(axis=0) if len(per_user) else np.zeros(2 * len(ks))
    track: TrackMetrics = {name: float(m) for name, m in zip(metric_names(ks), means, strict=True)}
    track["n_users"] = len(per_user)
    return track


def evaluate_tracks(
    user_emb: np.ndarray | Tensor,
    item_emb: np.ndarray | Tensor,
    dataset: Dataset,
    split: Split,
    phase: str = "test",
    ks: Sequence[int] = KS,
) -> dict[str, TrackMetrics]:
    """Every track of one model. `item_emb` [n_items, d] has a row for every dataset item:
    trained rows for warm items, projected rows for cold items (the caller builds it)."""
    score = _inner_product(user_emb, item_emb, dataset)
    return _tracks(score, dataset, split, phase, ks)


def cold_tracks(
    user_emb: np.ndarray | Tensor,
    item_emb: np.ndarray | Tensor,
    dataset: Dataset,
    split: Split,
    phase: str = "test",
    ks: Sequence[int] = KS,
) -> dict[str, TrackMetrics]:
    """The cold_only and cold_all tracks of `evaluate_tracks` alone (the same `ColdTrack`),
    without paying for the warm track."""
    score = _inner_product(user_emb, item_emb, dataset)
    tracks = _cold(score, cold_track(dataset, split, phase), ks)
    return {name: track for name, track in tracks.items() if track["n_users"] > 0}


def random_tracks(
    dataset: Dataset, split: Split, phase: str = "test", seed: int = 0, ks: Sequence[int] = KS
) -> dict[str, TrackMetrics]:
    """The same tracks for a ranking by uniform random scores: the baseline to beat."""
    gen = torch.Generator().manual_seed(seed)

    def score(chunk: np.ndarray, cand: np.ndarray) -> Tensor:
        return torch.rand(len(chunk), len(cand), generator=gen)  # [b, c]

    return _tracks(score, dataset, split, phase, ks)


@dataclass(frozen=True)
class ColdTrack:
    """What the cold tracks of one phase evaluate, defined here once for every caller.

    Truth: the phase's cold interactions (held-out items never trained). Pools: cold_only ranks
    the phase's cold items among themselves, cold_all among every item. Training items are
    masked. Evaluated users: those with >= 1 training interaction (the rule of every track) and
    >= 1 truth item in the pool (`per_user_metrics`).
    """

    truth: sp.csr_matrix  # [n_users, n_items] the phase's cold interactions
    exclude: sp.csr_matrix  # [n_users, n_items] training interactions, masked when ranking
    items: np.ndarray  # [n_cold] the phase's cold items
    users: np.ndarray  # [m] users with >= 1 training interaction

    def pools(self) -> dict[str, np.ndarray | None]:
        """Candidates of each cold track, in COLD_TRACKS order: a bool mask [n_items] or None
        (all items)."""
        only = np.zeros(self.truth.shape[1], dtype=bool)
        only[self.items] = True
        return {"cold_only": only, "cold_all": None}


def cold_track(
    dataset: Dataset, split: Split, phase: str = "test", *, train: sp.csr_matrix | None = None
) -> ColdTrack:
    """The cold tracks of `phase` ("test" or "valid"); `train` is the training matrix when the
    caller already has it."""
    _, cold_part = _parts(phase)
    items = split.cold_test_items if phase == "test" else split.cold_valid_items
    train = split.matrix(dataset, Part.TRAIN) if train is None else train
    return ColdTrack(split.matrix(dataset, cold_part), train, items, trained_users(train))


def trained_users(train: sp.csr_matrix) -> np.ndarray:
    """Users with at least one training interaction, the only ones any track evaluates
    (MMRec's `filter_out_cod_start_users`): the others' embeddings never trained."""
    return np.flatnonzero(np.diff(train.indptr) > 0)


def _tracks(
    score: ScoreFn, dataset: Dataset, split: Split, phase: str, ks: Sequence[int]
) -> dict[str, TrackMetrics]:
    """Warm once, segment it for sparse/active, then the two cold pools (`cold_track`)."""
    warm_part, _ = _parts(phase)
    train = split.matrix(dataset, Part.TRAIN)  # [n_users, n_items]
    n_train = np.diff(train.indptr)  # [n_users]
    out: dict[str, TrackMetrics] = {}

    warm_mask = np.zeros(dataset.n_items, dtype=bool)
    warm_mask[split.warm_items(dataset.n_items)] = True
    warm_truth = split.matrix(dataset, warm_part)
    evaluated, per_user = per_user_metrics(
        score,
        exclude=train,
        truth=warm_truth,
        candidates=warm_mask,
        users=trained_users(train),
        ks=ks,
    )
    out["warm"] = summarise(per_user, ks)
    sparse = n_train[evaluated] <= SPARSE_MAX
    active = n_train[evaluated] >= ACTIVE_MIN
    out["sparse"] = summarise(per_user[sparse], ks)
    out["active"] = summarise(per_user[active], ks)

    out |= _cold(score, cold_track(dataset, split, phase, train=train), ks)
    return {name: track for name, track in out.items() if track["n_users"] > 0}


def _cold(score: ScoreFn, cold: ColdTrack, ks: Sequence[int]) -> dict[str, TrackMetrics]:
    out: dict[str, TrackMetrics] = {}
    for name, candidates in cold.pools().items():
        _, per_user = per_user_metrics(
            score,
            exclude=cold.exclude,
            truth=cold.truth,
            candidates=candidates,
            users=cold.users,
            ks=ks,
        )
        out[name] = summarise(per_user, ks)
    return out


def _parts(phase: str) -> tuple[Part, Part]:
    """(warm part, cold part) of a phase."""
    if phase not in ("test", "valid"):
        raise ValueError("phase must be 'test' or 'valid'")
    return (Part.TEST, Part.COLD_TEST) if phase == "test" else (Part.VALID, Part.COLD_VALID)


def _inner_product(
    user_emb: np.ndarray | Tensor, item_emb: np.ndarray | Tensor, dataset: Dataset
) -> ScoreFn:
    u = _as_tensor(user_emb)  # [n_users, d]
    v = _as_tensor(item_emb)  # [n_items, d]
    if u.shape[0] != dataset.n_users or v.shape[0] != dataset.n_items:
        raise ValueError("embeddings must have a row for every dataset user and item")

    def score(chunk: np.ndarray, cand: np.ndarray) -> Tensor:
        return u[torch.from_numpy(chunk).to(u.device)] @ v[torch.from_numpy(cand).to(v.device)].T

    return score


def _as_tensor(x: np.ndarray | Tensor) -> Tensor:
    t = x.detach() if isinstance(x, Tensor) else torch.from_numpy(np.asarray(x))
    return t.float()


def _mask(scores: Tensor, excluded: sp.csr_matrix) -> None:
    """Set the excluded (row, candidate) cells of `scores` [b, c] to -inf, in place."""
    if excluded.nnz == 0:
        return
    rows = np.repeat(np.arange(excluded.shape[0]), np.diff(excluded.indptr))
    cols = excluded.indices.astype(np.int64)
    scores[
        torch.from_numpy(rows).to(scores.device), torch.from_numpy(cols).to(scores.device)
    ] = -np.inf


def _hits(truth: sp.csr_matrix, top: np.ndarray) -> np.ndarray:
    """hits [b, k] bool: whether the item at each top-k position is in the row's truth set."""
    b, k = top.shape
    c = truth.shape[1]
    rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(truth.indptr))
    truth_keys = rows * c + truth.indices.astype(np.int64)  # sorted within rows, rows ascending
    top_keys = np.arange(b, dtype=np.int64)[:, None] * c + top.astype(np.int64)  # [b, k]
    return np.isin(top_keys, truth_keys)
