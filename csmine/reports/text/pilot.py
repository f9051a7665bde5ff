"""A pilot's commands as text: the phase plan (``phase list``, ``phase history``, ``phase add``)
and ``compare`` (KPIs with intervals, conformance per step, changed paths, variants, bottlenecks).

The formatters here (:func:`value_text`, :func:`diff_text`, :func:`short_time`) are shared
with :mod:`csmine.reports.text.review`.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from csmine.formatting import human_duration
from csmine.reports.text.blocks import Block, Table, Text, table

if TYPE_CHECKING:
    from csmine.pilot.compare import Comparison
    from csmine.pilot.phases import PhaseAdded, PhaseChange, PhaseInfo
    from csmine.pilot.statistics import Change

#: Paths listed by ``compare``.
PATHS_SHOWN = 12
#: Variants listed per direction (appeared, vanished).
VARIANTS_SHOWN = 5


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def value_text(value: Any, unit: str) -> str:
    """A KPI value: ``12.5%`` (share), ``2h 10m`` (seconds), ``4.2``; ``-`` when missing."""
    if _isnan(value):
        return "-"
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "seconds":
        return human_duration(value)
    return f"{value:.1f}"


def diff_text(value: Any, unit: str) -> str:
    """A change: ``+3.5 pts``, ``-1h 5m``, ``+0.4``; ``-`` when missing."""
    if _isnan(value):
        return "-"
    if unit == "share":
        return f"{100 * value:+.1f} pts"
    if unit == "seconds":
        text = human_duration(abs(value))
        return ("-" if value < 0 else "+") + text
    return f"{value:+.1f}"


def _ci_text(change: Change, unit: str) -> str:
    if not change.enough:
        return "-"
    lo, hi = diff_text(change.ci_low, unit), diff_text(change.ci_high, unit)
    if unit == "share":
        lo, hi = lo.replace(" pts", ""), hi
    return f"[{lo}, {hi}]"


def _rel_text(value: Any) -> str:
    return "-" if _isnan(value) else f"{100 * value:+.0f}%"


def short_time(iso: str | None, tz: tzinfo = UTC) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM`` in ``tz``; ``-`` when missing."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _arrow(change: Change, unit: str = "share") -> str:
    mark = " *" if change.significant else ""
    return f"{value_text(change.a, unit)} → {value_text(change.b, unit)}{mark}"


def cohort_text(cohort: dict[str, tuple[str, ...]]) -> str:
    """A phase's cohort: ``region=East, channel=phone|email``, or ``all tickets``."""
    return ", ".join(f"{k}={'|'.join(v)}" for k, v in sorted(cohort.items())) or "all tickets"


# -- phases ----------------------------------------------------------------------------


def render_phase(info: PhaseInfo) -> Text:
    """The phase just defined, in one line."""
    window = f"{info.start} → {info.end or 'open-ended'}"
    return Text((f"phase {info.name}: tickets opened {window}, {cohort_text(info.cohort)} "
                 f"({info.tickets:,} tickets in the store now)",))


def overlap_warnings(added: PhaseAdded) -> list[str]:
    """A warning per phase the new one overlaps, naming the phase that keeps the shared tickets."""
    name = added.info.name
    return [f"warning: phase {name} overlaps {other}: tickets matching both belong to {winner} "
            "(the phase that starts first)" for other, winner in added.overlaps]


def render_phases(infos: list[PhaseInfo]) -> Text:
    """The phases now defined, with the tickets each holds."""
    if not infos:
        return Text(("no phases defined (add one with `csmine phase add NAME --from TIME`)",))
    rows = [(p.name, short_time(p.start), short_time(p.end) if p.end else "open-ended", cohort_text(p.cohort),
             f"{p.tickets:,}", p.note) for p in infos]
    return Text((table(("phase", "from (UTC)", "to (UTC)", "cohort", "tickets", "note"), rows, right=(4,)),))


def render_phase_history(changes: list[PhaseChange]) -> Text:
    """Every change of the phase plan, oldest first."""
    if not changes:
        return Text(("the phase plan has no history yet",))
    rows = []
    for c in changes:
        removed = c.change == "removed"
        window = "" if removed else f"{short_time(c.start)} → {short_time(c.end) if c.end else 'open-ended'}"
        rows.append((c.version, short_time(c.recorded_at), c.change, c.name, window,
                     "" if removed else cohort_text(c.cohort), c.actor or "", c.note))
    return Text((table(("#", "recorded (UTC)", "change", "phase", "window (UTC)", "cohort", "by", "note"), rows,
                       right=(0,)),))


# -- compare ---------------------------------------------------------------------------


def _counts_text(status: Any) -> str:
    if status is None:
        return ""
    if not status.rule_known:
        return " (every ticket counted as ended)"
    return f" ({status.closed:,} closed, {status.open:,} open, {status.stale:,} stale)"


def render_comparison(c: Comparison) -> Text:
    """Both sides, the KPIs, conformance per step, changed paths, variants, bottlenecks."""
    blocks: list[Block] = [
        f"{name} = {side.label} ({side.filter}): {side.tickets:,} tickets{_counts_text(side.status)}, "
        f"{side.events:,} events, opened {short_time(side.first_opened)} → {short_time(side.last_opened)}"
        for side, name in ((c.a, "A"), (c.b, "B"))]
    if c.a.status is not None:
        blocks.append(f"open tickets: {c.a.status.rule}" + ("; resolution rate, handling and throughput times are "
                                                           "over closed tickets" if c.a.status.rule_known else ""))
    blocks.append(_kpi_table(c))
    if c.steps:
        rows = [(st.label, _arrow(st.skipped), _arrow(st.violated), st.limit or "-",
                 "-" if st.late is None else _arrow(st.late)) for st in c.steps]
        blocks.append(table(("step", "skipped", "other deviations", "time limit", "limit breached"), rows,
                            title="Conformance per step (share of tickets, A → B; * significant)", right=()))
    if c.paths:
        blocks.append(_path_table(c))
    for what, items, total, share, side in (("appeared", c.appeared, c.appeared_total, c.appeared_share, c.b.label),
                                            ("vanished", c.vanished, c.vanished_total, c.vanished_share, c.a.label)):
        blocks.append(f"variants that {what}: {total:,} ({100 * share:.1f}% of {side}'s tickets)")
        blocks += [f"  {v.tickets:>5,}  {' → '.join(v.activities)}" for v in items[:VARIANTS_SHOWN]]
    if c.bottlenecks:
        rows = [(b.kind, b.where, b.rank_a or "-", b.rank_b or "-", human_duration(b.impact_a_s),
                 human_duration(b.impact_b_s), b.movement) for b in c.bottlenecks]
        blocks.append(table(("kind", "where", f"rank {c.a.label}", f"rank {c.b.label}", "impact A", "impact B",
                             "moved"), rows, title="Bottlenecks (1 = worst; impact per ticket)", right=(2, 3, 4, 5)))
    blocks.append(f"95% CI: percentile bootstrap over tickets, {c.resamples:,} resamples, seed {c.seed}; "
                  "significant when the interval excludes 0.")
    return Text(tuple(blocks), tuple(f"note: {note}" for note in c.notes))


def _kpi_table(c: Comparison) -> Table:
    rows = []
    for k in c.kpis:
        ch = k.change
        verdict = k.verdict if ch.enough else ch.reason.replace("sample too small to conclude: ", "too small: ")
        rows.append((k.label, value_text(ch.a, k.unit), value_text(ch.b, k.unit), diff_text(ch.diff, k.unit),
                     _rel_text(ch.rel), _ci_text(ch, k.unit), verdict))
    return table(("KPI", c.a.label, c.b.label, "change", "relative", "95% CI", "verdict"), rows,
                 title=f"KPIs, {c.b.label} against {c.a.label} (SOP {c.sop or '-'})", right=(1, 2, 3, 4, 5))


def _path_table(c: Comparison) -> Table:
    rows = []
    for p in c.paths[:PATHS_SHOWN]:
        change = "-" if p.wait_change is None else f"{100 * p.wait_change:+.0f}%"
        rows.append((f"{p.source} → {p.target}", f"{p.cases_a:,}", f"{p.cases_b:,}", f"{p.share_change_pp:+.1f} pp",
                     human_duration(p.wait_median_a_s), human_duration(p.wait_median_b_s), change, p.status))
    return table(("path", f"tickets {c.a.label}", f"tickets {c.b.label}", "share change", "median wait A",
                  "median wait B", "wait change", ""), rows,
                 title="Process map: paths that changed most", right=(1, 2, 3, 4, 5, 6))
