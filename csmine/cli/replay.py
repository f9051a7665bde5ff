"""``csmine replay``: recorded events through online SOP and SLA monitors, alert by alert."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

import click

from csmine.cli.options import (
    calendar_option,
    echo_json,
    filter_options,
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
    from process_models import SOP

    from csmine.monitoring.monitors import Alert

_NEEDS = "replay runs every ticket through an SOP's flow and time limits: it needs an SOP"


def _sops(sop_name: str | None, compare_name: str | None) -> list[SOP]:
    """The SOP to monitor and the revised one to hold against it (exit 4 for ``none``, 2 for the same twice)."""
    from process_models import load_sop

    if not sop_name:
        raise click.UsageError("give --sop NAME (or --rebuild)")
    for name in (sop_name, compare_name):
        if name is not None and name.strip().lower() == "none":
            choose_sop(name, None, needs=_NEEDS)  # SopMismatchError, exit 4
    sops = [load_sop(sop_name)] + ([load_sop(compare_name)] if compare_name else [])
    if len(sops) == 2 and sops[1].id == sops[0].id:
        raise click.UsageError(f"--compare-sop names the same SOP as --sop ({sops[0].id})")
    return sops


def _play(items: Iterable[Any], *, live: bool, speed: float | None, interactive: bool, tz: tzinfo,
          tags: dict[str, str] | None) -> list[Alert]:
    """Collect the replayer's alerts; when ``live``, print each as it fires, a line per new day,
    pausing for ``speed`` (business time / speed) or for Enter at each day (``interactive``)."""
    from csmine.monitoring.replay import pace_alerts
    from csmine.reports.text.monitoring import alert_line

    alerts: list[Alert] = []
    for paced in pace_alerts(items, speed):
        alerts.append(paced.alert)
        if not live:
            continue
        if paced.pause_s > 0:
            time.sleep(paced.pause_s)
        if paced.day is not None:
            if interactive and paced.later_day:
                click.prompt(f"-- next day {paced.day} (Enter)", default="", show_default=False,
                             prompt_suffix="", err=True)
            click.echo(f"── {paced.day.isoformat()} ──")
        click.echo(alert_line(paced.alert, tz, tags))
    return alerts


def _rebuild(store: str, as_json: bool) -> None:
    """``--rebuild``: the read model rebuilt from the events and checked (exit 5 when it differed)."""
    from event_store import open_store

    from csmine.monitoring.rebuild import check_rebuild, rebuild_read_model
    from csmine.reports.text.monitoring import render_rebuild

    with open_store(store) as s:
        report = rebuild_read_model(s)
    if as_json:
        echo_json(to_jsonable(report) | {"match": report.match})
    else:
        print_text(render_rebuild(report))
    check_rebuild(report)


@click.command("replay")
@sop_option("sop_name", default_text="none: give --sop unless --rebuild",
            help="SOP to monitor: a shipped name or a .toml/.bpmn file")
@click.option("--compare-sop", "compare_name", metavar="OTHER",
              help="Also replay against this (revised) SOP and show the difference.")
@click.option("--speed", type=float, metavar="X",
              help="Play in business time divided by X (3600: one hour per second).")
@click.option("--step", "step_days", is_flag=True, help="Wait for Enter at each new business day (on a terminal).")
@click.option("--at-risk", type=float, default=0.8, show_default=True,
              help="Share of a limit at which a missing step is 'at risk'.")
@click.option("--rebuild", is_flag=True,
              help="Rebuild the read model from the event log and check it matches (exit 5 if not).")
@calendar_option
@tz_option
@filter_options
@json_option
@quiet_option
@store_option
def replay_cmd(sop_name: str | None, compare_name: str | None, speed: float | None, step_days: bool,
               at_risk: float, rebuild: bool, calendar: Any, tz: tzinfo, log_filter: Any,
               as_json: bool, quiet: bool, store: str) -> None:
    """Replay recorded events in business-time order through online SOP and SLA monitors.

    Prints each alert as it would have fired (skipped step, out of order, repeated,
    extra step, ticket at risk at 80% of a time limit, limit breached), then a
    summary. With --compare-sop the same events run against a revised SOP too and
    the alerts only one of them raises are counted. Events are read page by page.

    \b
    Example:
        csmine replay --sop complaint --phase pilot
        csmine replay --sop complaint --compare-sop complaint-v2 --from 2025-03-03 --to 2025-03-04
        csmine replay --sop complaint --speed 3600 --tz Asia/Shanghai
        csmine replay --rebuild
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from event_store import open_store

    from csmine.monitoring.replay import replay_result
    from csmine.monitoring.replayer import Replayer
    from csmine.monitoring.stream import stream_events
    from csmine.reports.text.monitoring import render_replay_summary

    if rebuild:
        return _rebuild(store, as_json)
    sops = _sops(sop_name, compare_name)
    interactive = _pacing(speed, step_days, live=not as_json)
    tags = {sops[0].id: "A", sops[1].id: "B"} if len(sops) == 2 else None
    replayer = Replayer(sops, at_risk=at_risk, tz=tz, calendar=calendar)
    with open_store(store) as s:
        alerts = _play(replayer.run(stream_events(s, log_filter, sop=sops[0])), live=not as_json, speed=speed,
                       interactive=interactive, tz=tz, tags=tags)
    result = replay_result(replayer, alerts, [sop.id for sop in sops])
    if as_json:
        echo_json({"sops": result.sops, "filter": log_filter.describe()}
                  | {k: v for k, v in to_jsonable(result).items() if k != "sops"})
        return
    print_text(render_replay_summary(replayer, list(result.summaries), result.difference, tz, tags,
                                     log_filter.describe()))


def _pacing(speed: float | None, step_days: bool, *, live: bool) -> bool:
    """Check ``--speed`` and ``--step``; True when the replay waits for Enter at each day (a terminal)."""
    if speed is not None and speed <= 0:
        raise click.BadParameter("must be positive", param_hint="--speed")
    if speed is not None and step_days:
        raise click.UsageError("use either --speed or --step, not both")
    interactive = step_days and sys.stdin.isatty()
    if step_days and not interactive and live:
        click.echo("--step needs a terminal on stdin; replaying without pauses", err=True)
    return interactive


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(replay_cmd)
