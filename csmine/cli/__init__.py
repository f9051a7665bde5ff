"""The ``csmine`` command line: a root group and one module per command group."""

from __future__ import annotations

import importlib
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
    "csmine.cli.pilot",
    "csmine.cli.report",
)


class CsmineGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))
        except OSError as exc:
            # A file that cannot be written or read (permission, disk full, ...):
            # a message, not a traceback.
            name = exc.filename if exc.filename is not None else "a file"
            what = exc.strerror or str(exc)
            label = repr(str(name)) if exc.filename is not None else name
            click.echo(f"Error: cannot write/read {label}: {what}", err=True)
            ctx.exit(3)


@click.group(cls=CsmineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="csmine")
def cli() -> None:
    """csmine: event-sourced process mining for customer-service tickets.

    Record ticket lifecycles as immutable events, mine the process that really
    runs, check it against the designed SOP and find the bottlenecks.

    \b
    Example:
        csmine demo --out report.html
        csmine import tickets.xes.gz && csmine conform --sop complaint
    """


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)
