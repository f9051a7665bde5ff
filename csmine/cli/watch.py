"""``csmine watch``: a running ``csmine serve``'s open tickets near a limit and its alerts, in the terminal."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from datetime import tzinfo
from typing import Any

import click

from csmine.cli.options import tz_option


def _get(url: str, path: str, token: str | None) -> Any:
    from csmine.errors import LiveError

    req = urllib.request.Request(url.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise LiveError(f"{url} needs a token: give --token-file FILE or set CSMINE_TOKEN "
                            "(or start serve with --public-read)") from None
        raise LiveError(f"{url}{path} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LiveError(f"cannot reach csmine serve at {url}: {getattr(exc, 'reason', exc)} "
                        "(is it running? check --url)") from None


def _token(token_file: str | None) -> str | None:
    if token_file:
        from csmine.live.auth import load_tokens

        return load_tokens(token_file, None)[0]
    return os.environ.get("CSMINE_TOKEN") or None


@click.command("watch")
@click.option("--url", default="http://127.0.0.1:8765", show_default=True, help="The running `csmine serve`.")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Bearer token file (mode 0600); also env CSMINE_TOKEN.")
@click.option("--near", type=click.FloatRange(0, 10), default=0.5, show_default=True,
              help="List open tickets whose next limit is at least this share used up.")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True,
              help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print the tables once and exit (for scripts).")
@tz_option
def watch_cmd(url: str, token_file: str | None, near: float, interval: float, once: bool, tz: tzinfo) -> None:
    """Watch a running `csmine serve` in the terminal: open tickets near a limit and the alert feed.

    A supervisor's view without a browser: the tickets whose next SOP limit is at
    least --near used up (most urgent first) and the latest alerts, refreshed every
    --interval seconds (Ctrl-C to stop).

    \b
    Example:
        csmine watch --url http://127.0.0.1:8765 --token-file ~/.csmine-token
        csmine watch --once --near 0.75 --tz Asia/Shanghai
    """
    from csmine.cli.render import print_text
    from csmine.reports.text.live import render_watch

    token = _token(token_file)

    def frame() -> Any:
        opened = _get(url, "/api/open", token)
        alerts = _get(url, "/api/alerts", token)["alerts"]
        return render_watch(opened, alerts, tz, near=near)

    if once:
        print_text(frame())
    else:
        _live(frame, interval)


def _live(frame: Any, interval: float) -> None:
    """Redraw ``frame()`` every ``interval`` seconds until Ctrl-C."""
    from rich.console import Group
    from rich.live import Live

    from csmine.cli.render import console, rich_table

    with Live(console=console(), refresh_per_second=4, screen=False) as live:
        try:
            while True:
                text = frame()
                live.update(Group(*[rich_table(b) for b in text.blocks if not isinstance(b, str)]))
                time.sleep(interval)
        except KeyboardInterrupt:
            return


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(watch_cmd)
