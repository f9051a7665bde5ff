"""``csmine review``: the pilot's daily review (--day) or weekly bulletin (--week)."""

from __future__ import annotations

from datetime import date, tzinfo
from typing import TYPE_CHECKING, Any

import click

from csmine.cli.options import (
    calendar_option,
    closing_options,
    echo_json,
    filter_options,
    info,
    json_option,
    preload_pm4py,
    quiet_option,
    sop_option,
    store_option,
    tz_option,
)
from csmine.cli.render import print_text
from csmine.performance.sop_choice import choose_sop
from csmine.reports.json import to_jsonable

if TYPE_CHECKING:
    import pandas as pd

    from csmine.eventlog.filters import LogFilter
    from csmine.performance.sop_choice import SopChoice

_WEEK_NEEDS = ("the weekly bulletin ranks teams and agents on SOP adherence (deviations and late steps): it needs "
               "an SOP")


def _day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise click.BadParameter(f"cannot read {value!r} as a date (use e.g. 2025-03-04)") from exc


def _load(store: str, log_filter: LogFilter, sop_name: str | None, baseline_name: str | None, day: bool,
          quiet: bool) -> tuple[pd.DataFrame, Any, SopChoice, str | None, pd.DataFrame | None]:
    """The tickets under review and the SOP (asked for, or the one that fits; the week needs
    one), ties in its step order; for a day, the baseline phase's name and tickets."""
    from event_store import open_store
    from process_models import load_sop

    from csmine.errors import EmptyLogError, PhaseError
    from csmine.eventlog.loading import load_event_log
    from csmine.eventlog.ordering import order_events
    from csmine.pilot.baseline import baseline_log

    if sop_name and sop_name.strip().lower() != "none":
        load_sop(sop_name)  # an unknown SOP fails before the log is read
    with open_store(store) as s:
        df = load_event_log(s, log_filter, attributes=["satisfaction"])
        try:
            name, baseline = baseline_log(s, log_filter, baseline_name) if day else (None, None)
        except PhaseError as exc:
            raise click.BadParameter(str(exc), param_hint="--baseline") from None
    if len(df) == 0:
        raise EmptyLogError(f"no events for {log_filter.describe()}: check --phase and the filters")
    sop, note, choice = choose_sop(sop_name, df, allow_none=day, with_choice=True, needs=_WEEK_NEEDS)
    info(note, quiet)
    order = log_filter.tie_order  # ties in the SOP's step order
    baseline = order_events(baseline, sop, order) if baseline is not None else None
    return order_events(df, sop, order), sop, choice, name, baseline


@click.command("review")
@click.option("--day", "day", metavar="DATE", callback=_day, help="Review this day (e.g. 2025-03-04).")
@click.option("--week", "week_text", metavar="WEEK", help="Weekly bulletin of this ISO week (e.g. 2025-W10).")
@sop_option("sop_name", default_text="the shipped SOP that fits the log (names its activities, its close and "
            "resolution steps occur), else none; none for no SOP (--day only)",
            help="SOP to review against: a shipped name or a .toml/.bpmn file")
@click.option("--baseline", "baseline_name", metavar="PHASE",
              help="Phase to hold the day's KPIs against (default: the phase named 'baseline', if defined).")
@calendar_option
@tz_option
@click.option("--why", "why", multiple=True, metavar="OUTCOME",
              help="Also explain OUTCOME (as csmine why, e.g. breach:Record) over the tickets opened up to the end "
                   "of the day or week reviewed (repeatable).")
@filter_options
@closing_options
@json_option
@quiet_option
@store_option
def review_cmd(day: date | None, week_text: str | None, sop_name: str, baseline_name: str | None, calendar: Any,
               tz: tzinfo, why: tuple[str, ...], log_filter: LogFilter, closing: Any, as_json: bool, quiet: bool,
               store: str) -> None:
    """The pilot's daily review (--day) or weekly bulletin (--week).

    The day: KPIs of the tickets opened that day against the SOP's targets and the
    baseline, deviations new that day, time limits breached that day (with the
    command to trace each ticket), the top bottleneck, and what changed since the
    previous day. The week: best and worst teams and agents on SOP adherence, and
    violations an agent repeated. Without an SOP (--sop none, or none fits the
    log) the day shows what needs none (times, the bottleneck, the counts); the
    week needs an SOP (exit 4 without one).

    \b
    Example:
        csmine review --day 2025-03-04 --phase pilot --tz Asia/Shanghai
        csmine review --week 2025-W10 --phase pilot
        csmine review --day 2025-03-04 --phase pilot --why breach:Record
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.pilot.review import review_day, review_week
    from csmine.reports.text.review import render_review

    if (day is None) == (week_text is None):
        raise click.UsageError("give exactly one of --day DATE and --week WEEK")
    df, sop, choice, name, baseline = _load(store, log_filter, sop_name, baseline_name, day is not None, quiet)
    if day is not None:
        result: Any = review_day(df, sop, day, tz=tz, baseline=baseline, baseline_name=name, phase=log_filter.phase,
                                 calendar=calendar, closing=closing)
    else:
        result = review_week(df, sop, week_text, tz=tz, phase=log_filter.phase, calendar=calendar)
    whys = _why(df, sop, why, day, week_text, tz, calendar, closing) if why else ()
    if as_json:
        echo_json(to_jsonable(result) | {"sop_choice": choice.to_dict()}
                  | ({"why": [w.to_dict() for w in whys]} if whys else {}))
        return
    print_text(render_review(result, tz, whys))


def _why(df: pd.DataFrame, sop: Any, outcomes: tuple[str, ...], day: date | None, week: str | None, tz: tzinfo,
         calendar: Any, closing: Any) -> tuple[Any, ...]:
    """``--why``: each outcome over the tickets opened up to the end of the day or week."""
    from csmine.explain.outcomes import OutcomeError, parse_outcome
    from csmine.explain.section import review_why

    try:
        specs = tuple(parse_outcome(o) for o in outcomes)
    except OutcomeError as exc:
        raise click.BadParameter(str(exc), param_hint="--why") from None
    return review_why(df, sop, specs, day=day, week=week, tz=tz, calendar=calendar, closing=closing)


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(review_cmd)
