"""``csmine phase``: the pilot's phase plan (add, list, history, remove)."""

from __future__ import annotations

import click

from csmine.cli.options import echo_json, json_option, parse_time, store_option
from csmine.cli.render import print_text
from csmine.reports.json import to_jsonable


@click.group("phase")
def phase_group() -> None:
    """Phases of a pilot (baseline, pilot, rollout, ...): windows of opening time plus a cohort.

    A ticket belongs to the first phase (by start) whose window holds its opening
    time and whose cohort it matches. Every change of plan is recorded as an event.

    \b
    Example:
        csmine phase add baseline --from 2025-01-06 --to 2025-02-17
        csmine phase add pilot --from 2025-02-17 --to 2025-03-17 --where region=East
        csmine phase list
    """


@phase_group.command("add")
@click.argument("name")
@click.option("--from", "from_", required=True, metavar="TIME", help="First opening time included.")
@click.option("--to", "to", metavar="TIME", help="First opening time excluded (default: open-ended).")
@click.option("--where", multiple=True, metavar="KEY=VALUE",
              help="Cohort: case attribute the tickets must have (repeatable; KEY=a,b for alternatives).")
@click.option("--note", default="", help="Why the phase is defined this way (kept on record).")
@click.option("--by", "actor", help="Who defines it.")
@click.option("--replace", is_flag=True, help="Redefine an existing phase (the old definition stays on record).")
@json_option
@store_option
def phase_add(name: str, from_: str, to: str | None, where: tuple[str, ...], note: str, actor: str | None,
              replace: bool, as_json: bool, store: str) -> None:
    """Define a phase: tickets opened in [--from, --to) that match the cohort.

    \b
    Example:
        csmine phase add pilot --from 2025-02-17 --to 2025-03-17 --where region=East \\
            --note "complaint v2 in East only"
    """
    from event_store import open_store

    from csmine.eventlog.filters import parse_where
    from csmine.pilot.phases import add_phase
    from csmine.reports.text.pilot import overlap_warnings, render_phase

    start, end = parse_time(from_, param="--from"), parse_time(to, param="--to")
    assert start is not None
    with open_store(store) as s:
        added = add_phase(s, name, start, end, parse_where(where), note=note, actor=actor, replace=replace)
    for warning in overlap_warnings(added):
        click.echo(warning, err=True)
    if as_json:
        echo_json(to_jsonable(added.info))
        return
    print_text(render_phase(added.info))


@phase_group.command("list")
@json_option
@store_option
def phase_list(as_json: bool, store: str) -> None:
    """The phases now defined, with the tickets each holds.

    \b
    Example:
        csmine phase list --json
    """
    from event_store import open_store

    from csmine.pilot.phases import phase_infos
    from csmine.reports.text.pilot import render_phases

    with open_store(store) as s:
        infos = phase_infos(s)
    if as_json:
        echo_json(to_jsonable(infos))
        return
    print_text(render_phases(infos))


@phase_group.command("history")
@json_option
@store_option
def phase_history_cmd(as_json: bool, store: str) -> None:
    """Every change of the phase plan, oldest first (nothing is ever overwritten).

    \b
    Example:
        csmine phase history
    """
    from event_store import open_store

    from csmine.pilot.phases import phase_history
    from csmine.reports.text.pilot import render_phase_history

    with open_store(store) as s:
        changes = phase_history(s)
    if as_json:
        echo_json(to_jsonable(changes))
        return
    print_text(render_phase_history(changes))


@phase_group.command("remove")
@click.argument("name")
@click.option("--note", default="", help="Why (kept on record).")
@click.option("--by", "actor", help="Who removes it.")
@store_option
def phase_remove(name: str, note: str, actor: str | None, store: str) -> None:
    """Remove a phase from the plan (its history stays on record).

    \b
    Example:
        csmine phase remove rollout --note "rollout postponed"
    """
    from event_store import open_store

    from csmine.pilot.phases import remove_phase

    with open_store(store) as s:
        remove_phase(s, name, note=note, actor=actor)
    click.echo(f"removed phase {name}")


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(phase_group)
