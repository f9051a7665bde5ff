"""The report's headline figures as typed results (what ``csmine report --json`` prints).

:func:`csmine.reports.report.build_report` returns them in
:attr:`~csmine.reports.report.ReportResult.findings`; :meth:`ReportFindings.to_dict`
is the plain JSON data (the shape ``--json`` has always had: optional sections are
left out when absent, ping-pong pairs are ``[team_a, team_b, direct, indirect]``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csmine.explain.section import WhySection
    from csmine.performance.backlog import TicketCounts
    from csmine.performance.sop_choice import SopChoice

__all__ = ["BottleneckFinding", "ConformanceFinding", "KpiChange", "PingPongFinding", "ReportFindings",
           "UnusualDay"]


@dataclass(frozen=True, slots=True)
class UnusualDay:
    """A day on which a step's working time jumped.

    Attributes:
        step: the activity.  date: the UTC day of work start (``YYYY-MM-DD``).
        median_minutes: the step's median working time (completion - start) that day.
        events: the step's events that day.
        ratio: ``median_minutes`` over the step's median over all days.
    """

    step: str
    date: str
    median_minutes: float
    events: int
    ratio: float


@dataclass(frozen=True, slots=True)
class BottleneckFinding:
    """One of the top bottlenecks: its kind, where it is, and its impact.

    Attributes:
        kind: step, transition, ... (:class:`csmine.performance.bottlenecks.Bottleneck`).
        where: the step or path in words.  key: its identifying names.
        impact_s: time saved over all tickets if slower-than-median occurrences took the median.
    """

    kind: str
    where: str
    key: tuple[str, ...]
    impact_s: float


@dataclass(frozen=True, slots=True)
class PingPongFinding:
    """Two teams (or agents) that bounce tickets between them.

    Attributes:
        team_a / team_b: the pair.  direct: A→B→A bounces.  indirect: A→B→…→A returns.
    """

    team_a: str
    team_b: str
    direct: int
    indirect: int


@dataclass(frozen=True, slots=True)
class ConformanceFinding:
    """The log against its SOP in four figures.

    Attributes:
        fitness: log fitness (0-1, alignments).  fitting_share: tickets that follow the SOP exactly.
        precision: align-ETC precision (0-1), None when not computed.
        skipped: SOP step -> share of tickets that skipped it.
    """

    fitness: float
    fitting_share: float
    precision: float | None
    skipped: dict[str, float]


@dataclass(frozen=True, slots=True)
class KpiChange:
    """One KPI of the phase comparison, B against A.

    Attributes:
        a / b: the KPI on each side.  diff: ``b - a``.
        ci: 95% percentile-bootstrap interval of ``diff``.
        significant: the interval excludes 0.
    """

    a: float
    b: float
    diff: float
    ci: tuple[float, float]
    significant: bool


@dataclass(frozen=True, slots=True)
class ReportFindings:
    """The report's headline figures.

    Attributes:
        tickets / events: size of the analysed log.  sop: the SOP used (None: none).
        sop_choice: how the SOP was chosen (or why none was).
        kpis: KPI name -> value (None when it cannot be computed).
        ticket_status: closed, open and stale tickets (None without a status).
        kpi_notes: the KPIs' caveats.  tickets_with_ties: tickets with two events at the same time.
        unusual_days: days on which a step's working time jumped, largest ratio first.
        bottlenecks: the top five bottlenecks.  ping_pong: the top five ping-pong pairs.
        conformance: the SOP's figures (None without an SOP).
        comparison: KPI key -> change of the phase comparison (None without one).
        comparison_skipped: why the automatic baseline/pilot comparison was skipped.
        why: the Why section's questions and answers (``csmine why`` on the top findings), as on the page.
    """

    tickets: int
    events: int
    sop: str | None
    sop_choice: SopChoice
    kpis: dict[str, float | None]
    ticket_status: TicketCounts | None
    kpi_notes: tuple[str, ...]
    tickets_with_ties: int
    unusual_days: tuple[UnusualDay, ...] = ()
    bottlenecks: tuple[BottleneckFinding, ...] = ()
    ping_pong: tuple[PingPongFinding, ...] = ()
    conformance: ConformanceFinding | None = None
    comparison: dict[str, KpiChange] | None = None
    comparison_skipped: str | None = None
    why: WhySection | None = None

    @property
    def slowest_handle_day(self) -> UnusualDay | None:
        """The day with the largest jump in working time, if any."""
        return self.unusual_days[0] if self.unusual_days else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (sections that are absent are left out)."""
        data: dict[str, Any] = {
            "tickets": self.tickets, "events": self.events, "sop": self.sop,
            "sop_choice": self.sop_choice.to_dict(), "kpis": dict(self.kpis),
            "ticket_status": dataclasses.asdict(self.ticket_status) if self.ticket_status is not None else None,
            "kpi_notes": list(self.kpi_notes), "tickets_with_ties": self.tickets_with_ties,
        }
        if self.comparison_skipped is not None:
            data["comparison_skipped"] = self.comparison_skipped
        data["unusual_days"] = [dataclasses.asdict(d) for d in self.unusual_days]
        if self.slowest_handle_day is not None:
            data["slowest_handle_day"] = dataclasses.asdict(self.slowest_handle_day)
        data["bottlenecks"] = [{**dataclasses.asdict(b), "key": list(b.key)} for b in self.bottlenecks]
        data["ping_pong"] = [[p.team_a, p.team_b, p.direct, p.indirect] for p in self.ping_pong]
        if self.conformance is not None:
            data["conformance"] = dataclasses.asdict(self.conformance)
        if self.comparison is not None:
            data["comparison"] = {k: {**dataclasses.asdict(c), "ci": list(c.ci)} for k, c in self.comparison.items()}
        if self.why is not None:
            data["why"] = self.why.to_dict()
        return data
