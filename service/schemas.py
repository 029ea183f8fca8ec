"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

ID_PATTERN = r"^[A-Za-z0-9_.:@~+=-]+$"
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
HARD_MAX_BATCH = 10_000  # the schema's cap; `COLDREC_MAX_BATCH` may set a lower one


class ItemIn(BaseModel):
    """One item to register: modality vectors by name, or raw text (encoded with MiniLM)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"id": "new-42", "text": "a matte red lipstick"}]},
    )

    id: ItemId
    features: dict[str, list[float]] | None = Field(
        None, description="modality name -> vector, e.g. {'text': [...384 floats]}"
    )
    text: str | None = Field(None, min_length=1, max_length=20_000)

    @model_validator(mode="after")
    def _one_source(self) -> ItemIn:
        if (self.features is None) == (self.text is None):
            raise ValueError("give exactly one of 'features' and 'text'")
        return self


class ItemBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ItemIn] = Field(min_length=1, max_length=HARD_MAX_BATCH)


def _batch_or_one(key: str) -> object:
    """A discriminator: a body with `key` (a list) is a batch, anything else one record."""

    def pick(value: object) -> str:
        has = key in value if isinstance(value, dict) else hasattr(value, key)
        return "batch" if has else "one"

    return Discriminator(pick)


ItemsBody = Annotated[
    Annotated[ItemIn, Tag("one")] | Annotated[ItemBatchIn, Tag("batch")],
    _batch_or_one("items"),
]


class Warmth(BaseModel):
    interactions: int = Field(description="distinct users known to the bundle who took the item")
    weight: float = Field(description="weight of their mean embedding: n / (n + k0)")


class ItemOut(BaseModel):
    id: str
    kind: Literal["warm", "cold"]
    cold: bool
    source: Literal["bundle", "features", "text"]
    modalities: list[str]
    registered_at: float | None = Field(None, description="Unix time of the registration")


class ItemDetail(ItemOut):
    warmth: Warmth | None = Field(
        None, description="a cold item's warm-up (null: a warm item, or warm-up off)"
    )


class ItemsOut(BaseModel):
    items: list[ItemOut]


class ScoredItem(BaseModel):
    item_id: str
    score: float = Field(description="inner product of the user and item embeddings")
    cold: bool = Field(description="registered online (projected from content), not trained")


class RecommendationsOut(BaseModel):
    user_id: str
    source: Literal["user", "interactions", "fallback"] = Field(
        description="user: trained embedding; interactions: mean of the items the user "
        "interacted with online; fallback: unknown user, ranked for the mean trained user"
    )
    pool: Literal["all", "warm", "cold"]
    k: int
    items: list[ScoredItem]


class InteractionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UserId
    item_id: ItemId
    event: Literal["view", "click", "cart", "purchase", "rating"] = Field(
        "click",
        description="the interaction's kind: stored with it (the event stream), not used to rank",
    )


class InteractionBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interactions: list[InteractionIn] = Field(min_length=1, max_length=HARD_MAX_BATCH)


InteractionsBody = Annotated[
    Annotated[InteractionIn, Tag("one")] | Annotated[InteractionBatchIn, Tag("batch")],
    _batch_or_one("interactions"),
]


class InteractionOut(BaseModel):
    user_id: str
    item_id: str
    hit: bool = Field(description="the item was among those recently recommended to the user")
    cold: bool | None = Field(description="null when the item has been retired")


class InteractionsOut(BaseModel):
    recorded: int
    hits: int
    interactions: list[InteractionOut]


class Problem(BaseModel):
    """application/problem+json (RFC 9457); validation problems add `errors`."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    redis: bool
    items: dict[str, int]
    bundle: dict[str, str | int]


PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 413, 422, 429, 503)
}
