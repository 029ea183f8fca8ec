"""Dataset formats: the file names each format ships, their detection, and the loaders' errors.

`detect_format` names the format of a folder (plain CSV/Parquet, P5, RecBole, MMRec, DiffMM);
`training.data.readers` reads it. The file layouts are described in `training.data.readers` and
(plain input) `training.data.plain`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

P5_SEQUENCES = "user_sequence.txt"
P5_ITEM_TEXT = "item_generative_indexing_phase_0.txt"
RECBOLE_FEATS = {"text": "feat1CLS", "image": "feat3CLS"}  # modality -> file suffix
RECBOLE_FEAT_DIM = 512
NPY_MODALITIES = ("text", "image", "audio")  # `<name>_feat.npy`
DIFFMM_TRAIN, DIFFMM_VALID, DIFFMM_TEST = "trnMat.pkl", "valMat.pkl", "tstMat.pkl"
PLAIN_SUFFIXES = (".csv", ".parquet")  # interactions.<suffix>, items.<suffix>


class DatasetError(ValueError):
    """A dataset folder is missing, malformed or inconsistent."""


class UnknownFormat(DatasetError):
    """No known dataset format matches the files in a folder."""


class UnsafePickle(DatasetError):
    """A pickle asked for a class outside the sparse-matrix allow-list."""


# -- detection -----------------------------------------------------------------------------------
def plain_table(d: Path, stem: str) -> Path | None:
    """`<stem>.csv` or `<stem>.parquet` in `d` (an error when both are there)."""
    found = [d / f"{stem}{s}" for s in PLAIN_SUFFIXES if (d / f"{stem}{s}").is_file()]
    if len(found) > 1:
        raise DatasetError(f"{d} holds both {found[0].name} and {found[1].name}; keep one")
    return found[0] if found else None


def is_plain(d: Path) -> bool:
    return plain_table(d, "interactions") is not None


def is_p5(d: Path) -> bool:
    return (d / P5_SEQUENCES).is_file() and (d / P5_ITEM_TEXT).is_file()


def recbole_name(d: Path) -> str | None:
    for train in sorted(d.glob("*.train.inter")):
        name = train.name[: -len(".train.inter")]
        if all((d / f"{name}.{part}.inter").is_file() for part in ("valid", "test")):
            return name
    return None


def mmrec_inter(d: Path) -> Path | None:
    split_suffixes = (".train.inter", ".valid.inter", ".test.inter")
    files = [p for p in sorted(d.glob("*.inter")) if not p.name.endswith(split_suffixes)]
    return files[0] if files else None


def diffmm_valid(d: Path) -> Path | None:
    if (d / DIFFMM_VALID).is_file():
        return d / DIFFMM_VALID
    found = sorted(d.glob("*_valid.pkl"))
    return found[0] if found else None


def is_diffmm(d: Path) -> bool:
    has_parts = (d / DIFFMM_TRAIN).is_file() and (d / DIFFMM_TEST).is_file()
    return has_parts and diffmm_valid(d) is not None


LOOKED_FOR = {
    "plain": "interactions.csv (or .parquet) + items.csv (or .parquet)",
    "p5": f"{P5_SEQUENCES} + {P5_ITEM_TEXT}",
    "recbole": "<Name>.train.inter + <Name>.valid.inter + <Name>.test.inter",
    "mmrec": "<name>.inter (userID, itemID, x_label)",
    "diffmm": f"{DIFFMM_TRAIN} + {DIFFMM_VALID} (or <name>_valid.pkl) + {DIFFMM_TEST}",
}


def detect_format(path: str | Path) -> str:
    """The format name of a dataset folder: 'plain', 'p5', 'recbole', 'mmrec' or 'diffmm'.

    Plain input (`interactions.csv`/`.parquet`) wins, then P5 (Beauty ships DiffMM pickles too,
    but only P5 has the text).
    """
    d = Path(path)
    if not d.is_dir():
        raise DatasetError(f"dataset folder {d} does not exist")
    checks: list[tuple[str, Callable[[Path], object]]] = [
        ("plain", is_plain),
        ("p5", is_p5),
        ("recbole", recbole_name),
        ("mmrec", mmrec_inter),
        ("diffmm", is_diffmm),
    ]
    for name, check in checks:
        if check(d):
            return name
    wanted = "; ".join(f"{k}: {v}" for k, v in LOOKED_FOR.items())
    raise UnknownFormat(f"no known dataset format in {d}; looked for {wanted}")
