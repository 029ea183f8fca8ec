"""A shop's own tables (CSV or Parquet) read into columns, each row keeping where it came from.

CSV rows keep their line in the file (the header is line 1; a quoted value spanning lines counts
from its first line), Parquet rows their row number (the first row is row 1), so an error can
name the rows it is about.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from training.data.formats import DatasetError


@dataclass(frozen=True)
class Table:
    """Columns of one file. `cells[column][k]` is row k's value (None when empty).

    CSV values are stripped strings; Parquet values are what pyarrow gives (str, int, float,
    datetime, ...). `string_columns` are the columns holding text (every CSV column; a Parquet
    column of string type). `where[k]` is row k's line (CSV) or row number (Parquet), `unit`
    says which. `bad_width` maps a CSV row's index to its field count when it differs from the
    header's.
    """

    name: str
    unit: str  # "line" or "row"
    columns: list[str]
    cells: dict[str, list[object]]
    where: list[int]
    string_columns: frozenset[str]
    bad_width: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.where)


def read_table(path: Path) -> Table:
    """Read `path` (`.csv` or `.parquet`)."""
    if path.suffix == ".parquet":
        return _read_parquet(path)
    return _read_csv(path)


def _read_csv(path: Path) -> Table:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path.name}: empty file, expected a header line")
            columns = [c.strip() for c in header]
            _check_header(path.name, columns)
            cells: dict[str, list[object]] = {c: [] for c in columns}
            where: list[int] = []
            bad_width: dict[int, int] = {}
            last = reader.line_num
            for row in reader:
                first, last = last + 1, reader.line_num
                if not any(v.strip() for v in row):
                    continue  # a blank line
                if len(row) != len(columns):
                    bad_width[len(where)] = len(row)
                where.append(first)
                for k, column in enumerate(columns):
                    value = row[k].strip() if k < len(row) else ""
                    cells[column].append(value or None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return Table(path.name, "line", columns, cells, where, frozenset(columns), bad_width)


def _read_parquet(path: Path) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"cannot read {path} as Parquet: {exc}") from exc
    columns = [str(c) for c in table.column_names]
    _check_header(path.name, columns)
    cells: dict[str, list[object]] = {}
    for column in columns:
        values = table.column(column).to_pylist()
        cells[column] = [(v.strip() or None) if isinstance(v, str) else v for v in values]
    strings = frozenset(
        c
        for c in columns
        if pa.types.is_string(table.schema.field(c).type)
        or pa.types.is_large_string(table.schema.field(c).type)
    )
    return Table(path.name, "row", columns, cells, list(range(1, table.num_rows + 1)), strings)


def _check_header(name: str, columns: list[str]) -> None:
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise DatasetError(f"{name}: column {', '.join(repeated)} appears more than once")
