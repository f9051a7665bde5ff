"""``csmine serve``: ingest events over HTTP, monitor them live, serve the live page."""

from __future__ import annotations

import os
from typing import Any

import click

from csmine.cli.options import calendar_option, info, quiet_option, sop_option, store_option


def _shares(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    if value.strip().lower() in ("", "none", "off"):
        return ()
    out = []
    for part in value.split(","):
        try:
            share = float(part.strip().rstrip("%")) / (100 if part.strip().endswith("%") else 1)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not a share (e.g. 0.5,0.75 or 50%,75%)") from None
        if not 0 < share < 1:
            raise click.BadParameter(f"{part.strip()} must be between 0 and 1 (exclusive); the breach fires at 1")
        out.append(share)
    return tuple(sorted(set(out)))


def _zone(ctx: click.Context, param: click.Parameter, name: str | None) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name.upper() == "UTC":
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name!r}", param_hint="--tz") from None
    return name


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from event_store.limits import parse_size

    try:
        return int(parse_size(value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size (e.g. 8M)", param_hint="--max-body") from None


@click.command("serve")
@sop_option("sop_name", default_text="complaint", help="SOP to monitor: a shipped name or a .toml/.bpmn file")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (0.0.0.0 opens it to the network: put a TLS proxy in front).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="File of bearer tokens (one a line, mode 0600); also env CSMINE_TOKEN.")
@click.option("--public-read", is_flag=True, help="Reads (the page, alerts, open tickets, KPIs) need no token.")
@click.option("--at-risk", "shares", default="0.5,0.75", show_default=True, callback=_shares, metavar="SHARES",
              help="Shares of each limit at which a risk alert fires ('none': breaches only).")
@click.option("--clock", type=click.Choice(["wall", "events"]), default="wall", show_default=True,
              help="wall: deadlines fire on the real clock; events: on the latest event's time "
                   "(to replay history through the server, as `csmine replay` does).")
@click.option("--no-stuck", is_flag=True, help="No stuck-ticket alerts (no event for longer than the step's P90).")
@click.option("--monitors", type=click.Choice(["process", "thread"]), default="process", show_default=True,
              help="Where the monitors run: a child process (its own core) or a thread of serve (one core).")
@click.option("--alert-webhook", metavar="URL", help="POST each alert as JSON to this URL (retried, in the background).")
@click.option("--max-body", default="8M", show_default=True, metavar="SIZE", callback=_size,
              help="Largest request body (413 above).")
@click.option("--tz", "tz_name", default=None, metavar="ZONE", callback=_zone,
              help="Time zone of business days (default: the calendar's, else UTC).")
@calendar_option
@quiet_option
@store_option
def serve_cmd(sop_name: str | None, host: str, port: int, token_file: str | None, public_read: bool,
              shares: tuple[float, ...], clock: str, no_stuck: bool, monitors: str, alert_webhook: str | None,
              max_body: int,
              tz_name: str | None, calendar: Any, quiet: bool, store: str) -> None:
    """Serve the live floor: ingest events over HTTP, alert before the breach, show the live page.

    POST /api/events takes a JSON array or NDJSON of {ticket, activity, timestamp,
    resource?, team?, channel?, priority?, attrs?, event_id?}; it answers 201 once the
    events are durable, and a retry records nothing twice. The monitors are those of
    `csmine replay` (SOP deviations on arrival, SLA risk at each --at-risk share and
    at the breach, on the business calendar) plus stuck tickets; each alert is
    recorded once in the store. GET / is the live page. See docs/live.md.

    \b
    Example:
        csmine serve --sop complaint --token-file ~/.csmine-token --public-read
        csmine serve --store postgresql://csmine@db/csmine --host 0.0.0.0 --port 8080
        csmine serve --sop complaint --clock events --calendar hours=9-18,tz=Asia/Shanghai
    """
    from csmine.live.serve import run_server, serve_config

    config = serve_config(store=store, sop_name=sop_name, token_file=token_file,
                          env_token=os.environ.get("CSMINE_TOKEN"), shares=shares, event_clock=clock == "events", stuck=not no_stuck, webhook=alert_webhook,
                          max_body=max_body, tz_name=tz_name, calendar=calendar, public_read=public_read,
                          font_cache=_font_cache(), monitors=monitors)
    info(f"csmine serve: SOP {config.engine.sop.id}, store {store}, http://{host}:{port}/ "
         f"({'reads open' if public_read else 'reads need a token'})", quiet)
    run_server(config, host, port, quiet=quiet)


def _font_cache() -> Any:
    """``$XDG_CACHE_HOME/csmine/fonts`` (default ``~/.cache``), as ``csmine report`` keeps them."""
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "csmine" / "fonts"


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(serve_cmd)
