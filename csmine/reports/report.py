"""The HTML report: every analysis of a set of tickets on one self-contained page.

:func:`build_report` runs the analyses (KPIs, process maps at several simplification
levels, conformance, bottlenecks, the optional phase comparison, variants, backlog,
a sample of traces, the animation) and returns the page with its headline figures
(:class:`~csmine.reports.findings.ReportFindings`). Each map goes through Graphviz
``dot`` once (:mod:`csmine.reports.graphviz`); everything is inlined. The page's
sections are made from the results by :mod:`csmine.reports.report_sections`; on a
large log conformance with the phase comparison, and the Why section, run in forked
processes on the second core (:mod:`csmine.reports.parallel`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csmine.errors import EmptyLogError
from csmine.eventlog.filters import LogFilter
from csmine.reports.findings import KpiChange, ReportFindings
from csmine.reports.graphviz import dot_to_svg
from csmine.reports.parallel import Job, background_jobs, worth_forking

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore
    from process_models import SOP

    from csmine.conformance.results import ConformanceReport
    from csmine.engines.base import Engine
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.explain.section import WhySection
    from csmine.mining.encoding import EncodedLog
    from csmine.mining.maps import ProcessMap
    from csmine.performance.bottlenecks import BottleneckReport
    from csmine.performance.sop_choice import SopChoice
    from csmine.performance.summary import KpiReport
    from csmine.pilot.compare import Comparison

ACTIVITY_LEVELS = (1.0, 0.9, 0.75)
PATH_LEVELS = (1.0, 0.8, 0.6)
#: Events from which the report checks conformance and compares phases on a second core.
PARALLEL_MIN_EVENTS = 200_000
#: Modules :func:`_why` imports (imported before it forks, see :mod:`csmine.reports.parallel`).
_WHY_NEED = ("csmine.explain.section", "csmine.explain.why", "csmine.explain.features", "csmine.explain.whatif",
             "csmine.explain.spectrum", "csmine.reports.why_html", "scipy.special")
#: Modules :func:`_checks` imports.
_CHECKS_NEED = ("csmine.conformance.deviations", "csmine.pilot.compare", "csmine.reports.conformance_dot")
#: Columns of the log the phase comparison does not read (left out of its two sides).
_SIDE_UNUSED = frozenset({"case:category", "case:emotion", "case:customer", "case:region", "recorded_at",
                          "source_ref"})
SECTIONS = ("kpis", "map", "animation", "sop", "bottlenecks", "compare", "variants", "backlog", "tickets", "truth")


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What :func:`build_report` produced.

    Attributes:
        html: the page.  tickets / events: size of the analysed log.
        sop: SOP id used.  sections: section ids present.
        findings: the headline figures (also ``--json``'s ``findings``, via ``to_dict()``).
    """

    html: str
    tickets: int
    events: int
    sop: str | None
    sections: tuple[str, ...]
    findings: ReportFindings


@dataclass(frozen=True, slots=True)
class _Sides:
    """The two phases of the comparison and their events."""

    a: str
    b: str
    df_a: pd.DataFrame
    df_b: pd.DataFrame


def build_report(
    store: TicketStore,
    log_filter: LogFilter | None = None,
    *,
    sop: SOP | None = None,
    compare: tuple[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    sample: int = 8,
    parallel: bool | None = None,
    auto_sop: bool = True,
    closing: ClosingRule | None = None,
    first_response: str | None = None,
    font_cache: Path | None = None,
    engine: Engine | None = None,
) -> ReportResult:
    """Analyse the tickets and render the report page.

    Args:
        store: the store.  log_filter: which tickets.
        sop: the SOP to hold the tickets against; None: with ``auto_sop`` the
            shipped SOP that fits the log (:func:`csmine.performance.sop_choice.choose_shipped_sop`:
            names its activities and its close and resolution steps occur), else
            none. ``findings.sop_choice`` says which were considered and why.
        compare: two phase names (A = baseline, B = pilot) to compare; default:
            ``baseline`` and ``pilot`` when both phases exist (skipped, with a note on
            the page, when one of them holds no tickets; an explicit pair fails then).
        progress: called with a short label before each stage.
        sample: how many ticket traces to show.
        parallel: check conformance and compare the phases, and ask why, in forked
            processes on the second core while this one does the other sections; None (the default)
            does so for logs of :data:`PARALLEL_MIN_EVENTS` or more on a machine with two
            or more cores (:func:`csmine.reports.parallel.worth_forking`). The page is
            the same either way.
        auto_sop: without ``sop``, choose a shipped SOP that fits (False: no SOP, ``--sop none``).
        closing: ``--closed-when`` and the stale horizon (which tickets are open).
        first_response: the SOP-less first-response rule (an activity pattern, see
            :func:`csmine.performance.kpi.ticket_kpis`).
        font_cache: folder keeping subsets of the page's CJK font between runs
            (:func:`csmine.reports.html_report.subset_font`); None: no cache.
        engine: compute the figures in this engine (``--engine duckdb|spark|postgres``; the
            filter is the engine's), never loading the whole log: see
            :mod:`csmine.reports.engine_report` (``store`` may then be None: no phases, no truth).

    Raises:
        EmptyLogError: no tickets match ``log_filter``.
    """
    from csmine.performance.preparation import reuse_preparation

    if engine is not None:
        from csmine.reports.engine_report import build_engine_report

        return build_engine_report(engine, store, log_filter, sop=sop, compare=compare, progress=progress,
                                   sample=sample, auto_sop=auto_sop, closing=closing, first_response=first_response,
                                   font_cache=font_cache)

    with reuse_preparation(), background_jobs() as start:
        return _build_report(store, log_filter or LogFilter(), sop=sop, compare=compare,
                             step=progress or (lambda _label: None), sample=sample, parallel=parallel,
                             start=start, auto_sop=auto_sop, closing=closing, first_response=first_response,
                             font_cache=font_cache)


def _build_report(store: TicketStore, log_filter: LogFilter, *, sop: SOP | None, compare: tuple[str, str] | None,
                  step: Callable[[str], None], sample: int, parallel: bool | None, start: Callable[..., Job],
                  auto_sop: bool, closing: ClosingRule | None, first_response: str | None,
                  font_cache: Path | None) -> ReportResult:
    from csmine.eventlog.ordering import tied_tickets
    from csmine.mining.variants import discover_variants
    from csmine.performance.bottlenecks import find_bottlenecks
    from csmine.performance.kpi import ticket_kpis
    from csmine.performance.limits import check_limits
    from csmine.performance.preparation import prepare
    from csmine.performance.summary import summarise_kpis
    from csmine.reports import report_sections as sections

    step("loading events")
    df, sop, choice = _load(store, log_filter, sop, auto_sop)
    labels = {s.name: sop.label(s.name) for s in sop.steps} if sop else {}
    step("KPIs")
    tickets = ticket_kpis(df, sop, closing=closing, first_response=first_response)
    kpis = summarise_kpis(tickets, sop)
    tied = tied_tickets(df)
    step("conformance")
    sides, skipped = _compare_sides(store, df, log_filter, sop, compare)
    fork = parallel if parallel is not None else worth_forking(len(df), PARALLEL_MIN_EVENTS)
    limits = check_limits(df, sop, closing=closing) if sop is not None and sides is not None else None
    checks = start(lambda: _checks(df, sop, tickets, sides, closing, limits), fork=fork and sop is not None,
                   needs=_CHECKS_NEED)
    step("bottlenecks")
    bn = find_bottlenecks(df, sop, closing=closing)
    days = sections.unusual_days(df)
    bottlenecks, top, pairs = sections.bottleneck_section(bn, days, labels)
    # The Why section on the second core too, while this process draws the maps.
    why_job = start(lambda: _why(df, sop, bn, closing), fork=fork, needs=_WHY_NEED)
    step("process maps")
    map_svgs, full_map, anim_svg = _draw_maps(df, labels, bn, encoded=prepare(df, sop).log)  # encoded once
    step("variants and backlog")
    variants = sections.variants_section(discover_variants(df))  # every variant once: top 15 and the count
    backlog_svg = _backlog_svg(store, tickets)
    step("why")
    why, why_html = why_job.result()
    step("comparison")
    conf, sop_svg, cmp = checks.result()
    conformance, conf_found = sections.conformance_section(conf, sop) if conf is not None and sop else (None, None)
    comparison, changes, compare_svg = _comparison(cmp, sides, skipped, labels)
    findings = ReportFindings(
        tickets=int(df["case:concept:name"].nunique()), events=len(df), sop=sop.id if sop else None,
        sop_choice=choice, kpis={k.name: k.value for k in kpis.kpis}, ticket_status=kpis.status,
        kpi_notes=tuple(kpis.notes), tickets_with_ties=tied, unusual_days=days, bottlenecks=top, ping_pong=pairs,
        conformance=conf_found, comparison=changes, comparison_skipped=skipped, why=why)
    step("ticket traces")
    worst = [w.ticket for w in conf.worst] if conf is not None else []
    traces = sections.trace_rows(df, sections.sample_tickets(df, worst, sample), worst, labels)
    truth_rows = _truth(store, findings)
    step("writing the page")
    data = _page_data(store, log_filter, df, sop, choice, findings, kpis, sections.kpi_note(
        kpis, tied, log_filter.tie_order, sop is not None)) | {
        "animation": sections.animation(df, full_map), "conformance": conformance, "bottlenecks": bottlenecks,
        "comparison": comparison, "variants": variants, "backlog_svg": backlog_svg, "tickets": traces,
        "truth": truth_rows, "why_html": why_html}
    return _result(data, findings, labels, map_svgs=map_svgs, anim_svg=anim_svg, sop_svg=sop_svg,
                   compare_svg=compare_svg, font_cache=font_cache)


def _why(df: pd.DataFrame, sop: SOP | None, bn: BottleneckReport,
         closing: ClosingRule | None) -> tuple[WhySection, str]:
    """The Why section (``csmine why`` on the most breached limit and the top bottleneck) and its HTML."""
    from csmine.explain.section import why_section
    from csmine.reports.why_html import render_why_html

    section = why_section(df, sop, bottlenecks=bn, closing=closing)
    return section, render_why_html(section)


def _comparison(cmp: Comparison | None, sides: _Sides | None, skipped: str | None,
                labels: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, KpiChange] | None, str | None]:
    """The comparison section (or the note why it was skipped), its KPI changes and B's map against A's (SVG)."""
    from csmine.reports.report_sections import comparison_section

    if cmp is None or sides is None:
        return ({"summary": skipped, "headers": [], "rows": []} if skipped else None), None, None
    section, changes = comparison_section(cmp, sides.a, sides.b)
    svg = None
    if cmp.map_a is not None and cmp.map_b is not None:
        svg = _svg(_render_map(cmp.map_b, compare=cmp.map_a, labels=labels))
    return section, changes, svg


def _svg(dot: str) -> str:
    return dot_to_svg(dot, what="a map of the report")


def _render_map(pmap: ProcessMap, **kwargs: Any) -> str:
    from csmine.reports.maps import render_map

    return render_map(pmap, **kwargs)


def _load(store: TicketStore, log_filter: LogFilter, sop: SOP | None,
          auto_sop: bool) -> tuple[pd.DataFrame, SOP | None, SopChoice]:
    """The tickets, the SOP (given, chosen or none) and how it was chosen; ties in the SOP's step order."""
    from process_models import load_sop

    from csmine.eventlog.loading import load_event_log
    from csmine.eventlog.ordering import order_events
    from csmine.performance.sop_choice import SopChoice, choose_shipped_sop

    df = load_event_log(store, log_filter, attributes=["satisfaction"])
    if df.empty:
        raise EmptyLogError(f"no tickets match {log_filter.describe()} in {store.location.display}: nothing to report")
    if sop is not None:
        choice = SopChoice(sop.id, "--sop")
    elif auto_sop:
        choice = choose_shipped_sop(df)
        sop = load_sop(choice.chosen) if choice.chosen else None
    else:
        choice = SopChoice(None, "--sop none")
    return order_events(df, sop, log_filter.tie_order), sop, choice


def _compare_sides(store: TicketStore, df: pd.DataFrame, log_filter: LogFilter, sop: SOP | None,
                   compare: tuple[str, str] | None) -> tuple[_Sides | None, str | None]:
    """The phases to compare (asked for, or baseline and pilot when both exist) and their
    events; or None, with the note saying why an automatic comparison was skipped."""
    from csmine.eventlog.loading import list_phases, load_event_log
    from csmine.eventlog.ordering import order_events

    phases = {p.name for p in list_phases(store)}
    chosen = compare is None and {"baseline", "pilot"} <= phases
    if chosen:
        compare = ("baseline", "pilot")
    if compare is None:
        return None, None
    a, b = compare

    def phase_log(name: str) -> pd.DataFrame:
        # Without a time window or phase filter, ``df`` already holds every ticket the
        # phase filter would read (same attribute filters, same columns and order):
        # take its rows instead of reading the store again (a third of the report's
        # time at 1M events). Otherwise, and for an unknown phase (the error), read.
        # The comparison reads neither the descriptive case columns nor the record's
        # bookkeeping (_SIDE_UNUSED): the sides leave them out (less to copy and hold).
        if log_filter.start is None and log_filter.end is None and not log_filter.phase and name in phases:
            kept = df[[c for c in df.columns if c not in _SIDE_UNUSED]]
            return kept[(df["case:phase"] == name).to_numpy(dtype=bool)].reset_index(drop=True)
        side = order_events(load_event_log(store, LogFilter(phase=name, where=log_filter.where,
                                                            tie_order=log_filter.tie_order),
                                           attributes=["satisfaction"]), sop, log_filter.tie_order)
        return side.drop(columns=[c for c in _SIDE_UNUSED if c in side.columns])

    sides = _Sides(a, b, phase_log(a), phase_log(b))
    empty = [n for n, d in ((a, sides.df_a), (b, sides.df_b)) if len(d) == 0]
    if chosen and empty:
        # Chosen for the user (both phases exist), not asked for: a side without
        # tickets skips the section instead of failing the whole report.
        return None, (f"Comparison of {b} against {a} skipped: phase {' and '.join(empty)} holds no tickets"
                      f"{' matching ' + log_filter.describe() if log_filter.where else ''} "
                      "(see `csmine phase list`; ask for another pair with --compare A B).")
    return sides, None


def _checks(df: pd.DataFrame, sop: SOP | None, tickets: pd.DataFrame, sides: _Sides | None,
            closing: ClosingRule | None,
            limits_all: pd.DataFrame | None) -> tuple[ConformanceReport | None, str | None, Comparison | None]:
    """Conformance of ``df`` against ``sop`` (report, SOP overlay SVG) and the phase comparison.

    They need only the frames computed before the bottlenecks and maps, so on a large
    log they run in a forked child on the second core. Without an SOP: only the
    comparison of what needs none.
    """
    from csmine.conformance.deviations import analyse_conformance
    from csmine.pilot.compare import compare_logs
    from csmine.reports.conformance_dot import render_conformance_dot

    if sop is None:
        if sides is None:
            return None, None, None
        return None, None, compare_logs(
            sides.df_a, sides.df_b, None, label_a=sides.a, label_b=sides.b, filter_a=f"phase {sides.a}",
            filter_b=f"phase {sides.b}", ticket_kpis_all=tickets, conformance=False, closing=closing)
    analysis = analyse_conformance(df, sop)
    sop_svg = dot_to_svg(render_conformance_dot(sop, analysis.report), what="the SOP flowchart of the report")
    cmp = None
    if sides is not None:
        cmp = compare_logs(sides.df_a, sides.df_b, sop, label_a=sides.a, label_b=sides.b,
                           filter_a=f"phase {sides.a}", filter_b=f"phase {sides.b}", ticket_kpis_all=tickets,
                           deviations=analysis.deviations, limits_all=limits_all, closing=closing)
    return analysis.report, sop_svg, cmp


def _draw_maps(df: pd.DataFrame | None, labels: dict[str, str], bn: BottleneckReport,
               maps: dict[tuple[float, float], ProcessMap] | None = None,
               encoded: EncodedLog | None = None) -> tuple[dict[str, str], ProcessMap, str]:
    """The map at every activity/path level in both modes (SVG), the full map, and the animation's SVG
    (``maps``: the maps already computed, e.g. by an engine; else discovered from ``df``, or from
    ``encoded``, the log already encoded)."""
    from csmine.mining.maps import discover_maps

    highlight, notes = bn.highlight(3), bn.highlight_notes(3)
    if maps is None:
        maps = discover_maps(df, activities=ACTIVITY_LEVELS, paths=PATH_LEVELS, encoded=encoded)
    svgs: dict[str, str] = {}
    for i, a in enumerate(ACTIVITY_LEVELS):
        for j, p in enumerate(PATH_LEVELS):
            for mode in ("frequency", "performance"):
                perf = mode == "performance"
                svgs[f"{mode}-{i}-{j}"] = _svg(_render_map(maps[(a, p)], mode=mode, labels=labels,
                                                           highlight=highlight if perf else None,
                                                           notes=notes if perf else None))
    full = maps[(ACTIVITY_LEVELS[0], PATH_LEVELS[0])]
    return svgs, full, _svg(_render_map(full, mode="frequency", labels=labels))


def _backlog_svg(store: TicketStore, tickets: pd.DataFrame) -> str:
    """Open tickets per day as a line chart, the phases' starts marked."""
    from csmine.eventlog.loading import list_phases
    from csmine.performance.backlog import backlog_series
    from csmine.reports.html_report import line_chart_svg

    series = backlog_series(tickets)
    points = [(str(d)[:10], float(o)) for d, o in zip(series["date"], series["open"], strict=True)]
    marks = [(p.start.astimezone(UTC).isoformat(), p.name) for p in list_phases(store)]
    return line_chart_svg(points, label="open tickets per day", marks=marks)


def _truth(store: TicketStore, findings: ReportFindings) -> list[list[str]] | None:
    """The demo's ground truth beside what was found (None when the store holds no demo)."""
    from csmine.reports.report_sections import truth_rows
    from csmine.simulation.demo import demo_truth

    truth = demo_truth(store)
    return truth_rows(truth, findings) if truth is not None else None


def _page_data(store: TicketStore, log_filter: LogFilter, df: pd.DataFrame, sop: SOP | None, choice: SopChoice,
               findings: ReportFindings, kpis: KpiReport, kpi_note: str) -> dict[str, Any]:
    """The page's title, subtitle, notes and KPI tiles."""
    from csmine.reports.report_sections import kpi_tiles

    first_t, last_t = df["time:timestamp"].min(), df["time:timestamp"].max()
    return {
        "title": "csmine report" + (f" — {sop.title}" if sop else ""),
        "kpi_title": "KPIs against the SOP targets" if sop else "KPIs (no SOP: the figures that need none)",
        "kpi_note": kpi_note,
        "sop_note": choice.describe() if sop is None else "",
        "backlog_note": kpis.status.describe() if kpis.status is not None else "",
        "subtitle": (f"{findings.tickets:,} tickets, {len(df):,} events, {first_t:%Y-%m-%d} to {last_t:%Y-%m-%d}; "
                     f"{log_filter.describe()}; store {store.location.display}; generated "
                     f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"),
        "kpis": kpi_tiles(kpis),
        "levels": {"activities": list(ACTIVITY_LEVELS), "paths": list(PATH_LEVELS)},
        "map_note": "Frequency: numbers are tickets per path; Performance: median waiting time per path, "
                    "the top bottlenecks drawn in purple. Sliders keep the activities/paths that cover the "
                    "given share of events (like Disco).",
        "footer": "Made by csmine from the event store; every figure can be reproduced with the CLI "
                  "(csmine kpi, discover, conform, bottlenecks, compare, trace).",
    }


def _result(data: dict[str, Any], findings: ReportFindings, labels: dict[str, str], *, map_svgs: dict[str, str],
            anim_svg: str, sop_svg: str | None, compare_svg: str | None, font_cache: Path | None) -> ReportResult:
    from csmine.reports.html_report import render_report_html

    page = render_report_html(data, map_svgs=map_svgs, anim_svg=anim_svg, sop_svg=sop_svg,
                              compare_svg=compare_svg, font_text=" ".join(labels.values()), font_cache=font_cache)
    sections = tuple(k for k in SECTIONS if k != "truth" or data["truth"])
    return ReportResult(html=page, tickets=findings.tickets, events=findings.events, sop=findings.sop,
                        sections=sections, findings=findings)
