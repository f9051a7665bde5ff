"""The ``csmine`` command line: a root group and one module per command group."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _imports_frozen() -> Iterator[None]:
    """No cyclic garbage collection while a command's modules load, then their objects frozen.

    Importing a command's modules (pandas, numpy, pyarrow, ...) makes hundreds of thousands
    of objects that live as long as the process; collecting while they pile up, and
    traversing them in every later full collection, cost ``conform`` on BPIC 2013 about
    0.1 s of CPU (two full collections, 0.06-0.12 s). ``gc.freeze`` moves them to the
    permanent generation, which collections skip; collection is back on for the command.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


with _imports_frozen():  # the CLI's own modules (click, the store's and the SOPs' libraries)
    import click

    from csmine.cli.errors import EXPECTED_ERRORS, exit_code_for


#: Each command: the module whose ``register(cli)`` adds it, and the first paragraph of its
#: help (what ``csmine --help`` lists, so listing the commands imports none of them; a test
#: checks these against the commands' docstrings). A module is imported when one of its
#: commands runs, so ``csmine conform`` does not pay for the imports of ``csmine serve``.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("csmine.cli.store",
        "Create an empty csmine store (SQLite file or PostgreSQL database)."),
    "open": ("csmine.cli.store",
        "Open a ticket with its case attributes."),
    "record": ("csmine.cli.store",
        "Record one lifecycle step of a ticket (history is accepted as it happened)."),
    "correct": ("csmine.cli.store",
        "Correct fields of one recorded event (version 0: the ticket's attributes)."),
    "retract": ("csmine.cli.store",
        "Mark one recorded event as recorded in error (it stays in history)."),
    "import": ("csmine.cli.store",
        "Import an event log (XES, CSV, Parquet); running it again adds nothing."),
    "export": ("csmine.cli.store",
        "Verify the store, then export it as XES, CSV or Parquet."),
    "stats": ("csmine.cli.store",
        "Tickets, events, activities, variants, time range and attribute counts."),
    "sop": ("csmine.cli.sop",
        "Designed SOP flows: list, show, validate, draw and convert them."),
    "discover": ("csmine.cli.mine",
        "Discover the process map, the variants and (with --bpmn) a BPMN model."),
    "bottlenecks": ("csmine.cli.mine",
        "Where tickets wait: steps, transitions, time limits, handovers, ping-pong, rework."),
    "kpi": ("csmine.cli.mine",
        "Service KPIs against the SOP's targets: first response, resolution, FCR, SLA, ..."),
    "conform": ("csmine.cli.conform",
        "Check the tickets against an SOP: fitness, precision and deviations."),
    "keys": ("csmine.cli.audit",
        "Signing keys for checkpoints (Ed25519; kept in files, never in the store)."),
    "checkpoint": ("csmine.cli.audit",
        "Verify the store, then sign its log size, Merkle root and head into a small JSON file."),
    "verify": ("csmine.cli.audit",
        "Re-hash the stored history against its hash chain, head and a checkpoint, and prove the read "
         "model is exactly the projection of those events."),
    "trace": ("csmine.cli.audit",
        "One ticket's whole history: timeline, waits, SOP limits and deviations, integrity."),
    "audit": ("csmine.cli.audit",
        "Quality spot checks and offline audit packages."),
    "phase": ("csmine.cli.phase",
        "Phases of a pilot (baseline, pilot, rollout, ...): windows of opening time plus a cohort."),
    "compare": ("csmine.cli.compare",
        "Compare two phases (or any two filters): KPIs with 95% bootstrap intervals, conformance per "
         "step, the process map of B against A, variants and bottlenecks."),
    "review": ("csmine.cli.review",
        "The pilot's daily review (--day) or weekly bulletin (--week)."),
    "replay": ("csmine.cli.replay",
        "Replay recorded events in business-time order through online SOP and SLA monitors."),
    "report": ("csmine.cli.report",
        "Write the self-contained HTML report (no network needed to open it)."),
    "demo": ("csmine.cli.report",
        "Simulate a service centre (baseline, pilot, rollout) and write the report."),
    "why": ("csmine.cli.why",
        "Why tickets breach, deviate, reopen or wait: the groups that do it more often."),
    "serve": ("csmine.cli.serve",
        "Serve the live floor: ingest events over HTTP, alert before the breach, show the live page."),
    "watch": ("csmine.cli.watch",
        "Watch a running `csmine serve` in the terminal: open tickets near a limit and the alert feed."),
    "follow": ("csmine.cli.follow",
        "Follow a growing export: record new rows as they are appended."),
}


def _store_of(args: list[str]) -> str:
    """The --store the failed command was given (for the message only)."""
    for i, arg in enumerate(args):
        if arg == "--store" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--store="):
            return arg.split("=", 1)[1]
    return os.environ.get("CSMINE_STORE") or "csmine.db"


class CsmineGroup(click.Group):
    """The root group: commands registered on first use (see :data:`LAZY_COMMANDS`); errors
    turned into a message and an exit code."""

    @property
    def commands(self) -> dict[str, click.Command]:  # type: ignore[override]
        """Every command (imports every command module: for the reference and the tests)."""
        for name in LAZY_COMMANDS:
            self._load(name)
        return self._commands

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._commands = value

    def _load(self, name: str) -> click.Command | None:
        if name not in self._commands and name in LAZY_COMMANDS:
            with _imports_frozen():
                importlib.import_module(LAZY_COMMANDS[name][0]).register(self)
        return self._commands.get(name)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        self._commands[name or cmd.name or ""] = cmd

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*LAZY_COMMANDS, *self._commands})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, from the help summaries in :data:`LAZY_COMMANDS` (no command imported)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            cmd = self._commands.get(name) or click.Command(name, help=LAZY_COMMANDS[name][1])
            if not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        argv = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # consumed by the time an error comes back
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            if debug:
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))
        except OSError as exc:
            if debug:
                raise
            # A file that cannot be written or read (permission, disk full, ...):
            # a message, not a traceback.
            name = exc.filename if exc.filename is not None else "a file"
            what = exc.strerror or str(exc)
            label = repr(str(name)) if exc.filename is not None else name
            click.echo(f"Error: cannot write/read {label}: {what}", err=True)
            ctx.exit(3)
        except Exception as exc:
            # A database failure that reached here untranslated (from a module that
            # talks to the store directly): still a message and its exit code.
            from event_store.persistence.failures import translate

            error = translate(exc, _store_of(argv), "What the command had committed before stays committed "
                                                    "(imports commit whole batches, so running it again is safe).")
            if error is None or debug:
                raise
            click.echo(f"Error: {error}", err=True)
            ctx.exit(exit_code_for(error))


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from event_store.limits import parse_size

    try:
        return parse_size(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size (e.g. 4096, 64K, 10M, 4G)") from None


def _limits(ctx: click.Context, field: int | None, value: int | None, inflated: int | None,
            ratio: float | None) -> None:
    from event_store.limits import InputLimits, use_limits

    given = {k: v for k, v in (("max_field_bytes", field), ("max_value_bytes", value),
                               ("max_inflated_bytes", inflated), ("max_ratio", ratio)) if v is not None}
    if given:
        ctx.with_resource(use_limits(InputLimits(**given)))


@click.group(cls=CsmineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="csmine")
@click.option("--debug", is_flag=True, envvar="CSMINE_DEBUG",
              help="Show the full traceback of any error (env CSMINE_DEBUG=1).")
@click.option("--max-field-bytes", "max_field", metavar="SIZE", callback=_size, envvar="CSMINE_MAX_FIELD_BYTES",
              help="Longest ticket id, activity, actor, team or attribute name accepted (default 4K).")
@click.option("--max-value-bytes", "max_value", metavar="SIZE", callback=_size, envvar="CSMINE_MAX_VALUE_BYTES",
              help="Longest attribute value accepted (default 64K).")
@click.option("--max-inflated-bytes", "max_inflated", metavar="SIZE", callback=_size,
              envvar="CSMINE_MAX_INFLATED_BYTES", help="Largest size a compressed input may inflate to (default 4G).")
@click.option("--max-ratio", type=click.FloatRange(min=1), metavar="X", envvar="CSMINE_MAX_RATIO",
              help="Largest inflated/compressed ratio of a compressed input (default 200).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, max_field: int | None, max_value: int | None, max_inflated: int | None,
        max_ratio: float | None) -> None:
    """csmine: event-sourced process mining for customer-service tickets.

    Record ticket lifecycles as immutable events, mine the process that really
    runs, check it against the designed SOP and find the bottlenecks. Exit codes:
    docs/exit-codes.md (75: try again).

    \b
    Example:
        csmine demo --out report.html
        csmine import tickets.xes.gz && csmine conform --sop complaint
        csmine --max-value-bytes 1M import notes.csv
    """
    _limits(ctx, max_field, max_value, max_inflated, max_ratio)

