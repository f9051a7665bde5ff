"""The report's Why section as HTML, and the performance spectrum as SVG.

Pure renderers of :mod:`csmine.explain` results: :func:`render_why_html` takes a
:class:`~csmine.explain.section.WhySection`, :func:`render_spectrum_svg` a
:class:`~csmine.explain.spectrum.PerformanceSpectrum` (``csmine why --spectrum`` writes it).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.formatting import human_duration

if TYPE_CHECKING:
    from csmine.explain.section import WhySection
    from csmine.explain.spectrum import PerformanceSpectrum, SpectrumPattern, SpectrumSegment

__all__ = ["pattern_label", "render_spectrum_svg", "render_why_html"]


def render_why_html(section: WhySection) -> str:
    """The section as HTML (``<section id="why">``), the spectrum inlined as SVG."""
    from csmine.explain.results import listed_with
    from csmine.explain.results import describe_group

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


#: Left margin of the spectrum's panels (the step names).
_PAD = 110


def pattern_label(p: SpectrumPattern) -> str:
    """A pattern named in a few words, for the picture (its full sentence is ``p.words``)."""
    d = p.detail
    if p.kind == "release":
        return f"batch released daily at {d['minute_of_day']} ({p.share:.0%} of the passages)"
    if p.kind == "batch":
        return f"{d['batches']:,} batches (largest {d['largest']})"
    if p.kind == "queue":
        return "queue builds up on " + ", ".join(f"{w}s" for w in d["weekdays"])
    if p.kind == "drift":
        way = "lengthens" if d["last_median_s"] > d["first_median_s"] else "shortens"
        return f"wait {way} (median {human_duration(d['first_median_s'])} → {human_duration(d['last_median_s'])})"
    if p.kind == "overtaking":
        return f"{p.share:.0%} overtaken"
    return p.kind


def _busiest_week(end: np.ndarray, tz: str) -> tuple[float, float] | None:
    """The 7 local days (from a midnight) in which most drawn passages end."""
    if len(end) == 0:
        return None
    days = pd.Series(pd.to_datetime(end, unit="s", utc=True)).dt.tz_convert(tz).dt.normalize()
    counts = days.value_counts().sort_index()
    full = counts.reindex(pd.date_range(counts.index[0], counts.index[-1], freq="D"), fill_value=0)
    week = full.rolling(7, min_periods=1).sum()
    last_day = week.idxmax()
    first = last_day - pd.Timedelta(days=6)
    return first.timestamp(), (last_day + pd.Timedelta(days=1)).timestamp()


def _panel(parts: list[str], seg: SpectrumSegment, y0: float, width: int, panel: int, t0: float, t1: float,
           tz: str, head: str, ticks: str, *, zoomed: bool = False, mark: str | None = None) -> float:
    """One panel: the two axes, a line per passage over ``[t0, t1]``, ticks; returns the next y."""
    label_h = 38
    top, bottom = y0 + label_h, y0 + label_h + panel
    span = max(t1 - t0, 1.0)

    def x(t: np.ndarray | float) -> Any:
        return _PAD + (np.asarray(t, dtype=float) - t0) / span * (width - _PAD - 40)

    parts.append(f'<text x="{_PAD}" y="{y0 + 14}" font-weight="bold">{html.escape(head)}</text>')
    words = "; ".join(pattern_label(p) for p in seg.patterns) or "no batching, queue build-up or drift detected"
    parts.append(f'<text x="{_PAD}" y="{y0 + 30}" fill="#555">{html.escape(words)}</text>')
    for y in (top, bottom):
        parts.append(f'<line x1="{_PAD}" y1="{y}" x2="{width - 40}" y2="{y}" stroke="#999"/>')
    parts.append(f'<text x="{_PAD - 6}" y="{top + 4}" text-anchor="end" fill="#555">{html.escape(seg.source[:18])}</text>')
    parts.append(f'<text x="{_PAD - 6}" y="{bottom + 4}" text-anchor="end" fill="#555">'
                 f'{html.escape(seg.target[:18])}</text>')
    keep = (seg.end >= t0) & (seg.begin <= t1)
    xb, xe = x(np.clip(seg.begin[keep], t0, t1)), x(np.clip(seg.end[keep], t0, t1))
    # a passage cut by the window is drawn up to the window's edge, at the height it reaches there
    frac_b = np.where(seg.end[keep] > seg.begin[keep], (np.clip(seg.begin[keep], t0, t1) - seg.begin[keep])
                      / np.maximum(seg.end[keep] - seg.begin[keep], 1e-9), 0.0)
    frac_e = np.where(seg.end[keep] > seg.begin[keep], (np.clip(seg.end[keep], t0, t1) - seg.begin[keep])
                      / np.maximum(seg.end[keep] - seg.begin[keep], 1e-9), 1.0)
    yb, ye = top + frac_b * panel, top + frac_e * panel
    for red, colour, opacity in ((False, "#4a6fa5", 0.5 if zoomed else 0.25), (True, "#c0392b", 0.6)):
        d = [f"M{a:.1f} {c:.1f}L{b:.1f} {e:.1f}"
             for a, b, c, e, f in zip(xb, xe, yb, ye, seg.flag[keep], strict=True) if bool(f) == red]
        if d:
            parts.append(f'<path d="{" ".join(d)}" stroke="{colour}" stroke-opacity="{opacity}" fill="none"/>')
    freq = "D" if zoomed else "7D"
    days = pd.date_range(pd.Timestamp(t0, unit="s", tz="UTC").tz_convert(tz).normalize(),
                         pd.Timestamp(t1, unit="s", tz="UTC").tz_convert(tz), freq=freq)
    for day in days:
        if day.timestamp() < t0:
            continue
        xd = float(x(day.timestamp()))
        parts.append(f'<line x1="{xd:.1f}" y1="{bottom}" x2="{xd:.1f}" y2="{bottom + 4}" stroke="#999"/>'
                     f'<text x="{xd:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555" '
                     f'font-size="10">{day.strftime(ticks)}</text>')
        if mark:  # the release minute of each day, on the bottom axis
            h, m = (int(v) for v in mark.split(":"))
            at = (day + pd.Timedelta(hours=h, minutes=m)).timestamp()
            if t0 <= at <= t1:
                xm = float(x(at))
                parts.append(f'<line x1="{xm:.1f}" y1="{bottom - 8}" x2="{xm:.1f}" y2="{bottom + 6}" '
                             f'stroke="#e67e22" stroke-width="2"/>')
    return bottom + 30


def render_spectrum_svg(spectrum: PerformanceSpectrum, *, width: int = 960, panel: int = 120) -> str:
    """The spectrum as SVG: one panel per segment over the whole period, a line per passage from
    the source's time (top) to the target's (bottom), passages of tickets with the outcome in red;
    under a segment whose passages are released in a batch, a zoom on its busiest week with the
    release time of each day marked (orange), where the converging lines show the batch."""
    zooms = sum(1 for s in spectrum.segments if any(p.kind in ("release", "batch") for p in s.patterns))
    height = max(1, len(spectrum.segments) + zooms) * (panel + 68) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>']
    title = "Performance spectrum" + (f": red = {spectrum.outcome}" if spectrum.outcome else "")
    parts.append(f'<text x="{_PAD}" y="20" font-size="14" font-weight="bold">{html.escape(title)}</text>')
    y0: float = 40
    for seg in spectrum.segments:
        head = (f"{seg.source} → {seg.target}: {seg.passages:,} passages, median wait {human_duration(seg.median_s)}, "
                f"P90 {human_duration(seg.p90_s)}"
                + (f", {seg.outcome_share:.0%} red" if seg.outcome_share is not None else ""))
        y0 = _panel(parts, seg, y0, width, panel, spectrum.start, spectrum.end, spectrum.tz, head, "%m-%d")
        released = next((p for p in seg.patterns if p.kind in ("release", "batch")), None)
        week = _busiest_week(seg.end, spectrum.tz) if released is not None else None
        if released is not None and week is not None:
            mark = released.detail.get("minute_of_day") if released.kind == "release" else None
            first = pd.Timestamp(week[0], unit="s", tz="UTC").tz_convert(spectrum.tz)
            zoom = f"zoom: {seg.source} → {seg.target}, the week from {first:%a %Y-%m-%d} (its busiest)" + (
                f"; orange: {mark} each day" if mark else "")
            y0 = _panel(parts, seg, y0, width, panel, week[0], week[1], spectrum.tz, zoom, "%a %m-%d",
                        zoomed=True, mark=mark)
    parts.append("</svg>")
    return "\n".join(parts)
