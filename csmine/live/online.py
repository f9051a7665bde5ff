"""The online monitors: the ``replay`` monitors, fed live, plus stuck tickets.

:class:`OnlineMonitors` holds one :class:`csmine.monitoring.replayer.Replayer` with a
risk timer for each share of a limit at which an SLA risk alert fires (default 50% and
75%; ``more_risks``): the same SOP automaton (the prefix
alignment of each open ticket), the same SLA clocks on the same business calendar,
the same alerts as ``csmine replay --at-risk SHARE`` on the same events. It adds a
**stuck** monitor: a ticket with no event for longer than the P90 of the wait that
follows its latest step (measured on the store's history, :func:`wait_p90`).

Events come from the store's read model, as committed (:func:`stream_committed`),
in log order, so the monitors see exactly what was committed, with the events' own
log positions; a timer (:meth:`OnlineMonitors.advance`) fires the deadlines that
pass while no event arrives. Every alert gets a stable **key** (what makes it
unique, plus a counter for exact repeats), so that the server can record it once
and, after a restart that feeds the same log again, recognise it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from event_store.readmodel.projection import _US, EPOCH

from csmine.monitoring.monitors import Alert, RiskAlert
from csmine.monitoring.replayer import Replayer
from csmine.monitoring.stream import StreamEvent, to_us

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore
    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar

#: Default shares of a limit at which an SLA risk alert fires (the breach fires at 100%).
DEFAULT_SHARES = (0.5, 0.75)
#: Fewest observed waits after a step before its P90 is trusted for stuck alerts.
MIN_WAITS = 20


@dataclass(frozen=True, slots=True)
class LiveAlert:
    """An alert of the online monitors.

    Attributes:
        key: what makes it unique (``sop|ticket|kind|step|time|share|event#n``).
        alert: the alert (``kind`` ``stuck`` for a stuck ticket).
        share: the share of the limit for ``at_risk`` alerts, else None.
        evidence: what it rests on (the event's log position, the limit, the P90).
    """

    key: str
    alert: Alert
    share: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Ticket:
    opened_us: int
    last_us: int
    activity: str | None = None
    step: str | None = None
    last_event: int | None = None
    closed: bool = False
    gen: int = 0


def stream_committed(store: TicketStore, start: int, sop: SOP | None = None,
                     limit: int | None = None) -> tuple[int, list[StreamEvent], bool]:
    """The store's ticket events after log position ``start``, as stream items, the last position
    read, and whether more may follow (only with ``limit``: read again from that position).

    Events are the read model's rows (:func:`event_store.readmodel.queries.committed_rows`:
    openings and steps as committed, retracted ones included; only a corrected step is
    decoded, for its committed values: corrections and retractions are not applied live),
    grouped by the commit that wrote them (its recording time) and each group put in
    ``csmine replay``'s order: business time, an opening before a step at the same instant,
    the SOP's tie order (:func:`csmine.eventlog.ordering.tie_key`), the log position. So a
    commit is monitored as replay would see it, and a restart feeds the same items in order.

    With ``limit`` (a warm-up over a long log, in pages), about ``limit`` events are
    read; a commit the page may have cut is held back whole (its events come with the
    next call), so the items and their order are the same as in one read.
    """
    from event_store.readmodel.queries import committed_rows, committed_steps

    from csmine.eventlog.ordering import sop_positions, tie_key

    pos = sop_positions(sop)
    ties: dict[str, Any] = {}

    def order(e: StreamEvent) -> tuple[Any, ...]:
        a = e.activity
        if a is None:
            return (e.time_us, False, (), e.event_id)
        key = ties.get(a)
        if key is None:
            key = ties[a] = tie_key(a, pos)
        return (e.time_us, True, key, e.event_id)

    while True:
        last, rows, more = committed_rows(store, start, limit)
        if not more:
            break
        cut = len(rows)
        while cut > 0 and rows[cut - 1][1] == rows[-1][1]:
            cut -= 1
        if cut > 0:  # the last commit may go on in the next page: read it again from its start
            last = rows[cut][0] - 1
            rows = rows[:cut]
            break
        limit = 2 * limit  # one commit fills the page: read a longer one  # type: ignore[operator]
    original = committed_steps(store, [r[0] for r in rows if r[6]])
    out: list[StreamEvent] = []
    group: list[StreamEvent] = []
    stamp: Any = None
    for nid, recorded, ticket, occurred, activity, actor, corrected in rows:
        if recorded != stamp:
            out.extend(sorted(group, key=order))
            group, stamp = [], recorded
        if corrected:
            occurred, activity, actor = original[nid]
        group.append(StreamEvent(occurred, "opened" if activity is None else "activity", ticket, activity, nid,
                                 actor))
    out.extend(sorted(group, key=order))
    return last, out, more


def wait_p90(df: pd.DataFrame, sop: SOP, *, min_waits: int = MIN_WAITS) -> dict[str, float]:
    """P90 of the wait (seconds, wall clock) from each SOP step to the ticket's next event.

    Measured on an event-log frame (:func:`csmine.eventlog.loading.load_event_log`):
    for every event but a ticket's last, the time to the next one, grouped by the
    event's SOP step (activities the SOP does not map are left out). Steps with fewer
    than ``min_waits`` waits get no P90 (no stuck alert after them).
    """
    if df.empty:
        return {}
    case = df["case:concept:name"].to_numpy()
    ts = df["time:timestamp"]
    nxt = ts.shift(-1)
    same = case[:-1] == case[1:]
    wait = (nxt - ts).dt.total_seconds().to_numpy()[:-1][same]
    steps = df["concept:name"].map(sop.activity_map()).to_numpy()[:-1][same]
    import pandas as pd

    frame = pd.DataFrame({"step": steps, "wait": wait}).dropna()
    grouped = frame.groupby("step")["wait"]
    counts = grouped.size()
    p90 = grouped.quantile(0.9)
    return {str(s): float(p90[s]) for s in p90.index if counts[s] >= min_waits}


class OnlineMonitors:
    """The replay monitors of one SOP, fed live, plus the stuck-ticket monitor.

    Args:
        sop: the SOP monitored.
        shares: shares of each limit at which an ``at_risk`` alert fires (empty: none).
        calendar: business calendar for limits in business hours (None: wall clock).
        tz: time zone of business days and of the times in alert details.
        stuck_after: P90 wait (seconds) after each step (:func:`wait_p90`); a ticket
            whose latest step has one and that sees no event for that long is stuck.
    """

    def __init__(self, sop: SOP, *, shares: Sequence[float] = DEFAULT_SHARES,
                 calendar: BusinessCalendar | None = None, tz: tzinfo = UTC,
                 stuck_after: dict[str, float] | None = None) -> None:
        self.sop = sop
        self.shares = tuple(sorted(shares))
        self.calendar = calendar
        self.tz = tz
        first = self.shares[0] if self.shares else None
        # One replayer for every share: one automaton step an event, a timer a share.
        self._replayer = Replayer([sop], at_risk=first, tz=tz, calendar=calendar, more_risks=self.shares[1:])
        self.monitor = self._replayer.monitors[0]
        self.stuck_after = dict(stuck_after or {})
        self._mapping = sop.activity_map()
        self._close = frozenset(sop.role_steps("close"))
        self._tickets: dict[str, _Ticket] = {}
        self._stuck: list[tuple[int, int, str, int]] = []
        self._seq = 0
        self._seen_keys: dict[str, int] = {}
        self.clock_us = 0

    @property
    def events(self) -> int:
        """Steps fed so far."""
        return self._replayer.events

    def feed(self, items: Iterable[StreamEvent]) -> list[LiveAlert]:
        """Feed events (log order); the alerts they and the deadlines before them fire, in time order."""
        out: list[LiveAlert] = []
        for ev in items:
            out.extend(self._feed_one(ev))
        return out

    def _feed_one(self, ev: StreamEvent) -> list[LiveAlert]:
        fired = [(a, self._share(a)) for a in self._replayer.feed(ev) if isinstance(a, Alert)]
        stuck = self._stuck_due(ev.time_us)
        self._track(ev)
        self.clock_us = max(self.clock_us, ev.time_us)
        return self._keyed(fired, stuck, ev)

    def advance(self, now: datetime) -> list[LiveAlert]:
        """Move the clock to ``now`` without an event: the deadlines that passed before it."""
        t_us = to_us(now)
        fired = [(a, self._share(a)) for a in self._replayer.advance(now) if isinstance(a, Alert)]
        self.clock_us = max(self.clock_us, t_us)
        return self._keyed(fired, self._stuck_due(t_us), None)

    def next_due_us(self) -> int | None:
        """When the next deadline (SLA or stuck) falls due, microseconds; None if none is set."""
        dues = [d for d in (self._replayer.next_due_us(),) if d is not None]
        if self._stuck:
            dues.append(self._stuck[0][0])
        return min(dues) if dues else None

    def _share(self, a: Alert) -> float | None:
        if isinstance(a, RiskAlert):
            return a.share
        return self.shares[0] if a.kind == "at_risk" else None

    def _track(self, ev: StreamEvent) -> None:
        t = self._tickets.get(ev.ticket)
        if t is None:
            t = self._tickets[ev.ticket] = _Ticket(ev.time_us, ev.time_us)
        if ev.kind == "opened":
            return
        step = self._mapping.get(ev.activity or "")
        t.last_us, t.activity, t.step, t.last_event = ev.time_us, ev.activity, step, ev.event_id
        t.gen += 1
        if step in self._close:
            t.closed = True
            return
        wait = self.stuck_after.get(step or "")
        if wait is not None and not t.closed:
            heapq.heappush(self._stuck, (ev.time_us + int(wait * 1e6), self._seq, ev.ticket, t.gen))
            self._seq += 1

    def set_stuck_after(self, table: dict[str, float]) -> None:
        """Use new P90 thresholds from here on; every open ticket's stuck timer is set again by them."""
        self.stuck_after = dict(table)
        for ticket, t in self._tickets.items():
            if t.closed or t.last_event is None:
                continue
            t.gen += 1
            wait = self.stuck_after.get(t.step or "")
            if wait is not None:
                heapq.heappush(self._stuck, (t.last_us + int(wait * 1e6), self._seq, ticket, t.gen))
                self._seq += 1

    def _stuck_due(self, before_us: int) -> list[LiveAlert]:
        out: list[LiveAlert] = []
        while self._stuck and self._stuck[0][0] < before_us:
            due, _, ticket, gen = heapq.heappop(self._stuck)
            t = self._tickets[ticket]
            if gen != t.gen or t.closed:
                continue
            wait = self.stuck_after.get(t.step or "", 0.0)
            since = EPOCH + t.last_us * _US
            detail = (f"no event for {_fmt(wait)} since {t.step} at "
                      f"{since.astimezone(self.tz):%Y-%m-%d %H:%M} (P90 of the wait after {t.step}: {_fmt(wait)})")
            alert = Alert(EPOCH + due * _US, ticket, "stuck", t.step or "", detail, self.sop.id,
                          t.last_event, None, None)
            key = f"{self.sop.id}|{ticket}|stuck|{t.step}|after#{t.last_event}"
            out.append(LiveAlert(key, alert, None, {"last_event": t.last_event, "p90_s": wait}))
        return out

    def _keyed(self, fired: list[tuple[Alert, float | None]], stuck: list[LiveAlert],
               ev: StreamEvent | None) -> list[LiveAlert]:
        out = [self._key(a, share) for a, share in fired] + stuck
        out.sort(key=lambda la: la.alert.time)  # stable: the replayer's own order at equal times
        return out

    def _key(self, a: Alert, share: float | None) -> LiveAlert:
        base = (f"{a.sop}|{a.ticket}|{a.kind}|{a.step}|{a.time.isoformat()}|"
                f"{'' if share is None else share}|{'' if a.event_id is None else a.event_id}")
        n = self._seen_keys.get(base, 0)
        self._seen_keys[base] = n + 1
        evidence: dict[str, Any] = {"event": a.event_id, "detail": a.detail}
        if share is not None:
            evidence["share"] = share
        return LiveAlert(f"{base}#{n}", a, share, evidence)

    # -- the open tickets -------------------------------------------------------------

    def open_tickets(self, now: datetime) -> list[dict[str, Any]]:
        """Open tickets (seen, not closed): their step, running clocks and next due step.

        A clock's ``share`` is the part of its limit used up at ``now`` (business time
        where the limit counts business hours), above 1 once overdue.
        """
        now_us = to_us(now)
        limits = self.monitor.limits
        rows: list[dict[str, Any]] = []
        for ticket, t in self._tickets.items():
            if t.closed:
                continue
            clocks = []
            for li, due_us in sorted(self.monitor.running_clocks(ticket).items()):
                lim = limits[li]
                within = lim.within.total_seconds()
                left = self._left(due_us, now_us, lim.business_hours)
                clocks.append({"step": lim.step, "label": self.sop.label(lim.step),
                               "due": EPOCH + due_us * _US, "within_s": within,
                               "left_s": left, "share": 1 - left / within if within else 1.0})
            nxt = min(clocks, key=lambda c: c["due"]) if clocks else None
            rows.append({"ticket": ticket, "step": t.step, "activity": t.activity,
                         "label": self.sop.label(t.step) if t.step else t.activity,
                         "opened_at": EPOCH + t.opened_us * _US, "last_event_at": EPOCH + t.last_us * _US,
                         "age_s": (now_us - t.opened_us) / 1e6, "idle_s": (now_us - t.last_us) / 1e6,
                         "clocks": clocks, "next_due": nxt})
        return rows

    def _left(self, due_us: int, now_us: int, business: bool) -> float:
        if business and self.calendar is not None:
            return float(self.calendar.business_seconds(EPOCH + now_us * _US, EPOCH + due_us * _US))
        return (due_us - now_us) / 1e6


def _fmt(seconds: float) -> str:
    from process_models import format_duration

    return str(format_duration(timedelta(seconds=round(seconds))))


__all__ = ["DEFAULT_SHARES", "LiveAlert", "OnlineMonitors", "stream_committed", "wait_p90"]
