"""The pilot's daily review and weekly bulletin.

:func:`review_day` answers what a pilot team asks every morning about day *D*
(a calendar day in the team's time zone):

* **KPIs of the day**: the tickets opened on *D*, each KPI against the SOP's target
  (:func:`csmine.performance.summary.summarise_kpis`) and against the baseline phase (the same
  bootstrap comparison as ``csmine compare``; a single day is often too small to
  conclude, and the review says so);
* **deviations new that day**: deviations from the SOP (optimal alignments,
  :func:`csmine.conformance.deviations.ticket_deviations`) dated on *D* whose kind and step
  had not been seen on any earlier day of the log reviewed;
* **time limits breached that day**: the SLA clocks of the replay
  (:func:`csmine.monitoring.clocks.limit_clocks`) whose deadline passed on *D* with the step
  missing, so exactly the ``breach`` alerts ``csmine replay`` fires that day, each
  with the ``csmine trace TICKET`` command that shows the ticket;
* **the top bottleneck of the day**: the path ``a -> b`` whose waits *ending on D*
  (from an event of ``a`` to the ticket's next event, of ``b``) add up to the most
  waiting time (:func:`csmine.pilot.days.day_bottleneck`);
* **what changed since the previous day** (the latest earlier day with activity).

:func:`review_week` is the weekly bulletin for an ISO week: SOP adherence of every
team and agent (steps they did without a deviation or a late step), the best and
worst of them, and violations an agent repeated ("A-E-03: 3 late first responses");
its parts are in :mod:`csmine.pilot.adherence`.

Dating (:mod:`csmine.pilot.days`): a deviation on an event is dated by the event; a
skipped step by the event recorded in its place; a breach by its deadline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import pandas as pd

from csmine.errors import ReviewError
from csmine.pilot.adherence import (
    Adherence,
    RepeatedViolation,
    rank_adherence,
    repeated_violations,
    tally,
    team_steps,
    worst_of,
)
from csmine.pilot.days import (
    CASE_ID,
    TIMESTAMP,
    DayBottleneck,
    day_bottleneck,
    day_bounds,
    deviation_times,
    local_dates,
    parse_week,
)
from csmine.pilot.kpis import DayKpi, day_kpis
from csmine.pilot.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.performance.business_calendar import BusinessCalendar

#: Steps an agent must have done in the week to be ranked on adherence.
MIN_AGENT_STEPS = 10
#: Steps a team must have done in the week to be ranked.
MIN_TEAM_STEPS = 30
#: How many best and worst teams / agents the bulletin names.
BULLETIN_TOP = 3


# ---------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewDeviation:
    """A kind of deviation on a step seen for the first time on the day.

    Attributes:
        kind: deviation kind (skipped, extra, out_of_order, repeated, wrong_branch).
        step: the step (or unknown activity).
        count: deviations of this kind and step on the day.
        tickets: the tickets (sorted, at most 10).
    """

    kind: str
    step: str
    count: int
    tickets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Breach:
    """A time limit breached on the day (its deadline passed on the day).

    Attributes:
        ticket: ticket id.  step: the limited step.  limit: the limit in words.
        deadline: ISO time the limit ran out.
        status: ``late`` (the step came afterwards) or ``missing`` (it never came
            before the ticket closed or the log ends).
        late_s: how far past the deadline the step came (or the clock stopped).
        actor: who did the late step (or the event that stopped the clock).
        trace: the command that shows the ticket's whole history.
    """

    ticket: str
    step: str
    limit: str
    deadline: str
    status: str
    late_s: float
    actor: str | None
    trace: str


@dataclass(frozen=True, slots=True)
class DayCount:
    """A count on the day and on the previous active day."""

    name: str
    day: int
    previous: int


@dataclass(frozen=True)
class DayReview:
    """The daily review of one day.

    Attributes:
        day: the day (ISO date).  tz: its time zone.
        phase: phase reviewed (None: the whole log given).  sop: SOP id (None:
            no SOP -- the KPIs that need none, the bottleneck and the counts; no
            deviations or breaches).
        baseline: name of the baseline phase compared with (None: none).
        previous_day: the latest earlier day with activity (ISO) or None.
        tickets_opened: tickets opened on the day.  events: events recorded on it.
        kpis: the day's KPIs.
        new_deviations: kinds x steps of deviation first seen on the day.
        deviations: all deviations dated on the day, ``{kind: {step: count}}``.
        breaches: limits breached on the day, by deadline.
        bottleneck: the day's top bottleneck (None when no wait ended that day).
        previous_bottleneck: the previous day's, for comparison.
        changes: counts of the day against the previous day.
        notes: caveats.
    """

    day: str
    tz: str
    phase: str | None
    sop: str | None
    baseline: str | None
    previous_day: str | None
    tickets_opened: int
    events: int
    kpis: tuple[DayKpi, ...]
    new_deviations: tuple[NewDeviation, ...]
    deviations: dict[str, dict[str, int]]
    breaches: tuple[Breach, ...]
    bottleneck: DayBottleneck | None
    previous_bottleneck: DayBottleneck | None
    changes: tuple[DayCount, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class WeekBulletin:
    """The weekly bulletin.

    Attributes:
        week: ISO week (``2025-W10``).  start: its Monday.  end: the next Monday.
        tz: time zone.  phase: phase (None: all).  sop: SOP id.
        tickets_opened: tickets opened in the week.  events: events in it.
        teams: adherence of every team, best first.  agents: of every agent.
        best_teams / worst_teams / best_agents / worst_agents: the top and bottom
            :data:`BULLETIN_TOP` among those ranked (the worst never repeat the
            best: with few ranked, the worst list is shorter or empty).
        repeated: violations agents repeated, most first.
        notes: caveats.
    """

    week: str
    start: str
    end: str
    tz: str
    phase: str | None
    sop: str
    tickets_opened: int
    events: int
    teams: tuple[Adherence, ...]
    agents: tuple[Adherence, ...]
    best_teams: tuple[Adherence, ...]
    worst_teams: tuple[Adherence, ...]
    best_agents: tuple[Adherence, ...]
    worst_agents: tuple[Adherence, ...]
    repeated: tuple[RepeatedViolation, ...]
    notes: tuple[str, ...]


# ---------------------------------------------------------------------------------
# The day
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Day:
    """The day reviewed, the previous active day, and what each of them holds."""

    day: date
    tz: tzinfo
    lo: pd.Timestamp
    hi: pd.Timestamp
    opened: pd.Series  # opening time per ticket (index: ticket)
    tickets: pd.Index  # the tickets opened on the day
    events: int
    previous: date | None
    previous_events: int
    previous_opened: int


def _day_window(df: pd.DataFrame, day: date, tz: tzinfo) -> _Day:
    lo, hi = day_bounds(day, tz)
    times = df[TIMESTAMP]
    on_day = ((times >= lo) & (times < hi)).to_numpy()
    opened = df.drop_duplicates(CASE_ID).set_index(CASE_ID)["case:opened_at"]
    day_tickets = opened.index[((opened >= lo) & (opened < hi)).to_numpy()]
    if not on_day.any() and len(day_tickets) == 0:
        raise ReviewError(f"nothing happened on {day.isoformat()} ({tz}) in the tickets reviewed: "
                          "choose another --day (or check --phase and --tz)")
    before = df[(times < lo).to_numpy()]
    active_days = sorted(set(local_dates(before[TIMESTAMP], tz))) if len(before) else []
    previous = active_days[-1] if active_days else None
    prev_events = prev_opened = 0
    if previous is not None:
        plo, phi = day_bounds(previous, tz)
        prev_events = int(((times >= plo) & (times < phi)).sum())
        prev_opened = int(((opened >= plo) & (opened < phi)).sum())
    return _Day(day, tz, lo, hi, opened, day_tickets, int(on_day.sum()), previous, prev_events, prev_opened)


def _kpi_section(df: pd.DataFrame, d: _Day, sop: SOP | None, baseline: pd.DataFrame | None, *,
                 calendar: BusinessCalendar | None, closing: ClosingRule | None, resamples: int, seed: int,
                 notes: list[str]) -> list[DayKpi]:
    """KPIs of the tickets opened that day (with their whole recorded history)."""
    from csmine.performance.kpi import ticket_kpis

    def kpis_of(frame: pd.DataFrame) -> pd.DataFrame:
        return ticket_kpis(frame, sop, calendar=calendar, closing=closing)

    rows: list[DayKpi] = []
    if len(d.tickets):
        frame = kpis_of(df[df[CASE_ID].isin(d.tickets)])
        prev_frame = None
        if d.previous is not None:
            plo, phi = day_bounds(d.previous, d.tz)
            prev_ids = d.opened.index[((d.opened >= plo) & (d.opened < phi)).to_numpy()]
            if len(prev_ids):
                prev_frame = kpis_of(df[df[CASE_ID].isin(prev_ids)])
        base_frame = kpis_of(baseline) if baseline is not None and len(baseline) else None
        rows = day_kpis(frame, prev_frame, base_frame, sop, resamples=resamples, seed=seed, notes=notes)
    else:
        notes.append("no ticket was opened on the day: no KPIs")
    if baseline is None:
        notes.append("no baseline phase to compare with (define one named 'baseline', or give --baseline)")
    return rows


def _deviation_section(df: pd.DataFrame, d: _Day, sop: SOP | None
                       ) -> tuple[dict[str, dict[str, int]], list[NewDeviation], int, int]:
    """Deviations dated on the day (``{kind: {step: count}}``), the kinds x steps new
    that day, and how many deviations were dated on the day and on the previous day."""
    from csmine.conformance.deviations import ticket_deviations

    dev = ticket_deviations(df, sop) if sop is not None else pd.DataFrame()
    if not len(dev):
        return {}, [], 0, 0
    dev_days = local_dates(deviation_times(df, dev), d.tz)
    today = dev[(dev_days == d.day).to_numpy()]
    earlier = dev[(dev_days < d.day).to_numpy()]
    prev_devs = int((dev_days == d.previous).sum()) if d.previous is not None else 0
    seen = set(zip(earlier["kind"], earlier["step"], strict=True))
    deviations: dict[str, dict[str, int]] = {}
    new: list[NewDeviation] = []
    for (kind, step), grp in today.groupby(["kind", "step"], sort=True):
        deviations.setdefault(str(kind), {})[str(step)] = len(grp)
        if (kind, step) not in seen:
            new.append(NewDeviation(str(kind), str(step), len(grp),
                                    tuple(sorted(set(grp["ticket"].astype(str)))[:10])))
    new.sort(key=lambda x: (-x.count, x.kind, x.step))
    return deviations, new, len(today), prev_devs


def _name(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _breach_section(df: pd.DataFrame, d: _Day, sop: SOP | None,
                    calendar: BusinessCalendar | None) -> tuple[list[Breach], int]:
    """Time limits breached on the day (deadline on the day), as the replay fires
    them, and how many were breached on the previous day."""
    from csmine.monitoring.clocks import limit_clocks

    clocks = limit_clocks(df, sop, calendar=calendar) if sop is not None else pd.DataFrame()
    if not len(clocks):
        return [], 0
    words = {lim.step: lim.describe() for lim in sop.limits}
    hit = clocks[clocks["breached"].to_numpy(dtype=bool)]
    dl = hit["deadline"]
    today = hit[((dl >= d.lo) & (dl < d.hi)).to_numpy()].sort_values(["deadline", "ticket", "step"])
    breaches = [Breach(str(r.ticket), str(r.step), words.get(str(r.step), ""), pd.Timestamp(r.deadline).isoformat(),
                       str(r.status), float(r.late_s), _name(r.actor), f"csmine trace {r.ticket}")
                for r in today.itertuples(index=False)]
    prev_breaches = 0
    if d.previous is not None:
        plo, phi = day_bounds(d.previous, d.tz)
        prev_breaches = int(((dl >= plo) & (dl < phi)).sum())
    return breaches, prev_breaches


def review_day(
    df: pd.DataFrame,
    sop: SOP | None,
    day: date,
    *,
    tz: tzinfo = UTC,
    baseline: pd.DataFrame | None = None,
    baseline_name: str | None = None,
    phase: str | None = None,
    calendar: BusinessCalendar | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    closing: ClosingRule | None = None,
) -> DayReview:
    """The daily review of ``day`` (see the module docstring).

    Args:
        df: event-log frame of what is reviewed (e.g. the pilot phase), with every
            day's events (earlier days are needed for "new" and "previous day").
        sop: the SOP (roles, targets, limits, flow); None: the KPIs that need no
            SOP, the top bottleneck and the counts (deviations and breaches need one).
        day: the local calendar day.
        tz: time zone of the day.
        baseline: the baseline phase's frame to hold the day's KPIs against.
        baseline_name: its name (for the report).
        phase: the phase reviewed (for the report).
        calendar: business calendar for KPIs and limits in business hours.
        resamples: bootstrap resamples.  seed: bootstrap seed.
        closing: ``--closed-when`` and the stale horizon (which tickets are still open).

    Raises:
        ReviewError: nothing happened on the day (no event, no ticket opened).
    """
    d = _day_window(df, day, tz)
    notes: list[str] = []
    kpis = _kpi_section(df, d, sop, baseline, calendar=calendar, closing=closing, resamples=resamples, seed=seed,
                        notes=notes)
    if sop is None:
        notes.append("no SOP: deviations and time limits breached are not reviewed (they need --sop NAME|FILE)")
    deviations, new, day_devs, prev_devs = _deviation_section(df, d, sop)
    breaches, prev_breaches = _breach_section(df, d, sop, calendar)
    changes = (DayCount("tickets opened", len(d.tickets), d.previous_opened),
               DayCount("events", d.events, d.previous_events))
    if sop is not None:
        changes += (DayCount("deviations", day_devs, prev_devs),
                    DayCount("limits breached", len(breaches), prev_breaches))
    return DayReview(
        day=day.isoformat(), tz=str(tz), phase=phase, sop=sop.id if sop is not None else None,
        baseline=baseline_name if baseline is not None else None,
        previous_day=None if d.previous is None else d.previous.isoformat(),
        tickets_opened=len(d.tickets), events=d.events, kpis=tuple(kpis), new_deviations=tuple(new),
        deviations=deviations, breaches=tuple(breaches), bottleneck=day_bottleneck(df, day, tz),
        previous_bottleneck=day_bottleneck(df, d.previous, tz) if d.previous is not None else None,
        changes=changes, notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------
# The week
# ---------------------------------------------------------------------------------


def _week_deviations(df: pd.DataFrame, sop: SOP, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """The deviations dated in ``[lo, hi)``."""
    from csmine.conformance.deviations import ticket_deviations

    dev = ticket_deviations(df, sop)
    if len(dev):
        dt = deviation_times(df, dev)
        dev = dev[((dt >= lo) & (dt < hi)).to_numpy()]
    return dev


def _week_late(df: pd.DataFrame, sop: SOP, calendar: BusinessCalendar | None, lo: pd.Timestamp,
               hi: pd.Timestamp) -> pd.DataFrame:
    """The SLA clocks breached with their deadline in ``[lo, hi)``."""
    from csmine.monitoring.clocks import limit_clocks

    clocks = limit_clocks(df, sop, calendar=calendar)
    late = clocks.iloc[0:0]
    if len(clocks):
        b = clocks[clocks["breached"].to_numpy(dtype=bool)]
        late = b[((b["deadline"] >= lo) & (b["deadline"] < hi)).to_numpy()]
    return late


def review_week(
    df: pd.DataFrame,
    sop: SOP,
    week: str,
    *,
    tz: tzinfo = UTC,
    phase: str | None = None,
    calendar: BusinessCalendar | None = None,
) -> WeekBulletin:
    """The weekly bulletin of an ISO week (see the module docstring).

    Steps, deviations and late steps are those dated in the week (Monday 00:00 to
    the next Monday, local time). Deviations are counted for the agent and team
    :func:`csmine.conformance.deviations.ticket_deviations` names (a skipped step for whoever
    recorded the event done in its place); a breached limit for whoever did the late
    step, or recorded the event that stopped its clock; a limit still missing at the
    end of the log for whoever started its clock.

    Raises:
        ReviewError: unreadable week, or no event in it.
    """
    monday = parse_week(week)
    lo, _ = day_bounds(monday, tz)
    _, hi = day_bounds(monday + timedelta(days=6), tz)
    times = df[TIMESTAMP]
    in_week = ((times >= lo) & (times < hi)).to_numpy()
    if not in_week.any():
        raise ReviewError(f"no event in week {week} ({monday.isoformat()} to "
                          f"{(monday + timedelta(days=6)).isoformat()}, {tz}): choose another --week")
    events = df[in_week]
    opened = df.drop_duplicates(CASE_ID)["case:opened_at"]
    dev = _week_deviations(df, sop, lo, hi)
    late = _week_late(df, sop, calendar, lo, hi)
    agents = rank_adherence(tally(events, "org:resource"), tally(dev, "agent"), tally(late, "actor"),
                            MIN_AGENT_STEPS)
    teams = rank_adherence(team_steps(events), tally(dev, "team"), tally(late, "team"), MIN_TEAM_STEPS)
    ranked_a = [a for a in agents if a.ranked]
    ranked_t = [t for t in teams if t.ranked]
    notes = []
    if not ranked_a:
        notes.append(f"no agent did {MIN_AGENT_STEPS} or more steps in the week: agents not ranked")
    if not ranked_t:
        notes.append(f"no team did {MIN_TEAM_STEPS} or more steps in the week: teams not ranked")
    iso = monday.isocalendar()
    return WeekBulletin(
        week=f"{iso.year}-W{iso.week:02d}", start=monday.isoformat(), end=(monday + timedelta(days=7)).isoformat(),
        tz=str(tz), phase=phase, sop=sop.id, tickets_opened=int(((opened >= lo) & (opened < hi)).sum()),
        events=int(in_week.sum()), teams=tuple(teams), agents=tuple(agents),
        best_teams=tuple(ranked_t[:BULLETIN_TOP]), worst_teams=worst_of(ranked_t, BULLETIN_TOP),
        best_agents=tuple(ranked_a[:BULLETIN_TOP]), worst_agents=worst_of(ranked_a, BULLETIN_TOP),
        repeated=tuple(repeated_violations(dev, late, sop)), notes=tuple(notes),
    )


__all__ = [
    "BULLETIN_TOP",
    "MIN_AGENT_STEPS",
    "MIN_TEAM_STEPS",
    "Breach",
    "DayCount",
    "DayReview",
    "NewDeviation",
    "WeekBulletin",
    "review_day",
    "review_week",
]
