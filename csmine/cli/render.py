"""Terminal output: the text blocks of :mod:`csmine.reports.text` printed with rich, and progress bars.

The renderers in ``csmine.reports.text`` return plain data (lines, paragraphs,
tables); this module is the only place that turns them into rich output, so the
CLI has one table builder (:func:`rich_table`) and rich stays inside ``csmine.cli``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from csmine.reports.text.blocks import Text
    from csmine.reports.text.blocks import Table as TextTable


def console() -> Console:
    """A console on stdout (the one click echoes to): colour only on a terminal, wide enough off one."""
    stream = sys.stdout
    tty = stream.isatty()
    return Console(file=stream, force_terminal=tty, no_color=not tty, width=None if tty else 160,
                   highlight=False, soft_wrap=False)


def rich_table(t: TextTable) -> Table:
    """The one table builder: a :class:`csmine.reports.text.blocks.Table` as a rich table."""
    out = Table(title=escape(t.title) if t.title is not None else None, show_header=True, header_style="bold",
                title_justify="left")
    for i, header in enumerate(t.headers):
        justify = "right" if t.align[i:i + 1] == "r" else "left"
        out.add_column(escape(header), justify=justify, overflow="fold", no_wrap=i in t.nowrap)
    for row in t.rows:
        out.add_row(*[escape(cell) for cell in row])
    return out


def print_text(text: Text) -> None:
    """Print a renderer's blocks on stdout (lines as they are, paragraphs and tables with rich)
    and its notes on stderr."""
    from csmine.reports.text.blocks import Para
    from csmine.reports.text.blocks import Table as TextTable

    out = console()
    for block in text.blocks:
        if isinstance(block, TextTable):
            out.print(rich_table(block))
        elif isinstance(block, Para):
            lead = f"[bold]{escape(block.bold)}[/bold]" if block.bold else ""
            out.print(lead + escape(block.text))
        else:
            click.echo(block)
    for note in text.notes:
        click.echo(note, err=True)


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
