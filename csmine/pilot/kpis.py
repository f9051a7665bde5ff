"""The KPIs a pilot is judged on, and each of them on two sets of tickets.

:data:`KPI_SPECS` lists the KPIs of ``csmine compare`` and of the daily review, read
from the per-ticket frame of :func:`csmine.performance.kpi.ticket_kpis`;
:func:`compare_kpis` holds side B against side A on each of them with a bootstrap
interval (:func:`csmine.pilot.statistics.compare_samples`). The helpers say which
KPIs cannot be measured and why, turn a KPI column into floats, and put a change
into words (``improved``, ``worse``, ...). :func:`day_kpis` measures the same KPIs
on one day's tickets for the daily review, against the SOP's targets, the previous
day and the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.pilot.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED, Change, compare_samples, point_statistic

if TYPE_CHECKING:
    from process_models import SOP

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


@dataclass(frozen=True, slots=True)
class KpiChange:
    """One KPI on both sides.

    Attributes:
        key: stable identifier (``first_response_timeouts``, ``throughput_p90``, ...).
        label: words for people.
        unit: ``share`` (0-1), ``seconds`` or ``points`` (satisfaction 0-100).
        better: ``lower``, ``higher`` or None (neither direction is better).
        target: the SOP's target for the KPI, if it has one (same unit).
        change: values, change, interval and significance (see :class:`~csmine.pilot.statistics.Change`).
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


def kpi_unavailable(key: str, sop: SOP | None, frames: tuple[pd.DataFrame, ...]) -> str | None:
    """Why a KPI of :data:`KPI_SPECS` cannot be measured on these per-ticket frames (None: it can).

    Without an SOP, the KPIs resting on a role or on limits; with one, those whose
    role no event of any frame maps to (``absent_roles``): e.g. "resolution step
    'Resolve' never occurs in the log" rather than a resolution rate of 0 %.
    """
    from csmine.performance.preparation import ROLE_WORDS, missing_steps_text

    if key not in KPI_ROLES:
        return None
    role = KPI_ROLES[key]
    rule = next((f.attrs.get("first_response_rule") for f in frames if f.attrs.get("first_response_rule")), None)
    if role == "first_response" and rule:
        if all("first_response" in (f.attrs.get("absent_roles") or {}) for f in frames):
            return f"--first-response {rule!r} matches no activity of the log"
        return None
    if sop is None:
        return "needs an SOP (--sop)" + (f" {ROLE_WORDS.get(role, role)} step" if role
                                         else " with time limits or targets")
    if role is None:
        return None
    if role == "reopen" and not sop.roles.get("reopen"):
        role = "resolution"  # without a reopen role: work restarted after a resolution
    absent = [f.attrs.get("absent_roles") or {} for f in frames]
    if frames and all(role in a for a in absent):
        return missing_steps_text(role, absent[0][role])
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


def kpi_values(tickets: pd.DataFrame, key: str, column: str, transform: str | None) -> np.ndarray:
    """One KPI's value per ticket (:func:`as_float`), NaN for the tickets still open
    when the KPI is one of :data:`CLOSED_ONLY` (as ``csmine kpi``: ended tickets only)."""
    values = as_float(tickets[column], transform)
    if key in CLOSED_ONLY and "closed" in tickets.columns:
        values = np.where(tickets["closed"].astype(bool).to_numpy(), values, np.nan)
    return values


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


def kpi_targets(sop: SOP | None) -> dict[str, float]:
    """The SOP's targets by KPI key (resolution rate, satisfaction, first-contact resolution)."""
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
    """Each KPI of :data:`KPI_SPECS` on two per-ticket frames (see :func:`csmine.performance.kpi.ticket_kpis`).

    The KPIs of :data:`CLOSED_ONLY` are over each side's closed tickets (column
    ``closed``); a KPI that cannot be measured (:func:`kpi_unavailable`) is left out
    with a note saying why.

    Returns:
        The KPI changes and notes on KPIs left out.
    """
    targets = kpi_targets(sop)
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
        a = kpi_values(tickets_a, key, column, transform)
        b = kpi_values(tickets_b, key, column, transform)
        if np.isnan(a).all() and np.isnan(b).all():
            notes.append(f"{label}: no ticket on either side has a value (the SOP's roles may not match the log)")
            continue
        change = compare_samples(a, b, statistic, name=key, resamples=resamples, seed=seed)
        out.append(KpiChange(key, label, unit, better, targets.get(key), change, verdict(change, better)))
    return out, notes + unmeasured_notes(unmeasured)



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


def _day_kpi(spec: tuple[Any, ...], tickets_day: pd.DataFrame, tickets_prev: pd.DataFrame | None,
             tickets_base: pd.DataFrame | None, sop: SOP | None, target: float | None, *,
             resamples: int, seed: int) -> DayKpi:
    key, label, column, statistic, better, unit, transform = spec
    values = kpi_values(tickets_day, key, column, transform)
    valid = values[~np.isnan(values)]
    value = point_statistic(valid, statistic)
    if key == "first_response_timeouts" and sop is not None and sop.targets.first_response is not None:
        from csmine.performance.summary import DEFAULT_ATTAINMENT

        target = 1.0 - float(dict(sop.targets.other).get("sla_attainment", DEFAULT_ATTAINMENT))
    met: bool | None = None
    if target is not None and not math.isnan(value):
        met = value >= target if better == "higher" else value <= target
    prev = math.nan
    if tickets_prev is not None and column in tickets_prev.columns:
        pv = kpi_values(tickets_prev, key, column, transform)
        prev = point_statistic(pv[~np.isnan(pv)], statistic)
    base = math.nan
    change: Change | None = None
    word = ""
    if tickets_base is not None and column in tickets_base.columns:
        bv = kpi_values(tickets_base, key, column, transform)
        change = compare_samples(bv, values, statistic, name=f"day:{key}", resamples=resamples, seed=seed)
        base = change.a
        word = verdict(change, better)
    return DayKpi(key, label, unit, value, len(valid), target, met, prev, base, change, word)


def day_kpis(tickets_day: pd.DataFrame, tickets_prev: pd.DataFrame | None, tickets_base: pd.DataFrame | None,
             sop: SOP | None, *, resamples: int, seed: int, notes: list[str]) -> list[DayKpi]:
    """Each KPI of :data:`KPI_SPECS` on the tickets of a day (see :class:`DayKpi`).

    Args:
        tickets_day: per-ticket KPIs of the tickets opened on the day.
        tickets_prev: those of the previous active day (None: none).
        tickets_base: those of the baseline (None: no baseline).
        sop: the SOP (targets, roles); None: the KPIs that need none.
        resamples: bootstrap resamples.  seed: bootstrap seed.
        notes: receives a note per reason KPIs could not be measured.
    """
    targets = kpi_targets(sop)
    out = []
    unmeasured: dict[str, list[str]] = {}
    frames = tuple(f for f in (tickets_day, tickets_base) if f is not None)
    for spec in KPI_SPECS:
        key, label, column = spec[:3]
        if column not in tickets_day.columns:
            continue
        reason = kpi_unavailable(key, sop, frames)
        if reason:
            unmeasured.setdefault(reason, []).append(label)
            continue
        out.append(_day_kpi(spec, tickets_day, tickets_prev, tickets_base, sop, targets.get(key),
                            resamples=resamples, seed=seed))
    notes.extend(unmeasured_notes(unmeasured))
    return out


__all__ = [
    "CLOSED_ONLY",
    "KPI_ROLES",
    "KPI_SPECS",
    "DayKpi",
    "KpiChange",
    "as_float",
    "compare_kpis",
    "day_kpis",
    "kpi_targets",
    "kpi_unavailable",
    "kpi_values",
    "unmeasured_notes",
    "verdict",
]
