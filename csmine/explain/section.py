"""The report's "Why" section and the review's why results: which questions, and their answers.

The report asks ``why`` about its own top findings: the SOP time limit breached most often
(``breach:STEP``) and the top bottleneck between two steps (``slow:STEP``, waiting before its
target step), and draws the performance spectrum of the busiest segments coloured by the
first of them. The pilot review asks about the outcomes named on its command line, over the
tickets opened up to the end of the day or week reviewed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.explain.spectrum import PerformanceSpectrum
    from csmine.explain.why import WhyReport
    from csmine.performance.bottlenecks import BottleneckReport

__all__ = ["WhySection", "explain_until", "render_why_html", "review_why", "why_questions", "why_section"]


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


def render_why_html(section: WhySection) -> str:
    """The section as HTML (``<section id="why">``), the spectrum inlined as SVG."""
    from csmine.explain.contributors import listed_with
    from csmine.explain.features import describe_group
    from csmine.explain.spectrum import render_spectrum_svg

    e = html.escape
    parts = ['<section id="why"><h2>Why</h2>',
             '<p class="note">For the report\'s top findings: the groups of tickets that have them '
             "more often (lift with its 95% interval, adjusted for the priority and channel mix, "
             "Benjamini-Hochberg at 5%), and the KPI if the group behaved like the rest. "
             "<code>csmine why OUTCOME</code> gives all of them.</p>"]
    if not section.questions:
        parts.append("<p>No SOP time limit was breached and no bottleneck lies between two steps: "
                     "nothing to explain.</p></section>")
        return "".join(parts)
    for (asked, outcome), report in zip(section.questions, section.reports, strict=True):
        zone = " (weekdays and hours of opening in UTC)" if report.tz == "UTC" else ""
        parts.append(f"<h3>{e(outcome)} — {e(asked)}</h3><p>{e(report.summary())}{e(zone)}</p>")
        if report.contributors:
            parts.append("<ol>")
            for c, w in zip(report.contributors, report.what_if, strict=True):
                item = e(c.words)
                if w is not None:
                    item += f"<br><small>{e(w.words(describe_group(c.attribute, c.value)))}</small>"
                also = listed_with(c, limit=3)
                if also:
                    item += f"<br><small>Listed with it: {e(also)}.</small>"
                parts.append(f"<li>{item}</li>")
            parts.append("</ol>")
    if section.spectrum is not None and section.spectrum.segments:
        parts.append("<h3>Performance spectrum</h3><p class=\"note\">Each line is one ticket's passage from "
                     "one step (top) to the next (bottom), in red when it has the first outcome above.</p>")
        parts.append(render_spectrum_svg(section.spectrum))
        found = [p.words for s in section.spectrum.segments for p in s.patterns]
        if found:
            parts.append("<ul>" + "".join(f"<li>{e(w)}</li>" for w in found) + "</ul>")
    parts.append("</section>")
    return "".join(parts)
