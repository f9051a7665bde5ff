"""Auditor commands: keys, checkpoints, verify, trace, and the audit sample / package."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from csmine.cli.options import (
    choose_sop,
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
    to_jsonable,
)
from csmine.cli.render import console, table


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


def _calendar(spec: str | None) -> Any:
    from csmine.calendar import parse_calendar

    return parse_calendar(spec)


_sop_option = sop_option(default_text="the shipped SOP that names the activities")
_calendar_option = click.option(
    "--calendar", "calendar_spec", metavar="SPEC",
    help="Business calendar for SOP clocks, e.g. hours=8-20,days=mon-fri,tz=Asia/Shanghai.")


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
    from event_store.checkpoint import generate_keys

    keys = generate_keys(out_dir or _key_dir(), overwrite=force)
    click.echo(f"private key: {keys.private} (mode 600; keep it off the database server)")
    click.echo(f"public key:  {keys.public} (give it to auditors)")
    click.echo(f"key id:      {keys.key_id}")


@click.command("checkpoint")
@click.option("--key", "key_path", envvar="CSMINE_KEY", metavar="FILE",
              help="Private key (env CSMINE_KEY; default ~/.config/csmine/keys/csmine-ed25519.key).")
@click.option("--out", "out", type=out_path, metavar="FILE", help="Checkpoint file (default csmine-checkpoint-<time>.json; - for stdout).")
@json_option
@store_option
def checkpoint_cmd(key_path: str | None, out: str | None, as_json: bool, store: str) -> None:
    """Verify the store, then sign its log size, Merkle root and head into a small JSON file.

    Keep the file outside the database (git, mail, WORM storage): `csmine verify
    --checkpoint FILE` later proves the first SIZE entries were not changed since.

    \b
    Example:
        csmine checkpoint --out checkpoints/2025-03-03.json
        csmine checkpoint --key /secure/csmine-ed25519.key --out - | mail -s checkpoint audit@example.com
    """
    from event_store.checkpoint import (
        issue_checkpoint,
        load_private_key,
        write_checkpoint,
    )

    key = load_private_key(key_path or _default_key())
    with _open(store) as s:
        cp = issue_checkpoint(s, key)
    if out == "-":
        click.echo(cp.to_json(), nl=False)
        return
    path = out or f"csmine-checkpoint-{cp.issued_at.replace(':', '').replace('-', '')}.json"
    write_checkpoint(cp, path)
    if as_json:
        echo_json({"file": path, **cp.body(), "signature": cp.signature})
        return
    click.echo(f"signed checkpoint {path}: {cp.size:,} entries, root {cp.root}, key {cp.key_id}, {cp.issued_at}")


@click.command("verify")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="A checkpoint signed earlier: the first SIZE entries must still hash to its root.")
@click.option("--public-key", "public_key", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="The signer's public key you trust (.pub); the checkpoint must be signed by it.")
@json_option
@store_option
def verify_cmd(checkpoint_path: str | None, public_key: str | None, as_json: bool, store: str) -> None:
    """Re-hash the stored history against its hash chain, head and a checkpoint.

    Names the first ticket and version that does not match and exits with code 5
    when anything was edited, deleted, reordered, inserted or truncated.

    \b
    Example:
        csmine verify
        csmine verify --checkpoint checkpoints/2025-03-03.json --public-key auditor/csmine-ed25519.pub
    """
    from event_store.checkpoint import load_checkpoint, load_public_key
    from event_store.errors import IntegrityError
    from event_store.verify import verify_store

    cp = load_checkpoint(checkpoint_path) if checkpoint_path else None
    trusted = load_public_key(public_key) if public_key else None
    with _open(store) as s:
        report = verify_store(s, cp, trusted_key=trusted)
    if as_json:
        echo_json(report.to_dict())
    else:
        _print_verify(report)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not report.ok:
        first = report.first
        assert first is not None
        raise IntegrityError(
            f"{report.store} does not verify: {len(report.findings) + report.more} problem(s); first: {first.message}")


def _print_verify(report: Any) -> None:
    out = console()
    verdict = "[bold]OK[/bold]" if report.ok else "[bold]TAMPERED[/bold]"
    out.print(f"{verdict} {report.store}: {report.events:,} events re-hashed, {report.chain_rows:,} chain links, "
              f"head at {report.head_size:,} ({report.seconds:.1f} s)")
    out.print(f"Merkle root of {report.size:,} entries: {report.root}")
    cp = report.checkpoint
    if cp is not None:
        key = "key pinned" if cp.key_trusted else "key NOT the pinned one" if cp.key_trusted is False \
            else "key not pinned"
        out.print(f"checkpoint of {cp.issued_at} ({cp.size:,} entries, key {cp.key_id}, {key}): signature "
                  f"{'valid' if cp.signature_valid else 'INVALID'}, root {'matches' if cp.root_matches else 'DIFFERS'}"
                  + (f" (first difference in entries {cp.differs_from:,}-{cp.differs_to:,})"
                     if cp.differs_from else ""))
    if report.findings:
        rows = [[f.kind, "" if f.position is None else f.position, f.ticket or "",
                 "" if f.version is None else f.version, f.message] for f in report.findings[:50]]
        out.print(table(["problem", "log pos.", "ticket", "version", "what"], rows,
                        title=f"{len(report.findings) + report.more} problem(s), first in log order first"))


# -- trace ---------------------------------------------------------------------------------


@click.command("trace")
@click.argument("ticket")
@click.option("--as-of", "as_of", metavar="TIME", help="The ticket as it stood at this business time.")
@click.option("--known-at", "known_at", type=click.IntRange(min=0), metavar="N",
              help="Only what the store had recorded up to log position N.")
@_sop_option
@_calendar_option
@click.option("--html", "html_path", type=out_path, metavar="FILE",
              help="Also write a one-page HTML view (path drawn on the SOP flowchart).")
@click.option("--tie-order", type=click.Choice(["auto", "file"]), default="auto", show_default=True,
              help="Order of steps with the same time: auto (opening/ending names, SOP step order, name) "
                   "or file (record order).")
@closing_options
@json_option
@store_option
def trace_cmd(ticket: str, as_of: str | None, known_at: int | None, sop: str | None, calendar_spec: str | None,
              html_path: str | None, tie_order: str, closing: Any, as_json: bool, store: str) -> None:
    """One ticket's whole history: timeline, waits, SOP limits and deviations, integrity.

    Business time and recording time side by side; corrections and retractions
    beside what they correct; the ticket's own alignment with the SOP; its hash
    chain re-hashed and each event proved against the log's Merkle root. A ticket
    not closed yet (the SOP's close step or closed_when, or --closed-when) is open:
    the steps it has still to do are pending, with their due times, not skipped.

    \b
    Example:
        csmine trace CS-1001 --sop complaint --html cs-1001.html
        csmine trace 1-364285768 --sop it-incident --as-of 2010-04-07
        csmine trace CS-1001 --known-at 5000 --json
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.trace import trace_ticket

    when = parse_time(as_of, param="--as-of")
    with _open(store) as s:
        model = _sop(sop, _ticket_frame(s, ticket), required=False)
        result = trace_ticket(s, ticket, sop=model, as_of=when, known_at=known_at, calendar=_calendar(calendar_spec),
                              closing=closing, tie_order=tie_order)
    if html_path:
        from csmine.render.trace_html import (
            dot_to_svg,
            render_trace_html,
            trace_flowchart_dot,
        )

        svg = dot_to_svg(trace_flowchart_dot(result, model)) if model is not None else None
        Path(html_path).write_text(render_trace_html(result, flowchart_svg=svg, generated_at=datetime.now(UTC)),
                                   encoding="utf-8")
        click.echo(f"wrote {html_path}", err=True)
    if as_json:
        echo_json(result.to_dict())
        return
    _print_trace(result)


def _ticket_frame(store: Any, ticket: str) -> Any:
    import pandas as pd

    rows = store.db.query("SELECT activity FROM event_log WHERE ticket = ? AND retracted = 0", (ticket,))
    return pd.DataFrame({"concept:name": [r[0] for r in rows]})


def _when(value: datetime) -> str:
    """A time in its own offset, to the second (``2025-03-03 09:00:00+08``)."""
    text = value.strftime("%Y-%m-%d %H:%M:%S%z")
    return text[:-2] if text.endswith("00") and len(text) > 19 else text


def _print_trace(t: Any) -> None:
    from csmine.render import human_duration

    out = console()
    out.print(f"[bold]Ticket {t.ticket}[/bold] opened {t.opened_at.isoformat()} "
              f"(recorded {t.opened_recorded_at.isoformat(timespec='seconds')}, log position {t.opened_event_id})"
              + (f" · SOP {t.sop} v{t.sop_version}" if t.sop else ""))
    views = []
    if t.as_of is not None:
        views.append(f"as of {t.as_of.isoformat()}")
    if t.known_at is not None:
        views.append(f"as known at log position {t.known_at}")
    if t.hidden:
        views.append(f"{t.hidden} later event(s) not shown")
    if views:
        out.print("view: " + "; ".join(views))
    attrs = ", ".join(f"{k}={v}" + (f" (was {t.case_original[k]})" if k in t.case_original else "")
                      for k, v in t.case.items())
    if attrs:
        out.print(f"attributes: {attrs}")
    out.print(_status_line(t), highlight=False)
    rows = []
    n = 0
    for s in t.steps:
        if s.retracted is None:
            n += 1
        activity = s.activity + (f" (was {s.original['activity']})" if "activity" in s.original else "")
        verdict = "retracted" if s.retracted else (s.deviation.replace("_", " ") if s.deviation else "")
        rows.append([n if s.retracted is None else "", s.version, s.event_id,
                     _when(s.occurred_at), _when(s.recorded_at),
                     activity, s.step or "", s.actor or "", s.team or "", human_duration(s.wait_s),
                     "; ".join(f"{k}={v}" for k, v in s.attrs.items() if v is not None), verdict])
        for a in (*s.corrections, *((s.retracted,) if s.retracted else ())):
            what = ", ".join(f"{k}: {s.original.get(k)} → {v}" for k, v in a.changes.items()) \
                if a.kind == "corrected" else "retracted"
            rows.append(["", a.version, a.event_id, _when(a.occurred_at), _when(a.recorded_at), f"↳ {what}", "",
                         a.actor or "",
                         "", "", a.reason, ""])
    from rich.table import Table

    timeline = Table(title=f"timeline ({n} steps)", title_justify="left", header_style="bold")
    for name, justify, nowrap in (("#", "right", True), ("ver", "right", True), ("pos", "right", True),
                                  ("business time", "left", True), ("recorded", "left", True),
                                  ("activity", "left", False), ("SOP step", "left", False),
                                  ("actor", "left", False), ("team", "left", False), ("wait", "right", True),
                                  ("attributes", "left", False), ("verdict", "left", False)):
        timeline.add_column(name, justify=justify, no_wrap=nowrap, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        timeline.add_row(*[str(c) for c in row])
    out.print(timeline)
    if t.limits:
        out.print(table(["limit", "since", "within", "took", "status"], [
            [lim.step, lim.since, human_duration(lim.within_s), human_duration(lim.elapsed_s),
             "overdue" if lim.overdue else "BREACHED" if lim.breached else "met"] for lim in t.limits],
            title=f"SOP time limits ({t.breaches} breached)"))
    if t.sop is not None:
        devs = [m for m in t.moves if m.deviation is not None and (m.move != "model" or m.deviation == "skipped")]
        fit = f", fitness {t.fitness:.2f}" if t.fitness is not None else ""
        so_far = " so far" if t.status == "open" else ""
        if devs:
            out.print(table(["deviation", "step", "pos", "what"], [
                [m.deviation, m.label, "" if m.event_id is None else m.event_id, m.description] for m in devs],
                title=f"deviations from SOP {t.sop}{so_far}{fit}"))
        else:
            out.print(f"follows SOP {t.sop}{so_far}: no deviation{fit}")
    if t.pending:
        end = f" (as of {_when(t.log_end)}, the end of the log)" if t.log_end is not None else ""
        out.print(table(["pending step", "", "time limit", "due", "status"], [
            [p.label, "required" if p.required else "one option", _limit_text(p),
             _when(p.due_at) if p.due_at is not None else "", _pending_status(p)] for p in t.pending],
            title=f"pending: the next steps SOP {t.sop} expects{end}"))
    elif t.status == "open" and t.sop is not None:
        out.print(f"pending: nothing — the SOP run is complete, but the ticket is not closed ({t.closing_rule})")
    if t.integrity is not None:
        i = t.integrity
        out.print(f"integrity: chain {'verified' if i.chain_ok else 'BROKEN'} ({i.events} events re-hashed), "
                  f"inclusion proofs {'verified' if i.proofs_ok else 'FAILED'} against the root of "
                  f"{i.tree_size:,} entries {i.root[:16]}…")
        for p in i.problems:
            out.print(f"  problem: {p}")


def _status_line(t: Any) -> str:
    """The ticket's status in one line: open or closed, stale, and the rule used."""
    from csmine.render import human_duration

    if not t.closing_known:
        return f"status: counted as ended — {t.closing_rule}"
    if t.status == "closed":
        return f"status: closed — {t.closing_rule}"
    quiet = ""
    if t.stale and t.log_end is not None and t.effective_steps:
        last = t.effective_steps[-1].occurred_at
        quiet = f", stale: no event for {human_duration((t.log_end - last).total_seconds())}"
    return f"status: open{quiet} — {t.closing_rule}"


def _limit_text(p: Any) -> str:
    from csmine.render import human_duration

    if p.within_s is None:
        return "none"
    clock = " business" if p.business_hours else ""
    return f"{human_duration(p.within_s)}{clock} since {p.since}"


def _pending_status(p: Any) -> str:
    if p.overdue:
        return "OVERDUE"
    if p.due_at is not None:
        return "due"
    return p.note or ("no limit" if p.within_s is None else "")


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
@_calendar_option
@click.option("--inform-within", metavar="DURATION",
              help="Longest silence allowed by 'customer kept informed' (default: SOP target or 24 h).")
@click.option("--out", "out", type=out_path, metavar="FILE.csv|FILE.json",
              help="Also write the checklist as CSV or JSON.")
@filter_options
@json_option
@store_option
def sample_cmd(rate: float, seed: str, sop: str | None, calendar_spec: str | None, inform_within: str | None,
               out: str | None, log_filter: Any, as_json: bool, store: str) -> None:
    """Draw a reproducible sample of tickets and run the service checklist on each.

    A ticket is drawn when sha256(seed, ticket) < rate: the same seed gives the same
    tickets, and tickets added later never change who was drawn. Checks: recorded as
    the SOP says, first response in time, customer kept informed, callback done,
    closed properly; each pass/fail with the event ids that show it.

    \b
    Example:
        csmine audit sample --rate 0.1 --seed 2025-03-03 --from 2025-03-03 --to 2025-03-04 --out qa.csv
        csmine audit sample --seed pilot-w1 --phase pilot --sop complaint-v2 --json
    """
    from csmine.audit import CHECK_WORDS, CHECKS, audit_sample
    from csmine.eventlog import load_event_log
    from process_models import parse_duration

    if out and not out.lower().endswith((".csv", ".json")):
        raise click.BadParameter(f"{out!r}: write .csv or .json", param_hint="--out")
    with _open(store) as s:
        df = load_event_log(s, log_filter)
    model = _sop(sop, df, required=True)
    within = parse_duration(inform_within) if inform_within else None
    result = audit_sample(df, model, rate=rate, seed=seed, inform_within=within, calendar=_calendar(calendar_spec))
    if out:
        if out.lower().endswith(".csv"):
            result.to_frame().to_csv(out, index=False)
        else:
            Path(out).write_text(json.dumps(to_jsonable(result.to_dict()), ensure_ascii=False, indent=2, allow_nan=False)
                                 + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    if as_json:
        echo_json(result.to_dict())
        return
    o = console()
    o.print(f"[bold]sample[/bold] seed {seed!r}, rate {rate:g}: {result.selected:,} of {result.population:,} "
            f"tickets ({log_filter.describe()}), SOP {result.sop} v{result.sop_version}")
    o.print(table(["check", "passed", "failed", "n/a"], [
        [CHECK_WORDS[c], result.summary[c]["passed"], result.summary[c]["failed"], result.summary[c]["not_applicable"]]
        for c in CHECKS]))
    mark = {True: "pass", False: "FAIL", None: "-"}
    rows = []
    for t in result.tickets:
        failed = "; ".join(f"{c.check}: {c.detail} [{' '.join(map(str, c.evidence))}]"
                           for c in t.checks if c.passed is False)
        rows.append([t.ticket, mark[t.passed], *[mark[c.passed] for c in t.checks], failed])
    o.print(table(["ticket", "verdict", "SOP", "1st resp.", "informed", "callback", "closed", "failures (event ids)"],
                  rows))


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
    from event_store.checkpoint import (
        issue_checkpoint,
        load_checkpoint,
        load_private_key,
    )
    from event_store.verify import export_package

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

    from event_store.checkpoint import load_public_key
    from event_store.errors import IntegrityError
    from event_store.verify import check_package

    trusted = load_public_key(public_key) if public_key else None
    report = check_package(folder, trusted_key=trusted)
    if as_json:
        echo_json({**asdict(report), "ok": report.ok})
    else:
        key = "pinned key" if report.key_trusted else "NOT the pinned key" if report.key_trusted is False \
            else "key not pinned (give --public-key)"
        click.echo(f"{'OK' if report.ok else 'FAILED'} ticket {report.ticket}: {report.events} events re-hashed "
                   f"and proved against the checkpoint of {report.issued_at} ({report.checkpoint_size:,} entries, "
                   f"key {report.key_id}, {key}); signature {'valid' if report.signature_valid else 'INVALID'}")
        for p in report.problems:
            click.echo(f"  problem: {p}")
    if not report.ok:
        raise IntegrityError(f"audit package {folder} does not verify: {report.problems[0]}")


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    for command in (keys_group, checkpoint_cmd, verify_cmd, trace_cmd, audit_group):
        cli.add_command(command)
