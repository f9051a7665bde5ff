"""Writing the store back out as XES, CSV or Parquet.

Two views:

* ``corrected`` (default): the read model: corrections applied, retracted events dropped,
  each ticket's events in business-time order (ties in record order);
* ``recorded``: every lifecycle event exactly as it was first recorded, decoded
  straight from the stored events (corrections and retractions ignored), in record order.

Rows are produced ticket by ticket in log order, then written in the pm4py/XES
vocabulary (``case:concept:name``, ``concept:name``, ``time:timestamp``, ...), so an
export re-imports to the same tickets, events, order, timestamps and attributes.

**What an export vouches for.** :func:`export_store` reads everything in one
snapshot and, in that same snapshot, first runs :func:`event_store.integrity.verify.verify_in`:
the events re-hash to their chain and head, and the read model is exactly the
projection of those events (:mod:`event_store.readmodel.check`). Only then are the rows
read, from that snapshot, so what is written is what was verified; a store that does
not verify is refused (nothing written, exit code 5). The read model is used rather
than the events because the corrected view *is* the projection (corrections
applied, retractions dropped); proving it equal to the events costs one pass
(about 2 s on BPIC 2013) and keeps one definition of the projection. The manifest
of a CSV export records the log size and Merkle root it was verified against.

**Files.** Written to a temporary name and renamed; an existing file is replaced
only with ``force``; CSV cells that a spreadsheet would run as formulas are
neutralised unless ``raw`` (see :mod:`event_store.io.files`).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from event_store.domain import TOPIC_ACTIVITY, TOPIC_OPENED
from event_store.errors import ImportFormatError, IntegrityError, ReadModelError
from event_store.persistence.failures import storage_errors
from event_store.io.files import atomic_path, check_new, manifest_for, manifest_path, write_csv_rows, write_text
from event_store.readmodel.projection import from_us
from event_store.records import CASE_FIELDS

if TYPE_CHECKING:
    from event_store.persistence.db import Cursor

FORMATS = ("xes", "csv", "parquet")
VIEWS = ("corrected", "recorded")


def iter_tickets(store: Any, view: str = "corrected", cur: Cursor | None = None,
                 ) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """Yield ``(ticket, case attributes, events)`` in the order tickets were opened.

    With ``cur`` the rows are read in the caller's transaction (a verified snapshot);
    without, straight from the store, unverified.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: use corrected or recorded")
    if cur is None:
        with store.db.transaction() as own:
            if own.postgres:
                own.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield from iter_tickets(store, view, own)
        return
    if view == "corrected":
        yield from _iter_corrected(store, cur)
    else:
        yield from _iter_recorded(store, cur)


class _Typed:
    """Attributes from the read model's JSON, typed values (times, ...) decoded.

    Memoised by text: the same attribute sets repeat across many events. The
    dicts returned are shared, so callers must not change them.
    """

    def __init__(self, store: Any) -> None:
        self.decode = store.mapper.transcoder.decode
        self.cache: dict[str, dict[str, Any]] = {}

    def __call__(self, text: str | None) -> dict[str, Any]:
        if not text:
            return {}
        found = self.cache.get(text)
        if found is None:
            if len(self.cache) > 100_000:
                self.cache.clear()
            found = self.cache[text] = dict(self.decode(text.encode()))
        return found


def _iter_corrected(store: Any, cur: Cursor) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    tickets = cur.execute(
        "SELECT ticket, channel, category, priority, emotion, customer, team, region, case_attrs "
        "FROM tickets ORDER BY notification_id"
    ).fetchall()
    events: dict[str, list[dict[str, Any]]] = {}
    typed = _Typed(store)
    for row in cur.execute(
        "SELECT ticket, activity, occurred_at, started_at, actor, team, attrs FROM event_log "
        "WHERE retracted = 0 ORDER BY ticket, occurred_at, version"
    ).fetchall():
        ev = {"activity": row[1], "occurred_at": from_us(row[2]), "started_at": from_us(row[3]),
              "actor": row[4], "team": row[5], "attrs": typed(row[6])}
        events.setdefault(row[0], []).append(ev)
    for t in tickets:
        case = {k: v for k, v in zip(CASE_FIELDS, t[1:8], strict=True) if v is not None}
        case.update(typed(t[8]))
        yield t[0], case, events.get(t[0], [])


def _stored_events(store: Any, cur: Cursor) -> Iterator[StoredEvent]:
    """The stored events in log order, read in ``cur``, page by page."""
    table = store.recorder.events_table_name  # csmine's connection has the store's schema on its search path
    nid = "notification_id" if cur.postgres else "rowid"
    last = 0
    while True:
        rows = cur.execute(f"SELECT {nid}, originator_id, originator_version, topic, state FROM {table} "
                           f"WHERE {nid} > ? ORDER BY {nid} LIMIT 5000", (last,)).fetchall()
        if not rows:
            return
        for _, oid, version, topic, state in rows:
            yield StoredEvent(oid if isinstance(oid, UUID) else UUID(oid), int(version), topic, bytes(state))
        last = rows[-1][0]


def _iter_recorded(store: Any, cur: Cursor) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    order: list[str] = []
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    events: dict[str, list[dict[str, Any]]] = {}
    for n in _stored_events(store, cur):
        oid = str(n.originator_id)
        if n.topic == TOPIC_OPENED:
            d = store.mapper.to_domain_event(n)
            cases[oid] = (d.external_id, dict(d.case))
            order.append(oid)
        elif n.topic == TOPIC_ACTIVITY:
            d = store.mapper.to_domain_event(n)
            events.setdefault(oid, []).append({
                "activity": d.activity, "occurred_at": d.occurred_at, "started_at": d.started_at,
                "actor": d.actor, "team": d.team, "attrs": dict(d.attrs or {}),
            })
    for oid in order:
        ticket, case = cases[oid]
        yield ticket, case, events.get(oid, [])


def export_format(path: str, fmt: str | None = None) -> str:
    """The format to write ``path`` in: ``fmt``, else from the name."""
    if fmt is None:
        lower = path.lower()
        fmt = ("xes" if lower.endswith((".xes", ".xes.gz")) else "parquet" if lower.endswith(".parquet")
               else "csv" if lower.endswith(".csv") else None)
        if fmt is None:
            raise ImportFormatError(f"cannot tell the export format from {path!r}: use --format xes|csv|parquet")
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown export format {fmt!r}: use xes, csv or parquet")
    return fmt


def export_store(store: Any, path: str, *, fmt: str | None = None, view: str = "corrected",
                 progress: Callable[[int], None] | None = None, force: bool = False, raw: bool = False,
                 verify: str = "full") -> tuple[int, int]:
    """Verify the store, then write it to ``path``; returns (tickets, events) written.

    Args:
        store: an open store.
        path: the file (its folder must exist); replaced only with ``force``.
        fmt: ``xes``, ``csv`` or ``parquet`` (default: from the name).
        view: ``corrected`` or ``recorded``.
        progress: called with 1 per ticket written.
        force: replace an existing file.
        raw: CSV: write cells as they are (no formula neutralisation).
        verify: ``full`` (events and every read-model row), ``sample`` (events and a
            random share of the tickets' rows) or ``none`` (nothing checked, for
            forensics on a store known to be damaged).

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false.
        IntegrityError / ReadModelError: the store does not verify; nothing is written.
    """
    from event_store.integrity.log_tables import LogTables
    from event_store.integrity.verify import verify_in

    fmt = export_format(path, fmt)
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: use corrected or recorded")
    check_new(path, force)
    report = None
    with storage_errors(store.location.display, "Nothing was written to the store (export only reads)."):
        with store.db.transaction() as cur:
            LogTables(store).begin(cur)
            if verify != "none":
                report = verify_in(store, cur, read_model=verify)
                if not report.ok:
                    first = report.first
                    assert first is not None
                    cls = ReadModelError if first.kind == "read_model" else IntegrityError
                    raise cls(
                        f"refusing to export {store.location.display}: it does not verify "
                        f"({len(report.findings) + report.more} problem(s); first: {first.message}). "
                        f"Nothing was written to {path}; see `csmine verify`."
                    )
            with atomic_path(path, force=force) as tmp:
                if fmt == "xes":
                    counts = _write_xes(store, cur, tmp, view, progress, gz=path.lower().endswith(".gz"))
                else:
                    counts = _write_table(store, cur, tmp, fmt, view, progress, raw=raw)
    if fmt == "csv":
        extra: dict[str, Any] = {"view": view, "tickets": counts[0], "events": counts[1],
                                 "store": store.location.display}
        if report is not None:
            extra["verified"] = {"log_size": report.size, "merkle_root": report.root,
                                 "read_model": report.read_model.mode if report.read_model else "none"}
        manifest = manifest_for(path, raw=raw, **extra)
        write_text(manifest_path(path), json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", force=True)
    return counts


_XES_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                               "\r": "&#13;", "\t": "&#9;"})


def _q(text: str) -> str:
    """An XML attribute value, always in double quotes (line breaks kept as references)."""
    return '"' + text.translate(_XES_ESCAPES) + '"'


def _xes_attr(key: str, value: Any) -> str:
    k = _q(str(key))
    if isinstance(value, bool):
        return f"<boolean key={k} value=\"{'true' if value else 'false'}\"/>"
    if isinstance(value, int):
        return f"<int key={k} value=\"{value}\"/>"
    if isinstance(value, float):
        return f"<float key={k} value=\"{value!r}\"/>"
    if isinstance(value, datetime):
        return f"<date key={k} value=\"{value.isoformat(timespec='microseconds')}\"/>"
    return f"<string key={k} value={_q(str(value))}/>"


def _write_xes(store: Any, cur: Cursor, path: str, view: str, progress: Callable[[int], None] | None, *,
               gz: bool) -> tuple[int, int]:
    fh: Any = gzip.open(path, "wt", encoding="utf-8", compresslevel=6) if gz else open(path, "w", encoding="utf-8")
    n_t = n_e = 0
    rendered: dict[tuple[str, str, Any], str] = {}

    def attr(indent: str, key: str, value: Any) -> str:
        if type(value) is not str:
            return indent + _xes_attr(key, value)
        found = rendered.get((indent, key, value))
        if found is None:
            if len(rendered) > 200_000:
                rendered.clear()
            found = rendered[(indent, key, value)] = indent + _xes_attr(key, value)
        return found

    with fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        fh.write('<log xes.version="1.0" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">\n')
        fh.write('  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>\n')
        fh.write('  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>\n')
        fh.write('  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>\n')
        for ticket, case, events in iter_tickets(store, view, cur):
            parts = ["  <trace>", "    " + _xes_attr("concept:name", ticket)]
            parts += [attr("    ", k, v) for k, v in case.items() if v is not None]
            for ev in events:
                parts.append("    <event>")
                parts.append(attr("      ", "concept:name", ev["activity"]))
                parts.append("      " + _xes_attr("time:timestamp", ev["occurred_at"]))
                if ev["started_at"] is not None:
                    parts.append("      " + _xes_attr("start_timestamp", ev["started_at"]))
                if ev["actor"] is not None:
                    parts.append(attr("      ", "org:resource", ev["actor"]))
                if ev["team"] is not None:
                    parts.append(attr("      ", "org:group", ev["team"]))
                parts += [attr("      ", k, v) for k, v in ev["attrs"].items() if v is not None]
                parts.append("    </event>")
                n_e += 1
            parts.append("  </trace>\n")
            fh.write("\n".join(parts))
            n_t += 1
            if progress is not None:
                progress(1)
        fh.write("</log>\n")
    return n_t, n_e


def _write_table(store: Any, cur: Cursor, path: str, fmt: str, view: str, progress: Callable[[int], None] | None,
                 *, raw: bool = False) -> tuple[int, int]:
    """One row per event; ticket attributes as ``case:<name>`` columns.

    Parquet keeps each column's type (text, integers, floats, booleans, times in
    UTC to the microsecond; a column whose values differ in type is written as
    text). CSV is text: times in ISO 8601 with their UTC offset.
    """
    columns: dict[str, list[Any]] = {}
    n_t = n_e = 0
    fixed = ("case:concept:name", "concept:name", "time:timestamp", "start_timestamp", "org:resource", "org:group")
    for key in fixed:
        columns[key] = []
    for ticket, case, events in iter_tickets(store, view, cur):
        n_t += 1
        for ev in events:
            values = {"case:concept:name": ticket, "concept:name": ev["activity"],
                      "time:timestamp": ev["occurred_at"], "start_timestamp": ev["started_at"],
                      "org:resource": ev["actor"], "org:group": ev["team"]}
            values.update({f"case:{k}": v for k, v in case.items()})
            values.update({k: v for k, v in ev["attrs"].items() if k not in fixed})
            for key, value in values.items():
                column = columns.get(key)
                if column is None:
                    column = columns[key] = [None] * n_e
                column.append(value)
            n_e += 1
            for column in columns.values():
                if len(column) < n_e:
                    column.append(None)
        if progress is not None:
            progress(1)
    if fmt == "csv":
        _write_csv(path, columns, n_e, raw=raw)
    else:
        _write_parquet(path, columns)
    return n_t, n_e


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return str(value)


def _write_csv(path: str, columns: dict[str, list[Any]], n: int, *, raw: bool = False) -> None:
    keys = list(columns)
    cols = [columns[k] for k in keys]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        write_csv_rows(fh, keys, ([_text(c[i]) for c in cols] for i in range(n)), raw=raw)


def _write_parquet(path: str, columns: dict[str, list[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for key, values in columns.items():
        try:
            arrays[key] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[key] = pa.array([None if v is None else _text(v) for v in values], type=pa.string())
        if pa.types.is_null(arrays[key].type):
            arrays[key] = arrays[key].cast(pa.string())
    pq.write_table(pa.table(arrays), path)
