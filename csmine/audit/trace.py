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
* the SOP's **time limits** (:func:`csmine.performance.limits.check_limits`: first occurrence,
  clock from the opening or the latest ``since`` step, pauses while waiting on the
  customer);
* whether the ticket is **open or closed** (:func:`csmine.eventlog.lifecycle.ticket_status`:
  the SOP's close role and ``closed_when``, ``closing.closed_when``) and stale;
* the ticket's own **alignment** with the SOP (:func:`csmine.conformance.deviations.ticket_alignment`):
  each event conforming or ``extra`` / ``out_of_order`` / ``repeated`` /
  ``wrong_branch``, each missing step ``skipped``. An open ticket gets a prefix
  alignment: the steps still to come are not skipped; its **pending** steps are
  the next steps the SOP expects, each with when it falls due under the SOP's time
  limit (the limit's ``since`` anchor plus ``within``, on the business calendar
  where the limit says so, customer waits paused) and whether it is overdue at the
  end of the log;
* its **integrity**: the ticket's chain re-hashed from the stored bytes, each
  event's RFC 9162 inclusion proof against the current Merkle root of the log, and
  the log's chain rows against the recorded chain head, as ``csmine verify`` checks
  them (a cut-off tail or a deleted entry leaves the ticket's own chain intact).

Two time-travel views (bitemporal):

* ``as_of`` (business / valid time): the steps that had happened by then, as
  known now (corrections recorded later are applied);
* ``known_at`` (recording / transaction time): only what the store had recorded up
  to log position ``N`` (the notification id), exactly as it was then.

Both can be combined ("what did we know at position N about the state at T").

The history itself (stored events, amendments, timing) is read by
:mod:`csmine.audit.history`; the due times of pending steps are
:mod:`csmine.audit.pending`'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from csmine.audit.history import Amendment, TraceStep, read_history, stored_log_end, timed_steps
from csmine.audit.pending import TracePending, pending_step
from csmine.errors import TraceError

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore
    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.performance.business_calendar import BusinessCalendar


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
        head_size: entries the log's chain head records.
        log_ok: the log's chain positions run 1..n and match the chain head's size and
            hash, as ``csmine verify`` checks them (nothing deleted, cut off or appended).
    """

    chain_ok: bool
    proofs_ok: bool
    tree_size: int
    root: str
    events: int
    problems: tuple[str, ...]
    head_size: int
    log_ok: bool

    @property
    def ok(self) -> bool:
        """Chain, proofs and the log's head verify."""
        return self.chain_ok and self.proofs_ok and self.log_ok


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
        if self.integrity is not None:
            data["integrity"]["ok"] = self.integrity.ok
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
            marked ``business_hours`` use :class:`csmine.performance.business_calendar.BusinessCalendar`'s default).
        integrity: re-hash the ticket's chain and prove it against the log's root.
        closing: how to tell an open ticket (``--closed-when``, ``--stale-after``);
            None: ``ClosingRule()``, the SOP's close role and ``closed_when`` with
            the default stale horizon.
        log_end: the end of the log for stale and overdue (default: ``as_of``, else
            the latest business time in the store's read model up to ``known_at``).
        tie_order: steps at the same business time: ``auto`` (csmine.eventlog.ordering's
            tie-break, the SOP's step order included) or ``file`` (record order).

    Raises:
        TicketNotFoundError: no such ticket (or none recorded by ``known_at``).
        TraceError: the ticket was not yet opened at ``as_of``.
    """
    if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
        raise TraceError(f"as_of must be timezone-aware, got {as_of.isoformat()}")
    history = read_history(store, ticket, known_at=known_at, as_of=as_of)
    steps = timed_steps(history, sop, tie_order)
    live = [s for s in steps if s["retracted"] is None]
    end = log_end or as_of or stored_log_end(store, known_at)
    if live and (end is None or live[-1]["occurred_at"] > end):
        end = max(s["occurred_at"] for s in live)
    o = history.opened
    frame = _frame(ticket, o.occurred_at, history.case, live) if live else None
    status, stale, rule, rule_known = _status(frame, sop, closing, end)
    limits, moves, deviations, fitness, pending = _verdicts(frame, sop, live, o.occurred_at, end, calendar=calendar,
                                                            open_ticket=status == "open")
    return TicketTrace(
        ticket=ticket, ticket_uuid=str(history.oid), sop=sop.id if sop is not None else None,
        sop_version=sop.version if sop is not None else None, as_of=as_of, known_at=known_at,
        opened_at=o.occurred_at, opened_recorded_at=o.timestamp, opened_by=getattr(o, "actor", None),
        opened_event_id=history.opened_event_id, source_ref=getattr(o, "source_ref", None), case=history.case,
        case_original=history.case_original, case_corrections=tuple(history.case_corrections),
        steps=tuple(_trace_step(s) for s in steps),
        hidden=history.hidden, limits=limits, breaches=sum(1 for lim in limits if lim.breached), moves=moves,
        deviations=deviations, fitness=fitness, integrity=_integrity(store, ticket) if integrity else None,
        status=status, stale=stale, closing_rule=rule, closing_known=rule_known, log_end=end, pending=pending,
    )


def ticket_frame(store: TicketStore, ticket: str) -> pd.DataFrame:
    """The ticket's activities as a one-column frame (``concept:name``), to choose its SOP by."""
    import pandas as pd

    from event_store.readmodel.queries import ticket_activities

    return pd.DataFrame({"concept:name": ticket_activities(store, ticket)})


def _trace_step(step: dict[str, Any]) -> TraceStep:
    fields = TraceStep.__dataclass_fields__
    return TraceStep(**{k: v for k, v in step.items() if k in fields})


def _verdicts(frame: pd.DataFrame | None, sop: SOP | None, live: list[dict[str, Any]], opened_at: datetime,
              end: datetime, *, calendar: BusinessCalendar | None, open_ticket: bool) -> tuple[
        tuple[LimitCheck, ...], tuple[TraceMove, ...], dict[str, int], float | None, tuple[TracePending, ...]]:
    """The SOP's limits, the alignment (each live step gets its ``deviation``), the
    deviations per kind, the fitness and the pending steps of the ticket."""
    if sop is None or frame is None:
        return (), (), {}, None, ()
    limits = _limits(frame, sop, calendar)
    moves, fitness, next_steps = _alignment(frame, sop, open_ticket=open_ticket)
    by_event = {m.event_id: m.deviation for m in moves if m.event_id is not None}
    for s in live:
        s["deviation"] = by_event.get(s["event_id"])
    deviations: dict[str, int] = {}
    for m in moves:
        if m.deviation is not None and (m.move != "model" or m.deviation == "skipped"):
            deviations[m.deviation] = deviations.get(m.deviation, 0) + 1
    pending = tuple(pending_step(p, sop, opened_at, live, end, calendar) for p in next_steps)
    return limits, moves, deviations, fitness, pending


def _integrity(store: TicketStore, ticket: str) -> TraceIntegrity:
    from event_store.integrity.tickets import ticket_integrity

    ti = ticket_integrity(store, ticket)
    return TraceIntegrity(ti.chain_ok, ti.proofs_ok, ti.tree_size, ti.root, len(ti.events), ti.problems,
                          ti.head_size, ti.log_ok)


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

    from csmine.performance.limits import check_limits

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
    from csmine.conformance.deviations import ticket_alignment

    aligned = ticket_alignment(frame, sop, open_ticket=open_ticket)
    moves = tuple(
        TraceMove(move=m.move, step=m.step, label=m.label,
                  event_id=None if m.event_id is None else int(m.event_id),
                  deviation=m.deviation, description=m.description)
        for m in aligned.moves
    )
    return moves, aligned.fitness, aligned.pending


def _status(frame: pd.DataFrame | None, sop: SOP | None, closing: ClosingRule | None,
            end: datetime | None) -> tuple[str, bool, str, bool]:
    """(status, stale, rule in words, rule known) of the ticket."""
    import pandas as pd

    from csmine.eventlog.lifecycle import OPEN, ClosingRule, describe_rule, ticket_status

    rule = closing or ClosingRule()
    if frame is None:  # nothing done yet (or all retracted): open wherever a rule applies
        known = bool(rule.closed_when) or (sop is not None and bool(sop.roles.get("close") or sop.closed_when))
        return ("open" if known else "closed"), False, describe_rule(sop, rule), known
    status = ticket_status(frame, sop, rule, as_of=pd.Timestamp(end) if end is not None else None)
    if not status.known:
        return "closed", False, status.rule, False
    row = status.frame.iloc[0]
    # the rule itself, not the whole-log remark on close steps that never occur (one ticket here)
    return ("open" if row["status"] == OPEN else "closed"), bool(row["stale"]), describe_rule(sop, rule), True


__all__ = [
    "LimitCheck",
    "TicketTrace",
    "TraceIntegrity",
    "TraceMove",
    "ticket_frame",
    "trace_ticket",
]
