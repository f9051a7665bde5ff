"""What ``csmine why OUTCOME`` asks about: one yes/no outcome per ticket, and who it applies to.

An outcome is read from the frames csmine already computes -- the per-ticket KPIs and
the SOP time limits of :func:`csmine.performance.kpi.ticket_kpis` /
:func:`~csmine.performance.limits.check_limits`, the deviations of
:func:`csmine.conformance.ticket_deviations`, the open/closed rule of
:func:`csmine.eventlog.lifecycle.ticket_status` -- never recomputed here.

==============================  ==========================================  =============================
OUTCOME                         a ticket has it when                        tickets it applies to
==============================  ==========================================  =============================
``breach``                      it broke at least one SOP time limit        tickets a limit applied to
``breach:STEP``                 it broke the limit on STEP (e.g. Record)    tickets that limit applied to
``breach:first-response``       first response later than the SOP target    tickets with a first response
``breach:resolution``           resolution later than the SOP target        resolved tickets
``deviation``                   any deviation from the SOP (conformance)    every ticket
``deviation:STEP``              a deviation on STEP (any kind)              every ticket
``deviation:KIND[:STEP]``       a deviation of that kind (``skipped``,      every ticket
                                ``extra``, ``out-of-order``, ``repeated``,
                                ``wrong-branch``)
``reopen``                      reopened (the SOP's reopen role)            resolved tickets
``not-fcr``                     not resolved at first contact               closed tickets where FCR is known
``slow`` / ``slow:P90``         throughput above its P80 (P90)              closed tickets
``slow:STEP`` / ``slow:STEP:P90``  waiting before STEP above its P80        tickets that reached STEP
``"MEASURE > 2d"``              MEASURE above the threshold (a duration     as for the measure
                                or ``P80``); MEASURE is ``throughput``,
                                ``handling``, ``resolution``,
                                ``first-response`` or ``waiting``
==============================  ==========================================  =============================

*Waiting before STEP* is, per ticket, the time from the previous event to the start of
each STEP event (its time when it has none), summed over the ticket's STEP events;
gaps that follow a customer wait (the SOP's waiting role: the SLA clocks' pauses) are
the customer's time and left out. Percentiles interpolate linearly.

Each outcome also fixes the *window* of a ticket whose path and agents may explain it
(:attr:`Outcome.anchor`): the events up to the outcome's step -- a late first response
cannot be caused by what happened after it -- and which path features it makes
meaningless (:attr:`Outcome.excluded_steps`): "tickets that skipped Classify did not
pass through Classify" says nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.errors import OutcomeError

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.performance.preparation import Prepared

__all__ = [
    "DEVIATION_KINDS",
    "MEASURES",
    "Outcome",
    "OutcomeError",
    "OutcomeSpec",
    "evaluate_outcome",
    "parse_outcome",
]


#: Deviation kinds as written on the command line -> conformance's names.
DEVIATION_KINDS = {
    "skipped": "skipped",
    "extra": "extra",
    "out-of-order": "out_of_order",
    "out_of_order": "out_of_order",
    "repeated": "repeated",
    "wrong-branch": "wrong_branch",
    "wrong_branch": "wrong_branch",
}

#: Measures a threshold outcome can use -> the ``ticket_kpis`` column.
MEASURES = {
    "throughput": "throughput_s",
    "handling": "handling_s",
    "resolution": "resolution_s",
    "first-response": "first_response_s",
    "waiting": "waiting_s",
}

_QUANTILE = re.compile(r"^p(\d{1,3}(?:\.\d+)?)$", re.IGNORECASE)
_THRESHOLD = re.compile(
    r"^\s*(throughput|handling|resolution|first[-_ ]?response|waiting)\s*(>=|>)\s*(.+?)\s*$",
    re.IGNORECASE)

_EXAMPLES = ("breach, breach:Record, deviation, deviation:skipped:Callback, reopen, not-fcr, slow, "
             "slow:P90, slow:Handle, 'throughput > 2d', 'handling > P80'")


@dataclass(frozen=True, slots=True)
class OutcomeSpec:
    """A parsed OUTCOME (see the module docstring for the forms).

    Attributes:
        text: the outcome as given.
        kind: ``breach``, ``deviation``, ``reopen``, ``not-fcr``, ``slow``, ``slow-step``
            or ``threshold``.
        step: the step named (``breach:STEP``, ``deviation:STEP``, ``slow:STEP``), as given.
        deviation_kind: conformance's kind for ``deviation:KIND``.
        measure: the ``ticket_kpis`` measure (``throughput``, ...) for ``slow`` and thresholds.
        quantile: the percentile as a fraction (0.8 for P80) when the threshold is one.
        threshold_s: a fixed threshold in seconds.
        inclusive: ``>=`` rather than ``>``.
    """

    text: str
    kind: str
    step: str | None = None
    deviation_kind: str | None = None
    measure: str | None = None
    quantile: float | None = None
    threshold_s: float | None = None
    inclusive: bool = False


def _quantile(token: str) -> float | None:
    m = _QUANTILE.match(token.strip())
    if m is None:
        return None
    q = float(m.group(1)) / 100.0
    if not 0.0 < q < 1.0:
        raise OutcomeError(f"percentile {token!r} must be between P1 and P99")
    return q


def parse_outcome(text: str) -> OutcomeSpec:
    """Read an OUTCOME (see the module docstring).

    Raises:
        OutcomeError: the text is none of the forms.
    """
    raw = (text or "").strip()
    if not raw:
        raise OutcomeError(f"no outcome given: use one of {_EXAMPLES}")
    m = _THRESHOLD.match(raw)
    if m is not None:
        measure = re.sub(r"[-_ ]", "-", m.group(1).lower())
        measure = "first-response" if measure.startswith("first") else measure
        value = m.group(3).strip().strip("'\"")
        q = _quantile(value)
        seconds = None
        if q is None:
            from process_models.errors import ProcessModelError
            from process_models.model import parse_duration

            try:
                seconds = parse_duration(value).total_seconds()
            except (ProcessModelError, ValueError):
                raise OutcomeError(f"cannot read {value!r} in {raw!r} as a duration or a percentile "
                                   "(e.g. 'throughput > 2d', 'handling > 45 min', 'throughput > P90')") from None
        return OutcomeSpec(raw, "threshold", measure=measure, quantile=q, threshold_s=seconds,
                           inclusive=m.group(2) == ">=")
    head, _, rest = raw.partition(":")
    head = head.strip().lower()
    rest = rest.strip()
    if head == "breach":
        return OutcomeSpec(raw, "breach", step=rest or None)
    if head in ("deviation", "deviations"):
        if not rest:
            return OutcomeSpec(raw, "deviation")
        first, _, tail = rest.partition(":")
        kind = DEVIATION_KINDS.get(first.strip().lower())
        if kind is not None:
            return OutcomeSpec(raw, "deviation", step=tail.strip() or None, deviation_kind=kind)
        return OutcomeSpec(raw, "deviation", step=rest)
    if head in ("reopen", "reopened", "reopens"):
        if rest:
            raise OutcomeError(f"{raw!r}: reopen takes no step (use 'reopen')")
        return OutcomeSpec(raw, "reopen")
    if head in ("not-fcr", "not_fcr", "no-fcr"):
        if rest:
            raise OutcomeError(f"{raw!r}: not-fcr takes no step (use 'not-fcr')")
        return OutcomeSpec(raw, "not-fcr")
    if head == "slow":
        if not rest:
            return OutcomeSpec(raw, "slow", measure="throughput", quantile=0.8)
        q = _quantile(rest)
        if q is not None:
            return OutcomeSpec(raw, "slow", measure="throughput", quantile=q)
        step, _, tail = rest.rpartition(":")
        q = _quantile(tail) if step else None
        if q is not None:
            return OutcomeSpec(raw, "slow-step", step=step.strip(), quantile=q)
        return OutcomeSpec(raw, "slow-step", step=rest, quantile=0.8)
    raise OutcomeError(f"unknown outcome {raw!r}: use one of {_EXAMPLES}")


@dataclass(frozen=True)
class Outcome:
    """An outcome measured on every ticket of a log.

    Arrays are per ticket code of the prepared log (``prep.log.cases``).

    Attributes:
        spec: what was asked.
        label: the outcome in words (``breach the Record limit (30m after opening)``),
            phrased to follow "tickets ...".
        population: which tickets it applies to, in words.
        applies: whether the outcome applies to the ticket.
        flag: whether the ticket has the outcome (False where it does not apply).
        anchor: the last event position (in the prepared log) of the ticket's window:
            its path and agents up to there may explain the outcome.
        excluded_steps: activities whose "passed through" feature is left out (the
            outcome is about them).
        agents_first_contact: agents are those of the first event done by someone
            (``not-fcr``: who took the first contact), not of the whole window.
        path: whether path features (steps, teams) are meaningful for this outcome.
        measure: per ticket, the seconds a duration outcome compares (NaN elsewhere).
        threshold_s: the threshold the measure is compared with.
        inclusive: ``>=`` instead of ``>``.
        measure_kind: how :mod:`csmine.explain.whatif` replays the measure
            (``throughput``, ``handling``, ``clock``, ``wait-before``, ``waiting``) or
            ``rate`` (no duration: the group's rate is replaced by the others').
        clock: for ``clock`` measures, per ticket the clock start (epoch s) and the
            position of the event that stops it (-1: none).
        notes: anything the reader should know (e.g. a limit left out).
    """

    spec: OutcomeSpec
    label: str
    population: str
    applies: np.ndarray
    flag: np.ndarray
    anchor: np.ndarray
    excluded_steps: frozenset[str] = frozenset()
    agents_first_contact: bool = False
    path: bool = True
    measure: np.ndarray | None = None
    threshold_s: float | None = None
    inclusive: bool = False
    measure_kind: str = "rate"
    clock: tuple[np.ndarray, np.ndarray] | None = None
    wait_step: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tickets(self) -> int:
        return int(self.applies.sum())

    @property
    def with_outcome(self) -> int:
        return int(self.flag.sum())


def _hd(seconds: float) -> str:
    from csmine.formatting import human_duration

    return human_duration(seconds)


def _first_pos(mask: np.ndarray, case: np.ndarray, n_cases: int, *, last: bool = False) -> np.ndarray:
    out = np.full(n_cases, -1, dtype=np.int64)
    pos = np.flatnonzero(mask)
    if len(pos) == 0:
        return out
    if last:
        np.maximum.at(out, case[pos], pos)
    else:
        # positions are sorted: the first one per ticket is where the ticket changes
        c = case[pos]
        keep = np.ones(len(pos), dtype=bool)
        keep[1:] = c[1:] != c[:-1]
        out[c[keep]] = pos[keep]
    return out


def _match_name(name: str, names: list[str], what: str) -> str:
    for candidate in names:
        if candidate == name:
            return candidate
    lowered = {c.lower(): c for c in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    shown = ", ".join(repr(n) for n in names[:12]) or "none"
    raise OutcomeError(f"unknown {what} {name!r}: use one of {shown}")


def _step_mask(prep: Prepared, step: str) -> np.ndarray:
    """Events of ``step``: the SOP step (aliases mapped) or, without a mapping, the activity."""
    log = prep.log
    by_step = prep.step == step
    if by_step.any():
        return np.asarray(by_step, dtype=bool)
    codes = np.flatnonzero(log.activities.astype(str) == step)
    return np.isin(log.act, codes)


def _known_steps(prep: Prepared, sop: SOP | None) -> list[str]:
    names: list[str] = []
    if sop is not None:
        names.extend(s.name for s in sop.steps)
    names.extend(str(a) for a in prep.log.activities if str(a) not in names)
    return names


def _bool(series: pd.Series) -> np.ndarray:
    return np.asarray(pd.array(series, dtype="boolean").fillna(False), dtype=bool)


def _known(series: pd.Series) -> np.ndarray:
    return ~np.asarray(pd.isna(series), dtype=bool)


def evaluate_outcome(
    spec: OutcomeSpec,
    prep: Prepared,
    kpis: pd.DataFrame,
    limits: pd.DataFrame,
    sop: SOP | None,
    *,
    deviations: pd.DataFrame | None = None,
    calendar: Any = None,
) -> Outcome:
    """Measure ``spec`` on every ticket.

    Args:
        spec: the outcome (:func:`parse_outcome`).
        prep: the prepared log (:func:`csmine.performance.preparation.prepare`).
        kpis: its per-ticket KPI frame (same tickets, same order).
        limits: its limit frame (:func:`csmine.performance.limits.check_limits`).
        sop: the SOP (None: only outcomes that need none).
        deviations: :func:`csmine.conformance.ticket_deviations` of the log, for
            ``deviation`` outcomes.
        calendar: the business calendar the clocks ran on (for waiting before a step).

    Raises:
        OutcomeError: the outcome needs what the log or SOP does not have.
    """
    log = prep.log
    n = len(log.cases)
    last = np.flatnonzero(log.last)
    closed = np.asarray(kpis["closed"].to_numpy(), dtype=bool)
    kind = spec.kind

    def outcome(label: str, population: str, applies: np.ndarray, flag: np.ndarray, **kw: Any) -> Outcome:
        applies = np.asarray(applies, dtype=bool)
        flag = np.asarray(flag, dtype=bool) & applies
        anchor = kw.pop("anchor", None)
        anchor = last.copy() if anchor is None else np.where(anchor >= 0, anchor, last)
        return Outcome(spec, label, population, applies, flag, anchor, **kw)

    if kind == "breach":
        if spec.step and spec.step.lower().replace("_", "-") in ("first-response", "resolution"):
            which = spec.step.lower().replace("_", "-")
            column = "first_response_ok" if which == "first-response" else "resolution_ok"
            values = kpis[column]
            known = _known(values)
            if not known.any():
                raise OutcomeError(f"{spec.text!r}: the {which} target cannot be checked on this log "
                                   f"(it needs an SOP with a {which} step and target: --sop)")
            ok = _bool(values)
            role = "first_response" if which == "first-response" else "resolution"
            anchor = _first_pos(prep.roles.get(role, np.zeros(log.n, bool)), log.case, n,
                                last=role == "resolution")
            target = (sop.targets.first_response if which == "first-response" else sop.targets.resolution_time) \
                if sop is not None else None
            label = f"miss the {which} target" + (f" ({_hd(target.total_seconds())})" if target else "")
            measure_col = "first_response_s" if which == "first-response" else "resolution_s"
            start = prep.opened
            return outcome(label, f"tickets with a known {which} time", known, known & ~ok, anchor=anchor,
                           measure=kpis[measure_col].to_numpy(dtype=float),
                           threshold_s=target.total_seconds() if target else None, measure_kind="clock",
                           clock=(start, anchor))
        if sop is None or not sop.limits:
            raise OutcomeError(f"{spec.text!r} needs an SOP with time limits (--sop NAME|FILE)")
        if len(limits) == 0:
            raise OutcomeError(f"{spec.text!r}: none of the SOP's time limits applies to this log "
                               "(their steps never occur)")
        from csmine.mining.encoding import epoch_seconds

        codes = pd.Index(log.cases.astype(str))
        if not spec.step:
            checked = kpis["limits_checked"].to_numpy() > 0
            breached = kpis["breaches"].to_numpy() > 0
            return outcome("breach an SOP time limit", "tickets an SOP time limit applied to", checked, breached)
        steps = sorted({str(s) for s in limits["step"].unique()})
        step = _match_name(spec.step, steps + sorted({lim.step for lim in sop.limits} - set(steps)),
                           "time limit (step)")
        rows = limits[limits["step"] == step]
        if len(rows) == 0:
            raise OutcomeError(f"{spec.text!r}: the limit on {step!r} never applies on this log "
                               "(its step never occurs)")
        idx = codes.get_indexer(rows["ticket"].astype(str))
        applies = np.zeros(n, dtype=bool)
        applies[idx] = True
        flag = np.zeros(n, dtype=bool)
        np.logical_or.at(flag, idx, rows["breached"].to_numpy(dtype=bool))
        elapsed = np.full(n, np.nan)
        elapsed[idx] = rows["elapsed_s"].to_numpy(dtype=float)
        start = np.full(n, np.nan)
        start[idx] = epoch_seconds(rows["start_at"])
        lim = next(lim for lim in sop.limits if lim.step == step)
        since = "opening" if lim.since == "opened" else lim.since
        label = f"breach the {step} limit ({_hd(lim.within.total_seconds())} after {since})"
        anchor = _first_pos(_step_mask(prep, step), log.case, n)
        return outcome(label, f"tickets the {step} limit applied to", applies, flag, anchor=anchor,
                       excluded_steps=frozenset({step}), measure=elapsed,
                       threshold_s=lim.within.total_seconds(), measure_kind="clock",
                       clock=(start, np.where(applies, anchor, -1)),
                       notes=(f"{int(rows['overdue'].sum()):,} of the breaches are overdue (the step has not "
                              "happened on open tickets)",) if rows["overdue"].any() else ())

    if kind == "deviation":
        if sop is None:
            raise OutcomeError(f"{spec.text!r} needs an SOP to check conformance against (--sop NAME|FILE)")
        if deviations is None:
            raise OutcomeError(f"{spec.text!r}: no conformance result was given")
        dev = deviations
        words = "deviate from the SOP"
        if spec.deviation_kind:
            dev = dev[dev["kind"] == spec.deviation_kind]
        if spec.step:
            names = sorted(set(_known_steps(prep, sop)) | {str(s) for s in deviations["step"].unique()})
            step = _match_name(spec.step, names, "step")
            dev = dev[dev["step"] == step]
        kind_words = {"skipped": "skip", "extra": "do extra", "out_of_order": "do out of order",
                      "repeated": "repeat", "wrong_branch": "take the wrong branch at"}
        if spec.deviation_kind and spec.step:
            words = f"{kind_words[spec.deviation_kind]} {step}"
        elif spec.deviation_kind:
            words = {"skipped": "skip an SOP step", "extra": "do a step the SOP does not allow",
                     "out_of_order": "do a step out of order", "repeated": "repeat a step",
                     "wrong_branch": "take a wrong branch"}[spec.deviation_kind]
        elif spec.step:
            words = f"deviate from the SOP at {step}"
        codes = pd.Index(log.cases.astype(str))
        flag = np.zeros(n, dtype=bool)
        idx = codes.get_indexer(dev["ticket"].astype(str).unique())
        flag[idx[idx >= 0]] = True
        excluded = frozenset(str(s) for s in dev["step"].unique())
        return outcome(words, "tickets checked against the SOP", np.ones(n, dtype=bool), flag,
                       excluded_steps=excluded,
                       notes=("every ticket is checked; an open one as far as it has run",))

    if kind == "reopen":
        values = kpis["reopened"]
        if not _known(values).any():
            raise OutcomeError("'reopen' needs an SOP with a reopen step (or resolution and first-response "
                               "steps): --sop NAME|FILE")
        resolved = kpis["resolved"]
        applies = _bool(resolved) if _known(resolved).any() else np.ones(n, dtype=bool)
        reopen_mask = prep.roles.get("reopen", np.zeros(log.n, dtype=bool))
        close_mask = prep.roles.get("close", np.zeros(log.n, dtype=bool))
        first = _first_pos(reopen_mask | close_mask, log.case, n)
        excluded = frozenset(str(a) for a in log.activities[np.unique(log.act[reopen_mask])]) \
            if reopen_mask.any() else frozenset()
        return outcome("are reopened", "resolved tickets", applies, _bool(values), anchor=first,
                       excluded_steps=excluded)

    if kind == "not-fcr":
        values = kpis["fcr"]
        known = _known(values) & closed
        if not known.any():
            raise OutcomeError("'not-fcr' needs an SOP with a resolution step (--sop NAME|FILE) and closed "
                               "tickets")
        resource = prep.df["org:resource"].to_numpy(dtype=object)[log.order] \
            if "org:resource" in prep.df.columns else np.full(log.n, None, dtype=object)
        first_contact = _first_pos(np.asarray(pd.notna(resource), dtype=bool), log.case, n)
        return outcome("miss first-contact resolution", "closed tickets", known, known & ~_bool(values),
                       anchor=first_contact, agents_first_contact=True, path=False,
                       notes=("path features are left out: first-contact resolution is defined by them "
                              "(escalation, reopen, handovers, customer waits); agents are the first "
                              "contact's",))

    if kind in ("slow", "threshold"):
        measure = spec.measure or "throughput"
        column = MEASURES[measure]
        values = kpis[column].to_numpy(dtype=float)
        if measure in ("throughput", "handling"):
            applies = closed & np.isfinite(values)
            population = "closed tickets"
        else:
            applies = np.isfinite(values)
            population = {"resolution": "resolved tickets", "first-response": "tickets with a first response",
                          "waiting": "tickets"}[measure]
        if measure == "waiting" and not np.isfinite(values).any():
            raise OutcomeError(f"{spec.text!r} needs an SOP with a waiting step (customer waits): --sop")
        if not applies.any():
            raise OutcomeError(f"{spec.text!r}: no ticket has a known {measure} time"
                               + (" (no ticket is closed yet)" if measure in ("throughput", "handling") else ""))
        if spec.quantile is not None:
            threshold = float(np.quantile(values[applies], spec.quantile))
            pct = f"P{spec.quantile * 100:g}"
            label = f"take longer than {_hd(threshold)} ({measure}, the {pct})" if measure == "throughput" \
                else f"have {measure} above {_hd(threshold)} (the {pct})"
        else:
            threshold = float(spec.threshold_s or 0.0)
            label = f"take more than {_hd(threshold)} ({measure})" if measure == "throughput" \
                else f"have {measure} above {_hd(threshold)}"
        flag = (values >= threshold) if spec.inclusive else (values > threshold)
        anchor = None
        clock = None
        measure_kind = {"throughput": "throughput", "handling": "handling", "waiting": "waiting"}.get(measure, "clock")
        if measure in ("first-response", "resolution"):
            role = "first_response" if measure == "first-response" else "resolution"
            anchor = _first_pos(prep.roles.get(role, np.zeros(log.n, bool)), log.case, n,
                                last=role == "resolution")
            clock = (prep.opened, anchor)
        return outcome(label, population, applies, np.where(applies, flag, False), anchor=anchor,
                       measure=values, threshold_s=threshold, inclusive=spec.inclusive,
                       measure_kind=measure_kind, clock=clock)

    if kind == "slow-step":
        step = _match_name(spec.step or "", _known_steps(prep, sop), "step")
        mask = _step_mask(prep, step)
        if not mask.any():
            raise OutcomeError(f"{spec.text!r}: no event of the log is the step {step!r}")
        waits = wait_before(prep, calendar)
        n_cases = n
        total = np.bincount(log.case[mask], weights=np.nan_to_num(waits[mask]), minlength=n_cases)
        applies = np.bincount(log.case[mask], minlength=n_cases) > 0
        q = spec.quantile or 0.8
        threshold = float(np.quantile(total[applies], q))
        values = np.where(applies, total, np.nan)
        flag = applies & (values > threshold)
        anchor = _first_pos(mask, log.case, n_cases, last=True)
        return outcome(f"wait longer than {_hd(threshold)} before {step} (the P{q * 100:g})",
                       f"tickets that reached {step}", applies, flag, anchor=anchor,
                       excluded_steps=frozenset({step}), measure=values, threshold_s=threshold,
                       measure_kind="wait-before", wait_step=step)

    raise OutcomeError(f"unknown outcome {spec.text!r}: use one of {_EXAMPLES}")


def waiting_role(prep: Prepared) -> np.ndarray:
    """Per event: does it start a customer wait (the SOP's waiting role)?"""
    mask = prep.roles.get("waiting")
    return np.zeros(prep.log.n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)


def wait_before(prep: Prepared, calendar: Any = None) -> np.ndarray:
    """Per event: seconds from the previous event of the ticket to its start (its time when it
    has none), 0 for a ticket's first event and after a customer wait (the customer's time)."""
    from csmine.mining.time_split import seconds_between

    log = prep.log
    out = np.zeros(log.n)
    i, j = log.pairs()
    if len(i):
        gap = np.clip(seconds_between(log.ts[i], log.arrival()[j], calendar), 0, None)
        out[j] = np.where(waiting_role(prep)[i], 0.0, gap)
    return out
