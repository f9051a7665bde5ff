"""Auditor commands: keys, checkpoints, verify, trace, and the audit sample / package."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from csmine.cli.options import (
    calendar_option,
    closing_options,
    echo_json,
    filter_options,
    json_option,
    out_folder,
    out_path,
    parse_time,
    preload_pm4py,
    sop_option,
    store_option,
)
from csmine.cli.render import print_text
from csmine.performance.sop_choice import choose_sop


def _key_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "csmine" / "keys"


def _default_key() -> str:
    return str(_key_dir() / "csmine-ed25519.key")


def _open(store: str) -> Any:
    from event_store import open_store

    return open_store(store)


def _sop(name: str | None, df: Any, *, required: bool) -> Any:
    """The SOP asked for, ``none``, or the shipped one that names the log's activities."""
    if not name and (df is None or not len(df)) and not required:
        return None
    model, note = choose_sop(name, df, allow_none=not required, needs="the audit checklist needs an SOP")
    if note and not name:
        click.echo(f"note: {note}", err=True)
    return model


_sop_option = sop_option(default_text="the shipped SOP that names the activities")


# -- keys and checkpoints --------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Signing keys for checkpoints (Ed25519; kept in files, never in the store).

    \b
    Example:
        csmine keys init --out ~/.config/csmine/keys
    """


@keys_group.command("init")
@click.option("--out", "out_dir", type=out_folder, metavar="DIR",
              help="Folder for the key pair (default: ~/.config/csmine/keys).")
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
def keys_init_cmd(out_dir: str | None, force: bool) -> None:
    """Make an Ed25519 key pair for signing checkpoints.

    The private key file gets mode 0600 and is never written to the database;
    give the public key (.pub) to the auditors who check your checkpoints.

    \b
    Example:
        csmine keys init
        csmine keys init --out /secure/csmine-keys
    """
    from event_store.integrity.checkpoint import generate_keys

    keys = generate_keys(out_dir or _key_dir(), overwrite=force)
    click.echo(f"private key: {keys.private} (mode 600; keep it off the database server)")
    click.echo(f"public key:  {keys.public} (give it to auditors)")
    click.echo(f"key id:      {keys.key_id}")


@click.command("checkpoint")
@click.option("--key", "key_path", envvar="CSMINE_KEY", metavar="FILE",
              help="Private key (env CSMINE_KEY; default ~/.config/csmine/keys/csmine-ed25519.key).")
@click.option("--out", "out", type=out_path, metavar="FILE",
              help="Checkpoint file, never overwritten (default csmine-checkpoint-<time>.json; - for stdout).")
@json_option
@store_option
def checkpoint_cmd(key_path: str | None, out: str | None, as_json: bool, store: str) -> None:
    """Verify the store, then sign its log size, Merkle root and head into a small JSON file.

    Keep the file outside the database (git, mail, WORM storage): `csmine verify
    --checkpoint FILE` later proves the first SIZE entries were not changed since.
    An existing file is never replaced (exit code 73): every checkpoint is kept.

    \b
    Example:
        csmine checkpoint --out checkpoints/2025-03-03.json
        csmine checkpoint --key /secure/csmine-ed25519.key --out - | mail -s checkpoint audit@example.com
    """
    from csmine.audit.integrity import sign_checkpoint
    from csmine.reports.text.audit import render_signed

    signed = sign_checkpoint(store, key_path or _default_key(), out)
    if signed.path is None:
        click.echo(signed.checkpoint.to_json(), nl=False)
    elif as_json:
        echo_json(signed.to_dict())
    else:
        print_text(render_signed(signed))


@click.command("verify")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="A checkpoint signed earlier: the first SIZE entries must still hash to its root.")
@click.option("--public-key", "public_key", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="The signer's public key you trust (.pub); the checkpoint must be signed by it.")
@click.option("--fast", is_flag=True,
              help="Compare a random sixteenth of the tickets' read-model rows with the events, not all of them "
                   "(the events are always re-hashed in full).")
@click.option("--rebuild", is_flag=True,
              help="When the read model differs from the events, rebuild it from them and verify again; needs "
                   "--checkpoint and --public-key covering the differences (a rewrite of the events would look "
                   "the same).")
@json_option
@store_option
def verify_cmd(checkpoint_path: str | None, public_key: str | None, fast: bool, rebuild: bool, as_json: bool,
               store: str) -> None:
    """Re-hash the stored history against its hash chain, head and a checkpoint, and
    prove the read model is exactly the projection of those events.

    Names the first ticket and version that does not match and exits with code 5
    when anything was edited, deleted, reordered, inserted or truncated, in the
    events or in the read model that export and the analytics read.

    \b
    Example:
        csmine verify
        csmine verify --checkpoint checkpoints/2025-03-03.json --public-key auditor/csmine-ed25519.pub
        csmine verify --fast
        csmine verify --rebuild --checkpoint checkpoints/2025-03-03.json --public-key csmine-ed25519.pub
    """
    from csmine.audit.integrity import check_verified, verify_location
    from csmine.reports.text.audit import rebuilt_note, render_verify

    done = verify_location(store, checkpoint_path, public_key, fast=fast, rebuild=rebuild)
    if done.rebuilt_from is not None:
        click.echo(rebuilt_note(done.rebuilt_from), err=True)
    if as_json:
        echo_json(done.report.to_dict())
        for warning in done.report.warnings:
            click.echo(f"warning: {warning}", err=True)
    else:
        print_text(render_verify(done.report))
    check_verified(done.report)


# -- trace ---------------------------------------------------------------------------------


@click.command("trace")
@click.argument("ticket")
@click.option("--as-of", "as_of", metavar="TIME", help="The ticket as it stood at this business time.")
@click.option("--known-at", "known_at", type=click.IntRange(min=0), metavar="N",
              help="Only what the store had recorded up to log position N.")
@_sop_option
@calendar_option
@click.option("--html", "html_path", type=out_path, metavar="FILE",
              help="Also write a one-page HTML view (path drawn on the SOP flowchart).")
@click.option("--tie-order", type=click.Choice(["auto", "file"]), default="auto", show_default=True,
              help="Order of steps with the same time: auto (opening/ending names, SOP step order, name) "
                   "or file (record order).")
@closing_options
@json_option
@store_option
def trace_cmd(ticket: str, as_of: str | None, known_at: int | None, sop: str | None, calendar: Any,
              html_path: str | None, tie_order: str, closing: Any, as_json: bool, store: str) -> None:
    """One ticket's whole history: timeline, waits, SOP limits and deviations, integrity.

    Business time and recording time side by side; corrections and retractions
    beside what they correct; the ticket's own alignment with the SOP; its hash
    chain re-hashed, each event proved against the log's Merkle root, and the log's
    chain checked against its recorded head (as `csmine verify` does). A ticket
    not closed yet (the SOP's close step or closed_when, or --closed-when) is open:
    the steps it has still to do are pending, with their due times, not skipped.
    Exits with code 5 (after the output) when any of these integrity checks fails.

    \b
    Example:
        csmine trace CS-1001 --sop complaint --html cs-1001.html
        csmine trace 1-364285768 --sop it-incident --as-of 2010-04-07
        csmine trace CS-1001 --known-at 5000 --json
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.audit.integrity import check_trace
    from csmine.audit.trace import ticket_frame, trace_ticket
    from csmine.reports.text.audit import render_trace

    when = parse_time(as_of, param="--as-of")
    with _open(store) as s:
        model = _sop(sop, ticket_frame(s, ticket), required=False)
        result = trace_ticket(s, ticket, sop=model, as_of=when, known_at=known_at, calendar=calendar,
                              closing=closing, tie_order=tie_order)
    if html_path:
        _write_trace_html(html_path, result, model)
    if as_json:
        echo_json(result.to_dict())
    else:
        print_text(render_trace(result))
    check_trace(result)


def _write_trace_html(path: str, result: Any, model: Any) -> None:
    """``trace --html``: the one-page view, the path drawn on the SOP's flowchart (when there is an SOP)."""
    from event_store.io.files import write_text

    from csmine.reports.graphviz import dot_to_svg
    from csmine.reports.trace_html import render_trace_html, trace_flowchart_dot

    svg = dot_to_svg(trace_flowchart_dot(result, model), what="the ticket's flowchart") if model is not None else None
    write_text(path, render_trace_html(result, flowchart_svg=svg, generated_at=datetime.now(UTC)), force=True)
    click.echo(f"wrote {path}", err=True)


# -- audit sample / export / check ----------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """Quality spot checks and offline audit packages.

    \b
    Example:
        csmine audit sample --rate 0.1 --seed 2025-03-03 --from 2025-03-03 --to 2025-03-04
        csmine audit export CS-1001 --out audit/CS-1001 && csmine audit check audit/CS-1001
    """


@audit_group.command("sample")
@click.option("--rate", type=click.FloatRange(0, 1, min_open=True), default=0.1, show_default=True,
              help="Share of tickets to draw.")
@click.option("--seed", required=True, help="Any text, e.g. the day's date; the same seed draws the same tickets.")
@_sop_option
@calendar_option
@click.option("--inform-within", metavar="DURATION",
              help="Longest silence allowed by 'customer kept informed' (default: SOP target or 24 h).")
@click.option("--out", "out", type=out_path, metavar="FILE.csv|FILE.json",
              help="Also write the checklist as CSV or JSON.")
@click.option("--force", is_flag=True, help="Replace --out if it exists (default: refuse, exit code 73).")
@click.option("--raw", is_flag=True,
              help="CSV: write cells as they are (default: a leading ' before cells a spreadsheet would run as "
                   "formulas).")
@filter_options
@json_option
@store_option
def sample_cmd(rate: float, seed: str, sop: str | None, calendar: Any, inform_within: str | None,
               out: str | None, force: bool, raw: bool, log_filter: Any, as_json: bool, store: str) -> None:
    """Draw a reproducible sample of tickets and run the service checklist on each.

    A ticket is drawn when sha256(seed, ticket) < rate: the same seed gives the same
    tickets, and tickets added later never change who was drawn. Checks: recorded as
    the SOP says, first response in time, customer kept informed, callback done,
    closed properly; each pass/fail with the event ids that show it. The store is
    verified first (events and read model); one that does not verify is refused.

    \b
    Example:
        csmine audit sample --rate 0.1 --seed 2025-03-03 --from 2025-03-03 --to 2025-03-04 --out qa.csv
        csmine audit sample --seed pilot-w1 --phase pilot --sop complaint-v2 --json
    """
    from process_models import parse_duration

    from csmine.audit.integrity import require_verified
    from csmine.audit.sample import audit_sample
    from csmine.eventlog.loading import load_event_log
    from csmine.reports.text.audit import render_sample

    _check_checklist_out(out, force)  # before the work
    with _open(store) as s:
        require_verified(s, "sample")  # the checklist is taken away: the read model it reads must be the events'
        df = load_event_log(s, log_filter)
    model = _sop(sop, df, required=True)
    within = parse_duration(inform_within) if inform_within else None
    result = audit_sample(df, model, rate=rate, seed=seed, inform_within=within, calendar=calendar)
    if out:
        _write_checklist(result, out, raw=raw, force=force)
    if as_json:
        echo_json(result.to_dict())
        return
    print_text(render_sample(result, seed, rate, log_filter.describe()))


def _check_checklist_out(out: str | None, force: bool) -> None:
    """``audit sample --out``: a .csv or .json file, not there yet unless --force."""
    from event_store.io.files import check_new

    if out and not out.lower().endswith((".csv", ".json")):
        raise click.BadParameter(f"{out!r}: write .csv or .json", param_hint="--out")
    if out:
        check_new(out, force)


def _write_checklist(result: Any, out: str, *, raw: bool, force: bool) -> None:
    """The sample's checklist as CSV (one row per ticket) or JSON (the --json document)."""
    from event_store.io.files import write_text

    from csmine.reports.json import dumps

    if out.lower().endswith(".csv"):
        result.write_csv(out, raw=raw, force=force)
    else:
        write_text(out, dumps(result.to_dict()) + "\n", force=force)
    click.echo(f"wrote {out}", err=True)


@audit_group.command("export")
@click.argument("ticket")
@click.option("--out", "out_dir", required=True, type=out_folder, metavar="DIR",
              help="Folder for the package.")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Prove against this checkpoint (default: sign a new one with --key).")
@click.option("--key", "key_path", envvar="CSMINE_KEY", metavar="FILE",
              help="Private key for a new checkpoint (default ~/.config/csmine/keys/csmine-ed25519.key).")
@store_option
def export_cmd(ticket: str, out_dir: str, checkpoint_path: str | None, key_path: str | None, store: str) -> None:
    """Write a ticket's audit package: stored rows, chain links, inclusion proofs, signed checkpoint.

    The package is checked offline, without the database, by `csmine audit check DIR`.

    \b
    Example:
        csmine audit export CS-1001 --out audit/CS-1001
        csmine audit export CS-1001 --out audit/CS-1001 --checkpoint checkpoints/2025-03-03.json
    """
    from event_store.integrity.checkpoint import (
        load_checkpoint,
        load_private_key,
    )
    from event_store.integrity.package import export_package
    from event_store.integrity.verify import issue_checkpoint

    with _open(store) as s:
        if checkpoint_path:
            cp = load_checkpoint(checkpoint_path)
        else:
            cp = issue_checkpoint(s, load_private_key(key_path or _default_key()))
        path = export_package(s, ticket, out_dir, cp)
    click.echo(f"wrote audit package {path} (ticket {ticket}, checkpoint of {cp.issued_at}, "
               f"{cp.size:,} entries, key {cp.key_id})")


@audit_group.command("check")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--public-key", "public_key", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="The signer's public key you trust; the checkpoint must be signed by it.")
@json_option
def check_cmd(folder: str, public_key: str | None, as_json: bool) -> None:
    """Verify an audit package offline: re-hash the rows, follow the proofs, check the signature.

    Exits with code 5 when anything does not verify.

    \b
    Example:
        csmine audit check audit/CS-1001 --public-key csmine-ed25519.pub
    """
    from dataclasses import asdict

    from event_store.integrity.checkpoint import load_public_key
    from event_store.errors import IntegrityError
    from event_store.integrity.package import check_package

    from csmine.reports.text.audit import render_package_check

    trusted = load_public_key(public_key) if public_key else None
    report = check_package(folder, trusted_key=trusted)
    if as_json:
        echo_json({**asdict(report), "ok": report.ok})
    else:
        print_text(render_package_check(report))
    if not report.ok:
        raise IntegrityError(f"audit package {folder} does not verify: {report.problems[0]}")


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    for command in (keys_group, checkpoint_cmd, verify_cmd, trace_cmd, audit_group):
        cli.add_command(command)
