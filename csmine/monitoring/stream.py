"""The event source of the monitors: a store's tickets and steps as one business-time stream.

:func:`stream_events` reads the store in business-time order without loading it:
it pages through the ``tickets`` table (ordered by opening time) and the
``event_log`` projection (ordered by ``occurred_at``, then notification id) with
keyset pagination, and merges the two streams into :class:`StreamEvent` items.
:func:`events_from_frame` gives the same stream for an event-log frame (tests, logs
that are not in a store). A live feed produces the same items one at a time.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from event_store.readmodel import queries
from event_store.readmodel.projection import _US, EPOCH
from event_store.records import CASE_FIELDS

from csmine.errors import FilterError
from csmine.eventlog.filters import LogFilter, attrs_match
from csmine.eventlog.loading import assign_phases, check_where_keys, free_case_attributes, list_phases, split_filter
from csmine.eventlog.ordering import check_tie_order, sop_positions, tie_key

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from process_models import SOP

    from csmine.eventlog.loading import Phase

#: Rows read per page from each table.
PAGE = 20_000

#: Keyset start before every row: ``(time, notification id)`` below any stored one.
_BEFORE_ALL = (-(2**62), -1)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One item of the business-time stream.

    Attributes:
        time_us: business time, microseconds since the Unix epoch (UTC).
        kind: ``opened`` (the ticket was opened) or ``activity`` (a step was recorded).
        ticket: source ticket id.
        activity: the recorded activity (None for ``opened``).
        event_id: notification id (global log position) of the event.
        actor: who did it, if known.
        phase: the ticket's phase, if any.
    """

    time_us: int
    kind: str
    ticket: str
    activity: str | None
    event_id: int
    actor: str | None = None
    phase: str | None = None

    @property
    def time(self) -> datetime:
        return EPOCH + self.time_us * _US


def to_us(dt: datetime) -> int:
    """A tz-aware time as microseconds since the Unix epoch (the stream's clock)."""
    return (dt - EPOCH) // _US


def stream_events(store: TicketStore, log_filter: LogFilter | None = None, *,
                  page: int = PAGE, sop: SOP | None = None) -> Iterator[StreamEvent]:
    """The store's tickets and steps in business-time order, read page by page.

    Openings come from the ``tickets`` table ordered by ``(opened_at,
    notification_id)``, steps from the ``event_log`` projection ordered by
    ``(occurred_at, notification_id)``; both are read with keyset pagination
    (``page`` rows at a time) and merged, an opening before a step at the same
    instant. Retracted steps are left out and corrections applied (the projection
    holds them). Only tickets the filter admits are streamed, each whole: the opening
    window and case columns are tested in SQL, the phase per page, and free
    attributes select the tickets with at least one step carrying them (the tickets
    :func:`csmine.eventlog.loading.load_event_log` keeps), computed once up front.

    Args:
        store: an open store (its read model is caught up first).
        log_filter: which tickets (same meaning as for every analytic command).
        page: rows per query.
        sop: the SOP whose step order breaks ties between steps at the same instant.
    """
    store.projection.catch_up()
    log_filter = log_filter or LogFilter()
    tie = _TieOrder(check_tie_order(log_filter.tie_order), sop_positions(sop))
    check_where_keys(store, log_filter)
    phases = list_phases(store)
    if log_filter.phase and log_filter.phase not in {p.name for p in phases}:
        known = ", ".join(sorted(p.name for p in phases)) or "none"
        raise FilterError(f"no phase {log_filter.phase!r} (known: {known}; define one with `csmine phase add`)")
    event_free = {k: v for k, v in log_filter.where.items() if k not in CASE_FIELDS and k != "phase"}
    # Free attributes select whole tickets: those with a step that carries them (the
    # tickets load_event_log keeps); all of such a ticket's steps are streamed.
    matching = _tickets_with_attributes(store, log_filter, event_free) if event_free else None
    tickets = _Admission(store, log_filter, phases, matching)

    def merge_key(e: StreamEvent) -> tuple[Any, ...]:
        return (e.time_us, e.kind != "opened", tie(e.activity), e.event_id)

    admitted = tickets.admitted
    unknown = object()
    for item in heapq.merge(tickets.openings(page), _steps(store, log_filter, matching, tie, page), key=merge_key):
        if item.kind != "activity":
            yield item
            continue
        phase = admitted.get(item.ticket, unknown)
        if phase is unknown:
            if not tickets.admits(item.ticket):  # a step before its ticket's opening time: rare
                continue
            phase = admitted[item.ticket]
        yield item if item.phase == phase else StreamEvent(
            item.time_us, item.kind, item.ticket, item.activity, item.event_id, item.actor, phase)


class _TieOrder:
    """Events at the same time: the documented tie-break (csmine.eventlog.ordering),
    then record order; ``file`` keeps record order only."""

    def __init__(self, tie_order: str, sop_pos: dict[str, int]) -> None:
        self.tie_order = tie_order
        self.sop_pos = sop_pos
        self._keys: dict[str, tuple[Any, ...]] = {}

    def __call__(self, activity: str | None) -> tuple[Any, ...]:
        if self.tie_order == "file" or activity is None:
            return ()
        found = self._keys.get(activity)
        if found is None:
            found = self._keys[activity] = tie_key(activity, self.sop_pos)
        return found


class _Admission:
    """Which tickets the filter admits (and their phases), learnt page by page from
    the ``tickets`` table as the openings are streamed."""

    def __init__(self, store: TicketStore, log_filter: LogFilter, phases: list[Phase],
                 matching: set[str] | None) -> None:
        self.store = store
        self.log_filter = log_filter
        self.phases = phases
        self.matching = matching
        self.admitted: dict[str, str | None] = {}
        self.rejected: set[str] = set()
        self.row_filter = split_filter(log_filter)[0]

    def admit_rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[str, int, int, str | None]]:
        """Decide on each ``tickets`` row; the admitted ones with their phase."""
        import pandas as pd

        if not rows:
            return []
        frame = pd.DataFrame({
            "case:concept:name": [r[0] for r in rows],
            "case:opened_at": pd.to_datetime([r[1] for r in rows], unit="us", utc=True),
        })
        extras = [json.loads(r[3]) if r[3] else {} for r in rows]
        for i, key in enumerate(CASE_FIELDS):
            frame[f"case:{key}"] = [r[4 + i] for r in rows]
        for key in sorted(set().union(*extras)):
            if f"case:{key}" not in frame.columns:
                frame[key] = [e.get(key) for e in extras]
        phase = assign_phases(frame, self.phases).tolist()
        wanted = self.log_filter.where.get("phase")
        out = []
        for r, ph in zip(rows, phase, strict=True):
            ok = self.matching is None or r[0] in self.matching
            if (self.log_filter.phase and ph != self.log_filter.phase) or (wanted and ph not in wanted):
                ok = False
            if ok:
                self.admitted[r[0]] = ph
                out.append((r[0], r[1], r[2], ph))
            else:
                self.rejected.add(r[0])
        return out

    def openings(self, page: int) -> Iterator[StreamEvent]:
        """The admitted tickets' openings, in ``(opened_at, notification_id)`` order."""
        last = _BEFORE_ALL
        while True:
            rows = queries.ticket_page(self.store, last, self.row_filter, page)
            if not rows:
                return
            last = (rows[-1][1], rows[-1][2])
            for ticket, opened, nid, ph in self.admit_rows(rows):
                yield StreamEvent(int(opened), "opened", ticket, None, int(nid), None, ph)

    def admits(self, ticket: str) -> bool:
        """Whether the ticket is admitted, looking it up if its opening is not read yet."""
        if ticket in self.rejected:
            return False
        if ticket not in self.admitted:
            rows = queries.ticket_rows_for(self.store, ticket, self.row_filter)
            if not rows:
                self.rejected.add(ticket)
            else:
                self.admit_rows(rows)
        return ticket in self.admitted


def _steps(store: TicketStore, log_filter: LogFilter, matching: set[str] | None, tie: _TieOrder,
           page: int) -> Iterator[StreamEvent]:
    """The live steps in ``(occurred_at, tie, notification_id)`` order (phase not set)."""
    row_filter = split_filter(log_filter)[0]
    last = _BEFORE_ALL
    held: list[tuple[Any, ...]] = []  # the last instant of a page: it may go on in the next
    while True:
        rows = queries.step_page(store, last, row_filter, page)
        if rows:
            last = (rows[-1][0], rows[-1][1])
            rows = held + list(rows)
            cut = len(rows)
            while cut > 0 and rows[cut - 1][0] == rows[-1][0]:
                cut -= 1
            ready, held = rows[:cut], rows[cut:]
        else:
            ready, held = held, []
        ready.sort(key=lambda r: (r[0], tie(r[3]), r[1]))
        for row in ready:
            ticket = row[2]
            if matching is not None and ticket not in matching:
                continue
            yield StreamEvent(int(row[0]), "activity", ticket, row[3], int(row[1]), row[4])
        if not rows:
            return


def _tickets_with_attributes(store: TicketStore, log_filter: LogFilter,
                             free: dict[str, tuple[str, ...]]) -> set[str]:
    """The tickets (within the filter's window and case columns) with a live step whose
    free attributes pass every test of ``free``: the tickets
    :func:`~csmine.eventlog.loading.load_event_log` keeps."""
    decode = queries.attribute_decoder(store)
    memo: dict[str, bool] = {}
    found: set[str] = set()
    for ticket, text in queries.step_attribute_rows(store, split_filter(log_filter)[0]):
        if ticket in found:
            continue
        ok = memo.get(text)
        if ok is None:
            ok = memo[text] = attrs_match(decode(text.encode()), free)
        if ok:
            found.add(ticket)
    # free case attributes (the ticket's own) count as well, as in load_event_log
    for key, values in free.items():
        accepted = set(values)
        found.update(t for t, attrs in free_case_attributes(store, [key]).items()
                     if key in attrs and str(attrs[key]) in accepted)
    return found


def events_from_frame(df: Any, *, case_id_key: str = "case:concept:name", activity_key: str = "concept:name",
                      timestamp_key: str = "time:timestamp", opened_key: str = "case:opened_at") -> list[StreamEvent]:
    """The stream of an event-log frame (openings from ``opened_key``, else each
    ticket's first event), in the same order :func:`stream_events` gives.

    For tests and for replaying a log that is not in a store.
    """
    import numpy as np
    import pandas as pd

    times = df[timestamp_key].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype("int64")
    if opened_key in df.columns:
        opened = df[opened_key].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype("int64")
    else:
        opened = times.groupby(df[case_id_key]).transform("min")
    ids = df["@@event_id"].to_numpy() if "@@event_id" in df.columns else np.arange(1, len(df) + 1)
    actors = df["org:resource"] if "org:resource" in df.columns else pd.Series([None] * len(df), index=df.index)
    phases = df["case:phase"] if "case:phase" in df.columns else pd.Series([None] * len(df), index=df.index)
    out: list[StreamEvent] = []
    first = ~df[case_id_key].duplicated()
    for ticket, t, nid, ph in zip(df.loc[first, case_id_key], opened[first], ids[first.to_numpy()],
                                  phases[first], strict=True):
        out.append(StreamEvent(int(t), "opened", str(ticket), None, int(nid) - 1 if nid else 0, None,
                               None if pd.isna(ph) else str(ph)))
    phase_of = {e.ticket: e.phase for e in out}
    for ticket, act, t, nid, actor in zip(df[case_id_key], df[activity_key], times, ids, actors, strict=True):
        out.append(StreamEvent(int(t), "activity", str(ticket), str(act), int(nid),
                               None if actor is None or pd.isna(actor) else str(actor), phase_of[str(ticket)]))
    out.sort(key=lambda e: (e.time_us, e.kind != "opened", e.event_id))
    return out


__all__ = [
    "PAGE",
    "StreamEvent",
    "events_from_frame",
    "stream_events",
    "to_us",
]
