"""CSV read as columns (pyarrow) into import batches, without a Python object per event.

:func:`read_csv_columns` gives the same tickets, steps, times, attributes, order and
source references as :func:`event_store.io.importing.read_log` for a CSV file, but
keeps them as Arrow columns: the file is parsed by pyarrow's multi-threaded reader,
times by pandas (the same :func:`~event_store.io.importing._parse_times`), the
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from event_store.persistence.bulk_write import NewTickets
from event_store.records import CASE_FIELDS

_STR = json.encoder.encode_basestring
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_DT_OPEN = '{"_type_":"datetime_iso","_data_":"'


class _Unsupported(Exception):
    """The columnar reader does not cover this file: the object reader reads it."""


@dataclass(slots=True)
class ColumnarLog:
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
    _order: Any  # file row of each step (import order)
    _owner: Any  # ticket number of each step
    _spec: dict[str, Any]  # how the steps' columns are made (mapping, lifecycle mode, attribute columns)
    _histories: list[Any] | None = None

    def __len__(self) -> int:
        return self.n_tickets

    def __iter__(self) -> Iterator[Any]:
        return iter(self.histories)

    def __getitem__(self, index: Any) -> Any:
        return self.histories[index]

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
            steps = _step_columns(self._steps.slice(e_lo, e_hi - e_lo),
                                  {k: None if v is None else v[e_lo:e_hi] for k, v in self._times.items()}, self._order[e_lo:e_hi],
                                  self._owner[e_lo:e_hi], self.name, **self._spec)
            yield _batch(t.slice(lo, hi - lo), steps, counts[lo:hi])


def _col(table: Any, name: str) -> list[Any]:
    return table.column(name).to_pylist()  # type: ignore[no-any-return]


def _batch(tickets: Any, steps: Any, counts: Any) -> NewTickets:
    case_fields = list(zip(*(_col(tickets, f"f_{k}") for k in CASE_FIELDS), strict=True))
    batch = NewTickets(
        _col(tickets, "ticket"), _col(tickets, "uuid"), _col(tickets, "opened_us"), _col(tickets, "opened_iso"),
        _col(tickets, "case_json"), case_fields, _col(tickets, "extra_json"), _col(tickets, "ref"),
        counts.tolist(), _col(steps, "activity"), _col(steps, "occurred_us"), _col(steps, "occurred_iso"),
        _col(steps, "started_us"), _col(steps, "started_iso"), _col(steps, "actor"), _col(steps, "team"),
        _col(steps, "ref"), _col(steps, "attrs_json"))
    batch.histories = lambda: _to_histories(batch)
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


def read_csv_columns(path: str, *, lifecycle: str, mapping: Any, collapse_repeats: bool = False) -> ColumnarLog | None:
    """Read a CSV event log as columns; None when the object reader must read it (see the module docstring).

    Raises:
        ImportFormatError: the times cannot be read (the same messages as the object reader).
    """
    if collapse_repeats:
        return None
    try:
        return _read(path, lifecycle, mapping)
    except _Unsupported:
        return None


def _arrow_csv(path: str, name: str, mapping: Any) -> tuple[Any, str]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from event_store.io.files import read_manifest
    from event_store.io.importing import (
        _check_header,
        _encoding,
        _head,
        _header_fields,
        _inflated,
        _sniff,
        parse_sep,
    )
    from event_store.limits import current_limits

    sep = parse_sep(mapping.sep, "--sep")
    _inflated(path, current_limits(), "CSV")
    manifest = read_manifest(path)
    if manifest is not None and manifest.get("cells") == "neutralised":
        raise _Unsupported
    head = _head(path, name)
    enc = _encoding(head, mapping.encoding, name, "--")
    if enc.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        raise _Unsupported
    text = head.decode("utf-8", errors="replace")
    if len(head) >= 64 * 1024 and text.rfind("\n") > 0:
        text = text[: text.rfind("\n") + 1]
    if sep is None:
        sep = "\t" if path.lower().endswith((".tsv", ".tsv.gz")) else (_sniff(text) or ",")
    header = _header_fields(text.lstrip("\ufeff"), sep)
    if len(header) < 3:
        raise _Unsupported
    _check_header(header, name, "line 1")
    header = [h if h != "" else f"Unnamed: {i}" for i, h in enumerate(header)]  # pandas' names for them
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char='"', double_quote=True,
                                             newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header}, null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
        raise _Unsupported from None
    if table.num_rows == 0 or table.column_names != header:
        raise _Unsupported
    return table.combine_chunks(), sep


def _read(path: str, lifecycle: str, mapping: Any) -> ColumnarLog:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from event_store.io.importing import _lifecycle_mode, _parse_times, _zone

    name = os.path.basename(path)
    table, _ = _arrow_csv(path, name, mapping)
    cols = table.column_names
    for col in (mapping.case, mapping.activity, mapping.timestamp, *mapping.case_attrs.values()):
        if col not in cols:
            raise _Unsupported
    for col in cols:
        if pc.any(pc.match_substring(table.column(col), "\x00")).as_py():
            raise _Unsupported
    case = table.column(mapping.case)
    if case.null_count or table.column(mapping.activity).null_count:
        raise _Unsupported
    n = table.num_rows
    zone = _zone(mapping.tz, name)
    ts = _parse_times(pd.Series(table.column(mapping.timestamp).to_pandas()), mapping.timestamp_format, zone, name, 2,
                      mapping.timestamp, "line")
    start = None
    if mapping.start and mapping.start in cols:
        start = _parse_times(pd.Series(table.column(mapping.start).to_pandas()), mapping.timestamp_format, zone, name,
                             2, mapping.start, "line", allow_missing=True)
    special = {mapping.case, mapping.activity, mapping.timestamp, mapping.resource, mapping.team, mapping.start,
               mapping.lifecycle, *mapping.case_attrs.values()}
    case_cols = dict(mapping.case_attrs)
    for col in cols:
        if col.startswith("case:") and col != mapping.case and col not in special:
            case_cols.setdefault(col[5:], col)
    attr_cols = [c for c in cols if c not in special and c not in case_cols.values() and not c.startswith("@@")]
    has_lc = mapping.lifecycle is not None and mapping.lifecycle in cols
    lc_values = {str(v) for v in pc.unique(table.column(mapping.lifecycle).drop_null()).to_pylist()} if has_lc else set()
    mode = _lifecycle_mode(lifecycle, lc_values)
    if mode == "start-complete":
        raise _Unsupported

    codes = pc.dictionary_encode(case).combine_chunks().indices.to_numpy()
    times = {"occurred_utc": _utc_us(ts), "occurred_local": _local_us(ts), "occurred_missing": None}
    del ts
    if start is not None:
        times.update(started_utc=_utc_us(start), started_local=_local_us(start), started_missing=pd_isna(start))
        del start
    order = np.lexsort((np.arange(n), times["occurred_utc"], codes))
    times = {k: (None if v is None else v[order]) for k, v in times.items()}
    owner = codes[order]
    del codes
    keep = list(dict.fromkeys(c for c in (mapping.case, mapping.activity, mapping.resource, mapping.team,
                                           mapping.lifecycle if has_lc else None, *attr_cols, *case_cols.values())
                              if c is not None and c in cols))
    taken = table.select(keep).take(pa.array(order))
    del table
    tickets = _ticket_columns(taken, times, order, owner, name, mapping, case_cols)
    step_cols = [c for c in dict.fromkeys((mapping.activity, mapping.resource, mapping.team,
                                           mapping.lifecycle if has_lc else None, *attr_cols))
                 if c is not None and c in cols]
    spec = {"mapping": mapping, "mode": mode, "has_lc": has_lc, "attr_cols": attr_cols}
    return ColumnarLog(name, n, tickets.num_rows, len(order), taken.select(step_cols), tickets, times, order, owner,
                       spec)


def _local_us(ts: Any) -> np.ndarray:
    """Microseconds since the epoch of the wall-clock times in each value's own zone."""
    return ts.dt.tz_localize(None).to_numpy().astype("datetime64[us]").view("int64")  # type: ignore[no-any-return]


def _utc_us(ts: Any) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a tz-aware pandas Series."""
    values = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    return values.view("int64")


def _iso(utc: np.ndarray, local: np.ndarray, missing: np.ndarray | None) -> Any:
    """``datetime.isoformat()`` of tz-aware times given as UTC and wall-clock microseconds (Arrow strings).

    Seconds, then ``.ffffff`` when the microseconds are not zero, then the UTC
    offset ``+HH:MM``, as Python writes them; None where ``missing``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(utc)
    ok = np.ones(n, dtype=bool) if missing is None else ~missing
    if not ok.any():
        return pa.nulls(n, pa.string())
    loc = np.where(ok, local, 0)
    secs = loc // 1_000_000
    if secs[ok].min() < -30_610_224_000 or secs[ok].max() > 253_402_300_799:  # years 1000-9999 only
        raise _Unsupported
    offset = np.where(ok, local - utc, 0)
    if (offset % 60_000_000).any():
        raise _Unsupported  # offsets with seconds: rare, the object reader writes them
    base = pc.strftime(pa.array(secs, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
    micro = loc - secs * 1_000_000
    pieces = [base]
    if micro.any():
        frac = pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(pa.array(micro), pa.string()), 6, "0"), "")
        pieces.append(pc.if_else(pa.array(micro != 0), frac, pa.scalar("", pa.string())))
    minutes = offset // 60_000_000
    uniq, inv = np.unique(minutes, return_inverse=True)
    texts = [f"{'-' if m < 0 else '+'}{abs(int(m)) // 60:02d}:{abs(int(m)) % 60:02d}" for m in uniq]
    pieces.append(pc.take(pa.array(texts, pa.string()), pa.array(inv.reshape(-1))))
    joined = pc.binary_join_element_wise(*pieces, "")
    if missing is None or not missing.any():
        return joined
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), joined)


def pd_isna(series: Any) -> np.ndarray:
    return series.isna().to_numpy(dtype=bool)  # type: ignore[no-any-return]


def _json_str(arr: Any) -> Any:
    """JSON text of each string (null stays null): quotes added, escaping where a value needs it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.any(pc.match_substring_regex(arr, _NEEDS_ESCAPE)).as_py():
        enc = pc.dictionary_encode(arr).combine_chunks() if isinstance(arr, pa.ChunkedArray) else \
            pc.dictionary_encode(arr)
        escaped = pa.array([_STR(v) for v in enc.dictionary.to_pylist()], pa.string())
        return pc.take(escaped, enc.indices)
    return pc.binary_join_element_wise('"', arr, '"', "")


def _step_columns(taken: Any, times: dict[str, Any], order: np.ndarray, owner: np.ndarray, name: str, *,
                  mapping: Any, mode: str, has_lc: bool, attr_cols: Sequence[str]) -> Any:
    """One batch's step columns: values for the read model, JSON pieces for the stored state."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = taken.num_rows
    activity = taken.column(mapping.activity)
    attr_pieces = []
    for col in attr_cols:
        attr_pieces.append(pc.binary_join_element_wise(_STR(col) + ":", _json_str(taken.column(col)), ""))
    if has_lc:
        lc = taken.column(mapping.lifecycle)
        if mode == "status":
            activity = pc.if_else(pc.is_null(lc), activity, pc.binary_join_element_wise(activity, lc, "/"))
        elif mode == "ignore":
            keep = pc.fill_null(pc.not_equal(pc.utf8_lower(lc), "complete"), False)
            lc_json = pc.if_else(keep, _json_str(lc), pa.scalar(None, pa.string()))
            attr_pieces.append(pc.binary_join_element_wise(_STR("lifecycle:transition") + ":", lc_json, ""))
    if attr_pieces:
        inner = _join_skip(attr_pieces)
        attrs = pc.if_else(pc.equal(inner, ""), pa.scalar(None, pa.string()),
                           pc.binary_join_element_wise("{", inner, "}", ""))
    else:
        attrs = pa.nulls(n, pa.string())
    refs = pc.binary_join_element_wise(name + ":", pc.cast(pa.array(order + 2), pa.string()), "")
    if "started_utc" in times:
        missing = times["started_missing"]
        started_us = pa.array(times["started_utc"], mask=missing)
        started_iso = _iso(times["started_utc"], times["started_local"], missing)
    else:
        started_us = pa.nulls(n, pa.int64())
        started_iso = pa.nulls(n, pa.string())
    return pa.table({
        "activity": activity,
        "occurred_us": pa.array(times["occurred_utc"]),
        "occurred_iso": _iso(times["occurred_utc"], times["occurred_local"], None),
        "started_us": started_us,
        "started_iso": started_iso,
        "actor": _optional(taken, mapping.resource, n),
        "team": _optional(taken, mapping.team, n),
        "ref": refs,
        "attrs_json": attrs,
    })


def _optional(table: Any, col: str | None, n: int) -> Any:
    import pyarrow as pa

    if col is None or col not in table.column_names:
        return pa.nulls(n, pa.string())
    return table.column(col)


def _ticket_columns(taken: Any, times: dict[str, Any], order: np.ndarray, owner: np.ndarray, name: str,
                    mapping: Any, case_cols: dict[str, str]) -> Any:
    """One row per ticket: id, uuid, opening time, case JSON and fields, source ref, step count."""
    import pyarrow as pa
    import pyarrow.compute as pc

    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    counts = np.diff(np.r_[first, len(owner)])
    nt = len(first)
    ids = taken.column(mapping.case).take(pa.array(first)).to_pylist()
    uuids = uuid5_texts(ids)
    values: dict[str, Any] = {}
    for attr, col in case_cols.items():
        values[attr] = _first_valid(taken.column(col), owner, first, nt)
    # As the object reader: no team among the case attributes (or none for this
    # ticket), then the team of the ticket's earliest step with one, added last.
    team = _optional(taken, mapping.team, len(owner))
    team = pc.if_else(pc.equal(team, ""), pa.scalar(None, pa.string()), team)
    step_team = _first_valid(team, owner, first, nt)
    if "team" in values:
        step_team = pc.if_else(pc.is_null(values["team"]), step_team, pa.scalar(None, pa.string()))
    pieces = [pc.binary_join_element_wise(_STR(attr) + ":", _json_str(v), "") for attr, v in values.items()]
    extra_pieces = [p for attr, p in zip(values, pieces, strict=True) if attr not in CASE_FIELDS]
    pieces.append(pc.binary_join_element_wise(_STR("team") + ":", _json_str(step_team), ""))
    values["team"] = pc.coalesce(values["team"], step_team) if "team" in values else step_team
    case_json = _object(pieces, nt, empty="{}")
    extra_json = _object(extra_pieces, nt, empty=None)
    occurred_us = times["occurred_utc"][first]
    opened_us = occurred_us
    pick = first
    if "started_utc" in times:
        big = np.iinfo(np.int64).max
        s_vals = np.where(times["started_missing"], big, times["started_utc"])
        # the earliest start of each ticket (the first such step on a tie), against the first step's time
        key = np.lexsort((np.arange(len(s_vals)), s_vals, owner))
        earliest = key[first]
        s_min = s_vals[earliest]
        use = s_min < occurred_us
        opened_us = np.where(use, s_min, occurred_us)
        opened_iso = pc.if_else(pa.array(use), _iso(times["started_utc"][earliest], times["started_local"][earliest],
                                                    ~use),
                                _iso(occurred_us, times["occurred_local"][first], None))
    else:
        opened_iso = _iso(occurred_us, times["occurred_local"][pick], None)
    fields = {f"f_{k}": values[k] if k in values else pa.nulls(nt, pa.string()) for k in CASE_FIELDS}
    return pa.table({
        "ticket": pa.array(ids, pa.string()),
        "uuid": pa.array(uuids, pa.string()),
        "opened_us": pa.array(opened_us),
        "opened_iso": opened_iso,
        "case_json": case_json,
        "extra_json": extra_json,
        "ref": pc.binary_join_element_wise(name + ":", pc.cast(pa.array(order[first] + 2), pa.string()), ""),
        "count": pa.array(counts),
        **fields,
    })


def uuid5_texts(names: Sequence[str]) -> list[str]:
    """``str(event_store.domain.ticket_id(name))`` of each name, without a UUID object per name."""
    import hashlib
    import uuid

    from event_store.domain import TICKET_NAMESPACE

    prefix = uuid.NAMESPACE_URL.bytes + TICKET_NAMESPACE.encode()
    sha1 = hashlib.sha1
    digests = b"".join([sha1(prefix + n.encode()).digest()[:16] for n in names])
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50  # version 5
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hx = raw.tobytes().hex()
    return [f"{hx[i:i + 8]}-{hx[i + 8:i + 12]}-{hx[i + 12:i + 16]}-{hx[i + 16:i + 20]}-{hx[i + 20:i + 32]}"
            for i in range(0, len(hx), 32)]


def _first_valid(col: Any, owner: np.ndarray, first: np.ndarray, nt: int) -> Any:
    """Per ticket, the first non-null value of ``col`` (rows grouped by ticket, in order)."""
    import pyarrow as pa

    valid = ~col.is_null().to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(valid)
    pick = np.full(nt, -1, dtype=np.int64)
    if len(idx):
        grp = owner[idx]
        firsts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
        pick[grp[firsts]] = idx[firsts]
    mask = pick < 0
    out = col.take(pa.array(np.where(mask, 0, pick)))
    return pc_if_null(out, mask)


def pc_if_null(arr: Any, mask: np.ndarray) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def _join_skip(pieces: list[Any]) -> Any:
    """The non-null pieces of each row joined with commas ("" when all are null).

    (pyarrow's ``null_handling="skip"`` loses rows when a piece is null throughout.)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    acc = pieces[0]
    for piece in pieces[1:]:
        acc = pc.coalesce(pc.binary_join_element_wise(acc, piece, ","), acc, piece)
    return pc.fill_null(acc, pa.scalar("", pa.string()))


def _object(pieces: list[Any], n: int, *, empty: str | None) -> Any:
    """``{piece,piece,...}`` per row, skipping null pieces; ``empty`` when a row has none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pieces:
        return pa.array([empty] * n, pa.string())
    inner = _join_skip(pieces)
    whole = pc.binary_join_element_wise("{", inner, "}", "")
    return pc.if_else(pc.equal(inner, ""), pa.scalar(empty, pa.string()), whole)
