"""The SOP file format (TOML): writing it, and finding keys' line numbers in it.

Reading is done by :mod:`tomllib` plus the schema checks in
:mod:`process_models.validation` (``check_toml``, ``parse_sop_text``); tomllib
does not report where a key is, so :func:`locate` scans the text once and
remembers the line of every key, table header and string value, for error
messages that point at a line. :func:`dump_sop` writes an SOP in the layout of
the shipped files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from process_models.flow import flow_to_list
from process_models.model import SOP, format_duration, targets_to_dict

Key = tuple[str, int | None, str | None]


@dataclass(slots=True)
class Locator:
    """Line numbers (1-based) of the keys and string values of a TOML text.

    Keys are ``(table, index, key)``: ``table`` is ``""`` for the root, ``index`` the
    position of an ``[[array table]]`` entry (None for a plain table) and ``key``
    None for the table header itself.
    """

    keys: dict[Key, int] = field(default_factory=dict)
    literals: list[tuple[Key, str, int]] = field(default_factory=list)

    def line(
        self, table: str, index: int | None = None, key: str | None = None
    ) -> int | None:
        """Line of a key (or of the table header when ``key`` is None)."""
        found = self.keys.get((table, index, key))
        if found is None and key is not None:
            return self.keys.get((table, index, None))
        return found

    def literal_line(
        self, table: str, index: int | None, key: str, value: str, occurrence: int = 0
    ) -> int | None:
        """Line of the ``occurrence``-th string ``value`` inside a key's value."""
        seen = 0
        for where, text, line in self.literals:
            if where == (table, index, key) and text == value:
                if seen == occurrence:
                    return line
                seen += 1
        return self.line(table, index, key)


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            value: str = json.loads(raw)
            return value
        except ValueError:
            return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    return raw


def locate(text: str) -> Locator:
    """Scan a TOML text for the lines of its keys, headers and string values."""
    return _Scanner(text).run()


class _Scanner:
    """One pass over a TOML text, character by character.

    The state every step shares: the position ``i`` and ``line``; the current table
    (``table``, ``index``) and ``key``; whether a key's value is being read
    (``in_value``) and how deep in its brackets (``depth``).
    """

    def __init__(self, text: str) -> None:
        self.text, self.n = text, len(text)
        self.loc = Locator()
        self.counts: dict[str, int] = {}  # [[array table]] entries seen so far
        self.table: str = ""
        self.index: int | None = None
        self.key: Key = ("", None, None)
        self.i, self.line = 0, 1
        self.in_value, self.depth = False, 0

    def run(self) -> Locator:
        text = self.text
        while self.i < self.n:
            c = text[self.i]
            if c == "\n":
                self.line += 1
                self.i += 1
                if self.in_value and self.depth == 0:
                    self.in_value = False
            elif c in " \t\r,":
                self.i += 1
            elif c == "#":
                self.i = self._line_end()
            elif c in "\"'":
                self._string(c)
            elif self.in_value:
                self._value_char(c)
            elif c == "[":
                self._header()
            else:
                self._bare_key()
        return self.loc

    def _line_end(self) -> int:
        """Where the current line ends (its newline, or the end of the text)."""
        end = self.text.find("\n", self.i)
        return self.n if end < 0 else end

    def _string(self, c: str) -> None:
        """A quoted string: a literal inside a value, else a quoted key (read up to its ``=``)."""
        text, start_line = self.text, self.line
        triple = text.startswith(c * 3, self.i)
        quote = c * 3 if triple else c
        j = self.i + len(quote)
        while j < self.n and not text.startswith(quote, j):
            if text[j] == "\\" and c == '"':
                j += 1
            elif text[j] == "\n":
                self.line += 1
            j += 1
        raw = text[self.i : j + len(quote)]
        self.i = j + len(quote)
        if self.in_value:
            self.loc.literals.append((self.key, _unquote(raw) if not triple else raw, start_line))
            return
        rest_end = text.find("=", self.i)
        name = raw + (text[self.i : rest_end] if rest_end >= 0 else "")
        self._start_value(_unquote(name.strip()), start_line, rest_end + 1 if rest_end >= 0 else self.n)

    def _value_char(self, c: str) -> None:
        """Any other character of a value: brackets open and close nested arrays and tables."""
        if c in "[{":
            self.depth += 1
        elif c in "]}":
            self.depth -= 1
        self.i += 1

    def _header(self) -> None:
        """A ``[table]`` or ``[[array table]]`` header: the table the next keys belong to."""
        end = self._line_end()
        header = self.text[self.i : end].split("#", 1)[0].strip()
        if header.startswith("[["):
            self.table = _unquote(header[2:].rstrip("]").strip())
            self.index = self.counts.get(self.table, 0)
            self.counts[self.table] = self.index + 1
        else:
            self.table = _unquote(header[1:].rstrip("]").strip())
            self.index = None
        self.loc.keys[(self.table, self.index, None)] = self.line
        self.i = end

    def _bare_key(self) -> None:
        """A bare key up to its ``=`` on the same line; a line without one is skipped."""
        end = self.text.find("=", self.i)
        if end < 0 or "\n" in self.text[self.i : end]:
            self.i = self.text.find("\n", self.i) if "\n" in self.text[self.i :] else self.n
            return
        self._start_value(_unquote(self.text[self.i : end].strip()), self.line, end + 1)

    def _start_value(self, name: str, line: int, value_at: int) -> None:
        self.key = (self.table, self.index, name)
        self.loc.keys[self.key] = line
        self.i = value_at
        self.in_value, self.depth = True, 0


# -- writing -------------------------------------------------------------------


def _s(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def flow_lines(value: Any, indent: int = 0) -> list[str]:
    """A flow (its list form, :func:`~process_models.flow.flow_to_list`) as TOML lines: a node that
    fits in 72 columns inline, else one child per line, nested lists indented."""
    if isinstance(value, str):
        return [_s(value)]
    inline = "[" + ", ".join(_inline(v) for v in value) + "]"
    if len(inline) + indent <= 72:
        return [inline]
    pad = "  " * (indent + 1)
    lines = [f"[{_s(value[0])},"]
    for child in value[1:]:
        sub = flow_lines(child, indent + 1)
        lines.append(pad + sub[0])
        lines.extend(sub[1:])
        lines[-1] += ","
    lines.append("  " * indent + "]")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return _s(value)
    return "[" + ", ".join(_inline(v) for v in value) + "]"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _s(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(name: str) -> str:
    bare = name and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    return name if bare else _s(name)


def dump_sop(sop: SOP) -> str:
    """Write an SOP as TOML text in the shipped files' layout.

    ``load_sop`` of the written text gives an SOP equal to ``sop`` (same
    fingerprint).
    """
    out = [
        f"id = {_s(sop.id)}",
        f"title = {_s(sop.title)}",
    ]
    if sop.title_zh:
        out.append(f"title_zh = {_s(sop.title_zh)}")
    out.append(f"version = {_s(sop.version)}")
    if sop.description:
        out.append(f"description = {_s(sop.description)}")
    out.append("")
    out.append("flow = " + "\n".join(flow_lines(flow_to_list(sop.flow), 0)))
    if sop.closed_when:  # a top-level key: before the first table
        out.append(f"closed_when = {_value(list(sop.closed_when))}")
    if sop.languages:
        out.append(f"languages = {_value(list(sop.languages))}")
    out.append("")
    out.append("[targets]")
    for name, value in targets_to_dict(sop.targets).items():
        out.append(f"{_key(name)} = {_value(value)}")
    for step in sop.steps:
        out += ["", "[[steps]]", f"name = {_s(step.name)}"]
        out.append(f"label_zh = {_s(step.label_zh)}")
        out.append(f"role = {_s(step.role)}")
        if step.description:
            out.append(f"description = {_s(step.description)}")
        if step.off_flow:
            out.append("off_flow = true")
    for limit in sop.limits:
        out += ["", "[[limits]]", f"step = {_s(limit.step)}"]
        out.append(f"within = {_s(format_duration(limit.within))}")
        out.append(f"since = {_s(limit.since)}")
        out.append(f"business_hours = {_value(limit.business_hours)}")
    if sop.roles:
        out += ["", "[roles]"]
        for role, steps in sop.roles.items():
            out.append(f"{_key(role)} = {_value(list(steps))}")
    if sop.aliases:
        out += ["", "[aliases]"]
        for source, target in sop.aliases.items():
            out.append(f"{_key(source)} = {_s(target)}")
    return "\n".join(out) + "\n"


__all__ = ["Locator", "dump_sop", "flow_lines", "locate"]
