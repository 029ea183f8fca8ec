"""Plain input, one row at a time: parse ids, timestamps and weights; collect the rows that fail.

`Problems` gathers, per file, the rows of each kind of problem (a row counts under its first
problem) and words them for the error `coldrec` prints, e.g.
`interactions.csv: 3 rows name an item not in items.csv (lines 17, 50, 81)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from training.data.formats import DatasetError
from training.data.tables import Table

SHOWN = 5  # rows named in a message before "..."

Kind = tuple[str, str]  # (what one row does, what several rows do)
EMPTY_USER: Kind = ("has an empty user_id", "have an empty user_id")
EMPTY_ITEM: Kind = ("has an empty item_id", "have an empty item_id")
REPEATED_ITEM: Kind = (
    "repeats the item_id of an earlier row",
    "repeat the item_id of earlier rows",
)
BAD_TIME: Kind = (
    "has a timestamp that is neither integer epoch seconds nor ISO 8601",
    "have a timestamp that is neither integer epoch seconds nor ISO 8601",
)
BAD_WEIGHT: Kind = (
    "has a weight that is not a positive number",
    "have a weight that is not a positive number",
)
BAD_WIDTH: Kind = (
    "has a different number of fields than the header",
    "have a different number of fields than the header",
)


def unknown_item(items_file: str) -> Kind:
    return (f"names an item not in {items_file}", f"name an item not in {items_file}")


class InvalidRows(DatasetError):
    """Rows that break the plain schema; `--skip-invalid` drops them instead."""


@dataclass
class Problems:
    """The failing rows of one table, by kind, with the first offending value of each kind."""

    table: Table
    rows: dict[Kind, list[int]] = field(default_factory=dict)
    examples: dict[Kind, str] = field(default_factory=dict)

    def add(self, kind: Kind, k: int, example: object = None) -> None:
        self.rows.setdefault(kind, []).append(k)
        if example is not None and kind not in self.examples:
            self.examples[kind] = repr(example)

    def __bool__(self) -> bool:
        return bool(self.rows)

    @property
    def count(self) -> int:
        return sum(len(ks) for ks in self.rows.values())

    def bad(self) -> set[int]:
        return {k for ks in self.rows.values() for k in ks}

    def first(self) -> list[int]:
        """The lines (CSV) or row numbers (Parquet) of the first failing rows."""
        return sorted(self.table.where[k] for k in self.bad())[:SHOWN]

    def phrases(self) -> list[str]:
        """One phrase per kind: `2 rows have an empty item_id (lines 4, 9)`."""
        out = []
        for kind, ks in self.rows.items():
            where = f"{self.table.unit}{'s' if len(ks) > 1 else ''} {shown(self.table, ks)}"
            example = f"; e.g. {self.examples[kind]}" if kind in self.examples else ""
            out.append(f"{count_rows(len(ks), kind)} ({where}{example})")
        return out

    def message(self) -> str:
        """`items.csv: 2 rows have an empty item_id (lines 4, 9), 1 row ... (line 12)`."""
        return f"{self.table.name}: {', '.join(self.phrases())}"

    def summary(self) -> dict[str, object]:
        """What `coldrec data stats` prints about the rows dropped from this table."""
        return {
            "count": self.count,
            f"{self.table.unit}s": self.first(),
            "reasons": self.phrases(),
        }


def count_rows(n: int, kind: Kind) -> str:
    return f"1 row {kind[0]}" if n == 1 else f"{n} rows {kind[1]}"


def shown(table: Table, ks: list[int]) -> str:
    """The first rows' lines (CSV) or row numbers (Parquet), then `...` when there are more."""
    where = sorted(table.where[k] for k in ks)
    return ", ".join(map(str, where[:SHOWN])) + (", ..." if len(where) > SHOWN else "")


# -- values ---------------------------------------------------------------------------------------
def as_id(value: object) -> str:
    """An id or text cell as a string ('' when empty); Parquet integers read like CSV's."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def parse_time(value: object) -> int | float | None:
    """Seconds since the epoch from an integer (or decimal) number, an ISO 8601 string or a
    Parquet timestamp/date; None when it is none of these. ISO times without a zone are UTC."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _seconds(value)
    if isinstance(value, date):
        return _seconds(datetime(value.year, value.month, value.day))
    if not isinstance(value, str):
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
        return number if math.isfinite(number) else None
    except ValueError:
        pass
    try:
        return _seconds(datetime.fromisoformat(value))
    except ValueError:
        return None


def _seconds(moment: datetime) -> int | float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def parse_weight(value: object) -> float | None:
    """A positive finite weight (an empty cell weighs 1); None when it is anything else."""
    if value is None:
        return 1.0
    if isinstance(value, bool):
        return None
    try:
        weight = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return weight if math.isfinite(weight) and weight > 0 else None


def is_numeric(values: list[object]) -> bool:
    """True when every non-empty value is a number (a price, a count): not text to encode."""
    present = [v for v in values if v is not None]
    if not present:
        return True
    for v in present:
        if isinstance(v, str):
            try:
                float(v)
            except ValueError:
                return False
        elif not isinstance(v, int | float):
            return False
    return True
