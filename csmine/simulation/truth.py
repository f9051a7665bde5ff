"""The ground truth a simulation writes down: the designed and the realised value of each built-in effect."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime
from typing import Any

from event_store.records import TicketHistory

from csmine.simulation.config import PhaseSpec


@dataclass(frozen=True, slots=True)
class PhaseRate:
    """A share of tickets in one phase.

    Attributes:
        phase: phase name, or ``"(no phase)"`` for tickets outside every phase
            (other regions during the pilot: the old SOP, a concurrent control).
        tickets: denominator (tickets of the phase the rate is about).
        count: numerator.
        share: ``count / tickets`` in [0, 1]; NaN when ``tickets`` is 0.
        designed: the value the model is calibrated to, if any.
    """

    phase: str
    tickets: int
    count: int
    share: float
    designed: float | None = None


@dataclass(frozen=True, slots=True)
class PhaseMean:
    """A mean over one phase.

    Attributes:
        phase: phase name (or ``"(no phase)"``).
        n: number of observations.
        mean: arithmetic mean (NaN if ``n`` is 0).
        designed: the calibration target, if any.
    """

    phase: str
    n: int
    mean: float
    designed: float | None = None


def _rate_lookup(rates: tuple[PhaseRate, ...], phase: str) -> PhaseRate:
    for r in rates:
        if r.phase == phase:
            return r
    raise KeyError(phase)


@dataclass(frozen=True, slots=True)
class FirstResponseTruth:
    """Effect 1: first-response timeouts.

    A ticket times out when its first ``Record`` happens more than
    ``limit_minutes`` wall-clock minutes after it was opened. Produced by staffing
    and queue discipline (see docs), measured exactly on the generated rows.

    Attributes:
        limit_minutes: the SOP limit (30).
        rates: timeout share per phase (tickets opened in the phase).
        pilot_minus_baseline: realised pilot share minus baseline share.
    """

    limit_minutes: int
    rates: tuple[PhaseRate, ...]
    pilot_minus_baseline: float

    def rate(self, phase: str) -> PhaseRate:
        """The rate of one phase (``KeyError`` if absent)."""
        return _rate_lookup(self.rates, phase)


@dataclass(frozen=True, slots=True)
class TransitionWait:
    """Waiting on one transition ``source -> target`` where ``team`` does the target.

    Waiting is the time from the source event to the start of work on the target
    (its ``started_at``, or its time when it has no work).

    Attributes:
        source: activity before.
        target: activity after.
        team: team of the target event.
        occurrences: how often the transition occurs.
        median_wait_hours: median waiting time.
        p90_wait_hours: 90th percentile of the waiting time.
        total_wait_hours: sum over occurrences: the impact on throughput time.
        share_of_total_wait: ``total_wait_hours`` over all transitions' total (0-1).
    """

    source: str
    target: str
    team: str
    occurrences: int
    median_wait_hours: float
    p90_wait_hours: float
    total_wait_hours: float
    share_of_total_wait: float


@dataclass(frozen=True, slots=True)
class BottleneckTruth:
    """Effect 2: the dominant bottleneck, specialist escalations waiting for handling.

    Attributes:
        top: the transition with the largest total waiting time; by design
            ``Escalate -> Handle`` at the Specialist team.
        designed_top: ``(source, target, team)`` that the model is built to make top.
        ranking: the five transitions with most total waiting, largest first.
        top_by_timestamps: the top transition when waiting is measured between the
            events' timestamps only (``time:timestamp`` differences, as a performance
            DFG does), as ``(source, target, team)``.
    """

    top: TransitionWait
    designed_top: tuple[str, str, str]
    ranking: tuple[TransitionWait, ...]
    top_by_timestamps: tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class CallbackSkipTruth:
    """Effect 3: callbacks skipped (``Archive`` with no ``Callback`` in the ticket).

    Attributes:
        category: the category the designed rates are about (``complaint``).
        rates: skip share among that category's tickets, per phase.
        all_categories: skip share among all tickets, per phase.
    """

    category: str
    rates: tuple[PhaseRate, ...]
    all_categories: tuple[PhaseRate, ...]

    def rate(self, phase: str) -> PhaseRate:
        """The complaint rate of one phase (``KeyError`` if absent)."""
        return _rate_lookup(self.rates, phase)


@dataclass(frozen=True, slots=True)
class PingPongTruth:
    """Effect 4: tickets bouncing between two teams.

    A ticket ping-pongs when its Handle events, in order, contain
    Specialist -> First line -> Specialist.

    Attributes:
        teams: the pair, ``("Specialist", "First line")``.
        pattern: the Handle-team pattern as text.
        tickets: tickets with the pattern.
        share: ``tickets`` over all tickets (0-1).
        share_of_specialist_tickets: over tickets with a Specialist Handle (0-1).
        designed_share_of_specialist_tickets: the designed probability.
    """

    teams: tuple[str, str]
    pattern: str
    tickets: int
    share: float
    share_of_specialist_tickets: float
    designed_share_of_specialist_tickets: float


@dataclass(frozen=True, slots=True)
class KnowledgeBaseTruth:
    """Effect 5: the day the knowledge base is down.

    Handling time is ``occurred_at - started_at`` of Handle events, by the local
    date work started.

    Attributes:
        date: the local date (ISO) of the outage.
        designed_factor: multiplier on Handle work that day (3.0).
        handles_that_day: Handle events started that day.
        median_handle_minutes_that_day: median handling time that day.
        median_handle_minutes_other_days: median on all other days.
        ratio: the two medians' ratio (that day / other days).
    """

    date: str
    designed_factor: float
    handles_that_day: int
    median_handle_minutes_that_day: float
    median_handle_minutes_other_days: float
    ratio: float


@dataclass(frozen=True, slots=True)
class ReopenTruth:
    """Effect 6a: reopened tickets (a ``Reopen`` event, then Handle again).

    Attributes:
        designed_share: designed probability per ticket (0.04).
        tickets: tickets with a Reopen.
        share: ``tickets`` over all tickets.
    """

    designed_share: float
    tickets: int
    share: float


@dataclass(frozen=True, slots=True)
class CustomerWaitTruth:
    """Effect 6b: waiting on the customer between two Handles (SLA clocks pause).

    The pause runs from the ``Wait for customer`` event to the start of the next
    ``Handle``.

    Attributes:
        designed_share: designed probability per ticket (0.15).
        tickets: tickets with at least one ``Wait for customer``.
        share: ``tickets`` over all tickets.
        waits: number of ``Wait for customer`` events.
        median_pause_hours: median pause length.
    """

    designed_share: float
    tickets: int
    share: float
    waits: int
    median_pause_hours: float


@dataclass(frozen=True, slots=True)
class SatisfactionTruth:
    """Effect 7: satisfaction (0-100, on Callback events) by phase and driver.

    Attributes:
        by_phase: mean satisfaction of the Callbacks of each phase's tickets.
        late_first_response: mean for tickets with a first-response timeout.
        on_time_first_response: mean for the others.
        angry: mean for angry customers; not_angry: for the others.
        ping_pong: mean for ping-pong tickets; no_ping_pong: for the others.
    """

    by_phase: tuple[PhaseMean, ...]
    late_first_response: float
    on_time_first_response: float
    angry: float
    not_angry: float
    ping_pong: float
    no_ping_pong: float

    def mean(self, phase: str) -> PhaseMean:
        """The mean of one phase (``KeyError`` if absent)."""
        for m in self.by_phase:
            if m.phase == phase:
                return m
        raise KeyError(phase)


@dataclass(frozen=True, slots=True)
class PlantedTruth:
    """A planted cause as designed and as it came out on the generated rows.

    Attributes:
        kind: the cause's kind (:class:`PlantedCause`).
        description: the cause in words.
        outcome: the ``csmine why`` outcome it shows in.
        group: the ticket attributes naming its group (``{"channel": "email"}``).
        strength: the designed multiplier.
        affected: tickets in the group (that the outcome applies to).
        share_in: the outcome's share in the group, on the generated rows.
        share_out: its share among the other tickets it applies to.
        lift: ``share_in / share_out`` (None when ``share_out`` is 0).
        effect: the cause's own effect: ``share_in`` over the share of the tickets it
            would be compared with if it were not there -- for a team's category, the same
            category at the other teams (the category's own difference is not the cause's);
            otherwise the other tickets (``lift``). None when that share is 0.
        compared_with: those tickets, in words.
    """

    kind: str
    description: str
    outcome: str
    group: dict[str, str]
    strength: float
    affected: int
    share_in: float
    share_out: float
    lift: float | None
    effect: float | None = None
    compared_with: str = "the other tickets"


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Every built-in effect with its designed value and its value on the data.

    Attributes:
        seed: the random seed.
        tickets: number of tickets.
        events: number of activity rows (events) over all tickets.
        timezone: the centre's local time zone.
        start: start of the horizon (ISO, UTC); end: its end (exclusive).
        phase_tickets: tickets per phase (and ``"(no phase)"``).
        escalation_share: share of tickets escalated, per category.
        first_response: effect 1. bottleneck: effect 2. callback_skips: effect 3.
        ping_pong: effect 4. knowledge_base_down: effect 5. reopens and
        customer_waits: effect 6. satisfaction: effect 7.
        planted: the planted causes (:class:`PlantedTruth`), empty when none.
    """

    seed: int
    tickets: int
    events: int
    timezone: str
    start: str
    end: str
    phase_tickets: dict[str, int]
    escalation_share: dict[str, float]
    first_response: FirstResponseTruth
    bottleneck: BottleneckTruth
    callback_skips: CallbackSkipTruth
    ping_pong: PingPongTruth
    knowledge_base_down: KnowledgeBaseTruth
    reopens: ReopenTruth
    customer_waits: CustomerWaitTruth
    satisfaction: SatisfactionTruth
    planted: tuple[PlantedTruth, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN becomes ``None``, tuples become lists).

        ``planted`` is there only when causes were planted, so the built-in centre's
        truth is unchanged.
        """
        out: dict[str, Any] = _jsonable(asdict(self))
        if not self.planted:
            out.pop("planted", None)
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    return value


@dataclass(frozen=True, slots=True)
class Simulation:
    """The simulated centre.

    Attributes:
        histories: one history per ticket, ordered by opening time; ids ``T-000001``...
        truth: the built-in effects, designed and realised.
        phases: baseline, pilot and rollout (rollout omitted if 0 weeks).
    """

    histories: tuple[TicketHistory, ...]
    truth: GroundTruth
    phases: tuple[PhaseSpec, ...]


__all__ = [
    "BottleneckTruth",
    "CallbackSkipTruth",
    "CustomerWaitTruth",
    "FirstResponseTruth",
    "GroundTruth",
    "KnowledgeBaseTruth",
    "PhaseMean",
    "PhaseRate",
    "PingPongTruth",
    "PlantedTruth",
    "ReopenTruth",
    "SatisfactionTruth",
    "Simulation",
    "TransitionWait",
]
