"""Case tables: one row per ticket, its other columns case attributes, joined to the histories.

:func:`read_case_table` reads the table (CSV dialect detection and refusals as for an
events file, :mod:`event_store.io.table_frame`); :func:`join_case_table` adds its
attributes to ticket histories, its values winning over the events file's.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.read_base import check_file, column_values, detect_format
from event_store.io.table_frame import listing, read_frame
from event_store.records import TicketHistory


@dataclass(frozen=True, slots=True)
class CaseTable:
    """Case attributes per ticket from a case table (one row per ticket).

    Attributes:
        source: the file's name.
        key: the ticket id column.
        attributes: the attribute names its other columns give (``case:`` stripped).
        rows: ticket id -> its attributes (empty cells left out).
    """

    source: str
    key: str
    attributes: tuple[str, ...]
    rows: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CaseTableJoin:
    """Ticket histories with a case table's attributes, and how the two files matched.

    Attributes:
        histories: the tickets, in the same order; case-table values win.
        matched: tickets with events and a row in the case table.
        without_row: tickets with events but no row in the case table.
        without_events: case-table rows whose ticket has no events in the events file.
    """

    histories: list[TicketHistory]
    matched: int
    without_row: int
    without_events: int


def read_case_table(path: str, key: str, *, fmt: str | None = None, sep: str | None = None,
                    encoding: str | None = None) -> CaseTable:
    """Read a case table: one row per ticket, its other columns case attributes.

    Columns named like :data:`~event_store.records.CASE_FIELDS` (after stripping a ``case:`` prefix) fill
    those fields; the others become free case attributes. Empty cells give no value.
    CSV dialect detection and the refusals are those of the events file; an empty
    ticket id and a ticket id on two rows are refused too.

    Args:
        path: CSV or Parquet file.
        key: the column holding the ticket id.
        fmt: ``csv`` or ``parquet`` (default: from the name).
        sep: CSV delimiter (default: sniffed).
        encoding: CSV encoding (default: byte-order mark, else UTF-8).
    """
    import numpy as np

    check_file(path, "a case table (.csv, .parquet)")
    name = os.path.basename(path)
    fmt = fmt or detect_format(path)
    if fmt not in ("csv", "parquet"):
        raise ImportFormatError(f"case table {name}: give a CSV or Parquet file with one row per ticket")
    frame = read_frame(path, name, fmt, sep=sep, encoding=encoding, option="--case-", min_fields=2)
    df, row_word = frame.df, frame.row_word
    if key not in df.columns:
        raise ImportFormatError(
            f"case table {name}: missing ticket id column {key!r} (columns are: "
            f"{', '.join(map(str, df.columns[:12]))}{', ...' if len(df.columns) > 12 else ''}; "
            f"name it with --case-key){frame.sep_hint()}"
        )
    empty = df[key].isna().to_numpy(dtype=bool)
    if empty.any():
        i = int(empty.nonzero()[0][0])
        raise ImportFormatError(f"case table {name}: {row_word} {frame.lines.of(i)}: empty ticket id in column "
                                f"{key!r}; fill it in or drop the {row_word}")
    keys = [str(v) for v in df[key].tolist()]
    ids = df[key].astype(str)
    dup = ids.duplicated(keep=False).to_numpy(dtype=bool)
    if dup.any():
        first = ids[dup].iloc[0]
        lines = frame.lines.at(np.flatnonzero((ids == first).to_numpy(dtype=bool))).tolist()
        others = int(ids[dup].nunique()) - 1
        more = f"; {others} more ticket id{'s' if others != 1 else ''} repeat" if others else ""
        raise ImportFormatError(f"case table {name}: ticket {first!r} has {len(lines)} rows ({row_word}s "
                                f"{listing(lines)}){more}: keep one row per ticket")
    columns: dict[str, str] = {}
    for col in df.columns:
        if col == key:
            continue
        attr = str(col)[5:] if str(col).startswith("case:") else str(col)
        if attr in columns:
            raise ImportFormatError(f"case table {name}: columns {columns[attr]!r} and {col!r} both give case "
                                    f"attribute {attr!r}; drop or rename one")
        columns[attr] = col
    values = [(attr, column_values(df, col) or []) for attr, col in columns.items()]
    rows = {k: {a: vals[i] for a, vals in values if vals[i] is not None} for i, k in enumerate(keys)}
    return CaseTable(name, key, tuple(columns), rows)


def join_case_table(histories: list[TicketHistory], table: CaseTable) -> CaseTableJoin:
    """Add a case table's attributes to the histories (the case table's values win)."""
    out: list[TicketHistory] = []
    matched = 0
    seen: set[str] = set()
    for history in histories:
        seen.add(history.ticket)
        extra = table.rows.get(history.ticket)
        if extra is None:
            out.append(history)
            continue
        matched += 1
        out.append(dataclasses.replace(history, case={**history.case, **extra}) if extra else history)
    without_events = sum(1 for k in table.rows if k not in seen)
    return CaseTableJoin(out, matched, len(histories) - matched, without_events)


__all__ = ["CaseTable", "CaseTableJoin", "join_case_table", "read_case_table"]
