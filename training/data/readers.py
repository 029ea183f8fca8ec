"""Dataset loaders: detect a folder's format (plain, P5, RecBole, MMRec, DiffMM), read a Dataset.

Formats (see each folder's SOURCE.md under ../shared/data):

- plain: a shop's own `interactions.csv` + `items.csv` (or `.parquet`), optional
  `items.<modality>.npy`; read by `training.data.plain`, whose doc gives the schema.

- P5: `user_sequence.txt` (`user item item ...`, time order) and
  `item_generative_indexing_phase_0.txt` (`item word word ...`), text encoded with MiniLM.
- RecBole / UniSRec: `<Name>.{train,valid,test}.inter`, `<Name>.item2index`, `<Name>.user2index`,
  `<Name>.text`, optional raw float32 `<Name>.feat1CLS` (text) and `<Name>.feat3CLS` (image).
- MMRec: `<name>.inter` TSV (`userID itemID [timestamp] x_label`) with `*_feat.npy`.
- DiffMM: pickled scipy.sparse `trnMat.pkl`, `valMat.pkl` (or `*_valid.pkl`), `tstMat.pkl` with
  `*_feat.npy`. These pickles are read with a restricted unpickler (`training.data.sparse_pickle`).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from models.idmap import IdMap
from training.data.dataset import Dataset
from training.data.formats import (
    DIFFMM_TEST,
    DIFFMM_TRAIN,
    LOOKED_FOR,
    NPY_MODALITIES,
    P5_ITEM_TEXT,
    P5_SEQUENCES,
    RECBOLE_FEAT_DIM,
    RECBOLE_FEATS,
    DatasetError,
    UnknownFormat,
    detect_format,
    diffmm_valid,
    is_diffmm,
    mmrec_inter,
    recbole_name,
)
from training.data.sparse_pickle import load_sparse_pickle
from training.data.text import encode_texts_cached

log = logging.getLogger(__name__)


def load_dataset(
    path: str | Path,
    *,
    cache_dir: Path | None = None,
    text_columns: Sequence[str] | None = None,
    skip_invalid: bool = False,
) -> Dataset:
    """Detect the format of folder `path` and load it. `cache_dir` holds encoded item text.

    `text_columns` and `skip_invalid` are plain input's (`training.data.plain.load_plain`).
    """
    d = Path(path)
    fmt = detect_format(d)
    log.info("loading %s as %s", d, fmt)
    if fmt == "plain":
        from training.data.plain import load_plain

        return load_plain(
            d, cache_dir=cache_dir, text_columns=text_columns, skip_invalid=skip_invalid
        )
    if text_columns:
        raise DatasetError(
            f"--text-columns is for plain input ({LOOKED_FOR['plain']}); {d} is {fmt}"
        )
    if fmt == "p5":
        return load_p5(d, cache_dir=cache_dir)
    if fmt == "recbole":
        return load_recbole(d, cache_dir=cache_dir)
    if fmt == "mmrec":
        return load_mmrec(d)
    return load_diffmm(d)


# -- P5 ------------------------------------------------------------------------------------------
def load_p5(d: Path, *, cache_dir: Path | None = None) -> Dataset:
    """P5 sequences; items in ascending ASIN order (DiffMM matrix columns use the same order)."""
    user_ids = IdMap()
    seqs: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(_lines(d / P5_SEQUENCES), 1):
        tokens = line.split()
        if len(tokens) < 2:
            raise DatasetError(f"{P5_SEQUENCES}:{lineno}: expected `user item ...`")
        seqs.append((user_ids.add(tokens[0]), tokens[1:]))
    texts = p5_item_texts(d)
    item_ids = IdMap(sorted({i for _, s in seqs for i in s} | texts.keys()))
    users, items, order = [], [], []
    seen = np.zeros(len(user_ids), dtype=np.int64)  # a repeated user line continues its history
    for u, seq in seqs:
        users.append(np.full(len(seq), u, dtype=np.int64))
        items.append(item_ids.indices(seq))
        order.append(np.arange(seen[u], seen[u] + len(seq), dtype=np.int64))
        seen[u] += len(seq)
    item_text = [texts.get(i, "") for i in item_ids.ids]
    return Dataset(
        name=d.name,
        user_ids=user_ids,
        item_ids=item_ids,
        users=np.concatenate(users),
        items=np.concatenate(items),
        order=np.concatenate(order),
        modalities={"text": encode_texts_cached(item_text, cache_dir)},
    )


def p5_item_texts(d: Path) -> dict[str, str]:
    """The P5 folder `d`'s item texts: `item -> text` from its `item text ...` lines."""
    texts: dict[str, str] = {}
    for line in _lines(d / P5_ITEM_TEXT):
        item, _, text = line.strip().partition(" ")
        if item:
            texts[item] = text.strip()
    return texts


# -- RecBole / UniSRec ---------------------------------------------------------------------------
def load_recbole(d: Path, *, cache_dir: Path | None = None) -> Dataset:
    """Sequential leave-one-out files; each user's history is rebuilt from all its rows."""
    name = recbole_name(d)
    if name is None:
        raise UnknownFormat(f"no {LOOKED_FOR['recbole']} in {d}")
    rows: dict[str, list[tuple[list[str], str, int]]] = {}  # user -> [(history, target, part)]
    for part, split in enumerate(("train", "valid", "test")):
        for r in _tsv(d / f"{name}.{split}.inter"):
            try:
                history = r["item_id_list:token_seq"].split()
                rows.setdefault(r["user_id:token"], []).append((history, r["item_id:token"], part))
            except KeyError as exc:
                raise DatasetError(f"{name}.{split}.inter lacks column {exc}") from exc
    if not rows:
        raise DatasetError(f"{name}.*.inter hold no interactions")
    cap = max(len(h) for rs in rows.values() for h, _, _ in rs)  # the history truncation length
    item_ids, item_of = _token_map(d / f"{name}.item2index", _item_tokens(rows))
    user_ids, user_of = _token_map(d / f"{name}.user2index", list(rows))
    users, items, order, parts = [], [], [], []
    for user, user_rows in rows.items():
        seq, seq_parts = _rebuild_history(user_rows, cap, user)
        items.append(np.asarray([item_of(t) for t in seq], dtype=np.int64))
        users.append(np.full(len(seq), user_of(user), dtype=np.int64))
        order.append(np.arange(len(seq), dtype=np.int64))
        parts.append(np.asarray(seq_parts, dtype=np.int8))
    modalities: dict[str, np.ndarray] = {}
    for modality, suffix in RECBOLE_FEATS.items():
        feat = d / f"{name}.{suffix}"
        if feat.is_file():
            modalities[modality] = _raw_features(feat, len(item_ids))
    if "text" not in modalities and (d / f"{name}.text").is_file():
        modalities["text"] = _recbole_text(d / f"{name}.text", item_ids, cache_dir)
    return Dataset(
        name=d.name,
        user_ids=user_ids,
        item_ids=item_ids,
        users=np.concatenate(users),
        items=np.concatenate(items),
        order=np.concatenate(order),
        modalities=modalities,
        shipped_part=np.concatenate(parts),
    )


def _rebuild_history(
    rows: list[tuple[list[str], str, int]], cap: int, user: str
) -> tuple[list[str], list[int]]:
    """One user's full sequence and each position's part (the file its target came from).

    Every row is (the window of at most `cap` items before the target, target). When the longest
    row is not truncated and there is one row per position, its window plus target is the whole
    history; otherwise rows are chained: the next row is the one whose window ends the sequence
    built so far.
    """
    last = max(rows, key=lambda r: (len(r[0]), r[2]))
    if len(last[0]) < cap and len(rows) == len(last[0]):
        seq = [*last[0], last[1]]
        parts = [0] * len(seq)
        for _, target, part in rows:
            if part and seq[len(seq) - 3 + part] == target:  # valid: second to last, test: last
                parts[len(seq) - 3 + part] = part
        return seq, parts
    pending = sorted(rows, key=lambda r: (len(r[0]), r[2]))
    seq, parts = list(pending[0][0]), [0] * len(pending[0][0])
    while pending:
        width = min(len(seq), cap)
        for k, (window, target, part) in enumerate(pending):
            if len(window) == width and seq[len(seq) - width :] == window:
                seq.append(target)
                parts.append(part)
                del pending[k]
                break
        else:
            raise DatasetError(f"user {user}: rows do not chain into one history")
    return seq, parts


def _recbole_text(path: Path, item_ids: IdMap, cache_dir: Path | None) -> np.ndarray:
    texts: dict[str, str] = {}
    for r in _tsv(path):
        texts[r.get("item_id:token", "")] = r.get("text:token_seq", "") or ""
    missing = sum(1 for i in item_ids.ids if i not in texts)
    if missing:
        log.warning("%s: %d of %d items have no text", path.name, missing, len(item_ids))
    return encode_texts_cached([texts.get(i, "").strip() for i in item_ids.ids], cache_dir)


def _raw_features(path: Path, n_items: int) -> np.ndarray:
    """A raw float32 file with one 512-d row per item index."""
    arr = np.fromfile(path, dtype=np.float32)
    if arr.size != n_items * RECBOLE_FEAT_DIM:
        raise DatasetError(
            f"{path.name}: {arr.size} floats, expected {n_items} items x {RECBOLE_FEAT_DIM}"
        )
    return arr.reshape(n_items, RECBOLE_FEAT_DIM)


def _item_tokens(rows: dict[str, list[tuple[list[str], str, int]]]) -> list[str]:
    seen: dict[str, None] = {}
    for user_rows in rows.values():
        for history, target, _ in user_rows:
            seen.update(dict.fromkeys(history))
            seen[target] = None
    return list(seen)


def _token_map(path: Path, tokens: list[str]) -> tuple[IdMap, Callable[[str], int]]:
    """The id map for .inter tokens and a token -> internal index function.

    With `path` (`externalId<TAB>index` lines) tokens are indices into it, so row i of the
    feature files stays item i. Without it, tokens are the external ids themselves.
    """
    if not path.is_file():
        ids = IdMap(tokens)
        return ids, ids.index
    pairs: list[tuple[int, str]] = []
    for line in _lines(path):
        ext, _, idx = line.strip().partition("\t")
        try:
            pairs.append((int(idx), ext))
        except ValueError as exc:
            raise DatasetError(f"{path.name}: bad line {line!r}") from exc
    pairs.sort()
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise DatasetError(f"{path.name}: indices are not 0..n-1")
    ids = IdMap(ext for _, ext in pairs)

    def index_of(token: str) -> int:
        try:
            idx = int(token)
        except ValueError as exc:
            raise DatasetError(f"{path.name}: token {token!r} is not an index") from exc
        if not 0 <= idx < len(ids):
            raise DatasetError(f"index {token} outside {path.name}")
        return idx

    return ids, index_of


# -- MMRec ---------------------------------------------------------------------------------------
def load_mmrec(d: Path) -> Dataset:
    """MMRec `.inter` TSV: userID/itemID are dense ints, `x_label` 0/1/2, rows of `*_feat.npy`."""
    inter = mmrec_inter(d)
    if inter is None:
        raise UnknownFormat(f"no {LOOKED_FOR['mmrec']} in {d}")
    rows = list(_tsv(inter))
    if not rows or not {"userID", "itemID"} <= rows[0].keys():
        raise DatasetError(f"{inter.name}: needs a header with userID and itemID")
    try:
        users = np.asarray([int(r["userID"]) for r in rows], dtype=np.int64)
        items = np.asarray([int(r["itemID"]) for r in rows], dtype=np.int64)
        labels = [int(r.get("x_label") or 0) for r in rows]
        stamps = [float(r["timestamp"]) for r in rows] if "timestamp" in rows[0] else None
    except ValueError as exc:
        raise DatasetError(f"{inter.name}: {exc}") from exc
    if users.min() < 0 or items.min() < 0:
        raise DatasetError(f"{inter.name}: negative ids")
    modalities = _npy_features(d)
    n_items = max([int(items.max()) + 1, *(len(f) for f in modalities.values())])
    _check_rows(modalities, n_items, d)
    if stamps is not None:
        order = np.asarray(stamps, dtype=np.float64)
    else:  # position in the file within each user
        order = _positions(users)
    return Dataset(
        name=d.name,
        user_ids=IdMap(str(u) for u in range(int(users.max()) + 1)),
        item_ids=IdMap(str(i) for i in range(n_items)),
        users=users,
        items=items,
        order=order,
        modalities=modalities,
        shipped_part=np.asarray(labels, dtype=np.int8),
    )


def _positions(users: np.ndarray) -> np.ndarray:
    """The rank of each row among its user's rows, in file order."""
    sort = np.argsort(users, kind="stable")
    starts = np.searchsorted(users[sort], users[sort], side="left")
    pos = np.empty(len(users), dtype=np.int64)
    pos[sort] = np.arange(len(users)) - starts
    return pos


# -- DiffMM --------------------------------------------------------------------------------------
def load_diffmm(d: Path) -> Dataset:
    """Union of the three sparse matrices; `order` = `shipped_part` = 0 train, 1 valid, 2 test."""
    valid = diffmm_valid(d)
    if not is_diffmm(d) or valid is None:
        raise UnknownFormat(f"no {LOOKED_FOR['diffmm']} in {d}")
    mats = [load_sparse_pickle(p) for p in (d / DIFFMM_TRAIN, valid, d / DIFFMM_TEST)]
    n_users = max(m.shape[0] for m in mats)
    n_items = max(m.shape[1] for m in mats)
    users, items, parts = [], [], []
    for part, m in enumerate(mats):
        m = m.tocsr().tocoo()  # sums duplicate entries
        keep = m.data != 0
        users.append(m.row[keep].astype(np.int64))
        items.append(m.col[keep].astype(np.int64))
        parts.append(np.full(int(keep.sum()), part, dtype=np.int8))
    modalities = _npy_features(d)
    _check_rows(modalities, n_items, d)
    part_arr = np.concatenate(parts)
    return Dataset(
        name=d.name,
        user_ids=IdMap(str(u) for u in range(n_users)),
        item_ids=IdMap(str(i) for i in range(n_items)),
        users=np.concatenate(users),
        items=np.concatenate(items),
        order=part_arr.astype(np.int64),
        modalities=modalities,
        shipped_part=part_arr,
    )


# -- shared helpers ------------------------------------------------------------------------------
def _npy_features(d: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for modality in NPY_MODALITIES:
        path = d / f"{modality}_feat.npy"
        if path.is_file():
            arr = np.load(path, allow_pickle=False)
            if arr.ndim != 2:
                raise DatasetError(f"{path.name}: expected a 2-d array, got shape {arr.shape}")
            out[modality] = np.ascontiguousarray(arr, dtype=np.float32)
    return out


def _check_rows(modalities: dict[str, np.ndarray], n_items: int, d: Path) -> None:
    for modality, arr in modalities.items():
        if len(arr) != n_items:
            raise DatasetError(f"{d.name}/{modality}_feat.npy: {len(arr)} rows for {n_items} items")


def _lines(path: Path) -> list[str]:
    try:
        return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _tsv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
