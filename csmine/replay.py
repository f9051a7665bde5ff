"""Replay recorded events through online monitors, as the alerts would have fired.

:func:`stream_events` reads the store in business-time order without loading it:
it pages through the ``tickets`` table (ordered by opening time) and the
``event_log`` projection (ordered by ``occurred_at``, then notification id) with
keyset pagination, and merges the two streams. A :class:`Replayer` feeds the
merged stream through, per SOP:

* an **online conformance monitor**: each ticket's prefix is tracked as the set of
  markings of the SOP's workflow net it can be in (silent transitions closed). A
  recorded step is *allowed* when a transition with its name is enabled in one of
  them. Otherwise the monitor looks for the fewest steps the model would have to do
  first (a breadth-first search over the reachability graph): if there are such
  steps they were **skipped** (one alert per skipped step); if the step cannot occur
  any more it is **out of order** (first time) or **repeated** (done before in this
  ticket: rework); steps that are not in the SOP's flow (``Reopen``, unknown
  activities) are **extra**. After a step that is out of order or repeated, the
  monitor keeps both readings (the step was a stray one, or the ticket went back to
  it), so one deviation raises one alert, not a cascade. Outcomes are cached per
  (prefix state, step): each distinct prefix state is analysed once.
* **SLA monitors**, one clock per time limit of the SOP: a clock starts when the
  ticket is opened (``since = opened``) or at each occurrence of the ``since`` step
  (a later occurrence restarts it), and stops when the limited step is recorded or
  the ticket is closed (a step of the SOP's ``close`` role). When the replay clock
  passes :data:`AT_RISK` (80%) of the limit with the step still missing, a
  **at_risk** alert fires; when it passes the deadline, a **breach** alert fires
  (the step was recorded late, or is still missing). A step recorded exactly at the
  deadline is on time.

Alerts are yielded in the order they would have fired. Timers that fall due at
the same instant fire in the order they were set. The replay clock is the stream's
business time: deadlines are evaluated before each event and the replay ends at the
last event (a deadline after it has not passed yet). The same events give the same
alerts, in the same order, on every run.

:func:`rebuild_read_model` drops the read model, rebuilds it from the event log and
checks, row by row, that it equals what was there before.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from event_store.projection import EPOCH, _US
from event_store.records import CASE_FIELDS

from csmine.errors import CheckFailedError, CsmineError, FilterError
from csmine.eventlog import _free_case_attributes, assign_phases, check_where_keys, list_phases
from csmine.filters import LogFilter, attrs_match
from csmine.ordering import check_tie_order, sop_positions, tie_key

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from process_models import SOP

    from csmine.calendar import BusinessCalendar

#: Share of a time limit after which a ticket whose step is still missing is "at risk".
AT_RISK = 0.8
#: Rows read per page from each table.
PAGE = 20_000
#: Reachable markings explored per SOP net before giving up (unbounded nets).
MAX_MARKINGS = 50_000

#: Alert kinds, in the order summaries list them.
ALERT_KINDS = ("skipped", "out_of_order", "repeated", "extra", "at_risk", "breach")


class ReplayError(CsmineError):
    """The replay cannot run (e.g. an SOP net too large to monitor)."""


# ---------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------


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


def _to_us(dt: datetime) -> int:
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
    :func:`csmine.eventlog.load_event_log` keeps), computed once up front.

    Args:
        store: an open store (its read model is caught up first).
        log_filter: which tickets (same meaning as for every analytic command).
        page: rows per query.
    """
    store.projection.catch_up()
    log_filter = log_filter or LogFilter()
    tie_order = check_tie_order(log_filter.tie_order)
    check_where_keys(store, log_filter)
    sop_pos = sop_positions(sop)
    phases = list_phases(store)
    if log_filter.phase and log_filter.phase not in {p.name for p in phases}:
        known = ", ".join(sorted(p.name for p in phases)) or "none"
        raise FilterError(f"no phase {log_filter.phase!r} (known: {known}; define one with `csmine phase add`)")
    admitted: dict[str, str | None] = {}
    rejected: set[str] = set()
    ticket_sql, ticket_params = _ticket_conditions(log_filter)
    event_free = {k: v for k, v in log_filter.where.items() if k not in CASE_FIELDS and k != "phase"}
    # Free attributes select whole tickets: those with a step that carries them (the
    # tickets load_event_log keeps); all of such a ticket's steps are streamed.
    matching = _tickets_with_attributes(store, log_filter, event_free) if event_free else None

    def admit_rows(rows: list[tuple[Any, ...]]) -> list[tuple[str, int, int, str | None]]:
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
        phase = assign_phases(frame, phases).tolist()
        out = []
        for r, ph in zip(rows, phase, strict=True):
            ok = matching is None or r[0] in matching
            if log_filter.phase and ph != log_filter.phase:
                ok = False
            wanted = log_filter.where.get("phase")
            if wanted and ph not in wanted:
                ok = False
            if ok:
                admitted[r[0]] = ph
                out.append((r[0], r[1], r[2], ph))
            else:
                rejected.add(r[0])
        return out

    cols = ", ".join(CASE_FIELDS)

    def openings() -> Iterator[StreamEvent]:
        last = (-(2**62), -1)
        while True:
            with store.db.transaction() as cur:
                cur.execute(
                    f"SELECT ticket, opened_at, notification_id, case_attrs, {cols} FROM tickets "
                    f"WHERE (opened_at, notification_id) > (?, ?){ticket_sql} "
                    "ORDER BY opened_at, notification_id LIMIT ?",
                    (last[0], last[1], *ticket_params, page),
                )
                rows = cur.fetchall()
            if not rows:
                return
            last = (rows[-1][1], rows[-1][2])
            for ticket, opened, nid, ph in admit_rows(rows):
                yield StreamEvent(int(opened), "opened", ticket, None, int(nid), None, ph)

    def lookup(ticket: str) -> None:
        with store.db.transaction() as cur:
            cur.execute(
                f"SELECT ticket, opened_at, notification_id, case_attrs, {cols} FROM tickets "
                f"WHERE ticket = ?{ticket_sql}", (ticket, *ticket_params))
            rows = cur.fetchall()
        if not rows:
            rejected.add(ticket)
        else:
            admit_rows(rows)

    event_sql, event_params = _event_conditions(log_filter)

    tie_keys: dict[str, tuple[Any, ...]] = {}

    def tie(activity: str | None) -> tuple[Any, ...]:
        # events at the same time: the documented tie-break (csmine.ordering), then record order
        if tie_order == "file" or activity is None:
            return ()
        found = tie_keys.get(activity)
        if found is None:
            found = tie_keys[activity] = tie_key(activity, sop_pos)
        return found

    def steps() -> Iterator[StreamEvent]:
        last = (-(2**62), -1)
        held: list[tuple[Any, ...]] = []  # the last instant of a page: it may go on in the next
        while True:
            with store.db.transaction() as cur:
                cur.execute(
                    "SELECT occurred_at, notification_id, ticket, activity, actor FROM event_log "
                    f"WHERE retracted = 0 AND (occurred_at, notification_id) > (?, ?)"
                    f"{event_sql} ORDER BY occurred_at, notification_id LIMIT ?",
                    (last[0], last[1], *event_params, page),
                )
                rows = cur.fetchall()
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

    def merge_key(e: StreamEvent) -> tuple[Any, ...]:
        return (e.time_us, e.kind != "opened", tie(e.activity), e.event_id)

    merged = heapq.merge(openings(), steps(), key=merge_key)
    for item in merged:
        if item.kind == "activity":
            if item.ticket in rejected:
                continue
            if item.ticket not in admitted:
                lookup(item.ticket)  # a step before its ticket's opening time: rare
                if item.ticket not in admitted:
                    continue
            yield item if item.phase == admitted[item.ticket] else StreamEvent(
                item.time_us, item.kind, item.ticket, item.activity, item.event_id, item.actor,
                admitted[item.ticket])
        else:
            yield item


def _tickets_with_attributes(store: TicketStore, log_filter: LogFilter,
                             free: dict[str, tuple[str, ...]]) -> set[str]:
    """The tickets (within the filter's window and case columns) with a live step whose
    free attributes pass every test of ``free``: the tickets :func:`load_event_log` keeps."""
    event_sql, event_params = _event_conditions(log_filter)
    decode = store.mapper.transcoder.decode
    memo: dict[str, bool] = {}
    found: set[str] = set()
    with store.db.transaction() as cur:
        cur.execute(
            f"SELECT ticket, attrs FROM event_log WHERE retracted = 0 AND attrs IS NOT NULL{event_sql}",
            event_params,
        )
        for ticket, text in cur.raw.fetchall():
            if ticket in found or not text:
                continue
            ok = memo.get(text)
            if ok is None:
                ok = memo[text] = attrs_match(decode(text.encode()), free)
            if ok:
                found.add(ticket)
    # free case attributes (the ticket's own) count as well, as in load_event_log
    for key, values in free.items():
        accepted = set(values)
        found.update(t for t, attrs in _free_case_attributes(store, [key]).items()
                     if key in attrs and str(attrs[key]) in accepted)
    return found


def _ticket_conditions(log_filter: LogFilter) -> tuple[str, list[Any]]:
    sql, params = "", []
    if log_filter.start is not None:
        sql += " AND opened_at >= ?"
        params.append(_to_us(log_filter.start))
    if log_filter.end is not None:
        sql += " AND opened_at < ?"
        params.append(_to_us(log_filter.end))
    for key, values in log_filter.where.items():
        if key in CASE_FIELDS:
            sql += f" AND {key} IN ({','.join('?' * len(values))})"
            params.extend(values)
    return sql, params


def _event_conditions(log_filter: LogFilter) -> tuple[str, list[Any]]:
    sql, params = "", []
    if log_filter.start is not None:
        sql += " AND opened_at >= ?"
        params.append(_to_us(log_filter.start))
    if log_filter.end is not None:
        sql += " AND opened_at < ?"
        params.append(_to_us(log_filter.end))
    for key, values in log_filter.where.items():
        if key in CASE_FIELDS:
            column = "case_team" if key == "team" else key
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            params.extend(values)
    return sql, params


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


# ---------------------------------------------------------------------------------
# Online conformance: the SOP net as an automaton over sets of markings
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What the conformance monitor makes of one step after a prefix.

    Attributes:
        state: the prefix state after the step (an interned set of markings).
        kind: ``ok``, ``skipped``, ``out_of_order``, ``repeated`` or ``extra``.
        skipped: steps the model had to do first (for ``skipped``), in order.
    """

    state: int
    kind: str
    skipped: tuple[str, ...] = ()


class SopAutomaton:
    """The SOP's workflow net explored lazily, with per-(state, step) outcomes cached.

    A *state* is the set of markings a ticket's prefix can have reached (closed
    under silent transitions), interned as an int. :meth:`advance` gives the
    outcome of recording a step in a state.
    """

    def __init__(self, sop: SOP, *, max_markings: int = MAX_MARKINGS) -> None:
        net, im, fm = sop.to_petri_net()
        places = sorted(net.places, key=lambda p: p.name)
        index = {p: i for i, p in enumerate(places)}
        self.sop = sop
        self.max_markings = max_markings
        self.flow_steps = frozenset(sop.flow_steps)
        trans = []
        for t in net.transitions:
            pre = tuple(sorted((index[a.source], int(a.weight)) for a in t.in_arcs))
            post = tuple(sorted((index[a.target], int(a.weight)) for a in t.out_arcs))
            trans.append((t.label or "", t.label is None, pre, post))
        trans.sort(key=lambda x: (x[1], x[0], x[2], x[3]))
        self._trans = [(None if silent else label, pre, post) for label, silent, pre, post in trans]
        self._n = len(places)
        self._markings: dict[tuple[int, ...], int] = {}
        self._marking_list: list[tuple[int, ...]] = []
        self._succ: dict[int, list[tuple[str | None, int]]] = {}
        self._closure: dict[int, frozenset[int]] = {}
        self._states: dict[frozenset[int], int] = {}
        self._state_list: list[frozenset[int]] = []
        self._cache: dict[tuple[int, str], StepOutcome] = {}
        self._jump: dict[str, frozenset[int]] = {}
        start = [0] * self._n
        for p, c in im.items():
            start[index[p]] += int(c)
        final = [0] * self._n
        for p, c in fm.items():
            final[index[p]] += int(c)
        self.final_marking = self._marking(tuple(final))
        self.initial = self._state(self._close({self._marking(tuple(start))}))

    # -- markings ----------------------------------------------------------------

    def _marking(self, m: tuple[int, ...]) -> int:
        mid = self._markings.get(m)
        if mid is None:
            if len(self._marking_list) >= self.max_markings:
                raise ReplayError(
                    f"SOP '{self.sop.id}': its net has more than {self.max_markings} reachable markings "
                    "(unbounded or very wide parallel blocks); simplify the flow to replay against it"
                )
            mid = len(self._marking_list)
            self._markings[m] = mid
            self._marking_list.append(m)
        return mid

    def _successors(self, mid: int) -> list[tuple[str | None, int]]:
        out = self._succ.get(mid)
        if out is None:
            m = self._marking_list[mid]
            out = []
            for label, pre, post in self._trans:
                if all(m[p] >= w for p, w in pre):
                    nxt = list(m)
                    for p, w in pre:
                        nxt[p] -= w
                    for p, w in post:
                        nxt[p] += w
                    out.append((label, self._marking(tuple(nxt))))
            self._succ[mid] = out
        return out

    def _close(self, mids: Iterable[int]) -> frozenset[int]:
        result: set[int] = set()
        for mid in mids:
            closed = self._closure.get(mid)
            if closed is None:
                seen = {mid}
                queue = deque([mid])
                while queue:
                    cur = queue.popleft()
                    for label, nxt in self._successors(cur):
                        if label is None and nxt not in seen:
                            seen.add(nxt)
                            queue.append(nxt)
                closed = frozenset(seen)
                self._closure[mid] = closed
            result |= closed
        return frozenset(result)

    def _state(self, markings: frozenset[int]) -> int:
        sid = self._states.get(markings)
        if sid is None:
            sid = len(self._state_list)
            self._states[markings] = sid
            self._state_list.append(markings)
        return sid

    def _fire(self, markings: Iterable[int], step: str) -> frozenset[int]:
        return self._close(nxt for mid in markings for label, nxt in self._successors(mid) if label == step)

    def is_complete(self, state: int) -> bool:
        """Whether the prefix can be a complete run (the final marking is reached)."""
        return self.final_marking in self._state_list[state]

    def _shortest_skip(self, state: int, step: str) -> tuple[tuple[str, ...], frozenset[int]] | None:
        """Fewest visible model moves after which ``step`` is enabled (lexicographically
        smallest sequence of skipped steps among them), and the markings reached."""
        start = self._state_list[state]
        paths: dict[int, tuple[str, ...]] = dict.fromkeys(start, ())
        frontier = sorted(start)
        while frontier:
            hits = [m for m in frontier if any(label == step for label, _ in self._successors(m))]
            if hits:
                best = min(paths[m] for m in hits)
                chosen = [m for m in hits if paths[m] == best]
                return best, self._fire(chosen, step)
            layer: dict[int, tuple[str, ...]] = {}
            for mid in frontier:
                base = paths[mid]
                for label, nxt in self._successors(mid):
                    if label is None:
                        continue
                    for reached in self._close([nxt]):
                        if reached in paths:
                            continue
                        path = (*base, label)
                        if reached not in layer or path < layer[reached]:
                            layer[reached] = path
            paths.update(layer)
            frontier = sorted(layer, key=lambda m: layer[m])
        return None

    def _jump_target(self, step: str) -> frozenset[int]:
        """Every marking right after ``step`` anywhere in the net (for rework)."""
        cached = self._jump.get(step)
        if cached is None:
            seen = set(self._state_list[self.initial])
            queue = deque(sorted(seen))
            while queue:
                cur = queue.popleft()
                for _label, nxt in self._successors(cur):
                    if nxt not in seen:
                        seen.add(nxt)
                        queue.append(nxt)
            cached = self._fire(seen, step)
            self._jump[step] = cached
        return cached

    def advance(self, state: int, step: str, *, seen_before: bool) -> StepOutcome:
        """The outcome of recording ``step`` after a prefix in ``state``.

        Args:
            state: the prefix state.
            step: the SOP step recorded (a flow step; other names are ``extra``).
            seen_before: the ticket has recorded this step before (decides between
                ``repeated`` and ``out_of_order`` when the step cannot occur now).
        """
        if step not in self.flow_steps:
            return StepOutcome(state, "extra")
        key = (state, step)
        out = self._cache.get(key)
        if out is None:
            out = self._advance(state, step)
            self._cache[key] = out
        if out.kind in ("out_of_order", "repeated"):
            kind = "repeated" if seen_before else "out_of_order"
            if kind != out.kind:
                out = StepOutcome(out.state, kind)
        return out

    def _advance(self, state: int, step: str) -> StepOutcome:
        markings = self._state_list[state]
        fired = self._fire(markings, step)
        if fired:
            return StepOutcome(self._state(fired), "ok")
        skip = self._shortest_skip(state, step)
        if skip is not None:
            labels, reached = skip
            return StepOutcome(self._state(reached), "skipped", labels)
        # Cannot occur any more: keep both readings (stray step, or back to it).
        return StepOutcome(self._state(markings | self._jump_target(step)), "out_of_order")


# ---------------------------------------------------------------------------------
# Alerts and the replayer
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as it would have fired.

    Attributes:
        time: business time it fires (tz-aware, UTC): the step's time for
            conformance alerts, the due time for ``at_risk`` and ``breach``.
        ticket: source ticket id.
        kind: ``skipped``, ``out_of_order``, ``repeated``, ``extra``, ``at_risk``
            or ``breach`` (see the module docstring).
        step: the SOP step concerned (the skipped step, the limited step, or the
            recorded activity for ``extra``).
        detail: one line for people.
        sop: id of the SOP monitored.
        event_id: notification id of the step that raised it (None for timers).
        actor: who recorded that step, if known.
        phase: the ticket's phase, if any.
    """

    time: datetime
    ticket: str
    kind: str
    step: str
    detail: str
    sop: str
    event_id: int | None = None
    actor: str | None = None
    phase: str | None = None


@dataclass(frozen=True, slots=True)
class DayStarted:
    """The replay clock entered a new business day (in the replay's time zone)."""

    day: date


@dataclass(slots=True)
class _Clock:
    gen: int
    start_us: int
    due_us: int
    breached: bool = False


@dataclass(slots=True)
class _Ticket:
    phase: str | None
    states: list[int]
    seen: list[set[str]]
    clocks: list[dict[int, _Clock]]
    alerts: int = 0


@dataclass(slots=True)
class _Monitor:
    sop: SOP
    automaton: SopAutomaton
    limits: list[Any]
    arm_on: dict[str, list[int]]
    stop_on: dict[str, list[int]]
    close_steps: frozenset[str]
    mapping: dict[str, str]


def _fmt_duration(td: timedelta) -> str:
    from process_models import format_duration

    return format_duration(td)


class Replayer:
    """Feeds a business-time stream through conformance and SLA monitors for one or
    more SOPs and yields :class:`Alert` (and :class:`DayStarted`) items in firing order.

    Args:
        sops: the SOPs to monitor (the same events go through each).
        at_risk: share of a limit after which a missing step raises ``at_risk``
            (0 < at_risk < 1; None disables the alert).
        tz: time zone of business days for :class:`DayStarted` marks.
        calendar: business calendar for limits counted in business hours
            (``business_hours = true`` in the SOP); None counts every limit in
            wall-clock time.
        max_markings: bound on each net's reachability graph.

    After :meth:`run` is exhausted, ``events``, ``tickets``, ``first`` and ``last``
    describe what was replayed.
    """

    def __init__(self, sops: Sequence[SOP], *, at_risk: float | None = AT_RISK, tz: tzinfo = UTC,
                 calendar: BusinessCalendar | None = None, max_markings: int = MAX_MARKINGS) -> None:
        if at_risk is not None and not 0 < at_risk < 1:
            raise ReplayError(f"at-risk share must be between 0 and 1 (exclusive), got {at_risk}")
        self.at_risk = at_risk
        self.tz = tz
        self.calendar = calendar
        self.monitors = [self._monitor(s, max_markings) for s in sops]
        self.events = 0
        self.tickets = 0
        self.first: datetime | None = None
        self.last: datetime | None = None

    @staticmethod
    def _monitor(sop: SOP, max_markings: int) -> _Monitor:
        limits = list(sop.limits)
        arm_on: dict[str, list[int]] = {}
        stop_on: dict[str, list[int]] = {}
        for i, lim in enumerate(limits):
            arm_on.setdefault(lim.since, []).append(i)
            stop_on.setdefault(lim.step, []).append(i)
        return _Monitor(sop, SopAutomaton(sop, max_markings=max_markings), limits, arm_on, stop_on,
                        frozenset(sop.role_steps("close")), sop.activity_map())

    def run(self, stream: Iterable[StreamEvent]) -> Iterator[Alert | DayStarted]:
        """Replay the stream; yields alerts and day marks as they happen."""
        tickets: dict[str, _Ticket] = {}
        timers: list[tuple[int, int, int, str, int, int, str]] = []  # due, seq, monitor, ticket, limit, gen, kind
        seq = 0
        day_span = (0, -1)  # [start, end) of the current day in microseconds
        n_mon = len(self.monitors)
        first_us: int | None = None
        last_us: int | None = None

        def day_mark(t_us: int) -> DayStarted | None:
            nonlocal day_span
            if day_span[0] <= t_us < day_span[1]:
                return None
            local = (EPOCH + t_us * _US).astimezone(self.tz)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            start = _to_us(midnight)
            end = _to_us((midnight.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=self.tz))
            day_span = (start, end)
            return DayStarted(local.date())

        def set_timer(due: int, mi: int, ticket: str, li: int, gen: int, kind: str) -> None:
            nonlocal seq
            heapq.heappush(timers, (due, seq, mi, ticket, li, gen, kind))
            seq += 1

        def arm(mi: int, tk: _Ticket, ticket: str, li: int, start: int) -> None:
            mon = self.monitors[mi]
            lim = mon.limits[li]
            within = lim.within // _US
            gen = seq  # unique: stale timers of a cancelled or restarted clock never match
            if lim.business_hours and self.calendar is not None:
                begin = EPOCH + start * _US
                due = _to_us(business_deadline(self.calendar, begin, lim.within.total_seconds()))
                risk = None if self.at_risk is None else _to_us(
                    business_deadline(self.calendar, begin, lim.within.total_seconds() * self.at_risk))
            else:
                due = start + within
                risk = None if self.at_risk is None else start + int(within * self.at_risk)
            clock = _Clock(gen, start, due)
            tk.clocks[mi][li] = clock
            if risk is not None:
                set_timer(risk, mi, ticket, li, gen, "at_risk")
            set_timer(clock.due_us, mi, ticket, li, gen, "breach")

        def fire_timers(before_us: int) -> Iterator[Alert | DayStarted]:
            while timers and timers[0][0] < before_us:
                due, _, mi, ticket, li, gen, kind = heapq.heappop(timers)
                tk = tickets[ticket]
                clock = tk.clocks[mi].get(li)
                if clock is None or clock.gen != gen:
                    continue
                mon = self.monitors[mi]
                lim = mon.limits[li]
                when = EPOCH + due * _US
                since = "opened" if lim.since == "opened" else lim.since
                if lim.business_hours and self.calendar is not None:
                    since += " (business hours)"
                if kind == "breach":
                    clock.breached = True
                    detail = (f"{lim.step} not done within {_fmt_duration(lim.within)} after {since} "
                              f"(due {_short(when, self.tz)})")
                else:
                    detail = (f"{lim.step} still missing at {round(self.at_risk * 100)}% of its "
                              f"{_fmt_duration(lim.within)} limit after {since} "
                              f"(due {_short(EPOCH + clock.due_us * _US, self.tz)})")
                mark = day_mark(due)
                if mark:
                    yield mark
                tk.alerts += 1
                yield Alert(when, ticket, kind, lim.step, detail, mon.sop.id, None, None, tk.phase)

        for ev in stream:
            t_us = ev.time_us
            if timers and timers[0][0] < t_us:
                yield from fire_timers(t_us)
            if not day_span[0] <= t_us < day_span[1]:
                mark = day_mark(t_us)
                if mark:
                    yield mark
            if first_us is None:
                first_us = t_us
                self.first = ev.time
            last_us = t_us
            tk = tickets.get(ev.ticket)
            if tk is None:
                tk = _Ticket(ev.phase, [m.automaton.initial for m in self.monitors],
                             [set() for _ in range(n_mon)], [{} for _ in range(n_mon)])
                tickets[ev.ticket] = tk
                self.tickets += 1
            if ev.kind == "opened":
                for mi, mon in enumerate(self.monitors):
                    for li in mon.arm_on.get("opened", ()):
                        if li not in tk.clocks[mi]:
                            arm(mi, tk, ev.ticket, li, ev.time_us)
                continue
            self.events += 1
            activity = ev.activity or ""
            for mi, mon in enumerate(self.monitors):
                step = mon.mapping.get(activity)
                alerts = self._conformance(mi, mon, tk, ev, activity, step)
                for a in alerts:
                    tk.alerts += 1
                    yield a
                if step is None:
                    continue
                clocks = tk.clocks[mi]
                for li in mon.stop_on.get(step, ()):
                    clocks.pop(li, None)
                if step in mon.close_steps:
                    clocks.clear()
                for li in mon.arm_on.get(step, ()):
                    arm(mi, tk, ev.ticket, li, t_us)
        if last_us is not None:
            self.last = EPOCH + last_us * _US

    def _conformance(self, mi: int, mon: _Monitor, tk: _Ticket, ev: StreamEvent, activity: str,
                     step: str | None) -> list[Alert]:
        when = ev.time
        sop_id = mon.sop.id
        if step is None:
            return [Alert(when, ev.ticket, "extra", activity, f"'{activity}' is not a step of SOP '{sop_id}'",
                          sop_id, ev.event_id, ev.actor, tk.phase)]
        seen = tk.seen[mi]
        out = mon.automaton.advance(tk.states[mi], step, seen_before=step in seen)
        seen.add(step)
        tk.states[mi] = out.state
        if out.kind == "ok":
            return []
        if out.kind == "extra":
            detail = f"{step} is not part of the flow of SOP '{sop_id}'"
            return [Alert(when, ev.ticket, "extra", step, detail, sop_id, ev.event_id, ev.actor, tk.phase)]
        if out.kind == "skipped":
            return [Alert(when, ev.ticket, "skipped", s, f"{step} recorded without {s} before it", sop_id,
                          ev.event_id, ev.actor, tk.phase) for s in out.skipped]
        if out.kind == "repeated":
            detail = f"{step} again, after the flow had moved past it (rework)"
        else:
            detail = f"{step} recorded where the flow no longer allows it"
        return [Alert(when, ev.ticket, out.kind, step, detail, sop_id, ev.event_id, ev.actor, tk.phase)]


def business_deadline(calendar: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """The earliest time ``t`` with ``seconds`` business seconds between ``start`` and ``t``.

    Walks the calendar day by day from ``start`` (local dates of the calendar's time
    zone), taking each working day's hours, holidays and extra working days into
    account; the inverse of :meth:`BusinessCalendar.business_seconds`.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(calendar.tz)
    h0, h1 = calendar.hours[0] * 3600.0, calendar.hours[1] * 3600.0
    holidays, workdays = set(calendar.holidays), set(calendar.workdays)
    local = start.astimezone(zone)
    day = local.date()
    sec = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    remaining = float(seconds)
    for _ in range(100_000):
        working = (day in workdays) or (day.weekday() in calendar.weekdays and day not in holidays)
        if working:
            begin = max(sec, h0)
            avail = max(0.0, h1 - begin)
            if remaining <= avail:
                midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
                return (midnight + timedelta(seconds=begin + remaining)).astimezone(UTC)
            remaining -= avail
        day += timedelta(days=1)
        sec = 0.0
    raise ReplayError(f"calendar {calendar.describe()} has no working time to fit {seconds:g} s after {start}")


def _short(dt: datetime, tz: tzinfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------
# Summaries and SOP comparison
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What one SOP's monitors raised over a replay.

    Attributes:
        sop: SOP id.
        alerts: total alerts.
        tickets_alerted: tickets with at least one alert.
        by_kind: alerts per kind (every kind of :data:`ALERT_KINDS`, zeros included).
        by_step: ``{kind: {step: alerts}}``, steps by count then name.
    """

    sop: str
    alerts: int
    tickets_alerted: int
    by_kind: dict[str, int]
    by_step: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class SopDifference:
    """Alerts of SOP A and SOP B on the same events, matched.

    Alerts are matched on (ticket, kind, step, n-th such alert of the ticket), so
    a breach that fires at a different time under the two SOPs still matches.

    Attributes:
        sop_a: id of A.  sop_b: id of B.
        both: matched alerts.
        only_a: ``{kind: count}`` of alerts only A raises.
        only_b: ``{kind: count}`` of alerts only B raises.
        only_a_by_step: ``{kind: {step: count}}`` for A.
        only_b_by_step: ``{kind: {step: count}}`` for B.
        alerts_only_a: the alerts only A raises, in firing order.
        alerts_only_b: the alerts only B raises.
    """

    sop_a: str
    sop_b: str
    both: int
    only_a: dict[str, int]
    only_b: dict[str, int]
    only_a_by_step: dict[str, dict[str, int]]
    only_b_by_step: dict[str, dict[str, int]]
    alerts_only_a: tuple[Alert, ...]
    alerts_only_b: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A whole replay.

    Attributes:
        sops: ids of the SOPs replayed against (A first).
        events: steps replayed.  tickets: tickets seen.
        first: business time of the first item (ISO) or None.  last: of the last.
        alerts: every alert in firing order (all SOPs interleaved).
        summaries: one per SOP.
        difference: A against B when two SOPs were replayed, else None.
    """

    sops: tuple[str, ...]
    events: int
    tickets: int
    first: str | None
    last: str | None
    alerts: tuple[Alert, ...]
    summaries: tuple[ReplaySummary, ...]
    difference: SopDifference | None


def _by_step(alerts: Iterable[Alert]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for a in alerts:
        counts.setdefault(a.kind, Counter())[a.step] += 1
    return {k: dict(sorted(counts[k].items(), key=lambda kv: (-kv[1], kv[0]))) for k in ALERT_KINDS if k in counts}


def summarise_alerts(alerts: Sequence[Alert], sop: str) -> ReplaySummary:
    """Count one SOP's alerts per kind and per (kind, step)."""
    mine = [a for a in alerts if a.sop == sop]
    kinds = Counter(a.kind for a in mine)
    return ReplaySummary(sop, len(mine), len({a.ticket for a in mine}),
                         {k: kinds.get(k, 0) for k in ALERT_KINDS}, _by_step(mine))


def _keyed(alerts: Iterable[Alert]) -> dict[tuple[str, str, str, int], Alert]:
    counter: Counter[tuple[str, str, str]] = Counter()
    out = {}
    for a in alerts:
        base = (a.ticket, a.kind, a.step)
        out[(*base, counter[base])] = a
        counter[base] += 1
    return out


def diff_alerts(alerts: Sequence[Alert], sop_a: str, sop_b: str) -> SopDifference:
    """Match the alerts two SOPs raised on the same events (see :class:`SopDifference`)."""
    ka = _keyed(a for a in alerts if a.sop == sop_a)
    kb = _keyed(a for a in alerts if a.sop == sop_b)
    only_a = [ka[k] for k in ka if k not in kb]
    only_b = [kb[k] for k in kb if k not in ka]
    order = {id(a): i for i, a in enumerate(alerts)}
    only_a.sort(key=lambda a: order[id(a)])
    only_b.sort(key=lambda a: order[id(a)])
    ca, cb = Counter(a.kind for a in only_a), Counter(a.kind for a in only_b)
    return SopDifference(sop_a, sop_b, len(ka.keys() & kb.keys()),
                         {k: ca.get(k, 0) for k in ALERT_KINDS}, {k: cb.get(k, 0) for k in ALERT_KINDS},
                         _by_step(only_a), _by_step(only_b), tuple(only_a), tuple(only_b))


def replay(stream: Iterable[StreamEvent], sop: SOP, *, compare_sop: SOP | None = None,
           at_risk: float | None = AT_RISK, calendar: BusinessCalendar | None = None) -> ReplayResult:
    """Replay a whole stream and collect the result (alerts, summaries, SOP difference).

    Args:
        stream: from :func:`stream_events` or :func:`events_from_frame`.
        sop: the SOP to monitor (A).
        compare_sop: a revised SOP (B) to run the same events against.
        at_risk: share of a limit for ``at_risk`` alerts (None: none).
        calendar: business calendar for limits in business hours (None: wall clock).
    """
    sops = [sop] if compare_sop is None else [sop, compare_sop]
    if compare_sop is not None and compare_sop.id == sop.id:
        raise ReplayError(f"--compare-sop names the same SOP as --sop ({sop.id!r}): choose a revised SOP")
    replayer = Replayer(sops, at_risk=at_risk, calendar=calendar)
    alerts = tuple(a for a in replayer.run(stream) if isinstance(a, Alert))
    return ReplayResult(
        sops=tuple(s.id for s in sops),
        events=replayer.events,
        tickets=replayer.tickets,
        first=replayer.first.isoformat() if replayer.first else None,
        last=replayer.last.isoformat() if replayer.last else None,
        alerts=alerts,
        summaries=tuple(summarise_alerts(alerts, s.id) for s in sops),
        difference=None if compare_sop is None else diff_alerts(alerts, sop.id, compare_sop.id),
    )


# ---------------------------------------------------------------------------------
# Offline: the same SLA clocks over a whole frame, vectorised
# ---------------------------------------------------------------------------------

#: Columns of :func:`limit_clocks`.
CLOCK_COLUMNS = (
    "ticket", "step", "since", "within_s", "start", "deadline", "end", "ended_by", "breached", "at_risk",
    "status", "late_s", "event_id", "actor", "team", "phase",
)


def limit_clocks(
    df: Any,
    sop: SOP,
    *,
    calendar: BusinessCalendar | None = None,
    as_of: datetime | None = None,
    at_risk: float = AT_RISK,
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
) -> Any:
    """Every SLA clock of every ticket and how it ended, computed column-wise.

    The clocks are those of the replay's SLA monitors (see the module docstring),
    so a clock is ``breached`` here exactly when the replay of the same events
    raises a ``breach`` alert for it: a clock starts when the ticket is opened
    (``case:opened_at``; the first event when absent) or at each event of the
    ``since`` step, and ends at the ticket's next event that is the limited step
    (``step``), a close step (``close``) or the ``since`` step again (``restart``),
    whichever comes first, or is still running at ``as_of`` (``None``). It is
    breached when its deadline is before the end (or before ``as_of``).

    Args:
        df: event-log frame (one row per event, a ticket's events in time order).
        sop: the SOP whose limits apply (activities mapped with its aliases).
        calendar: business calendar for limits in business hours (None: wall clock).
        as_of: the time the log is complete up to (default: its last event).
        at_risk: share of the limit at which a missing step is "at risk".

    Returns:
        One row per clock: ``ticket``, ``step``, ``since``, ``within_s``, ``start``,
        ``deadline`` (tz-aware), ``end`` (when the clock ended, NaT if running),
        ``ended_by`` (``step``, ``close``, ``restart`` or None), ``breached``,
        ``at_risk`` (the at-risk point passed with the step missing), ``status``
        (``on_time``; ``late``: the step came after the deadline; ``missing``: the
        deadline passed without the step; ``stopped``: closed or restarted before the
        deadline without the step; ``running``), ``late_s`` (seconds past the
        deadline at the end, or at ``as_of``; NaN if not breached), ``event_id``,
        ``actor``, ``team`` (of the event that ended the clock: the late step, or the
        close/restart event; else of the event that started it), ``phase``.
    """
    import numpy as np
    import pandas as pd

    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in CLOCK_COLUMNS})
    if len(df) == 0 or not sop.limits:
        return empty
    times = df[timestamp_key]
    if times.dt.tz is None:
        times = times.dt.tz_localize("UTC")
    t_us = times.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype("int64").to_numpy()
    cases = df[case_id_key].astype(str).to_numpy(dtype=object)
    codes, uniques = pd.factorize(cases, sort=False)
    if "@@event_id" in df.columns:
        eids = df["@@event_id"].to_numpy(dtype="int64")
    else:
        eids = np.arange(len(df), dtype="int64")
    order = np.lexsort((eids, t_us, codes))
    codes, t_us, eids = codes[order], t_us[order], eids[order]
    acts = df[activity_key].astype(str).to_numpy(dtype=object)[order]
    steps = pd.Series(acts).map(sop.activity_map()).to_numpy(dtype=object)
    if not pd.notna(steps).any():  # no activity of the log belongs to the SOP: nothing to time
        return empty

    def column(name: str) -> np.ndarray:
        if name in df.columns:
            return df[name].to_numpy(dtype=object)[order]
        return np.full(len(df), None, dtype=object)

    actors, teams, phases = column("org:resource"), column("org:group"), column("case:phase")
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    first_rows = np.flatnonzero(first)
    if "case:opened_at" in df.columns:
        opened = df["case:opened_at"]
        if opened.dt.tz is None:
            opened = opened.dt.tz_localize("UTC")
        opened_us = opened.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype(
            "int64").to_numpy()[order][first_rows]
    else:
        opened_us = t_us[first_rows]
    end_us = int(t_us.max()) if as_of is None else _to_us(as_of)
    close = np.isin(steps, list(sop.role_steps("close")))
    frames = []
    for lim in sop.limits:
        is_step = steps == lim.step
        is_since = steps == lim.since
        within_us = lim.within // _US
        if lim.since == "opened":
            arm_rows = first_rows.astype(float) - 0.5  # before the ticket's first event
            arm_codes = codes[first_rows]
            arm_t = opened_us
            src_rows = first_rows
        else:
            src_rows = np.flatnonzero(is_since)
            arm_rows = src_rows.astype(float)
            arm_codes = codes[src_rows]
            arm_t = t_us[src_rows]
        if len(src_rows) == 0:
            continue
        term = np.flatnonzero(is_step | close | is_since)
        pos = np.searchsorted(term, arm_rows, side="right")
        has = pos < len(term)
        nxt = np.where(has, term[np.minimum(pos, len(term) - 1)], -1) if len(term) else np.full(len(pos), -1)
        has &= codes[np.maximum(nxt, 0)] == arm_codes
        nxt = np.where(has, nxt, -1)
        safe = np.maximum(nxt, 0)
        ended_by = np.where(~has, None, np.where(is_step[safe], "step", np.where(close[safe], "close", "restart")))
        stop_t = np.where(has, t_us[safe], end_us)
        limit_s = lim.within.total_seconds()
        if lim.business_hours and calendar is not None:
            used = np.asarray(calendar.business_seconds(pd.to_datetime(arm_t, unit="us", utc=True),
                                                        pd.to_datetime(stop_t, unit="us", utc=True)), dtype=float)
            breached = used > limit_s
            risky = used > limit_s * at_risk
            deadline = np.array([_to_us(business_deadline(calendar, EPOCH + int(t) * _US, limit_s)) for t in arm_t],
                                dtype="int64")
        else:
            deadline = arm_t + within_us
            breached = deadline < stop_t
            risky = arm_t + int(within_us * at_risk) < stop_t
        done = has & (ended_by == "step")
        status = np.where(breached, np.where(done, "late", "missing"),
                          np.where(~has, "running", np.where(done, "on_time", "stopped")))
        late_s = np.where(breached, (stop_t - deadline) / 1e6, np.nan)
        who = np.where(has, safe, src_rows)
        frames.append(pd.DataFrame({
            "ticket": uniques[arm_codes],
            "step": lim.step,
            "since": lim.since,
            "within_s": lim.within.total_seconds(),
            "start": pd.to_datetime(arm_t, unit="us", utc=True),
            "deadline": pd.to_datetime(deadline, unit="us", utc=True),
            "end": pd.to_datetime(np.where(has, t_us[safe], np.iinfo("int64").min), unit="us", utc=True),
            "ended_by": ended_by,
            "breached": breached,
            "at_risk": risky,
            "status": status,
            "late_s": late_s,
            "event_id": np.where(has, eids[safe], eids[who]),
            "actor": actors[who],
            "team": teams[who],
            "phase": phases[who],
        }))
    if not frames:
        return empty
    out = pd.concat(frames, ignore_index=True)
    out["end"] = out["end"].where(out["ended_by"].notna())
    return out.sort_values(["ticket", "start", "step"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------
# Rebuilding the read model
# ---------------------------------------------------------------------------------

#: Read-model tables and the key that identifies a row.
READ_MODEL_TABLES = (("event_log", "notification_id"), ("tickets", "ticket"), ("phases", "name"))


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One read-model table before and after a rebuild.

    Attributes:
        table: table name.
        rows_before: rows before the rebuild.  rows_after: rows after.
        digest_before: sha256 over the ordered row digests before.  digest_after: after.
        missing: keys of rows the rebuild did not recreate (first 10).
        added: keys of rows only the rebuild produced (first 10).
        changed: keys of rows whose content differs (first 10).
        mismatches: total rows missing, added or changed.
    """

    table: str
    rows_before: int
    rows_after: int
    digest_before: str
    digest_after: str
    missing: tuple[str, ...]
    added: tuple[str, ...]
    changed: tuple[str, ...]
    mismatches: int

    @property
    def match(self) -> bool:
        return self.mismatches == 0


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """The result of rebuilding the read model from the event log.

    Attributes:
        notifications: events the rebuild processed.
        position: the projection's position after it.
        tables: one check per read-model table.
        match: every table equals what was there before.
    """

    notifications: int
    position: int
    tables: tuple[TableCheck, ...]

    @property
    def match(self) -> bool:
        return all(t.match for t in self.tables)


def _table_digests(store: TicketStore, table: str, key: str) -> tuple[dict[str, bytes], str]:
    rows_by_key: dict[str, bytes] = {}
    total = hashlib.sha256()
    with store.db.transaction() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY {key}")
        names = [d[0] for d in cur.description]
        k = names.index(key)
        while True:
            batch = cur.raw.fetchmany(PAGE)
            if not batch:
                break
            for row in batch:
                values = [v.hex() if isinstance(v, bytes | bytearray | memoryview) and not isinstance(v, str)
                          else v for v in (bytes(x) if isinstance(x, memoryview) else x for x in row)]
                d = hashlib.blake2b(json.dumps(values, default=str, ensure_ascii=False).encode("utf-8"),
                                    digest_size=16).digest()
                rows_by_key[str(row[k])] = d
                total.update(d)
    return rows_by_key, total.hexdigest()


def rebuild_read_model(store: TicketStore) -> RebuildReport:
    """Rebuild ``event_log``, ``tickets`` and ``phases`` from the event log and check
    them row by row against what was there before (after catching up).

    Returns:
        The report; ``match`` is False when any row is missing, added or different.
    """
    store.projection.catch_up()
    before = {t: _table_digests(store, t, k) for t, k in READ_MODEL_TABLES}
    processed = store.projection.rebuild()
    checks = []
    for table, key in READ_MODEL_TABLES:
        rows_b, dig_b = before[table]
        rows_a, dig_a = _table_digests(store, table, key)
        missing = sorted(k for k in rows_b if k not in rows_a)
        added = sorted(k for k in rows_a if k not in rows_b)
        changed = sorted(k for k in rows_b if k in rows_a and rows_a[k] != rows_b[k])
        checks.append(TableCheck(table, len(rows_b), len(rows_a), dig_b, dig_a, tuple(missing[:10]),
                                 tuple(added[:10]), tuple(changed[:10]), len(missing) + len(added) + len(changed)))
    return RebuildReport(processed, store.projection.position(), tuple(checks))


def check_rebuild(report: RebuildReport) -> None:
    """Raise :class:`~csmine.errors.CheckFailedError` if the rebuild did not match."""
    if not report.match:
        bad = [f"{t.table}: {t.mismatches} rows differ" for t in report.tables if not t.match]
        raise CheckFailedError(
            "the rebuilt read model does not match what was there before (" + "; ".join(bad) + "): "
            "the old read model was stale or altered; the rebuilt one now reflects the event log"
        )


__all__ = [
    "ALERT_KINDS",
    "AT_RISK",
    "Alert",
    "DayStarted",
    "RebuildReport",
    "ReplayError",
    "ReplayResult",
    "ReplaySummary",
    "Replayer",
    "SopAutomaton",
    "SopDifference",
    "StepOutcome",
    "StreamEvent",
    "TableCheck",
    "business_deadline",
    "check_rebuild",
    "limit_clocks",
    "diff_alerts",
    "events_from_frame",
    "rebuild_read_model",
    "replay",
    "stream_events",
    "summarise_alerts",
]
