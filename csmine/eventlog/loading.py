"""The only adapter from the store's read model to analysis: an event-log DataFrame.

:func:`load_event_log` reads the ``event_log`` projection through its columnar copy,
:func:`event_store.readmodel.chunks.read_columnar` (Arrow chunks kept in the store), and
everything else through :mod:`event_store.readmodel.queries`, the read model's query
API: no SQL here. Filters on
columns are applied to the Arrow table, the rows are sorted there, times become
tz-aware pandas timestamps (:mod:`csmine.eventlog.frames`, the pure conversions),
phases are assigned, and pm4py's column names are returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from event_store.memory import release_free_memory
from event_store.readmodel import queries
from event_store.readmodel.chunks import read_columnar
from event_store.readmodel.queries import RowFilter, to_us
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


def list_phases(store: TicketStore) -> list[Phase]:
    """The phases currently defined, ordered by start."""
    return [Phase(r.name, r.start, r.end, r.cohort, r.note) for r in queries.phase_rows(store)]


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
    case_attrs = free_case_attributes(store, [k for k in free_filters if k != "phase"]) if free_filters else {}
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


def free_case_attributes(store: TicketStore, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Ticket -> its free case attributes (those outside the case columns), for tickets
    that have any of ``keys``."""
    decode = queries.attribute_decoder(store)
    memo: dict[str, dict[str, Any]] = {}
    out: dict[str, dict[str, Any]] = {}
    wanted = set(keys)
    for ticket, text in queries.case_attribute_texts(store):
        found = memo.get(text)
        if found is None:
            found = memo[text] = {k: _plain_value(v) for k, v in decode(text.encode()).items()}
        if wanted.intersection(found):
            out[ticket] = found
    return out


def _plain_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def attribute_keys(store: TicketStore) -> dict[str, list[str]]:
    """The keys ``--where`` accepts: case columns, free case attributes, step attributes."""
    case_keys, step_keys = queries.attribute_key_sets(store)
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
    row_filter, free_filters = split_filter(log_filter)
    rows = queries.event_rows(store, row_filter)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 19
    df = _rows_to_frame(cols, len(rows))
    if free_filters or attributes:
        expand_text_attributes(df, cols[10], attributes, free_filters, queries.attribute_decoder(store))
    df = _phases_and_free_filters(store, df, log_filter, free_filters)
    df = df.sort_values([CASE_ID, TIMESTAMP, "@@version"], kind="stable").reset_index(drop=True)
    return order_events(df, None, log_filter.tie_order)


def split_filter(log_filter: LogFilter) -> tuple[RowFilter, dict[str, tuple[str, ...]]]:
    """The part of the filter the read model applies (opening-time window, case columns)
    and the filters on free attributes, left for later."""
    case = {k: v for k, v in log_filter.where.items() if k in CASE_FIELDS}
    free = {k: v for k, v in log_filter.where.items() if k not in CASE_FIELDS}
    start = None if log_filter.start is None else to_us(log_filter.start)
    end = None if log_filter.end is None else to_us(log_filter.end)
    return RowFilter(start, end, case), free


def _rows_to_frame(cols: Sequence[Sequence[Any]], n: int) -> pd.DataFrame:
    """The frame of ``n`` rows given column by column, in
    :data:`~event_store.readmodel.queries.EVENT_ROW_COLUMNS` order (unsorted)."""
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
    table, free_filters = _filter_table(read_columnar(store), log_filter)
    n = table.num_rows
    expand = bool(free_filters or attributes)
    df, attrs_column, positions = table_to_frame(table, sort_order(table, log_filter.tie_order), with_attrs=expand)
    if expand:
        expand_table_attributes(df, attrs_column, attributes, free_filters, queries.attribute_decoder(store),
                                positions)
    df = _phases_and_free_filters(store, df, log_filter, free_filters)
    if len(df) != n:
        df = df.reset_index(drop=True)
    del table, attrs_column, positions
    release_free_memory()  # the Arrow columns the frame was made from (as much again as the frame)
    return df


def _filter_table(table: Any, log_filter: LogFilter) -> tuple[Any, dict[str, tuple[str, ...]]]:
    """The rows not retracted, in the filter's window and matching its case columns;
    the filters on free attributes, left for later."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pc.equal(table["retracted"], 0)
    if log_filter.start is not None:
        mask = pc.and_(mask, pc.greater_equal(table["opened_at"], to_us(log_filter.start)))
    if log_filter.end is not None:
        mask = pc.and_(mask, pc.less(table["opened_at"], to_us(log_filter.end)))
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
