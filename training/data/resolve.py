"""Resolve `--data`: a dataset folder, or `synthetic[:key=value,...]` / `synthetic:words[,...]`
for generated data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.data.dataset import Dataset

SYNTHETIC = "synthetic"


def resolve_data(
    spec: str, *, text_columns: Sequence[str] | None = None, skip_invalid: bool = False
) -> Dataset:
    """`synthetic` -> the default generated dataset; `synthetic:n_users=500,seed=3` -> with
    those arguments; `synthetic:checkerboard` -> the checkerboard fixture; `synthetic:words`
    (`synthetic:words,n_users=500,...`) -> generated items with words (`synthetic_words`);
    else a folder path. `text_columns` and `skip_invalid` are plain input's
    (`training.data.plain`): a run records them in config.json as `data_options`."""
    if spec == SYNTHETIC or spec.startswith(SYNTHETIC + ":"):
        if text_columns:
            raise ValueError("--text-columns is for plain input, not generated data")
        from training.data.synthetic import checkerboard_dataset, synthetic_dataset

        _, _, args = spec.partition(":")
        if args == "checkerboard":
            return checkerboard_dataset()
        kind, _, rest = args.partition(",")
        if kind == "words":
            from training.data.synthetic_words import words_dataset

            return words_dataset(**_parse_kwargs(rest))
        kwargs: dict[str, Any] = dict(_parse_kwargs(args))  # checked by the call's signature
        return synthetic_dataset(**kwargs)
    from training.data.readers import load_dataset

    return load_dataset(Path(spec), text_columns=text_columns, skip_invalid=skip_invalid)


def resolve_run_data(
    config: dict[str, Any], data: str | None, run: Path | str
) -> tuple[str, Dataset]:
    """The data of the run `run` (its `config.json` is `config`): `data` when given, else the
    run's own, read with the run's `data_options` as training read it; with the spec used."""
    spec = data or str(config.get("data", ""))
    if not spec:
        raise ValueError(f"{run}/config.json names no data: pass --data")
    return spec, resolve_data(spec, **config.get("data_options", {}))


def _parse_kwargs(text: str) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"expected key=value in {text!r}")
        number = float(value)
        out[key.strip()] = int(number) if number.is_integer() and "." not in value else number
    return out
