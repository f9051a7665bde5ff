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
* the ticket's own **alignment** with the SOP (:func:`csmine.conformance.align_ticket`):
  each event conforming or ``extra`` / ``out_of_order`` / ``repeated`` /
  ``wrong_branch``, each missing step ``skipped``;
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
from event_store.domain import (
    CORRECTABLE_STEP_FIELDS,
    TOPIC_ACTIVITY,
    TOPIC_CORRECTED,
    TOPIC_OPENED,
    TOPIC_RETRACTED,
    ticket_id,
)
from event_store.errors import TicketNotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from csmine.calendar import BusinessCalendar
    from event_store.application import TicketStore
    from process_models import SOP


class TraceError(CsmineError):
    """A ticket cannot be traced as asked (e.g. not yet opened at ``as_of``)."""


@dataclass(frozen=True, slots=True)
class Amendment:
    """A correction or retraction recorded about an earlier event.

    Attributes:
        kind: ``"corrected"`` or ``"retracted"``.
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
        deviations: kind -> count.  fitness: alignment fitness 0-1 (None: no SOP).
        integrity: chain and proof status (None when not checked).
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
        kind=kind, version=int(e.originator_version), event_id=nid, target_version=int(e.target_version),
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
        elif topic == TOPIC_CORRECTED:
            a = _amendment("corrected", n, e)
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
    steps.sort(key=lambda s: (s["occurred_at"], s["version"]))

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
    if sop is not None and live:
        frame = _frame(ticket, o_event.occurred_at, case, live)
        limits = _limits(frame, sop, calendar)
        moves, fitness = _alignment(frame, sop)
        by_event = {m.event_id: m.deviation for m in moves if m.event_id is not None}
        for s in live:
            s["deviation"] = by_event.get(s["event_id"])
        for m in moves:
            if m.deviation is not None and (m.move != "model" or m.deviation == "skipped"):
                deviations[m.deviation] = deviations.get(m.deviation, 0) + 1

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
    )


def _topic(event: Any) -> str:
    name = type(event).__name__
    return {
        "Opened": TOPIC_OPENED, "ActivityRecorded": TOPIC_ACTIVITY, "Corrected": TOPIC_CORRECTED,
        "Retracted": TOPIC_RETRACTED,
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


def _alignment(frame: pd.DataFrame, sop: SOP) -> tuple[tuple[TraceMove, ...], float | None]:
    from csmine.conformance import align_ticket, ticket_fitness

    moves = tuple(
        TraceMove(move=m.move, step=m.step, label=m.label,
                  event_id=None if m.event_id is None else int(m.event_id),
                  deviation=m.deviation, description=m.description)
        for m in align_ticket(frame, sop)
    )
    fit = ticket_fitness(frame, sop)
    return moves, float(fit["fitness"].iloc[0]) if len(fit) else None
