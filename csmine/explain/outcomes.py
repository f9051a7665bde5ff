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
(:attr:`csmine.explain.measuring.Outcome.anchor`): the events up to the outcome's step -- a late first response
cannot be caused by what happened after it -- and which path features it makes
meaningless (:attr:`~csmine.explain.measuring.Outcome.excluded_steps`): "tickets that skipped Classify did not
pass through Classify" says nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from csmine.errors import OutcomeError
from csmine.explain.measuring import Inputs, measure_of

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.explain.measuring import Outcome
    from csmine.performance.preparation import Prepared

__all__ = [
    "DEVIATION_KINDS",
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

    @property
    def needs_sop(self) -> bool:
        """Whether the outcome needs an SOP (its limits, targets or its flow)."""
        return self.kind in ("deviation", "breach")


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
    measure = measure_of(spec)
    if measure is None:
        raise OutcomeError(f"unknown outcome {spec.text!r}: use one of {_EXAMPLES}")
    return measure(Inputs(spec, prep, kpis, limits, sop, deviations, calendar))
