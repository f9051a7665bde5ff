"""``csmine bottlenecks`` as text: ranked bottlenecks, time per step, transitions, limits,
the first line, ping-pong, handovers, rework and the backlog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine.formatting import human_duration as hd
from csmine.formatting import human_share as hs
from csmine.reports.text.blocks import Block, Para, Table, Text, table

if TYPE_CHECKING:
    from csmine.performance.bottlenecks import BottleneckReport


def render_bottlenecks(r: BottleneckReport, top: int) -> Text:
    """Every table of the report, ``top`` rows each (time per step: all of them)."""
    clock = r.calendar or "wall clock"
    closed = "closed tickets' " if r.status is not None and r.status.rule_known else ""
    blocks: list[Block] = [
        Para(f"Bottlenecks: {r.tickets:,} tickets, {r.events:,} events; SOP {r.sop or '-'}; {clock}; "
             f"{closed}median throughput {hd(r.median_throughput_s)}; "
             f"{'status log (time in each status)' if r.status_log else 'start/complete log'}"),
        Para(r.status.describe() if r.status is not None else ""),
        _ranked(r, top), _steps(r), _transitions(r, top),
    ]
    if r.limits:
        blocks.append(table(
            ["step", "limit", "tickets", "breached", "share", "overdue", "median", "P90"],
            [[lb.step, f"≤ {hd(lb.within_s)} after {lb.since}" + (" (business)" if lb.business_hours else ""),
              f"{lb.tickets:,}", f"{lb.breached:,}", hs(lb.share), f"{lb.overdue:,}", hd(lb.median_elapsed_s),
              hd(lb.p90_elapsed_s)] for lb in r.limits],
            title="SOP time limits (first occurrence; customer waits pause the clock)", left=(0, 1)))
    fl = r.first_line
    if fl.share is not None:
        how = ("teams marked 2nd/3rd are higher lines" if fl.method == "line-marker"
               else "first line = team of the first event")
        res = f"; {hs(fl.resolved_share)} of resolved tickets" if fl.resolved_share is not None else ""
        blocks.append(Para(f"First line (push to front): {hs(fl.share)} of {fl.tickets:,} tickets never left the "
                           f"first line{res} ({how})"))
    blocks += _teams_and_rework(r, top)
    backlog = _backlog(r)
    if backlog:
        blocks.append(Para(backlog))
    return Text(tuple(blocks), tuple(f"note: {note}" for note in r.notes))


def _ranked(r: BottleneckReport, top: int) -> Table:
    return table(
        ["#", "kind", "where", "impact/ticket", "of throughput", "occurrences", "slow tickets", "median", "P90",
         "waiting"],
        [[b.rank, b.kind, b.where, hd(b.mean_impact_s), hs(b.share_of_throughput), f"{b.occurrences:,}",
          f"{b.tickets:,}", hd(b.median_s), hd(b.p90_s), "-" if b.waiting_share != b.waiting_share
          else hs(b.waiting_share, 0)] for b in r.bottlenecks[:top]],
        title="Top bottlenecks (impact: time saved if slower-than-median occurrences took the median)",
        left=(1, 2))


def _steps(r: BottleneckReport) -> Table:
    return table(
        ["activity", "SOP step", "waiting", "events", "tickets", "median", "P90", "waiting", "working",
         "queued before", "share of time"],
        [[s.activity, s.step or "-", "yes" if s.waiting else "", f"{s.events:,}", f"{s.tickets:,}", hd(s.median_s),
          hd(s.p90_s), hd(s.waiting_s), hd(s.working_s), hd(s.waiting_before_s), hs(s.share_of_time)]
         for s in r.steps],
        title="Time per step (share of all ticket time)", left=(0, 1, 2))


def _transitions(r: BottleneckReport, top: int) -> Table:
    return table(
        ["from", "to", "times", "tickets", "waiting", "median", "mean", "P90", "total"],
        [[t.source, t.target, f"{t.events:,}", f"{t.tickets:,}", "yes" if t.waiting else "", hd(t.median_s),
          hd(t.mean_s), hd(t.p90_s), hd(t.total_s)] for t in r.transitions[:top]],
        title="Transitions with most total time", left=(0, 1, 4))


def _teams_and_rework(r: BottleneckReport, top: int) -> list[Block]:
    blocks: list[Block] = []
    if r.ping_pong:
        blocks.append(table(
            ["team A", "team B", "direct A→B→A", "indirect A→B→…→A", "tickets"],
            [[p.team_a, p.team_b, f"{p.direct:,}", f"{p.indirect:,}", f"{p.tickets:,}"] for p in r.ping_pong[:top]],
            title="Ping-pong between teams", left=(0, 1)))
    if r.handovers:
        blocks.append(table(
            ["from team", "to team", "handovers", "tickets", "median wait"],
            [[h.source_team, h.target_team, f"{h.handovers:,}", f"{h.tickets:,}", hd(h.median_s)]
             for h in r.handovers[:top]],
            title="Most frequent handovers", left=(0, 1)))
    if r.rework:
        blocks.append(table(
            ["activity", "tickets repeating", "share", "extra events", "self-loops", "max in one ticket"],
            [[w.activity, f"{w.tickets:,}", hs(w.share), f"{w.extra_events:,}", f"{w.self_loops:,}",
              w.max_repetitions] for w in r.rework[:top]],
            title="Rework (activity repeated within a ticket)"))
    return blocks


def _backlog(r: BottleneckReport) -> str:
    if r.status is not None and not r.status.rule_known:
        return "Backlog: not computed (no closing rule: pass --closed-when ACTIVITY or an SOP with a close step)"
    if not r.backlog:
        return ""
    peak = max(r.backlog, key=lambda d: d.open)
    last = r.backlog[-1]
    mean = sum(d.open for d in r.backlog) / len(r.backlog)
    return (f"Backlog: {last.open:,} open at the end ({last.date}); peak {peak.open:,} on {peak.date}; "
            f"mean {mean:,.1f} open per day over {len(r.backlog):,} days (--json for the daily series)")
