"""One ticket's whole history for an auditor: timeline, waits, limits, SOP path, integrity.

:func:`trace_ticket` reads the ticket's **stored events** (not the read model), so it
shows every event as recorded: business time (``occurred_at``) and recording time
(the library's timestamp) side by side, who did what for which team, the free
attributes, and each correction or retraction next to the event it amends (the
original value stays visible). On the effective steps (retracted ones left out,
corrections applied) it computes:

* the **wait** before each step: from the previous step's time (the opening for
  the first step) to the step's start when the source records one, else to its
  time; and the **work** time (start to completion) when the start is known;
* the SOP's **time limits** (:func:`csmine.kpi.check_limits`: first occurrence,
  clock from the opening or the latest ``since`` step, pauses while waiting on the
  customer);
* whether the ticket is **open or closed** (:func:`csmine.lifecycle.ticket_status`:
  the SOP's close role and ``closed_when``, ``closing.closed_when``) and stale;
* the ticket's own **alignment** with the SOP (:func:`csmine.conformance.ticket_alignment`):
  each event conforming or ``extra`` / ``out_of_order`` / ``repeated`` /
  ``wrong_branch``, each missing step ``skipped``. An open ticket gets a prefix
  alignment: the steps still to come are not skipped; its **pending** steps are
  the next steps the SOP expects, each with when it falls due under the SOP's time
  limit (the limit's ``since`` anchor plus ``within``, on the business calendar
  where the limit says so, customer waits paused) and whether it is overdue at the
  end of the log;
* its **integrity**: the ticket's chain re-hashed from the stored bytes and each
  event's RFC 9162 inclusion proof against the current Merkle root of the log.

Two time-travel views (bitemporal):

* ``as_of`` (business / valid time): the steps that had happened by then, as
  known now (corrections recorded later are applied);
* ``known_at`` (recording / transaction time): only what the store had recorded up
  to log position ``N`` (the notification id), exactly as it was then.

Both can be combined ("what did we know at position N about the state at T").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from csmine.errors import CsmineError
from csmine.ordering import sop_positions, tie_key
from event_store.domain import (
    CORRECTABLE_STEP_FIELDS,
    TOPIC_ACTIVITY,
    TOPIC_CASE_CHANGED,
    TOPIC_CORRECTED,
    TOPIC_OPENED,
    TOPIC_RETRACTED,
    ticket_id,
)
from event_store.errors import TicketNotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from csmine.calendar import BusinessCalendar
    from csmine.lifecycle import ClosingRule
    from event_store.application import TicketStore
    from process_models import SOP


class TraceError(CsmineError):
    """A ticket cannot be traced as asked (e.g. not yet opened at ``as_of``)."""


@dataclass(frozen=True, slots=True)
class Amendment:
    """A correction or retraction recorded about an earlier event.

    Attributes:
        kind: ``"corrected"``, ``"retracted"`` or ``"case_changed"`` (the source reported
            new case attributes on a re-import).
        version: the amending event's own version in the ticket.
        event_id: its log position (notification id).
        target_version: the version it amends (0: the ticket's attributes).
        occurred_at: business time given for the amendment.
        recorded_at: when it was recorded.
        actor: who recorded it.
        changes: field -> new value (corrections only).
        reason: why, as recorded.
    """

    kind: str
    version: int
    event_id: int
    target_version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str | None
    changes: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One recorded activity of the ticket, with its amendments and timing.

    Attributes:
        version: version within the ticket (1, 2, ...).
        event_id: log position (notification id).
        activity: the activity, corrections applied.
        step: the SOP step it maps to (None: unknown to the SOP, or no SOP).
        occurred_at: business time, corrections applied.
        started_at: when work on it started, if recorded.
        recorded_at: when it was recorded (library timestamp).
        actor: who did it.  team: the team that did it (the ticket's team if none).
        attrs: free attributes, corrections applied.
        source_ref: where the row came from.
        original: the first-recorded values of the fields later corrected.
        corrections: corrections of this event, oldest first.
        retracted: the retraction, if the event was recorded in error.
        wait_s: seconds from the previous step (the opening for the first) to this
            step's start (or its time when no start is known); None when retracted.
        work_s: seconds from start to completion, when a start is known.
        deviation: the alignment's verdict on this event (None: conforming, or no SOP).
    """

    version: int
    event_id: int
    activity: str
    step: str | None
    occurred_at: datetime
    started_at: datetime | None
    recorded_at: datetime
    actor: str | None
    team: str | None
    attrs: dict[str, Any]
    source_ref: str | None
    original: dict[str, Any] = field(default_factory=dict)
    corrections: tuple[Amendment, ...] = ()
    retracted: Amendment | None = None
    wait_s: float | None = None
    work_s: float | None = None
    deviation: str | None = None


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One SOP time limit evaluated on the ticket.

    Attributes:
        step: the limited step.  since: ``"opened"`` or the step the clock starts at.
        within_s: the limit in seconds.
        start_at: when the clock started.  at: when the step happened (None if not).
        elapsed_s: clock seconds used (customer waits excluded).
        breached: the limit was exceeded.  overdue: exceeded and the step not done.
    """

    step: str
    since: str
    within_s: float
    start_at: datetime | None
    at: datetime | None
    elapsed_s: float
    breached: bool
    overdue: bool


@dataclass(frozen=True, slots=True)
class TraceMove:
    """One move of the ticket's alignment with the SOP.

    Attributes:
        move: ``sync`` (as the SOP says), ``log`` (an event the SOP does not expect
            here) or ``model`` (a step the SOP expected that did not happen).
        step: SOP step (or the source activity the SOP does not know).
        label: display label (``"English / 中文"``).
        event_id: the event (None for a model move).
        deviation: None, or skipped / extra / out_of_order / repeated / wrong_branch.
        description: the move in words.
    """

    move: str
    step: str
    label: str
    event_id: int | None
    deviation: str | None
    description: str


@dataclass(frozen=True, slots=True)
class TracePending:
    """A step the SOP expects next from the open ticket, and when it falls due.

    Attributes:
        step: the SOP step.  label: its display label.
        required: every way to finish the SOP from here goes through it (else it is
            one option among several).
        since: the limit's clock anchor (``"opened"`` or a step), None without a limit.
        within_s: the limit in seconds, None without a limit.
        business_hours: the clock counts business time only.
        start_at: when the clock started (None: no limit, or the anchor step has not
            happened yet).
        due_at: when the step falls due: ``start_at`` plus ``within`` on the clock
            (business calendar where the limit says so, customer waits paused);
            None when no limit applies.
        overdue: the clock had run past the limit at the end of the log.
        note: why no due time applies, when none does.
    """

    step: str
    label: str
    required: bool
    since: str | None = None
    within_s: float | None = None
    business_hours: bool = False
    start_at: datetime | None = None
    due_at: datetime | None = None
    overdue: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TraceIntegrity:
    """The ticket's integrity status.

    Attributes:
        chain_ok: every stored event re-hashes to its chain link, versions 0..n.
        proofs_ok: every event's inclusion proof leads to ``root``.
        tree_size: entries in the log's Merkle tree.  root: its root (hex).
        events: events checked.  problems: what failed, in words.
    """

    chain_ok: bool
    proofs_ok: bool
    tree_size: int
    root: str
    events: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Chain and proofs verify."""
        return self.chain_ok and self.proofs_ok


@dataclass(frozen=True, slots=True)
class TicketTrace:
    """A ticket's history and its audit verdicts (see the module doc).

    Attributes:
        ticket: external id.  ticket_uuid: the aggregate id.
        sop: SOP id used (None: no SOP).  sop_version: its version.
        as_of: business-time view, if asked.  known_at: log-position view, if asked.
        opened_at / opened_recorded_at / opened_by / opened_event_id / source_ref:
            the opening event.
        case: ticket attributes, corrections applied.  case_original: first-recorded
            values of corrected attributes.  case_corrections: those corrections.
        steps: every recorded activity in business-time order (retracted ones too).
        hidden: events left out by ``as_of`` / ``known_at``.
        limits: SOP time limits that apply.  breaches: how many were breached.
        moves: the alignment, silent moves left out.
        deviations: kind -> count.  fitness: alignment fitness 0-1 (None: no SOP);
            for an open ticket the prefix fitness (1.0 when what happened so far fits).
        integrity: chain and proof status (None when not checked).
        status: ``"open"`` or ``"closed"`` (every ticket is closed where no closing
            rule applies: ``closing_known`` False).
        stale: open and quiet for longer than the horizon before ``log_end``.
        closing_rule: the closing rule in words.  closing_known: a rule applied.
        log_end: the end of the log (``as_of`` when given, else the latest event in
            the store up to ``known_at``): the reference for stale and overdue.
        pending: open tickets: the steps the SOP expects next, with due times.
    """

    ticket: str
    ticket_uuid: str
    sop: str | None
    sop_version: str | None
    as_of: datetime | None
    known_at: int | None
    opened_at: datetime
    opened_recorded_at: datetime
    opened_by: str | None
    opened_event_id: int
    source_ref: str | None
    case: dict[str, Any]
    case_original: dict[str, Any]
    case_corrections: tuple[Amendment, ...]
    steps: tuple[TraceStep, ...]
    hidden: int
    limits: tuple[LimitCheck, ...]
    breaches: int
    moves: tuple[TraceMove, ...]
    deviations: dict[str, int]
    fitness: float | None
    integrity: TraceIntegrity | None
    status: str = "closed"
    stale: bool = False
    closing_rule: str = ""
    closing_known: bool = False
    log_end: datetime | None = None
    pending: tuple[TracePending, ...] = ()

    @property
    def effective_steps(self) -> tuple[TraceStep, ...]:
        """The steps that count: not retracted, in business-time order."""
        return tuple(s for s in self.steps if s.retracted is None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (times as ISO strings)."""
        data: dict[str, Any] = _plain(asdict(self))
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# -- reading the stored events -------------------------------------------------------------


def _stored_events(store: TicketStore, oid: UUID, known_at: int | None) -> tuple[list[tuple[int, Any]], int]:
    """The ticket's events (notification id, decoded event) up to ``known_at``; and how many were after it."""
    from eventsourcing.persistence import StoredEvent

    postgres = store.location.kind == "postgres"
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    nid = "notification_id" if postgres else "rowid"
    rows = store.db.query(
        f"SELECT {nid}, originator_version, topic, state FROM {table} WHERE originator_id = ? "
        "ORDER BY originator_version",
        (oid if postgres else oid.hex,),
    )
    out = []
    later = 0
    for n, version, topic, state in rows:
        if known_at is not None and int(n) > known_at:
            later += 1
            continue
        out.append((int(n), store.mapper.to_domain_event(StoredEvent(oid, int(version), topic, bytes(state)))))
    return out, later


def _amendment(kind: str, nid: int, e: Any) -> Amendment:
    return Amendment(
        kind=kind, version=int(e.originator_version), event_id=nid,
        target_version=int(getattr(e, "target_version", 0)),
        occurred_at=e.occurred_at, recorded_at=e.timestamp, actor=getattr(e, "actor", None),
        changes=dict(getattr(e, "changes", None) or {}), reason=str(e.reason),
    )


def trace_ticket(
    store: TicketStore,
    ticket: str,
    *,
    sop: SOP | None = None,
    as_of: datetime | None = None,
    known_at: int | None = None,
    calendar: BusinessCalendar | None = None,
    integrity: bool = True,
    closing: ClosingRule | None = None,
    log_end: datetime | None = None,
    tie_order: str = "auto",
) -> TicketTrace:
    """Trace one ticket (see the module doc for what is computed).

    Args:
        store: an open store.
        ticket: the ticket's external id.
        sop: the SOP to hold it against (None: no limits, no alignment).
        as_of: show the steps that had happened by this business time (tz-aware).
        known_at: show only what was recorded up to this log position.
        calendar: business calendar for the SOP clocks (None: wall clock; limits
            marked ``business_hours`` use :class:`csmine.calendar.BusinessCalendar`'s default).
        integrity: re-hash the ticket's chain and prove it against the log's root.
        closing: how to tell an open ticket (``--closed-when``, ``--stale-after``);
            None: ``ClosingRule()``, the SOP's close role and ``closed_when`` with
            the default stale horizon.
        log_end: the end of the log for stale and overdue (default: ``as_of``, else
            the latest business time in the store's read model up to ``known_at``).
        tie_order: steps at the same business time: ``auto`` (csmine.ordering's
            tie-break, the SOP's step order included) or ``file`` (record order).

    Raises:
        TicketNotFoundError: no such ticket (or none recorded by ``known_at``).
        TraceError: the ticket was not yet opened at ``as_of``.
    """
    if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
        raise TraceError(f"as_of must be timezone-aware, got {as_of.isoformat()}")
    oid = ticket_id(ticket)
    events, hidden = _stored_events(store, oid, known_at)
    opened = next(((n, e) for n, e in events if e.originator_version == 0), None)
    if opened is None:
        where = f" by log position {known_at}" if known_at is not None else ""
        raise TicketNotFoundError(
            f"no ticket {ticket!r} recorded in {store.location.display}{where} "
            "(list tickets with `csmine stats`, or check the id)"
        )
    o_nid, o_event = opened
    if o_event.__class__.__name__ != "Opened" and getattr(o_event, "external_id", None) is None:
        raise TicketNotFoundError(f"ticket {ticket!r}: its first stored event is not an opening")
    if as_of is not None and o_event.occurred_at > as_of:
        raise TraceError(
            f"ticket {ticket} was opened at {o_event.occurred_at.isoformat()}, after --as-of "
            f"{as_of.isoformat()}: choose a later time"
        )

    case = dict(o_event.case)
    case_original: dict[str, Any] = {}
    case_corrections: list[Amendment] = []
    raw_steps: dict[int, dict[str, Any]] = {}
    corrections: dict[int, list[Amendment]] = {}
    retractions: dict[int, Amendment] = {}
    for n, e in events:
        topic = _topic(e)
        if topic == TOPIC_ACTIVITY:
            raw_steps[int(e.originator_version)] = {
                "event_id": n, "activity": e.activity, "occurred_at": e.occurred_at,
                "started_at": e.started_at, "recorded_at": e.timestamp, "actor": e.actor, "team": e.team,
                "attrs": dict(e.attrs or {}), "source_ref": e.source_ref,
            }
        elif topic in (TOPIC_CORRECTED, TOPIC_CASE_CHANGED):
            a = _amendment("corrected" if topic == TOPIC_CORRECTED else "case_changed", n, e)
            if a.target_version == 0:
                for key, value in a.changes.items():
                    case_original.setdefault(key, case.get(key))
                    case[key] = value
                case_corrections.append(a)
            else:
                corrections.setdefault(a.target_version, []).append(a)
        elif topic == TOPIC_RETRACTED:
            a = _amendment("retracted", n, e)
            retractions[a.target_version] = a

    steps: list[dict[str, Any]] = []
    for version, raw in raw_steps.items():
        eff = dict(raw)
        eff["attrs"] = dict(raw["attrs"])
        original: dict[str, Any] = {}
        for a in corrections.get(version, []):
            for key, value in a.changes.items():
                if key in CORRECTABLE_STEP_FIELDS:
                    original.setdefault(key, raw.get(key))
                    eff[key] = value
                else:
                    original.setdefault(key, raw["attrs"].get(key))
                    eff["attrs"][key] = value
        if as_of is not None and eff["occurred_at"] > as_of:
            hidden += 1
            continue
        eff.update(version=version, original=original, corrections=tuple(corrections.get(version, ())),
                   retracted=retractions.get(version))
        steps.append(eff)
    # business time, ties as everywhere else (csmine.ordering), then record order
    sop_pos = sop_positions(sop) if tie_order == "auto" else None
    steps.sort(key=lambda s: (s["occurred_at"], tie_key(str(s["activity"]), sop_pos) if sop_pos is not None else (),
                              s["version"]))

    mapping = sop.activity_map() if sop is not None else {}
    prev = o_event.occurred_at
    for s in steps:
        s["team"] = s["team"] or case.get("team")
        s["step"] = mapping.get(s["activity"]) if sop is not None else None
        if s["retracted"] is not None:
            s["wait_s"] = s["work_s"] = None
            continue
        begin = s["started_at"] or s["occurred_at"]
        s["wait_s"] = (begin - prev).total_seconds()
        s["work_s"] = (s["occurred_at"] - s["started_at"]).total_seconds() if s["started_at"] else None
        prev = s["occurred_at"]

    live = [s for s in steps if s["retracted"] is None]
    limits: tuple[LimitCheck, ...] = ()
    moves: tuple[TraceMove, ...] = ()
    deviations: dict[str, int] = {}
    fitness = None
    pending: tuple[TracePending, ...] = ()
    end = log_end or as_of or _log_end(store, known_at)
    if live and (end is None or live[-1]["occurred_at"] > end):
        end = max(s["occurred_at"] for s in live)
    frame = _frame(ticket, o_event.occurred_at, case, live) if live else None
    state = _status(frame, sop, closing, end)
    if sop is not None and frame is not None:
        limits = _limits(frame, sop, calendar)
        moves, fitness, next_steps = _alignment(frame, sop, open_ticket=state[0] == "open")
        by_event = {m.event_id: m.deviation for m in moves if m.event_id is not None}
        for s in live:
            s["deviation"] = by_event.get(s["event_id"])
        for m in moves:
            if m.deviation is not None and (m.move != "model" or m.deviation == "skipped"):
                deviations[m.deviation] = deviations.get(m.deviation, 0) + 1
        pending = tuple(_due(p, sop, o_event.occurred_at, live, end, calendar) for p in next_steps)

    status = None
    if integrity:
        from event_store.verify import ticket_integrity

        ti = ticket_integrity(store, ticket)
        status = TraceIntegrity(ti.chain_ok, ti.proofs_ok, ti.tree_size, ti.root, len(ti.events), ti.problems)

    fields = TraceStep.__dataclass_fields__
    return TicketTrace(
        ticket=ticket,
        ticket_uuid=str(oid),
        sop=sop.id if sop is not None else None,
        sop_version=sop.version if sop is not None else None,
        as_of=as_of,
        known_at=known_at,
        opened_at=o_event.occurred_at,
        opened_recorded_at=o_event.timestamp,
        opened_by=getattr(o_event, "actor", None),
        opened_event_id=o_nid,
        source_ref=getattr(o_event, "source_ref", None),
        case=case,
        case_original=case_original,
        case_corrections=tuple(case_corrections),
        steps=tuple(TraceStep(**{k: v for k, v in s.items() if k in fields}) for s in steps),
        hidden=hidden,
        limits=limits,
        breaches=sum(1 for lim in limits if lim.breached),
        moves=moves,
        deviations=deviations,
        fitness=fitness,
        integrity=status,
        status=state[0],
        stale=state[1],
        closing_rule=state[2],
        closing_known=state[3],
        log_end=end,
        pending=pending,
    )


def _topic(event: Any) -> str:
    name = type(event).__name__
    return {
        "Opened": TOPIC_OPENED, "ActivityRecorded": TOPIC_ACTIVITY, "Corrected": TOPIC_CORRECTED,
        "Retracted": TOPIC_RETRACTED, "CaseAttributesChanged": TOPIC_CASE_CHANGED,
    }.get(name, name)


def _frame(ticket: str, opened_at: datetime, case: dict[str, Any], steps: list[dict[str, Any]]) -> pd.DataFrame:
    """The effective steps as an event-log frame (pm4py column names)."""
    import pandas as pd

    def times(values: list[datetime | None]) -> pd.Series:
        return pd.Series(pd.to_datetime(values, utc=True)).astype("datetime64[us, UTC]")

    df = pd.DataFrame({
        "case:concept:name": [ticket] * len(steps),
        "concept:name": [s["activity"] for s in steps],
        "time:timestamp": times([s["occurred_at"] for s in steps]),
        "start_timestamp": times([s["started_at"] for s in steps]),
        "org:resource": [s["actor"] for s in steps],
        "org:group": [s["team"] for s in steps],
        "case:opened_at": times([opened_at] * len(steps)),
        "@@event_id": [s["event_id"] for s in steps],
        "@@version": [s["version"] for s in steps],
    })
    for key in ("channel", "category", "priority", "team", "region"):
        df[f"case:{key}"] = case.get(key)
    keys = sorted({k for s in steps for k in s["attrs"]})
    for key in keys:
        if key not in df.columns:
            df[key] = [s["attrs"].get(key) for s in steps]
    return df


def _limits(frame: pd.DataFrame, sop: SOP, calendar: BusinessCalendar | None) -> tuple[LimitCheck, ...]:
    import pandas as pd

    from csmine.kpi import check_limits

    rows = check_limits(frame, sop, calendar=calendar)

    def ts(value: Any) -> datetime | None:
        return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()

    return tuple(
        LimitCheck(step=str(r.step), since=str(r.since), within_s=float(r.within_s), start_at=ts(r.start_at),
                   at=ts(r.at), elapsed_s=float(r.elapsed_s), breached=bool(r.breached), overdue=bool(r.overdue))
        for r in rows.itertuples(index=False)
    )


def _alignment(frame: pd.DataFrame, sop: SOP, *, open_ticket: bool) -> tuple[
        tuple[TraceMove, ...], float | None, tuple[Any, ...]]:
    from csmine.conformance import ticket_alignment

    aligned = ticket_alignment(frame, sop, open_ticket=open_ticket)
    moves = tuple(
        TraceMove(move=m.move, step=m.step, label=m.label,
                  event_id=None if m.event_id is None else int(m.event_id),
                  deviation=m.deviation, description=m.description)
        for m in aligned.moves
    )
    return moves, aligned.fitness, aligned.pending


def _log_end(store: TicketStore, known_at: int | None) -> datetime | None:
    """The latest business time in the store's read model (up to log position ``known_at``)."""
    from datetime import UTC

    sql = "SELECT MAX(occurred_at) FROM event_log WHERE retracted = 0"
    params: tuple[Any, ...] = ()
    if known_at is not None:
        sql += " AND notification_id <= ?"
        params = (known_at,)
    try:
        rows = store.db.query(sql, params)
    except Exception:  # noqa: BLE001 -- no read model: fall back to the ticket's own events
        return None
    value = rows[0][0] if rows else None
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / 1_000_000, tz=UTC)


def _status(frame: pd.DataFrame | None, sop: SOP | None, closing: ClosingRule | None,
            end: datetime | None) -> tuple[str, bool, str, bool]:
    """(status, stale, rule in words, rule known) of the ticket."""
    import pandas as pd

    from csmine.lifecycle import OPEN, ClosingRule, describe_rule, ticket_status

    rule = closing or ClosingRule()
    if frame is None:  # nothing done yet (or all retracted): open wherever a rule applies
        known = bool(rule.closed_when) or (sop is not None and bool(sop.roles.get("close") or sop.closed_when))
        return ("open" if known else "closed"), False, describe_rule(sop, rule), known
    status = ticket_status(frame, sop, rule, as_of=pd.Timestamp(end) if end is not None else None)
    if not status.known:
        return "closed", False, status.rule, False
    row = status.frame.iloc[0]
    return ("open" if row["status"] == OPEN else "closed"), bool(row["stale"]), status.rule, True


def _due(pending: Any, sop: SOP, opened_at: datetime, live: list[dict[str, Any]], end: datetime,
         calendar: BusinessCalendar | None) -> TracePending:
    """When a pending step falls due under its SOP time limit, and whether it is overdue at ``end``.

    The limit's clock (as :func:`csmine.kpi.check_limits` runs it): from the opening or
    the latest event of the ``since`` step, business time where the limit says so (the
    given calendar, else the default one), paused from each customer wait (the SOP's
    ``waiting`` role) to the next event; the limit applies to the step's first
    occurrence only.
    """
    from csmine.calendar import BusinessCalendar

    limit = next((lim for lim in sop.limits if lim.step == pending.step), None)
    base = TracePending(step=pending.step, label=pending.label, required=pending.required)
    if limit is None:
        return base
    within = limit.within.total_seconds()
    cal = calendar if calendar is not None else (BusinessCalendar() if limit.business_hours else None)
    fields = {"since": limit.since, "within_s": within, "business_hours": cal is not None}
    if any(s["step"] == limit.step for s in live):
        return TracePending(**{**_fields(base), **fields,
                               "note": f"the limit applies to the first {limit.step}, already done"})
    if limit.since == "opened":
        start = opened_at
    else:
        before = [s for s in live if s["step"] == limit.since]
        if not before:
            return TracePending(**{**_fields(base), **fields,
                                   "note": f"the clock starts at {limit.since}, not done yet"})
        start = before[-1]["occurred_at"]
    waiting = set(sop.roles.get("waiting", ()))
    pauses = []
    for s, nxt in zip(live, live[1:], strict=False):
        if s["step"] in waiting:
            pauses.append((s["started_at"] or s["occurred_at"], nxt["started_at"] or nxt["occurred_at"]))

    def clock(t: datetime) -> float:
        """Clock seconds from ``start`` to ``t``, pauses excluded."""
        def span(a: datetime, b: datetime) -> float:
            if b <= a:
                return 0.0
            return float(cal.business_seconds(a, b)) if cal is not None else (b - a).total_seconds()

        return span(start, t) - sum(span(max(a, start), min(b, t)) for a, b in pauses)

    due = _when_clock_reaches(clock, start, within, exact=cal is None and not pauses)
    overdue = clock(end) > within + 1e-9
    return TracePending(**{**_fields(base), **fields, "start_at": start, "due_at": due, "overdue": overdue})


def _fields(p: TracePending) -> dict[str, Any]:
    return {k: getattr(p, k) for k in TracePending.__dataclass_fields__}


def _when_clock_reaches(clock: Any, start: datetime, within: float, *, exact: bool) -> datetime | None:
    """The earliest time at which ``clock`` (non-decreasing from 0 at ``start``) reaches ``within``.

    Found by bisection to the second (business calendars and pauses stretch the wall
    clock); None if it is not reached within about a century.
    """
    import math
    from datetime import timedelta

    if exact:
        return start + timedelta(seconds=within)
    span = max(within, 3600.0)
    for _ in range(20):
        if clock(start + timedelta(seconds=span)) >= within:
            break
        span *= 2
    else:
        return None
    lo_s, hi_s = 0.0, span
    while hi_s - lo_s > 1e-3:
        mid = (lo_s + hi_s) / 2
        if clock(start + timedelta(seconds=mid)) >= within:
            hi_s = mid
        else:
            lo_s = mid
    return start + timedelta(seconds=math.ceil(hi_s - 1e-3))
