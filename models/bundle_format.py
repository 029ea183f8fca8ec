"""The bundle's format (docs/BUNDLE.md): the one place its version and file names are defined,
shared by the writer (training/export.py) and the reader (service/bundle.py). No torch, no I/O
beyond hashing a file it is handed."""

from __future__ import annotations

import hashlib
from pathlib import Path

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
USERS_FILE = "users.npy"
ITEMS_FILE = "items.npy"
USER_IDS_FILE = "user_ids.json"
ITEM_IDS_FILE = "item_ids.json"
SEEN_FILE = "seen.npz"
PROJECTOR_FILE = "projector.safetensors"
INDEX_FILE = "index.faiss"
REQUIRED_FILES = (USERS_FILE, ITEMS_FILE, USER_IDS_FILE, ITEM_IDS_FILE, SEEN_FILE)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks: the digest `files` in the manifest holds."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
