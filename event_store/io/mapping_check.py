"""Checking a mapping file: every problem with the line of the key it is about.

:func:`_locate` finds the line of each ``(table, key)`` in the TOML text (tomllib
does not keep lines); :class:`_Checker` reads typed values out of the parsed tables
and collects what is wrong, so that :func:`event_store.io.mapping.parse_mapping`
reports all problems at once, each as ``file:line: message``.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.read_base import parse_sep


# -- locating keys -----------------------------------------------------------------------------


_HEADER = re.compile(r"^\s*\[([^\[\]]+)\]\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")


def _locate(text: str) -> dict[tuple[str, str | None], int]:
    """Line of each ``(table, key)`` (key None: the table header); tables by dotted name."""
    lines: dict[tuple[str, str | None], int] = {}
    table = ""
    depth = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if depth > 0:  # inside a multi-line array
            depth += raw.count("[") - raw.count("]")
            continue
        m = _HEADER.match(raw)
        if m:
            table = ".".join(part.strip().strip('"') for part in m.group(1).split("."))
            lines.setdefault((table, None), number)
            continue
        k = _KEY.match(raw)
        if k:
            key = k.group(1)
            if key[0] in "\"'":
                key = json.loads(key) if key[0] == '"' else key[1:-1]
            lines.setdefault((table, key), number)
            rest = raw[k.end():].split("#", 1)[0]
            depth = max(0, rest.count("[") - rest.count("]"))
    return lines


class Checker:
    """Collects problems, each with the line of the key it is about."""

    def __init__(self, text: str, where: str) -> None:
        self.lines = _locate(text)
        self.where = where
        self.problems: list[tuple[int, str]] = []

    def line(self, table: str, key: str | None = None) -> int:
        header = (f"{table}.{key}" if table else key) if key is not None else None
        return (self.lines.get((table, key)) or (self.lines.get((header, None)) if header else None)
                or self.lines.get((table, None)) or 1)

    def fail(self, table: str, key: str | None, message: str) -> None:
        self.problems.append((self.line(table, key), message))

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        self.problems.sort()
        shown = "\n  ".join(f"{self.where}:{line}: {msg}" for line, msg in self.problems[:10])
        more = f"\n  (and {len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        raise ImportFormatError(
            f"mapping {self.where} has {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}:"
            f"\n  {shown}{more}\n(the format: docs/mapping-files.md; `csmine import FILE --print-mapping` writes one)"
        )

    def unknown(self, data: dict[str, Any], known: tuple[str, ...], table: str) -> None:
        for key in data:
            if key not in known:
                close = _closest(key, known)
                hint = f"; did you mean {close!r}?" if close else ""
                where = f"[{table}]" if table else "the top level"
                self.fail(table, key, f"unknown key {key!r} in {where}{hint} (known: {', '.join(known)})")

    def text(self, data: dict[str, Any], key: str, table: str, *, empty: bool = False) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or (not empty and not value.strip()):
            self.fail(table, key, f"{_name(table, key)} must be a non-empty string, not {_show(value)}")
            return None
        return value

    def texts(self, data: dict[str, Any], key: str, table: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(table, key, f"{_name(table, key)} must be a list of strings, e.g. [\"Closed\", \"Resolved\"]")
            return ()
        return tuple(value)

    def flag(self, data: dict[str, Any], key: str, table: str) -> bool | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.fail(table, key, f"{_name(table, key)} must be true or false, not {_show(value)}")
            return None
        return value

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail("", key, f"{key!r} must be a table ([{key}]), not {_show(value)}")
            return {}
        return value

    def mapping(self, data: dict[str, Any], table: str, what: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str) or not value.strip():
                self.fail(table, key, f"[{table}] {key!r} must name a {what} (a non-empty string), not {_show(value)}")
            else:
                out[str(key)] = value
        return out


def _name(table: str, key: str) -> str:
    return f"[{table}] {key!r}" if table else repr(key)


def _show(value: Any) -> str:
    kind = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "a table",
            str: "a string"}.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})" if not isinstance(value, (list, dict)) else kind


def _closest(word: str, known: tuple[str, ...]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, known, n=1, cutoff=0.7)
    return found[0] if found else None


def check_sep(ck: Checker, data: dict[str, Any], table: str) -> str | None:
    value = ck.text(data, "delimiter", table, empty=True)
    if value is None:
        return None
    try:
        return parse_sep(value, f"[{table}] delimiter")
    except ImportFormatError as exc:
        ck.fail(table, "delimiter", str(exc))
        return None


def check_encoding(ck: Checker, data: dict[str, Any], table: str) -> str | None:
    value = ck.text(data, "encoding", table)
    if value is None:
        return None
    try:
        codecs.lookup(value)
    except LookupError:
        ck.fail(table, "encoding", f"unknown encoding {value!r} (a Python codec name such as utf-8, latin-1, "
                                   "cp1252 or utf-16)")
        return None
    return value


__all__ = ["Checker", "check_encoding", "check_sep"]
