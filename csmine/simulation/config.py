"""What to simulate: :class:`SimulationConfig`, its phases and the causes it can plant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csmine.errors import SimulationError
from csmine.simulation.parameters import CATEGORIES, CHANNELS, FIRST_LINE, REGIONS, _TICKETS_PER_SITE


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


__all__ = [
    "CAUSE_OUTCOMES",
    "PhaseSpec",
    "PlantedCause",
    "SimulationConfig",
]
