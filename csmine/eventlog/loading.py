"""The only adapter from the store's read model to analysis: an event-log DataFrame.

:func:`load_event_log` reads the ``event_log`` projection through its columnar copy,
``event_log_columns``: Arrow IPC chunks (lz4-compressed) of :data:`CHUNK` rows in notification order,
kept in the same database. Chunks missing (new store, invalidated by a correction or
retraction, emptied by a rebuild) are rebuilt from ``event_log`` rows and written in a
short transaction; rows newer than the last full chunk are read with SQL. Filters on
columns are applied to the Arrow table, the rows are sorted there, times become
tz-aware pandas timestamps (:mod:`csmine.eventlog.frames`, the pure conversions),
phases are assigned, and pm4py's column names are returned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from event_store.readmodel.projection import (
    _US,
    COLUMNS_TABLE,
    EPOCH,
    EVENT_LOG_COLUMNS,
    NAME,
    ensure_columns_table,
    lock_projection,
)
from event_store.records import CASE_FIELDS

from csmine.errors import FilterError
from csmine.eventlog.filters import LogFilter
from csmine.eventlog.frames import (
    ACTIVITY,
    CASE_ID,
    GROUP,
    RESOURCE,
    START,
    TIMESTAMP,
    expand_table_attributes,
    expand_text_attributes,
    sort_order,
    table_to_frame,
)
from csmine.eventlog.ordering import check_tie_order, order_events

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore

_SELECT = (
    "notification_id, ticket, version, activity, occurred_at, started_at, recorded_at, actor, team, "
    "source_ref, attrs, opened_at, channel, category, priority, emotion, customer, case_team, region"
)


@dataclass(frozen=True, slots=True)
class Phase:
    """A phase of the plan: tickets opened in [start, end) matching the cohort.

    Attributes:
        name: phase name (baseline, pilot, rollout, ...).
        start: first opening time included (tz-aware).
        end: first opening time excluded, or None for open-ended.
        cohort: attribute -> accepted values; empty means every ticket.
        note: free text recorded with the phase.
    """

    name: str
    start: datetime
    end: datetime | None
    cohort: dict[str, tuple[str, ...]]
    note: str = ""


def _us(dt: datetime) -> int:
    return (dt - EPOCH) // _US


def list_phases(store: TicketStore) -> list[Phase]:
    """The phases currently defined, ordered by start."""
    rows = store.db.query("SELECT name, start_at, end_at, cohort, note FROM phases ORDER BY start_at, name")
    out = []
    for name, start, end, cohort, note in rows:
        out.append(Phase(
            name=name,
            start=EPOCH + start * _US,
            end=None if end is None else EPOCH + end * _US,
            cohort={k: tuple(v) for k, v in json.loads(cohort).items()},
            note=note or "",
        ))
    return out


def assign_phases(df: pd.DataFrame, phases: Sequence[Phase], *, case_id_key: str = CASE_ID) -> pd.Series:
    """The phase of each row's ticket: the first phase (by start) whose window holds the
    opening time and whose cohort matches; None when no phase does."""
    import numpy as np
    import pandas as pd

    result = pd.Series(np.full(len(df), None, dtype=object), index=df.index)
    if not phases or df.empty:
        return result
    opened = df["case:opened_at"]
    unassigned = np.ones(len(df), dtype=bool)
    for phase in sorted(phases, key=lambda p: p.start):
        mask = (opened >= pd.Timestamp(phase.start)).to_numpy().copy()
        if phase.end is not None:
            mask &= (opened < pd.Timestamp(phase.end)).to_numpy()
        for key, values in phase.cohort.items():
            col = f"case:{key}" if f"case:{key}" in df.columns else key
            if col not in df.columns:
                mask &= False
                continue
            mask &= df[col].astype("string").isin(list(values)).fillna(False).to_numpy(dtype=bool)
        take = mask & unassigned
        result[take] = phase.name
        unassigned &= ~take
    return result


def _phases_and_free_filters(store: TicketStore, df: pd.DataFrame, log_filter: LogFilter,
                             free_filters: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Add ``case:phase`` and apply the phase filter and the filters on free attributes."""
    import numpy as np

    phases = list_phases(store)
    df["case:phase"] = assign_phases(df, phases)
    if log_filter.phase:
        known = {p.name for p in phases}
        if log_filter.phase not in known:
            raise FilterError(
                f"no phase {log_filter.phase!r} (known: {', '.join(sorted(known)) or 'none'}; "
                "define one with `csmine phase add`)"
            )
        df = df[df["case:phase"] == log_filter.phase]
    case_attrs = _free_case_attributes(store, [k for k in free_filters if k != "phase"]) if free_filters else {}
    for key, values in free_filters.items():
        if key == "phase":
            df = df[df["case:phase"].isin(values)]
            continue
        # A free attribute may sit on the ticket (a case attribute) or on some steps
        # only (BPIC's impact): keep whole tickets with a matching value, so their
        # processes stay complete.
        hit = df[key].astype("string").isin(list(values)).fillna(False).to_numpy(dtype=bool) \
            if key in df.columns else np.zeros(len(df), dtype=bool)
        keep = set(df.loc[hit, CASE_ID].unique())
        accepted = set(values)
        keep.update(t for t, attrs in case_attrs.items() if key in attrs and str(attrs[key]) in accepted)
        df = df[df[CASE_ID].isin(list(keep)).to_numpy(dtype=bool)]
    return df


def _free_case_attributes(store: TicketStore, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Ticket -> its free case attributes (those outside the case columns), for tickets
    that have any of ``keys``."""
    decode = store.mapper.transcoder.decode
    memo: dict[str, dict[str, Any]] = {}
    out: dict[str, dict[str, Any]] = {}
    wanted = set(keys)
    with store.db.transaction() as cur:
        rows = cur.execute("SELECT ticket, case_attrs FROM tickets WHERE case_attrs IS NOT NULL").fetchall()
    for ticket, text in rows:
        found = memo.get(text)
        if found is None:
            found = memo[text] = {k: _plain_value(v) for k, v in decode(text.encode()).items()}
        if wanted.intersection(found):
            out[str(ticket)] = found
    return out


def _plain_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def attribute_keys(store: TicketStore) -> dict[str, list[str]]:
    """The keys ``--where`` accepts: case columns, free case attributes, step attributes."""
    decode = store.mapper.transcoder.decode
    with store.db.transaction() as cur:
        case_texts = [r[0] for r in cur.execute(
            "SELECT DISTINCT case_attrs FROM tickets WHERE case_attrs IS NOT NULL").fetchall()]
        step_texts = [r[0] for r in cur.execute(
            "SELECT DISTINCT attrs FROM event_log WHERE attrs IS NOT NULL AND retracted = 0").fetchall()]
    case_keys: set[str] = set()
    for text in case_texts:
        case_keys.update(decode(text.encode()))
    step_keys: set[str] = set()
    for text in step_texts:
        step_keys.update(decode(text.encode()))
    return {"case": sorted({*CASE_FIELDS, "phase"}), "case attributes": sorted(case_keys),
            "step attributes": sorted(step_keys - case_keys)}


def check_where_keys(store: TicketStore, log_filter: LogFilter) -> None:
    """Raise :class:`FilterError` for a ``--where`` key no ticket or step has."""
    free = [k for k in log_filter.where if k not in CASE_FIELDS and k != "phase"]
    if not free:
        return
    known = attribute_keys(store)
    every = {k for keys in known.values() for k in keys}
    unknown = [k for k in free if k not in every]
    if unknown:
        listing = "; ".join(f"{group}: {', '.join(keys) or 'none'}" for group, keys in known.items())
        raise FilterError(f"no attribute {unknown[0]!r} in the store (known keys: {listing}); check --where")


def _load_rows_sql(
    store: TicketStore,
    log_filter: LogFilter | None = None,
    *,
    attributes: Sequence[str] | str | None = None,
    catch_up: bool = True,
) -> pd.DataFrame:
    """:func:`load_event_log` straight from ``event_log`` rows (the reference for the columnar path)."""
    if catch_up:
        store.projection.catch_up()
    log_filter = log_filter or LogFilter()
    check_tie_order(log_filter.tie_order)
    check_where_keys(store, log_filter)
    sql, params, free_filters = _rows_query(log_filter)
    with store.db.transaction() as cur:
        cur.execute(sql, params)
        rows = cur.raw.fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 19
    df = _rows_to_frame(cols, len(rows))
    if free_filters or attributes:
        expand_text_attributes(df, cols[10], attributes, free_filters, store.mapper.transcoder.decode)
    df = _phases_and_free_filters(store, df, log_filter, free_filters)
    df = df.sort_values([CASE_ID, TIMESTAMP, "@@version"], kind="stable").reset_index(drop=True)
    return order_events(df, None, log_filter.tie_order)


def _rows_query(log_filter: LogFilter) -> tuple[str, list[Any], dict[str, tuple[str, ...]]]:
    """The SQL (:data:`_SELECT` columns) and parameters for the filter's window and case
    columns; the filters on free attributes, left for later."""
    sql = f"SELECT {_SELECT} FROM event_log WHERE retracted = 0"
    params: list[Any] = []
    if log_filter.start is not None:
        sql += " AND opened_at >= ?"
        params.append(_us(log_filter.start))
    if log_filter.end is not None:
        sql += " AND opened_at < ?"
        params.append(_us(log_filter.end))
    free_filters: dict[str, tuple[str, ...]] = {}
    for key, values in log_filter.where.items():
        column = {"team": "case_team"}.get(key, key)
        if key in CASE_FIELDS:
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            params.extend(values)
        else:
            free_filters[key] = values
    return sql, params, free_filters


def _rows_to_frame(cols: Sequence[Sequence[Any]], n: int) -> pd.DataFrame:
    """The frame of ``n`` SQL rows given column by column, in :data:`_SELECT` order (unsorted)."""
    import numpy as np
    import pandas as pd

    def times(values: Sequence[Any], nullable: bool = False) -> pd.Series:
        if nullable:
            arr = np.array([-(2**63) if v is None else v for v in values], dtype="int64")
        else:
            arr = np.fromiter(values, dtype="int64", count=n)
        return pd.Series(arr.astype("datetime64[us]"), dtype="datetime64[us]").dt.tz_localize("UTC")

    def strings(values: Sequence[Any]) -> np.ndarray:
        return np.array(values, dtype=object) if n else np.array([], dtype=object)

    return pd.DataFrame({
        CASE_ID: strings(cols[1]),
        ACTIVITY: strings(cols[3]),
        TIMESTAMP: times(cols[4]),
        START: times(cols[5], nullable=True),
        RESOURCE: strings(cols[7]),
        GROUP: strings([t if t is not None else ct for t, ct in zip(cols[8], cols[17], strict=True)]),
        "case:opened_at": times(cols[11]),
        "case:channel": strings(cols[12]),
        "case:category": strings(cols[13]),
        "case:priority": strings(cols[14]),
        "case:emotion": strings(cols[15]),
        "case:customer": strings(cols[16]),
        "case:team": strings(cols[17]),
        "case:region": strings(cols[18]),
        "@@event_id": np.fromiter(cols[0], dtype="int64", count=n),
        "@@version": np.fromiter(cols[2], dtype="int64", count=n),
        "recorded_at": times(cols[6]),
        "source_ref": strings(cols[9]),
    })

CHUNK = 16_384
"""Rows per persisted Arrow chunk of ``event_log``."""

_INT_COLUMNS = frozenset({
    "notification_id", "version", "occurred_at", "started_at", "recorded_at", "retracted", "corrected", "opened_at",
})
_CHUNK_SELECT = f"SELECT {', '.join(EVENT_LOG_COLUMNS)} FROM event_log"


def _arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in EVENT_LOG_COLUMNS])


def _rows_to_arrow(rows: Sequence[Sequence[Any]]) -> Any:
    """``event_log`` rows (in :data:`EVENT_LOG_COLUMNS` order) as an Arrow table."""
    import pyarrow as pa

    schema = _arrow_schema()
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(EVENT_LOG_COLUMNS)
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema=schema)


def _to_ipc(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=_COMPRESSION)) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(blob: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


_COMPRESSION: str | None = "lz4"  # a third of the bytes: SQLite reads blob pages one by one, lz4 is faster


def _read_columnar(store: TicketStore) -> Any:
    """The whole ``event_log`` as one Arrow table, from stored chunks plus SQL for the rest.

    Reads in one snapshot; chunks found missing are built from the rows read and
    written afterwards in a short write transaction, unless the read model moved on
    meanwhile (then they are left for the next load).
    """
    import pyarrow as pa

    db = store.db
    ensure_columns_table(db)
    tables: list[tuple[int, Any]] = []
    new_chunks: list[tuple[int, int, int, bytes]] = []
    with db.transaction() as cur:
        if cur.postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (NAME,)).fetchone()
        position = int(row[0]) if row else 0
        chunks = cur.execute(
            f"SELECT first_nid, last_nid, arrow FROM {COLUMNS_TABLE} ORDER BY first_nid"
        ).fetchall()
        covered = 0  # highest notification id covered so far
        gaps: list[tuple[int, int | None]] = []  # (first id, last id or None for the tail)
        for first, last, blob in chunks:
            if first > covered + 1:
                gaps.append((covered + 1, first - 1))
            tables.append((first, _from_ipc(bytes(blob))))
            covered = max(covered, last)
        gaps.append((covered + 1, None))
        for lo, hi in gaps:
            if hi is None:
                rows = cur.execute(f"{_CHUNK_SELECT} WHERE notification_id >= ? ORDER BY notification_id",
                                   (lo,)).fetchall()
            else:
                rows = cur.execute(
                    f"{_CHUNK_SELECT} WHERE notification_id >= ? AND notification_id <= ? ORDER BY notification_id",
                    (lo, hi),
                ).fetchall()
            if not rows:
                continue
            part = _rows_to_arrow(rows)
            tables.append((lo, part))
            # Persist pieces of CHUNK rows; a middle gap is persisted whole, the tail's remainder not.
            start = lo
            for offset in range(0, len(rows), CHUNK):
                piece = rows[offset : offset + CHUNK]
                if hi is None and len(piece) < CHUNK:
                    break
                end = hi if (hi is not None and offset + CHUNK >= len(rows)) else int(piece[-1][0])
                new_chunks.append((start, end, len(piece), _to_ipc(part.slice(offset, len(piece)))))
                start = end + 1
    if new_chunks:
        _write_chunks(store, position, new_chunks)
    tables.sort(key=lambda t: t[0])
    if not tables:
        return _arrow_schema().empty_table()
    return pa.concat_tables([t for _, t in tables])


def _write_chunks(store: TicketStore, position: int, chunks: Sequence[tuple[int, int, int, bytes]]) -> None:
    with store.db.transaction(write=True) as cur:
        lock_projection(cur)
        row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (NAME,)).fetchone()
        if (int(row[0]) if row else 0) != position:
            return  # the read model changed since the rows were read: build on the next load
        for first, last, _, _ in chunks:
            cur.execute(f"DELETE FROM {COLUMNS_TABLE} WHERE first_nid <= ? AND last_nid >= ?", (last, first))
        cur.executemany(
            f"INSERT INTO {COLUMNS_TABLE} (chunk, first_nid, last_nid, rows, arrow) VALUES (?, ?, ?, ?, ?)",
            [(first, first, last, n, blob) for first, last, n, blob in chunks],
        )


def load_event_log(
    store: TicketStore,
    log_filter: LogFilter | None = None,
    *,
    attributes: Sequence[str] | str | None = None,
    catch_up: bool = True,
) -> pd.DataFrame:
    """Read the store's events as a pm4py-ready DataFrame.

    The rows come from the columnar copy ``event_log_columns`` (built on first use, see
    the module docstring), the filters on ticket columns are applied to the Arrow table
    and the rows sorted there, so a million events load in about a second.

    Args:
        store: an open store.
        log_filter: tickets to keep (opening-time window, phase, attribute values).
        attributes: free attributes to expand into columns (``"all"`` for every one).
        catch_up: bring the read model up to date first.

    Returns:
        One row per recorded activity (retractions dropped, corrections applied),
        sorted by ticket, then business time, ties broken as ``log_filter.tie_order``
        says (:mod:`csmine.eventlog.ordering`). Columns: ``case:concept:name``,
        ``concept:name``, ``time:timestamp``, ``start_timestamp`` (NaT if none),
        ``org:resource``, ``org:group`` (the step's team, else the ticket's),
        ``case:opened_at``, ``case:<field>`` for each case field, ``@@event_id``
        (notification id), ``@@version``, ``recorded_at``, ``source_ref``, the
        requested free attributes (objects), and ``case:phase`` (None outside phases).
        Times are ``datetime64[us, UTC]``; text columns pandas' default string dtype
        (object when every value is missing).
    """
    if catch_up:
        store.projection.catch_up()
    log_filter = log_filter or LogFilter()
    check_tie_order(log_filter.tie_order)
    check_where_keys(store, log_filter)
    table, free_filters = _filter_table(_read_columnar(store), log_filter)
    n = table.num_rows
    expand = bool(free_filters or attributes)
    df, attrs_column = table_to_frame(table, sort_order(table, log_filter.tie_order), with_attrs=expand)
    if expand:
        expand_table_attributes(df, attrs_column, attributes, free_filters, store.mapper.transcoder.decode)
    df = _phases_and_free_filters(store, df, log_filter, free_filters)
    if len(df) != n:
        df = df.reset_index(drop=True)
    return df


def _filter_table(table: Any, log_filter: LogFilter) -> tuple[Any, dict[str, tuple[str, ...]]]:
    """The rows not retracted, in the filter's window and matching its case columns;
    the filters on free attributes, left for later."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pc.equal(table["retracted"], 0)
    if log_filter.start is not None:
        mask = pc.and_(mask, pc.greater_equal(table["opened_at"], _us(log_filter.start)))
    if log_filter.end is not None:
        mask = pc.and_(mask, pc.less(table["opened_at"], _us(log_filter.end)))
    free_filters: dict[str, tuple[str, ...]] = {}
    for key, values in log_filter.where.items():
        if key in CASE_FIELDS:
            column = {"team": "case_team"}.get(key, key)
            hit = pc.is_in(table[column], value_set=pa.array(list(values), type=pa.string()))
            mask = pc.and_(mask, pc.fill_null(hit, False))
        else:
            free_filters[key] = values
    if pc.min(mask).as_py() is False:  # something to drop (an all-true mask copies nothing)
        table = table.filter(mask)
    return table, free_filters
