"""The pilot's daily review and weekly bulletin.

:func:`review_day` answers what a pilot team asks every morning about day *D*
(a calendar day in the team's time zone):

* **KPIs of the day**: the tickets opened on *D*, each KPI against the SOP's target
  (:func:`csmine.kpi.summarise_kpis`) and against the baseline phase (the same
  bootstrap comparison as ``csmine compare``; a single day is often too small to
  conclude, and the review says so);
* **deviations new that day**: deviations from the SOP (optimal alignments,
  :func:`csmine.conformance.ticket_deviations`) dated on *D* whose kind and step
  had not been seen on any earlier day of the log reviewed;
* **time limits breached that day**: the SLA clocks of the replay
  (:func:`csmine.replay.limit_clocks`) whose deadline passed on *D* with the step
  missing, so exactly the ``breach`` alerts ``csmine replay`` fires that day, each
  with the ``csmine trace TICKET`` command that shows the ticket;
* **the top bottleneck of the day**: the path ``a -> b`` whose waits *ending on D*
  (from an event of ``a`` to the ticket's next event, of ``b``) add up to the most
  waiting time;
* **what changed since the previous day** (the latest earlier day with activity).

:func:`review_week` is the weekly bulletin for an ISO week: SOP adherence of every
team and agent (steps they did without a deviation or a late step), the best and
worst of them, and violations an agent repeated ("A-E-03: 3 late first responses").

Dating: a deviation on an event is dated by the event; a skipped step by the event
recorded in its place; a breach by its deadline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.compare import CLOSED_ONLY, KPI_SPECS, as_float, kpi_unavailable, unmeasured_notes, verdict
from csmine.errors import CsmineError
from csmine.stats_tests import DEFAULT_RESAMPLES, DEFAULT_SEED, Change, compare_samples

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.calendar import BusinessCalendar
    from csmine.lifecycle import ClosingRule

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"

#: Steps an agent must have done in the week to be ranked on adherence.
MIN_AGENT_STEPS = 10
#: Steps a team must have done in the week to be ranked.
MIN_TEAM_STEPS = 30
#: How many best and worst teams / agents the bulletin names.
BULLETIN_TOP = 3


class ReviewError(CsmineError):
    """A review cannot be made (e.g. an unreadable week or no activity)."""


# ---------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayKpi:
    """One KPI of the day.

    Attributes:
        key: KPI key (as in ``csmine compare``).  label: words.  unit: ``share``,
            ``seconds`` or ``points``.
        value: the day's value (NaN when no ticket has one).  n: tickets measured.
        target: the SOP's target (None if none).  met: value meets it (None if no
            target or value). First-response timeouts are held against
            ``1 - sla_attainment`` (the share of tickets that may miss the SOP's
            first-response target; 10% unless the SOP sets ``sla_attainment``).
        previous: the value on the previous active day (NaN if none).
        baseline: the baseline's value (NaN without a baseline).
        vs_baseline: the day against the baseline (bootstrap; None without one).
        verdict: against the baseline: ``improved``, ``worse``, ...; "" without one.
    """

    key: str
    label: str
    unit: str
    value: float
    n: int
    target: float | None
    met: bool | None
    previous: float
    baseline: float
    vs_baseline: Change | None
    verdict: str


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
class DayBottleneck:
    """The path with the most waiting time ending on a day.

    Attributes:
        source: activity before.  target: activity after.
        waits: waits on the path ending that day.
        total_wait_s: their sum, seconds.  median_wait_s: their median.
        tickets: distinct tickets.
    """

    source: str
    target: str
    waits: int
    total_wait_s: float
    median_wait_s: float
    tickets: int


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


@dataclass(frozen=True, slots=True)
class Adherence:
    """SOP adherence of a team or an agent in the week.

    Attributes:
        who: team or agent.
        steps: steps they recorded in the week.
        deviations: deviations counted for them (see :class:`csmine.conformance.GroupConformance`).
        late: time limits breached by a late step of theirs or by a clock that
            stopped at their event (see :class:`Breach`).
        adherence: ``1 - (deviations + late) / steps``, floored at 0.
        ranked: they did enough steps to be ranked (:data:`MIN_AGENT_STEPS` /
            :data:`MIN_TEAM_STEPS`); steps without a recorded agent or team
            (``"(none)"``) are listed, never ranked.
    """

    who: str
    steps: int
    deviations: int
    late: int
    adherence: float
    ranked: bool


@dataclass(frozen=True, slots=True)
class RepeatedViolation:
    """A violation one agent committed more than once in the week.

    Attributes:
        agent: the agent.  kind: deviation kind or ``late``.  step: the step.
        count: how often.  text: e.g. ``"A-E-03: 3 late first responses"``.
        tickets: the tickets (sorted).
    """

    agent: str
    kind: str
    step: str
    count: int
    text: str
    tickets: tuple[str, ...]


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
# Helpers
# ---------------------------------------------------------------------------------


def parse_week(text: str) -> date:
    """The Monday of an ISO week ``YYYY-Www`` (e.g. ``2025-W10``).

    Raises:
        ReviewError: not an ISO week.
    """
    import re

    m = re.fullmatch(r"\s*(\d{4})-?W(\d{1,2})\s*", text, flags=re.IGNORECASE)
    if not m:
        raise ReviewError(f"cannot read week {text!r}: write an ISO week like 2025-W10")
    try:
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as exc:
        raise ReviewError(f"week {text!r} does not exist ({exc})") from exc


def day_bounds(day: date, tz: tzinfo) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of a local day as UTC timestamps."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return pd.Timestamp(start.astimezone(UTC)), pd.Timestamp(end.astimezone(UTC))


def _local_dates(times: pd.Series, tz: tzinfo) -> pd.Series:
    return times.dt.tz_convert(tz).dt.date


def _deviation_times(df: pd.DataFrame, dev: pd.DataFrame) -> pd.Series:
    """Business time of each deviation: its event's, or for a skipped step the event
    recorded in its place (``position`` within the ticket; the last event if past the end)."""
    if len(dev) == 0:
        return pd.Series([], dtype="datetime64[us, UTC]")
    times = dev["time"]
    out = pd.to_datetime(times, utc=True) if times.notna().any() else pd.Series(pd.NaT, index=dev.index,
                                                                                 dtype="datetime64[us, UTC]")
    missing = out.isna().to_numpy()
    if missing.any():
        ordered = df.sort_values([CASE_ID, TIMESTAMP, "@@version"] if "@@version" in df.columns
                                 else [CASE_ID, TIMESTAMP], kind="stable")
        pos = ordered.groupby(CASE_ID, sort=False).cumcount()
        count = ordered.groupby(CASE_ID, sort=False)[TIMESTAMP].transform("size")
        key = pd.DataFrame({"ticket": ordered[CASE_ID].astype(str).to_numpy(), "position": pos.to_numpy(),
                            "t": ordered[TIMESTAMP].to_numpy(), "n": count.to_numpy()})
        want = dev.loc[missing, ["ticket", "position"]].copy()
        want["ticket"] = want["ticket"].astype(str)
        n_of = key.drop_duplicates("ticket").set_index("ticket")["n"]
        want["position"] = np.minimum(want["position"].astype("int64").to_numpy(),
                                      want["ticket"].map(n_of).to_numpy(dtype="int64") - 1)
        merged = want.merge(key[["ticket", "position", "t"]], on=["ticket", "position"], how="left")
        out.loc[missing] = pd.to_datetime(merged["t"].to_numpy(), utc=True)
    return out


def _waits(df: pd.DataFrame) -> pd.DataFrame:
    """Every wait between consecutive events of a ticket: source, target, end time, seconds."""
    ordered = df.sort_values([CASE_ID, TIMESTAMP], kind="stable")
    case = ordered[CASE_ID].to_numpy()
    same = np.zeros(len(ordered), dtype=bool)
    same[1:] = case[1:] == case[:-1]
    t = ordered[TIMESTAMP]
    start = t.shift(1)
    if "start_timestamp" in ordered.columns:
        arrival = ordered["start_timestamp"].where(ordered["start_timestamp"].notna(), t)
    else:
        arrival = t
    acts = ordered[ACTIVITY].to_numpy(dtype=object)
    prev = np.empty(len(acts), dtype=object)
    prev[1:] = acts[:-1]
    frame = pd.DataFrame({
        "ticket": case, "source": prev, "target": acts, "end": arrival.to_numpy(),
        "wait_s": (arrival - start).dt.total_seconds().to_numpy(),
    })
    return frame[same].reset_index(drop=True)


def day_bottleneck(df: pd.DataFrame, day: date, tz: tzinfo) -> DayBottleneck | None:
    """The path whose waits ending on ``day`` add up to the most waiting time
    (ties: more waits, then by path). None when no wait ended on the day."""
    lo, hi = day_bounds(day, tz)
    waits = _waits(df)
    end = pd.to_datetime(waits["end"], utc=True)
    today = waits[((end >= lo) & (end < hi)).to_numpy()]
    if today.empty:
        return None
    g = today.groupby(["source", "target"], sort=True)
    stats = pd.DataFrame({"total": g["wait_s"].sum(), "n": g.size(), "median": g["wait_s"].median(),
                          "tickets": g["ticket"].nunique()}).reset_index()
    stats = stats.sort_values(["total", "n", "source", "target"], ascending=[False, False, True, True], kind="stable")
    top = stats.iloc[0]
    return DayBottleneck(str(top["source"]), str(top["target"]), int(top["n"]), float(top["total"]),
                         float(top["median"]), int(top["tickets"]))


def _limit_words(sop: SOP) -> dict[str, str]:
    return {lim.step: lim.describe() for lim in sop.limits}


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


# ---------------------------------------------------------------------------------
# The day
# ---------------------------------------------------------------------------------


def _day_kpis(tickets_day: pd.DataFrame, tickets_prev: pd.DataFrame | None, tickets_base: pd.DataFrame | None,
              sop: SOP | None, *, resamples: int, seed: int, notes: list[str] | None = None) -> list[DayKpi]:
    targets: dict[str, float] = {}
    if sop is not None and sop.targets.resolution_rate is not None:
        targets["resolution_rate"] = float(sop.targets.resolution_rate)
    if sop is not None and sop.targets.satisfaction is not None:
        targets["satisfaction_mean"] = float(sop.targets.satisfaction)
    if sop is not None and sop.targets.first_contact_resolution is not None:
        targets["fcr"] = float(sop.targets.first_contact_resolution)

    def values_of(frame: pd.DataFrame, key: str, column: str, transform: str | None) -> np.ndarray:
        v = as_float(frame[column], transform)
        if key in CLOSED_ONLY and "closed" in frame.columns:  # as csmine kpi / compare: ended tickets only
            v = np.where(frame["closed"].astype(bool).to_numpy(), v, np.nan)
        return v

    out = []
    unmeasured: dict[str, list[str]] = {}
    frames = tuple(f for f in (tickets_day, tickets_base) if f is not None)
    for key, label, column, statistic, better, unit, transform in KPI_SPECS:
        if column not in tickets_day.columns:
            continue
        reason = kpi_unavailable(key, sop, frames)
        if reason:
            unmeasured.setdefault(reason, []).append(label)
            continue
        values = values_of(tickets_day, key, column, transform)
        valid = values[~np.isnan(values)]
        from csmine.stats_tests import point_statistic

        value = point_statistic(valid, statistic)
        target = targets.get(key)
        met: bool | None = None
        if key == "first_response_timeouts" and sop is not None and sop.targets.first_response is not None:
            from csmine.kpi import DEFAULT_ATTAINMENT

            goal = float(dict(sop.targets.other).get("sla_attainment", DEFAULT_ATTAINMENT))
            target = 1.0 - goal
        if target is not None and not math.isnan(value):
            met = value >= target if better == "higher" else value <= target
        prev = math.nan
        if tickets_prev is not None and column in tickets_prev.columns:
            pv = values_of(tickets_prev, key, column, transform)
            prev = point_statistic(pv[~np.isnan(pv)], statistic)
        base = math.nan
        change: Change | None = None
        word = ""
        if tickets_base is not None and column in tickets_base.columns:
            bv = values_of(tickets_base, key, column, transform)
            change = compare_samples(bv, values, statistic, name=f"day:{key}", resamples=resamples, seed=seed)
            base = change.a
            word = verdict(change, better)
        out.append(DayKpi(key, label, unit, value, len(valid), target, met, prev, base, change, word))
    if notes is not None:
        notes.extend(unmeasured_notes(unmeasured))
    return out


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
    from csmine.conformance import ticket_deviations
    from csmine.kpi import ticket_kpis
    from csmine.replay import limit_clocks

    lo, hi = day_bounds(day, tz)
    times = df[TIMESTAMP]
    on_day = ((times >= lo) & (times < hi)).to_numpy()
    opened = df.drop_duplicates(CASE_ID).set_index(CASE_ID)["case:opened_at"]
    day_tickets = opened.index[((opened >= lo) & (opened < hi)).to_numpy()]
    if not on_day.any() and len(day_tickets) == 0:
        raise ReviewError(f"nothing happened on {day.isoformat()} ({tz}) in the tickets reviewed: "
                          "choose another --day (or check --phase and --tz)")
    before = df[(times < lo).to_numpy()]
    active_days = sorted(set(_local_dates(before[TIMESTAMP], tz))) if len(before) else []
    previous_day = active_days[-1] if active_days else None
    notes: list[str] = []

    # KPIs of the tickets opened that day (with their whole recorded history)
    kpi_rows: list[DayKpi] = []
    if len(day_tickets):
        frame = ticket_kpis(df[df[CASE_ID].isin(day_tickets)], sop, calendar=calendar, closing=closing)
        prev_frame = None
        if previous_day is not None:
            plo, phi = day_bounds(previous_day, tz)
            prev_ids = opened.index[((opened >= plo) & (opened < phi)).to_numpy()]
            if len(prev_ids):
                prev_frame = ticket_kpis(df[df[CASE_ID].isin(prev_ids)], sop, calendar=calendar, closing=closing)
        base_frame = ticket_kpis(baseline, sop, calendar=calendar, closing=closing) \
            if baseline is not None and len(baseline) else None
        kpi_rows = _day_kpis(frame, prev_frame, base_frame, sop, resamples=resamples, seed=seed, notes=notes)
    else:
        notes.append("no ticket was opened on the day: no KPIs")
    if baseline is None:
        notes.append("no baseline phase to compare with (define one named 'baseline', or give --baseline)")

    if sop is None:
        notes.append("no SOP: deviations and time limits breached are not reviewed (they need --sop NAME|FILE)")
    # deviations dated on the day, and which kinds x steps are new
    dev = ticket_deviations(df, sop) if sop is not None else pd.DataFrame({"ticket": [], "kind": [], "step": []})
    dev_days = _local_dates(_deviation_times(df, dev), tz) if len(dev) else pd.Series([], dtype=object)
    deviations: dict[str, dict[str, int]] = {}
    new: list[NewDeviation] = []
    prev_devs = 0
    day_devs = 0
    if len(dev):
        today = dev[(dev_days == day).to_numpy()]
        earlier = dev[(dev_days < day).to_numpy()]
        day_devs = len(today)
        if previous_day is not None:
            prev_devs = int((dev_days == previous_day).sum())
        seen = set(zip(earlier["kind"], earlier["step"], strict=True))
        for (kind, step), grp in today.groupby(["kind", "step"], sort=True):
            deviations.setdefault(str(kind), {})[str(step)] = len(grp)
            if (kind, step) not in seen:
                new.append(NewDeviation(str(kind), str(step), len(grp),
                                        tuple(sorted(set(grp["ticket"].astype(str)))[:10])))
        new.sort(key=lambda d: (-d.count, d.kind, d.step))

    # time limits breached on the day (deadline on the day), as the replay fires them
    clocks = limit_clocks(df, sop, calendar=calendar) if sop is not None else pd.DataFrame()
    words = _limit_words(sop) if sop is not None else {}
    breaches: list[Breach] = []
    prev_breaches = 0
    if len(clocks):
        hit = clocks[clocks["breached"].to_numpy(dtype=bool)]
        dl = hit["deadline"]
        today_b = hit[((dl >= lo) & (dl < hi)).to_numpy()].sort_values(["deadline", "ticket", "step"])
        for r in today_b.itertuples(index=False):
            breaches.append(Breach(str(r.ticket), str(r.step), words.get(str(r.step), ""),
                                   pd.Timestamp(r.deadline).isoformat(), str(r.status), float(r.late_s),
                                   None if r.actor is None or (isinstance(r.actor, float) and math.isnan(r.actor))
                                   else str(r.actor), f"csmine trace {r.ticket}"))
        if previous_day is not None:
            plo, phi = day_bounds(previous_day, tz)
            prev_breaches = int(((dl >= plo) & (dl < phi)).sum())

    bottleneck = day_bottleneck(df, day, tz)
    previous_bottleneck = day_bottleneck(df, previous_day, tz) if previous_day is not None else None
    prev_events = 0
    prev_opened = 0
    if previous_day is not None:
        plo, phi = day_bounds(previous_day, tz)
        prev_events = int(((times >= plo) & (times < phi)).sum())
        prev_opened = int(((opened >= plo) & (opened < phi)).sum())
    changes = (
        DayCount("tickets opened", len(day_tickets), prev_opened),
        DayCount("events", int(on_day.sum()), prev_events),
    ) + ((
        DayCount("deviations", day_devs, prev_devs),
        DayCount("limits breached", len(breaches), prev_breaches),
    ) if sop is not None else ())
    return DayReview(
        day=day.isoformat(), tz=str(tz), phase=phase, sop=sop.id if sop is not None else None,
        baseline=baseline_name if baseline is not None else None,
        previous_day=None if previous_day is None else previous_day.isoformat(),
        tickets_opened=len(day_tickets), events=int(on_day.sum()), kpis=tuple(kpi_rows),
        new_deviations=tuple(new), deviations=deviations, breaches=tuple(breaches), bottleneck=bottleneck,
        previous_bottleneck=previous_bottleneck, changes=changes, notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------
# The week
# ---------------------------------------------------------------------------------

_KIND_WORDS = {
    "skipped": ("skipped {step}", "skipped {step}"),
    "extra": ("extra {step}", "extra {step}"),
    "out_of_order": ("{step} out of order", "{step} out of order"),
    "repeated": ("{step} repeated", "{step} repeated"),
    "wrong_branch": ("{step} instead of another branch", "{step} instead of another branch"),
}


def violation_text(agent: str, kind: str, step: str, count: int, sop: SOP) -> str:
    """``"A-E-03: 3 late first responses"``-style words for a repeated violation."""
    if kind == "late":
        if step in sop.role_steps("first_response"):
            what = "late first response" + ("s" if count != 1 else "")
        elif step in sop.role_steps("callback"):
            what = "late callback" + ("s" if count != 1 else "")
        else:
            what = f"late {step}"
    else:
        what = _KIND_WORDS.get(kind, ("{step} " + kind,) * 2)[0].format(step=step)
    return f"{agent}: {count} {what}"


def _adherence(steps: pd.Series, devs: pd.Series, late: pd.Series, minimum: int) -> list[Adherence]:
    names = sorted(set(steps.index) | set(devs.index) | set(late.index))
    out = []
    for who in names:
        n = int(steps.get(who, 0))
        d = int(devs.get(who, 0))
        lt = int(late.get(who, 0))
        share = max(0.0, 1.0 - (d + lt) / n) if n else 0.0
        out.append(Adherence(str(who), n, d, lt, share, n >= minimum and who != "(none)"))
    out.sort(key=lambda a: (-a.adherence, -a.steps, a.who))
    return out


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
    :func:`csmine.conformance.ticket_deviations` names (a skipped step for whoever
    recorded the event done in its place); a breached limit for whoever did the late
    step, or recorded the event that stopped its clock; a limit still missing at the
    end of the log for whoever started its clock.

    Raises:
        ReviewError: unreadable week, or no event in it.
    """
    from csmine.conformance import ticket_deviations
    from csmine.replay import limit_clocks

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
    tickets_opened = int(((opened >= lo) & (opened < hi)).sum())

    def col(frame: pd.DataFrame, name: str) -> pd.Series:
        if name in frame.columns:
            return frame[name].astype(object).where(frame[name].notna(), "(none)")
        return pd.Series("(none)", index=frame.index, dtype=object)

    steps_agent = col(events, "org:resource").value_counts()
    team_col = events["org:group"] if "org:group" in events.columns else None
    if team_col is None or team_col.isna().all():
        team_col = events["case:team"] if "case:team" in events.columns else pd.Series(None, index=events.index)
    steps_team = team_col.astype(object).where(team_col.notna(), "(none)").value_counts()

    dev = ticket_deviations(df, sop)
    if len(dev):
        dt = _deviation_times(df, dev)
        dev = dev[((dt >= lo) & (dt < hi)).to_numpy()]
    dev_agent = col(dev, "agent").value_counts() if len(dev) else pd.Series(dtype=int)
    dev_team = col(dev, "team").value_counts() if len(dev) else pd.Series(dtype=int)

    clocks = limit_clocks(df, sop, calendar=calendar)
    late = clocks.iloc[0:0]
    if len(clocks):
        b = clocks[clocks["breached"].to_numpy(dtype=bool)]
        late = b[((b["deadline"] >= lo) & (b["deadline"] < hi)).to_numpy()]
    late_agent = col(late, "actor").value_counts() if len(late) else pd.Series(dtype=int)
    late_team = col(late, "team").value_counts() if len(late) else pd.Series(dtype=int)

    agents = _adherence(steps_agent, dev_agent, late_agent, MIN_AGENT_STEPS)
    teams = _adherence(steps_team, dev_team, late_team, MIN_TEAM_STEPS)
    ranked_a = [a for a in agents if a.ranked]
    ranked_t = [t for t in teams if t.ranked]
    notes = []
    if not ranked_a:
        notes.append(f"no agent did {MIN_AGENT_STEPS} or more steps in the week: agents not ranked")
    if not ranked_t:
        notes.append(f"no team did {MIN_TEAM_STEPS} or more steps in the week: teams not ranked")

    def worst(items: Sequence[Adherence]) -> tuple[Adherence, ...]:
        best = {a.who for a in items[:BULLETIN_TOP]}
        rest = [a for a in items if a.who not in best]
        return tuple(sorted(rest, key=lambda a: (a.adherence, -a.steps, a.who))[:BULLETIN_TOP])

    repeated: list[RepeatedViolation] = []
    parts = []
    if len(dev):
        parts.append(pd.DataFrame({"agent": col(dev, "agent").to_numpy(), "kind": dev["kind"].to_numpy(),
                                   "step": dev["step"].astype(str).to_numpy(),
                                   "ticket": dev["ticket"].astype(str).to_numpy()}))
    if len(late):
        parts.append(pd.DataFrame({"agent": col(late, "actor").to_numpy(), "kind": "late",
                                   "step": late["step"].astype(str).to_numpy(),
                                   "ticket": late["ticket"].astype(str).to_numpy()}))
    if parts:
        allv = pd.concat(parts, ignore_index=True)
        allv = allv[allv["agent"] != "(none)"]
        for (agent, kind, step), grp in allv.groupby(["agent", "kind", "step"], sort=True):
            if len(grp) >= 2:
                repeated.append(RepeatedViolation(str(agent), str(kind), str(step), len(grp),
                                                  violation_text(str(agent), str(kind), str(step), len(grp), sop),
                                                  tuple(sorted(set(grp["ticket"])))))
        repeated.sort(key=lambda r: (-r.count, r.agent, r.kind, r.step))
    end_day = monday + timedelta(days=7)
    return WeekBulletin(
        week=f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}", start=monday.isoformat(),
        end=end_day.isoformat(), tz=str(tz), phase=phase, sop=sop.id, tickets_opened=tickets_opened,
        events=int(in_week.sum()), teams=tuple(teams), agents=tuple(agents),
        best_teams=tuple(ranked_t[:BULLETIN_TOP]), worst_teams=worst(ranked_t),
        best_agents=tuple(ranked_a[:BULLETIN_TOP]), worst_agents=worst(ranked_a),
        repeated=tuple(repeated), notes=tuple(notes),
    )


__all__ = [
    "BULLETIN_TOP",
    "MIN_AGENT_STEPS",
    "MIN_TEAM_STEPS",
    "Adherence",
    "Breach",
    "DayBottleneck",
    "DayCount",
    "DayKpi",
    "DayReview",
    "NewDeviation",
    "RepeatedViolation",
    "ReviewError",
    "WeekBulletin",
    "day_bottleneck",
    "day_bounds",
    "parse_week",
    "review_day",
    "review_week",
    "violation_text",
]
