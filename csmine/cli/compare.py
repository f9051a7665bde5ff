"""``csmine compare``: two phases (or any two filters) side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from csmine.cli.options import (
    calendar_option,
    closing_options,
    drawing_path,
    echo_json,
    info,
    json_option,
    preload_pm4py,
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


def _side(positional: str | None, option: str | None, which: str) -> tuple[str, LogFilter]:
    from csmine.pilot.compare import parse_side

    spec = option if option is not None else positional
    if spec is None:
        raise click.UsageError(f"give side {which} as an argument (a phase name) or with --{which.lower()} SPEC")
    return spec, parse_side(spec)


def _load(store: str, filters: tuple[LogFilter, LogFilter], sop_name: str | None,
          quiet: bool) -> tuple[pd.DataFrame, pd.DataFrame, Any, SopChoice]:
    """Both sides' events with ties in the SOP's step order; the SOP asked for or the one that fits both."""
    import pandas as pd

    from event_store import open_store
    from process_models import load_sop

    from csmine.eventlog.loading import load_event_log
    from csmine.eventlog.ordering import order_events

    if sop_name and sop_name.strip().lower() != "none":
        load_sop(sop_name)  # an unknown SOP fails before the logs are read
    with open_store(store) as s:
        df_a, df_b = (load_event_log(s, f, attributes=["satisfaction"]) for f in filters)
    sop, note, choice = choose_sop(sop_name, pd.concat([df_a, df_b], ignore_index=True), allow_none=True,
                                   with_choice=True)
    info(note, quiet)
    return order_events(df_a, sop, filters[0].tie_order), order_events(df_b, sop, filters[1].tie_order), sop, choice


@click.command("compare")
@click.argument("side_a", required=False, metavar="[A]")
@click.argument("side_b", required=False, metavar="[B]")
@click.option("--a", "spec_a", metavar="SPEC", help="Side A as a filter: phase=NAME,from=TIME,to=TIME,KEY=V1|V2 ...")
@click.option("--b", "spec_b", metavar="SPEC", help="Side B as a filter (same syntax).")
@sop_option("sop_name", default_text="the shipped SOP that fits both sides (names their activities, its close and "
            "resolution steps occur), else none; none for no SOP",
            help="SOP giving roles, targets, limits and the flow (the same for both sides)")
@click.option("--out", "out", type=drawing_path, metavar="PATH",
              help="Draw B's map against A's: PATH (paths coloured by change in ticket share) and "
                   "PATH-wait (by change in median waiting time); .svg, .png, .pdf or .dot.")
@click.option("--paths", "paths_share", type=click.FloatRange(0.0, 1.0, min_open=True), default=1.0, show_default=True,
              help="Pictures only: keep the most frequent paths covering this share (e.g. 0.8 on large logs).")
@click.option("--resamples", type=int, default=2000, show_default=True, help="Bootstrap resamples per interval.")
@click.option("--seed", type=int, default=20250301, show_default=True,
              help="Bootstrap seed (same seed, same intervals).")
@click.option("--no-bottlenecks", is_flag=True, help="Skip the bottleneck ranking (faster).")
@calendar_option
@closing_options
@json_option
@quiet_option
@store_option
def compare_cmd(side_a: str | None, side_b: str | None, spec_a: str | None, spec_b: str | None, sop_name: str,
                out: str | None, paths_share: float, resamples: int, seed: int, no_bottlenecks: bool,
                calendar: Any, closing: Any, as_json: bool, quiet: bool, store: str) -> None:
    """Compare two phases (or any two filters): KPIs with 95% bootstrap intervals, conformance
    per step, the process map of B against A, variants and bottlenecks.

    A side is a phase name (baseline) or comma-separated KEY=VALUE terms that must
    all hold: phase=NAME, from=TIME, to=TIME (opening time) or a case attribute
    (region=East, channel=phone|email; | separates alternatives). Without --sop an
    SOP is used only when it fits the log (stderr says which were considered);
    --sop none compares what needs no SOP (times, satisfaction, maps, variants,
    bottlenecks). Open tickets are counted apart (--closed-when): resolution rate,
    handling and throughput times are over closed tickets.

    \b
    Example:
        csmine compare baseline pilot --sop complaint --out pilot-vs-baseline.png
        csmine compare --a "phase=baseline" --b "region=East,from=2025-03-01" --json
        csmine compare baseline pilot --sop none --closed-when Closed
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.pilot.compare import compare_logs, side_label
    from csmine.reports.drawings import draw_comparison
    from csmine.reports.text.pilot import render_comparison

    if resamples < 100:
        raise click.BadParameter("use at least 100 resamples", param_hint="--resamples")
    (text_a, filter_a), (text_b, filter_b) = _side(side_a, spec_a, "A"), _side(side_b, spec_b, "B")
    df_a, df_b, sop, choice = _load(store, (filter_a, filter_b), sop_name, quiet)
    comparison = compare_logs(
        df_a, df_b, sop, label_a=side_label(text_a, filter_a, "A"), label_b=side_label(text_b, filter_b, "B"),
        filter_a=filter_a.describe(), filter_b=filter_b.describe(), calendar=calendar,
        resamples=resamples, seed=seed, bottlenecks=not no_bottlenecks, closing=closing)
    written = draw_comparison(comparison, out, sop, df_b, paths_share) if out else []
    if as_json:
        echo_json(comparison.to_dict() | {"sop_choice": choice.to_dict(), "maps_written": written})
        return
    print_text(render_comparison(comparison))
    for path in written:
        info(f"wrote {path}", quiet)


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(compare_cmd)
