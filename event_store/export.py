"""Writing the store back out as XES, CSV or Parquet.

Two views:

* ``corrected`` (default): the read model: corrections applied, retracted events dropped;
* ``recorded``: every lifecycle event exactly as it was first recorded, decoded
  straight from the stored events (corrections and retractions ignored).

Rows are produced ticket by ticket in log order, then written in the pm4py/XES
vocabulary (``case:concept:name``, ``concept:name``, ``time:timestamp``, ...), so an
export re-imports to the same tickets, events, order, timestamps and attributes.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from xml.sax.saxutils import quoteattr

from event_store.domain import TOPIC_ACTIVITY, TOPIC_OPENED
from event_store.errors import ImportFormatError
from event_store.projection import from_us
from event_store.records import CASE_FIELDS

FORMATS = ("xes", "csv", "parquet")
VIEWS = ("corrected", "recorded")


def iter_tickets(store: Any, view: str = "corrected") -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """Yield ``(ticket, case attributes, events)`` in the order tickets were opened."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: use corrected or recorded")
    if view == "corrected":
        yield from _iter_corrected(store)
    else:
        yield from _iter_recorded(store)


def _iter_corrected(store: Any) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    tickets = store.db.query(
        "SELECT ticket, channel, category, priority, emotion, customer, team, region, case_attrs "
        "FROM tickets ORDER BY notification_id"
    )
    events: dict[str, list[dict[str, Any]]] = {}
    for row in store.db.query(
        "SELECT ticket, activity, occurred_at, started_at, actor, team, attrs FROM event_log "
        "WHERE retracted = 0 ORDER BY ticket, version"
    ):
        ev = {"activity": row[1], "occurred_at": from_us(row[2]), "started_at": from_us(row[3]),
              "actor": row[4], "team": row[5], "attrs": json.loads(row[6]) if row[6] else {}}
        events.setdefault(row[0], []).append(ev)
    for t in tickets:
        case = {k: v for k, v in zip(CASE_FIELDS, t[1:8], strict=True) if v is not None}
        if t[8]:
            case.update(json.loads(t[8]))
        yield t[0], case, events.get(t[0], [])


def _iter_recorded(store: Any) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    order: list[str] = []
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    events: dict[str, list[dict[str, Any]]] = {}
    for n in store.iter_notifications():
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


def export_store(store: Any, path: str, *, fmt: str | None = None, view: str = "corrected",
                 progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Write the store to ``path``; returns (tickets, events) written."""
    if fmt is None:
        lower = path.lower()
        fmt = "xes" if lower.endswith((".xes", ".xes.gz")) else "parquet" if lower.endswith(".parquet") else "csv" if lower.endswith(".csv") else None
        if fmt is None:
            raise ImportFormatError(f"cannot tell the export format from {path!r}: use --format xes|csv|parquet")
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown export format {fmt!r}: use xes, csv or parquet")
    tmp = path + ".partial"
    try:
        if fmt == "xes":
            counts = _write_xes(store, tmp, view, progress, gz=path.lower().endswith(".gz"))
        else:
            counts = _write_table(store, tmp, fmt, view, progress)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return counts


def _xes_attr(key: str, value: Any) -> str:
    k = quoteattr(str(key))
    if isinstance(value, bool):
        return f"<boolean key={k} value=\"{'true' if value else 'false'}\"/>"
    if isinstance(value, int):
        return f"<int key={k} value=\"{value}\"/>"
    if isinstance(value, float):
        return f"<float key={k} value=\"{value!r}\"/>"
    if isinstance(value, datetime):
        return f"<date key={k} value=\"{value.isoformat(timespec='microseconds')}\"/>"
    return f"<string key={k} value={quoteattr(str(value))}/>"


def _write_xes(store: Any, path: str, view: str, progress: Callable[[int], None] | None, *, gz: bool) -> tuple[int, int]:
    opener: Any = gzip.open if gz else open
    n_t = n_e = 0
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        fh.write('<log xes.version="1.0" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">\n')
        fh.write('  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>\n')
        fh.write('  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>\n')
        fh.write('  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>\n')
        for ticket, case, events in iter_tickets(store, view):
            parts = ["  <trace>", "    " + _xes_attr("concept:name", ticket)]
            parts += ["    " + _xes_attr(k if k in CASE_FIELDS else k, v) for k, v in case.items()]
            for ev in events:
                parts.append("    <event>")
                parts.append("      " + _xes_attr("concept:name", ev["activity"]))
                parts.append("      " + _xes_attr("time:timestamp", ev["occurred_at"]))
                if ev["started_at"] is not None:
                    parts.append("      " + _xes_attr("start_timestamp", ev["started_at"]))
                if ev["actor"] is not None:
                    parts.append("      " + _xes_attr("org:resource", ev["actor"]))
                if ev["team"] is not None:
                    parts.append("      " + _xes_attr("org:group", ev["team"]))
                parts += ["      " + _xes_attr(k, v) for k, v in ev["attrs"].items() if v is not None]
                parts.append("    </event>")
                n_e += 1
            parts.append("  </trace>\n")
            fh.write("\n".join(parts))
            n_t += 1
            if progress is not None:
                progress(1)
        fh.write("</log>\n")
    return n_t, n_e


def _write_table(store: Any, path: str, fmt: str, view: str, progress: Callable[[int], None] | None) -> tuple[int, int]:
    import pandas as pd

    rows: list[dict[str, Any]] = []
    n_t = 0
    for ticket, case, events in iter_tickets(store, view):
        n_t += 1
        base = {"case:concept:name": ticket, **{f"case:{k}": v for k, v in case.items()}}
        for ev in events:
            row = dict(base)
            row["concept:name"] = ev["activity"]
            row["time:timestamp"] = ev["occurred_at"]
            row["start_timestamp"] = ev["started_at"]
            row["org:resource"] = ev["actor"]
            row["org:group"] = ev["team"]
            row.update(ev["attrs"])
            rows.append(row)
        if progress is not None:
            progress(1)
    df = pd.DataFrame(rows)
    for col in ("time:timestamp", "start_timestamp"):
        if col in df.columns:
            df[col] = pd.to_datetime(df[col], utc=True)
    if fmt == "csv":
        for col in ("time:timestamp", "start_timestamp"):
            if col in df.columns:
                df[col] = df[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z").str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return n_t, len(df)
