"""Compare two sets of tickets (two phases, or any two filters): is B better than A?

:func:`compare_logs` holds side B (e.g. the pilot) against side A (e.g. the
baseline) on everything a pilot team asks about:

* **KPIs** side by side (from :func:`csmine.performance.kpi.ticket_kpis`, one row per ticket):
  rates (first-response timeouts, resolution, first-contact resolution, reopen,
  escalation, SLA met, tickets with a limit breach), times as **medians and P90s**
  (first response, handling, throughput), the mean satisfaction score. Each with the
  absolute change ``B - A``, the relative change, a 95% bootstrap confidence
  interval over tickets and whether the change is significant (the interval
  excludes 0), or "sample too small to conclude" under the rules of
  :mod:`csmine.pilot.statistics`.
* **Conformance per SOP step** side by side: the share of tickets that skipped the
  step, had another deviation on it, and breached its time limit (of the tickets
  whose clock for that limit started), each with a bootstrap interval.
* **The process map** of B against A: per path the ticket share (percentage
  points) and median waiting time on each side; the maps themselves are kept for
  drawing (:func:`csmine.reports.maps.render_map` with ``compare=``).
* **Variants** that appeared (in B, not in A) or vanished (in A, not in B).
* **Bottlenecks that moved**: rank of each bottleneck on each side.

The two sides are given as filters. :func:`parse_side` reads the compact syntax of
``csmine compare`` (``pilot`` or ``phase=pilot`` or ``region=East,from=2025-03-01``).

The KPIs are compared in :mod:`csmine.pilot.kpis`, the map, variants and
bottlenecks in :mod:`csmine.pilot.process_changes`; this module compares
conformance per step and puts the whole comparison together.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.errors import CompareError, FilterError
from csmine.eventlog.filters import LogFilter
from csmine.pilot.kpis import KpiChange, compare_kpis
from csmine.pilot.process_changes import (
    BottleneckMove,
    PathChange,
    VariantChange,
    compare_bottlenecks,
    compare_maps,
    compare_variants,
)
from csmine.pilot.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED, Change, compare_samples

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.mining.maps import ProcessMap
    from csmine.performance.business_calendar import BusinessCalendar
    from csmine.performance.backlog import TicketCounts


# ---------------------------------------------------------------------------------
# Sides
# ---------------------------------------------------------------------------------


def parse_side(spec: str) -> LogFilter:
    """Read a side of a comparison.

    Syntax: a bare word is a phase name (``pilot``). Otherwise comma-separated
    ``key=value`` terms that must all hold: ``phase=NAME``, ``from=TIME``,
    ``to=TIME`` (tickets opened at or after / before; ISO dates or date-times,
    UTC unless an offset is given), or any case attribute (``region=East``,
    ``channel=phone``, ``team=...``, free attributes). Alternatives of one key are
    separated by ``|`` (``region=East|North``). Example:
    ``phase=pilot,channel=phone|online chat`` or ``region=East,from=2025-03-01``.

    Raises:
        FilterError: the text cannot be read.
    """
    from datetime import UTC, datetime

    text = spec.strip()
    if not text:
        raise FilterError("empty comparison side: give a phase name or key=value terms (e.g. phase=pilot)")
    if "=" not in text:
        return LogFilter(phase=text)
    where: dict[str, tuple[str, ...]] = {}
    start = end = None
    phase = None
    for term in text.split(","):
        key, sep, value = term.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise FilterError(
                f"cannot read {term.strip()!r} in comparison side {spec!r}: expected key=value "
                "(e.g. phase=pilot,region=East|North,from=2025-03-01)"
            )
        values = tuple(v.strip() for v in value.split("|") if v.strip())
        if key in ("from", "to"):
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise FilterError(f"cannot read {key}={value!r} in {spec!r} as a date or time "
                                  "(use e.g. 2025-03-01 or 2025-03-01T08:00+08:00)") from exc
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            if key == "from":
                start = when
            else:
                end = when
        elif key == "phase":
            if len(values) == 1:
                phase = values[0]
            else:
                where["phase"] = values
        else:
            where[key] = where.get(key, ()) + values
    return LogFilter(start=start, end=end, phase=phase, where=where)


def side_label(spec: str, log_filter: LogFilter, default: str) -> str:
    """A short name for a side: its phase name when the side is just a phase."""
    if log_filter.phase and log_filter.start is None and log_filter.end is None and not log_filter.where:
        return log_filter.phase
    return default


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison.

    Attributes:
        label: short name (the phase name or ``A`` / ``B``).
        filter: the filter in words.
        tickets: tickets on this side.  events: their events.
        first_opened: earliest opening time (ISO) or None.  last_opened: latest.
        status: closed, open and stale tickets of the side and the closing rule.
    """

    label: str
    filter: str
    tickets: int
    events: int
    first_opened: str | None
    last_opened: str | None
    status: TicketCounts | None = None


def _side(label: str, description: str, df: pd.DataFrame, tickets_frame: pd.DataFrame | None = None) -> Side:
    from csmine.performance.backlog import ticket_counts

    tickets = int(df["case:concept:name"].nunique()) if len(df) else 0
    opened = df["case:opened_at"] if "case:opened_at" in df.columns and len(df) else None
    return Side(label, description, tickets, len(df),
                None if opened is None else opened.min().isoformat(),
                None if opened is None else opened.max().isoformat(),
                None if tickets_frame is None else ticket_counts(tickets_frame))


# ---------------------------------------------------------------------------------
# Conformance per step
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepChange:
    """Conformance of one SOP step on both sides.

    Shares are of the side's tickets (skips, other deviations) or of the tickets
    whose clock for the step's limit started (late).

    Attributes:
        step: step name (or an activity the SOP does not know).
        label: display label.
        status: ``flow``, ``off_flow`` or ``unknown``.
        skipped: share of tickets that skipped the step, A against B.
        violated: share with another deviation on the step (extra, out of order,
            repeated, wrong branch).
        limit: the step's time limit in words, or None.
        late: share of tickets with the limit's clock started that breached it
            (None without a limit).
    """

    step: str
    label: str
    status: str
    skipped: Change
    violated: Change
    limit: str | None
    late: Change | None


def _side_conformance(df: pd.DataFrame, sop: SOP, *, calendar: BusinessCalendar | None,
                      deviations: pd.DataFrame | None, limits: pd.DataFrame | None,
                      closing: ClosingRule | None) -> tuple[int, np.ndarray, np.ndarray, np.ndarray,
                                                            dict[str, np.ndarray]]:
    """One side's tickets, and per deviation its ticket's position on the side, its step
    and whether it is a skip; per limited step, whether each clock of it was breached."""
    from csmine.conformance.deviations import ticket_deviations
    from csmine.performance.limits import check_limits

    tickets = np.asarray(pd.unique(df["case:concept:name"].astype(str)), dtype=object)
    index = pd.Index(tickets)
    if deviations is None:
        dev = ticket_deviations(df, sop)
    else:
        dev = deviations[index.get_indexer(deviations["ticket"].astype(str)) >= 0]
    if limits is None:
        clocks = check_limits(df, sop, calendar=calendar, closing=closing)
    else:
        clocks = limits[index.get_indexer(limits["ticket"].astype(str)) >= 0] if len(limits) else limits
    dev_pos = index.get_indexer(dev["ticket"].astype(str)) if len(dev) else np.zeros(0, dtype=np.int64)
    dev_step = dev["step"].astype(str).to_numpy(dtype=object) if len(dev) else np.zeros(0, dtype=object)
    dev_skip = (dev["kind"] == "skipped").to_numpy(dtype=bool) if len(dev) else np.zeros(0, dtype=bool)
    late_by_step: dict[str, np.ndarray] = {}
    if len(clocks):
        per = clocks.groupby(["step", "ticket"], sort=True)["breached"].any()
        for step_name, flags in per.groupby(level=0):
            late_by_step[str(step_name)] = flags.to_numpy(dtype=float)
    return len(tickets), dev_pos, dev_step, dev_skip, late_by_step


def compare_steps(df_a: pd.DataFrame, df_b: pd.DataFrame, sop: SOP, *, calendar: BusinessCalendar | None = None,
                  resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                  deviations: pd.DataFrame | None = None, limits: pd.DataFrame | None = None,
                  closing: ClosingRule | None = None) -> list[StepChange]:
    """Per SOP step: skip, other-deviation and late shares on both sides (see :class:`StepChange`).

    Deviations come from :func:`csmine.conformance.deviations.ticket_deviations` (optimal
    alignments), late shares from :func:`csmine.performance.limits.check_limits` (the KPI rules: one
    clock per ticket and limit, paused while waiting on the customer), so they add up
    with the ``breach_rate`` KPI.

    Args:
        deviations: :func:`~csmine.conformance.deviations.ticket_deviations` of a log holding
            every ticket of both sides (e.g. the whole log already checked), used
            instead of aligning each side again. A ticket's deviations depend on its
            own events only, so the rows of a side's tickets are its deviations.
        limits: likewise, :func:`~csmine.performance.limits.check_limits` of such a log.
    """
    sides = [_side_conformance(df, sop, calendar=calendar, deviations=deviations, limits=limits, closing=closing)
             for df in (df_a, df_b)]
    unknown = {step for side in sides for step in pd.unique(side[2]) if step not in sop.step_names}
    flow = set(sop.flow_steps)
    order = [(st.name, st.label, "flow" if st.name in flow else "off_flow") for st in sop.steps]
    order += [(name, name, "unknown") for name in sorted(unknown)]
    limit_of = {lim.step: lim for lim in sop.limits}

    def rate_change(kind: str, step: str, samples: list[np.ndarray]) -> Change:
        return compare_samples(samples[0], samples[1], "rate", name=f"{kind}:{step}", resamples=resamples, seed=seed)

    out = []
    for step, label, status in order:
        skipped, violated, late = [], [], []
        for n_tickets, dev_pos, dev_step, dev_skip, late_by_step in sides:
            on_step = dev_step == step
            skip_ind = np.zeros(n_tickets, dtype=float)
            skip_ind[dev_pos[on_step & dev_skip]] = 1.0
            other_ind = np.zeros(n_tickets, dtype=float)
            other_ind[dev_pos[on_step & ~dev_skip]] = 1.0
            skipped.append(skip_ind)
            violated.append(other_ind)
            late.append(late_by_step.get(step, np.array([], dtype=float)) if step in limit_of
                        else np.array([], dtype=float))
        lim = limit_of.get(step)
        out.append(StepChange(step=step, label=label, status=status, skipped=rate_change("skip", step, skipped),
                              violated=rate_change("dev", step, violated),
                              limit=None if lim is None else lim.describe(),
                              late=None if lim is None else rate_change("late", step, late)))
    return out


# ---------------------------------------------------------------------------------
# The whole comparison
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Side B held against side A.

    Attributes:
        sop: SOP id the KPIs, conformance and limits refer to (None: no SOP; the
            KPIs that need none, maps, variants and bottlenecks only).
        a: side A.  b: side B.
        kpis: each KPI on both sides.
        steps: conformance per step: the SOP's steps in its order, then activities
            the SOP does not know (by name).
        paths: paths of either map, largest share change first.
        appeared: variants of B not seen in A (most tickets first, at most ``top_variants``).
        appeared_total: how many such variants.  appeared_share: share of B's tickets on them.
        vanished: variants of A not seen in B.  vanished_total, vanished_share: likewise for A.
        bottlenecks: bottlenecks of either side with their ranks.
        resamples: bootstrap resamples per interval.  seed: bootstrap seed.
        map_a: A's process map.  map_b: B's (for drawing; left out of JSON).
        notes: caveats (e.g. a KPI the per-ticket frame lacks).
    """

    sop: str | None
    a: Side
    b: Side
    kpis: tuple[KpiChange, ...]
    steps: tuple[StepChange, ...]
    paths: tuple[PathChange, ...]
    appeared: tuple[VariantChange, ...]
    appeared_total: int
    appeared_share: float
    vanished: tuple[VariantChange, ...]
    vanished_total: int
    vanished_share: float
    bottlenecks: tuple[BottleneckMove, ...]
    resamples: int
    seed: int
    map_a: ProcessMap | None
    map_b: ProcessMap | None
    notes: tuple[str, ...]

    def kpi(self, key: str) -> KpiChange:
        """The KPI with this key (KeyError if absent)."""
        for k in self.kpis:
            if k.key == key:
                return k
        raise KeyError(key)

    def step(self, name: str) -> StepChange:
        """The conformance row of a step (KeyError if absent)."""
        for s in self.steps:
            if s.step == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The fields for ``--json``, without the maps; a side's ``tickets`` are its ticket counts
        (closed, open, stale and the closing rule) when known, else ``{"total": n}``."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("map_a", "map_b")}
        for name in ("a", "b"):
            side = getattr(self, name)
            plain = {f.name: getattr(side, f.name) for f in fields(side) if f.name != "status"}
            plain["tickets"] = side.status if side.status is not None else {"total": side.tickets}
            data[name] = plain
        return data


def _check_sides(sides: tuple[tuple[str, pd.DataFrame, str], ...], sop: SOP | None) -> None:
    for label, df, flt in sides:
        if len(df) == 0:
            raise CompareError(f"side {label} ({flt or 'no filter'}) holds no tickets: "
                               "check the phase (`csmine phase list`) or the filter")
    if sop is not None:
        mapped = set(sop.activity_map())
        if not set().union(*(set(df["concept:name"].unique()) for _, df, _ in sides)) & mapped:
            raise CompareError(f"none of the log's activities is a step of SOP '{sop.id}': choose the SOP with --sop")


def _side_kpis(df: pd.DataFrame, sop: SOP | None, ticket_kpis_all: pd.DataFrame | None, *,
               calendar: BusinessCalendar | None, closing: ClosingRule | None) -> pd.DataFrame:
    """The side's per-ticket KPIs: its rows of ``ticket_kpis_all`` when given."""
    from csmine.performance.kpi import ticket_kpis

    if ticket_kpis_all is None:
        return ticket_kpis(df, sop, calendar=calendar, closing=closing)
    return ticket_kpis_all.loc[pd.unique(df["case:concept:name"].astype(str))]


def _bottleneck_moves(df_a: pd.DataFrame, df_b: pd.DataFrame, sop: SOP | None, *,
                      calendar: BusinessCalendar | None, ticket_kpis_all: pd.DataFrame | None,
                      limits_all: pd.DataFrame | None, closing: ClosingRule | None) -> list[BottleneckMove]:
    from csmine.performance.bottlenecks import find_bottlenecks

    frames = None if ticket_kpis_all is None or limits_all is None else (ticket_kpis_all, limits_all)
    return compare_bottlenecks(
        find_bottlenecks(df_a, sop, calendar=calendar, ticket_frames=frames, closing=closing),
        find_bottlenecks(df_b, sop, calendar=calendar, ticket_frames=frames, closing=closing))


def compare_logs(
    df_a: pd.DataFrame, df_b: pd.DataFrame, sop: SOP | None, *, label_a: str = "A", label_b: str = "B",
    filter_a: str = "", filter_b: str = "", calendar: BusinessCalendar | None = None,
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, top_variants: int = 10,
    bottlenecks: bool = True, conformance: bool = True, ticket_kpis_all: pd.DataFrame | None = None,
    deviations: pd.DataFrame | None = None, limits_all: pd.DataFrame | None = None,
    closing: ClosingRule | None = None,
) -> Comparison:
    """Hold the tickets of ``df_b`` against those of ``df_a``.

    Args:
        df_a: event-log frame of side A (e.g. the baseline), as
            :func:`csmine.eventlog.loading.load_event_log` returns.  df_b: side B (e.g. the pilot).
        sop: the SOP giving roles, targets and limits (the same for both sides, so
            the figures are comparable); None: no SOP -- the KPIs that need none
            (handling, throughput, satisfaction), maps, variants and bottlenecks,
            no conformance per step.
        label_a: name of side A.  label_b: of side B.
        filter_a: side A's filter in words (for the report).  filter_b: B's.
        calendar: business calendar for KPIs and limits in business hours.
        resamples: bootstrap resamples per interval.  seed: bootstrap seed (same seed, same intervals).
        top_variants: how many appeared / vanished variants to list.
        bottlenecks: compare bottleneck ranks (needs :mod:`csmine.performance.bottlenecks`).
        conformance: compare conformance per step (alignments on both sides).
        ticket_kpis_all: :func:`csmine.performance.kpi.ticket_kpis` (same SOP and calendar) of a
            log holding every ticket of both sides, e.g. the whole log: each side's
            rows are taken from it instead of computing them again (a ticket's KPIs
            depend on its own events only).
        deviations: the same for :func:`csmine.conformance.deviations.ticket_deviations`.
        limits_all: the same for :func:`csmine.performance.limits.check_limits` (with
            ``ticket_kpis_all``, the bottleneck comparison uses both).
        closing: ``--closed-when`` and the stale horizon: which tickets are open
            (:func:`csmine.eventlog.lifecycle.ticket_status`); each side's counts are in :attr:`Side.status`.

    Raises:
        CompareError: a side holds no tickets.
    """
    from csmine.mining.maps import discover_map

    _check_sides(((label_a, df_a, filter_a), (label_b, df_b, filter_b)), sop)
    tickets_a = _side_kpis(df_a, sop, ticket_kpis_all, calendar=calendar, closing=closing)
    tickets_b = _side_kpis(df_b, sop, ticket_kpis_all, calendar=calendar, closing=closing)
    kpis, notes = compare_kpis(tickets_a, tickets_b, sop, resamples=resamples, seed=seed)
    if sop is None and conformance:
        notes.append("conformance per step: needs an SOP (--sop)")
    steps = compare_steps(df_a, df_b, sop, calendar=calendar, resamples=resamples, seed=seed,
                          deviations=deviations, limits=limits_all, closing=closing) \
        if conformance and sop is not None else []
    map_a, map_b = discover_map(df_a), discover_map(df_b)
    appeared, n_app, s_app, vanished, n_van, s_van = compare_variants(df_a, df_b, top=top_variants)
    moves = _bottleneck_moves(df_a, df_b, sop, calendar=calendar, ticket_kpis_all=ticket_kpis_all,
                              limits_all=limits_all, closing=closing) if bottlenecks else []
    return Comparison(
        sop=sop.id if sop is not None else None, a=_side(label_a, filter_a, df_a, tickets_a),
        b=_side(label_b, filter_b, df_b, tickets_b), kpis=tuple(kpis), steps=tuple(steps),
        paths=tuple(compare_maps(map_a, map_b)), appeared=tuple(appeared), appeared_total=n_app,
        appeared_share=s_app, vanished=tuple(vanished), vanished_total=n_van, vanished_share=s_van,
        bottlenecks=tuple(moves), resamples=resamples, seed=seed, map_a=map_a, map_b=map_b, notes=tuple(notes),
    )


__all__ = [
    "Comparison",
    "Side",
    "StepChange",
    "compare_logs",
    "compare_steps",
    "parse_side",
    "side_label",
]
