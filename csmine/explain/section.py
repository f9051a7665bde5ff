"""The report's "Why" section and the review's why results: which questions, and their answers.

The report asks ``why`` about its own top findings: the SOP time limit breached most often
(``breach:STEP``) and the top bottleneck between two steps (``slow:STEP``, waiting before its
target step), and draws the performance spectrum of the busiest segments coloured by the
first of them. The pilot review asks about the outcomes named on its command line, over the
tickets opened up to the end of the day or week reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.explain.spectrum import PerformanceSpectrum
    from csmine.explain.why import WhyReport
    from csmine.performance.bottlenecks import BottleneckReport

__all__ = ["WhySection", "explain_until", "review_why", "why_questions", "why_section"]


@dataclass(frozen=True)
class WhySection:
    """The report's Why section.

    Attributes:
        questions: ``(why it is asked, the outcome)`` per question, e.g. ``("the SOP limit
            breached most often", "breach:Record")``.
        reports: the answers, in the same order.
        spectrum: the performance spectrum of the busiest segments, coloured by the first
            question's outcome (None without any question).
    """

    questions: tuple[tuple[str, str], ...]
    reports: tuple[WhyReport, ...]
    spectrum: PerformanceSpectrum | None

    def to_dict(self) -> dict[str, Any]:
        return {"questions": [{"why_asked": w, "outcome": o} for w, o in self.questions],
                "reports": [r.to_dict() for r in self.reports],
                "spectrum": self.spectrum.to_dict() if self.spectrum is not None else None}


def why_questions(limits: pd.DataFrame | None, bottlenecks: BottleneckReport | None) -> list[tuple[str, str]]:
    """The report's questions: the limit breached most often, the top bottleneck between steps."""
    out: list[tuple[str, str]] = []
    if limits is not None and len(limits) and bool(limits["breached"].any()):
        counts = limits.groupby("step")["breached"].sum().sort_values(ascending=False, kind="stable")
        step = str(counts.index[0])
        out.append((f"the SOP time limit breached most often ({int(counts.iloc[0]):,} tickets)", f"breach:{step}"))
    if bottlenecks is not None:
        for b in bottlenecks.bottlenecks:
            if b.kind == "transition" and len(b.key) == 2:
                out.append((f"the top bottleneck, {b.where} (rank {b.rank})", f"slow:{b.key[1]}"))
                break
    return out


def why_section(
    df: pd.DataFrame,
    sop: SOP | None,
    *,
    bottlenecks: BottleneckReport | None = None,
    calendar: Any = None,
    closing: Any = None,
    tz: str = "UTC",
    top: int = 3,
    resamples: int = 200,
) -> WhySection:
    """Ask ``why`` about the report's top findings (see the module docstring)."""
    from csmine.explain.spectrum import discover_performance_spectrum
    from csmine.explain.why import explain_outcome
    from csmine.performance.kpi import analyse_tickets
    from csmine.performance.preparation import prepare, reuse_preparation

    with reuse_preparation():
        limits = None
        if sop is not None and sop.limits:
            _, limits = analyse_tickets(prepare(df, sop), sop, calendar, closing=closing)
        questions = why_questions(limits, bottlenecks)
        reports = tuple(explain_outcome(df, sop, outcome, calendar=calendar, closing=closing, tz=tz, top=top,
                                        what_if=top, resamples=resamples) for _, outcome in questions)
        spectrum = (discover_performance_spectrum(df, sop, outcome=questions[0][1], calendar=calendar,
                                                  closing=closing, tz=tz, top=3, max_lines=1500)
                    if questions else None)
    return WhySection(tuple(questions), reports, spectrum)


def explain_until(df: pd.DataFrame, sop: SOP | None, outcomes: tuple[str, ...], until: pd.Timestamp,
                  **kwargs: Any) -> tuple[WhyReport, ...]:
    """``why`` for each outcome over the tickets opened before ``until`` (the review's day or
    week so far: one day alone is too few tickets to tell groups apart)."""
    import pandas as pd

    from csmine.explain.why import explain_outcome

    opened = df["case:opened_at"] if "case:opened_at" in df.columns else \
        df.groupby("case:concept:name")["time:timestamp"].transform("min")
    part = df[pd.to_datetime(opened, utc=True) < until]
    return tuple(explain_outcome(part, sop, outcome, **kwargs) for outcome in outcomes)


def review_why(df: pd.DataFrame, sop: SOP | None, outcomes: tuple[str, ...], *, day: Any = None,
               week: str | None = None, tz: Any = None, **kwargs: Any) -> tuple[WhyReport, ...]:
    """``csmine review --why OUTCOME``: each outcome over the tickets opened before the end of
    the day (``day``, a date in ``tz``) or of the ISO week (``week``, e.g. ``2025-W10``)."""
    import re
    from datetime import UTC, date, datetime, timedelta

    import pandas as pd

    from csmine.explain.outcomes import OutcomeError

    zone = tz or UTC
    if day is None:
        m = re.fullmatch(r"\s*(\d{4})-?W(\d{1,2})\s*", str(week), flags=re.IGNORECASE)
        if m is None:
            raise OutcomeError(f"cannot read week {week!r}: write an ISO week like 2025-W10")
        day = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 7)
    nxt = day + timedelta(days=1)
    until = pd.Timestamp(datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC))
    kwargs.setdefault("tz", str(zone))
    return explain_until(df, sop, outcomes, until, **kwargs)
