"""XES event logs into ticket histories (the markup itself is scanned by :mod:`event_store.io.xes`).

Traces come out in file order, the events of each sorted by business time; the
lifecycle, ``collapse_repeats`` and case attributes are read as described in
:mod:`event_store.io.importing`. XES larger than :data:`FAST_SCAN_MAX` (inflated) is
parsed as a stream.
"""

from __future__ import annotations

import os
import zlib
from datetime import datetime
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.read_base import (
    ACTIVITY_KEY, LIFECYCLE_KEY, RESOURCE_KEY, START_KEY, TEAM_KEY, TIME_KEY, ReadResult, case_from, collapse_rows,
    fold_lifecycle, inflated, lifecycle_mode, opened_at, time_zone, unreadable,
)
from event_store.limits import InputLimits, LimitedReader, check_history, current_limits
from event_store.persistence.bulk import pause_gc
from event_store.records import ActivityRow, TicketHistory

#: XES up to this size (inflated) is read whole by the fast scanner; larger files are
#: parsed as a stream by lxml, so memory follows the parsed tickets, not the file.
FAST_SCAN_MAX = 256 * 1024 * 1024


def _read_bytes(path: str, limits: InputLimits | None = None) -> bytes:
    try:
        if path.lower().endswith(".gz"):
            with LimitedReader(path, limits or current_limits()) as fh:
                return fh.read()
        with open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise unreadable(path, exc, "XES") from None


def read_xes(path: str, *, lifecycle: str = "auto", tz: str | None = None, fast: bool = True,
             collapse_repeats: bool = False) -> list[TicketHistory]:
    """Parse an XES file (optionally gzipped) into ticket histories, traces in file order.

    Args:
        path: the file.
        lifecycle: how to read ``lifecycle:transition`` (see :mod:`event_store.io.importing`).
        tz: time zone for dates without an offset.
        fast: use the fast scanner where the layout allows (lxml otherwise).
        collapse_repeats: merge consecutive events of a trace with the same activity.
    """
    return read_xes_log(path, lifecycle=lifecycle, tz=tz, fast=fast, collapse_repeats=collapse_repeats).histories


def _row_time(item: tuple[ActivityRow, str | None]) -> datetime:
    return item[0].occurred_at


def read_xes_log(path: str, *, lifecycle: str = "auto", tz: str | None = None, fast: bool = True,
                 collapse_repeats: bool = False) -> ReadResult:
    from event_store.io.xes import scan_lxml, scan_xes

    zone = time_zone(tz, path)
    name = os.path.basename(path)
    limits = current_limits()
    size = inflated(path, limits, "XES")
    n_rows = collapsed = 0
    with pause_gc():
        if size <= FAST_SCAN_MAX:
            raw = _read_bytes(path, limits)
            if not raw.strip():
                raise ImportFormatError(f"{name} is empty: nothing to import")
            traces = scan_xes(raw, name, zone, fast=fast)
            del raw
        else:
            try:
                with (LimitedReader(path, limits) if path.lower().endswith(".gz") else open(path, "rb")) as fh:
                    traces = scan_lxml(fh, name, zone)
            except (OSError, EOFError, zlib.error) as exc:
                raise unreadable(path, exc, "XES") from None
        if not traces:
            raise ImportFormatError(f"{name}: no <trace> elements: not an XES event log, or an empty one")
        lifecycles = {str(a[LIFECYCLE_KEY]) for t in traces for a, _ in t.events if LIFECYCLE_KEY in a}
        mode = lifecycle_mode(lifecycle, lifecycles)
        out: list[TicketHistory] = []
        seen: set[str] = set()
        for trace in traces:
            tattrs = trace.attrs
            case_id = tattrs.pop("concept:name", None)
            if case_id is None:
                raise ImportFormatError(f"{name}:{trace.line}: trace without concept:name (every ticket needs an id)")
            case_id = str(case_id)
            if case_id in seen:
                raise ImportFormatError(f"{name}:{trace.line}: ticket id {case_id!r} appears in two traces")
            seen.add(case_id)
            rows = [_row_from_attrs(attrs, mode, name, line) for attrs, line in trace.events]
            n_rows += len(rows)
            rows.sort(key=_row_time)  # stable: events at the same time keep file order
            if collapse_repeats:
                rows, merged = collapse_rows(rows)
                collapsed += merged
            steps = fold_lifecycle(rows, mode)
            if not steps:
                continue
            case = case_from(tattrs, steps)
            out.append(TicketHistory(case_id, opened_at(steps, True), case, tuple(s for s, _ in steps),
                                     f"{name}:{trace.line}"))
    for history in out:
        check_history(history, limits)
    return ReadResult(out, n_rows, collapsed)


def _row_from_attrs(attrs: dict[str, Any], mode: str, name: str, line: int) -> tuple[ActivityRow, str | None]:
    activity = attrs.pop(ACTIVITY_KEY, None)
    if activity is None:
        raise ImportFormatError(f"{name}:{line}: event without concept:name (the activity); add it or drop the event")
    ts = attrs.pop(TIME_KEY, None)
    if ts is None:
        raise ImportFormatError(f"{name}:{line}: event without time:timestamp; add it or drop the event")
    if not isinstance(ts, datetime):
        raise ImportFormatError(f"{name}:{line}: time:timestamp is not a <date> (it is {ts!r})")
    lc = attrs.pop(LIFECYCLE_KEY, None)
    if lc is not None:
        if mode == "status":
            activity = f"{activity}/{lc}"
        elif mode == "ignore" and str(lc).lower() != "complete":
            attrs[LIFECYCLE_KEY] = lc
    started = attrs.pop(START_KEY, None)
    actor = attrs.pop(RESOURCE_KEY, None)
    team = attrs.pop(TEAM_KEY, None)
    row = ActivityRow(
        str(activity),
        ts,
        None if actor is None else str(actor),
        None if team is None else str(team),
        started if isinstance(started, datetime) else None,
        f"{name}:{line}",
        attrs,
    )
    return row, (str(lc).lower() if lc is not None and mode == "start-complete" else None)


__all__ = ["FAST_SCAN_MAX", "read_xes", "read_xes_log"]
