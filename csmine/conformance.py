"""Conformance of tickets to an SOP: fitness, precision and deviations in plain words.

Every ticket's activity sequence is mapped onto the SOP's steps (step names and the
SOP's aliases) and aligned with the SOP's workflow net by an *optimal alignment*
(:mod:`csmine.alignments`, the same costs as pm4py's). Alignments are computed once per
*variant* (distinct step sequence) and the results are spread over the tickets with
numpy, so the cost grows with the number of variants, not tickets.

From the alignments come:

* **fitness** — pm4py's alignment-based figures: the log fitness
  ``1 - sum(cost) / sum(len * 10,000 + w)`` (``w``: cost of the cheapest complete run
  of the SOP) and the average trace fitness; the share of *fitting* tickets (trace
  fitness 1.0);
* **precision** — align-ETC (pm4py's ``precision_alignments``): how much of what the
  SOP allows is actually seen in the log;
* **deviations**, read from the alignment moves in the words a process designer or an
  auditor uses:

  ``skipped``
      a step of the SOP that the ticket did not do (a model move on a visible step);
  ``extra``
      an event the SOP does not allow at that point: an activity the SOP does not
      know, a step that is off the SOP's flow, or a step where the flow does not allow
      it (a log move that none of the rules below explains);
  ``out_of_order``
      a step done, but not where the SOP puts it: a log move of step X paired with a
      model move of X elsewhere in the same alignment (counted once, on X);
  ``repeated``
      a step done again where the SOP does not allow a repetition: a log move of a
      step the ticket already did earlier;
  ``wrong_branch``
      in an exclusive choice of the SOP, a step of one branch done where the SOP
      needed another branch: a log move of a step in one branch paired with a model
      move of a step in another branch of the same choice (counted once, on the step
      that was done).

Activities the SOP does not know are never dropped: they stay in the trace (so the
alignment counts them as log moves, lowering fitness), and they are reported with
their event and ticket counts.

**Open tickets.** With ``closing=`` (a :class:`csmine.lifecycle.ClosingRule`; the SOP's
``close`` role and ``closed_when`` apply), tickets that are not closed are *open*:
they are aligned by a *prefix alignment* (the cheapest SOP run that explains what
happened so far and may stop anywhere), so the steps still to come are not
deviations. The SOP steps an open ticket can do next are its *pending* steps. Closed
and open tickets get their own figures; alignments run once per distinct (variant,
open or closed) pair. Without ``closing`` every ticket counts as ended (full
alignments, pm4py's figures).
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Callable, Hashable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

import numpy as np
import pandas as pd

from csmine.errors import CsmineError, EmptyLogError
from csmine.mining import unique_ints, variant_ids

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet

    from csmine.lifecycle import ClosingRule
    from process_models import SOP

__all__ = [
    "KINDS",
    "AlignedMove",
    "ConformanceAnalysis",
    "ConformanceError",
    "ConformanceReport",
    "GroupConformance",
    "PendingStep",
    "StatusConformance",
    "StepConformance",
    "TicketAlignment",
    "TicketDeviation",
    "UnknownActivity",
    "WeekConformance",
    "WorstTicket",
    "align_ticket",
    "analyse_conformance",
    "check_conformance",
    "render_conformance_dot",
    "ticket_alignment",
    "ticket_deviations",
    "ticket_fitness",
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

_LOG_MOVE_COST = 10_000

Engine = Literal["auto", "csmine", "pm4py"]
StepStatus = Literal["flow", "off_flow", "unknown"]


class ConformanceError(CsmineError):
    """An event log cannot be checked against an SOP (missing columns, bad input)."""


# ---------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------


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
    """One ticket's alignment with the SOP (see :func:`ticket_alignment`).

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
            ``stale_after``, ``as_of`` (see :meth:`csmine.lifecycle.TicketStatus.summary`).
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
        tickets: per-ticket frame (see :func:`ticket_fitness`).
        deviations: one row per ticket x deviation (see :func:`ticket_deviations`).
    """

    report: ConformanceReport
    tickets: pd.DataFrame
    deviations: pd.DataFrame


# ---------------------------------------------------------------------------------
# SOP net, flow structure, alignment engines
# ---------------------------------------------------------------------------------

_NETS: OrderedDict[str, tuple[PetriNet, Marking, Marking]] = OrderedDict()
#: Variants whose alignment and classification are kept per process (oldest dropped).
_CACHE_SIZE = 50_000


class _BoundedCache(MutableMapping[Hashable, Any]):
    """A mapping over an OrderedDict that drops the oldest entries beyond ``size``."""

    def __init__(self, store: OrderedDict[Hashable, Any], size: int) -> None:
        self._store = store
        self._size = size

    def __getitem__(self, key: Hashable) -> Any:
        return self._store[key]

    def get(self, key: Hashable, default: Any = None) -> Any:
        return self._store.get(key, default)

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self._store[key] = value
        while len(self._store) > self._size:
            self._store.popitem(last=False)

    def __delitem__(self, key: Hashable) -> None:
        del self._store[key]

    def __iter__(self) -> Any:
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)


def sop_net(sop: SOP) -> tuple[PetriNet, Marking, Marking]:
    """The SOP's workflow net, built once per SOP content in this process.

    ``sop.to_petri_net()`` builds a new net with fresh transition ids each time; keeping
    one per SOP fingerprint lets the alignment caches work across calls.
    """
    key = sop.fingerprint
    net = _NETS.get(key)
    if net is None:
        net = sop.to_petri_net()
        _NETS[key] = net
        while len(_NETS) > 32:
            _NETS.popitem(last=False)
    return net


def _xor_partners(sop: SOP) -> dict[str, frozenset[str]]:
    """Step X -> steps Y in another branch of an exclusive choice that has X in one branch."""
    from process_models import FlowNode
    from process_models.model import iter_flow_steps

    pairs: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, FlowNode):
            return
        if node.operator == "xor":
            branches = [frozenset(iter_flow_steps(c)) for c in node.children]
            for i, bi in enumerate(branches):
                for j, bj in enumerate(branches):
                    if i == j:
                        continue
                    for x in bi - bj:
                        for y in bj - bi:
                            pairs.add((x, y))
        for child in node.children:
            walk(child)

    walk(sop.flow)
    partners: dict[str, set[str]] = {}
    for x, y in pairs:
        partners.setdefault(x, set()).add(y)
    return {x: frozenset(ys) for x, ys in partners.items()}


class _Move(NamedTuple):
    """A move as the classifier sees it (``csmine.alignments.Move`` has the same fields)."""

    kind: str  # sync / log / model / tau
    activity: str | None


class _MoveLike(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def activity(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class _Aligned:
    cost: int
    fitness: float
    moves: Sequence[_MoveLike]
    enabled: tuple[str, ...] = ()  # prefix alignments: steps allowed next
    required: tuple[str, ...] = ()  # ... of which every way to the end needs


def _resolve_engine(engine: Engine) -> str:
    if engine == "pm4py":
        return "pm4py"
    if engine not in ("auto", "csmine"):
        raise ConformanceError(f"unknown alignment engine {engine!r} (use 'auto', 'csmine' or 'pm4py')")
    try:
        from csmine import alignments  # noqa: F401
    except ImportError:
        if engine == "csmine":
            raise
        return "pm4py"
    return "csmine"


def _align(
    engine: str,
    net: tuple[PetriNet, Marking, Marking],
    variants: list[tuple[str, ...]],
    *,
    prefix: bool = False,
) -> list[_Aligned]:
    if engine == "csmine" or prefix:
        from csmine.alignments import align_variants

        # pm4py has no prefix alignment: its engine aligns prefixes against
        # csmine.alignments.prefix_net (the net with every place drainable)
        method = "pm4py" if engine == "pm4py" else "auto"
        return [
            _Aligned(a.cost, a.fitness, a.moves, a.enabled, a.required)
            for a in align_variants(*net, variants, prefix=prefix, method=method)
        ]
    return _align_pm4py(net, variants)


def _align_pm4py(
    net: tuple[PetriNet, Marking, Marking], variants: list[tuple[str, ...]]
) -> list[_Aligned]:
    """pm4py's state-equation A* (one process: never pm4py's multiprocessing)."""
    from pm4py.algo.conformance.alignments.petri_net import algorithm as pm_align
    from pm4py.objects.log.obj import Event, EventLog, Trace

    log = EventLog([Trace([Event({"concept:name": a}) for a in v]) for v in variants])
    results = pm_align.apply(
        log,
        *net,
        parameters={pm_align.Parameters.SHOW_PROGRESS_BAR: False},
        variant=pm_align.Variants.VERSION_STATE_EQUATION_A_STAR,
    )
    out = []
    for v, res in zip(variants, results, strict=True):
        if res is None:
            raise ConformanceError(f"pm4py found no alignment for the variant {v!r}")
        moves: list[_Move] = []
        for log_label, model_label in res["alignment"]:
            if log_label == ">>":
                moves.append(_Move("tau", None) if model_label is None else _Move("model", model_label))
            elif model_label == ">>":
                moves.append(_Move("log", log_label))
            else:
                moves.append(_Move("sync", log_label))
        out.append(_Aligned(int(res["cost"]), float(res["fitness"]), tuple(moves)))
    return out


# ---------------------------------------------------------------------------------
# Deviation classification (per variant)
# ---------------------------------------------------------------------------------


class _Item(NamedTuple):
    """A non-silent move of a variant's alignment, classified."""

    move: str  # sync / log / model
    label: str
    position: int  # event position (log/sync) or next event position (model)
    deviation: str | None
    related: str | None  # the other step of a wrong-branch pair
    late: bool | None  # out of order: the event came after where the SOP wanted it
    counted: bool  # a deviation row (paired model moves are not counted again)


def _classify(
    moves: Sequence[_MoveLike], flow_steps: frozenset[str], xor_partners: dict[str, frozenset[str]],
    pending: frozenset[str] = frozenset(),
) -> list[_Item]:
    raw: list[tuple[str, str, int]] = []
    pos = 0
    for kind, label in _later_log_moves(moves):
        if kind == "tau" or label is None:
            continue
        raw.append((kind, label, pos))
        if kind != "model":
            pos += 1
    model_idx = [i for i, (k, _, _) in enumerate(raw) if k == "model"]
    paired: dict[int, tuple[str, str | None, bool | None]] = {}
    items: list[_Item | None] = [None] * len(raw)
    seen: set[str] = set()

    def nearest(i: int, accept: frozenset[str]) -> int | None:
        """The unpaired model move closest to move i whose step is in ``accept``."""
        best: int | None = None
        for j in model_idx:
            if j in paired or raw[j][1] not in accept:
                continue
            if best is None or abs(j - i) < abs(best - i):
                best = j
        return best

    for i, (kind, label, p) in enumerate(raw):
        if kind == "model":
            continue
        if kind == "sync":
            items[i] = _Item("sync", label, p, None, None, None, False)
        else:
            related: str | None = None
            late: bool | None = None
            if label not in flow_steps:
                dev = "extra"
            else:
                j = nearest(i, frozenset((label,)))
                if j is not None:
                    dev, late = "out_of_order", j < i
                    paired[j] = (dev, None, late)
                elif label in seen:
                    dev = "repeated"
                elif label in pending:
                    # an open ticket did a step the SOP still expects next: done early
                    dev, late = "out_of_order", False
                else:
                    j = nearest(i, xor_partners.get(label, frozenset()))
                    if j is not None:
                        dev, related = "wrong_branch", raw[j][1]
                        paired[j] = (dev, label, None)
                    else:
                        dev = "extra"
            items[i] = _Item("log", label, p, dev, related, late, True)
        seen.add(label)
    for j in model_idx:
        label, p = raw[j][1], raw[j][2]
        if j in paired:
            dev, related, late = paired[j]
            items[j] = _Item("model", label, p, dev, related, late, False)
        else:
            items[j] = _Item("model", label, p, "skipped", None, None, True)
    return [it for it in items if it is not None]


def _later_log_moves(moves: Sequence[_MoveLike]) -> list[tuple[str, str | None]]:
    """The same alignment with each repeated event's *later* occurrence as the log move.

    When a log move of X is followed (with only log moves in between) by a
    synchronous X, the two can swap: the model fires X at the same marking and the
    trace is unchanged, so the cost is the same. Optimal alignments may put the log
    move on either occurrence; the audit reading is that the later one is the extra.
    """
    out = [(m.kind, m.activity) for m in moves]
    for i in range(len(out)):
        if out[i][0] != "log":
            continue
        j = i + 1
        while j < len(out) and out[j][0] == "log":
            j += 1
        if j < len(out) and out[j][0] == "sync" and out[j][1] == out[i][1]:
            out[i], out[j] = out[j], out[i]
    return out


def _describe(item: _Item, status: StepStatus) -> str:
    x = item.label
    if item.move == "sync":
        return f"{x} as the SOP expects"
    dev = item.deviation
    if dev == "skipped":
        return f"{x} skipped"
    if dev == "extra":
        if status == "unknown":
            return f"extra step {x!r}: not in the SOP"
        if status == "off_flow":
            return f"extra step {x}: off the SOP flow"
        return f"extra step {x}: not allowed at this point"
    if dev == "out_of_order":
        if item.move == "model":
            return f"{x} expected here, done {'earlier' if item.late else 'later'}"
        return f"{x} out of order: done {'later' if item.late else 'earlier'} than the SOP puts it"
    if dev == "repeated":
        return f"{x} repeated"
    if dev == "wrong_branch":
        if item.move == "model":
            return f"{x} expected here, branch {item.related} taken instead"
        return f"wrong branch: {x} instead of {item.related}"
    return x


# ---------------------------------------------------------------------------------
# The alignment pass
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pass:
    """One alignment pass: events, tickets and variants as numpy arrays."""

    events: pd.DataFrame  # the input sorted by ticket (stable), index 0..n-1
    activities: np.ndarray  # source activity per event (str objects)
    known: np.ndarray  # per event: the activity maps to an SOP step
    step_idx: np.ndarray  # per event: index into `steps`
    steps: list[str]  # SOP steps (flow, then off-flow) then unknown activities
    status: list[StepStatus]  # parallel to `steps`
    tickets: np.ndarray  # ticket ids, sorted (str objects)
    starts: np.ndarray  # first event row of each ticket
    lengths: np.ndarray  # events per ticket
    variant_of: np.ndarray  # variant index per ticket
    variants: list[tuple[str, ...]]
    cost: np.ndarray  # per variant
    fitness: np.ndarray  # per variant
    items: list[list[_Item]]  # classified moves per variant
    best_worst_cost: int
    engine: str
    activity_key: str
    timestamp_key: str
    opened: pd.Series  # per ticket: opening time (first event when not recorded)
    attrs: dict[str, np.ndarray]  # per ticket: team, channel, phase (None when absent)
    variant_open: np.ndarray  # per variant: an open (prefix) variant
    pending: list[tuple[str, ...]]  # per variant: steps allowed next (open variants)
    required: list[frozenset[str]]  # per variant: of those, the ones every way needs
    ticket_open: np.ndarray  # per ticket
    ticket_stale: np.ndarray  # per ticket
    closing: dict[str, Any]  # TicketStatus.summary() (or the "not applied" summary)

    @property
    def event_ticket(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.tickets)), self.lengths)

    @property
    def ticket_bwc(self) -> np.ndarray:
        """Per ticket the fitness denominator ``len * 10,000 + w`` (``w`` 0 when open)."""
        return self.lengths * _LOG_MOVE_COST + np.where(self.ticket_open, 0, self.best_worst_cost)


class _Classified(NamedTuple):
    cost: int
    fitness: float
    items: list[_Item]
    pending: tuple[str, ...] = ()  # open variants: steps allowed next, in SOP order
    required: frozenset[str] = frozenset()  # ... of which every way to the end needs


_CLASSIFIED: OrderedDict[Hashable, _Classified] = OrderedDict()


def _classified(sop: SOP, engine: str, variants: list[tuple[str, ...]], *,
                prefix: bool = False) -> list[_Classified]:
    """Alignment cost, fitness and classified moves per variant, cached per SOP content.

    With ``prefix`` the variants are open tickets' prefixes (prefix alignments, and
    the steps the SOP allows next as ``pending``).
    """
    cache = _BoundedCache(_CLASSIFIED, _CACHE_SIZE)
    key = (sop.fingerprint, engine, "prefix") if prefix else (sop.fingerprint, engine)
    out: list[_Classified | None] = [cache.get((*key, v)) for v in variants]
    todo = [i for i, r in enumerate(out) if r is None]
    if todo:
        flow_steps = frozenset(sop.flow_steps)
        partners = _xor_partners(sop)
        order = {step: i for i, step in enumerate(sop.flow_steps)}
        aligned = _align(engine, sop_net(sop), [variants[i] for i in todo], prefix=prefix)
        for i, a in zip(todo, aligned, strict=True):
            pending = tuple(sorted(a.enabled, key=lambda x: (order.get(x, len(order)), x)))
            items = _classify(a.moves, flow_steps, partners, frozenset(pending))
            result = _Classified(a.cost, a.fitness, items, pending, frozenset(a.required))
            cache[(*key, variants[i])] = result
            out[i] = result
    return [r for r in out if r is not None]


def _objects(values: Any) -> np.ndarray:
    """An object array with None for missing values."""
    out = np.asarray(values, dtype=object).copy()
    out[pd.isna(out)] = None
    return out


def _column(events: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    if name not in events.columns:
        return np.full(len(rows), None, dtype=object)
    return _objects(events[name].to_numpy(dtype=object)[rows])


def _not_applied(n: int) -> dict[str, Any]:
    return {
        "closed": n, "open": 0, "stale": 0,
        "rule": "closing not checked: every ticket counted as ended (full alignments)",
        "rule_known": False, "stale_after": None, "as_of": None,
    }


def _ticket_status(
    events: pd.DataFrame, sop: SOP, closing: ClosingRule, tickets: np.ndarray, *,
    case_id_key: str, activity_key: str, timestamp_key: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per ticket (in ``tickets`` order): open, stale; and the status summary."""
    from csmine.lifecycle import ACTIVITY, CASE_ID, OPEN, TIMESTAMP, ticket_status

    if timestamp_key not in events.columns:
        raise ConformanceError(
            f"cannot tell open tickets from closed ones: the event log has no column "
            f"{timestamp_key!r} (pass timestamp_key=, or closing=None to count every "
            "ticket as ended)"
        )
    frame = pd.DataFrame({
        CASE_ID: events[case_id_key].astype(str),
        ACTIVITY: events[activity_key].astype(str),
        TIMESTAMP: events[timestamp_key],
    })
    status = ticket_status(frame, sop, closing)
    if not status.known:
        n = len(tickets)
        summary = status.summary()
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), summary
    per = status.frame.reindex(pd.Index(np.asarray(tickets, dtype=object).astype(str)))
    is_open = (per["status"] == OPEN).to_numpy(dtype=bool)
    stale = per["stale"].fillna(False).to_numpy(dtype=bool)
    return is_open, stale, status.summary()


def _run(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool,
    engine: Engine,
    case_id_key: str,
    activity_key: str,
    timestamp_key: str,
    closing: ClosingRule | None = None,
    all_open: bool = False,
) -> _Pass:
    for key in (case_id_key, activity_key):
        if key not in df.columns:
            raise ConformanceError(
                f"cannot check conformance against SOP {sop.id!r}: the event log has no "
                f"column {key!r} (columns: {', '.join(map(str, df.columns[:12]))}; "
                "pass case_id_key=/activity_key=)"
            )
    if len(df) == 0:
        raise EmptyLogError(
            f"no events to check against SOP {sop.id!r}: the log (after filters) is empty"
        )
    # tickets in id order (stable): ranks of the distinct ids, then an integer sort
    case_codes, case_names = pd.factorize(df[case_id_key].astype(str), sort=True)
    order = np.argsort(case_codes, kind="stable")
    events = df.iloc[order]
    row_labels = events.index.to_numpy()
    events = events.reset_index(drop=True)
    events["_row"] = row_labels
    case_codes = case_codes[order]
    # activities: each distinct name mapped once, then spread by its code
    act_codes, act_names = pd.factorize(events[activity_key].astype(str), sort=False)
    act_names = np.asarray(act_names, dtype=object)
    acts = act_names[act_codes]

    # steps: the SOP's (flow steps first), then unknown activities by events
    vocabulary = sop.activity_map() if mapping else {n: n for n in sop.step_names}
    mapped_names = np.array([vocabulary.get(a) for a in act_names], dtype=object)
    known_names = np.array([m is not None for m in mapped_names], dtype=bool)
    known = known_names[act_codes]
    flow = set(sop.flow_steps)
    steps = [s for s in sop.step_names if s in flow] + [s for s in sop.step_names if s not in flow]
    status: list[StepStatus] = ["flow" if s in flow else "off_flow" for s in steps]
    if not known_names.all():
        counts = np.bincount(act_codes, minlength=len(act_names))
        events_of = {str(a): int(c) for a, c, k in zip(act_names, counts, known_names, strict=True) if not k}
        unknown = sorted(events_of, key=lambda a: (-events_of[a], a))
        steps += unknown
        status += ["unknown"] * len(unknown)
    step_of_name = pd.Index(steps).get_indexer(np.where(known_names, mapped_names, act_names)).astype(np.int64)
    step_idx = step_of_name[act_codes]

    n = len(events)
    boundary = np.r_[True, case_codes[1:] != case_codes[:-1]]
    starts = np.flatnonzero(boundary)
    lengths = np.diff(np.r_[starts, n])
    variant_of, sequences = variant_ids(step_idx, starts, lengths)
    tickets = np.asarray(case_names, dtype=object)[case_codes[starts]]

    # open and closed tickets: one alignment per distinct (variant, open) pair
    n_tickets = len(starts)
    if all_open:
        ticket_open, ticket_stale = np.ones(n_tickets, dtype=bool), np.zeros(n_tickets, dtype=bool)
        summary = {**_not_applied(0), "open": n_tickets, "rule": "the ticket is taken as open",
                   "rule_known": True}
    elif closing is not None:
        ticket_open, ticket_stale, summary = _ticket_status(
            events, sop, closing, tickets, case_id_key=case_id_key, activity_key=activity_key,
            timestamp_key=timestamp_key)
    else:
        ticket_open, ticket_stale = np.zeros(n_tickets, dtype=bool), np.zeros(n_tickets, dtype=bool)
        summary = _not_applied(n_tickets)
    if ticket_open.any():
        keys, variant_of = np.unique(variant_of * 2 + ticket_open, return_inverse=True)
        variant_of = variant_of.reshape(-1)
        variant_open = (keys % 2).astype(bool)
        sequences = [sequences[k] for k in (keys // 2).tolist()]
    else:
        variant_open = np.zeros(len(sequences), dtype=bool)
    variants = [tuple(steps[c] for c in seq) for seq in sequences]

    which = _resolve_engine(engine)
    closed_idx = np.flatnonzero(~variant_open).tolist()
    open_idx = np.flatnonzero(variant_open).tolist()
    closed_results = _classified(sop, which, [(), *(variants[i] for i in closed_idx)])
    best_worst_cost = closed_results[0].cost
    results: list[_Classified] = [closed_results[0]] * len(variants)
    for i, r in zip(closed_idx, closed_results[1:], strict=True):
        results[i] = r
    if open_idx:
        for i, r in zip(open_idx, _classified(sop, which, [variants[i] for i in open_idx], prefix=True),
                        strict=True):
            results[i] = r

    if "case:opened_at" in events.columns:
        opened = events["case:opened_at"].iloc[starts].reset_index(drop=True)
        if timestamp_key in events.columns:
            opened = opened.fillna(events[timestamp_key].iloc[starts].reset_index(drop=True))
    elif timestamp_key in events.columns:
        opened = events[timestamp_key].iloc[starts].reset_index(drop=True)
    else:
        opened = pd.Series(pd.NaT, index=range(len(starts)), dtype="datetime64[us, UTC]")
    attrs = {
        "team": _column(events, "case:team", starts),
        "channel": _column(events, "case:channel", starts),
        "phase": _column(events, "case:phase", starts),
    }
    return _Pass(
        events=events, activities=acts, known=known, step_idx=step_idx, steps=steps, status=status,
        tickets=tickets, starts=starts, lengths=lengths, variant_of=variant_of, variants=variants,
        cost=np.fromiter((r.cost for r in results), dtype=np.int64, count=len(results)),
        fitness=np.fromiter((r.fitness for r in results), dtype=np.float64, count=len(results)),
        items=[r.items for r in results], best_worst_cost=best_worst_cost, engine=which, activity_key=activity_key,
        timestamp_key=timestamp_key, opened=opened, attrs=attrs, variant_open=variant_open,
        pending=[r.pending for r in results], required=[r.required for r in results],
        ticket_open=ticket_open, ticket_stale=ticket_stale, closing=summary,
    )


@dataclass(frozen=True)
class _Devs:
    """Deviations, one entry per ticket x deviation, sorted by ticket then position."""

    tidx: np.ndarray  # ticket index
    step: np.ndarray  # index into _Pass.steps
    kind: np.ndarray  # index into KINDS
    on_event: np.ndarray  # the deviation is an event (not a skipped step)
    position: np.ndarray  # event position, or for a skipped step the next event's
    row: np.ndarray  # event row (on_event) else -1
    related: np.ndarray  # object: the other step of a wrong-branch pair
    description: np.ndarray  # object
    team: np.ndarray  # object: team the deviation is counted for
    agent: np.ndarray  # object: agent the deviation is counted for


def _deviations(run: _Pass) -> _Devs:
    """Classified moves per variant, spread over the tickets with numpy indexing."""
    index = {s: i for i, s in enumerate(run.steps)}
    kind_index = {k: i for i, k in enumerate(KINDS)}
    cols: dict[str, list[Any]] = {k: [] for k in ("step", "kind", "on_event", "position", "anchor",
                                                  "related", "description")}
    per_variant = np.zeros(len(run.items), dtype=np.int64)
    for v, its in enumerate(run.items):
        length = len(run.variants[v])
        for it in its:
            if not it.counted:
                continue
            per_variant[v] += 1
            cols["step"].append(index[it.label])
            cols["kind"].append(kind_index[str(it.deviation)])
            cols["on_event"].append(it.move == "log")
            cols["position"].append(it.position)
            # a skipped step is counted for the event done in its place (or the last one)
            cols["anchor"].append(min(it.position, length - 1))
            cols["related"].append(it.related)
            cols["description"].append(_describe(it, run.status[index[it.label]]))
    first = np.r_[0, np.cumsum(per_variant)[:-1]]
    per_ticket = per_variant[run.variant_of]
    total = int(per_ticket.sum())
    tidx = np.repeat(np.arange(len(run.tickets)), per_ticket)
    offset = np.arange(total) - np.repeat(np.cumsum(per_ticket) - per_ticket, per_ticket)
    k = first[run.variant_of[tidx]] + offset

    def take(name: str, dtype: Any) -> np.ndarray:
        return np.asarray(cols[name], dtype=dtype)[k] if total else np.zeros(0, dtype=dtype)

    on_event = take("on_event", bool)
    position = take("position", np.int64)
    anchor = take("anchor", np.int64)
    start = run.starts[tidx]
    row = np.where(on_event, start + position, -1)
    has_anchor = anchor >= 0
    anchor_row = start + np.maximum(anchor, 0)
    team = _column(run.events, "org:group", anchor_row)
    team[~has_anchor] = None
    missing = pd.isna(team)
    team[missing] = run.attrs["team"][tidx][missing]
    agent = _column(run.events, "org:resource", anchor_row)
    agent[~has_anchor] = None
    return _Devs(
        tidx=tidx, step=take("step", np.int64), kind=take("kind", np.int64), on_event=on_event,
        position=position, row=row, related=take("related", object), description=take("description", object),
        team=team, agent=agent,
    )


def _event_ids(events: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``@@event_id`` of rows as Python ints (the input frame's row label without it)."""
    column = "@@event_id" if "@@event_id" in events.columns else "_row"
    out = np.empty(len(rows), dtype=object)
    out[:] = events[column].to_numpy()[rows].tolist()
    return out


def _deviation_frame(run: _Pass, devs: _Devs) -> pd.DataFrame:
    on = devs.on_event
    rows = devs.row[on]
    event_id = np.full(len(on), None, dtype=object)
    event_id[on] = _event_ids(run.events, rows)
    activity = np.full(len(on), None, dtype=object)
    activity[on] = run.activities[rows]
    if run.timestamp_key in run.events.columns:
        stamps = run.events[run.timestamp_key].array
        time = pd.Series(stamps.take(np.where(on, devs.row, -1), allow_fill=True))
    else:
        time = pd.Series(pd.NaT, index=range(len(on)), dtype="datetime64[us, UTC]")
    steps = np.asarray(run.steps, dtype=object)
    kinds = np.asarray(KINDS, dtype=object)
    return pd.DataFrame(
        {
            "ticket": pd.Series(run.tickets[devs.tidx], dtype=object),
            "step": pd.Series(steps[devs.step] if len(steps) else [], dtype=object),
            "kind": pd.Series(kinds[devs.kind], dtype=object),
            "event_id": pd.Series(event_id, dtype=object),
            "position": devs.position,
            "activity": pd.Series(activity, dtype=object),
            "time": time,
            "related": pd.Series(devs.related, dtype=object),
            "description": pd.Series(devs.description, dtype=object),
            "team": pd.Series(devs.team, dtype=object),
            "agent": pd.Series(devs.agent, dtype=object),
            "channel": pd.Series(run.attrs["channel"][devs.tidx], dtype=object),
            "phase": pd.Series(run.attrs["phase"][devs.tidx], dtype=object),
        }
    )


# ---------------------------------------------------------------------------------
# Public analytics
# ---------------------------------------------------------------------------------


def analyse_conformance(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    worst: int = 10,
    precision: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> ConformanceAnalysis:
    """Align the tickets with the SOP once and return the report and both frames.

    Args and metrics: see :func:`check_conformance`, :func:`ticket_fitness` and
    :func:`ticket_deviations`.
    """
    run = _run(
        df, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, closing=closing,
    )
    devs = _deviations(run)
    prec: float | None = None
    if precision:
        prec = _precision(run, sop, case_id_key=case_id_key, timestamp_key=timestamp_key)
    report = _report(sop, run, devs, prec, worst=worst)
    return ConformanceAnalysis(report, _ticket_frame(run, devs), _deviation_frame(run, devs))


def check_conformance(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    worst: int = 10,
    precision: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> ConformanceReport:
    """Check an event log against an SOP with optimal alignments.

    Each ticket's activities are mapped to SOP steps (``sop.map_activity``: step names
    and aliases); activities the SOP does not know keep their name, are aligned as log
    moves (they lower fitness) and are listed in ``unknown_activities``. Alignments are
    exact (optimal, the standard costs: 10,000 per log or visible model move, 1 per
    silent move) and computed once per variant.

    Args:
        df: event-log frame, one row per event, events of a ticket in time order
            (as :func:`csmine.eventlog.load_event_log` returns). Optional columns
            used when present: ``org:group``, ``org:resource``, ``case:team``,
            ``case:channel``, ``case:phase``, ``case:opened_at``, ``@@event_id``.
        sop: the SOP to check against.
        mapping: map source activities with the SOP's aliases (``False``: only
            activities named exactly like a step count as that step).
        worst: how many of the lowest-fitness tickets to list.
        precision: compute align-ETC precision (cheap with the csmine engine).
        engine: ``"auto"`` (csmine's alignment engine), ``"csmine"`` or ``"pm4py"``
            (pm4py's state-equation A*, single process; same costs, slower).
        case_id_key: ticket id column.
        activity_key: activity column.
        timestamp_key: business time column.
        closing: tell open tickets from closed ones with this rule
            (:func:`csmine.lifecycle.ticket_status`: the SOP's ``close`` role and
            ``closed_when``, plus the rule's ``closed_when`` regex and stale horizon).
            Open tickets get prefix alignments (their steps still to come are
            pending, not skipped). None: every ticket counts as ended (full
            alignments for all, pm4py's figures). Where the rule knows no closing
            activity, every ticket is closed too, and ``report.closing`` says so.

    Returns:
        A :class:`ConformanceReport`.

    Raises:
        ConformanceError: a required column is missing.
        EmptyLogError: the log has no events.
    """
    return analyse_conformance(
        df, sop, mapping=mapping, worst=worst, precision=precision, engine=engine,
        case_id_key=case_id_key, activity_key=activity_key, timestamp_key=timestamp_key,
        closing=closing,
    ).report


def ticket_fitness(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> pd.DataFrame:
    """Per-ticket alignment fitness against an SOP.

    Returns:
        One row per ticket, index ``ticket`` (sorted), columns: ``fitness`` (pm4py's
        trace fitness, 0-1; for an open ticket the prefix fitness), ``cost``
        (optimal alignment cost, int, equal to pm4py's), ``is_fit`` (fitness ==
        1.0), ``events``, ``deviations`` (deviation count), ``variant`` (variant
        number within this log, open and closed tickets apart), ``opened_at``,
        ``week`` (ISO week of opening), ``team``, ``channel``, ``phase`` (ticket
        attributes, None when absent), one count column per deviation kind,
        ``status`` (``closed``/``open``, see ``closing`` in
        :func:`check_conformance`), ``stale`` and ``pending`` (open tickets: the
        steps the SOP expects next, a tuple).
    """
    run = _run(
        df, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, closing=closing,
    )
    return _ticket_frame(run, _deviations(run))


def ticket_deviations(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> pd.DataFrame:
    """Every deviation of every ticket from the SOP, in words.

    With ``closing`` (see :func:`check_conformance`) open tickets are held against
    the start of an SOP run: the steps they have still to do are not deviations.

    Returns:
        One row per ticket x deviation, sorted by ticket then position, columns:
        ``ticket``; ``step`` (SOP step, or the source activity for activities the SOP
        does not know); ``kind`` (one of :data:`KINDS`); ``event_id`` (the deviating
        event's ``@@event_id`` -- the frame's row label when that column is absent --
        or None for a skipped step); ``position`` (the event's position in the
        ticket, or for a skipped step the position of the event that came in its
        place); ``activity`` (source activity, None for skipped); ``time`` (business
        time, None for skipped); ``related`` (for wrong branch: the step the SOP
        expected); ``description`` (in words); ``team``, ``agent`` (who the deviation
        is counted for, see :class:`GroupConformance`), ``channel``, ``phase``.
    """
    run = _run(
        df, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, closing=closing,
    )
    return _deviation_frame(run, _deviations(run))


def align_ticket(
    df_one_ticket: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    open_ticket: bool = False,
) -> list[AlignedMove]:
    """The optimal alignment of one ticket with the SOP, move by move.

    Args:
        df_one_ticket: the ticket's events (one ticket only), in time order.
        sop: the SOP.
        mapping: see :func:`check_conformance`.
        engine: see :func:`check_conformance`.
        case_id_key: ticket id column.
        activity_key: activity column.
        timestamp_key: business time column.
        open_ticket: the ticket is still open: a prefix alignment (the steps still
            to come are not model moves; see :func:`ticket_alignment` for them).

    Returns:
        The moves in order, silent moves left out; each event appears once (as a
        sync or log move), each skipped SOP step as a model move.

    Raises:
        ConformanceError: the frame holds more than one ticket, or a column is missing.
        EmptyLogError: the frame is empty.
    """
    return list(ticket_alignment(
        df_one_ticket, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, open_ticket=open_ticket,
    ).moves)


def ticket_alignment(
    df_one_ticket: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    open_ticket: bool = False,
) -> TicketAlignment:
    """One ticket's alignment with the SOP: moves, cost, fitness and pending steps.

    A closed ticket (``open_ticket=False``) is held against a whole SOP run, an open
    one against the start of one (a prefix alignment): its fitness is ``1 -
    deviations / events`` (1.0 when what happened so far fits) and ``pending`` lists
    the steps the SOP expects next (see :class:`PendingStep`).

    Args: see :func:`align_ticket`.

    Raises:
        ConformanceError: the frame holds more than one ticket, or a column is missing.
        EmptyLogError: the frame is empty.
    """
    if case_id_key in df_one_ticket.columns and df_one_ticket[case_id_key].nunique() > 1:
        raise ConformanceError(
            f"align_ticket takes one ticket, got {df_one_ticket[case_id_key].nunique()} "
            "(select one with df[df['case:concept:name'] == TICKET])"
        )
    run = _run(
        df_one_ticket, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, all_open=open_ticket,
    )
    events = run.events
    every = np.arange(len(events))
    ids = _event_ids(events, every)
    acts = run.activities
    times = events[timestamp_key].to_numpy(dtype=object) if timestamp_key in events.columns else None
    actors = _column(events, "org:resource", every)
    teams = _column(events, "org:group", every)
    labels = _labeller(sop)
    status = dict(zip(run.steps, run.status, strict=True))
    out = []
    for it in run.items[0]:
        on_event = it.move != "model"
        p = it.position
        out.append(
            AlignedMove(
                move=it.move,
                step=it.label,
                activity=str(acts[p]) if on_event else None,
                label=labels(it.label),
                position=p,
                event_id=ids[p] if on_event else None,
                time=pd.Timestamp(times[p]) if on_event and times is not None else None,
                actor=actors[p] if on_event else None,
                team=teams[p] if on_event else None,
                deviation=it.deviation,
                description=_describe(it, status.get(it.label, "unknown")),
            )
        )
    pending = tuple(PendingStep(step, labels(step), step in run.required[0]) for step in run.pending[0])
    fitness = float(run.fitness[0])
    return TicketAlignment("open" if open_ticket else "closed", tuple(out), int(run.cost[0]), fitness,
                           fitness == 1.0, pending)


# ---------------------------------------------------------------------------------
# Report assembly
# ---------------------------------------------------------------------------------


def _labeller(sop: SOP) -> Callable[[str], str]:
    names = set(sop.step_names)

    def label(step: str) -> str:
        return sop.label(step) if step in names else step

    return label


def _precision(run: _Pass, sop: SOP, *, case_id_key: str, timestamp_key: str) -> float:
    frame = pd.DataFrame(
        {
            case_id_key: np.repeat(run.tickets, run.lengths),
            "concept:name": np.asarray(run.steps, dtype=object)[run.step_idx],
        }
    )
    if timestamp_key in run.events.columns:
        frame[timestamp_key] = run.events[timestamp_key].array
    else:
        frame[timestamp_key] = pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(frame)), unit="s")
    net = sop_net(sop)
    if run.engine == "csmine":
        from csmine.alignments import precision_alignments

        return float(precision_alignments(frame, *net, case_id_key=case_id_key, timestamp_key=timestamp_key))
    import pm4py

    return float(
        pm4py.precision_alignments(
            frame, *net, multi_processing=False, activity_key="concept:name",
            case_id_key=case_id_key, timestamp_key=timestamp_key,
        )
    )


def _iso_weeks(opened: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO week label (``2024-W10``) and its Monday per ticket (UTC dates); None if unknown."""
    from datetime import timedelta

    stamps = pd.to_datetime(opened, utc=True).dt.tz_convert(None)
    days = stamps.to_numpy().astype("datetime64[D]")
    valid = ~np.isnat(days)
    labels = np.full(len(days), None, dtype=object)
    mondays = np.full(len(days), None, dtype=object)
    if valid.any():
        uniq, inverse = np.unique(days[valid], return_inverse=True)
        lab, mon = [], []
        for d in uniq.tolist():
            year, week, weekday = d.isocalendar()
            lab.append(f"{year}-W{week:02d}")
            mon.append((d - timedelta(days=weekday - 1)).isoformat())
        labels[valid] = np.asarray(lab, dtype=object)[inverse]
        mondays[valid] = np.asarray(mon, dtype=object)[inverse]
    return labels, mondays


def _per_ticket_kinds(run: _Pass, devs: _Devs) -> np.ndarray:
    n, k = len(run.tickets), len(KINDS)
    return np.bincount(devs.tidx * k + devs.kind, minlength=n * k).reshape(n, k)


def _ticket_frame(run: _Pass, devs: _Devs) -> pd.DataFrame:
    week, _ = _iso_weeks(run.opened)
    fitness = run.fitness[run.variant_of]
    kinds = _per_ticket_kinds(run, devs)
    frame = pd.DataFrame(
        {
            "fitness": fitness,
            "cost": run.cost[run.variant_of],
            "is_fit": fitness == 1.0,
            "events": run.lengths,
            "deviations": kinds.sum(axis=1),
            "variant": run.variant_of,
            "opened_at": run.opened.array,
            "week": pd.Series(week, dtype=object),
            "team": pd.Series(run.attrs["team"], dtype=object),
            "channel": pd.Series(run.attrs["channel"], dtype=object),
            "phase": pd.Series(run.attrs["phase"], dtype=object),
            **{kind: kinds[:, i] for i, kind in enumerate(KINDS)},
            "status": pd.Series(np.where(run.ticket_open, "open", "closed"), dtype=object),
            "stale": run.ticket_stale,
            "pending": pd.Series(_per_ticket(run.pending, run.variant_of), dtype=object),
        },
    )
    frame.index = pd.Index(run.tickets, dtype=object, name="ticket")
    return frame


def _per_ticket(per_variant: list[Any], variant_of: np.ndarray) -> np.ndarray:
    """An object array spreading one value per variant over the tickets."""
    values = np.empty(len(per_variant), dtype=object)
    for i, v in enumerate(per_variant):
        values[i] = v
    return values[variant_of] if len(per_variant) else np.empty(0, dtype=object)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the distinct values (as str), missing values as ``(none)``."""
    codes, uniq = pd.factorize(values)
    names = np.asarray([str(u) for u in uniq], dtype=object)
    missing = codes < 0
    if missing.any():
        codes = codes.copy()
        codes[missing] = len(names)
        names = np.append(names, "(none)")
    return codes.astype(np.int64), names


def _groups(
    values: np.ndarray, tidx: np.ndarray, dev_values: np.ndarray, dev_kind: np.ndarray,
    fitness: np.ndarray, is_fit: np.ndarray,
) -> tuple[GroupConformance, ...]:
    """Per value: its tickets' fitness and the deviations counted for it.

    ``values``/``tidx`` are distinct (value, ticket) pairs; missing values read ``(none)``.
    """
    if len(values) == 0:
        return ()
    codes, uniq = _codes(values)
    g, nk = len(uniq), len(KINDS)
    tickets = np.bincount(codes, minlength=g)
    fitting = np.bincount(codes, weights=is_fit[tidx].astype(np.float64), minlength=g) / tickets
    average = np.bincount(codes, weights=fitness[tidx], minlength=g) / tickets
    dev_values = np.asarray([("(none)" if v is None else str(v)) for v in dev_values], dtype=object)
    dcode = pd.Index(uniq).get_indexer(dev_values) if len(dev_values) else np.zeros(0, dtype=np.int64)
    ok = dcode >= 0
    counts = np.bincount(dcode[ok] * nk + dev_kind[ok], minlength=g * nk).reshape(g, nk)
    total = counts.sum(axis=1)
    rows = [
        GroupConformance(
            value=str(uniq[i]), tickets=int(tickets[i]), fitting_share=float(fitting[i]),
            average_fitness=float(average[i]), deviations=int(total[i]),
            deviations_per_ticket=float(total[i]) / float(tickets[i]),
            skipped=int(counts[i, 0]), extra=int(counts[i, 1]), out_of_order=int(counts[i, 2]),
            repeated=int(counts[i, 3]), wrong_branch=int(counts[i, 4]),
        )
        for i in range(g)
    ]
    rows.sort(key=lambda r: (-r.deviations, -r.tickets, r.value))
    return tuple(rows)


def _event_pairs(run: _Pass, column: str, fallback: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (value of an event column, ticket) pairs; a missing value takes ``fallback``."""
    events = run.events
    if column in events.columns:
        values = events[column].to_numpy(dtype=object)
        if fallback is not None:
            missing = pd.isna(values)
            if missing.any():
                values = values.copy()
                values[missing] = run.attrs[fallback][run.event_ticket][missing]
    elif fallback is not None and any(v is not None for v in run.attrs[fallback]):
        values = run.attrs[fallback][run.event_ticket]
    else:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
    codes, uniq = _codes(values)
    n = len(run.tickets)
    keys = unique_ints(codes * n + run.event_ticket)
    return uniq[keys // n], keys % n


def _report(sop: SOP, run: _Pass, devs: _Devs, precision: float | None, *, worst: int) -> ConformanceReport:
    n, s_count, nk = len(run.tickets), len(run.steps), len(KINDS)
    fitness = run.fitness[run.variant_of]
    cost = run.cost[run.variant_of]
    is_fit = fitness == 1.0
    sum_bwc = int(run.ticket_bwc.sum())
    # sequential summation in ticket order, as pm4py accumulates
    average = float(np.cumsum(fitness)[-1]) / n
    log_fitness = 1.0 - (float(cost.sum()) / float(sum_bwc) if sum_bwc > 0 else 0.0)
    labels = _labeller(sop)
    ev_ticket = run.event_ticket

    # per step
    events_per_step = np.bincount(run.step_idx, minlength=s_count)
    pairs = unique_ints(ev_ticket * s_count + run.step_idx)
    tickets_per_step = np.bincount(pairs % s_count, minlength=s_count)
    kinds = np.bincount(devs.step * nk + devs.kind, minlength=s_count * nk).reshape(s_count, nk)

    def tickets_with(mask: np.ndarray) -> np.ndarray:
        keys = unique_ints(devs.tidx[mask] * s_count + devs.step[mask])
        return np.bincount(keys % s_count, minlength=s_count)

    anything = tickets_with(np.ones(len(devs.tidx), dtype=bool))
    skipped = tickets_with(devs.kind == 0)
    violated = tickets_with(devs.kind != 0)
    # open tickets per step the SOP expects next
    pending = np.zeros(s_count, dtype=np.int64)
    if run.ticket_open.any():
        per_variant = np.bincount(run.variant_of, minlength=len(run.variants))
        index = {name: i for i, name in enumerate(run.steps)}
        for v in np.flatnonzero(run.variant_open).tolist():
            for step in run.pending[v]:
                if step in index:
                    pending[index[step]] += per_variant[v]
    steps = tuple(
        StepConformance(
            step=run.steps[i], label=labels(run.steps[i]), status=run.status[i],
            events=int(events_per_step[i]), tickets=int(tickets_per_step[i]),
            skipped=int(kinds[i, 0]), extra=int(kinds[i, 1]), out_of_order=int(kinds[i, 2]),
            repeated=int(kinds[i, 3]), wrong_branch=int(kinds[i, 4]),
            deviations=int(kinds[i].sum()), deviating_tickets=int(anything[i]),
            skipped_share=float(skipped[i]) / n, violated_share=float(violated[i]) / n,
            deviating_share=float(anything[i]) / n, pending=int(pending[i]),
        )
        for i in range(s_count)
    )

    # breakdowns
    by: dict[str, tuple[GroupConformance, ...]] = {}
    for name, column, fallback, dev_values in (
        ("team", "org:group", "team", devs.team),
        ("agent", "org:resource", None, devs.agent),
    ):
        values, tidx = _event_pairs(run, column, fallback)
        by[name] = _groups(values, tidx, dev_values, devs.kind, fitness, is_fit)
    for name in ("channel", "phase"):
        values = run.attrs[name]
        by[name] = (
            _groups(values, np.arange(n), values[devs.tidx], devs.kind, fitness, is_fit)
            if any(v is not None for v in values) else ()
        )

    # worst tickets: lowest fitness, then highest cost, then ticket id (tickets are sorted)
    ranked = np.lexsort((np.arange(n), -cost, fitness))
    ranked = ranked[~is_fit[ranked]][: max(worst, 0)]
    dev_first = np.searchsorted(devs.tidx, ranked, side="left")
    dev_last = np.searchsorted(devs.tidx, ranked, side="right")
    worst_rows = []
    for t, lo, hi in zip(ranked.tolist(), dev_first.tolist(), dev_last.tolist(), strict=True):
        found = []
        for j in range(lo, hi):
            eid = None
            if devs.on_event[j]:
                eid = int(_event_ids(run.events, devs.row[j : j + 1])[0])
            found.append(TicketDeviation(run.steps[devs.step[j]], KINDS[devs.kind[j]], eid,
                                         str(devs.description[j])))
        is_open = bool(run.ticket_open[t])
        worst_rows.append(WorstTicket(str(run.tickets[t]), float(fitness[t]), int(cost[t]),
                                      int(run.lengths[t]), tuple(found), "open" if is_open else "closed",
                                      run.pending[run.variant_of[t]] if is_open else ()))

    # weeks
    week, monday = _iso_weeks(run.opened)
    weeks = []
    valid = np.flatnonzero(week != None)  # noqa: E711 - elementwise on an object array
    if len(valid):
        codes, uniq = np.unique(week[valid].astype(str), return_inverse=True)
        g = len(codes)
        per_ticket_dev = np.bincount(devs.tidx, minlength=n)
        bwc = run.ticket_bwc

        def per_week(values: np.ndarray) -> np.ndarray:
            return np.bincount(uniq, weights=values[valid].astype(np.float64), minlength=g)

        count = np.bincount(uniq, minlength=g)
        fit_sum, fitting = per_week(fitness), per_week(is_fit)
        cost_sum, bwc_sum, dev_sum = per_week(cost), per_week(bwc), per_week(per_ticket_dev)
        open_sum = per_week(run.ticket_open)
        first_monday: dict[str, str] = {}
        for label, m in zip(week[valid].tolist(), monday[valid].tolist(), strict=True):
            first_monday.setdefault(label, m)
        for i, label in enumerate(codes.tolist()):
            weeks.append(WeekConformance(
                label, first_monday[label], int(count[i]), int(fitting[i]), float(fitting[i]) / int(count[i]),
                float(fit_sum[i]) / int(count[i]),
                1.0 - float(cost_sum[i]) / float(bwc_sum[i]) if bwc_sum[i] > 0 else 0.0, int(dev_sum[i]),
                int(open_sum[i]),
            ))

    # unknown activities
    unknown = []
    unknown_mask = ~run.known
    for i in range(s_count):
        if run.status[i] != "unknown":
            continue
        examples = run.tickets[unique_ints(ev_ticket[run.step_idx == i])[:5]]
        unknown.append(UnknownActivity(run.steps[i], int(events_per_step[i]), int(tickets_per_step[i]),
                                       tuple(str(x) for x in examples)))

    kind_totals = np.bincount(devs.kind, minlength=nk)
    return ConformanceReport(
        sop=sop.id, sop_title=sop.title, sop_version=sop.version,
        tickets=n, events=len(run.events), variants=len(run.variants),
        log_fitness=log_fitness, average_fitness=average, fitting_tickets=int(is_fit.sum()),
        fitting_share=float(is_fit.sum()) / n, precision=precision,
        deviations=len(devs.tidx), deviating_tickets=len(unique_ints(devs.tidx)),
        kinds={k: int(kind_totals[i]) for i, k in enumerate(KINDS)},
        steps=steps, by_team=by["team"], by_channel=by["channel"], by_phase=by["phase"], by_agent=by["agent"],
        worst=tuple(worst_rows), weeks=tuple(weeks), unknown_activities=tuple(unknown),
        unknown_events=int(unknown_mask.sum()), unknown_tickets=len(unique_ints(ev_ticket[unknown_mask])),
        engine=run.engine, closing=dict(run.closing),
        closed=_status_group(run, devs, ~run.ticket_open, "closed"),
        open=_status_group(run, devs, run.ticket_open, "open"),
    )


def _status_group(run: _Pass, devs: _Devs, mask: np.ndarray, status: str) -> StatusConformance:
    """Fitness and deviations of the tickets in ``mask`` (the closed or the open ones)."""
    members = np.flatnonzero(mask)
    m = len(members)
    fitness = run.fitness[run.variant_of[members]]
    cost = run.cost[run.variant_of[members]]
    bwc = int(run.ticket_bwc[members].sum())
    in_group = mask[devs.tidx]
    kinds = np.bincount(devs.kind[in_group], minlength=len(KINDS))
    fitting = int((fitness == 1.0).sum())
    return StatusConformance(
        status=status, alignment="prefix" if status == "open" else "full", tickets=m,
        stale=int(run.ticket_stale[members].sum()), events=int(run.lengths[members].sum()),
        log_fitness=(1.0 - (float(cost.sum()) / float(bwc) if bwc > 0 else 0.0)) if m else None,
        average_fitness=float(np.cumsum(fitness)[-1]) / m if m else None,
        fitting_tickets=fitting, fitting_share=fitting / m if m else None,
        deviations=int(in_group.sum()), deviating_tickets=len(unique_ints(devs.tidx[in_group])),
        kinds={k: int(kinds[i]) for i, k in enumerate(KINDS)},
    )


# ---------------------------------------------------------------------------------
# The SOP flowchart with the conformance overlay
# ---------------------------------------------------------------------------------

#: Colours of a step by the share of tickets with a deviation on it: (upper bound, fill).
SHARE_COLOURS: tuple[tuple[float, str], ...] = (
    (0.0, "#e3f2e1"),
    (0.05, "#fff2b8"),
    (0.20, "#ffc27a"),
    (0.50, "#f27c5c"),
    (1.01, "#c8372d"),
)



def share_colour(share: float) -> str:
    """Fill colour for a step whose deviating share is ``share`` (0-1).

    Green: no deviation; yellow: under 5% of tickets; orange: 5-20%; red: 20-50%;
    dark red: 50% or more.
    """
    if share <= 0.0:
        return SHARE_COLOURS[0][1]
    for bound, colour in SHARE_COLOURS[1:]:
        if share < bound:
            return colour
    return SHARE_COLOURS[-1][1]


def _pct(x: float) -> str:
    if x == 0:
        return "0%"
    if x < 0.001:
        return "<0.1%"
    return f"{x * 100:.1f}%"


def render_conformance_dot(sop: SOP, report: ConformanceReport) -> str:
    """The SOP flowchart with each step coloured by how often it is skipped or violated.

    Drawn by :func:`process_models.render.render_sop` with an overlay: each step's
    fill goes from green (no deviation) through yellow and orange to red by the
    share of tickets with a deviation on it (see :func:`share_colour`), and steps
    with deviations get a line "skipped x% · violated y%" (shares of all checked
    tickets; violated = extra, out of order, repeated or wrong branch). Activities
    the SOP does not know are added apart, dashed, with their extra-step counts; a
    legend gives the colour bands and the report's headline figures. Fonts are Noto
    Sans CJK SC, so Chinese labels render.

    Returns:
        Graphviz DOT source (render with ``dot -Tsvg`` or ``-Tpng``).
    """
    from process_models.render import FONT, render_sop

    overlay: dict[str, tuple[str, str]] = {}
    for row in report.steps:
        if row.status == "unknown":
            continue
        text = ""
        if row.deviations:
            text = f"skipped {_pct(row.skipped_share)} · violated {_pct(row.violated_share)}"
            if row.status == "off_flow":
                text = f"extra {row.extra:,} in {_pct(row.deviating_share)} of tickets"
        overlay[row.step] = (share_colour(row.deviating_share), text)
    body = render_sop(sop, overlay).rstrip()
    if not body.endswith("}"):
        raise ConformanceError("cannot add the conformance overlay: unexpected flowchart source")
    lines = [body[:-1].rstrip()]
    unknown = [row for row in report.steps if row.status == "unknown"]
    if unknown:
        lines.append("  subgraph cluster_unknown {")
        lines.append(
            f'    label="not in the SOP 未知活动" fontsize=11 style="dashed,rounded" '
            f'color="#999999" fontname="{FONT}";'
        )
        for i, row in enumerate(unknown):
            lines.append(
                f'    unknown{i} [shape=box style="rounded,filled,dashed" '
                f'fillcolor="{share_colour(row.deviating_share)}" color="#8b1a1a" '
                f'label=<<B>{html.escape(row.step)}</B><BR/><FONT POINT-SIZE="10">{row.events:,} events, '
                f"{row.deviating_tickets:,} tickets ({_pct(row.deviating_share)})</FONT>>];"
            )
        lines.append("  }")
    headline = html.escape(
        f"{report.tickets:,} tickets · log fitness {report.log_fitness:.3f} · "
        f"fitting {_pct(report.fitting_share)}"
        + (f" · precision {report.precision:.3f}" if report.precision is not None else "")
    )
    cells = "".join(
        f'<TD BGCOLOR="{colour}">{text}</TD>'
        for text, colour in zip(
            ("0", "&lt;5%", "5-20%", "20-50%", "≥50%"), (c for _, c in SHARE_COLOURS), strict=True
        )
    )
    lines.append(
        '  legend [shape=plaintext style="" label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" '
        f'CELLPADDING="3"><TR><TD COLSPAN="5"><B>{headline}</B></TD></TR>'
        '<TR><TD COLSPAN="5"><FONT POINT-SIZE="10">tickets with a deviation on the step '
        f"偏差工单占比</FONT></TD></TR><TR>{cells}</TR></TABLE>>];"
    )
    return "\n".join([*lines, "}"]) + "\n"
