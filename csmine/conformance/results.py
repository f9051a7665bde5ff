"""Conformance result types: the report, its rows, and one ticket's alignment in words.

Plain frozen dataclasses (JSON through :func:`dataclasses.asdict`), built by
:mod:`csmine.conformance.summary` and :mod:`csmine.conformance.deviations`, rendered
by the CLI and :mod:`csmine.reports`. :data:`KINDS` names the deviation kinds (see
:mod:`csmine.conformance.deviations` for what each one means).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KINDS",
    "KIND_WORDS",
    "AlignedMove",
    "ConformanceAnalysis",
    "ConformanceReport",
    "GroupConformance",
    "PendingStep",
    "StatusConformance",
    "StepConformance",
    "StepStatus",
    "TicketAlignment",
    "TicketDeviation",
    "UnknownActivity",
    "WeekConformance",
    "WorstTicket",
]

#: Deviation kinds, in the order reports show them.
KINDS: tuple[str, ...] = ("skipped", "extra", "out_of_order", "repeated", "wrong_branch")

#: Words for each kind, as tables and the flowchart show them.
KIND_WORDS: dict[str, str] = {
    "skipped": "skipped",
    "extra": "extra",
    "out_of_order": "out of order",
    "repeated": "repeated",
    "wrong_branch": "wrong branch",
}

StepStatus = Literal["flow", "off_flow", "unknown"]


@dataclass(frozen=True, slots=True)
class StepConformance:
    """How one SOP step (or one activity the SOP does not know) was followed.

    Attributes:
        step: SOP step name; for activities the SOP does not know, the source
            activity name.
        label: display label (``"English / 中文"`` for SOP steps).
        status: ``"flow"`` (a step of the SOP's flow), ``"off_flow"`` (the SOP names
            the step but does not expect it, e.g. ``Reopen``) or ``"unknown"`` (not
            in the SOP at all).
        events: events mapped to this step.
        tickets: tickets with at least one such event.
        skipped: times the step was skipped (model moves on it, not explained as
            out of order or wrong branch).
        extra: events of the step where the SOP does not allow them.
        out_of_order: events of the step done at another point than the SOP's.
        repeated: events repeating the step where the SOP allows no repetition.
        wrong_branch: events of the step taken instead of another branch of an
            exclusive choice.
        deviations: sum of the five counts.
        deviating_tickets: tickets with at least one deviation on this step.
        skipped_share: share of all checked tickets that skipped the step (0-1).
        violated_share: share of all checked tickets with another deviation (extra,
            out of order, repeated, wrong branch) on the step (0-1).
        deviating_share: share of all checked tickets with any deviation on the step
            (0-1); the flowchart colours steps by it.
        pending: open tickets for which the step is one of the next steps the SOP
            expects (not a deviation; 0 when no ticket is open).
    """

    step: str
    label: str
    status: StepStatus
    events: int
    tickets: int
    skipped: int
    extra: int
    out_of_order: int
    repeated: int
    wrong_branch: int
    deviations: int
    deviating_tickets: int
    skipped_share: float
    violated_share: float
    deviating_share: float
    pending: int = 0


@dataclass(frozen=True, slots=True)
class GroupConformance:
    """Conformance of the tickets and deviations of one team, channel, phase or agent.

    For channel and phase (ticket attributes) a group's tickets are the tickets with
    that value. For team and agent, a group's tickets are those the team/agent
    worked on (had at least one event), and a deviation is counted for the team or
    agent of the deviating event; a skipped step has no event, so it is counted for
    the next event of the ticket (the one done instead), or the last event when the
    skipped step would have ended the ticket. A missing team falls back to the
    ticket's team.

    Attributes:
        value: the team, channel, phase or agent (``"(none)"`` when not recorded).
        tickets: tickets in the group.
        fitting_share: share of the group's tickets with trace fitness 1.0 (0-1).
        average_fitness: mean trace fitness of the group's tickets (0-1).
        deviations: deviations counted for the group.
        deviations_per_ticket: ``deviations / tickets``.
        skipped: deviations of kind skipped (and so on for the other kinds).
        extra: see ``skipped``.
        out_of_order: see ``skipped``.
        repeated: see ``skipped``.
        wrong_branch: see ``skipped``.
    """

    value: str
    tickets: int
    fitting_share: float
    average_fitness: float
    deviations: int
    deviations_per_ticket: float
    skipped: int
    extra: int
    out_of_order: int
    repeated: int
    wrong_branch: int


@dataclass(frozen=True, slots=True)
class TicketDeviation:
    """One deviation of one ticket.

    Attributes:
        step: SOP step (or unknown source activity) the deviation is about.
        kind: one of :data:`KINDS`.
        event_id: the deviating event's id (``@@event_id``), None for a skipped step.
        description: the deviation in words, e.g. ``"Callback skipped"``.
    """

    step: str
    kind: str
    event_id: int | None
    description: str


@dataclass(frozen=True, slots=True)
class WorstTicket:
    """A ticket with one of the lowest trace fitnesses.

    Attributes:
        ticket: source ticket id.
        fitness: trace fitness (0-1, pm4py's alignment fitness).
        cost: optimal alignment cost (10,000 per log or model move, 1 per silent move).
        events: events in the ticket.
        deviations: its deviations, in trace order.
        status: ``"closed"`` (full alignment) or ``"open"`` (prefix alignment).
        pending: for an open ticket, the steps the SOP expects next.
    """

    ticket: str
    fitness: float
    cost: int
    events: int
    deviations: tuple[TicketDeviation, ...]
    status: str = "closed"
    pending: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WeekConformance:
    """Conformance of the tickets opened in one ISO week.

    Attributes:
        week: ISO week, ``"2012-W14"``.
        start: its Monday, ISO date.
        tickets: tickets opened in the week (first event when the opening time is
            not recorded).
        fitting_tickets: of which trace fitness is 1.0.
        fitting_share: ``fitting_tickets / tickets`` (0-1).
        average_fitness: mean trace fitness (0-1).
        log_fitness: alignment log fitness of the week's tickets (0-1).
        deviations: deviations of the week's tickets.
        open_tickets: of the week's tickets, those still open (prefix alignments).
    """

    week: str
    start: str
    tickets: int
    fitting_tickets: int
    fitting_share: float
    average_fitness: float
    log_fitness: float
    deviations: int
    open_tickets: int = 0


@dataclass(frozen=True, slots=True)
class UnknownActivity:
    """A source activity the SOP does not know (no step, no alias).

    Attributes:
        activity: the source activity name.
        events: its events.
        tickets: tickets with at least one of them.
        examples: up to five of those tickets (sorted ids).
    """

    activity: str
    events: int
    tickets: int
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatusConformance:
    """Fitness and deviations of the closed tickets, or of the open ones.

    Closed tickets are held against whole SOP runs (full alignments); open tickets
    against the start of one (prefix alignments: the run may stop anywhere, the
    steps still to come are pending, not skipped).

    Attributes:
        status: ``"closed"`` or ``"open"``.
        alignment: ``"full"`` or ``"prefix"``.
        tickets: tickets in the group.
        stale: of them, stale (open, and quiet for longer than the horizon).
        events: their events.
        log_fitness: ``1 - sum(cost) / sum(len * 10,000 + w)`` over the group, ``w``
            the cheapest complete SOP run for closed tickets and 0 for open ones
            (the empty prefix fits); None without tickets.
        average_fitness: mean trace fitness; None without tickets.
        fitting_tickets: tickets with trace fitness 1.0.
        fitting_share: ``fitting_tickets / tickets``; None without tickets.
        deviations: deviation rows of the group's tickets (pending steps are not
            deviations).
        deviating_tickets: tickets with at least one deviation.
        kinds: deviations per kind.
    """

    status: str
    alignment: str
    tickets: int
    stale: int
    events: int
    log_fitness: float | None
    average_fitness: float | None
    fitting_tickets: int
    fitting_share: float | None
    deviations: int
    deviating_tickets: int
    kinds: dict[str, int]


@dataclass(frozen=True, slots=True)
class PendingStep:
    """A step the SOP expects next from an open ticket.

    The steps of the visible transitions enabled where the ticket's prefix alignment
    ends, directly or after silent routing moves: the next step or steps, not the
    whole rest of the flow.

    Attributes:
        step: SOP step name.
        label: display label (``"English / 中文"``).
        required: every way to finish the SOP from here goes through this step (the
            others are one option among several, e.g. an optional escalation).
    """

    step: str
    label: str
    required: bool


@dataclass(frozen=True)
class TicketAlignment:
    """One ticket's alignment with the SOP (see :func:`csmine.conformance.deviations.ticket_alignment`).

    Attributes:
        status: ``"closed"`` (full alignment) or ``"open"`` (prefix alignment).
        moves: the moves, silent ones left out.
        cost: optimal (prefix) alignment cost.
        fitness: trace fitness (prefix fitness ``1 - deviations / events`` when open).
        is_fit: ``fitness == 1.0``.
        pending: open tickets: the steps the SOP expects next, in SOP order.
    """

    status: str
    moves: tuple[AlignedMove, ...]
    cost: int
    fitness: float
    is_fit: bool
    pending: tuple[PendingStep, ...]


@dataclass(frozen=True, slots=True)
class ConformanceReport:
    """How well a set of tickets follows an SOP.

    Attributes:
        sop: SOP id.
        sop_title: SOP title.
        sop_version: SOP version.
        tickets: tickets checked.
        events: their events.
        variants: distinct step sequences (variants) aligned.
        log_fitness: alignment-based log fitness, 0-1 (pm4py ``fitness_alignments``
            ``log_fitness``): ``1 - sum(cost) / sum(len * 10,000 + w)`` over tickets,
            ``w`` the cost of the cheapest complete SOP run. 1.0: every event is
            explained by the SOP and no step is missing.
        average_fitness: mean trace fitness, 0-1 (pm4py ``average_trace_fitness``);
            a ticket's fitness is ``1 - deviations / (events + steps of the shortest
            SOP run)``.
        fitting_tickets: tickets with trace fitness 1.0 (no deviation at all).
        fitting_share: ``fitting_tickets / tickets`` (0-1; pm4py reports it as a
            percentage).
        precision: align-ETC precision, 0-1 (pm4py ``precision_alignments``): 1 minus
            the share of what the SOP allows after each observed prefix that no
            ticket does; low precision means the SOP allows much that never happens.
            None when not computed.
        deviations: deviations found (one per deviating event and per skipped step;
            an out-of-order or wrong-branch pair counts once).
        deviating_tickets: tickets with at least one deviation.
        kinds: deviations per kind (keys :data:`KINDS`).
        steps: per SOP step (flow steps, then off-flow steps, in SOP order) and per
            unknown activity (most events first): events and deviation counts.
        by_team: per team (``org:group`` of the deviating event, else ticket team),
            most deviations first.
        by_channel: per ticket channel.
        by_phase: per ticket phase.
        by_agent: per agent (``org:resource`` of the deviating event).
        worst: tickets with the lowest trace fitness (ties: highest cost, then id),
            with their deviations.
        weeks: per ISO week of opening, in time order.
        unknown_activities: source activities the SOP does not know, most events first.
        unknown_events: events of those activities.
        unknown_tickets: tickets with at least one of them.
        engine: alignment engine used (``"csmine"`` or ``"pm4py"``).
        closing: how tickets were judged closed or open, and how many are:
            ``closed``, ``open``, ``stale``, ``rule`` (in words), ``rule_known``
            (False: no closing rule applied, every ticket counted as ended),
            ``stale_after``, ``as_of`` (see :meth:`csmine.eventlog.lifecycle.TicketStatus.summary`).
        closed: the closed tickets' figures (full alignments).
        open: the open tickets' figures (prefix alignments).

    The headline figures (``log_fitness``, ``average_fitness``, ``fitting_*``,
    ``deviations``, ``kinds``) are over all tickets, each aligned as its status
    says; without open tickets they equal ``closed``'s.
    """

    sop: str
    sop_title: str
    sop_version: str
    tickets: int
    events: int
    variants: int
    log_fitness: float
    average_fitness: float
    fitting_tickets: int
    fitting_share: float
    precision: float | None
    deviations: int
    deviating_tickets: int
    kinds: dict[str, int]
    steps: tuple[StepConformance, ...]
    by_team: tuple[GroupConformance, ...]
    by_channel: tuple[GroupConformance, ...]
    by_phase: tuple[GroupConformance, ...]
    by_agent: tuple[GroupConformance, ...]
    worst: tuple[WorstTicket, ...]
    weeks: tuple[WeekConformance, ...]
    unknown_activities: tuple[UnknownActivity, ...]
    unknown_events: int
    unknown_tickets: int
    engine: str
    closing: dict[str, Any]
    closed: StatusConformance
    open: StatusConformance

    def step(self, name: str) -> StepConformance:
        """The row of ``steps`` for a step or unknown activity.

        Raises:
            KeyError: no such row.
        """
        for row in self.steps:
            if row.step == name:
                return row
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class AlignedMove:
    """One move of a ticket's alignment with the SOP (for trace and audit views).

    Attributes:
        move: ``"sync"`` (the event is the SOP's next step), ``"log"`` (an event the
            SOP cannot explain here) or ``"model"`` (a step the SOP expected here that
            the ticket did not do). Silent routing moves are left out.
        step: SOP step, or the source activity when the SOP does not know it.
        activity: the event's source activity; None for model moves.
        label: display label of the step (``"English / 中文"``).
        position: the event's position in the ticket (0-based); for model moves the
            position of the next event (the ticket's length at its end).
        event_id: the event's id, None for model moves.
        time: the event's business time, None for model moves.
        actor: ``org:resource`` of the event, None for model moves or when unknown.
        team: ``org:group`` of the event, None for model moves or when unknown.
        deviation: the deviation kind (one of :data:`KINDS`) or None for a
            conforming move. The model move paired with an out-of-order or
            wrong-branch event carries the same kind.
        description: the move in words.
    """

    move: str
    step: str
    activity: str | None
    label: str
    position: int
    event_id: int | None
    time: pd.Timestamp | None
    actor: str | None
    team: str | None
    deviation: str | None
    description: str


@dataclass(frozen=True)
class ConformanceAnalysis:
    """Everything one alignment pass yields, for callers that need several views.

    Attributes:
        report: the summary (see :class:`ConformanceReport`).
        tickets: per-ticket frame (see :func:`csmine.conformance.deviations.ticket_fitness`).
        deviations: one row per ticket x deviation (see :func:`csmine.conformance.deviations.ticket_deviations`).
    """

    report: ConformanceReport
    tickets: pd.DataFrame
    deviations: pd.DataFrame

