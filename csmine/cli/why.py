"""``csmine why OUTCOME``: the causes behind breaches, deviations and waits, with evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from csmine.cli.options import (
    calendar_option,
    closing_options,
    echo_json,
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
    from csmine.eventlog.filters import LogFilter


def _outcome(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from csmine.explain.outcomes import OutcomeError, parse_outcome

    try:
        return parse_outcome(value)
    except OutcomeError as exc:
        raise click.BadParameter(str(exc)) from None


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(x.strip() for x in value.split(",") if x.strip())
    return names


def _zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r} (use e.g. UTC or Asia/Shanghai)") from None
    return value


@click.command("why")
@click.argument("outcome", metavar="OUTCOME", callback=_outcome)
@sop_option(help="SOP (limits, roles, the conformance check): a shipped name or a .toml/.bpmn file; none for no SOP")
@calendar_option
@click.option("--tz", "tz", default=None, metavar="ZONE", callback=_zone,
              help="Time zone of the weekday and hour of opening (default: the --calendar's, else UTC).")
@click.option("--priority-attr", default=None, metavar="ATTR",
              help="Attribute holding the priority (default: the ticket priority; BPIC 2013: impact).")
@click.option("--min-support", type=click.IntRange(1), default=20, show_default=True,
              help="Tickets a group needs inside and outside to be tested.")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.05,
              show_default=True, help="False-discovery rate (Benjamini-Hochberg).")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True,
              help="At most this many contributors in each list (who and when; how).")
@click.option("--attributes", callback=_names, metavar="A,B",
              help="Ticket attributes to test (default: every case attribute).")
@click.option("--adjust", callback=_names, default="priority,channel", show_default=True, metavar="A,B",
              help="Attributes whose mix the adjusted lift holds fixed (Mantel-Haenszel strata).")
@click.option("--no-pairs", is_flag=True, help="Test single values only, not pairs of ticket attributes.")
@click.option("--what-if", "what_if", type=click.IntRange(0), default=3, show_default=True,
              help="Replay the KPI for this many top contributors as if they behaved like the rest.")
@click.option("--resamples", type=click.IntRange(20), default=200, show_default=True,
              help="Replicates of the what-if (its interval).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the what-if.")
@click.option("--spectrum", "spectrum_out", type=out_path, metavar="FILE",
              help="Also write the performance spectrum of the busiest SOP segments, coloured by the outcome (.svg).")
@filter_options
@closing_options
@json_option
@quiet_option
@store_option
def why_cmd(outcome: Any, sop: str | None, calendar: Any, tz: str | None, priority_attr: str | None,
            min_support: int, alpha: float, top: int, attributes: tuple[str, ...] | None,
            adjust: tuple[str, ...], no_pairs: bool, what_if: int, resamples: int, seed: int,
            spectrum_out: str | None, log_filter: LogFilter, closing: Any, as_json: bool, quiet: bool,
            store: str) -> None:
    """Why tickets breach, deviate, reopen or wait: the groups that do it more often.

    OUTCOME is breach, breach:STEP (an SOP time limit, e.g. breach:Record),
    breach:first-response, deviation, deviation:STEP, deviation:skipped:STEP
    (conformance), reopen, not-fcr, slow (throughput above its P80), slow:P90,
    slow:STEP (waiting before STEP above its P80), or a threshold such as
    'throughput > 2d' or 'handling > P80'. Every ticket attribute, pair of them,
    weekday and hour of opening and phase (who and when), and agent, path and
    queue at arrival (how) is tested: share with the outcome inside vs outside,
    lift with its 95% interval, the lift adjusted for the priority and channel
    mix (Mantel-Haenszel), and a Benjamini-Hochberg false-discovery control; only
    the groups that survive are listed, each adding to those before it. For the
    top ones, the KPI if the group behaved like the rest. docs/why.md.

    \b
    Example:
        csmine why breach:Record --sop complaint --tz Asia/Shanghai
        csmine why slow --phase pilot
        csmine why deviation:skipped:Callback --json
        csmine why 'throughput > 2d' --what-if 5
    """
    from csmine.cli.mine import _load
    from csmine.explain.why import ask_why

    df = _load(store, log_filter, attributes=["satisfaction"] + ([priority_attr] if priority_attr else []))
    model, note, choice = choose_sop(sop, df, allow_none=not outcome.needs_sop, with_choice=True,
                                     needs=f"csmine why {outcome.text} needs an SOP (its limits or its flow)")
    info(note, quiet)
    report, spectrum = ask_why(
        df, model, outcome, tie_order=log_filter.tie_order, calendar=calendar, closing=closing, tz=tz,
        spectrum=bool(spectrum_out), min_support=min_support, alpha=alpha, top=top, pairs=not no_pairs,
        attributes=list(attributes) if attributes else None, adjust=adjust, what_if=what_if, resamples=resamples,
        seed=seed, priority_key=priority_attr or "case:priority",
    )
    if spectrum_out and spectrum is not None:
        from csmine.reports.why_html import render_spectrum_svg

        with open(spectrum_out, "w", encoding="utf-8") as fh:
            fh.write(render_spectrum_svg(spectrum))
        info(f"wrote {spectrum_out}", quiet)
    if as_json:
        echo_json({**report.to_dict(), "filter": log_filter.describe(), "sop_choice": choice.to_dict()})
        return
    from csmine.reports.text.why import render_why

    print_text(render_why(report))


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(why_cmd)
