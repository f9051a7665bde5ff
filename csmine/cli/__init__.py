"""The ``csmine`` command line: a root group and one module per command group."""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from csmine.cli.errors import EXPECTED_ERRORS, exit_code_for

#: Each module defines ``register(cli)`` adding its commands to the root group.
COMMAND_MODULES = (
    "csmine.cli.store",
    "csmine.cli.sop",
    "csmine.cli.mine",
    "csmine.cli.conform",
    "csmine.cli.audit",
    "csmine.cli.phase",
    "csmine.cli.compare",
    "csmine.cli.review",
    "csmine.cli.replay",
    "csmine.cli.report",
    "csmine.cli.why",
    "csmine.cli.serve",
    "csmine.cli.watch",
    "csmine.cli.follow",
)


def _store_of(args: list[str]) -> str:
    """The --store the failed command was given (for the message only)."""
    for i, arg in enumerate(args):
        if arg == "--store" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--store="):
            return arg.split("=", 1)[1]
    return os.environ.get("CSMINE_STORE") or "csmine.db"


class CsmineGroup(click.Group):
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


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)
