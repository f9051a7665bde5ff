"""``csmine serve``: ingest events over HTTP, monitor them live, serve the live page."""

from __future__ import annotations

import os
from typing import Any

import click

from csmine.cli.options import calendar_option, info, preload_pm4py, quiet_option, sop_option, store_option


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
@click.option("--alert-webhook", metavar="URL", help="POST each alert as JSON to this URL (retried, in the background).")
@click.option("--max-body", default="8M", show_default=True, metavar="SIZE", help="Largest request body (413 above).")
@click.option("--tz", "tz_name", default=None, metavar="ZONE",
              help="Time zone of business days (default: the calendar's, else UTC).")
@calendar_option
@quiet_option
@store_option
def serve_cmd(sop_name: str | None, host: str, port: int, token_file: str | None, public_read: bool,
              shares: tuple[float, ...], clock: str, no_stuck: bool, alert_webhook: str | None, max_body: str,
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
    import uvicorn

    from event_store.limits import parse_size
    from process_models import load_sop

    from csmine.errors import LiveError
    from csmine.live.app import ServeConfig, create_app
    from csmine.live.auth import load_tokens
    from csmine.live.engine import EngineConfig, wall_clock

    preload_pm4py()
    tokens = load_tokens(token_file, os.environ.get("CSMINE_TOKEN"))
    if not tokens:
        raise LiveError("no token: writes need one; give --token-file FILE (mode 0600) or set CSMINE_TOKEN")
    try:
        limit = parse_size(max_body)
    except ValueError:
        raise click.BadParameter(f"{max_body!r} is not a size (e.g. 8M)", param_hint="--max-body") from None
    tz_name = tz_name or (calendar.tz if calendar is not None else None)
    tz = _zone(tz_name)
    sop = load_sop(sop_name or "complaint")
    engine = EngineConfig(store=store, sop=sop, shares=shares, calendar=calendar, tz=tz_name,
                          clock=None if clock == "events" else wall_clock, stuck=not no_stuck)
    live = create_app(ServeConfig(engine, tokens, public_read=public_read, max_body=limit, webhook=alert_webhook,
                                  tz=tz, font_cache=_font_cache()))
    info(f"csmine serve: SOP {sop.id}, store {store}, http://{host}:{port}/ "
         f"({'reads open' if public_read else 'reads need a token'})", quiet)
    uvicorn.run(live.app, host=host, port=port, log_level="warning" if quiet else "info",
                timeout_graceful_shutdown=3, access_log=False)


def _font_cache() -> Any:
    """``$XDG_CACHE_HOME/csmine/fonts`` (default ``~/.cache``), as ``csmine report`` keeps them."""
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "csmine" / "fonts"


def _zone(name: str | None) -> Any:
    from datetime import UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name!r}", param_hint="--tz") from None


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(serve_cmd)
