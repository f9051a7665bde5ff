"""``csmine conform``: hold the tickets against an SOP (fitness, precision, deviations)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from csmine.cli.options import (
    chart_path,
    EngineChoice,
    closing_options,
    echo_json,
    engine_option,
    engine_source,
    filter_options,
    info,
    json_option,
    quiet_option,
    show_progress,
    sop_option,
    store_option,
)
from csmine.performance.sop_choice import choose_sop

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.conformance.results import ConformanceReport
    from csmine.eventlog.filters import LogFilter
    from csmine.eventlog.lifecycle import ClosingRule


@click.command("conform")
@sop_option("sop_ref", required=True, help="Shipped SOP name (e.g. complaint, it-incident) or a .toml/.bpmn file")
@click.option("--min-fitness", type=click.FloatRange(0.0, 1.0), metavar="X",
              help="Exit with code 5 when the log fitness is below X (for scripts and CI).")
@click.option("--out", type=chart_path, metavar="FILE",
              help="Write the SOP flowchart coloured by deviations (.svg, .png or .dot).")
@click.option("--worst", default=10, show_default=True, type=click.IntRange(min=0),
              help="How many lowest-fitness tickets to list.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1),
              help="Rows per team/channel/phase/agent table.")
@click.option("--no-aliases", is_flag=True, help="Match activities to steps by exact step name only.")
@filter_options
@closing_options
@engine_option
@json_option
@quiet_option
@store_option
def conform_cmd(sop_ref: str, min_fitness: float | None, out: str | None, worst: int, top: int,
                no_aliases: bool, log_filter: LogFilter, closing: ClosingRule, engine: EngineChoice, as_json: bool,
                quiet: bool, store: str) -> None:
    """Check the tickets against an SOP: fitness, precision and deviations.

    Exact alignments (as pm4py's) per variant: log fitness, average trace
    fitness, share of fitting tickets, align-ETC precision; deviations in words
    (skipped, extra, out of order, repeated, wrong branch) per SOP step, by team,
    channel, phase and agent; the worst tickets; conformance per ISO week.
    Activities the SOP does not know are listed and count as extra steps.
    Tickets not closed (the SOP's close step or closed_when, or --closed-when)
    are open: held against the start of an SOP run, their next steps pending,
    with their own figures beside the closed tickets'.

    \b
    Example:
        csmine conform --sop complaint --out sop.svg
        csmine conform --sop it-incident --team V30 --json
        csmine conform --sop my-sop.toml --min-fitness 0.9 || echo "below target"
        csmine conform --sop helpdesk.toml --closed-when Closed --stale-after 60d
        csmine conform --sop it-incident --engine duckdb --parquet lake/
    """
    if not engine.local:
        _conform_in_engine(engine, store, sop_ref, no_aliases, log_filter, closing, min_fitness, out, as_json)
        return
    from csmine.conformance.deviations import check_conformance
    from csmine.reports.text.conformance import render_conformance, unknown_activities_warning

    df, sop = _load(store, log_filter, sop_ref, quiet)
    report = check_conformance(df, sop, mapping=not no_aliases, worst=worst, closing=closing)
    if out:
        from csmine.reports.drawings import draw_conformance

        draw_conformance(sop, report, out)
        info(f"wrote {out}", quiet)
    if as_json:
        # the report's fields as they are (to_jsonable converts nested dataclasses; no deep copy)
        fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
        echo_json({"filter": log_filter.describe(), **fields})
    else:
        from csmine.cli.render import print_text  # rich: only for the text output

        print_text(render_conformance(report, log_filter.describe(), top=top))
    warning = unknown_activities_warning(report)
    if warning:
        click.echo(warning, err=True)
    _check_fitness(report, min_fitness, log_filter)


def _load(store: str, log_filter: LogFilter, sop_ref: str, quiet: bool) -> tuple[pd.DataFrame, SOP]:
    """The tickets, with ties in the step order of the SOP asked for (which must know their activities)."""
    from event_store import open_store

    from csmine.eventlog.loading import load_event_log
    from csmine.eventlog.ordering import order_events

    with open_store(store) as s:
        df = load_event_log(s, log_filter)
    sop, _ = choose_sop(sop_ref, df, needs="conform aligns tickets with an SOP, so it needs one")
    if show_progress(quiet):
        click.echo(f"aligning {df['case:concept:name'].nunique():,} tickets with SOP {sop.id} …", err=True)
    return order_events(df, sop, log_filter.tie_order), sop


def _conform_in_engine(engine: EngineChoice, store: str, sop_ref: str, no_aliases: bool, log_filter: LogFilter,
                       closing: ClosingRule, min_fitness: float | None, out: str | None, as_json: bool) -> None:
    """``--engine duckdb|spark|postgres``: the variants come from the engine, each is aligned once here."""
    from csmine.engines.results import engine_conformance

    if out:
        raise click.UsageError("--out colours the flowchart by each ticket's deviations: use --engine local")
    sop, _ = choose_sop(sop_ref, None, needs="conform aligns tickets with an SOP, so it needs one")
    with engine_source(engine, store) as s, engine.open(s, log_filter) as e:
        result = engine_conformance(e, sop, mapping=not no_aliases, tie_order=log_filter.tie_order, closing=closing)
    if as_json:
        echo_json({"filter": log_filter.describe(), "engine": engine.name, **dataclasses.asdict(result)})
    else:
        click.echo(f"Conformance with SOP {result.sop} ({log_filter.describe()}; engine {engine.name}): "
                   f"{result.tickets:,} tickets, {result.events:,} events, {result.variants:,} variants aligned")
        click.echo(f"  log fitness {result.log_fitness:.4f}, average trace fitness {result.average_fitness:.4f}, "
                   f"fitting tickets {result.fitting_tickets:,} ({100 * result.fitting_share:.1f}%)")
        if result.open_tickets:
            click.echo(f"  open tickets: {result.open_tickets:,} (held against the start of an SOP run)")
        if result.unknown_activities:
            click.echo(f"  activities the SOP does not know: {', '.join(result.unknown_activities)}")
        click.echo("  (deviations by step, team, channel, phase, agent and week: --engine local)")
    if min_fitness is not None and result.log_fitness < min_fitness:
        from csmine.errors import CheckFailedError

        raise CheckFailedError(f"log fitness {result.log_fitness:.4f} is below --min-fitness {min_fitness} "
                               f"(SOP {result.sop!r}, {result.tickets:,} tickets, {log_filter.describe()})")


def _check_fitness(report: ConformanceReport, min_fitness: float | None, log_filter: LogFilter) -> None:
    """``--min-fitness``: :class:`~csmine.errors.CheckFailedError` (exit 5) below it."""
    from csmine.errors import CheckFailedError

    if min_fitness is not None and report.log_fitness < min_fitness:
        raise CheckFailedError(f"log fitness {report.log_fitness:.4f} is below --min-fitness {min_fitness} "
                               f"(SOP {report.sop!r}, {report.tickets:,} tickets, {log_filter.describe()})")


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(conform_cmd)
