"""Mining commands: discover, bottlenecks, kpi."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from csmine.cli.options import (
    calendar_option,
    closing_options,
    EngineChoice,
    drawing_path,
    engine_source,
    echo_json,
    engine_option,
    filter_options,
    info,
    json_option,
    out_path,
    quiet_option,
    sop_option,
    store_option,
)
from csmine.cli.render import print_text
from csmine.performance.sop_choice import choose_sop

if TYPE_CHECKING:
    import pandas as pd

    from csmine.eventlog.filters import LogFilter
    from csmine.performance.sop_choice import SopChoice

_SHARE = click.FloatRange(0.0, 1.0, min_open=True)


def _load(store: str, log_filter: LogFilter, attributes: list[str] | None = None) -> pd.DataFrame:
    from event_store import open_store

    from csmine.eventlog.loading import load_event_log

    with open_store(store) as s:
        return load_event_log(s, log_filter, attributes=attributes)


def _sop(name: str | None, df: pd.DataFrame, log_filter: LogFilter, quiet: bool) -> tuple[pd.DataFrame, Any, SopChoice]:
    """The SOP asked for, the shipped one that fits the log, or none (the note on stderr);
    the events with ties in its step order; the choice."""
    from csmine.eventlog.ordering import order_events

    model, note, choice = choose_sop(name, df, allow_none=True, with_choice=True)
    info(note, quiet)
    return order_events(df, model, log_filter.tie_order), model, choice


def _check_pattern(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    import re

    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise click.BadParameter(f"{value!r} is not a regular expression ({exc}); e.g. 'Take in charge ticket'") from None
    return value


#: ``--first-response REGEX``: the SOP-less rule for first response (kpi, report).
first_response_option = click.option(
    "--first-response", "first_response", metavar="REGEX", callback=_check_pattern,
    help="First response = the first event whose activity matches REGEX (case-insensitive, whole name or one "
         "/-part); replaces the SOP's first-response step, works without an SOP.")


# -- discover ---------------------------------------------------------------------------


@click.command("discover")
@click.option("--activities", type=_SHARE, default=1.0, show_default=True,
              help="Keep the most frequent activities covering this share of events.")
@click.option("--paths", type=_SHARE, default=1.0, show_default=True,
              help="Keep the most frequent paths covering this share (start/end stay connected).")
@click.option("--mode", type=click.Choice(["frequency", "performance"]), default="frequency", show_default=True,
              help="Map overlay: tickets per path, or median waiting time.")
@click.option("--out", type=drawing_path, metavar="FILE", help="Write the map: .svg, .png, .pdf or .dot.")
@click.option("--direction", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Map layout: top to bottom or left to right.")
@click.option("--variants", "n_variants", type=click.IntRange(0), default=10, show_default=True,
              help="How many variants to list.")
@click.option("--bpmn", type=out_path, metavar="FILE", help="Write an inductive-miner model as BPMN 2.0.")
@click.option("--noise", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.2, show_default=True,
              help="Inductive-miner noise threshold (0 keeps every path).")
@click.option("--title", help="Title drawn on the map.")
@click.option("--full", is_flag=True,
              help="Draw every activity and path (no automatic simplification of large maps).")
@filter_options
@engine_option
@json_option
@quiet_option
@store_option
def discover_cmd(activities: float, paths: float, mode: str, out: str | None, direction: str, n_variants: int,
                 bpmn: str | None, noise: float, title: str | None, full: bool, log_filter: LogFilter,
                 engine: EngineChoice, as_json: bool, quiet: bool, store: str) -> None:
    """Discover the process map, the variants and (with --bpmn) a BPMN model.

    The map is a directly-follows graph: activities, paths with how many tickets
    take them and how long they wait on them (median, mean, P90). --activities and
    --paths simplify it like Disco's sliders. A drawn map of more than 60
    activities or 150 paths shows only the most frequent ones (said on stderr);
    --full draws everything.

    \b
    Example:
        csmine discover --activities 0.8 --paths 0.6 --out map.svg
        csmine discover --mode performance --out perf.png --phase pilot
        csmine discover --variants 20 --bpmn discovered.bpmn --noise 0.2
        csmine discover --engine duckdb --parquet lake/
    """
    from csmine.reports.text.discovery import render_discovery

    pmap, shown, variants, model = _discovery(store, log_filter, engine, activities, paths, n_variants,
                                              noise if bpmn else None, full)
    _write_discovery(shown, model, out, bpmn, mode, title or f"Process map ({log_filter.describe()})", direction,
                     quiet)
    if as_json:
        echo_json({"filter": log_filter.describe(), "map": pmap.to_dict(), "simplified": shown.simplification,
                   "variants": variants, "model": model.to_dict() if model else None})
        return
    print_text(render_discovery(pmap, variants, model, mode))


def _discovery(store: str, log_filter: LogFilter, engine: EngineChoice, activities: float, paths: float,
               n_variants: int, noise: float | None, full: bool) -> tuple[Any, Any, Any, Any]:
    """The map (in this process or the engine), the map to draw, the variants and (``noise``
    given) the inductive miner's model."""
    from csmine.mining.maps import discover_map
    from csmine.mining.model import discover_model
    from csmine.mining.simplify import simplify_map
    from csmine.mining.variants import discover_variants

    df = None
    if engine.local:
        df = _load(store, log_filter)
        pmap = discover_map(df, activities=activities, paths=paths)
        variants = discover_variants(df, top=n_variants)
    else:
        if noise is not None:
            raise click.UsageError("--bpmn mines a model in this process: use it with --engine local")
        pmap, variants = _engine_discovery(engine, store, log_filter, activities, paths, n_variants)
    model = discover_model(df, noise=noise) if noise is not None else None
    return pmap, (pmap if full else simplify_map(pmap)), variants, model


def _write_discovery(shown: Any, model: Any, out: str | None, bpmn: str | None, mode: str, title: str,
                     direction: str, quiet: bool) -> None:
    from csmine.reports.drawings import draw_map

    if out:
        draw_map(shown, out, mode=mode, title=title, direction=direction)
        info(f"wrote {out}", quiet)
        if shown.simplification is not None:
            info(f"map simplified: {shown.simplification.describe()}; --full for all", quiet)
    if model is not None and bpmn:
        model.write_bpmn(bpmn)
        info(f"wrote {bpmn}", quiet)


def _engine_discovery(engine: EngineChoice, store: str, log_filter: LogFilter, activities: float, paths: float,
                      n_variants: int) -> tuple[Any, Any]:
    from csmine.engines.results import engine_map, engine_variants

    with engine_source(engine, store) as s, engine.open(s, log_filter) as e:
        return (engine_map(e, activities=activities, paths=paths, tie_order=log_filter.tie_order),
                engine_variants(e, top=n_variants, tie_order=log_filter.tie_order))


# -- bottlenecks --------------------------------------------------------------------------


@click.command("bottlenecks")
@sop_option(help="SOP (waiting role, limits): a shipped name or a .toml/.bpmn file; none for no SOP")
@calendar_option
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Rows per table.")
@click.option("--out", type=drawing_path, metavar="FILE",
              help="Write the map with the bottlenecks highlighted (.svg/.png/.dot).")
@click.option("--mode", type=click.Choice(["frequency", "performance"]), default="performance", show_default=True,
              help="Overlay of the map written with --out.")
@click.option("--direction", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Map layout: top to bottom or left to right.")
@click.option("--activities", type=_SHARE, default=1.0, show_default=True, help="Map simplification (see discover).")
@click.option("--paths", type=_SHARE, default=1.0, show_default=True, help="Map simplification (see discover).")
@filter_options
@closing_options
@engine_option
@json_option
@quiet_option
@store_option
def bottlenecks_cmd(sop: str | None, calendar: Any, top: int, out: str | None, mode: str, direction: str,
                    activities: float, paths: float, log_filter: LogFilter, closing: Any, engine: EngineChoice,
                    as_json: bool, quiet: bool, store: str) -> None:
    """Where tickets wait: steps, transitions, time limits, handovers, ping-pong, rework.

    Bottlenecks are ranked by their impact on throughput time: the time saved if
    every occurrence slower than the median took only the median time. Open and
    closed tickets are counted apart (--closed-when; the SOP's close step); steps
    and waits cover every ticket's recorded time, the median throughput the closed
    ones. Without --sop an SOP is used only when it fits the log (stderr says which
    were considered); --sop none uses none.

    \b
    Example:
        csmine bottlenecks --sop it-incident --out bottlenecks.svg
        csmine bottlenecks --sop complaint --calendar hours=9-18,days=mon-fri,tz=Asia/Shanghai
        csmine bottlenecks --sop none --closed-when Closed
        csmine bottlenecks --sop it-incident --engine duckdb --parquet lake/

    With --engine duckdb|postgres the figures are computed in the engine (wall
    clock); --calendar, --phase and --out (the map) stay with --engine local.
    """
    from csmine.reports.drawings import draw_bottleneck_map
    from csmine.reports.text.bottlenecks import render_bottlenecks

    if out and not engine.local:
        raise click.UsageError("--out draws the map from the events in this process: use it with --engine local")
    df, report, choice = _bottleneck_report(engine, store, log_filter, sop, calendar, closing, top, quiet)
    if out:
        draw_bottleneck_map(df, report, out, mode=mode, direction=direction, activities=activities, paths=paths,
                            title=f"Bottlenecks ({log_filter.describe()}): the 5 largest in purple")
        info(f"wrote {out}", quiet)
    if as_json:
        echo_json({"filter": log_filter.describe(), **report.to_dict(), "sop_choice": choice.to_dict()})
        return
    print_text(render_bottlenecks(report, top))


def _bottleneck_report(engine: EngineChoice, store: str, log_filter: LogFilter, sop: str | None, calendar: Any,
                       closing: Any, top: int, quiet: bool) -> tuple[Any, Any, Any]:
    """The events (None from an engine), the bottleneck report and the SOP choice."""
    from csmine.performance.bottlenecks import find_bottlenecks

    if not engine.local:
        return (None, *_engine_bottlenecks(engine, store, log_filter, sop, calendar, closing, top, quiet))
    df, model, choice = _sop(sop, _load(store, log_filter), log_filter, quiet)
    return df, find_bottlenecks(df, model, calendar=calendar, top=max(top, 20), closing=closing), choice


# -- kpi ----------------------------------------------------------------------------------


@click.command("kpi")
@sop_option(help="SOP (roles, targets, limits): a shipped name or a .toml/.bpmn file; none for no SOP")
@calendar_option
@click.option("--priority-attr", default=None, metavar="ATTR",
              help="Attribute holding the SLA priority (default: the ticket priority; BPIC 2013: impact).")
@click.option("--tickets", "tickets_out", type=out_path, metavar="FILE", help="Also write the per-ticket KPIs as CSV.")
@first_response_option
@filter_options
@closing_options
@engine_option
@json_option
@quiet_option
@store_option
def kpi_cmd(sop: str | None, calendar: Any, priority_attr: str | None, tickets_out: str | None,
            first_response: str | None, log_filter: LogFilter, closing: Any, engine: EngineChoice, as_json: bool,
            quiet: bool, store: str) -> None:
    """Service KPIs against the SOP's targets: first response, resolution, FCR, SLA, ...

    SLA clocks pause while the ticket waits on the customer (the SOP's waiting
    role); --calendar counts business time only. Open and closed tickets are
    counted apart (the SOP's close step, --closed-when): resolution rate,
    throughput and handling time are over closed tickets, the backlog and the age
    of the open ones are shown on their own. Without --sop an SOP is used only when
    it names the log's activities and its close and resolution steps occur (stderr
    says which were considered); --sop none uses none. Figures that need no SOP
    (throughput, waiting, rework, ping-pong, backlog with --closed-when, first
    response with --first-response) are computed either way.

    \b
    Example:
        csmine kpi --sop complaint
        csmine kpi --sop complaint --calendar hours=9-18,days=mon-fri,tz=Asia/Shanghai --phase pilot
        csmine kpi --sop it-incident --priority-attr impact --json
        csmine kpi --sop none --closed-when Closed --first-response 'Take in charge ticket'
        csmine kpi --sop it-incident --engine duckdb --parquet lake/

    With --engine duckdb|postgres the per-ticket figures, the satisfaction
    score too, are computed in the engine (wall clock); --calendar,
    --priority-attr and --phase stay with --engine local (docs/scale.md).
    """
    from csmine.reports.text.kpi import render_kpis

    frame, report, choice = _kpi_report(engine, store, log_filter, sop, calendar, priority_attr, closing,
                                        first_response, quiet)
    if tickets_out:
        _write_frame_csv(frame, tickets_out)
        info(f"wrote {tickets_out}", quiet)
    if as_json:
        echo_json({"filter": log_filter.describe(), **report.to_dict(), "sop_choice": choice.to_dict()})
        return
    print_text(render_kpis(report))


def _kpi_report(engine: EngineChoice, store: str, log_filter: LogFilter, sop: str | None, calendar: Any,
                priority_attr: str | None, closing: Any, first_response: str | None,
                quiet: bool) -> tuple[Any, Any, Any]:
    """The per-ticket KPI frame (in this process or the engine), its report and the SOP choice."""
    from csmine.performance.kpi import ticket_kpis
    from csmine.performance.summary import summarise_kpis

    if not engine.local:
        frame, _, choice, report = _engine_kpis(engine, store, log_filter, sop, calendar, priority_attr, closing,
                                                first_response, quiet)
        return frame, report, choice
    df = _load(store, log_filter, attributes=["satisfaction"] + ([priority_attr] if priority_attr else []))
    df, model, choice = _sop(sop, df, log_filter, quiet)
    frame = ticket_kpis(df, model, calendar=calendar, priority_key=priority_attr or "case:priority",
                        closing=closing, first_response=first_response)
    return frame, summarise_kpis(frame, model), choice


def _engine_sop(e: Any, sop: str | None, quiet: bool) -> tuple[Any, Any]:
    """The SOP for an engine's log (chosen from its activity counts, as :func:`_sop`) and the choice."""
    from csmine.engines.kpis import activity_frame

    named = sop is not None and sop.strip().lower() != "none"
    model, note, choice = choose_sop(sop, activity_frame(e, weighted=not named), allow_none=True, with_choice=True)
    info(note, quiet)
    return model, choice


def _engine_bottlenecks(engine: EngineChoice, store: str, log_filter: LogFilter, sop: str | None, calendar: Any,
                        closing: Any, top: int, quiet: bool) -> tuple[Any, Any]:
    """The bottleneck report computed by the engine, and the SOP choice."""
    from csmine.engines.bottlenecks import engine_bottlenecks
    from csmine.engines.kpis import check_engine_kpis
    from csmine.eventlog.loading import list_phases

    with engine_source(engine, store) as s, engine.open(s, log_filter) as e:
        check_engine_kpis(e, calendar=calendar)
        model, choice = _engine_sop(e, sop, quiet)
        report = engine_bottlenecks(e, model, tie_order=log_filter.tie_order, top=max(top, 20), closing=closing,
                                    phases=list_phases(s) if s is not None else None)
    return report, choice


def _engine_kpis(engine: EngineChoice, store: str, log_filter: LogFilter, sop: str | None, calendar: Any,
                 priority_attr: str | None, closing: Any, first_response: str | None, quiet: bool) -> tuple[Any, ...]:
    """The per-ticket frame computed by the engine, the SOP, its choice and the report."""
    from csmine.engines.kpis import check_engine_kpis, engine_kpi_report, engine_ticket_kpis
    from csmine.eventlog.loading import list_phases

    with engine_source(engine, store) as s, engine.open(s, log_filter) as e:
        check_engine_kpis(e, calendar=calendar, priority_attr=priority_attr)
        model, choice = _engine_sop(e, sop, quiet)
        frame = engine_ticket_kpis(e, model, tie_order=log_filter.tie_order, closing=closing,
                                   first_response=first_response, phases=list_phases(s) if s is not None else None)
    return frame, model, choice, engine_kpi_report(frame, model)


def _write_frame_csv(frame: Any, path: str) -> None:
    """A frame as CSV, atomically, text cells neutralised for spreadsheets (a ticket id
    or team name starting with ``=`` stays text), as every CSV csmine writes."""
    from event_store.io.files import atomic_path, neutralise

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("string", "str"):
            out[col] = out[col].map(lambda v: neutralise(v) if isinstance(v, str) else v)
    out.index = out.index.map(lambda v: neutralise(v) if isinstance(v, str) else v)
    with atomic_path(path, force=True) as tmp:
        out.to_csv(tmp)


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(discover_cmd)
    cli.add_command(bottlenecks_cmd)
    cli.add_command(kpi_cmd)
