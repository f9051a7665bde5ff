"""Measuring an outcome on every ticket, one function per kind of OUTCOME.

:func:`csmine.explain.outcomes.evaluate_outcome` parses nothing and measures nothing itself:
it hands the frames to the function of the outcome's kind (:func:`measure_of`). Each reads
the per-ticket frames csmine already has (KPIs, limit checks, deviations) and returns an
:class:`Outcome` -- who it applies to, who has it, the window of each ticket that may
explain it and, for durations, what the what-if replays. The forms and their definitions
are in :mod:`csmine.explain.outcomes` and ``docs/why.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.errors import OutcomeError
from csmine.explain.events import as_bool, first_pos, known, known_steps, match_name, step_mask, wait_before

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.explain.outcomes import OutcomeSpec
    from csmine.performance.preparation import Prepared

__all__ = ["MEASURES", "Inputs", "Outcome", "measure_of"]

#: Measures a threshold outcome can use -> the ``ticket_kpis`` column.
MEASURES = {
    "throughput": "throughput_s",
    "handling": "handling_s",
    "resolution": "resolution_s",
    "first-response": "first_response_s",
    "waiting": "waiting_s",
}


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


@dataclass(frozen=True)
class Inputs:
    """What an outcome is measured on (the arguments of :func:`evaluate_outcome`)."""

    spec: OutcomeSpec
    prep: Prepared
    kpis: pd.DataFrame
    limits: pd.DataFrame
    sop: SOP | None
    deviations: pd.DataFrame | None
    calendar: Any

    @property
    def n(self) -> int:
        return len(self.prep.log.cases)

    @property
    def closed(self) -> np.ndarray:
        return np.asarray(self.kpis["closed"].to_numpy(), dtype=bool)

    def role_pos(self, role: str, *, last: bool = False) -> np.ndarray:
        """Per ticket the first (last) event of an SOP role; -1: none."""
        log = self.prep.log
        return first_pos(self.prep.roles.get(role, np.zeros(log.n, bool)), log.case, self.n, last=last)

    def outcome(self, label: str, population: str, applies: np.ndarray, flag: np.ndarray, **kw: Any) -> Outcome:
        """The :class:`Outcome`; its window ends at ``anchor`` where one is given (and found),
        else at the ticket's last event."""
        last = np.flatnonzero(self.prep.log.last)
        applies = np.asarray(applies, dtype=bool)
        flag = np.asarray(flag, dtype=bool) & applies
        anchor = kw.pop("anchor", None)
        anchor = last.copy() if anchor is None else np.where(anchor >= 0, anchor, last)
        return Outcome(self.spec, label, population, applies, flag, anchor, **kw)


def _breach_target(x: Inputs) -> Outcome:
    """``breach:first-response``, ``breach:resolution``: later than the SOP's target."""
    spec, kpis, sop = x.spec, x.kpis, x.sop
    which = (spec.step or "").lower().replace("_", "-")
    values = kpis["first_response_ok" if which == "first-response" else "resolution_ok"]
    is_known = known(values)
    if not is_known.any():
        raise OutcomeError(f"{spec.text!r}: the {which} target cannot be checked on this log "
                           f"(it needs an SOP with a {which} step and target: --sop)")
    ok = as_bool(values)
    role = "first_response" if which == "first-response" else "resolution"
    anchor = x.role_pos(role, last=role == "resolution")
    target = (sop.targets.first_response if which == "first-response" else sop.targets.resolution_time) \
        if sop is not None else None
    label = f"miss the {which} target" + (f" ({_hd(target.total_seconds())})" if target else "")
    measure_col = "first_response_s" if which == "first-response" else "resolution_s"
    return x.outcome(label, f"tickets with a known {which} time", is_known, is_known & ~ok, anchor=anchor,
                     measure=kpis[measure_col].to_numpy(dtype=float),
                     threshold_s=target.total_seconds() if target else None, measure_kind="clock",
                     clock=(x.prep.opened, anchor))


def _breach_limit(x: Inputs) -> Outcome:
    """``breach`` (any SOP time limit) and ``breach:STEP`` (the limit on STEP; overdue counts)."""
    spec, sop, limits, kpis, prep = x.spec, x.sop, x.limits, x.kpis, x.prep
    if sop is None or not sop.limits:
        raise OutcomeError(f"{spec.text!r} needs an SOP with time limits (--sop NAME|FILE)")
    if len(limits) == 0:
        raise OutcomeError(f"{spec.text!r}: none of the SOP's time limits applies to this log "
                           "(their steps never occur)")
    if not spec.step:
        return x.outcome("breach an SOP time limit", "tickets an SOP time limit applied to",
                         kpis["limits_checked"].to_numpy() > 0, kpis["breaches"].to_numpy() > 0)
    from csmine.mining.encoding import epoch_seconds

    steps = sorted({str(s) for s in limits["step"].unique()})
    step = match_name(spec.step, steps + sorted({lim.step for lim in sop.limits} - set(steps)), "time limit (step)")
    rows = limits[limits["step"] == step]
    if len(rows) == 0:
        raise OutcomeError(f"{spec.text!r}: the limit on {step!r} never applies on this log "
                           "(its step never occurs)")
    n = x.n
    idx = pd.Index(prep.log.cases.astype(str)).get_indexer(rows["ticket"].astype(str))
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
    anchor = first_pos(step_mask(prep, step), prep.log.case, n)
    return x.outcome(f"breach the {step} limit ({_hd(lim.within.total_seconds())} after {since})",
                     f"tickets the {step} limit applied to", applies, flag, anchor=anchor,
                     excluded_steps=frozenset({step}), measure=elapsed, threshold_s=lim.within.total_seconds(),
                     measure_kind="clock", clock=(start, np.where(applies, anchor, -1)),
                     notes=(f"{int(rows['overdue'].sum()):,} of the breaches are overdue (the step has not "
                            "happened on open tickets)",) if rows["overdue"].any() else ())


_KIND_WORDS = {"skipped": "skip", "extra": "do extra", "out_of_order": "do out of order",
               "repeated": "repeat", "wrong_branch": "take the wrong branch at"}
_ANY_STEP_WORDS = {"skipped": "skip an SOP step", "extra": "do a step the SOP does not allow",
                   "out_of_order": "do a step out of order", "repeated": "repeat a step",
                   "wrong_branch": "take a wrong branch"}


def _deviation(x: Inputs) -> Outcome:
    """``deviation[:KIND][:STEP]``: the conformance check's deviations, on every ticket."""
    spec, prep = x.spec, x.prep
    if x.sop is None:
        raise OutcomeError(f"{spec.text!r} needs an SOP to check conformance against (--sop NAME|FILE)")
    if x.deviations is None:
        raise OutcomeError(f"{spec.text!r}: no conformance result was given")
    dev = x.deviations
    words = "deviate from the SOP"
    if spec.deviation_kind:
        dev = dev[dev["kind"] == spec.deviation_kind]
        words = _ANY_STEP_WORDS[spec.deviation_kind]
    if spec.step:
        names = sorted(set(known_steps(prep, x.sop)) | {str(s) for s in x.deviations["step"].unique()})
        step = match_name(spec.step, names, "step")
        dev = dev[dev["step"] == step]
        words = f"{_KIND_WORDS[spec.deviation_kind]} {step}" if spec.deviation_kind \
            else f"deviate from the SOP at {step}"
    flag = np.zeros(x.n, dtype=bool)
    idx = pd.Index(prep.log.cases.astype(str)).get_indexer(dev["ticket"].astype(str).unique())
    flag[idx[idx >= 0]] = True
    return x.outcome(words, "tickets checked against the SOP", np.ones(x.n, dtype=bool), flag,
                     excluded_steps=frozenset(str(s) for s in dev["step"].unique()),
                     notes=("every ticket is checked; an open one as far as it has run",))


def _reopen(x: Inputs) -> Outcome:
    """``reopen``: the SOP's reopen role, among resolved tickets; the window ends at the first
    reopen or close."""
    log = x.prep.log
    values = x.kpis["reopened"]
    if not known(values).any():
        raise OutcomeError("'reopen' needs an SOP with a reopen step (or resolution and first-response "
                           "steps): --sop NAME|FILE")
    resolved = x.kpis["resolved"]
    applies = as_bool(resolved) if known(resolved).any() else np.ones(x.n, dtype=bool)
    reopen_mask = x.prep.roles.get("reopen", np.zeros(log.n, dtype=bool))
    close_mask = x.prep.roles.get("close", np.zeros(log.n, dtype=bool))
    first = first_pos(reopen_mask | close_mask, log.case, x.n)
    excluded = frozenset(str(a) for a in log.activities[np.unique(log.act[reopen_mask])]) \
        if reopen_mask.any() else frozenset()
    return x.outcome("are reopened", "resolved tickets", applies, as_bool(values), anchor=first,
                     excluded_steps=excluded)


def _not_fcr(x: Inputs) -> Outcome:
    """``not-fcr``: not resolved at first contact, among closed tickets; agents of the first contact."""
    log, df = x.prep.log, x.prep.df
    values = x.kpis["fcr"]
    is_known = known(values) & x.closed
    if not is_known.any():
        raise OutcomeError("'not-fcr' needs an SOP with a resolution step (--sop NAME|FILE) and closed "
                           "tickets")
    has_agent = df["org:resource"].notna().to_numpy(dtype=bool)[log.order] if "org:resource" in df.columns \
        else np.zeros(log.n, dtype=bool)
    return x.outcome("miss first-contact resolution", "closed tickets", is_known, is_known & ~as_bool(values),
                     anchor=first_pos(has_agent, log.case, x.n), agents_first_contact=True, path=False,
                     notes=("path features are left out: first-contact resolution is defined by them "
                            "(escalation, reopen, handovers, customer waits); agents are the first "
                            "contact's",))


def _threshold(x: Inputs) -> Outcome:
    """``slow``, ``slow:P90`` and ``"MEASURE > X"``: a per-ticket KPI above a duration or percentile."""
    spec = x.spec
    measure = spec.measure or "throughput"
    values = x.kpis[MEASURES[measure]].to_numpy(dtype=float)
    if measure in ("throughput", "handling"):
        applies = x.closed & np.isfinite(values)
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
    threshold, label = _threshold_label(spec, measure, values[applies])
    flag = (values >= threshold) if spec.inclusive else (values > threshold)
    anchor = clock = None
    if measure in ("first-response", "resolution"):
        role = "first_response" if measure == "first-response" else "resolution"
        anchor = x.role_pos(role, last=role == "resolution")
        clock = (x.prep.opened, anchor)
    return x.outcome(label, population, applies, np.where(applies, flag, False), anchor=anchor,
                     measure=values, threshold_s=threshold, inclusive=spec.inclusive,
                     measure_kind={"throughput": "throughput", "handling": "handling",
                                   "waiting": "waiting"}.get(measure, "clock"), clock=clock)


def _threshold_label(spec: OutcomeSpec, measure: str, values: np.ndarray) -> tuple[float, str]:
    """The threshold in seconds (a percentile of ``values``, or as given) and the outcome in words."""
    if spec.quantile is not None:
        threshold = float(np.quantile(values, spec.quantile))
        pct = f"P{spec.quantile * 100:g}"
        label = f"take longer than {_hd(threshold)} ({measure}, the {pct})" if measure == "throughput" \
            else f"have {measure} above {_hd(threshold)} (the {pct})"
        return threshold, label
    threshold = float(spec.threshold_s or 0.0)
    label = f"take more than {_hd(threshold)} ({measure})" if measure == "throughput" \
        else f"have {measure} above {_hd(threshold)}"
    return threshold, label


def _slow_step(x: Inputs) -> Outcome:
    """``slow:STEP[:P90]``: the wait before STEP (summed over its events) above its percentile."""
    spec, prep = x.spec, x.prep
    log = prep.log
    step = match_name(spec.step or "", known_steps(prep, x.sop), "step")
    mask = step_mask(prep, step)
    if not mask.any():
        raise OutcomeError(f"{spec.text!r}: no event of the log is the step {step!r}")
    waits = wait_before(prep, x.calendar)
    total = np.bincount(log.case[mask], weights=np.nan_to_num(waits[mask]), minlength=x.n)
    applies = np.bincount(log.case[mask], minlength=x.n) > 0
    q = spec.quantile or 0.8
    threshold = float(np.quantile(total[applies], q))
    values = np.where(applies, total, np.nan)
    return x.outcome(f"wait longer than {_hd(threshold)} before {step} (the P{q * 100:g})",
                     f"tickets that reached {step}", applies, applies & (values > threshold),
                     anchor=first_pos(mask, log.case, x.n, last=True), excluded_steps=frozenset({step}),
                     measure=values, threshold_s=threshold, measure_kind="wait-before", wait_step=step)


def measure_of(spec: OutcomeSpec) -> Callable[[Inputs], Outcome] | None:
    """The function that measures an outcome of ``spec``'s kind (None: an unknown kind)."""
    if spec.kind == "breach":
        if spec.step and spec.step.lower().replace("_", "-") in ("first-response", "resolution"):
            return _breach_target
        return _breach_limit
    return {"deviation": _deviation, "reopen": _reopen, "not-fcr": _not_fcr, "slow": _threshold,
            "threshold": _threshold, "slow-step": _slow_step}.get(spec.kind)
