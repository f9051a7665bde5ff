"""``csmine review`` as text: the daily review (``--day``) and the weekly bulletin (``--week``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta, tzinfo
from typing import TYPE_CHECKING

from csmine.formatting import human_duration
from csmine.reports.text.blocks import Block, Table, Text, table
from csmine.reports.text.pilot import short_time, value_text

if TYPE_CHECKING:
    from csmine.explain.why import WhyReport
    from csmine.pilot.review import DayReview, WeekBulletin

#: Breaches listed by the daily review (all of them in --json).
MAX_BREACH_ROWS = 25
#: Repeated violations listed by the weekly bulletin.
MAX_REPEATED_ROWS = 20


def render_day(r: DayReview, tz: tzinfo) -> Text:
    """The day's KPIs, new deviations, breached limits, top bottleneck and counts against the previous day."""
    scope = f"phase {r.phase}" if r.phase else "all tickets"
    blocks: list[Block] = [
        f"Daily review {r.day} ({r.tz}), {scope}, SOP {r.sop or '-'}: {r.tickets_opened:,} tickets opened, "
        f"{r.events:,} events; previous active day {r.previous_day or '-'}"]
    if r.kpis:
        blocks.append(_kpi_table(r))
    if r.sop is not None:  # without an SOP, deviations and breaches are not known: the notes say so
        blocks += _deviations_and_breaches(r, tz)
    if r.bottleneck:
        b = r.bottleneck
        line = (f"top bottleneck today: {b.source} → {b.target}, {human_duration(b.total_wait_s)} waited in total "
                f"over {b.waits} waits (median {human_duration(b.median_wait_s)})")
        if r.previous_bottleneck:
            p = r.previous_bottleneck
            line += f"; previous day: {p.source} → {p.target} ({human_duration(p.total_wait_s)})"
        blocks.append(line)
    rows = [(c.name, f"{c.day:,}", f"{c.previous:,}", f"{c.day - c.previous:+,}") for c in r.changes]
    blocks.append(table(("since the previous day", "today", "previous", "change"), rows, right=(1, 2, 3)))
    return Text(tuple(blocks), tuple(f"note: {note}" for note in r.notes))


def _kpi_table(r: DayReview) -> Table:
    rows = []
    for k in r.kpis:
        target = "-" if k.target is None else value_text(k.target, k.unit)
        met = "-" if k.met is None else ("yes" if k.met else "NO")
        base = "-" if k.vs_baseline is None else value_text(k.baseline, k.unit)
        word = "-"
        if k.vs_baseline is not None:
            word = k.verdict if k.vs_baseline.enough else "too small to conclude"
        rows.append((k.label, value_text(k.value, k.unit), f"{k.n:,}", target, met, value_text(k.previous, k.unit),
                     base, word))
    return table(("KPI", "today", "n", "target", "met", "previous day", r.baseline or "baseline", "vs baseline"),
                 rows, title="KPIs of the tickets opened today", right=(1, 2, 3, 5, 6))


def _deviations_and_breaches(r: DayReview, tz: tzinfo) -> list[Block]:
    blocks: list[Block] = []
    if r.new_deviations:
        rows = [(d.kind, d.step, d.count, ", ".join(d.tickets)) for d in r.new_deviations]
        blocks.append(table(("kind", "step", "today", "tickets"), rows, title="Deviations new today", right=(2,)))
    else:
        blocks.append("no deviation new today (every kind and step seen today was seen before)")
    if r.breaches:
        rows = [(b.ticket, b.step, b.limit, short_time(b.deadline, tz), b.status, human_duration(b.late_s),
                 b.actor or "-", b.trace) for b in r.breaches[:MAX_BREACH_ROWS]]
        blocks.append(table(("ticket", "step", "limit", "deadline", "status", "late by", "by", "see"), rows,
                            title=f"Time limits breached today ({len(r.breaches):,})", right=(5,)))
        if len(r.breaches) > MAX_BREACH_ROWS:
            blocks.append(f"... and {len(r.breaches) - MAX_BREACH_ROWS:,} more (all of them with --json)")
    else:
        blocks.append("no time limit breached today")
    return blocks


def render_week(w: WeekBulletin) -> Text:
    """Best and worst teams and agents on SOP adherence, and violations an agent repeated."""
    from csmine.pilot.review import MIN_AGENT_STEPS, MIN_TEAM_STEPS

    scope = f"phase {w.phase}" if w.phase else "all tickets"
    sunday = (date.fromisoformat(w.end) - timedelta(days=1)).isoformat()
    blocks: list[Block] = [f"Weekly bulletin {w.week} (Mon {w.start} to Sun {sunday}, {w.tz}), {scope}, SOP {w.sop}: "
                           f"{w.tickets_opened:,} tickets opened, {w.events:,} events"]
    headers = ("", "adherence", "steps", "deviations", "late")
    for title, items in (("Best teams", w.best_teams), ("Worst teams", w.worst_teams),
                         ("Best agents", w.best_agents), ("Worst agents", w.worst_agents)):
        if items:
            rows = [(a.who, f"{100 * a.adherence:.1f}%", f"{a.steps:,}", a.deviations, a.late) for a in items]
            blocks.append(table(headers, rows, title=title, right=(1, 2, 3, 4)))
    if w.repeated:
        blocks.append(f"Repeated violations ({len(w.repeated):,}):")
        for r in w.repeated[:MAX_REPEATED_ROWS]:
            shown = ", ".join(r.tickets[:5]) + (f", +{len(r.tickets) - 5} more" if len(r.tickets) > 5 else "")
            blocks.append(f"  {r.text}  ({shown})")
        if len(w.repeated) > MAX_REPEATED_ROWS:
            blocks.append(f"  ... and {len(w.repeated) - MAX_REPEATED_ROWS:,} more (all of them with --json)")
    else:
        blocks.append("no agent repeated a violation this week")
    blocks.append(f"adherence = 1 - (deviations + late steps) / steps; ranked from {MIN_AGENT_STEPS} steps "
                  f"(agents) and {MIN_TEAM_STEPS} (teams)")
    return Text(tuple(blocks), tuple(f"note: {note}" for note in w.notes))


def render_review(result: DayReview | WeekBulletin, tz: tzinfo, whys: Sequence[WhyReport] = ()) -> Text:
    """``csmine review``: the day's review or the week's bulletin, then each ``--why`` question."""
    from csmine.pilot.review import DayReview
    from csmine.reports.text.why import render_why

    parts = [render_day(result, tz) if isinstance(result, DayReview) else render_week(result)]
    parts += [render_why(w) for w in whys]
    return Text(tuple(b for p in parts for b in p.blocks), tuple(n for p in parts for n in p.notes))
