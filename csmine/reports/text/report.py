"""``csmine report`` and ``csmine demo`` as text: what was written, and the demo's headline findings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from csmine.reports.text.blocks import Text

if TYPE_CHECKING:
    from csmine.reports.report import ReportResult
    from csmine.simulation.demo import DemoRun


def render_report_written(result: ReportResult, out: str, size_bytes: int) -> Text:
    """The page written, its size, and what it covers."""
    return Text((f"wrote {out} ({size_bytes / 1e6:.1f} MB): {result.tickets:,} tickets, {result.events:,} events, "
                 f"SOP {result.sop or '-'}",))


def render_demo(result: ReportResult, out: str, *, seconds: float, store: str, truth_path: str) -> Text:
    """The demo's page and ground truth written, the effects it found, and how to open the page."""
    f = result.findings
    lines = [f"wrote {out} in {seconds:.0f} s: {result.tickets:,} tickets, {result.events:,} events "
             f"(store {store}; ground truth in {truth_path})"]
    cmp = (f.comparison or {}).get("first_response_timeouts")
    if cmp:
        lines.append(f"  first-response timeouts: baseline {100 * cmp.a:.1f}% -> pilot {100 * cmp.b:.1f}% "
                     f"(95% CI of change {100 * cmp.ci[0]:+.1f} to {100 * cmp.ci[1]:+.1f} pts)")
    if f.bottlenecks:
        lines.append(f"  top bottleneck: {f.bottlenecks[0].where}")
    if f.ping_pong:
        pair = f.ping_pong[0]
        lines.append(f"  ping-pong: {pair.team_a} <-> {pair.team_b} ({pair.direct} direct bounces)")
    if f.conformance:
        lines.append(f"  SOP fitness {f.conformance.fitness:.3f}")
    lines.append(f"open it: file://{Path(out).resolve()}")
    return Text(tuple(lines))


def report_payload(result: ReportResult, out: str) -> dict[str, Any]:
    """``csmine report --json``: the page written, the tickets, the SOP and how it was chosen, the findings."""
    f = result.findings.to_dict()
    return {"out": out, "tickets": f["ticket_status"] or {"total": result.tickets}, "events": result.events,
            "sop": result.sop, "sop_choice": f["sop_choice"], "sections": list(result.sections), "findings": f}


def demo_payload(run: DemoRun, result: ReportResult, out: str, *, seconds: float, store: str,
                 truth_path: str) -> dict[str, Any]:
    """``csmine demo --json``: the page and ground truth written, what was recorded, the findings."""
    return {"out": out, "truth": truth_path, "store": store, "seconds": round(seconds, 1),
            "imported_events": run.imported.events_added, "tickets": result.tickets, "events": result.events,
            "findings": result.findings.to_dict()}
