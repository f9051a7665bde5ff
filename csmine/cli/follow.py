"""``csmine follow FILE``: tail a growing export into the store or a running ``csmine serve``."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import click

from csmine.cli.options import echo_json, json_option, quiet_option, store_option
from csmine.cli.store import _import_mapping, import_cmd, open_existing

#: The mapping flags of ``csmine import`` that follow takes, the same option objects.
MAPPING_FLAGS = ("preset", "mapping_file", "closed_when", "lifecycle", "case_column", "activity_column",
                 "timestamp_column", "resource_column", "team_column", "start_column", "lifecycle_column",
                 "case_attr", "timestamp_format", "tz", "sep", "encoding", "collapse_repeats", "case_table",
                 "case_key", "case_sep", "case_encoding")


def mapping_options(f: Any) -> Any:
    """Put ``csmine import``'s mapping options (one definition, shared) on a command."""
    params = {p.name: p for p in import_cmd.params}
    for name in reversed(MAPPING_FLAGS):  # a flag import no longer has is left out (a test checks they all are)
        if name in params:
            f.__click_params__ = [*getattr(f, "__click_params__", []), params[name]]
    return f


def _state_dir(store: str, to: str | None) -> str:
    """Next to a SQLite store; for PostgreSQL or --to, $XDG_STATE_HOME/csmine (~/.local/state/csmine)."""
    if to is None and "://" not in store:
        return os.path.dirname(os.path.abspath(store))
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    folder = os.path.join(base, "csmine")
    os.makedirs(folder, exist_ok=True)
    return folder


class _Counter:
    """The live counter on a terminal (rich, on stderr); nothing off one."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled = name, enabled
        self.rows = self.events = self.rejected = self.rotations = 0
        self.live: Any = None

    def __enter__(self) -> _Counter:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._text(), console=Console(file=sys.stderr), refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def _text(self) -> str:
        from rich.markup import escape

        rot = f", {self.rotations:,} rotation{'s' if self.rotations != 1 else ''}" if self.rotations else ""
        return (f"following [bold]{escape(self.name)}[/bold]: {self.rows:,} rows, {self.events:,} new events, "
                f"{self.rejected:,} rejected{rot}")

    def update(self, result: Any) -> None:
        self.rows += result.rows
        self.events += result.events
        self.rejected += len(result.rejected)
        self.rotations += result.rotations
        if self.live is not None:
            self.live.update(self._text())


@click.command("follow")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--format", "follow_format", type=click.Choice(["csv", "ndjson"]),
              help="Default: from the name (.ndjson, .jsonl, .json are NDJSON; anything else CSV).")
@mapping_options
@click.option("--to", "to", metavar="URL",
              help="Post the rows to a running `csmine serve` (its /api/events) instead of writing the store.")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="With --to: the bearer token (a 0600 file; default env CSMINE_TOKEN).")
@click.option("--state", "state_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Where follow keeps its place (default: next to a SQLite store; else in "
                   "$XDG_STATE_HOME/csmine).")
@click.option("--rejects", "rejects_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Where rejected rows go, one JSON line each (default: the state file's name + .rejects.ndjson).")
@click.option("--on-error", type=click.Choice(["reject", "stop"]), default="reject", show_default=True,
              help="A bad row: quarantine it in the rejects file and go on, or stop (exit 3) before its batch.")
@click.option("--once", is_flag=True, help="Read to the current end, record it and stop (cron, tests).")
@click.option("--poll", default=0.5, show_default=True, type=click.FloatRange(min=0.01), metavar="SECONDS",
              help="How often to look for new rows; what arrives in between is one batch.")
@click.option("--retry-for", type=click.FloatRange(min=0), metavar="SECONDS",
              help="With --to: give up after retrying an unreachable server this long (exit 75; default: "
                   "60 with --once, for ever without).")
@json_option
@quiet_option
@store_option
def follow_cmd(path: str, follow_format: str | None, to: str | None, token_file: str | None,
               state_file: str | None, rejects_file: str | None, on_error: str, once: bool, poll: float,
               retry_for: float | None, as_json: bool, quiet: bool, store: str, **flags: Any) -> None:
    """Follow a growing export: record new rows as they are appended.

    FILE is a CSV (any delimiter and encoding `import` reads) or NDJSON; the
    mapping flags are `import`'s. A partly written last line waits until it is
    complete; rotation (a new file under the name, or truncation) is followed; a
    restart resumes after the last recorded row (state file). Bad rows go to the
    rejects file and following goes on (exit 3 only for configuration errors; 75
    when --to could not deliver within --retry-for). Ctrl-C stops after the batch.
    See docs/follow.md.

    \b
    Example:
        csmine follow export.csv --case-column id --activity-column status --tz UTC
        csmine follow export.csv --sep ';' --encoding latin-1 --mapping ours.toml --once
        csmine follow events.ndjson --to http://127.0.0.1:8750 --token-file token
    """
    from csmine.live.follow import default_state_name

    ctx = click.get_current_context()
    imapping = _import_mapping(ctx, flags["mapping_file"], flags["preset"], flags["case_attr"], flags["closed_when"])
    if token_file and not to:
        raise click.UsageError("--token-file goes with --to URL")
    state = state_file or os.path.join(_state_dir(store, to), default_state_name(path))
    total, rejects = _follow(path, imapping, to=to, token_file=token_file, store=store, state=state,
                             retry_for=retry_for if retry_for is not None else (60.0 if once else None),
                             fmt=follow_format, rejects_file=rejects_file, on_error=on_error, poll=poll, once=once,
                             progress=not quiet and sys.stderr.isatty())
    if as_json:
        echo_json({"file": os.path.abspath(path), "rows": total.rows, "events_added": total.events,
                   "rejected": len(total.rejected), "batches": total.batches, "rotations": total.rotations,
                   "offset": total.offset, "waiting_bytes": total.waiting_bytes, "state": state,
                   "rejects": rejects})


def _follow(path: str, imapping: Any, *, to: str | None, token_file: str | None, store: str, state: str,
            retry_for: float | None, fmt: str | None, rejects_file: str | None, on_error: str, poll: float,
            once: bool, progress: bool) -> tuple[Any, str]:
    """Follow until stopped (or to the end with ``once``): the total and the rejects file."""
    from csmine.live.follow import Follower

    stop = threading.Event()
    with _signals(stop), _sink(to, token_file, store, stop, retry_for, imapping) as sink, \
            Follower(path, imapping, sink, state_path=state, fmt=fmt, rejects_path=rejects_file,
                     case_table=_case_table(imapping), on_error=on_error) as follower, \
            _Counter(os.path.basename(path), progress) as counter:

        def each(result: Any) -> None:
            for note in result.notes:
                click.echo(f"note: {note}", err=True)
            for r in result.rejected:
                click.echo(f"rejected {r.reason} (kept in {follower.rejects_path})", err=True)
            counter.update(result)

        total = follower.run(poll=poll, stop=stop, once=once, on_poll=each,
                             on_retry=lambda m: click.echo(f"warning: {m}", err=True))
    return total, follower.rejects_path


def _case_table(imapping: Any) -> Any:
    spec = imapping.case_table
    if spec is None or not spec.file:
        return None
    from event_store.io.case_table import read_case_table

    cols = imapping.columns
    return read_case_table(imapping.case_table_path(), spec.key or cols.case, sep=spec.sep or cols.sep,
                           encoding=spec.encoding or cols.encoding)


class _sink:  # noqa: N801 - a context manager used like a function
    def __init__(self, to: str | None, token_file: str | None, store: str, stop: threading.Event,
                 retry_for: float | None, imapping: Any) -> None:
        self.args = (to, token_file, store, stop, retry_for, imapping)
        self.store: Any = None

    def __enter__(self) -> Any:
        from csmine.live.follow import HttpSink, StoreSink

        to, token_file, store, stop, retry_for, imapping = self.args
        if to is not None:
            from csmine.live.auth import load_tokens

            tokens = load_tokens(token_file, os.environ.get("CSMINE_TOKEN")) \
                if token_file or os.environ.get("CSMINE_TOKEN") else ()
            return HttpSink(to, tokens[0] if tokens else None, retry_for=retry_for, stop=stop,
                            on_retry=lambda m: click.echo(f"warning: {m}", err=True))
        self.store = open_existing(store, create=True)
        self.store.__enter__()
        if imapping.closed_when:
            from event_store.io.mapping import remember_closing

            remember_closing(self.store, imapping.closed_when)
        return StoreSink(self.store)

    def __exit__(self, *exc: Any) -> None:
        if self.store is not None:
            self.store.__exit__(*exc)


class _signals:  # noqa: N801
    """SIGINT and SIGTERM set ``stop``: the follower ends after its current batch."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.old: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.old[sig] = signal.signal(sig, lambda *_: self.stop.set())

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)


def register(cli: click.Group) -> None:
    cli.add_command(follow_cmd)
