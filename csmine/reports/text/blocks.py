"""The building blocks of terminal output: lines, paragraphs, tables and stderr notes.

A renderer returns a :class:`Text`: its :attr:`~Text.blocks` go to stdout in order,
its :attr:`~Text.notes` to stderr. A block is one of

* ``str``: a line printed as it is (never wrapped, no styling);
* :class:`Para`: a paragraph the terminal wraps to its width, optionally led by a bold part;
* :class:`Table`: a table with a title, headers, rows and each column's alignment.

Everything is plain text: no markup is interpreted (a ``[`` in a ticket or activity
name prints as ``[``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Block", "Para", "Table", "Text", "table"]


@dataclass(frozen=True, slots=True)
class Para:
    """A paragraph the terminal wraps to its width.

    Attributes:
        text: the paragraph.  bold: a part printed in bold before ``text`` (may be empty).
    """

    text: str
    bold: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """A table of text cells.

    Attributes:
        headers: column headers.  rows: the cells, one tuple per row.
        title: shown above the table, left-aligned (None: no title).
        align: one letter per column, ``l`` (names) or ``r`` (numbers).
        nowrap: columns whose cells are never wrapped (times, numbers).
    """

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str | None = None
    align: str = ""
    nowrap: frozenset[int] = frozenset()


Block = str | Para | Table


@dataclass(frozen=True, slots=True)
class Text:
    """A renderer's output.

    Attributes:
        blocks: stdout, in order.  notes: stderr lines (warnings, caveats), after the blocks.
    """

    blocks: tuple[Block, ...]
    notes: tuple[str, ...] = ()


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, title: str | None = None,
          left: Iterable[int] | None = None, right: Iterable[int] | None = None,
          nowrap: Iterable[int] = ()) -> Table:
    """The one way to make a :class:`Table`: cells become ``str``.

    Alignment: the ``left`` columns left and the others right (default ``left=(0,)``:
    a name column, then numbers); or, with ``right``, those right and the others left.
    """
    heads = tuple(str(h) for h in headers)
    if right is not None:
        at_right = set(right)
        align = "".join("r" if i in at_right else "l" for i in range(len(heads)))
    else:
        at_left = set((0,) if left is None else left)
        align = "".join("l" if i in at_left else "r" for i in range(len(heads)))
    return Table(headers=heads, rows=tuple(tuple(str(c) for c in row) for row in rows), title=title, align=align,
                 nowrap=frozenset(nowrap))
