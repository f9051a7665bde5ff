"""A first SOP from the recorded tickets: ``csmine sop draft``.

What is drafted, and how:

1. **Which tickets.** Tickets are *closed* when their last event closes them: the
   activities ``closing`` names (``--closed-when``, or the import mapping's
   ``closed_when``), or else the *terminal* activities of the log (those that end at
   least 5% of the tickets and most of whose events end one: ``Closed``, BPIC 2013's
   ``Completed/Closed`` and ``Completed/In Call``; not ``Resolve ticket``, which is
   followed by ``Closed``). Without any, every ticket counts.
2. **Which behaviour.** The variants (activity sequences) of the closed tickets, most
   frequent first, until they make up ``coverage`` of them (0.9: the variants of 90% of
   the closed tickets). Activities in fewer than ``min_activity_share`` of those
   tickets are left out of the flow. What is left out is reported.
3. **The flow.** A *narrow inductive miner* (:mod:`csmine.mining.inductive`) over those variants, in csmine's own
   vocabulary only (seq, choice, optional, loop; no parallel): recursively, as
   pm4py's inductive miner (infrequent, IMf) does, an exclusive-choice cut (parts of
   the directly-follows graph that never follow each other), a sequence cut
   (strongly connected parts in their order), else a **hub loop**: status logs
   revolve around one status (``Accepted/In Progress``, ``Take in charge ticket``)
   that tickets leave and come back to, so the flow becomes *what comes before the
   hub* → (*hub* ↺ *what happens between two visits*) → *what comes after the last
   visit*; each of those three parts is a choice among its few frequent segments
   (a repeated status a loop), else mined again. Then IMf's loop cut, and a last
   resort: a repeatable choice of the remaining activities (a "flower", reported).
   Directly-follows edges weaker than ``noise`` times the strongest edge out of an
   activity are ignored (IMf's filter), but every activity keeps its strongest edge in
   and out. **Choices are kept to ``max_choice`` branches** (the heaviest ones); wider
   ones are cut and their activities reported as left out, since a choice of 30
   activities, or a loop around one, says "anything goes" (precision 0.25 on one
   public log) rather than what the floor does.
   The miner runs at a few noise levels (:data:`NOISE_LEVELS`); with an ``evaluate``
   function (alignment fitness and precision, as ``csmine conform`` computes them),
   the draft with the best harmonic mean of the two is kept.
4. **What the data tells.** Step names as in the log. A role per step: the team
   (``org:group``) that performs most of its events, else the resource. The close
   steps as the ``close`` role and ``closed_when``; ``resolution``: per closed ticket
   the first of its final closing states (``Resolved`` before ``Closed``), or the step
   right before a single close step when it (nearly, 80%) always leads to it
   (``Resolve ticket`` before ``Closed``; not ``Accepted/In Progress`` before
   ``Completed/In Call``); ``first_response``: the step most tickets take second;
   ``waiting``: proposed from the names (wait, pending, hold; not vendor, change,
   implementation). Time limits proposed from
   the observed 80th percentile (P80, wall clock, rounded up) of exactly what
   ``kpi`` measures for a limit: from the most recent ``since`` step (the step's most
   frequent predecessor, or the opening for the first response) to the step's first
   occurrence. Each is marked as a proposal; targets are left to fill in.

The id is the given name (or the output file's stem), never a UUID.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from csmine.errors import EmptyLogError, MiningError
from csmine.mining.draft_log import TicketSequences, covered_variants, terminal_activities, ticket_sequences
from csmine.mining.draft_roles import ProposedLimit, StepProfile, kpi_roles, propose_limits, step_profiles
from csmine.mining.draft_toml import DraftSummary, render_draft
from csmine.mining.inductive import MAX_CHOICE, Log, discover_flow
from process_models.flow import flow_to_text, iter_flow_steps

if TYPE_CHECKING:
    import pandas as pd

    from csmine.eventlog.lifecycle import ClosingRule
    from process_models import SOP
    from process_models.flow import Flow

#: IMf noise levels the miner tries (each draft is evaluated when it can be).
NOISE_LEVELS = (0.1, 0.2, 0.3)
#: Activities in fewer than this share of the covered tickets are left out.
MIN_ACTIVITY_SHARE = 0.01
_ID = re.compile(r"[^A-Za-z0-9_.-]+")

Evaluate = Callable[["SOP"], tuple[float, float | None]]


# -- result types -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftCandidate:
    """One flow the miner found, and how it did.

    Attributes:
        noise: the IMf noise level.  flow: the flow in one line.
        fitness: alignment log fitness (0-1) on the tickets, None if not evaluated.
        precision: align-ETC precision (0-1), None if not evaluated.
    """

    noise: float
    flow: str
    fitness: float | None
    precision: float | None


@dataclass(frozen=True, slots=True)
class LeftOut:
    """An activity the drafted flow leaves out.

    Attributes:
        activity: its name.  events: its events in the log.  tickets: tickets with it.
        why: ``rare`` (too few of the covered tickets), ``choice`` (a choice was cut to
            its heaviest branches), or ``variants`` (only in variants beyond the coverage).
    """

    activity: str
    events: int
    tickets: int
    why: str


@dataclass(frozen=True, slots=True)
class SopDraft:
    """An SOP drafted from recorded tickets (see the module docstring).

    Attributes:
        sop: the drafted SOP (as read back from ``text``).
        text: the SOP file (TOML), with the proposals and what to fill in as comments.
        tickets: tickets in the log.  closed_tickets: closed ones (all when no closing rule).
        close_steps: the activities that close a ticket.  close_inferred: found from the
            data (True) or from ``--closed-when`` (False).
        variants: variants of the closed tickets.  kept_variants: those making up the
            coverage.  kept_tickets: closed tickets following them.
        coverage: the coverage asked for (0-1).
        left_out: activities of the log the flow does not have.
        left_out_tickets: closed tickets whose variant is beyond the coverage.
        noise: the noise level of the chosen flow.
        fitness: alignment log fitness of the draft on all the tickets (0-1), None
            without an ``evaluate`` function.  precision: its align-ETC precision.
        candidates: every flow tried.
        steps: who performs each step.  limits: the proposed limits.
        notes: what the miner did that a reader should know (hub loops, cut choices).
    """

    sop: SOP
    text: str
    tickets: int
    closed_tickets: int
    close_steps: tuple[str, ...]
    close_inferred: bool
    variants: int
    kept_variants: int
    kept_tickets: int
    coverage: float
    left_out: tuple[LeftOut, ...]
    left_out_tickets: int
    noise: float
    fitness: float | None
    precision: float | None
    candidates: tuple[DraftCandidate, ...]
    steps: tuple[StepProfile, ...]
    limits: tuple[ProposedLimit, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self, file: str | None = None) -> dict[str, Any]:
        """Plain data for ``--json``: every field but ``sop`` (limits' ``within`` as text), the
        ``file`` written (or None) and the SOP's ``id``."""
        from process_models import format_duration

        data = {k: v for k, v in asdict(self).items() if k != "sop"}
        data["limits"] = [{**lim, "within": format_duration(lim["within"])} for lim in data["limits"]]
        data["file"] = file
        data["id"] = self.sop.id
        return data


def closing_for_draft(closing: ClosingRule, remembered: Sequence[str]) -> tuple[ClosingRule, str]:
    """The closing rule a draft uses and where it came from, in words: the states the import's
    mapping said close a ticket (``remembered``), else ``closing`` (``--closed-when``)."""
    if not remembered:
        return closing, "--closed-when"
    rule = replace(closing, closed_when="|".join(re.escape(x) for x in remembered))
    return rule, "the closed_when of the import's mapping"


# -- drafting -----------------------------------------------------------------------------------


def sop_id(name: str) -> str:
    """A valid SOP id from a name or file stem: letters, digits, ``-``, ``_``, ``.``."""
    cleaned = _ID.sub("-", name.strip()).strip("-.") or "draft"
    return cleaned if cleaned[0].isalnum() else f"sop-{cleaned}"


def draft_sop(
    df: pd.DataFrame,
    *,
    name: str,
    coverage: float = 0.9,
    closing: ClosingRule | None = None,
    evaluate: Evaluate | None = None,
    max_choice: int = MAX_CHOICE,
    min_activity_share: float = MIN_ACTIVITY_SHARE,
    noise_levels: Sequence[float] = NOISE_LEVELS,
    title: str | None = None,
    close_source: str = "--closed-when",
) -> SopDraft:
    """Draft an SOP from an event log (see the module docstring).

    Args:
        df: event-log frame, a ticket's events in time order (as
            :func:`csmine.eventlog.loading.load_event_log` and ``order_events`` give it).
        name: the SOP's id (cleaned to letters, digits, ``-``, ``_``, ``.``).
        coverage: share (0-1] of the closed tickets whose variants the flow covers.
        closing: ``--closed-when`` (its regex names the close steps); None or no regex:
            the terminal activities close tickets.
        close_source: where ``closing``'s regex came from, in words (for the file).
        evaluate: SOP -> (alignment log fitness, precision) on the tickets, e.g.
            :func:`csmine.conformance.deviations.check_conformance`'s figures; picks
            the best flow among the noise levels. None: the 0.2 noise level is kept and
            the figures are None.
        max_choice: the widest choice drafted.
        min_activity_share: activities in fewer of the covered tickets are left out.
        noise_levels: IMf noise levels to try.
        title: the SOP's title (default: ``<id> (draft)``).

    Raises:
        EmptyLogError: the log has no events.
        MiningError: ``coverage`` or ``max_choice`` out of range.
    """
    _check_arguments(df, coverage, max_choice)
    from process_models.validation import parse_sop_text

    sid, log = sop_id(name), ticket_sequences(df)
    closed = _closed_tickets(log, closing)
    behaviour = _behaviour(closed, coverage, min_activity_share)
    profiles = step_profiles(log, closed.activities)
    assemble = partial(_assemble, sid, log=log, close=closed.close, profiles=profiles, title=title)
    tried = _mine(behaviour.sub, noise_levels, max_choice, assemble, evaluate)
    chosen = _choose(tried, evaluated=evaluate is not None)
    limits = propose_limits(log, chosen.flow, closed.close)
    s = _summary(log, closed, behaviour, chosen, coverage, close_source)
    text = render_draft(assemble(chosen.flow, limits=limits), s, profiles, limits)
    return SopDraft(
        sop=parse_sop_text(text, f"{sid}.toml"), text=text, tickets=s.tickets, closed_tickets=s.closed,
        close_steps=s.close, close_inferred=closed.inferred, variants=s.variants, kept_variants=s.kept_variants,
        kept_tickets=s.kept_tickets, coverage=coverage, left_out=s.left, left_out_tickets=s.left_tickets,
        noise=s.noise, fitness=s.fitness, precision=s.precision,
        candidates=tuple(DraftCandidate(t.noise, flow_to_text(t.flow), t.fitness, t.precision) for t in tried),
        steps=tuple(profiles[step] for step in dict.fromkeys(iter_flow_steps(chosen.flow))), limits=tuple(limits),
        notes=s.notes,
    )


def _summary(log: TicketSequences, closed: _Closed, behaviour: _Behaviour, chosen: _Tried, coverage: float,
             close_source: str) -> DraftSummary:
    """What the draft says about the tickets it came from and what it left out."""
    n_closed, kept_tickets = len(closed.traces), behaviour.kept_tickets
    return DraftSummary(len(log.ids), n_closed, closed.close,
                        "their last events in the log" if closed.inferred else close_source, closed.variants,
                        len(behaviour.kept), kept_tickets, coverage, _left_out(log, closed.activities, chosen, behaviour),
                        n_closed - kept_tickets, chosen.noise, chosen.fitness, chosen.precision,
                        tuple(dict.fromkeys(chosen.notes)))


def _check_arguments(df: pd.DataFrame, coverage: float, max_choice: int) -> None:
    if not 0 < coverage <= 1:
        raise MiningError(f"--coverage must be in (0, 1], e.g. 0.9; got {coverage!r}")
    if max_choice < 2:
        raise MiningError(f"--max-choice must be 2 or more; got {max_choice!r}")
    if len(df) == 0:
        raise EmptyLogError("the event log is empty: nothing to draft from (check the filters)")


@dataclass(frozen=True, slots=True)
class _Closed:
    """Step 1: the log's activities, the steps that close a ticket, and the closed tickets' traces."""

    activities: list[str]
    close: tuple[str, ...]
    inferred: bool  # the close steps are the log's terminal activities (no closing rule given)
    traces: list[tuple[str, ...]]

    @property
    def variants(self) -> int:
        """Variants of the closed tickets."""
        return len(set(self.traces))


def _closed_tickets(log: TicketSequences, closing: ClosingRule | None) -> _Closed:
    activities = sorted({a for t in log.traces for a in t})
    if closing is not None and closing.closed_when:
        close = tuple(a for a in activities if closing.matches(a))
        inferred = False
    else:
        close, inferred = terminal_activities(log.traces), True
    closed = [t for t in log.traces if not close or t[-1] in close]
    return _Closed(activities, close, inferred, closed)


@dataclass(frozen=True, slots=True)
class _Behaviour:
    """Step 2: the variants kept for the coverage, the rare activities dropped, what the miner sees."""

    kept: Log
    kept_tickets: int
    rare: set[str]
    sub: Log  # the kept variants without the rare activities


def _behaviour(closed: _Closed, coverage: float, min_activity_share: float) -> _Behaviour:
    kept, kept_tickets = covered_variants(closed.traces, coverage)
    having: Counter[str] = Counter()
    for t, w in kept.items():
        for a in set(t):
            having[a] += w
    rare = {a for a, k in having.items() if k < min_activity_share * kept_tickets and a not in closed.close}
    sub: Log = defaultdict(int)
    for t, w in kept.items():
        sub[tuple(a for a in t if a not in rare)] += w
    return _Behaviour(kept, kept_tickets, rare, sub)


@dataclass(frozen=True, slots=True)
class _Tried:
    """Step 3: one flow the miner found at a noise level, and its figures when evaluated."""

    noise: float
    flow: Flow
    notes: list[str]
    cut: Counter[str]  # activities cut from wide choices
    fitness: float | None
    precision: float | None


def _mine(sub: Log, noise_levels: Sequence[float], max_choice: int, assemble: Callable[[Flow], SOP],
          evaluate: Evaluate | None) -> list[_Tried]:
    """The flow at each noise level; each distinct flow evaluated once (as an SOP without limits)."""
    tried: list[_Tried] = []
    seen: dict[str, tuple[float | None, float | None]] = {}
    for noise in noise_levels:
        flow, notes, cut = discover_flow(sub, noise=noise, max_choice=max_choice)
        if flow is None:
            continue
        key = flow_to_text(flow)
        if key not in seen:
            seen[key] = evaluate(assemble(flow)) if evaluate is not None else (None, None)
        tried.append(_Tried(noise, flow, notes, cut, *seen[key]))
    if not tried:
        raise EmptyLogError("no ticket has a step to draft from (check the filters and --closed-when)")
    return tried


def _choose(tried: list[_Tried], *, evaluated: bool) -> _Tried:
    """The best harmonic mean of fitness and precision (ties: noise 0.2, then the higher
    noise); unevaluated: the 0.2 noise level, else the first flow found."""
    if evaluated:
        return max(tried, key=lambda c: (_f1(c.fitness, c.precision), c.noise == 0.2, c.noise))
    return next((c for c in tried if c.noise == 0.2), tried[0])


def _left_out(log: TicketSequences, activities: list[str], chosen: _Tried, behaviour: _Behaviour) -> tuple[LeftOut, ...]:
    """The log's activities the chosen flow lacks, most events first, with why."""
    in_flow = set(iter_flow_steps(chosen.flow))
    ticket_counts = Counter(a for t in log.traces for a in set(t))
    event_counts = Counter(a for t in log.traces for a in t)
    covered_acts = {a for t in behaviour.kept for a in t}
    return tuple(
        LeftOut(a, event_counts[a], ticket_counts[a],
                "rare" if a in behaviour.rare else "choice" if a in chosen.cut or a in covered_acts else "variants")
        for a in sorted(activities, key=lambda a: (-event_counts[a], a)) if a not in in_flow
    )


def _f1(fitness: float | None, precision: float | None) -> float:
    if not fitness or not precision:
        return 0.0
    return 2 * fitness * precision / (fitness + precision)


def _assemble(sid: str, flow: Flow, log: TicketSequences, close: tuple[str, ...], profiles: dict[str, StepProfile],
              title: str | None, limits: list[ProposedLimit] | None = None) -> SOP:
    """The SOP of a flow: steps with their roles (and the limits, when given), KPI roles, closed_when."""
    from process_models import SOP, Step, TimeLimit

    steps = list(dict.fromkeys(iter_flow_steps(flow)))
    by_step = {lim.step: TimeLimit(lim.step, lim.within, lim.since) for lim in limits or []}
    roles = kpi_roles(log, flow, close)
    return SOP(
        id=sid, title=title or f"{sid} (draft)", version="0.1",
        steps=tuple(Step(s, "", profiles[s].role, by_step.get(s)) for s in steps),
        flow=flow, roles={k: tuple(v) for k, v in roles.items()},
        closed_when=tuple(c for c in close if c in steps),
    )


__all__ = [
    "NOISE_LEVELS", "DraftCandidate", "LeftOut", "SopDraft", "closing_for_draft", "draft_sop", "sop_id",
]
