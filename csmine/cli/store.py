"""Commands of the write side: init, open, record, correct, retract, import, export, stats."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import click

from csmine.cli.options import (
    closing_options,
    echo_json,
    filter_options,
    json_option,
    out_folder,
    out_path,
    parse_time,
    quiet_option,
    show_progress,
    store_option,
)
from csmine.cli.render import print_text, progress_bar


def open_existing(store: str, *, create: bool = False) -> Any:
    from event_store import open_store

    return open_store(store, create=create)


def _kv(items: tuple[str, ...], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint=what)
        out[key.strip()] = _typed(value)
    return out


def _typed(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _now(value: str | None, param: str) -> datetime:
    """A recorded business time: must carry its zone (a naive time is refused, exit 2)."""
    return parse_time(value, param=param, require_zone=True) or datetime.now(UTC)


@click.command("init")
@store_option
def init_cmd(store: str) -> None:
    """Create an empty csmine store (SQLite file or PostgreSQL database).

    \b
    Example:
        csmine init --store tickets.db
        csmine init --store postgresql://csmine@localhost/csmine
    """
    with open_existing(store, create=True) as s:
        click.echo(f"csmine store ready: {s.location.display}")


@click.command("open")
@click.argument("ticket")
@click.option("--at", "at", metavar="TIME",
              help="Business time it was opened, with its zone, e.g. 2025-03-01T09:00+08:00 (default: now).")
@click.option("--by", "actor", help="Who opened it.")
@click.option("--channel")
@click.option("--category")
@click.option("--priority")
@click.option("--emotion", type=click.Choice(["calm", "dissatisfied", "angry", "anxious"]))
@click.option("--customer", help="Customer reference (pseudonymous).")
@click.option("--team")
@click.option("--region")
@click.option("--attr", multiple=True, metavar="KEY=VALUE", help="Further ticket attribute (repeatable).")
@store_option
def open_cmd(ticket: str, at: str | None, actor: str | None, attr: tuple[str, ...], store: str, **case: Any) -> None:
    """Open a ticket with its case attributes.

    \b
    Example:
        csmine open CS-1001 --channel phone --category complaint --priority P2 --emotion angry
    """
    fields = {k: v for k, v in case.items() if v is not None}
    fields.update(_kv(attr, "--attr"))
    with open_existing(store, create=True) as s:
        s.open_ticket(ticket, _now(at, "--at"), fields, actor=actor)
    click.echo(f"opened {ticket}")


@click.command("record")
@click.argument("ticket")
@click.argument("activity")
@click.option("--at", "at", metavar="TIME",
              help="Business time of the step, with its zone, e.g. 2025-03-01T09:00+08:00 (default: now).")
@click.option("--started", metavar="TIME", help="When work on the step began.")
@click.option("--by", "actor", help="Who did it.")
@click.option("--team", help="Team that did it.")
@click.option("--attr", multiple=True, metavar="KEY=VALUE", help="Step attribute (repeatable).")
@store_option
def record_cmd(ticket: str, activity: str, at: str | None, started: str | None, actor: str | None,
               team: str | None, attr: tuple[str, ...], store: str) -> None:
    """Record one lifecycle step of a ticket (history is accepted as it happened).

    \b
    Example:
        csmine record CS-1001 Record --at 2025-03-03T09:12+08:00 --by A-E-03
        csmine record CS-1001 Callback --attr satisfaction=92
    """
    with open_existing(store) as s:
        version = s.record_activity(ticket, activity, _now(at, "--at"), actor=actor, team=team,
                                    started_at=parse_time(started, param="--started"), attrs=_kv(attr, "--attr"))
    click.echo(f"recorded {ticket} #{version} {activity}")


@click.command("correct")
@click.argument("ticket")
@click.argument("version", type=int)
@click.argument("changes", nargs=-1, required=True, metavar="FIELD=VALUE...")
@click.option("--reason", required=True, help="Why (kept in history).")
@click.option("--by", "actor")
@store_option
def correct_cmd(ticket: str, version: int, changes: tuple[str, ...], reason: str, actor: str | None, store: str) -> None:
    """Correct fields of one recorded event (version 0: the ticket's attributes).

    The original stays in history; the correction is a new event.

    \b
    Example:
        csmine correct CS-1001 3 activity=Handle --reason "mis-keyed step"
        csmine correct CS-1001 0 channel=email --reason "came in by email"
    """
    parsed = _kv(changes, "FIELD=VALUE")
    text_fields = {"activity", "actor", "team", "channel", "category", "priority", "emotion", "customer", "region"}
    for item in changes:
        key, _, raw = item.partition("=")
        if key.strip() in text_fields:
            parsed[key.strip()] = raw
    for key in ("occurred_at", "started_at"):
        if key in parsed:
            parsed[key] = parse_time(str(parsed[key]), param=key)
    with open_existing(store) as s:
        v = s.correct(ticket, version, parsed, reason, actor=actor)
    click.echo(f"corrected {ticket} #{version} (recorded as #{v})")


@click.command("retract")
@click.argument("ticket")
@click.argument("version", type=int)
@click.option("--reason", required=True, help="Why (kept in history).")
@click.option("--by", "actor")
@store_option
def retract_cmd(ticket: str, version: int, reason: str, actor: str | None, store: str) -> None:
    """Mark one recorded event as recorded in error (it stays in history).

    \b
    Example:
        csmine retract CS-1001 4 --reason "duplicate entry"
    """
    with open_existing(store) as s:
        v = s.retract(ticket, version, reason, actor=actor)
    click.echo(f"retracted {ticket} #{version} (recorded as #{v})")


def _sep_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from event_store.errors import ImportFormatError
    from event_store.io.read_base import parse_sep

    try:
        return parse_sep(value, f"--{param.name.replace('_', '-')}" if param.name else "--sep")
    except ImportFormatError as exc:
        raise click.BadParameter(str(exc)) from None


def _list_presets(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from event_store.io.mapping import list_presets

    presets = list_presets()
    width = max(len(name) for name, _ in presets)
    for name, description in presets:
        click.echo(f"{name:<{width}}  {description}")
    ctx.exit(0)


#: --format of a change-record export -> the preset it is read with.
_VENDOR_PRESETS = {"servicenow-audit": "servicenow-audit", "zendesk-audits": "zendesk", "jira-changelog": "jira"}

#: import flags a mapping file can hold: option name -> with_flags key.
_MAPPED_FLAGS = {
    "fmt": "format", "lifecycle": "lifecycle", "collapse_repeats": "collapse_repeats", "case_column": "case",
    "activity_column": "activity", "timestamp_column": "timestamp", "resource_column": "resource",
    "team_column": "team", "start_column": "start", "lifecycle_column": "lifecycle_column",
    "timestamp_format": "timestamp_format", "tz": "tz", "sep": "sep", "encoding": "encoding",
    "case_table": "case_table", "case_key": "case_key", "case_sep": "case_sep", "case_encoding": "case_encoding",
}


def _import_mapping(ctx: click.Context, mapping_file: str | None, preset: str | None, case_attr: tuple[str, ...],
                    closed_when: str | None) -> Any:
    """The mapping in force: the file or preset, with the flags given on the command line on top."""
    from click.core import ParameterSource

    from event_store.io.mapping import ImportMapping, load_preset, read_mapping, with_flags

    if mapping_file and preset:
        raise click.UsageError("give --mapping FILE or --preset NAME, not both")
    fmt = ctx.params.get("fmt")
    if not (mapping_file or preset) and fmt in _VENDOR_PRESETS:
        preset = _VENDOR_PRESETS[fmt]  # --format zendesk-audits reads as --preset zendesk does
    base = read_mapping(mapping_file) if mapping_file else load_preset(preset) if preset else ImportMapping()
    given = {key: ctx.params[name] for name, key in _MAPPED_FLAGS.items()
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    if case_attr:
        given["case_attrs"] = {k: str(v) for k, v in _kv(case_attr, "--case-attr").items()}
    if closed_when:
        given["closed_when"] = tuple(p for p in closed_when.split("|") if p)
    return with_flags(base, **given)


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["xes", "csv", "parquet", "servicenow-audit", "zendesk-audits",
                                                    "jira-changelog"]),
              help="Default: from the file name (or the mapping's format).")
@click.option("--preset", metavar="NAME",
              help="A shipped mapping for a ticket system's export (servicenow, servicenow-audit, zendesk, jira, "
                   "xes-lifecycle, status-log; see --list-presets). Flags override it.")
@click.option("--mapping", "mapping_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="A mapping file (TOML, docs/mapping-files.md) with the columns, time format, renames, ... "
                   "Flags override it.")
@click.option("--list-presets", is_flag=True, is_eager=True, expose_value=False, callback=_list_presets,
              help="List the shipped presets and exit.")
@click.option("--print-mapping", is_flag=True,
              help="Print the mapping the flags (and --mapping/--preset) describe, as TOML, and import nothing.")
@click.option("--closed-when", "closed_when", metavar="STATES",
              help="States that close a ticket, '|'-separated (kept in the mapping; the import counts closed "
                   "tickets).")
@click.option("--lifecycle", type=click.Choice(["auto", "status", "start-complete", "ignore"]), default="auto",
              show_default=True, help="How to read lifecycle:transition: statuses become part of the activity.")
@click.option("--case-column", default="case:concept:name", show_default=True)
@click.option("--activity-column", default="concept:name", show_default=True)
@click.option("--timestamp-column", default="time:timestamp", show_default=True)
@click.option("--resource-column", default="org:resource", show_default=True)
@click.option("--team-column", default="org:group", show_default=True)
@click.option("--start-column", default="start_timestamp", show_default=True)
@click.option("--lifecycle-column", default="lifecycle:transition", show_default=True)
@click.option("--case-attr", multiple=True, metavar="ATTR=COLUMN", help="Ticket attribute from a column (repeatable).")
@click.option("--timestamp-format", help="strptime format, e.g. '%d.%m.%Y %H:%M' (default ISO 8601).")
@click.option("--tz", help="Time zone for naive timestamps, e.g. UTC or Asia/Shanghai.")
@click.option("--sep", metavar="SEP", callback=_sep_option,
              help="CSV delimiter: one character, or 'tab' (default: detected among , ; tab | from the first "
                   "64 KB; tab for .tsv).")
@click.option("--encoding", metavar="ENC",
              help="CSV text encoding, e.g. latin-1, cp1252, utf-16 (default: UTF-8, or what a byte-order mark "
                   "says).")
@click.option("--collapse-repeats/--no-collapse-repeats", default=False,
              help="Merge consecutive rows of a ticket (in time order) with the same activity into the first; "
                   "that step gets last_at (the last row's time) and repeats (how many rows it stands for). "
                   "--no-collapse-repeats overrides a preset or mapping that collapses.")
@click.option("--case-table", metavar="FILE", type=click.Path(dir_okay=False),
              help="CSV or Parquet with one row per ticket: every other column becomes a case attribute "
                   "(its values win over the events file's).")
@click.option("--case-key", metavar="COLUMN",
              help="Ticket id column of --case-table (default: the --case-column name).")
@click.option("--case-sep", metavar="SEP", callback=_sep_option,
              help="Delimiter of --case-table (default: --sep if given, else detected).")
@click.option("--case-encoding", metavar="ENC",
              help="Encoding of --case-table (default: --encoding if given, else a byte-order mark, else UTF-8).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1),
              help="Tickets per transaction.")
@json_option
@quiet_option
@store_option
def import_cmd(path: str, fmt: str | None, preset: str | None, mapping_file: str | None, print_mapping: bool,
               closed_when: str | None, lifecycle: str, case_column: str, activity_column: str,
               timestamp_column: str, resource_column: str, team_column: str, start_column: str,
               lifecycle_column: str, case_attr: tuple[str, ...], timestamp_format: str | None, tz: str | None,
               sep: str | None, encoding: str | None, collapse_repeats: bool, case_table: str | None,
               case_key: str | None, case_sep: str | None, case_encoding: str | None,
               batch_size: int, as_json: bool, quiet: bool, store: str) -> None:
    """Import an event log (XES, CSV, Parquet); running it again adds nothing.

    Rows are put in business-time order inside each ticket, so the row order of the
    file does not matter. Running it again with changed case attributes records the
    changes (the earlier values stay in the history).

    \b
    Example:
        csmine import BPI_Challenge_2013_incidents.xes.gz
        csmine import tickets.csv --case-column id --activity-column step \\
            --timestamp-column at --tz Asia/Shanghai --case-attr channel=Channel
        csmine import export.csv --sep ';' --encoding latin-1 --collapse-repeats
        csmine import events.csv --case-table customers.parquet --case-key ticket_id
        csmine import incidents.csv --preset servicenow
        csmine import audits.json --preset zendesk --tz UTC
        csmine import export.csv --case-column id --activity-column status --print-mapping > ours.toml
        csmine import export.csv --mapping ours.toml
    """
    from event_store.io.import_file import read_file, record_read
    from event_store.io.importing import count_events

    from csmine.reports.text.store import render_import

    imapping = _import_mapping(click.get_current_context(), mapping_file, preset, case_attr, closed_when)
    if print_mapping:
        _print_mapping(imapping, path)
        return
    read, histories, case_table = read_file(path, imapping)
    total = count_events(histories)  # a columnar read is counted without building its tickets
    with open_existing(store, create=True) as s, progress_bar("importing", total, show_progress(quiet)) as advance:
        done = record_read(s, imapping, read, histories, case_table, batch_size=batch_size,
                           progress=lambda t, e: advance(e))
    if as_json:
        for note in read.notes:
            click.echo(f"warning: {note}", err=True)
        named = (imapping.name or imapping.source) if (mapping_file or preset) else None
        echo_json(done.to_dict(with_mapping=named))
        return
    print_text(render_import(path, done, imapping))


def _print_mapping(imapping: Any, path: str) -> None:
    import dataclasses as dc

    from event_store.errors import ImportFormatError
    from event_store.io.read_base import detect_format
    from event_store.io.mapping_dump import dump_mapping as dump
    from event_store.io.vendors import detect_dialect as detect

    if imapping.format is None:
        try:
            imapping = dc.replace(imapping, format=detect_format(path))
        except ImportFormatError:  # a name that says nothing: leave the format out
            pass
    click.echo(dump(imapping, detected=detect(path, imapping)), nl=False)


@click.command("export")
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["xes", "csv", "parquet"]), help="Default: from the file name.")
@click.option("--view", type=click.Choice(["corrected", "recorded"]), default="corrected", show_default=True,
              help="With corrections applied, or every event as first recorded.")
@click.option("--force", is_flag=True, help="Replace PATH if it exists (default: refuse, exit code 73).")
@click.option("--raw", is_flag=True,
              help="CSV: write cells as they are; by default cells starting with = + - @ tab or CR get a leading "
                   "' so a spreadsheet does not run them as formulas (csmine import takes it off again).")
@click.option("--partition", type=click.Choice(["month"]),
              help="Parquet: PATH is a folder of Hive-style partitions (month=YYYY-MM/, by the month each "
                   "ticket was opened) with a manifest; written again only where tickets are new or changed.")
@click.option("--full", "full_rewrite", is_flag=True, help="With --partition: rewrite every partition.")
@quiet_option
@store_option
def export_cmd(path: str, fmt: str | None, view: str, force: bool, raw: bool, partition: str | None,
               full_rewrite: bool, quiet: bool, store: str) -> None:
    """Verify the store, then export it as XES, CSV or Parquet.

    The events are re-hashed and the read model compared with them first, in the
    snapshot that is exported; a store that does not verify is not exported
    (exit code 5). A CSV gets a manifest, PATH.csmine.json (checksum, log size and
    Merkle root it was verified against). With --partition, PATH is a folder that
    engines read (`--engine duckdb|spark --parquet PATH`): events/ and tickets/ in
    month partitions and manifest.json (the verified log size and Merkle root, event
    and ticket counts, per-partition counts and SHA-256).

    \b
    Example:
        csmine export tickets.xes.gz
        csmine export raw.parquet --view recorded
        csmine export tickets.csv --force
        csmine export lake/ --format parquet --partition month
    """
    ctx = click.get_current_context()
    if partition is not None:
        _export_partitioned(out_folder.convert(path, None, ctx), fmt, view, partition, full_rewrite, quiet, store)
        return
    path = out_path.convert(path, None, ctx)
    from event_store.io.export import export_store
    from event_store.io.files import check_new
    from event_store.readmodel.queries import ticket_count

    check_new(path, force)
    with open_existing(store) as s:
        n = ticket_count(s)
        with progress_bar("exporting", n, show_progress(quiet)) as advance:
            tickets, events = export_store(s, path, fmt=fmt, view=view, progress=advance, force=force, raw=raw)
    click.echo(f"exported {tickets:,} tickets, {events:,} events to {path} (verified)")


def _export_partitioned(path: str, fmt: str | None, view: str, partition: str, full_rewrite: bool, quiet: bool,
                        store: str) -> None:
    from event_store.io.parquet_export import export_parquet

    if fmt not in (None, "parquet") or view != "corrected":
        raise click.UsageError("--partition writes Parquet of the corrected view: use --format parquet "
                               "(or leave it out) and --view corrected")
    with open_existing(store) as s, progress_bar("exporting partitions", None, show_progress(quiet)) as advance:
        done = export_parquet(s, path, partition=partition, full=full_rewrite, progress=advance)
    click.echo(f"exported {done.tickets:,} tickets, {done.events:,} events in {done.partitions:,} partitions to "
               f"{path} ({len(done.written):,} written, {done.partitions - len(done.written):,} unchanged; verified)")


@click.command("stats")
@filter_options
@closing_options
@json_option
@store_option
def stats_cmd(log_filter: Any, closing: Any, as_json: bool, store: str) -> None:
    """Tickets, events, activities, variants, time range and attribute counts.

    \b
    Example:
        csmine stats
        csmine stats --channel phone --json
    """
    from csmine.eventlog.loading import load_event_log
    from csmine.mining.stats import compute_stats
    from csmine.reports.text.store import render_stats

    with open_existing(store) as s:
        stats = compute_stats(load_event_log(s, log_filter), closing)
    if as_json:
        echo_json(dataclasses.asdict(stats))
        return
    print_text(render_stats(stats, log_filter.describe(), log_filter.tie_order))


def register(cli: click.Group) -> None:
    for command in (init_cmd, open_cmd, record_cmd, correct_cmd, retract_cmd, import_cmd, export_cmd, stats_cmd):
        cli.add_command(command)
