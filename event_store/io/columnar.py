"""CSV read as columns (pyarrow) into import batches, without a Python object per event.

:func:`read_csv_columns` gives the same tickets, steps, times, attributes, order and
source references as :func:`event_store.io.importing.read_log` for a CSV file, but
keeps them as Arrow columns: the file is parsed by pyarrow's multi-threaded reader,
times by pandas (the same :func:`~event_store.io.read_base.parse_times`), the
ticket grouping and business-time order by one ``lexsort``, and each batch's JSON
pieces (escaped strings, attribute objects, ISO times) by Arrow compute kernels.
:meth:`ColumnarLog.column_batches` then yields
:class:`~event_store.persistence.bulk_write.NewTickets` batches that
:meth:`event_store.application.TicketStore.import_histories` writes on its bulk path.

It covers the common case and returns None for everything else, so that the object
reader, with its exact error messages, reads those files: another encoding than
UTF-8, a csmine export with neutralised cells, ``collapse_repeats``, start/complete
lifecycles, rows pyarrow refuses (a wrong number of fields), a NUL byte, a missing
column, an empty ticket id or activity. ``ColumnarLog.histories`` (the
:class:`~event_store.records.TicketHistory` objects) is built only when asked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from event_store.io.columnar_build import Unsupported, local_us, pd_isna, step_columns, ticket_columns, utc_us
from event_store.persistence.bulk_write import NewTickets
from event_store.records import CASE_FIELDS


class HistoriesView:
    """A read log as a sequence of its tickets (``n_tickets`` and ``histories`` are the subclass's)."""

    __slots__ = ()
    n_tickets: int
    histories: list[Any]

    def __len__(self) -> int:
        return self.n_tickets

    def __iter__(self) -> Iterator[Any]:
        return iter(self.histories)

    def __getitem__(self, index: Any) -> Any:
        return self.histories[index]


@dataclass(slots=True)
class ColumnarLog(HistoriesView):
    """A CSV event log read as columns, rows in import order (ticket by ticket, by time).

    Attributes:
        name: the file's name (source references are ``name:line``).
        rows: event rows in the file.
        n_tickets / n_events: tickets and steps to import.
    """

    name: str
    rows: int
    n_tickets: int
    n_events: int
    _steps: Any  # the step columns needed, rows in import order (pyarrow Table)
    _tickets: Any  # one row per ticket, in ticket order (pyarrow Table of prepared columns)
    _times: dict[str, Any]  # occurred/started: UTC and local microseconds, missing masks (import order)
    _lines: Any  # the line of the file each step's row starts on (import order)
    _owner: Any  # ticket number of each step
    _spec: dict[str, Any]  # how the steps' columns are made (mapping, lifecycle mode, attribute columns)
    _histories: list[Any] | None = None

    @property
    def histories(self) -> list[Any]:
        """The tickets as :class:`~event_store.records.TicketHistory` objects (built once, on demand)."""
        if self._histories is None:
            self._histories = [h for b in self._batches(self.n_tickets or 1) for h in _to_histories(b)]
        return self._histories

    def column_batches(self, batch_size: int, limits: Any) -> Iterator[NewTickets]:
        """Batches of ``batch_size`` tickets as columns (field limits checked first, vectorised)."""
        _check_limits(self, limits)
        yield from self._batches(batch_size)

    def _batches(self, batch_size: int) -> Iterator[NewTickets]:
        t = self._tickets
        counts = t.column("count").to_numpy()
        ends = np.cumsum(counts)
        for lo in range(0, self.n_tickets, batch_size):
            hi = min(lo + batch_size, self.n_tickets)
            e_lo = int(ends[lo - 1]) if lo else 0
            e_hi = int(ends[hi - 1])
            steps = step_columns(self._steps.slice(e_lo, e_hi - e_lo),
                                  {k: None if v is None else v[e_lo:e_hi] for k, v in self._times.items()}, self._lines[e_lo:e_hi],
                                  self._owner[e_lo:e_hi], self.name, **self._spec)
            batch = _batch(t.slice(lo, hi - lo), steps, counts[lo:hi])
            del steps  # its Arrow columns are lists in the batch now: not held while the batch waits
            yield batch


def _col(table: Any, name: str) -> list[Any]:
    return table.column(name).to_pylist()  # type: ignore[no-any-return]


def _batch(tickets: Any, steps: Any, counts: Any) -> NewTickets:
    case_fields = list(zip(*(_col(tickets, f"f_{k}") for k in CASE_FIELDS), strict=True))
    batch = NewTickets(
        _col(tickets, "ticket"), _col(tickets, "uuid"), _col(tickets, "opened_us"), _col(tickets, "opened_iso"),
        _col(tickets, "case_json"), case_fields, _col(tickets, "extra_json"), _col(tickets, "ref"),
        counts.tolist(), _col(steps, "activity"), _col(steps, "occurred_us"), _col(steps, "occurred_iso"),
        _col(steps, "started_us"), _col(steps, "started_iso"), _col(steps, "actor"), _col(steps, "team"),
        _col(steps, "ref"), _col(steps, "attrs_json"), rebuild=_to_histories)
    return batch


def _to_histories(batch: NewTickets) -> list[Any]:
    """TicketHistory objects of a batch (for the object path: tickets the store holds already)."""
    from datetime import datetime

    from event_store.records import ActivityRow, TicketHistory

    out = []
    k = 0
    for i, ticket in enumerate(batch.tickets):
        steps = []
        for _ in range(batch.counts[i]):
            started = batch.started_iso[k]
            attrs = batch.attrs_json[k]
            steps.append(ActivityRow(batch.activity[k], datetime.fromisoformat(batch.occurred_iso[k]), batch.actor[k],
                                     batch.team[k], None if started is None else datetime.fromisoformat(started),
                                     batch.step_refs[k], {} if attrs is None else json.loads(attrs)))
            k += 1
        out.append(TicketHistory(ticket, datetime.fromisoformat(batch.opened_iso[i]), json.loads(batch.case_json[i]),
                                 tuple(steps), batch.ticket_refs[i]))
    return out


def _check_limits(log: ColumnarLog, limits: Any) -> None:
    """Field limits, vectorised: only tickets holding a long value are checked one by one."""
    import pyarrow.compute as pc

    from event_store.limits import check_history

    fchars = limits.max_field_bytes // 4
    vchars = limits.max_value_bytes // 4
    spec = log._spec
    long_rows = None
    for name in log._steps.column_names:
        role = spec["mapping"]
        chars = fchars if name in (role.activity, role.resource, role.team) else vchars
        lengths = pc.utf8_length(log._steps.column(name))
        hit = pc.fill_null(pc.greater(lengths, chars), False)
        long_rows = hit if long_rows is None else pc.or_(long_rows, hit)
    t_hit = pc.fill_null(pc.greater(pc.utf8_length(log._tickets.column("ticket")), fchars), False)
    t_hit = pc.or_(t_hit, pc.fill_null(pc.greater(pc.utf8_length(log._tickets.column("case_json")), vchars), False))
    bad_tickets = set(np.flatnonzero(t_hit.to_numpy(zero_copy_only=False)).tolist())
    if any(len(c) > fchars for c in log._steps.column_names):
        bad_tickets.update(range(log.n_tickets))  # a long attribute name: every ticket has it
    if long_rows is not None and pc.any(long_rows).as_py():
        bad_tickets.update(log._owner[long_rows.to_numpy(zero_copy_only=False)].tolist())
    if not bad_tickets:
        return
    histories = log.histories
    for i in sorted(bad_tickets):
        check_history(histories[i], limits)


# -- reading --------------------------------------------------------------------------------


def read_csv_columns(path: str, *, lifecycle: str, mapping: Any, collapse_repeats: bool = False) -> Any:
    """Read a CSV event log as columns; None when the object reader must read it (see the module docstring).

    A :class:`ColumnarLog`, or for a large file a
    :class:`~event_store.io.columnar_parts.PartitionedLog` (read in ticket partitions).

    Raises:
        ImportFormatError: the times cannot be read (the same messages as the object reader).
    """
    if collapse_repeats:
        return None
    import pyarrow as pa

    try:
        log = _read_large(path, lifecycle, mapping) or _read(path, lifecycle, mapping)
    except Unsupported:
        return None
    finally:  # the whole file's columns are gone: give their pages back (this thread's heap)
        pa.default_memory_pool().release_unused()
    return log


def _read_large(path: str, lifecycle: str, mapping: Any) -> Any:
    """A large file in ticket partitions (:mod:`event_store.io.columnar_parts`); None for a file read whole."""
    from event_store.io.columnar_parts import partitions_for, read_partitioned
    from event_store.io.table_frame import read_head

    name = os.path.basename(path)
    parts = partitions_for(path, read_head(path, name))
    return read_partitioned(path, name, lifecycle, mapping, parts) if parts > 1 else None


def csv_options(path: str, name: str, mapping: Any) -> tuple[list[str], str, Any, Any]:
    """The header and dialect the columnar reader uses: ``(header, sep, parse options, convert options)``.

    Raises:
        Unsupported: a file the object reader must read (another encoding, a csmine
            export with neutralised cells, fewer than 3 columns).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from event_store.io.files import read_manifest
    from event_store.io.read_base import inflated, parse_sep
    from event_store.io.table_frame import check_header, header_fields, read_head, sniff, text_encoding
    from event_store.limits import current_limits

    sep = parse_sep(mapping.sep, "--sep")
    inflated(path, current_limits(), "CSV")
    manifest = read_manifest(path)
    if manifest is not None and manifest.get("cells") == "neutralised":
        raise Unsupported
    head = read_head(path, name)
    enc = text_encoding(head, mapping.encoding, name, "--")
    if enc.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        raise Unsupported
    text = head.decode("utf-8", errors="replace")
    if len(head) >= 64 * 1024 and text.rfind("\n") > 0:
        text = text[: text.rfind("\n") + 1]
    if sep is None:
        sep = "\t" if path.lower().endswith((".tsv", ".tsv.gz")) else (sniff(text) or ",")
    header = header_fields(text.lstrip("\ufeff"), sep)
    if len(header) < 3:
        raise Unsupported
    check_header(header, name, "line 1")
    header = [h if h != "" else f"Unnamed: {i}" for i, h in enumerate(header)]  # pandas' names for them
    parse = pacsv.ParseOptions(delimiter=sep, quote_char='"', double_quote=True, newlines_in_values=True)
    convert = pacsv.ConvertOptions(column_types={h: pa.string() for h in header}, null_values=[""],
                                   strings_can_be_null=True, quoted_strings_can_be_null=True)
    return header, sep, parse, convert


def _arrow_csv(path: str, name: str, mapping: Any) -> tuple[Any, str]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header, sep, parse, convert = csv_options(path, name, mapping)
    try:
        table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
                               parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
        raise Unsupported from None
    if table.num_rows == 0 or table.column_names != header:
        raise Unsupported
    return table, sep  # chunked as read: combining it would hold the file's columns twice


def _read(path: str, lifecycle: str, mapping: Any) -> ColumnarLog:
    from event_store.io.csv_lines import scan_lines
    from event_store.io.read_base import lifecycle_mode

    name = os.path.basename(path)
    table, sep = _arrow_csv(path, name, mapping)
    _check_columns(table, mapping)
    mode = lifecycle_mode(lifecycle, lifecycle_values(table, mapping))
    if mode == "start-complete":
        raise Unsupported
    lines = scan_lines(path, sep).checked(table.num_rows)
    ts, start = _read_times(table, mapping, name, lines)
    times = time_columns(ts, start)
    del ts, start
    return build_log(table, times, lines.at(np.arange(table.num_rows)), name, mapping, mode)


def lifecycle_values(table: Any, mapping: Any) -> set[str]:
    """The lifecycle column's distinct values (empty without one)."""
    import pyarrow.compute as pc

    if mapping.lifecycle is None or mapping.lifecycle not in table.column_names:
        return set()
    return {str(v) for v in pc.unique(table.column(mapping.lifecycle).drop_null()).to_pylist()}


def time_columns(ts: Any, start: Any) -> dict[str, Any]:
    """The business times (and work starts) as UTC and local microseconds, in the table's row order."""
    times = {"occurred_utc": utc_us(ts), "occurred_local": local_us(ts), "occurred_missing": None}
    if start is not None and getattr(start.dt, "tz", None) is None:  # no start at all: naive, all missing
        none = np.zeros(len(start), dtype=np.int64)
        times.update(started_utc=none, started_local=none.copy(), started_missing=np.ones(len(start), dtype=bool))
    elif start is not None:
        times.update(started_utc=utc_us(start), started_local=local_us(start), started_missing=pd_isna(start))
    return times


def role_columns(cols: list[str], mapping: Any) -> tuple[dict[str, str], list[str], list[str]]:
    """Ticket attribute -> column, the step-attribute columns, and every column a log keeps."""
    special = {mapping.case, mapping.activity, mapping.timestamp, mapping.resource, mapping.team, mapping.start,
               mapping.lifecycle, *mapping.case_attrs.values()}
    case_cols = dict(mapping.case_attrs)
    for col in cols:
        if col.startswith("case:") and col != mapping.case and col not in special:
            case_cols.setdefault(col[5:], col)
    attr_cols = [c for c in cols if c not in special and c not in case_cols.values() and not c.startswith("@@")]
    keep = list(dict.fromkeys(c for c in (mapping.case, mapping.activity, mapping.resource, mapping.team,
                                           mapping.lifecycle, *attr_cols, *case_cols.values())
                              if c is not None and c in cols))
    return case_cols, attr_cols, keep


def build_log(table: Any, times: dict[str, Any], lines: np.ndarray, name: str, mapping: Any,
              mode: str) -> ColumnarLog:
    """A :class:`ColumnarLog` of ``table``'s rows: grouped by ticket (first seen first), by time.

    ``times`` are :func:`time_columns` of the rows; ``lines`` the line of the file each
    starts on (its source reference). Rows of one ticket and time keep the table's
    order, which must be the file's.
    """
    import pyarrow.compute as pc

    cols = table.column_names
    n = table.num_rows
    case_cols, attr_cols, keep = role_columns(cols, mapping)
    has_lc = mapping.lifecycle is not None and mapping.lifecycle in cols
    codes = pc.dictionary_encode(table.column(mapping.case).combine_chunks()).indices.to_numpy()  # first seen
    order = np.lexsort((np.arange(n), times["occurred_utc"], codes))
    times = {k: (None if v is None else v[order]) for k, v in times.items()}
    owner = codes[order]
    del codes
    kept = {c: table.column(c) for c in keep}
    del table  # the columns not kept go now; each kept one once sorted
    taken = _sorted_columns(kept, order)
    file_lines = lines[order]
    del order
    tickets = ticket_columns(taken, times, file_lines, owner, name, mapping, case_cols)
    step_cols = [c for c in dict.fromkeys((mapping.activity, mapping.resource, mapping.team,
                                           mapping.lifecycle if has_lc else None, *attr_cols))
                 if c is not None and c in cols]
    spec = {"mapping": mapping, "mode": mode, "has_lc": has_lc, "attr_cols": attr_cols}
    return ColumnarLog(name, n, tickets.num_rows, len(file_lines), taken.select(step_cols), tickets, times,
                       file_lines, owner, spec)


def _sorted_columns(columns: dict[str, Any], order: np.ndarray) -> Any:
    """The columns with their rows in import order, each file column released once taken.

    ``columns`` is emptied: the caller hands over the only references, so the file's
    columns and their sorted copies never coexist whole (the peak is the file's
    columns plus one column, not twice them).
    """
    import pyarrow as pa

    pool = pa.default_memory_pool()
    pool.release_unused()  # the columns not kept: their pages back before the copies are made
    indices = pa.array(order)
    taken = {}
    for c in list(columns):
        taken[c] = columns.pop(c).take(indices).combine_chunks()
        pool.release_unused()
    return pa.table(taken)


def _check_columns(table: Any, mapping: Any) -> None:
    """The mapped columns are there; no NUL byte, no empty ticket id or activity (else: the object reader)."""
    import pyarrow.compute as pc

    from event_store.io.read_base import required_columns

    cols = table.column_names
    if any(col not in cols for _, col, _ in required_columns(mapping)):
        raise Unsupported
    for col in cols:
        if pc.any(pc.match_substring(table.column(col), "\x00")).as_py():
            raise Unsupported
    if table.column(mapping.case).null_count or table.column(mapping.activity).null_count:
        raise Unsupported


def _read_times(table: Any, mapping: Any, name: str, lines: Any) -> tuple[Any, Any]:
    """The business times and the work starts (None: no start column) as tz-aware pandas Series.

    ``lines``: the :class:`~event_store.io.csv_lines.RowLines` of the table's rows (errors name the line).
    """
    import pandas as pd

    from event_store.io.read_base import parse_times, time_zone

    zone = time_zone(mapping.tz, name)
    ts = parse_times(pd.Series(table.column(mapping.timestamp).to_pandas()), mapping.timestamp_format, zone, name,
                     lines, mapping.timestamp, "line")
    start = None
    if mapping.start and mapping.start in table.column_names:
        start = parse_times(pd.Series(table.column(mapping.start).to_pandas()), mapping.timestamp_format, zone, name,
                            lines, mapping.start, "line", allow_missing=True)
    return ts, start
