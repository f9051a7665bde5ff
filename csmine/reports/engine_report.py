"""The report with its figures computed by an engine (``csmine report --engine duckdb|spark|postgres``).

:func:`build_engine_report` makes the same page and the same findings as
:func:`csmine.reports.report.build_report` from the engine's aggregates
(:func:`csmine.engines.report_figures.engine_report_figures`), never loading the whole log:

* **in the engine**: tickets and events, tickets with ties, the unusual days, the
  per-ticket KPI frame with the satisfaction score (so the KPI tiles, the ticket status
  and the backlog), the bottleneck report with its ping-pong pairs, the maps at every
  slider level, the variants with counts;
* **here, from those small results**: the KPI summary, the backlog series (from the
  per-ticket frame), the SOP's fitness, fitting share, skipped shares and align-ETC
  precision (each distinct variant aligned once, weighted by its tickets), the KPI
  comparison of the two phases with its bootstrap intervals (each side's rows of the
  per-ticket frame, as ``compare_logs`` takes them), the ticket traces and the animation
  (the events of the sampled tickets only);
* **not in this report** (each needs every ticket's events in this process; the page
  says so, ``--engine local`` has them): the Why section (``findings.why`` is None), the
  SOP section's per-step deviation table and flowchart overlay, the comparison's map,
  step and variant changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from csmine.eventlog.filters import LogFilter
from csmine.reports.findings import ConformanceFinding, KpiChange, ReportFindings, UnusualDay

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from process_models import SOP

    from csmine.engines.base import Engine
    from csmine.engines.report_figures import EngineReportFigures
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.reports.report import ReportResult

#: What the engine report leaves to ``--engine local`` (``findings.kpi_notes`` and the page say so).
LOCAL_ONLY = ("the Why section", "the SOP section's per-step deviation table and flowchart overlay",
              "the comparison's map, step and variant changes")


def build_engine_report(engine: Engine, store: TicketStore | None, log_filter: LogFilter | None = None, *,
                        sop: SOP | None = None, compare: tuple[str, str] | None = None,
                        progress: Callable[[str], None] | None = None, sample: int = 8, auto_sop: bool = True,
                        closing: ClosingRule | None = None, first_response: str | None = None,
                        font_cache: Path | None = None) -> ReportResult:
    """The report of ``engine``'s log (``store``: its phases, demo truth and name; None over a
    bare Parquet export). Arguments as :func:`csmine.reports.report.build_report`.

    Raises:
        EmptyLogError: no tickets match.  CompareError: an asked-for phase holds no tickets.
        EngineError: the engine cannot compute a figure as asked.
    """
    from csmine.engines.report_figures import engine_report_figures
    from csmine.errors import EmptyLogError
    from csmine.eventlog.loading import list_phases
    from csmine.reports import report_sections as sections
    from csmine.reports.report import ACTIVITY_LEVELS, PATH_LEVELS, _draw_maps, _result, _truth

    log_filter = log_filter or LogFilter()
    step = progress or (lambda _label: None)
    phases = list_phases(store) if store is not None else []
    step("aggregating in the engine")
    try:
        fig = engine_report_figures(engine, sop=sop, auto_sop=auto_sop, closing=closing,
                                    first_response=first_response, tie_order=log_filter.tie_order, phases=phases,
                                    activity_levels=ACTIVITY_LEVELS, path_levels=PATH_LEVELS)
    except EmptyLogError:
        raise EmptyLogError(f"no tickets match {log_filter.describe()} in the {engine.name} engine's log: "
                            "nothing to report") from None
    model = fig.sop
    labels = {s.name: model.label(s.name) for s in model.steps} if model else {}
    days = tuple(UnusualDay(step=s, date=d, median_minutes=m, events=n, ratio=r) for s, d, m, n, r in fig.unusual_days)
    bottlenecks, top, pairs = sections.bottleneck_section(fig.bottlenecks, days, labels)
    step("process maps")
    map_svgs, full_map, anim_svg = _draw_maps(None, labels, fig.bottlenecks, maps=fig.maps)
    comparison, changes, skipped = _comparison(fig, phases, compare)
    conformance, conf_found = _conformance(fig)
    findings = ReportFindings(
        tickets=fig.tickets, events=fig.events, sop=model.id if model else None, sop_choice=fig.choice,
        kpis={k.name: k.value for k in fig.kpis.kpis}, ticket_status=fig.kpis.status,
        kpi_notes=tuple(fig.kpis.notes), tickets_with_ties=fig.tied, unusual_days=days, bottlenecks=top,
        ping_pong=pairs, conformance=conf_found, comparison=changes, comparison_skipped=skipped, why=None)
    step("ticket traces")
    order = pd.DataFrame({"case:concept:name": fig.ticket_order})
    chosen = sections.sample_tickets(order, [], sample)
    animated = _animated(fig.ticket_order)
    events = _sampled_events(engine, sorted(set(chosen) | set(animated)), log_filter, model)
    traces = sections.trace_rows(events, chosen, [], labels)
    truth_rows = _truth(store, findings) if store is not None else None
    step("writing the page")
    data = _page_data(store, engine, log_filter, fig, findings, sections.kpi_note(
        fig.kpis, fig.tied, log_filter.tie_order, model is not None)) | {
        "animation": sections.animation(events[events["case:concept:name"].isin(set(animated))], full_map),
        "conformance": conformance, "bottlenecks": bottlenecks, "comparison": comparison,
        "variants": sections.variants_section(fig.variants), "backlog_svg": _backlog_svg(phases, fig.frame),
        "tickets": traces, "truth": truth_rows, "why_html": _why_note(engine.name)}
    return _result(data, findings, labels, map_svgs=map_svgs, anim_svg=anim_svg, sop_svg=None,
                   compare_svg=None, font_cache=font_cache)


def _animated(order: list[str]) -> list[str]:
    """The tickets the animation samples (as :func:`csmine.reports.report_sections.animation`)."""
    import numpy as np

    from csmine.reports.report_sections import ANIMATED_TICKETS

    if len(order) <= ANIMATED_TICKETS:
        return list(order)
    idx = np.linspace(0, len(order) - 1, ANIMATED_TICKETS).round().astype(int)
    return [order[i] for i in idx]


def _sampled_events(engine: Engine, tickets: list[str], log_filter: LogFilter, sop: SOP | None) -> pd.DataFrame:
    from csmine.engines.report_figures import engine_ticket_events

    parts = [engine_ticket_events(engine, tickets[k:k + 1000], tie_order=log_filter.tie_order, tie_sop=sop)
             for k in range(0, max(len(tickets), 1), 1000)]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _conformance(fig: EngineReportFigures) -> tuple[dict[str, Any] | None, ConformanceFinding | None]:
    """The SOP section from the alignment figures (the per-step table needs ``--engine local``)."""
    from csmine.formatting import human_share

    conf, sop = fig.conformance, fig.sop
    if conf is None or sop is None:
        return None, None
    section = {
        "summary": (f"SOP {sop.title} (v{sop.version}): fitness {conf.log_fitness:.3f}, "
                    f"{human_share(conf.fitting_share)} of tickets follow it exactly"
                    + (f", precision {conf.precision:.3f}" if conf.precision is not None else "")
                    + f" ({conf.variants:,} distinct variants aligned once each). The deviations per step need "
                    "each ticket's alignment: csmine report --engine local, or csmine conform."),
        "step_headers": [], "step_rows": [], "unknown": ", ".join(conf.unknown_activities[:10]),
    }
    return section, ConformanceFinding(fitness=conf.log_fitness, fitting_share=conf.fitting_share, precision=conf.precision,
                                       skipped=dict(conf.skipped))


def _comparison(fig: EngineReportFigures, phases: list[Any], compare: tuple[str, str] | None,
                ) -> tuple[dict[str, Any] | None, dict[str, KpiChange] | None, str | None]:
    """The KPI comparison of the two phases from the per-ticket frame (as ``compare_logs``'s KPIs)."""
    from csmine.errors import CompareError
    from csmine.pilot.kpis import compare_kpis
    from csmine.pilot.statistics import DEFAULT_RESAMPLES
    from csmine.reports.report_sections import _change_text

    names = {p.name for p in phases}
    chosen = compare is None and {"baseline", "pilot"} <= names
    pair = ("baseline", "pilot") if chosen else compare
    if pair is None:
        return None, None, None
    a, b = pair
    frame = fig.frame
    phase = frame["phase"] if "phase" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    sides = {n: frame.loc[sorted(str(t) for t in frame.index[(phase == n).to_numpy(dtype=bool)])] for n in pair}
    empty = [n for n in pair if len(sides[n]) == 0]
    if empty and chosen:
        return ({"summary": f"Comparison of {b} against {a} skipped: phase {' and '.join(empty)} holds no tickets "
                 "(see `csmine phase list`; ask for another pair with --compare A B).", "headers": [], "rows": []},
                None, f"Comparison of {b} against {a} skipped: phase {' and '.join(empty)} holds no tickets "
                      "(see `csmine phase list`; ask for another pair with --compare A B).")
    if empty:
        raise CompareError(f"side {empty[0]} (phase {empty[0]}) holds no tickets: check the phase (`csmine phase list`)")
    kpis, _ = compare_kpis(sides[a], sides[b], fig.sop)
    rows = [[k.label, *_change_text(k.unit, k.change), k.verdict] for k in kpis]
    section = {"summary": f"{b} ({len(sides[b]):,} tickets) against {a} ({len(sides[a]):,} tickets); 95% bootstrap "
                          f"intervals over tickets ({DEFAULT_RESAMPLES:,} resamples). The map, step and variant "
                          "changes need each ticket's events: csmine compare, or csmine report --engine local.",
               "headers": ["KPI", a, b, "change", "95% interval", "verdict"], "rows": rows}
    changes = {k.key: KpiChange(a=k.change.a, b=k.change.b, diff=k.change.diff, ci=(k.change.ci_low, k.change.ci_high),
                                significant=k.change.significant) for k in kpis}
    return section, changes, None


def _backlog_svg(phases: list[Any], tickets: pd.DataFrame) -> str:
    from csmine.performance.backlog import backlog_series
    from csmine.reports.html_report import line_chart_svg

    series = backlog_series(tickets)
    points = [(str(d)[:10], float(o)) for d, o in zip(series["date"], series["open"], strict=True)]
    marks = [(p.start.astimezone(UTC).isoformat(), p.name) for p in phases]
    return line_chart_svg(points, label="open tickets per day", marks=marks)


def _why_note(engine: str) -> str:
    return ('<section id="why"><h2>Why</h2><p class="muted">The Why section compares groups of tickets '
            f"event by event, which --engine {engine} does not bring into this process: run "
            "<code>csmine report --engine local</code> or <code>csmine why OUTCOME</code>.</p></section>")


def _page_data(store: TicketStore | None, engine: Engine, log_filter: LogFilter, fig: EngineReportFigures,
               findings: ReportFindings, kpi_note: str) -> dict[str, Any]:
    """The page's title, subtitle (with the engine line), notes and KPI tiles."""
    from csmine.reports.report import ACTIVITY_LEVELS, PATH_LEVELS
    from csmine.reports.report_sections import kpi_tiles

    sop, kpis = fig.sop, fig.kpis
    first_t = datetime.fromtimestamp(fig.first_us / 1e6, tz=UTC)
    last_t = datetime.fromtimestamp(fig.last_us / 1e6, tz=UTC)
    where = f"store {store.location.display}" if store is not None else "a Parquet export"
    return {
        "title": "csmine report" + (f" — {sop.title}" if sop else ""),
        "kpi_title": "KPIs against the SOP targets" if sop else "KPIs (no SOP: the figures that need none)",
        "kpi_note": kpi_note,
        "sop_note": fig.choice.describe() if sop is None else "",
        "backlog_note": kpis.status.describe() if kpis.status is not None else "",
        "subtitle": (f"{findings.tickets:,} tickets, {findings.events:,} events, {first_t:%Y-%m-%d} to "
                     f"{last_t:%Y-%m-%d}; {log_filter.describe()}; {where}; generated "
                     f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; computed by the {engine.name} engine "
                     f"(not here: {'; '.join(LOCAL_ONLY)})"),
        "kpis": kpi_tiles(kpis),
        "levels": {"activities": list(ACTIVITY_LEVELS), "paths": list(PATH_LEVELS)},
        "map_note": "Frequency: numbers are tickets per path; Performance: median waiting time per path, "
                    "the top bottlenecks drawn in purple. Sliders keep the activities/paths that cover the "
                    "given share of events (like Disco).",
        "footer": "Made by csmine from the event store; every figure can be reproduced with the CLI "
                  "(csmine kpi, discover, conform, bottlenecks, compare, trace).",
    }


__all__ = ["LOCAL_ONLY", "build_engine_report"]
