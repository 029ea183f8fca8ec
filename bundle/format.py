"""The bundle's format (docs/BUNDLE.md): the one place its version and file names are defined,
shared by the writer (bundle/writer.py) and the reader (bundle/reader.py). No torch, no I/O
beyond hashing a file it is handed."""

from __future__ import annotations

import hashlib
from pathlib import Path

FORMAT_VERSION = 2  # what the writer writes for a bundle of trained items only
PROJECTED_VERSION = 3  # what it writes when some items are projected (PROJECTED_FILE)
READABLE_VERSIONS = (1, 2, 3)  # what the reader accepts
MANIFEST_FILE = "manifest.json"
USERS_FILE = "users.npy"
ITEMS_FILE = "items.npy"
USER_IDS_FILE = "user_ids.json"
ITEM_IDS_FILE = "item_ids.json"
SEEN_FILE = "seen.npz"
PROJECTOR_FILE = "projector.safetensors"
# Format 3: int64 sorted rows of the items whose embedding the projector made from their
# features (items with no training interaction, `coldrec train --deploy`); served as cold.
PROJECTED_FILE = "projected.npy"
# Optional (any version): float32 [n_items, dc] content vectors of the items, for the content
# floor (models/content_floor.py) that the manifest's cold_start turns on; a reader that does
# not know it serves without the floor.
CONTENT_FILE = "content.npy"
# Optional (any version): float32 [n_items, dim], every item's projection from its own features:
# the keys that simulated edges of source "content" match a new item against
# (models/simulated_edges.py); written when the manifest's cold_start asks for that source.
ITEM_PROJECTIONS_FILE = "item_projections.npy"
REQUIRED_FILES = (USERS_FILE, ITEMS_FILE, USER_IDS_FILE, ITEM_IDS_FILE, SEEN_FILE)
# Files an older version carried that the reader neither needs nor checks: version 1 wrote a
# FAISS index of items.npy, which the service never read (it builds its own from items.npy).
IGNORED_FILES = {1: frozenset({"index.faiss"})}


class BundleError(Exception):
    """The bundle is missing, altered, or of a format this reader cannot read."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks: the digest `files` in the manifest holds."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
