"""Compare two sets of tickets (two phases, or any two filters): is B better than A?

:func:`compare_logs` holds side B (e.g. the pilot) against side A (e.g. the
baseline) on everything a pilot team asks about:

* **KPIs** side by side (from :func:`csmine.kpi.ticket_kpis`, one row per ticket):
  rates (first-response timeouts, resolution, first-contact resolution, reopen,
  escalation, SLA met, tickets with a limit breach), times as **medians and P90s**
  (first response, handling, throughput), the mean satisfaction score. Each with the
  absolute change ``B - A``, the relative change, a 95% bootstrap confidence
  interval over tickets and whether the change is significant (the interval
  excludes 0), or "sample too small to conclude" under the rules of
  :mod:`csmine.stats_tests`.
* **Conformance per SOP step** side by side: the share of tickets that skipped the
  step, had another deviation on it, and breached its time limit (of the tickets
  whose clock for that limit started), each with a bootstrap interval.
* **The process map** of B against A: per path the ticket share (percentage
  points) and median waiting time on each side; the maps themselves are kept for
  drawing (:func:`csmine.render.maps.render_map` with ``compare=``).
* **Variants** that appeared (in B, not in A) or vanished (in A, not in B).
* **Bottlenecks that moved**: rank of each bottleneck on each side.

The two sides are given as filters. :func:`parse_side` reads the compact syntax of
``csmine compare`` (``pilot`` or ``phase=pilot`` or ``region=East,from=2025-03-01``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.errors import CsmineError, FilterError
from csmine.filters import LogFilter
from csmine.stats_tests import DEFAULT_RESAMPLES, DEFAULT_SEED, Change, compare_samples

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.calendar import BusinessCalendar
    from csmine.kpi import TicketCounts
    from csmine.lifecycle import ClosingRule
    from csmine.mining import ProcessMap


class CompareError(CsmineError):
    """Two sides cannot be compared (e.g. one holds no tickets)."""


# ---------------------------------------------------------------------------------
# Side specifications
# ---------------------------------------------------------------------------------

#: Keys of a side specification that are not attributes.
SPEC_KEYS = ("phase", "from", "to")


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


# ---------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class KpiChange:
    """One KPI on both sides.

    Attributes:
        key: stable identifier (``first_response_timeouts``, ``throughput_p90``, ...).
        label: words for people.
        unit: ``share`` (0-1), ``seconds`` or ``points`` (satisfaction 0-100).
        better: ``lower``, ``higher`` or None (neither direction is better).
        target: the SOP's target for the KPI, if it has one (same unit).
        change: values, change, interval and significance (see :class:`~csmine.stats_tests.Change`).
        verdict: ``improved``, ``worse``, ``changed`` (significant, no better
            direction), ``no significant change`` or ``sample too small to conclude``.
    """

    key: str
    label: str
    unit: str
    better: str | None
    target: float | None
    change: Change
    verdict: str


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


@dataclass(frozen=True, slots=True)
class PathChange:
    """One path of the process map on both sides.

    Attributes:
        source: activity before (``(start)`` for start arcs).  target: activity after.
        cases_a: tickets taking the path in A.  cases_b: in B.
        share_a: ``cases_a / tickets of A`` (0-1).  share_b: likewise.
        share_change_pp: ``100 * (share_b - share_a)``, percentage points.
        wait_median_a_s: median waiting time on the path in A (None for start/end
            arcs or when absent).  wait_median_b_s: in B.
        wait_change: ``wait_median_b_s / wait_median_a_s - 1`` (None when undefined).
        status: ``new`` (only in B), ``gone`` (only in A) or ``both``.
    """

    source: str
    target: str
    cases_a: int
    cases_b: int
    share_a: float
    share_b: float
    share_change_pp: float
    wait_median_a_s: float | None
    wait_median_b_s: float | None
    wait_change: float | None
    status: str


@dataclass(frozen=True, slots=True)
class VariantChange:
    """A variant seen on one side only.

    Attributes:
        activities: the activity sequence.
        tickets: tickets following it on the side where it is seen.
        share: their share of that side's tickets (0-1).
    """

    activities: tuple[str, ...]
    tickets: int
    share: float


@dataclass(frozen=True, slots=True)
class BottleneckMove:
    """A bottleneck's rank on each side (1 = worst).

    Attributes:
        kind: bottleneck kind (as :func:`csmine.bottlenecks.find_bottlenecks` names it).
        where: the step or path.
        rank_a: rank in A (None: not among A's bottlenecks).  rank_b: in B.
        impact_a_s: its impact per ticket of A, seconds (``mean_impact_s`` of the
            bottleneck report: time saved per ticket if every slower-than-median
            occurrence took the median time), so sides of different size compare.
        impact_b_s: the same in B.
        movement: ``new``, ``gone``, ``up N`` (worse: N places higher), ``down N`` or ``same``.
    """

    kind: str
    where: str
    rank_a: int | None
    rank_b: int | None
    impact_a_s: float | None
    impact_b_s: float | None
    movement: str


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


# ---------------------------------------------------------------------------------
# KPIs
# ---------------------------------------------------------------------------------

#: (key, label, column, statistic, better, unit, transform). ``transform``:
#: ``"not"`` (share of False among known values), ``"positive"`` (share of > 0), None.
#: The KPIs of :data:`CLOSED_ONLY` are over each side's closed tickets.
KPI_SPECS: tuple[tuple[str, str, str, str, str | None, str, str | None], ...] = (
    ("first_response_timeouts", "first-response timeouts", "first_response_ok", "rate", "lower", "share", "not"),
    ("first_response_median", "first response, median", "first_response_s", "median", "lower", "seconds", None),
    ("first_response_p90", "first response, P90", "first_response_s", "p90", "lower", "seconds", None),
    ("resolution_rate", "resolution rate", "resolved", "rate", "higher", "share", None),
    ("fcr", "first-contact resolution", "fcr", "rate", "higher", "share", None),
    ("reopen_rate", "reopened", "reopened", "rate", "lower", "share", None),
    ("escalation_rate", "escalated", "escalated", "rate", None, "share", None),
    ("sla_met", "SLA met", "sla_met", "rate", "higher", "share", None),
    ("breach_rate", "tickets with a limit breach", "breaches", "rate", "lower", "share", "positive"),
    ("handling_median", "handling time, median", "handling_s", "median", "lower", "seconds", None),
    ("handling_p90", "handling time, P90", "handling_s", "p90", "lower", "seconds", None),
    ("throughput_median", "throughput time, median", "throughput_s", "median", "lower", "seconds", None),
    ("throughput_p90", "throughput time, P90", "throughput_s", "p90", "lower", "seconds", None),
    ("satisfaction_mean", "satisfaction, mean", "satisfaction", "mean", "higher", "points", None),
)

#: KPIs known only once a ticket has ended: measured over closed tickets (as ``csmine kpi``).
CLOSED_ONLY = frozenset({"resolution_rate", "fcr", "handling_median", "handling_p90", "throughput_median",
                         "throughput_p90"})

#: The SOP role each KPI rests on (None: it needs an SOP's targets or limits; absent: none needed).
KPI_ROLES: dict[str, str | None] = {
    "first_response_timeouts": "first_response", "first_response_median": "first_response",
    "first_response_p90": "first_response", "resolution_rate": "resolution", "fcr": "resolution",
    "reopen_rate": "reopen", "escalation_rate": "escalation", "sla_met": None, "breach_rate": None,
}


def kpi_unavailable(key: str, sop: SOP | None, frames: tuple[pd.DataFrame, ...]) -> str | None:
    """Why a KPI of :data:`KPI_SPECS` cannot be measured on these per-ticket frames (None: it can).

    Without an SOP, the KPIs resting on a role or on limits; with one, those whose
    role no event of any frame maps to (``absent_roles``): e.g. "resolution step
    'Resolve' never occurs in the log" rather than a resolution rate of 0 %.
    """
    from csmine.kpi import _ROLE_WORDS, _steps_text

    if key not in KPI_ROLES:
        return None
    role = KPI_ROLES[key]
    rule = next((f.attrs.get("first_response_rule") for f in frames if f.attrs.get("first_response_rule")), None)
    if role == "first_response" and rule:
        if all("first_response" in (f.attrs.get("absent_roles") or {}) for f in frames):
            return f"--first-response {rule!r} matches no activity of the log"
        return None
    if sop is None:
        return "needs an SOP (--sop)" + (f" {_ROLE_WORDS.get(role, role)} step" if role
                                         else " with time limits or targets")
    if role is None:
        return None
    if role == "reopen" and not sop.roles.get("reopen"):
        role = "resolution"  # without a reopen role: work restarted after a resolution
    absent = [f.attrs.get("absent_roles") or {} for f in frames]
    if frames and all(role in a for a in absent):
        return _steps_text(role, absent[0][role])
    return None


def as_float(values: pd.Series, transform: str | None = None) -> np.ndarray:
    """A KPI column as floats with NaN for missing values (booleans as 0/1).

    Args:
        values: the column (bool, nullable boolean, object with None/NA, or numbers).
        transform: ``"not"`` turns known booleans into their negation, ``"positive"``
            turns numbers into 1.0 where > 0.
    """
    s = values
    if str(s.dtype) in ("boolean", "bool"):
        out = s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    elif s.dtype == object:  # True/False/None or numbers with None: one C-level conversion
        missing = s.isna().to_numpy()
        raw = s.to_numpy(dtype=object, copy=True)
        raw[missing] = 0.0
        try:
            out = raw.astype(float)
        except (TypeError, ValueError):
            out = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        out[missing] = np.nan
    else:
        out = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if transform == "not":
        out = np.where(np.isnan(out), np.nan, 1.0 - out)
    elif transform == "positive":
        out = np.where(np.isnan(out), np.nan, (out > 0).astype(float))
    return out


def verdict(change: Change, better: str | None) -> str:
    """``improved``, ``worse``, ``changed``, ``no significant change`` or
    ``sample too small to conclude`` for a change and its better direction."""
    if not change.enough:
        return "sample too small to conclude"
    if not change.significant:
        return "no significant change"
    if better is None:
        return "changed"
    up = change.diff > 0
    return "improved" if up == (better == "higher") else "worse"


def _targets(sop: SOP | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if sop is None:
        return out
    t = sop.targets
    if t.resolution_rate is not None:
        out["resolution_rate"] = float(t.resolution_rate)
    if t.satisfaction is not None:
        out["satisfaction_mean"] = float(t.satisfaction)
    if t.first_contact_resolution is not None:
        out["fcr"] = float(t.first_contact_resolution)
    return out


def unmeasured_notes(reasons: dict[str, list[str]]) -> list[str]:
    """``{reason: [KPI labels]}`` as one note per reason."""
    return [f"not measured ({reason}): {', '.join(labels)}" for reason, labels in reasons.items()]


def compare_kpis(tickets_a: pd.DataFrame, tickets_b: pd.DataFrame, sop: SOP | None, *,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[list[KpiChange], list[str]]:
    """Each KPI of :data:`KPI_SPECS` on two per-ticket frames (see :func:`csmine.kpi.ticket_kpis`).

    The KPIs of :data:`CLOSED_ONLY` are over each side's closed tickets (column
    ``closed``); a KPI that cannot be measured (:func:`kpi_unavailable`) is left out
    with a note saying why.

    Returns:
        The KPI changes and notes on KPIs left out.
    """
    targets = _targets(sop)
    out, notes = [], []
    unmeasured: dict[str, list[str]] = {}
    for key, label, column, statistic, better, unit, transform in KPI_SPECS:
        if column not in tickets_a.columns or column not in tickets_b.columns:
            notes.append(f"{label}: the per-ticket KPI frame has no column {column!r}")
            continue
        reason = kpi_unavailable(key, sop, (tickets_a, tickets_b))
        if reason:
            unmeasured.setdefault(reason, []).append(label)
            continue
        a = as_float(tickets_a[column], transform)
        b = as_float(tickets_b[column], transform)
        if key in CLOSED_ONLY:
            if "closed" in tickets_a.columns:
                a = np.where(tickets_a["closed"].astype(bool).to_numpy(), a, np.nan)
            if "closed" in tickets_b.columns:
                b = np.where(tickets_b["closed"].astype(bool).to_numpy(), b, np.nan)
        if np.isnan(a).all() and np.isnan(b).all():
            notes.append(f"{label}: no ticket on either side has a value (the SOP's roles may not match the log)")
            continue
        change = compare_samples(a, b, statistic, name=key, resamples=resamples, seed=seed)
        out.append(KpiChange(key, label, unit, better, targets.get(key), change, verdict(change, better)))
    return out, notes + unmeasured_notes(unmeasured)


# ---------------------------------------------------------------------------------
# Conformance per step
# ---------------------------------------------------------------------------------


def compare_steps(df_a: pd.DataFrame, df_b: pd.DataFrame, sop: SOP, *, calendar: BusinessCalendar | None = None,
                  resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                  deviations: pd.DataFrame | None = None, limits: pd.DataFrame | None = None,
                  closing: ClosingRule | None = None) -> list[StepChange]:
    """Per SOP step: skip, other-deviation and late shares on both sides (see :class:`StepChange`).

    Deviations come from :func:`csmine.conformance.ticket_deviations` (optimal
    alignments), late shares from :func:`csmine.kpi.check_limits` (the KPI rules: one
    clock per ticket and limit, paused while waiting on the customer), so they add up
    with the ``breach_rate`` KPI.

    Args:
        deviations: :func:`~csmine.conformance.ticket_deviations` of a log holding
            every ticket of both sides (e.g. the whole log already checked), used
            instead of aligning each side again. A ticket's deviations depend on its
            own events only, so the rows of a side's tickets are its deviations.
        limits: likewise, :func:`~csmine.kpi.check_limits` of such a log.
    """
    from csmine.conformance import ticket_deviations
    from csmine.kpi import check_limits

    sides = []
    unknown: dict[str, None] = {}
    for df in (df_a, df_b):
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
        # Per deviation: its ticket's position on this side, its step, skipped or not.
        dev_pos = index.get_indexer(dev["ticket"].astype(str)) if len(dev) else np.zeros(0, dtype=np.int64)
        dev_step = dev["step"].astype(str).to_numpy(dtype=object) if len(dev) else np.zeros(0, dtype=object)
        dev_skip = (dev["kind"] == "skipped").to_numpy(dtype=bool) if len(dev) else np.zeros(0, dtype=bool)
        late_by_step: dict[str, np.ndarray] = {}
        if len(clocks):
            per = clocks.groupby(["step", "ticket"], sort=True)["breached"].any()
            for step_name, flags in per.groupby(level=0):
                late_by_step[str(step_name)] = flags.to_numpy(dtype=float)
        sides.append((len(tickets), dev_pos, dev_step, dev_skip, late_by_step))
        for step in pd.unique(dev_step):
            if step not in sop.step_names:
                unknown.setdefault(step, None)
    flow = set(sop.flow_steps)
    order = [(st.name, st.label, "flow" if st.name in flow else "off_flow") for st in sop.steps]
    order += [(name, name, "unknown") for name in sorted(unknown)]
    limits = {lim.step: lim for lim in sop.limits}
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
            late.append(late_by_step.get(step, np.array([], dtype=float)) if step in limits
                        else np.array([], dtype=float))
        lim = limits.get(step)
        out.append(StepChange(
            step=step, label=label, status=status,
            skipped=compare_samples(skipped[0], skipped[1], "rate", name=f"skip:{step}", resamples=resamples,
                                    seed=seed),
            violated=compare_samples(violated[0], violated[1], "rate", name=f"dev:{step}", resamples=resamples,
                                     seed=seed),
            limit=None if lim is None else lim.describe(),
            late=None if lim is None else compare_samples(late[0], late[1], "rate", name=f"late:{step}",
                                                          resamples=resamples, seed=seed),
        ))
    return out


# ---------------------------------------------------------------------------------
# Maps, variants, bottlenecks
# ---------------------------------------------------------------------------------


def compare_maps(map_a: ProcessMap, map_b: ProcessMap) -> list[PathChange]:
    """Every path of either map with its share and median wait on both sides,
    largest absolute share change first (ties: by path)."""
    ea = {e.key: e for e in map_a.all_edges()}
    eb = {e.key: e for e in map_b.all_edges()}
    out = []
    for key in set(ea) | set(eb):
        a, b = ea.get(key), eb.get(key)
        sa = a.cases / map_a.tickets if a and map_a.tickets else 0.0
        sb = b.cases / map_b.tickets if b and map_b.tickets else 0.0
        wa = a.median_s if a else None
        wb = b.median_s if b else None
        change = (wb / wa - 1.0) if wa and wb is not None else None
        out.append(PathChange(key[0], key[1], a.cases if a else 0, b.cases if b else 0, sa, sb, 100.0 * (sb - sa),
                              wa, wb, change, "both" if a and b else ("new" if b else "gone")))
    out.sort(key=lambda p: (-abs(p.share_change_pp), p.source, p.target))
    return out


def compare_variants(df_a: pd.DataFrame, df_b: pd.DataFrame, *, top: int = 10
                     ) -> tuple[list[VariantChange], int, float, list[VariantChange], int, float]:
    """Variants only in B (appeared) and only in A (vanished).

    Returns:
        ``(appeared[:top], appeared_total, share of B's tickets on appeared variants,
        vanished[:top], vanished_total, share of A's tickets on vanished variants)``.
    """
    from csmine.mining import discover_variants

    va = {v.activities: v for v in discover_variants(df_a)}
    vb = {v.activities: v for v in discover_variants(df_b)}
    appeared = [VariantChange(k, v.tickets, v.share) for k, v in vb.items() if k not in va]
    vanished = [VariantChange(k, v.tickets, v.share) for k, v in va.items() if k not in vb]
    appeared.sort(key=lambda v: (-v.tickets, v.activities))
    vanished.sort(key=lambda v: (-v.tickets, v.activities))
    return (appeared[:top], len(appeared), float(sum(v.share for v in appeared)),
            vanished[:top], len(vanished), float(sum(v.share for v in vanished)))


def _where(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " → ".join(str(v) for v in value)
    return str(value)


def compare_bottlenecks(report_a: Any, report_b: Any, *, top: int = 10) -> list[BottleneckMove]:
    """Ranks of the top bottlenecks of either side (see :class:`BottleneckMove`)."""
    def ranked(report: Any) -> dict[tuple[str, str], tuple[int, float | None]]:
        out: dict[tuple[str, str], tuple[int, float | None]] = {}
        for i, b in enumerate(getattr(report, "bottlenecks", ())[:top], start=1):
            key = (str(b.kind), _where(b.where))
            if key not in out:
                impact = getattr(b, "mean_impact_s", getattr(b, "impact_s", None))
                out[key] = (int(getattr(b, "rank", i)), None if impact is None else float(impact))
        return out

    ra, rb = ranked(report_a), ranked(report_b)
    moves = []
    for key in list(rb) + [k for k in ra if k not in rb]:
        a, b = ra.get(key), rb.get(key)
        if a is None:
            movement = "new"
        elif b is None:
            movement = "gone"
        elif b[0] < a[0]:
            movement = f"up {a[0] - b[0]}"
        elif b[0] > a[0]:
            movement = f"down {b[0] - a[0]}"
        else:
            movement = "same"
        moves.append(BottleneckMove(key[0], key[1], a[0] if a else None, b[0] if b else None,
                                    a[1] if a else None, b[1] if b else None, movement))
    return moves


# ---------------------------------------------------------------------------------
# The whole comparison
# ---------------------------------------------------------------------------------


def _side(label: str, description: str, df: pd.DataFrame, tickets_frame: pd.DataFrame | None = None) -> Side:
    from csmine.kpi import ticket_counts

    tickets = int(df["case:concept:name"].nunique()) if len(df) else 0
    opened = df["case:opened_at"] if "case:opened_at" in df.columns and len(df) else None
    return Side(label, description, tickets, len(df),
                None if opened is None else opened.min().isoformat(),
                None if opened is None else opened.max().isoformat(),
                None if tickets_frame is None else ticket_counts(tickets_frame))


def compare_logs(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    sop: SOP | None,
    *,
    label_a: str = "A",
    label_b: str = "B",
    filter_a: str = "",
    filter_b: str = "",
    calendar: BusinessCalendar | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    top_variants: int = 10,
    bottlenecks: bool = True,
    conformance: bool = True,
    ticket_kpis_all: pd.DataFrame | None = None,
    deviations: pd.DataFrame | None = None,
    limits_all: pd.DataFrame | None = None,
    closing: ClosingRule | None = None,
) -> Comparison:
    """Hold the tickets of ``df_b`` against those of ``df_a``.

    Args:
        df_a: event-log frame of side A (e.g. the baseline), as
            :func:`csmine.eventlog.load_event_log` returns.
        df_b: side B (e.g. the pilot).
        sop: the SOP giving roles, targets and limits (the same for both sides, so
            the figures are comparable); None: no SOP -- the KPIs that need none
            (handling, throughput, satisfaction), maps, variants and bottlenecks,
            no conformance per step.
        label_a: name of side A.  label_b: of side B.
        filter_a: side A's filter in words (for the report).  filter_b: B's.
        calendar: business calendar for KPIs and limits in business hours.
        resamples: bootstrap resamples per interval.
        seed: bootstrap seed (same seed, same intervals).
        top_variants: how many appeared / vanished variants to list.
        bottlenecks: compare bottleneck ranks (needs :mod:`csmine.bottlenecks`).
        conformance: compare conformance per step (alignments on both sides).
        ticket_kpis_all: :func:`csmine.kpi.ticket_kpis` (same SOP and calendar) of a
            log holding every ticket of both sides, e.g. the whole log: each side's
            rows are taken from it instead of computing them again (a ticket's KPIs
            depend on its own events only).
        deviations: the same for :func:`csmine.conformance.ticket_deviations`.
        limits_all: the same for :func:`csmine.kpi.check_limits` (with
            ``ticket_kpis_all``, the bottleneck comparison uses both).
        closing: ``--closed-when`` and the stale horizon: which tickets are open
            (:func:`csmine.lifecycle.ticket_status`); each side's counts are in
            :attr:`Side.status`.

    Returns:
        The :class:`Comparison`.

    Raises:
        CompareError: a side holds no tickets.
    """
    from csmine.kpi import ticket_kpis
    from csmine.mining import discover_map

    for label, df, flt in ((label_a, df_a, filter_a), (label_b, df_b, filter_b)):
        if len(df) == 0:
            raise CompareError(f"side {label} ({flt or 'no filter'}) holds no tickets: "
                               "check the phase (`csmine phase list`) or the filter")
    if sop is not None:
        mapped = set(sop.activity_map())
        if not (set(df_a["concept:name"].unique()) | set(df_b["concept:name"].unique())) & mapped:
            raise CompareError(f"none of the log's activities is a step of SOP '{sop.id}': choose the SOP with --sop")

    def side_kpis(df: pd.DataFrame) -> pd.DataFrame:
        if ticket_kpis_all is None:
            return ticket_kpis(df, sop, calendar=calendar, closing=closing)
        return ticket_kpis_all.loc[pd.unique(df["case:concept:name"].astype(str))]

    tickets_a, tickets_b = side_kpis(df_a), side_kpis(df_b)
    kpis, notes = compare_kpis(tickets_a, tickets_b, sop, resamples=resamples, seed=seed)
    if sop is None and conformance:
        notes.append("conformance per step: needs an SOP (--sop)")
    steps = compare_steps(df_a, df_b, sop, calendar=calendar, resamples=resamples, seed=seed,
                          deviations=deviations, limits=limits_all, closing=closing) \
        if conformance and sop is not None else []
    map_a, map_b = discover_map(df_a), discover_map(df_b)
    appeared, n_app, s_app, vanished, n_van, s_van = compare_variants(df_a, df_b, top=top_variants)
    moves: list[BottleneckMove] = []
    if bottlenecks:
        from csmine.bottlenecks import find_bottlenecks

        frames = None if ticket_kpis_all is None or limits_all is None else (ticket_kpis_all, limits_all)
        moves = compare_bottlenecks(
            find_bottlenecks(df_a, sop, calendar=calendar, ticket_frames=frames, closing=closing),
            find_bottlenecks(df_b, sop, calendar=calendar, ticket_frames=frames, closing=closing))
    return Comparison(
        sop=sop.id if sop is not None else None,
        a=_side(label_a, filter_a, df_a, tickets_a),
        b=_side(label_b, filter_b, df_b, tickets_b),
        kpis=tuple(kpis),
        steps=tuple(steps),
        paths=tuple(compare_maps(map_a, map_b)),
        appeared=tuple(appeared), appeared_total=n_app, appeared_share=s_app,
        vanished=tuple(vanished), vanished_total=n_van, vanished_share=s_van,
        bottlenecks=tuple(moves),
        resamples=resamples,
        seed=seed,
        map_a=map_a,
        map_b=map_b,
        notes=tuple(notes),
    )


def side_label(spec: str, log_filter: LogFilter, default: str) -> str:
    """A short name for a side: its phase name when the side is just a phase."""
    if log_filter.phase and log_filter.start is None and log_filter.end is None and not log_filter.where:
        return log_filter.phase
    return default


__all__ = [
    "CLOSED_ONLY",
    "KPI_ROLES",
    "KPI_SPECS",
    "BottleneckMove",
    "CompareError",
    "Comparison",
    "KpiChange",
    "PathChange",
    "Side",
    "StepChange",
    "VariantChange",
    "as_float",
    "compare_bottlenecks",
    "compare_kpis",
    "compare_logs",
    "compare_maps",
    "compare_steps",
    "compare_variants",
    "kpi_unavailable",
    "parse_side",
    "side_label",
    "verdict",
]
