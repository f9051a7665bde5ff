"""Terminal output helpers shared by the command modules (rich tables, progress)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.table import Table


def console() -> Console:
    """A console on click's stdout: colour only on a terminal, wide enough off one."""
    stream = click.get_text_stream("stdout")
    tty = stream.isatty()
    return Console(file=stream, force_terminal=tty, no_color=not tty, width=None if tty else 160,
                   highlight=False, soft_wrap=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> Table:
    t = Table(title=title, show_header=True, header_style="bold", title_justify="left")
    for i, h in enumerate(headers):
        t.add_column(str(h), justify="right" if i else "left", overflow="fold")
    for row in rows:
        t.add_row(*[str(c) for c in row])
    return t


@contextmanager
def progress_bar(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when ``enabled``; yields ``advance(n)``."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n=1: progress.advance(task, n)
