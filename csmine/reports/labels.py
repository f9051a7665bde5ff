"""Activity names fitted to a map: wrapped into lines of a few columns, cut with "…".

Widths are in terminal columns: a CJK (wide or full-width) character counts 2, so
Chinese step names wrap as wide as Latin ones. :func:`display_label` gives the lines
a map node shows; :func:`shorten_name` fits a name on one line (tooltips, tables).
"""

from __future__ import annotations

import unicodedata

#: Columns per line of an activity name on a map (a CJK character counts 2).
LABEL_WIDTH = 20
#: Most lines of an activity name on a map; a longer name ends in "…" (full name in the tooltip).
LABEL_LINES = 3
#: Most columns of an activity name inside a path's tooltip or other one-line text.
NAME_COLUMNS = 60
ELLIPSIS = "…"


def _cw(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def text_width(text: str) -> int:
    """Columns ``text`` takes on one line (a CJK character counts 2)."""
    return sum(map(_cw, text))


class _Lines:
    """The lines of a name being wrapped: tokens are placed one by one (see :func:`wrap_label`)."""

    def __init__(self, width: int, max_lines: int | None) -> None:
        self.width = width
        self.max_lines = max_lines
        self.lines: list[str] = []
        self.line: list[str] = []  # characters of the current line
        self.line_w = 0  # its width, trailing spaces included
        self.full = False  # max_lines + 1 lines exist: the rest is not needed

    def add(self, chars: list[str]) -> None:
        self.lines.append("".join(chars).rstrip())
        self.full = self.max_lines is not None and len(self.lines) > self.max_lines

    def place(self, tok: list[str], tok_w: int, tok_space: int) -> None:
        """Put a token (up to a break opportunity; ``tok_space``: width of its trailing spaces)."""
        if self.line and self.line_w + tok_w - tok_space > self.width:
            self.add(self.line)
            self.line, self.line_w = [], 0
        if self.full:
            return
        if tok_w - tok_space > self.width:
            self._cut(tok)
            return
        self.line.extend(tok)
        self.line_w += tok_w

    def _cut(self, tok: list[str]) -> None:
        """A word longer than a line: cut it by columns; the rest starts a line."""
        piece: list[str] = []
        piece_w = 0
        for ch in tok:
            w = _cw(ch)
            if piece_w + w > self.width:
                self.add(piece)
                if self.full:
                    return
                piece, piece_w = [], 0
            piece.append(ch)
            piece_w += w
        self.line, self.line_w = piece, piece_w


def wrap_label(text: str, width: int = LABEL_WIDTH, max_lines: int | None = None) -> list[str]:
    """Break a name into lines of at most ``width`` columns (CJK characters count 2).

    Breaks after spaces, ``/`` and CJK characters; a word longer than a line is cut.
    With ``max_lines``, at most that many lines are returned and, when the name
    does not fit, the last one ends in "…" (still within ``width`` columns). The
    work is linear in the length of the name (with ``max_lines``, in the length of
    the part shown).

    Returns:
        The lines, without trailing spaces; ``[text]`` when it fits on one line.
    """
    width = max(int(width), 2)
    if text_width(text) <= width:
        return [text]
    out = _Lines(width, max_lines)
    tok: list[str] = []  # characters of the current token (up to a break opportunity)
    tok_w = 0
    tok_space = 0  # width of the token's trailing spaces
    for ch in text:
        w = _cw(ch)
        tok.append(ch)
        tok_w += w
        tok_space = tok_space + w if ch.isspace() else 0
        if ch in " /" or w == 2:
            out.place(tok, tok_w, tok_space)
            tok, tok_w, tok_space = [], 0, 0
            if out.full:
                break
    if tok and not out.full:
        out.place(tok, tok_w, tok_space)
    if out.line and "".join(out.line).strip() and not out.full:
        out.add(out.line)
    lines = out.lines
    if max_lines is None or len(lines) <= max_lines:
        return lines
    return lines[: max_lines - 1] + [_with_ellipsis(lines[max_lines - 1], width)]


def _with_ellipsis(text: str, width: int) -> str:
    out: list[str] = []
    used = 0
    for ch in text:
        w = _cw(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out).rstrip() + ELLIPSIS


def shorten_name(text: str, columns: int = NAME_COLUMNS) -> str:
    """``text`` on one line of at most ``columns`` columns, ending in "…" when cut."""
    text = str(text).replace("\n", " ")
    used = 0
    for i, ch in enumerate(text):
        used += _cw(ch)
        if used > columns:
            return _with_ellipsis(text[:i], columns)
    return text


def display_label(text: str) -> list[str]:
    """The lines of an activity name as drawn on a map: wrapped at :data:`LABEL_WIDTH`
    columns, at most :data:`LABEL_LINES` lines, "…" when cut."""
    return wrap_label(text, LABEL_WIDTH, LABEL_LINES)
