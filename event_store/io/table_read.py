"""CSV and Parquet event rows, with a column mapping, into ticket histories.

A plain CSV read goes to :func:`event_store.io.columnar.read_csv_columns` (Arrow
columns, histories built only if asked for); Parquet, ``collapse_repeats`` and what the
columnar reader declines are read here row-wise from the frame
(:func:`event_store.io.table_frame.read_frame`). The ordering, lifecycle and
case-attribute rules are those of :mod:`event_store.io.importing`.
"""

from __future__ import annotations

import os
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.csv_lines import RowLines
from event_store.io.read_base import (
    LAST_AT_ATTR, LIFECYCLE_KEY, REPEATS_ATTR, ColumnMapping, ReadResult, case_from, column_values, fold_lifecycle,
    lifecycle_mode, opened_at, parse_times, required_columns, time_zone,
)
from event_store.io.table_frame import Frame, read_frame
from event_store.limits import check_history, current_limits
from event_store.ordering import row_tie_ranks, tied_first
from event_store.records import ActivityRow, TicketHistory

def read_table(path: str, *, fmt: str, lifecycle: str, mapping: ColumnMapping,
               collapse_repeats: bool = False) -> list[TicketHistory]:
    """Read CSV or Parquet with a column mapping into ticket histories.

    Inside a ticket the rows are sorted by business time (ties keep file order);
    tickets come out in order of first appearance. CSV values are text; Parquet columns
    keep their types (ints, floats, booleans, times), missing cells are left out of
    the attributes.
    """
    histories = read_table_log(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping,
                               collapse_repeats=collapse_repeats).histories
    return histories if isinstance(histories, list) else list(histories)


def read_table_log(path: str, *, fmt: str, lifecycle: str, mapping: ColumnMapping,
                   collapse_repeats: bool) -> ReadResult:
    if fmt == "csv" and not collapse_repeats and os.environ.get("CSMINE_COLUMNAR", "1") != "0":
        from event_store.io.columnar import read_csv_columns

        log = read_csv_columns(path, lifecycle=lifecycle, mapping=mapping)
        if log is not None:  # the common case, read as columns (histories built only if asked for)
            return ReadResult(log, log.rows, 0)  # type: ignore[arg-type]
    return _read_table_rows(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping, collapse_repeats=collapse_repeats)


def _read_table_rows(path: str, *, fmt: str, lifecycle: str, mapping: ColumnMapping,
                     collapse_repeats: bool) -> ReadResult:
    import numpy as np
    import pandas as pd

    name = os.path.basename(path)
    frame = read_frame(path, name, fmt, sep=mapping.sep, encoding=mapping.encoding, option="--", min_fields=3)
    df, lines, row_word = frame.df, frame.lines, frame.row_word
    _check_table_columns(df, mapping, name, frame)
    zone = time_zone(mapping.tz, name)
    ts = parse_times(df[mapping.timestamp], mapping.timestamp_format, zone, name, lines, mapping.timestamp, row_word)
    start = None
    if mapping.start and mapping.start in df.columns:
        start = parse_times(df[mapping.start], mapping.timestamp_format, zone, name, lines, mapping.start,
                            row_word, allow_missing=True)
    bad = df[mapping.case].isna() | df[mapping.activity].isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        which = "ticket id" if pd.isna(df[mapping.case].iloc[i]) else "activity"
        raise ImportFormatError(f"{name}: {row_word} {lines.of(i)}: empty {which}; fill it in or drop the {row_word}")
    case_cols, attr_cols = _case_and_step_columns(df, mapping)
    has_lc = mapping.lifecycle is not None and mapping.lifecycle in df.columns
    lc_values = {str(v) for v in df[mapping.lifecycle].dropna().unique()} if has_lc else set()
    mode = lifecycle_mode(lifecycle, lc_values)
    # Business time is the truth of order: a stable sort by (ticket, time), so rows
    # with the same ticket and time keep file order. Tickets keep their order of first
    # appearance (an export re-imported keeps the store's order).
    n = len(df)
    codes, uniques = pd.factorize(df[mapping.case], sort=False)
    tkey = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().view("int64")
    order = np.lexsort((np.arange(n), tkey, codes))
    # Where rows at one time must be told apart -- which are consecutive repeats, whose
    # ticket attributes count -- the tie rule orders them, not the file (a shuffled copy
    # imports the same); see event_store.ordering.
    tied = tied_first(codes, tkey, row_tie_ranks(df[mapping.activity].to_numpy(dtype=object)))
    keep, collapsed = order, 0
    extra_attrs: list[tuple[str, list[Any]]] = []
    if collapse_repeats and n > 1:
        keep, collapsed, extra_attrs = _collapse_table(df, mapping, mode, has_lc, codes, tied, ts)
    by_case = _rows_by_ticket(df, mapping, mode, codes, keep, ts, start, f"{name}:", lines, attr_cols, extra_attrs)

    # Each case attribute from the earliest row (in time order, every row) that has a value.
    case_lists: list[tuple[str, list[Any]]] = []
    if case_cols:
        cols = list(dict.fromkeys(case_cols.values()))
        firsts = df[cols].take(tied).groupby(codes[tied], sort=False).first()
        case_lists = [(a, column_values(firsts, c) or []) for a, c in case_cols.items()]
    has_starts = start is not None or mode == "start-complete"
    out = []
    for code, rows in by_case.items():
        steps = fold_lifecycle(rows, mode)
        if not steps:
            continue
        case_values = {a: values[code] for a, values in case_lists if values[code] is not None}
        out.append(TicketHistory(str(uniques[code]), opened_at(steps, has_starts), case_from(case_values, steps),
                                 tuple(s for s, _ in steps), steps[0][0].source_ref))
    for history in out:
        check_history(history, current_limits())
    return ReadResult(out, n, collapsed)


def _case_and_step_columns(df: Any, mapping: ColumnMapping) -> tuple[dict[str, str], list[Any]]:
    """Ticket attribute -> column (mapped, and ``case:<name>`` columns), and the step-attribute columns."""
    special = {mapping.case, mapping.activity, mapping.timestamp, mapping.resource, mapping.team, mapping.start,
               mapping.lifecycle, *mapping.case_attrs.values()}
    case_cols = dict(mapping.case_attrs)
    for col in df.columns:
        if isinstance(col, str) and col.startswith("case:") and col != mapping.case and col not in special:
            case_cols.setdefault(col[5:], col)
    attr_cols = [c for c in df.columns if c not in special and c not in case_cols.values() and not str(c).startswith("@@")]
    return case_cols, attr_cols


def _check_table_columns(df: Any, mapping: ColumnMapping, name: str, frame: Frame) -> None:
    """Every column the mapping names is in the table (:func:`required_columns`)."""
    columns = f"{', '.join(map(str, df.columns[:12]))}{', ...' if len(df.columns) > 12 else ''}"
    for role, col, flag in required_columns(mapping):
        if col in df.columns:
            continue
        if role.startswith("ticket attribute"):
            raise ImportFormatError(f"{name}: missing column {col!r} mapped to {role} (columns are: {columns}; "
                                    f"fix {flag})")
        raise ImportFormatError(f"{name}: missing {role} column {col!r} (columns are: {columns}; name the right "
                                f"one with {flag}){frame.sep_hint()}")


def _rows_by_ticket(df: Any, mapping: ColumnMapping, mode: str, codes: Any, keep: Any, ts: Any, start: Any,
                    ref: str, lines: RowLines, attr_cols: list[Any],
                    extra_attrs: list[tuple[str, list[Any]]]) -> dict[int, list[tuple[ActivityRow, str | None]]]:
    """The kept rows (in ``keep`` order) as steps per ticket code, with their lifecycle for folding."""
    import numpy as np
    import pandas as pd

    n = len(df)
    identity = len(keep) == n and bool(np.array_equal(keep, np.arange(n)))
    rows_df = df if identity else df.take(keep)
    rows_ts = ts if identity else ts.take(keep)
    rows_start = None if start is None else (start if identity else start.take(keep))
    tickets = codes[keep].tolist()
    activities = [str(v) for v in rows_df[mapping.activity].tolist()]
    times = rows_ts.dt.to_pydatetime().tolist() if hasattr(rows_ts.dt, "to_pydatetime") else list(rows_ts)
    starts = ([None if pd.isna(v) else v for v in rows_start.dt.to_pydatetime().tolist()]
              if rows_start is not None else None)
    refs = [f"{ref}{k}" for k in lines.at(keep).tolist()]
    lc_col = column_values(rows_df, mapping.lifecycle)
    actors = column_values(rows_df, mapping.resource)
    teams = column_values(rows_df, mapping.team)
    attr_values = [(str(c), column_values(rows_df, c)) for c in attr_cols]
    for key, values in extra_attrs:  # collapse_repeats: set on merged steps only
        at = next((k for k, (c, _) in enumerate(attr_values) if c == key), None)
        if at is None:
            attr_values.append((key, values))
        else:
            old = attr_values[at][1]
            assert old is not None
            attr_values[at] = (key, [v if v is not None else o for v, o in zip(values, old, strict=True)])
    by_case: dict[int, list[tuple[ActivityRow, str | None]]] = {}
    for i in range(len(tickets)):
        activity = activities[i]
        lc = lc_col[i] if lc_col is not None else None
        lc = None if lc is None else str(lc)
        attrs = {c: col[i] for c, col in attr_values if col[i] is not None}  # type: ignore[index]
        if lc is not None:
            if mode == "status":
                activity = f"{activity}/{lc}"
            elif mode == "ignore" and lc.lower() != "complete":
                attrs[LIFECYCLE_KEY] = lc
        actor = actors[i] if actors is not None else None
        team = teams[i] if teams is not None else None
        row = ActivityRow(activity, times[i], None if actor is None else str(actor), None if team is None else str(team),
                          starts[i] if starts is not None else None, refs[i], attrs)
        by_case.setdefault(tickets[i], []).append((row, lc.lower() if (lc and mode == "start-complete") else None))
    return by_case


def _collapse_table(df: Any, mapping: ColumnMapping, mode: str, has_lc: bool, codes: Any, order: Any,
                    ts: Any) -> tuple[Any, int, list[tuple[str, list[Any]]]]:
    """Rows to keep (positions, in order), rows merged, and the ``last_at``/``repeats`` columns."""
    import numpy as np
    import pandas as pd

    key = df[mapping.activity].astype("string")
    if has_lc:
        lc = df[mapping.lifecycle].astype("string")
        if mode == "status":
            key = key.where(lc.isna(), key + "/" + lc)
        elif mode == "start-complete":
            key = key + "\x1f" + lc.str.lower().fillna("")
        else:  # ignore: a non-complete transition stays an attribute, so it tells rows apart
            key = key + "\x1f" + lc.where(lc.str.lower().ne("complete").fillna(False), "")
    kcodes = pd.factorize(key, sort=False)[0][order]
    ccodes = codes[order]
    n = len(order)
    same = np.zeros(n, dtype=bool)
    same[1:] = (ccodes[1:] == ccodes[:-1]) & (kcodes[1:] == kcodes[:-1])
    if not same.any():
        return order, 0, []
    first = np.flatnonzero(~same)
    last = np.r_[first[1:], n] - 1
    count = last - first + 1
    merged = count > 1
    last_times = ts.take(order[last[merged]]).dt.to_pydatetime()
    last_at = np.full(len(first), None, dtype=object)
    last_at[merged] = [t.isoformat() for t in last_times]
    repeats = np.full(len(first), None, dtype=object)
    repeats[merged] = count[merged].tolist()
    return order[first], int(n - len(first)), [(LAST_AT_ATTR, last_at.tolist()), (REPEATS_ATTR, repeats.tolist())]


__all__ = ["read_table", "read_table_log"]
