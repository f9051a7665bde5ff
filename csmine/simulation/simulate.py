"""A discrete-event simulation of a service centre: the data behind ``csmine demo``.

The simulator plays a service centre through a baseline, a pilot of the revised
complaint SOP in one region and a rollout to all regions, and writes each ticket's
lifecycle as a :class:`event_store.records.TicketHistory` that the store can import.
It is a queueing model, not noise: tickets arrive as a non-homogeneous Poisson
process with a daily and weekly rhythm, agents work rostered shifts and handle one
ticket at a time, so queues form at the morning and afternoon peaks and overnight.

Seven effects are built in (see ``docs/simulation.md``) and written down, with their
designed value and the value realised on the generated rows, in
:class:`GroundTruth`, so that the analytics can be tested against a known answer.

Example:
    >>> sim = simulate(SimulationConfig(tickets=3000, seed=7))
    >>> sim.truth.first_response.rate("baseline").share  # doctest: +SKIP
    0.16398467432950192
    >>> frame = histories_to_frame(sim.histories, sim.phases)  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import heapq
import math
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory

from csmine.errors import SimulationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ACTIVITIES",
    "CATEGORIES",
    "CHANNELS",
    "EMOTIONS",
    "EVENTS_PER_TICKET",
    "PRIORITIES",
    "REGIONS",
    "TEAMS",
    "BottleneckTruth",
    "CallbackSkipTruth",
    "CustomerWaitTruth",
    "FirstResponseTruth",
    "GroundTruth",
    "KnowledgeBaseTruth",
    "PhaseMean",
    "PhaseRate",
    "PhaseSpec",
    "PingPongTruth",
    "PlantedCause",
    "PlantedTruth",
    "ReopenTruth",
    "SatisfactionTruth",
    "Simulation",
    "SimulationConfig",
    "SimulationError",
    "TransitionWait",
    "histories_to_frame",
    "phase_of",
    "scale_histories",
    "simulate",
    "tickets_for_events",
]


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

RECEIVE, RECORD, CLASSIFY, ESCALATE, HANDLE, WAIT, CALLBACK, ARCHIVE, REOPEN = range(9)
#: Activity names, verbatim the complaint SOP's step names (index = internal code).
ACTIVITIES = (
    "Receive",
    "Record",
    "Classify",
    "Escalate",
    "Handle",
    "Wait for customer",
    "Callback",
    "Archive",
    "Reopen",
)
CHANNELS = ("phone", "online chat", "email")
CATEGORIES = ("consultation", "complaint", "after-sales", "care")
EMOTIONS = ("calm", "dissatisfied", "angry", "anxious")
#: The urgent/important matrix: P1 both, P2 urgent only, P3 important only, P4 neither.
PRIORITIES = ("P1 urgent-important", "P2 urgent", "P3 important", "P4 routine")
REGIONS = ("East", "West", "North", "South")
FIRST_LINE, SPECIALIST, SUPERVISOR = "First line", "Specialist", "Supervisor"
TEAMS = (FIRST_LINE, SPECIALIST, SUPERVISOR)

_PHONE, _CHAT, _EMAIL = range(3)
_CONSULT, _COMPLAINT, _AFTERSALES, _CARE = range(4)
_CALM, _DISSATISFIED, _ANGRY, _ANXIOUS = range(4)
_FL, _SP, _SV = range(3)  # team codes
_REGION_LETTER = ("E", "W", "N", "S")
_PHASE_NAMES = ("baseline", "pilot", "rollout")
_NO_PHASE = "(no phase)"

# ---------------------------------------------------------------------------
# Model parameters (documented in docs/simulation.md)
# ---------------------------------------------------------------------------

_CHANNEL_MIX = (0.45, 0.35, 0.20)
_REGION_MIX = (0.40, 0.15, 0.25, 0.20)  # East, West, North, South
#: P(category | channel), rows phone / online chat / email.
_CATEGORY_BY_CHANNEL = (
    (0.38, 0.26, 0.26, 0.10),
    (0.50, 0.18, 0.26, 0.06),
    (0.22, 0.38, 0.30, 0.10),
)
#: P(emotion | category).
_EMOTION_BY_CATEGORY = (
    (0.70, 0.10, 0.03, 0.17),
    (0.20, 0.40, 0.25, 0.15),
    (0.45, 0.30, 0.10, 0.15),
    (0.60, 0.15, 0.05, 0.20),
)
_P_IMPORTANT = (0.15, 0.70, 0.50, 0.30)  # by category
_P_URGENT = (0.15, 0.35, 0.75, 0.60)  # by emotion
_WEEKDAY_FACTOR = (1.15, 1.05, 1.0, 1.0, 0.95, 0.45, 0.35)

_P_ESCALATE = (0.06, 0.48, 0.30, 0.12)  # by category
_P1_ESCALATE_FACTOR = 1.3
_P_SUPERVISOR_ANGRY_COMPLAINT = 0.5
_P_PING_PONG = 0.18  # of specialist escalations
_P_CUSTOMER_WAIT = 0.15
_P_SECOND_WAIT = 0.15
_P_REOPEN = 0.04
_P_REOPEN_AT_CALLBACK = 0.4
#: P(callback skipped) as (complaint, other categories), old SOP and revised SOP.
_P_SKIP_CALLBACK = {False: (0.20, 0.12), True: (0.03, 0.03)}
_KB_DOWN_FACTOR = 3.0

# Work durations: lognormal, (median minutes, sigma of log).
_RECORD_MIN = (3.0, 4.0, 5.0)  # by channel
_CLASSIFY_MIN = 2.0
_HANDLE_FL_MIN = (11.0, 24.0, 20.0, 15.0)  # by category
_HANDLE_SP_MIN = 40.0
_HANDLE_SV_MIN = 30.0
_CALLBACK_MIN = 5.0
_SIGMA_SHORT = 0.4
_SIGMA_HANDLE = 0.5
_REPLY_MEDIAN_MIN = 360.0
_REPLY_SIGMA = 0.9
_REOPEN_MEDIAN_MIN = 1.5 * 1440.0
_ARCHIVE_MEDIAN_MIN = 8.0
#: Callback scheduled this many minutes after resolution (uniform), old / revised SOP.
_CALLBACK_DELAY = {False: (15.0, 120.0), True: (10.0, 60.0)}

# Satisfaction (0-100) on Callback: base + bonus - penalties + N(0, sd).
_SAT_BASE = 90.6
_SAT_REVISED_BONUS = 5.0
_SAT_LATE = 9.0
_SAT_EMOTION = (0.0, 5.0, 11.0, 3.0)
_SAT_PING_PONG = 12.0
_SAT_SLOW = 6.0  # resolved more than 48 h after opening
_SAT_REOPEN_AT_CALLBACK = 30.0
_SAT_SECOND_ROUND = 8.0
_SAT_SD = 6.0

# Rosters: desks as (start hour, end hour) local time; each desk is one agent.
_FL_WEEKDAY = {
    "East": ((8, 14), (10, 16), (14, 20)),
    "West": ((8, 14), (14, 20)),
    "North": ((8, 14), (14, 20)),
    "South": ((8, 14), (14, 20)),
}
_FL_WEEKEND = ((8, 14), (14, 20))
#: The revised SOP's roster adds an early desk, a peak desk and a late duty desk.
_FL_REVISED_EXTRA = ((7, 8), (10, 16), (20, 23))
_SPECIALIST_DESKS = ((9, 18), (9, 18))
_SUPERVISOR_DESKS = ((9, 18),)
#: Escalations to the specialists are routed in one batch per working day, at 09:00.
_SPECIALIST_ROUTING_HOUR = 9.0
_ROSTER_TAIL_DAYS = 70

_TICKETS_PER_SITE = 3000
_FIRST_RESPONSE_LIMIT_S = 30 * 60
_DESIGNED_TIMEOUT = {"baseline": 0.15, "pilot": 0.05, "rollout": 0.055}
_DESIGNED_SATISFACTION = {"baseline": 85.0, "pilot": 90.0, "rollout": 90.0}


# ---------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------


#: Kinds of planted causes -> the ``csmine why`` outcome each one shows in.
CAUSE_OUTCOMES = {
    "slow-team": "handling > P80",
    "skip-step": "deviation:skipped:Classify",
    "weekday-queue": "breach:Record",
    "reopen": "reopen",
}
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class PlantedCause:
    """A cause planted in the simulated centre (see docs/simulation.md, "Planted causes").

    Kinds, with the outcome each one shows in (:data:`CAUSE_OUTCOMES`) and the group of
    tickets it names:

    ``slow-team``
        The first line of ``region`` takes ``strength`` times as long to handle
        ``category`` tickets (every first-line Handle of those tickets, reopens too;
        without a category: all its tickets).
        Outcome ``handling > P80``; group ``team = First line <region>`` and
        ``category``.
    ``skip-step``
        ``channel`` tickets skip ``step`` (Classify): with probability ``strength x
        base`` when ``base`` > 0 (other channels skip it with probability ``base``),
        else with probability ``strength``. Outcome ``deviation:skipped:Classify``;
        group ``channel``.
    ``weekday-queue``
        On ``weekday`` (0 Monday, local time) every first-line task (Record, Classify,
        Handle, Callback) takes ``strength`` times as long, so the queue builds up that
        day. Outcome ``breach:Record`` (first response over 30 min); group ``weekday``
        of opening.
    ``reopen``
        Tickets of ``category`` (without one: all tickets) at the first line of
        ``region`` are reopened ``strength`` times as often (extra reopens drawn on top
        of the built-in ones; below 1, built-in reopens are dropped).
        Outcome ``reopen``; group ``team`` and ``category``.

    Attributes:
        kind: one of the kinds above.
        strength: the multiplier (> 0; for ``skip-step`` without ``base``, a probability).
        region: ``slow-team`` and ``reopen``: the first line's region (:data:`REGIONS`).
        category: ``slow-team`` and ``reopen``: the category (:data:`CATEGORIES`), or
            None for all.
        channel: ``skip-step``: the channel (:data:`CHANNELS`).
        step: ``skip-step``: the step skipped (only ``Classify``).
        weekday: ``weekday-queue``: 0 (Monday) to 6.
        base: ``skip-step``: the probability that any ticket skips the step.
    """

    kind: str
    strength: float
    region: str | None = None
    category: str | None = None
    channel: str | None = None
    step: str = "Classify"
    weekday: int = 0
    base: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in CAUSE_OUTCOMES:
            raise SimulationError(f"unknown planted cause {self.kind!r}: use one of {', '.join(CAUSE_OUTCOMES)}")
        if not self.strength > 0:
            raise SimulationError(f"a planted cause's strength must be positive, got {self.strength}")
        if self.kind in ("slow-team", "reopen"):
            if self.region not in REGIONS or (self.category is not None and self.category not in CATEGORIES):
                raise SimulationError(f"{self.kind} needs a region (one of {', '.join(REGIONS)}) and optionally a "
                                      f"category (one of {', '.join(CATEGORIES)}), got {self.region!r}, "
                                      f"{self.category!r}")
        if self.kind == "skip-step":
            if self.channel not in CHANNELS:
                raise SimulationError(f"skip-step needs a channel (one of {', '.join(CHANNELS)}), "
                                      f"got {self.channel!r}")
            if self.step != "Classify":
                raise SimulationError(f"skip-step can skip Classify only, got {self.step!r}")
            p = self.strength * self.base if self.base > 0 else self.strength
            if not (0 <= self.base < 1 and 0 < p <= 1):
                raise SimulationError(f"skip-step probabilities must lie in (0, 1]: base {self.base}, "
                                      f"strength {self.strength}")
        if self.kind == "weekday-queue" and not 0 <= self.weekday <= 6:
            raise SimulationError(f"weekday-queue needs a weekday 0 (Monday) to 6, got {self.weekday}")

    @property
    def outcome(self) -> str:
        """The ``csmine why`` outcome the cause shows in."""
        return CAUSE_OUTCOMES[self.kind]

    @property
    def group(self) -> dict[str, str]:
        """The ticket attributes (as csmine names them) of the group the cause acts on."""
        if self.kind in ("slow-team", "reopen"):
            group = {"team": f"{FIRST_LINE} {self.region}"}
            if self.category is not None:
                group["category"] = self.category
            return group
        if self.kind == "skip-step":
            return {"channel": str(self.channel)}
        return {"weekday": _WEEKDAY_NAMES[self.weekday]}

    def describe(self) -> str:
        """The cause in words."""
        what = f"{self.category} tickets" if self.category is not None else "tickets"
        if self.kind == "slow-team":
            return f"{FIRST_LINE} {self.region} handles {what} {self.strength:g}x as slowly"
        if self.kind == "skip-step":
            if self.base > 0:
                return (f"{self.channel} tickets skip {self.step} {self.strength:g}x as often "
                        f"({self.strength * self.base:.1%} vs {self.base:.1%})")
            return f"{self.channel} tickets skip {self.step} with probability {self.strength:.0%}"
        if self.kind == "weekday-queue":
            return f"on {_WEEKDAY_NAMES[self.weekday]}s the first line works {self.strength:g}x as slowly"
        return f"{what} of {FIRST_LINE} {self.region} are reopened {self.strength:g}x as often"


def _default_start() -> datetime:
    return datetime(2025, 1, 6, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate.

    Attributes:
        tickets: number of tickets opened over the whole horizon (exact).
        seed: random seed; the same config gives identical output.
        start: business time the baseline begins (tz-aware; stored as UTC). The
            default is Monday 2025-01-06 08:00 Asia/Shanghai.
        timezone: IANA zone of the centre: working hours and rhythms are local.
        baseline_weeks: length of the baseline (old SOP, all regions).
        pilot_weeks: length of the pilot (revised SOP in ``pilot_region`` only).
        rollout_weeks: length of the rollout (revised SOP in all regions).
        pilot_region: the pilot's cohort (one of :data:`REGIONS`).
        kb_down_date: the local date the knowledge base is down (Handle work takes
            3x as long); default: the Wednesday of the baseline's third week.
        sites: number of independent sites (each with its own four regional first
            lines, specialists and supervisor) sharing the tickets; default
            ``round(tickets / 3000)``, at least 1. The effects are calibrated for
            3000 tickets per site, so large runs keep their shape.
        staff_scale: multiplier on each site's desks; default ``site tickets / 3000``
            (rounded per desk, at least one agent per desk).
        causes: causes planted on top of the built-in effects (:class:`PlantedCause`),
            each written into the ground truth (``truth.planted``) with the outcome it
            shows in and its strength measured on the generated rows. Their random
            draws come from a stream of their own, so a run with causes differs from
            the same seed without them only through the causes (and the queues they
            change). None planted: the output is exactly that of the built-in centre.
    """

    tickets: int = 3000
    seed: int = 7
    start: datetime = field(default_factory=_default_start)
    timezone: str = "Asia/Shanghai"
    baseline_weeks: int = 6
    pilot_weeks: int = 4
    rollout_weeks: int = 4
    pilot_region: str = "East"
    kb_down_date: date | None = None
    sites: int | None = None
    staff_scale: float | None = None
    causes: tuple[PlantedCause, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "causes", tuple(self.causes))
        for cause in self.causes:
            if not isinstance(cause, PlantedCause):
                raise SimulationError(f"a planted cause must be a PlantedCause, got {cause!r}")
        if self.tickets < 1:
            raise SimulationError(
                f"cannot simulate {self.tickets} tickets: give at least 1 "
                "(e.g. --tickets 3000)"
            )
        if self.start.tzinfo is None:
            raise SimulationError(
                f"simulation start {self.start.isoformat()} has no time zone: "
                "give a tz-aware datetime"
            )
        if self.baseline_weeks < 1 or self.pilot_weeks < 1 or self.rollout_weeks < 0:
            raise SimulationError(
                "phase lengths must be baseline >= 1, pilot >= 1, rollout >= 0 weeks, "
                f"got {self.baseline_weeks}/{self.pilot_weeks}/{self.rollout_weeks}"
            )
        if self.pilot_region not in REGIONS:
            raise SimulationError(
                f"unknown pilot region {self.pilot_region!r}: "
                f"use one of {', '.join(REGIONS)}"
            )
        if self.sites is not None and not 1 <= self.sites <= self.tickets:
            raise SimulationError(
                f"sites must be between 1 and the number of tickets, got {self.sites}"
            )
        if self.staff_scale is not None and self.staff_scale <= 0:
            raise SimulationError(
                f"staff_scale must be positive, got {self.staff_scale}"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SimulationError(
                f"unknown time zone {self.timezone!r}: "
                "use an IANA name like Asia/Shanghai"
            ) from exc
        object.__setattr__(self, "start", self.start.astimezone(UTC))

    @property
    def end(self) -> datetime:
        """End of the arrival horizon (exclusive), UTC."""
        weeks = self.baseline_weeks + self.pilot_weeks + self.rollout_weeks
        return self.start + timedelta(weeks=weeks)

    @property
    def knowledge_base_down(self) -> date:
        """The local date the knowledge base is down."""
        if self.kb_down_date is not None:
            return self.kb_down_date
        local = self.start.astimezone(ZoneInfo(self.timezone)).date()
        monday = local - timedelta(days=local.weekday())
        return monday + timedelta(weeks=2, days=2)

    @property
    def site_sizes(self) -> tuple[int, ...]:
        """Tickets per site (they differ by at most one)."""
        n = self.sites or max(1, round(self.tickets / _TICKETS_PER_SITE))
        q, r = divmod(self.tickets, n)
        return tuple(q + 1 if k < r else q for k in range(n))

    def staff_scale_for(self, site_tickets: int) -> float:
        """The desk multiplier of a site with ``site_tickets`` tickets."""
        if self.staff_scale is not None:
            return self.staff_scale
        return site_tickets / _TICKETS_PER_SITE


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    """A phase: a time window of ticket opening plus a cohort.

    A ticket belongs to the phase in whose window ``[start, end)`` it was opened and
    whose cohort it matches (every ``cohort`` key equals the ticket's case attribute).

    Attributes:
        name: ``baseline``, ``pilot`` or ``rollout``.
        start: first opening time included (UTC).
        end: first opening time excluded (UTC).
        cohort: case-attribute equalities, e.g. ``{"region": "East"}``; empty = all.
        sop: the shipped SOP the phase runs on (``complaint`` or ``complaint-v2``).
    """

    name: str
    start: datetime
    end: datetime
    cohort: dict[str, str]
    sop: str = "complaint"

    def contains(self, opened_at: datetime, case: Mapping[str, Any]) -> bool:
        """Whether a ticket opened at ``opened_at`` with ``case`` belongs here."""
        return self.start <= opened_at < self.end and all(
            case.get(k) == v for k, v in self.cohort.items()
        )


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


# ---------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------


class _Calendar:
    """Local days as minutes since the simulation start."""

    def __init__(self, config: SimulationConfig, days: int) -> None:
        self.tz = ZoneInfo(config.timezone)
        self.start = config.start
        self.first_date = config.start.astimezone(self.tz).date()
        self.midnights = np.array(
            [
                self._minutes(self.first_date + timedelta(days=d), 0.0)
                for d in range(days + 1)
            ]
        )

    def _minutes(self, day: date, hour: float) -> float:
        local = datetime.combine(day, time(0), tzinfo=self.tz)
        return (local.astimezone(UTC) - self.start).total_seconds() / 60.0 + hour * 60.0

    def date_of(self, day: int) -> date:
        return self.first_date + timedelta(days=day)

    def weekday(self, day: int) -> int:
        return self.date_of(day).weekday()

    def at(self, day: int, hour: float) -> float:
        return float(self.midnights[day]) + hour * 60.0

    def day_index(self, minutes: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.midnights, minutes, side="right") - 1


# ---------------------------------------------------------------------------
# Arrivals and ticket plans
# ---------------------------------------------------------------------------


def _peaks(h: np.ndarray) -> np.ndarray:
    return (
        0.35
        + np.exp(-(((h - 10.0) / 1.3) ** 2))
        + 0.85 * np.exp(-(((h - 15.0) / 1.5) ** 2))
    )


def _channel_intensity(channel: int, h: np.ndarray) -> np.ndarray:
    """Relative arrival intensity by local hour (before the weekday factor)."""
    day = (h >= 8.0) & (h < 20.0)
    if channel == _PHONE:
        return np.where(day, _peaks(h), 0.0)
    if channel == _CHAT:
        evening = (h >= 20.0) & (h < 22.0)
        return np.where(day, _peaks(h), np.where(evening, 0.45, 0.06))
    return np.where(day, 0.6 * _peaks(h) + 0.2, 0.13)


def _draw_arrivals(
    rng: np.random.Generator, tickets: int, cal: _Calendar, horizon_min: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``tickets`` arrival times (minutes) and their channels, time-sorted.

    Conditional on the count, the points of a non-homogeneous Poisson process are
    i.i.d. with density proportional to the intensity: draw hour bins from a
    multinomial, then uniform positions within the bin.
    """
    n_bins = math.ceil(horizon_min / 60.0)
    centres = np.arange(n_bins) * 60.0 + 30.0
    day = cal.day_index(centres)
    hour = (centres - cal.midnights[day]) / 60.0
    weekday = np.array([cal.weekday(int(d)) for d in range(int(day.max()) + 1)])[day]
    wfactor = np.asarray(_WEEKDAY_FACTOR)[weekday]
    counts = rng.multinomial(tickets, _CHANNEL_MIX)
    times, channels = [], []
    for ch, n in enumerate(counts):
        w = _channel_intensity(ch, hour) * wfactor
        per_bin = rng.multinomial(int(n), w / w.sum())
        bins = np.repeat(np.arange(n_bins), per_bin)
        times.append(bins * 60.0 + rng.random(bins.size) * 60.0)
        channels.append(np.full(bins.size, ch))
    t = np.concatenate(times)
    c = np.concatenate(channels)
    t = np.round(t * 60.0) / 60.0  # whole seconds
    order = np.lexsort((c, t))
    return t[order], c[order]


def _conditional(
    rng: np.random.Generator, cond: np.ndarray, table: Sequence[Sequence[float]]
) -> np.ndarray:
    cum = np.cumsum(np.asarray(table, dtype=float), axis=1)
    u = rng.random(cond.size)
    idx = (u[:, None] >= cum[cond]).sum(axis=1)
    out: np.ndarray = np.minimum(idx, cum.shape[1] - 1)
    return out


def _lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, shape: Any
) -> np.ndarray:
    out: np.ndarray = np.asarray(median) * np.exp(sigma * rng.standard_normal(shape))
    return out


@dataclass(slots=True)
class _Plan:
    """Everything random about the tickets, drawn up front (vectorised)."""

    arrival: list[float]
    channel: list[int]
    region: list[int]
    category: list[int]
    emotion: list[int]
    priority: list[int]
    customer: list[str]
    phase: list[int]  # 0 baseline, 1 pilot, 2 rollout, -1 none
    revised: list[bool]
    escalate: list[int]  # -1 none, else team code
    ping_pong: list[bool]
    seg_team: list[list[int]]
    seg_wait: list[list[bool]]
    skip1: list[bool]
    skip2: list[bool]
    reopen: list[int]  # 0 none, 1 at callback, 2 after archive
    d_record: list[float]
    d_classify: list[float]
    d_handle: list[list[float]]
    d_reopen_handle: list[float]
    d_callback: list[list[float]]
    d_reply: list[list[float]]
    d_archive: list[list[float]]
    d_reopen: list[float]
    callback_delay: list[list[float]]
    gaps: list[list[float]]
    sat_noise: list[list[float]]
    skip_classify: list[bool] | None = None  # planted: the ticket skips Classify


def _in_category(category: np.ndarray, name: str | None) -> np.ndarray:
    if name is None:
        return np.ones(category.size, dtype=bool)
    out: np.ndarray = category == CATEGORIES.index(name)
    return out


def _plant(config: SimulationConfig, plan: _Plan, rng: np.random.Generator) -> None:
    """Apply the planted causes that change a ticket's plan (their own random stream)."""
    region = np.asarray(plan.region)
    category = np.asarray(plan.category)
    channel = np.asarray(plan.channel)
    n = region.size
    for cause in config.causes:
        if cause.kind == "slow-team":
            group = np.flatnonzero((region == REGIONS.index(str(cause.region)))
                                   & _in_category(category, cause.category))
            f = cause.strength
            for i in group.tolist():
                plan.d_handle[i] = [d * f if t == _FL else d
                                    for d, t in zip(plan.d_handle[i], plan.seg_team[i], strict=True)]
                plan.d_reopen_handle[i] *= f
        elif cause.kind == "skip-step":
            mine = channel == CHANNELS.index(str(cause.channel))
            if cause.base > 0:
                p = np.where(mine, cause.strength * cause.base, cause.base)
            else:
                p = np.where(mine, cause.strength, 0.0)
            draw = rng.random(n) < p
            before = np.asarray(plan.skip_classify) if plan.skip_classify is not None else np.zeros(n, bool)
            plan.skip_classify = (before | draw).tolist()
        elif cause.kind == "reopen":
            group = (region == REGIONS.index(str(cause.region))) & _in_category(category, cause.category)
            reopen = np.asarray(plan.reopen)
            u, kind_u = rng.random(n), rng.random(n)
            if cause.strength >= 1:
                q = min(1.0, (cause.strength - 1) * _P_REOPEN / (1 - _P_REOPEN))
                extra = group & (reopen == 0) & (u < q)
                kind = np.where((kind_u < _P_REOPEN_AT_CALLBACK) & ~np.asarray(plan.skip1), 1, 2)
                reopen = np.where(extra, kind, reopen)
            else:
                reopen = np.where(group & (reopen > 0) & (u < 1 - cause.strength), 0, reopen)
            plan.reopen = reopen.tolist()


def _draw_plan(
    config: SimulationConfig,
    tickets: int,
    rng: np.random.Generator,
    cal: _Calendar,
    horizon_min: float,
    site_tag: str,
) -> _Plan:
    arrival, channel = _draw_arrivals(rng, tickets, cal, horizon_min)
    n = arrival.size
    region = rng.choice(4, size=n, p=_REGION_MIX)
    category = _conditional(rng, channel, _CATEGORY_BY_CHANNEL)
    emotion = _conditional(rng, category, _EMOTION_BY_CATEGORY)
    important = rng.random(n) < np.asarray(_P_IMPORTANT)[category]
    urgent = rng.random(n) < np.asarray(_P_URGENT)[emotion]
    priority = np.where(
        important & urgent, 0, np.where(urgent, 1, np.where(important, 2, 3))
    )

    pool_size = max(20, int(n * 0.7))
    ids = rng.choice(10 * pool_size, size=pool_size, replace=False)
    weights = 1.0 / (np.arange(pool_size) + 10.0)
    who = rng.choice(pool_size, size=n, p=weights / weights.sum())
    width = max(6, len(str(10 * pool_size)))
    customer = [f"C-{site_tag}{int(ids[w]):0{width}d}" for w in who]

    wk = 7 * 1440.0
    b_end = config.baseline_weeks * wk
    p_end = b_end + config.pilot_weeks * wk
    pilot_region = REGIONS.index(config.pilot_region)
    phase = np.where(
        arrival < b_end,
        0,
        np.where(arrival >= p_end, 2, np.where(region == pilot_region, 1, -1)),
    )
    revised = phase >= 1

    p_esc = np.minimum(
        np.asarray(_P_ESCALATE)[category]
        * np.where(priority == 0, _P1_ESCALATE_FACTOR, 1.0),
        0.95,
    )
    esc = rng.random(n) < p_esc
    to_sv = (
        (category == _COMPLAINT)
        & (emotion == _ANGRY)
        & (rng.random(n) < _P_SUPERVISOR_ANGRY_COMPLAINT)
    )
    escalate = np.where(esc, np.where(to_sv, _SV, _SP), -1)
    ping_pong = (escalate == _SP) & (rng.random(n) < _P_PING_PONG)
    n_waits = np.where(
        rng.random(n) < _P_CUSTOMER_WAIT,
        np.where(rng.random(n) < _P_SECOND_WAIT, 2, 1),
        0,
    )
    wait_pos = rng.random((n, 2))

    is_complaint = category == _COMPLAINT
    p_skip = np.where(
        revised,
        np.where(is_complaint, _P_SKIP_CALLBACK[True][0], _P_SKIP_CALLBACK[True][1]),
        np.where(is_complaint, _P_SKIP_CALLBACK[False][0], _P_SKIP_CALLBACK[False][1]),
    )
    skip = rng.random((n, 2)) < p_skip[:, None]
    reopen = np.where(
        rng.random(n) < _P_REOPEN,
        np.where(rng.random(n) < _P_REOPEN_AT_CALLBACK, 1, 2),
        0,
    )
    reopen = np.where((reopen == 1) & skip[:, 0], 2, reopen)

    d_record = _lognormal(rng, np.asarray(_RECORD_MIN)[channel], _SIGMA_SHORT, n)
    d_classify = _lognormal(rng, _CLASSIFY_MIN, _SIGMA_SHORT, n)
    z_handle = np.exp(_SIGMA_HANDLE * rng.standard_normal((n, 5)))
    fl_median = np.asarray(_HANDLE_FL_MIN)[category]
    d_reopen_handle = _lognormal(rng, fl_median, _SIGMA_HANDLE, n)
    d_callback = _lognormal(rng, _CALLBACK_MIN, _SIGMA_SHORT, (n, 2))
    d_reply = np.minimum(
        _lognormal(rng, _REPLY_MEDIAN_MIN, _REPLY_SIGMA, (n, 2)), 7 * 1440.0
    )
    d_archive = _lognormal(rng, _ARCHIVE_MEDIAN_MIN, 0.5, (n, 2))
    d_reopen = np.minimum(_lognormal(rng, _REOPEN_MEDIAN_MIN, 0.6, n), 10 * 1440.0)
    lo = np.where(revised, _CALLBACK_DELAY[True][0], _CALLBACK_DELAY[False][0])
    hi = np.where(revised, _CALLBACK_DELAY[True][1], _CALLBACK_DELAY[False][1])
    callback_delay = lo[:, None] + (hi - lo)[:, None] * rng.random((n, 2))
    gaps = 0.2 + 1.3 * rng.random((n, 4))
    sat_noise = _SAT_SD * rng.standard_normal((n, 2))

    seg_team: list[list[int]] = []
    seg_wait: list[list[bool]] = []
    d_handle: list[list[float]] = []
    medians = {_SP: _HANDLE_SP_MIN, _SV: _HANDLE_SV_MIN}
    esc_l, pp_l, nw_l, fl_l = (
        escalate.tolist(),
        ping_pong.tolist(),
        n_waits.tolist(),
        fl_median.tolist(),
    )
    wp, zh = wait_pos.tolist(), z_handle.tolist()
    for i in range(n):
        e = esc_l[i]
        teams = [_FL] if e < 0 else ([_SP, _FL, _SP] if pp_l[i] else [e])
        waits = [False] * len(teams)
        for k in range(nw_l[i]):
            j = int(wp[i][k] * len(teams))
            teams.insert(j + 1, teams[j])
            waits.insert(j, True)
        seg_team.append(teams)
        seg_wait.append(waits)
        d_handle.append(
            [medians.get(t, fl_l[i]) * zh[i][k] for k, t in enumerate(teams)]
        )

    return _Plan(
        arrival=arrival.tolist(),
        channel=channel.tolist(),
        region=region.tolist(),
        category=category.tolist(),
        emotion=emotion.tolist(),
        priority=priority.tolist(),
        customer=customer,
        phase=phase.tolist(),
        revised=revised.tolist(),
        escalate=esc_l,
        ping_pong=pp_l,
        seg_team=seg_team,
        seg_wait=seg_wait,
        skip1=skip[:, 0].tolist(),
        skip2=skip[:, 1].tolist(),
        reopen=reopen.tolist(),
        d_record=d_record.tolist(),
        d_classify=d_classify.tolist(),
        d_handle=d_handle,
        d_reopen_handle=d_reopen_handle.tolist(),
        d_callback=d_callback.tolist(),
        d_reply=d_reply.tolist(),
        d_archive=d_archive.tolist(),
        d_reopen=d_reopen.tolist(),
        callback_delay=callback_delay.tolist(),
        gaps=gaps.tolist(),
        sat_noise=sat_noise.tolist(),
    )


# ---------------------------------------------------------------------------
# Rosters
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Agent:
    name: str
    team: int
    pool: int
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    ptr: int = 0
    busy: bool = False
    idle: bool = False


def _scaled(desks: Iterable[tuple[int, int]], scale: float) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for desk in desks:
        out.extend([desk] * max(1, round(scale)))
    return out


def _build_agents(
    config: SimulationConfig, cal: _Calendar, days: int, scale: float, site_tag: str
) -> list[_Agent]:
    """A site's agents: four regional first lines, specialists, supervisors."""
    wk = 7 * 1440.0
    pilot_start = config.baseline_weeks * wk
    rollout_start = pilot_start + config.pilot_weeks * wk
    pilot_region = config.pilot_region
    agents: list[_Agent] = []
    for p, region in enumerate(REGIONS):
        days_desks: list[list[tuple[int, int]]] = []
        for d in range(days):
            noon = cal.at(d, 12.0)  # the day's roster follows the SOP in force at noon
            revised = noon >= rollout_start or (
                pilot_start <= noon and region == pilot_region
            )
            base = _FL_WEEKDAY[region] if cal.weekday(d) < 5 else _FL_WEEKEND
            desks = list(base) + (list(_FL_REVISED_EXTRA) if revised else [])
            days_desks.append(_scaled(desks, scale))
        n = max(len(x) for x in days_desks) + 2
        pool = [
            _Agent(f"A-{_REGION_LETTER[p]}{site_tag}-{k + 1:02d}", _FL, p)
            for k in range(n)
        ]
        for d, desks in enumerate(days_desks):
            for j, (h0, h1) in enumerate(desks):
                a = pool[(d * len(desks) + j) % n]
                a.starts.append(cal.at(d, h0))
                a.ends.append(cal.at(d, h1))
        agents.extend(pool)
    for p, team, site_desks, prefix in (
        (4, _SP, _SPECIALIST_DESKS, "A-SP"),
        (5, _SV, _SUPERVISOR_DESKS, "A-SV"),
    ):
        scaled = _scaled(site_desks, scale)
        pool = [
            _Agent(f"{prefix}{site_tag}-{k + 1:02d}", team, p)
            for k in range(len(scaled))
        ]
        for d in range(days):
            if cal.weekday(d) >= 5:
                continue
            for a, (h0, h1) in zip(pool, scaled, strict=True):
                a.starts.append(cal.at(d, h0))
                a.ends.append(cal.at(d, h1))
        agents.extend(pool)
    for a in agents:  # shifts in time order (rotation may interleave days)
        order = sorted(range(len(a.starts)), key=a.starts.__getitem__)
        a.starts = [a.starts[k] for k in order]
        a.ends = [a.ends[k] for k in order]
    return agents


# ---------------------------------------------------------------------------
# The discrete-event engine
# ---------------------------------------------------------------------------

_K_INTAKE, _K_HANDLE, _K_CALLBACK = range(3)
_EV_READY, _EV_FREE, _EV_SHIFT = range(3)
_BIG = 1.0e8  # separates queue classes in a single float key

# A row: (activity code, occurred minutes, started minutes or None, agent index or -1,
# team code, satisfaction or None)
_Row = tuple[int, float, float | None, int, int, int | None]


class _Centre:
    """The service centre: pools of agents, queues, tickets in flight."""

    def __init__(
        self,
        config: SimulationConfig,
        plan: _Plan,
        cal: _Calendar,
        agents: list[_Agent],
    ) -> None:
        self.plan = plan
        self.agents = agents
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.queues: list[list[tuple[float, int, int]]] = [[] for _ in range(6)]
        self.idle: list[deque[int]] = [deque() for _ in range(6)]
        n = len(plan.arrival)
        self.rows: list[list[_Row]] = [[] for _ in range(n)]
        self.seg = [0] * n
        self.reopened = [False] * n
        self.callbacks = [0] * n
        self.first_response = [0.0] * n
        wk = 7 * 1440.0
        self.pilot_start = config.baseline_weeks * wk
        self.rollout_start = self.pilot_start + config.pilot_weeks * wk
        self.pilot_pool = REGIONS.index(config.pilot_region)
        self.routing = [
            cal.at(d, _SPECIALIST_ROUTING_HOUR)
            for d in range(len(cal.midnights) - 1)
            if cal.weekday(d) < 5
        ]
        kb = (config.knowledge_base_down - cal.first_date).days
        self.kb_window = (
            (cal.at(kb, 0.0), cal.at(kb + 1, 0.0))
            if 0 <= kb < len(cal.midnights) - 1
            else (0.0, 0.0)
        )
        for idx, a in enumerate(agents):
            for s in a.starts:
                self._push(s, _EV_SHIFT, idx)
        # planted weekday queue: first-line work factor per local day (None: no cause)
        self.midnights = cal.midnights.tolist()
        self.fl_factor: list[float] | None = None
        for cause in config.causes:
            if cause.kind == "weekday-queue":
                if self.fl_factor is None:
                    self.fl_factor = [1.0] * len(self.midnights)
                for d in range(len(self.midnights) - 1):
                    if cal.weekday(d) == cause.weekday:
                        self.fl_factor[d] *= cause.strength

    def _fl_work(self, t: float) -> float:
        """The planted factor on first-line work started at ``t`` (1.0 without one)."""
        if self.fl_factor is None:
            return 1.0
        d = bisect_left(self.midnights, t + 1e-9) - 1
        return self.fl_factor[d] if 0 <= d < len(self.fl_factor) else 1.0

    # -- plumbing --------------------------------------------------------
    def _push(self, t: float, kind: int, payload: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, payload))

    def _revised_at(self, pool: int, t: float) -> bool:
        return t >= self.rollout_start or (
            pool == self.pilot_pool and t >= self.pilot_start
        )

    def _ready(self, pool: int, t: float, ticket: int, kind: int) -> None:
        self._push(t, _EV_READY, (ticket * 4 + kind) * 8 + pool)

    def _enqueue(self, pool: int, t: float, ticket: int, kind: int) -> None:
        plan = self.plan
        if pool < 4:
            if kind == _K_INTAKE and (
                plan.channel[ticket] == _PHONE or self._revised_at(pool, t)
            ):
                cls = 0  # live calls always; every new ticket under the revised SOP
            else:
                cls = 1
        else:
            cls = 0 if plan.priority[ticket] == 0 else 1
        self.seq += 1
        heapq.heappush(self.queues[pool], (cls * _BIG + t, self.seq, ticket * 4 + kind))

    def _in_shift(self, a: _Agent, t: float) -> bool:
        ends = a.ends
        p = a.ptr
        while p < len(ends) and ends[p] <= t:
            p += 1
        a.ptr = p
        return p < len(ends) and a.starts[p] <= t

    def _dispatch(self, pool: int, t: float) -> None:
        queue, idle, agents = self.queues[pool], self.idle[pool], self.agents
        while queue and idle:
            idx = idle.popleft()
            a = agents[idx]
            a.idle = False
            if not self._in_shift(a, t):
                continue
            _, _, code = heapq.heappop(queue)
            end = self._execute(idx, code >> 2, code & 3, t)
            a.busy = True
            self._push(end, _EV_FREE, idx)

    def run(self) -> None:
        plan = self.plan
        arrival = plan.arrival
        n = len(arrival)
        heap = self.heap
        i = 0
        while i < n or heap:
            if i < n and (not heap or arrival[i] <= heap[0][0]):
                t = arrival[i]
                pool = plan.region[i]
                self.rows[i].append((RECEIVE, t, None, -1, _FL, None))
                self._enqueue(pool, t, i, _K_INTAKE)
                self._dispatch(pool, t)
                i += 1
                continue
            t, _, kind, payload = heapq.heappop(heap)
            if kind == _EV_READY:
                pool = payload & 7
                code = payload >> 3
                self._enqueue(pool, t, code >> 2, code & 3)
                self._dispatch(pool, t)
                continue
            a = self.agents[payload]
            if kind == _EV_FREE:
                a.busy = False
            if not a.busy and not a.idle and self._in_shift(a, t):
                a.idle = True
                self.idle[a.pool].append(payload)
                self._dispatch(a.pool, t)
        if any(self.queues):
            waiting = sum(len(q) for q in self.queues)
            raise SimulationError(
                f"{waiting} tasks still queued when the rosters ended: staffing is "
                "too low for this many tickets (raise staff_scale)"
            )

    # -- the ticket flow -------------------------------------------------
    def _execute(self, agent: int, i: int, kind: int, t: float) -> float:
        """Do one task for ticket ``i`` from ``t``; return when the agent is free."""
        plan, rows = self.plan, self.rows[i]
        if kind == _K_INTAKE:
            f = self._fl_work(t) if self.fl_factor is not None else 1.0
            t1 = t + plan.d_record[i] * f
            rows.append((RECORD, t1, t, agent, _FL, None))
            self.first_response[i] = t1 - plan.arrival[i]
            if plan.skip_classify is not None and plan.skip_classify[i]:
                t2 = t1  # planted: Classify skipped
            else:
                t2 = t1 + plan.d_classify[i] * f
                rows.append((CLASSIFY, t2, t1, agent, _FL, None))
            esc = plan.escalate[i]
            if esc >= 0:
                te = t2 + plan.gaps[i][0]
                rows.append((ESCALATE, te, None, agent, _FL, None))
                if esc == _SP:
                    self._ready(
                        4, self.routing[bisect_left(self.routing, te)], i, _K_HANDLE
                    )
                else:
                    self._ready(5, te, i, _K_HANDLE)
                return t2
            ch = plan.channel[i]
            if ch == _PHONE or (
                ch == _CHAT and not self._revised_at(plan.region[i], t)
            ):
                return self._handle(agent, i, t2 + plan.gaps[i][0], _FL)
            self._ready(plan.region[i], t2, i, _K_HANDLE)
            return t2
        if kind == _K_HANDLE:
            return self._handle(agent, i, t, self.agents[agent].team)
        return self._callback(agent, i, t)

    def _handle(self, agent: int, i: int, t: float, team: int) -> float:
        plan, rows = self.plan, self.rows[i]
        j = self.seg[i]
        self.seg[i] = j + 1
        teams = plan.seg_team[i]
        d = plan.d_handle[i][j] if j < len(teams) else plan.d_reopen_handle[i]
        if self.kb_window[0] <= t < self.kb_window[1]:
            d *= _KB_DOWN_FACTOR
        if self.fl_factor is not None and team == _FL:
            d *= self._fl_work(t)
        end = t + d
        rows.append((HANDLE, end, t, agent, team, None))
        if j < len(teams) and plan.seg_wait[i][j]:
            tw = end + plan.gaps[i][1]
            rows.append((WAIT, tw, None, agent, team, None))
            k = sum(plan.seg_wait[i][:j])
            self._ready(
                self._pool_of(i, teams[j + 1]), tw + plan.d_reply[i][k], i, _K_HANDLE
            )
        elif j + 1 < len(teams):
            self._ready(
                self._pool_of(i, teams[j + 1]), end + plan.gaps[i][2], i, _K_HANDLE
            )
        else:
            self._resolved(agent, i, end, team)
        return end

    def _pool_of(self, i: int, team: int) -> int:
        return self.plan.region[i] if team == _FL else (4 if team == _SP else 5)

    def _resolved(self, agent: int, i: int, t: float, team: int) -> None:
        plan = self.plan
        rnd = 1 if self.reopened[i] else 0
        # a ticket closed once without a callback is closed so again after a reopen
        skip = plan.skip1[i] or (rnd == 1 and plan.skip2[i])
        if skip:
            self._archive(agent, i, t + plan.d_archive[i][rnd], team)
        else:
            self._ready(plan.region[i], t + plan.callback_delay[i][rnd], i, _K_CALLBACK)

    def _archive(self, agent: int, i: int, t: float, team: int) -> None:
        plan, rows = self.plan, self.rows[i]
        rows.append((ARCHIVE, t, None, agent, team, None))
        if plan.reopen[i] and not self.reopened[i]:
            self.reopened[i] = True
            tr = t + plan.d_reopen[i]
            rows.append((REOPEN, tr, None, -1, _FL, None))
            self._ready(plan.region[i], tr, i, _K_HANDLE)

    def _callback(self, agent: int, i: int, t: float) -> float:
        plan, rows = self.plan, self.rows[i]
        rnd = self.callbacks[i]
        self.callbacks[i] = rnd + 1
        end = t + plan.d_callback[i][rnd] * (self._fl_work(t) if self.fl_factor is not None else 1.0)
        reopen_now = plan.reopen[i] == 1 and not self.reopened[i]
        rows.append(
            (CALLBACK, end, t, agent, _FL, self._satisfaction(i, end, rnd, reopen_now))
        )
        if reopen_now:
            self.reopened[i] = True
            tr = end + plan.gaps[i][3]
            rows.append((REOPEN, tr, None, agent, _FL, None))
            self._ready(plan.region[i], tr, i, _K_HANDLE)
        else:
            self._archive(agent, i, end + plan.d_archive[i][rnd], _FL)
        return end

    def _satisfaction(self, i: int, t: float, rnd: int, reopen_now: bool) -> int:
        plan = self.plan
        s = _SAT_BASE + (_SAT_REVISED_BONUS if plan.revised[i] else 0.0)
        if self.first_response[i] > _FIRST_RESPONSE_LIMIT_S / 60.0:
            s -= _SAT_LATE
        s -= _SAT_EMOTION[plan.emotion[i]]
        if plan.ping_pong[i]:
            s -= _SAT_PING_PONG
        if t - plan.arrival[i] > 48 * 60.0:
            s -= _SAT_SLOW
        if reopen_now:
            s -= _SAT_REOPEN_AT_CALLBACK
        if rnd:
            s -= _SAT_SECOND_ROUND
        s += plan.sat_noise[i][rnd]
        return int(min(100.0, max(0.0, round(s))))


# ---------------------------------------------------------------------------
# simulate()
# ---------------------------------------------------------------------------


def _phases(config: SimulationConfig) -> tuple[PhaseSpec, ...]:
    s = config.start
    b = s + timedelta(weeks=config.baseline_weeks)
    p = b + timedelta(weeks=config.pilot_weeks)
    phases = [
        PhaseSpec("baseline", s, b, {}, "complaint"),
        PhaseSpec("pilot", b, p, {"region": config.pilot_region}, "complaint-v2"),
    ]
    if config.rollout_weeks:
        phases.append(PhaseSpec("rollout", p, config.end, {}, "complaint-v2"))
    return tuple(phases)


def phase_of(
    opened_at: datetime, case: Mapping[str, Any], phases: Sequence[PhaseSpec]
) -> str | None:
    """The name of the first phase a ticket belongs to, or ``None``."""
    for phase in phases:
        if phase.contains(opened_at, case):
            return phase.name
    return None


def simulate(config: SimulationConfig | None = None) -> Simulation:
    """Simulate the service centre through baseline, pilot and rollout.

    Args:
        config: what to simulate; ``SimulationConfig()`` (3000 tickets, seed 7) if
            omitted.

    Returns:
        The tickets' histories (ordered by opening time, ids ``T-000001``...), the
        phases, and the ground truth measured on the histories.

    Raises:
        SimulationError: the configuration is invalid, or staffing cannot clear the
            work (only with a very small ``staff_scale``).
    """
    config = config or SimulationConfig()
    weeks = config.baseline_weeks + config.pilot_weeks + config.rollout_weeks
    horizon_min = weeks * 7 * 1440.0
    days = weeks * 7 + _ROSTER_TAIL_DAYS
    cal = _Calendar(config, days)
    sizes = config.site_sizes
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small objects: the cyclic collector only costs time here
    try:
        sites = []
        for k, n in enumerate(sizes):
            tag = str(k + 1) if len(sizes) > 1 else ""
            rng = np.random.default_rng(config.seed if k == 0 else [config.seed, k])
            plan = _draw_plan(
                config, n, rng, cal, horizon_min, f"{tag}-" if tag else ""
            )
            if config.causes:
                _plant(config, plan, np.random.default_rng([config.seed, k, 104729]))
            agents = _build_agents(config, cal, days, config.staff_scale_for(n), tag)
            centre = _Centre(config, plan, cal, agents)
            centre.run()
            sites.append((plan, centre, agents))
        histories, table, cases = _to_histories(config, sites)
        truth = _measure(config, cases, table, cal)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Simulation(histories=histories, truth=truth, phases=_phases(config))


@dataclass(slots=True)
class _Table:
    """All rows as parallel numpy arrays (seconds since start), for measuring."""

    ticket: np.ndarray
    activity: np.ndarray
    occurred: np.ndarray
    started: np.ndarray  # -1 where no work
    team: np.ndarray
    satisfaction: np.ndarray  # -1 where absent


@dataclass(slots=True)
class _Cases:
    """Per-ticket arrays in output order."""

    opened: np.ndarray  # seconds since start
    phase: np.ndarray
    category: np.ndarray
    emotion: np.ndarray
    region: np.ndarray
    channel: np.ndarray


def _to_histories(
    config: SimulationConfig, sites: list[tuple[_Plan, _Centre, list[_Agent]]]
) -> tuple[tuple[TicketHistory, ...], _Table, _Cases]:
    arrival = np.concatenate([np.asarray(p.arrival) for p, _, _ in sites])
    site_of = np.concatenate(
        [np.full(len(p.arrival), k) for k, (p, _, _) in enumerate(sites)]
    )
    local = np.concatenate([np.arange(len(p.arrival)) for p, _, _ in sites])
    order = np.lexsort((local, site_of, arrival))
    n = order.size
    agent_names: list[str | None] = []
    agent_offset = []
    for _, _, agents in sites:
        agent_offset.append(len(agent_names))
        agent_names.extend(a.name for a in agents)
    agent_names.append(None)  # index -1: no actor

    # one flat pass over the rows, in output order
    tk: list[int] = []
    act: list[int] = []
    occ: list[float] = []
    sta: list[float] = []
    who: list[int] = []
    tm: list[int] = []
    sat: list[int] = []
    bounds = [0]
    for g, (k, i) in enumerate(
        zip(site_of[order].tolist(), local[order].tolist(), strict=True)
    ):
        rows = sites[k][1].rows[i]
        off = agent_offset[k]
        for code, t_occ, t_start, agent, team, score in rows:
            act.append(code)
            occ.append(t_occ)
            sta.append(-1.0 if t_start is None else t_start)
            who.append(agent + off if agent >= 0 else -1)
            tm.append(team)
            sat.append(-1 if score is None else score)
        tk.extend([g] * len(rows))
        bounds.append(len(act))
    occurred = np.round(np.asarray(occ) * 60.0).astype(np.int64)
    started_raw = np.asarray(sta)
    started = np.where(started_raw < 0, -1, np.round(started_raw * 60.0)).astype(
        np.int64
    )

    # datetimes: one object per distinct second, shared by the rows
    has_start = started >= 0
    seconds, inverse = np.unique(
        np.concatenate([occurred, started[has_start]]), return_inverse=True
    )
    epoch = config.start.timestamp()
    from_ts = datetime.fromtimestamp
    stamps = [from_ts(epoch + x, UTC) for x in seconds.tolist()]
    occ_dt = list(map(stamps.__getitem__, inverse[: occurred.size].tolist()))
    start_idx = np.full(occurred.size, -1, dtype=np.int64)
    start_idx[has_start] = inverse[occurred.size :]
    stamps.append(None)  # type: ignore[arg-type]  # index -1: no start
    start_dt = list(map(stamps.__getitem__, start_idx.tolist()))

    names = list(map(ACTIVITIES.__getitem__, act))
    actors = list(map(agent_names.__getitem__, who))
    teams = list(map(TEAMS.__getitem__, tm))
    attrs = [{} if x < 0 else {"satisfaction": x} for x in sat]
    steps = list(
        map(ActivityRow, names, occ_dt, actors, teams, start_dt, repeat(None), attrs)
    )

    width = max(6, len(str(n)))
    source = f"csmine-demo seed={config.seed}"
    histories = []
    for g, (k, i) in enumerate(
        zip(site_of[order].tolist(), local[order].tolist(), strict=True)
    ):
        plan = sites[k][0]
        region = REGIONS[plan.region[i]]
        case = {
            "channel": CHANNELS[plan.channel[i]],
            "category": CATEGORIES[plan.category[i]],
            "priority": PRIORITIES[plan.priority[i]],
            "emotion": EMOTIONS[plan.emotion[i]],
            "customer": plan.customer[i],
            "team": f"{FIRST_LINE} {region}",
            "region": region,
        }
        mine = tuple(steps[bounds[g] : bounds[g + 1]])
        histories.append(
            TicketHistory(
                f"T-{g + 1:0{width}d}", mine[0].occurred_at, case, mine, source
            )
        )

    table = _Table(
        ticket=np.asarray(tk, dtype=np.int64),
        activity=np.asarray(act, dtype=np.int8),
        occurred=occurred,
        started=started,
        team=np.asarray(tm, dtype=np.int8),
        satisfaction=np.asarray(sat, dtype=np.int16),
    )

    def column(attr: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(p, attr)) for p, _, _ in sites])[
            order
        ]

    cases = _Cases(
        opened=np.round(arrival[order] * 60.0).astype(np.int64),
        phase=column("phase"),
        category=column("category"),
        emotion=column("emotion"),
        region=column("region"),
        channel=column("channel"),
    )
    return tuple(histories), table, cases


# ---------------------------------------------------------------------------
# Ground truth, measured on the rows
# ---------------------------------------------------------------------------


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def _share(count: int, total: int) -> float:
    return count / total if total else float("nan")


def _measure(
    config: SimulationConfig, cases: _Cases, tb: _Table, cal: _Calendar
) -> GroundTruth:
    n = cases.opened.size
    phase, category, emotion = cases.phase, cases.category, cases.emotion
    phase_keys = [
        (_PHASE_NAMES[k], k) for k in range(3) if (k < 2 or config.rollout_weeks)
    ]
    phase_keys.append((_NO_PHASE, -1))
    act, tk = tb.activity, tb.ticket

    def has(activity: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[tk[act == activity]] = True
        return out

    def rates(
        flag: np.ndarray, mask: np.ndarray, designed: Mapping[str, float]
    ) -> tuple[PhaseRate, ...]:
        out = []
        for name, k in phase_keys:
            sel = mask & (phase == k)
            total, count = int(sel.sum()), int((flag & sel).sum())
            out.append(
                PhaseRate(name, total, count, _share(count, total), designed.get(name))
            )
        return tuple(out)

    # 1. first-response timeouts: first Record per ticket
    rec = np.flatnonzero(act == RECORD)
    first_rec = np.full(n, -1, dtype=np.int64)
    first_of_ticket = np.ones(rec.size, dtype=bool)
    first_of_ticket[1:] = tk[rec][1:] != tk[rec][:-1]
    first_rec[tk[rec][first_of_ticket]] = tb.occurred[rec][first_of_ticket]
    late = (first_rec - cases.opened) > _FIRST_RESPONSE_LIMIT_S
    everyone = np.ones(n, dtype=bool)
    fr_rates = rates(late, everyone, _DESIGNED_TIMEOUT)
    first_response = FirstResponseTruth(
        limit_minutes=_FIRST_RESPONSE_LIMIT_S // 60,
        rates=fr_rates,
        pilot_minus_baseline=_rate_lookup(fr_rates, "pilot").share
        - _rate_lookup(fr_rates, "baseline").share,
    )

    # 2. bottleneck: waiting on each (source, target, target team)
    same = tk[1:] == tk[:-1]
    src, dst = act[:-1][same], act[1:][same]
    team = tb.team[1:][same]
    begin = np.where(tb.started[1:] >= 0, tb.started[1:], tb.occurred[1:])[same]
    wait = (begin - tb.occurred[:-1][same]) / 3600.0
    span = (tb.occurred[1:][same] - tb.occurred[:-1][same]) / 3600.0
    key = (src.astype(np.int64) * 16 + dst) * 4 + team
    total_all = float(wait.sum())
    ranking = []
    for k in np.unique(key):
        w = wait[key == k]
        ranking.append(
            TransitionWait(
                source=ACTIVITIES[k // 64],
                target=ACTIVITIES[(k // 4) % 16],
                team=TEAMS[k % 4],
                occurrences=int(w.size),
                median_wait_hours=_median(w),
                p90_wait_hours=float(np.percentile(w, 90)),
                total_wait_hours=float(w.sum()),
                share_of_total_wait=float(w.sum()) / total_all
                if total_all
                else float("nan"),
            )
        )
    ranking.sort(key=lambda r: -r.total_wait_hours)
    span_totals = {int(k): float(span[key == k].sum()) for k in np.unique(key)}
    kt = max(span_totals, key=span_totals.__getitem__)
    bottleneck = BottleneckTruth(
        top=ranking[0],
        designed_top=(ACTIVITIES[ESCALATE], ACTIVITIES[HANDLE], SPECIALIST),
        ranking=tuple(ranking[:5]),
        top_by_timestamps=(
            ACTIVITIES[kt // 64],
            ACTIVITIES[(kt // 4) % 16],
            TEAMS[kt % 4],
        ),
    )

    # 3. callbacks skipped: tickets with no Callback at all
    skipped = ~has(CALLBACK)
    complaint = category == _COMPLAINT
    callback_skips = CallbackSkipTruth(
        category="complaint",
        rates=rates(
            skipped, complaint, {"baseline": 0.20, "pilot": 0.03, "rollout": 0.03}
        ),
        all_categories=rates(skipped, everyone, {}),
    )

    # 4. ping-pong: Handle teams contain Specialist, First line, Specialist
    h = np.flatnonzero(act == HANDLE)
    ht, hteam = tk[h], tb.team[h]
    pp = np.zeros(n, dtype=bool)
    if h.size >= 3:
        tri = (
            (ht[:-2] == ht[2:])
            & (hteam[:-2] == _SP)
            & (hteam[1:-1] == _FL)
            & (hteam[2:] == _SP)
        )
        pp[ht[:-2][tri]] = True
    with_sp = np.zeros(n, dtype=bool)
    with_sp[ht[hteam == _SP]] = True
    ping_pong = PingPongTruth(
        teams=(SPECIALIST, FIRST_LINE),
        pattern=f"{SPECIALIST} -> {FIRST_LINE} -> {SPECIALIST}",
        tickets=int(pp.sum()),
        share=_share(int(pp.sum()), n),
        share_of_specialist_tickets=_share(int(pp.sum()), int(with_sp.sum())),
        designed_share_of_specialist_tickets=_P_PING_PONG,
    )

    # 5. knowledge base down
    kb_date = config.knowledge_base_down
    kb = (kb_date - cal.first_date).days
    h_start = tb.started[h]
    h_min = (tb.occurred[h] - h_start) / 60.0
    h_day = cal.day_index(h_start / 60.0)
    on_kb = h_day == kb
    kb_med, other_med = _median(h_min[on_kb]), _median(h_min[~on_kb])
    knowledge_base_down = KnowledgeBaseTruth(
        date=kb_date.isoformat(),
        designed_factor=_KB_DOWN_FACTOR,
        handles_that_day=int(on_kb.sum()),
        median_handle_minutes_that_day=kb_med,
        median_handle_minutes_other_days=other_med,
        ratio=kb_med / other_med if other_med else float("nan"),
    )

    # 6. reopens and waiting on the customer
    reopened = has(REOPEN)
    reopens = ReopenTruth(
        _P_REOPEN, int(reopened.sum()), _share(int(reopened.sum()), n)
    )
    w_idx = np.flatnonzero(act == WAIT)
    pauses = []
    if w_idx.size:
        # a wait is always followed by the Handle it waits for
        nxt = w_idx + 1
        pauses = ((tb.started[nxt] - tb.occurred[w_idx]) / 3600.0).tolist()
    waited = has(WAIT)
    customer_waits = CustomerWaitTruth(
        designed_share=_P_CUSTOMER_WAIT,
        tickets=int(waited.sum()),
        share=_share(int(waited.sum()), n),
        waits=int(w_idx.size),
        median_pause_hours=_median(np.asarray(pauses)),
    )

    # 7. satisfaction
    c = np.flatnonzero(act == CALLBACK)
    c_t, c_s = tk[c], tb.satisfaction[c].astype(float)

    def mean_where(mask: np.ndarray) -> float:
        sel = mask[c_t]
        return float(c_s[sel].mean()) if sel.any() else float("nan")

    by_phase = []
    for name, k in phase_keys:
        sel = phase[c_t] == k
        by_phase.append(
            PhaseMean(
                name,
                int(sel.sum()),
                float(c_s[sel].mean()) if sel.any() else float("nan"),
                _DESIGNED_SATISFACTION.get(name),
            )
        )
    angry = emotion == _ANGRY
    satisfaction = SatisfactionTruth(
        by_phase=tuple(by_phase),
        late_first_response=mean_where(late),
        on_time_first_response=mean_where(~late),
        angry=mean_where(angry),
        not_angry=mean_where(~angry),
        ping_pong=mean_where(pp),
        no_ping_pong=mean_where(~pp),
    )

    escalated = has(ESCALATE)
    escalation_share = {
        name: _share(
            int((escalated & (category == k)).sum()), int((category == k).sum())
        )
        for k, name in enumerate(CATEGORIES)
    }
    escalation_share["all"] = _share(int(escalated.sum()), n)
    planted = _measure_planted(config, cases, tb, cal, late, has) if config.causes else ()
    return GroundTruth(
        seed=config.seed,
        tickets=n,
        events=int(act.size),
        timezone=config.timezone,
        start=config.start.isoformat(),
        end=config.end.isoformat(),
        phase_tickets={name: int((phase == k).sum()) for name, k in phase_keys},
        escalation_share=escalation_share,
        first_response=first_response,
        bottleneck=bottleneck,
        callback_skips=callback_skips,
        ping_pong=ping_pong,
        knowledge_base_down=knowledge_base_down,
        reopens=reopens,
        customer_waits=customer_waits,
        satisfaction=satisfaction,
        planted=planted,
    )


def _measure_planted(
    config: SimulationConfig,
    cases: _Cases,
    tb: _Table,
    cal: _Calendar,
    late: np.ndarray,
    has: Any,
) -> tuple[PlantedTruth, ...]:
    """Each planted cause's outcome in its group and outside, measured on the rows as csmine
    defines the outcome (every simulated ticket is closed and resolved)."""
    n = cases.opened.size
    worked = tb.started >= 0
    handling = np.bincount(
        tb.ticket[worked], weights=(tb.occurred - tb.started)[worked], minlength=n
    ).astype(float)
    slow = handling > np.quantile(handling, 0.8)
    day = cal.day_index(cases.opened / 60.0)
    weekdays = np.array([cal.weekday(int(d)) for d in range(int(day.max()) + 1)])[day]
    flags = {
        "slow-team": slow,
        "skip-step": ~has(CLASSIFY),
        "weekday-queue": late,
        "reopen": has(REOPEN),
    }
    out = []
    for cause in config.causes:
        if cause.kind in ("slow-team", "reopen"):
            group = (cases.region == REGIONS.index(str(cause.region))) & _in_category(
                cases.category, cause.category
            )
        elif cause.kind == "skip-step":
            group = cases.channel == CHANNELS.index(str(cause.channel))
        else:
            group = weekdays == cause.weekday
        flag = flags[cause.kind]
        n_in, n_out = int(group.sum()), int((~group).sum())
        share_in = _share(int((flag & group).sum()), n_in)
        share_out = _share(int((flag & ~group).sum()), n_out)
        effect = share_in / share_out if share_out > 0 else None
        compared_with = "the other tickets"
        if cause.kind in ("slow-team", "reopen") and cause.category is not None:
            same = (cases.category == CATEGORIES.index(cause.category)) & ~group
            base = _share(int((flag & same).sum()), int(same.sum()))
            effect = share_in / base if base > 0 else None
            compared_with = f"{cause.category} tickets of the other teams"
        out.append(
            PlantedTruth(
                kind=cause.kind,
                description=cause.describe(),
                outcome=cause.outcome,
                group=cause.group,
                strength=cause.strength,
                affected=n_in,
                share_in=share_in,
                share_out=share_out,
                lift=share_in / share_out if share_out > 0 else None,
                effect=effect,
                compared_with=compared_with,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------
# Scale and frames
# ---------------------------------------------------------------------------

#: Mean activity rows per ticket under the default model (measured, seeds 7/11/23).
EVENTS_PER_TICKET = 6.73


def tickets_for_events(n_events: int) -> int:
    """How many tickets give about ``n_events`` activity rows."""
    return max(1, round(n_events / EVENTS_PER_TICKET))


def scale_histories(n_events_target: int, seed: int = 7) -> tuple[TicketHistory, ...]:
    """Histories with about ``n_events_target`` events, for benchmarks.

    The centre is the default one with the ticket count set by
    :func:`tickets_for_events` and staff scaled in proportion, so queues and the
    built-in effects keep their shape. For the ground truth as well, call
    ``simulate(SimulationConfig(tickets=tickets_for_events(n), seed=seed))``.

    Args:
        n_events_target: wanted number of activity rows (within a few percent).
        seed: random seed.
    """
    return simulate(
        SimulationConfig(tickets=tickets_for_events(n_events_target), seed=seed)
    ).histories


def histories_to_frame(
    histories: Sequence[TicketHistory],
    phases: Sequence[PhaseSpec] = (),
    *,
    attributes: Sequence[str] | str | None = "all",
) -> pd.DataFrame:
    """The event-log frame of the histories, as ``csmine.eventlog.loading`` would give it.

    One row per activity row, sorted by (case, time, version), with the pm4py column
    names of ``csmine.eventlog.loading.load_event_log``. Numbering follows an import in the
    given order: each ticket takes one notification id for its opening and one per step,
    so ``@@event_id`` is the global position and ``@@version`` runs 1, 2, ... within
    the ticket (version 0 is the opening). ``recorded_at`` equals business time, as
    if recorded live; ``org:group`` falls back to the ticket's team.

    Args:
        histories: the tickets.
        phases: phases to fill ``case:phase`` (first matching phase; else None).
        attributes: free attributes to add as columns: ``"all"`` (default), a list
            of names, or ``None`` for none. Step attributes (e.g. ``satisfaction``)
            keep their name; case attributes outside the standard case fields get a
            ``case:`` prefix.

    Returns:
        A DataFrame; time columns are ``datetime64[us, UTC]``.
    """
    import pandas as pd

    want_all = attributes == "all"
    wanted: set[str] = (
        set() if attributes is None or isinstance(attributes, str) else set(attributes)
    )
    counts = np.fromiter(
        (len(h.steps) for h in histories), dtype=np.int64, count=len(histories)
    )
    steps = [step for h in histories for step in h.steps]
    total = len(steps)
    ticket_of_row = np.repeat(np.arange(len(histories)), counts)
    row_start = (
        np.concatenate([[0], np.cumsum(counts)[:-1]])
        if len(histories)
        else np.zeros(0, np.int64)
    )
    nan = float("nan")

    def per_ticket(values: list[Any]) -> np.ndarray:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return np.repeat(arr, counts)

    def to_us(seconds: list[float]) -> np.ndarray:
        us = np.round(np.asarray(seconds, dtype=float) * 1e6)
        return np.where(np.isnan(us), np.iinfo(np.int64).min, us).astype(np.int64)

    def to_time(seconds: list[float] | np.ndarray) -> pd.Series:
        values = seconds if isinstance(seconds, np.ndarray) else to_us(seconds)
        return pd.Series(values.view("datetime64[us]")).dt.tz_localize("UTC")

    timestamp = datetime.timestamp
    occurred_us = to_us(list(map(timestamp, map(attrgetter("occurred_at"), steps))))
    started = [
        nan if d is None else timestamp(d) for d in map(attrgetter("started_at"), steps)
    ]
    ticket_team = per_ticket([h.case.get("team") for h in histories])
    groups = np.asarray(list(map(attrgetter("team"), steps)), dtype=object)
    missing = np.array([g is None for g in groups], dtype=bool)
    groups[missing] = ticket_team[missing]

    data: dict[str, Any] = {
        "case:concept:name": per_ticket([h.ticket for h in histories]),
        "concept:name": list(map(attrgetter("activity"), steps)),
        "time:timestamp": to_time(occurred_us),
        "start_timestamp": to_time(started),
        "org:resource": list(map(attrgetter("actor"), steps)),
        "org:group": groups,
    }
    for key in CASE_FIELDS:
        data[f"case:{key}"] = per_ticket([h.case.get(key) for h in histories])
    data["case:opened_at"] = to_time(
        np.repeat([h.opened_at.timestamp() for h in histories], counts).tolist()
    )
    data["case:phase"] = per_ticket(
        [phase_of(h.opened_at, h.case, phases) if phases else None for h in histories]
    )
    rows = np.arange(total, dtype=np.int64)
    data["@@event_id"] = rows + ticket_of_row + 2
    data["@@version"] = rows - row_start[ticket_of_row] + 1 if total else rows
    data["recorded_at"] = data["time:timestamp"].copy()
    data["source_ref"] = list(map(attrgetter("source_ref"), steps))
    frame = pd.DataFrame(
        {
            k: v
            if isinstance(v, pd.Series) or k.startswith("@@")
            else pd.Series(v, dtype=object)
            for k, v in data.items()
        }
    )

    if want_all or wanted:
        extra: dict[str, dict[int, Any]] = {}
        for r, step in enumerate(steps):
            if step.attrs:
                for key, value in step.attrs.items():
                    if want_all or key in wanted:
                        extra.setdefault(key, {})[r] = value
        for t, h in enumerate(histories):
            for key, value in h.case.items():
                if key not in CASE_FIELDS and (want_all or key in wanted):
                    col = extra.setdefault(f"case:{key}", {})
                    for r in range(int(row_start[t]), int(row_start[t] + counts[t])):
                        col[r] = value
        for key, col in extra.items():
            if key in frame.columns:
                continue
            series = pd.Series(col, dtype=object).reindex(frame.index)
            if all(
                isinstance(x, int | float) and not isinstance(x, bool)
                for x in col.values()
            ):
                series = pd.to_numeric(series)
            frame[key] = series

    if not _is_sorted(frame["case:concept:name"].to_numpy(), occurred_us):
        frame = frame.sort_values(
            ["case:concept:name", "time:timestamp", "@@version"], kind="stable"
        ).reset_index(drop=True)
    return frame


def _is_sorted(case: np.ndarray, time_us: np.ndarray) -> bool:
    if case.size < 2:
        return True
    if not bool(np.all(case[1:] >= case[:-1])):
        return False
    same = case[1:] == case[:-1]
    return bool(np.all(time_us[1:][same] >= time_us[:-1][same]))
