"""Bounded input: how long a field may be, how far a compressed file may inflate.

Without limits one 10 MB cell is stored, then printed by ``stats`` and drawn by
``discover`` for hours, and a 2 MB ``.xes.gz`` that inflates to 2 GiB exhausts the
memory before anything can refuse it. Every input path (``import``, ``open``,
``record``, ``correct``) checks:

* **field length**, in UTF-8 bytes: ticket ids, activities, actors, teams, lifecycle
  values and attribute *names* at most :attr:`InputLimits.max_field_bytes` (4 KiB);
  attribute *values* (case and step attributes) at most
  :attr:`InputLimits.max_value_bytes` (64 KiB);
* for compressed files (``.gz``): the inflated size at most
  :attr:`InputLimits.max_inflated_bytes` (4 GiB) and the ratio inflated / compressed
  at most :attr:`InputLimits.max_ratio` (200; real event logs inflate 20-45 times),
  the ratio once more than :data:`RATIO_FLOOR` bytes came out. The file is inflated
  as a stream in 1 MiB pieces and the count stops it, so a refusal needs no more
  memory than one piece.

Each refusal names the file and line (or the limit) and the flag that raises it
(``csmine --max-field-bytes N import ...``). The limits in force are
:func:`current_limits`: the defaults, or what :func:`use_limits` set for the
current context (the CLI's root options do).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from event_store.errors import InputLimitError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
#: The ratio limit applies once this many bytes came out (tiny files inflate a lot).
RATIO_FLOOR = 16 * MIB
_PIECE = MIB


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Limits on what one input may hold (see the module docstring).

    Attributes:
        max_field_bytes: ticket ids, activities, actors, teams, attribute names (UTF-8 bytes).
        max_value_bytes: attribute values, text or their JSON form (UTF-8 bytes).
        max_inflated_bytes: bytes a compressed file may inflate to.
        max_ratio: inflated / compressed size (checked past :data:`RATIO_FLOOR`).
    """

    max_field_bytes: int = 4 * KIB
    max_value_bytes: int = 64 * KIB
    max_inflated_bytes: int = 4 * GIB
    max_ratio: float = 200.0


#: The flag of the root command that sets each limit.
FLAGS = {
    "max_field_bytes": "--max-field-bytes",
    "max_value_bytes": "--max-value-bytes",
    "max_inflated_bytes": "--max-inflated-bytes",
    "max_ratio": "--max-ratio",
}

_current: ContextVar[InputLimits] = ContextVar("csmine_input_limits", default=InputLimits())  # noqa: B039


def current_limits() -> InputLimits:
    """The limits in force (defaults unless :func:`use_limits` set others)."""
    return _current.get()


@contextmanager
def use_limits(limits: InputLimits) -> Iterator[InputLimits]:
    """Put ``limits`` in force for the code inside the block."""
    token = _current.set(limits)
    try:
        yield limits
    finally:
        _current.reset(token)


def parse_size(text: str) -> int:
    """``4096``, ``64K``, ``4KiB``, ``10M``, ``4G`` -> bytes (binary multiples)."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = 1
    for suffix, f in (("K", KIB), ("M", MIB), ("G", GIB), ("T", 1024 * GIB)):
        if value.endswith(suffix):
            value, factor = value[:-1], f
            break
    number = float(value)
    if number <= 0:
        raise ValueError(f"{text!r} is not a positive size")
    return int(number * factor)


def _hint(name: str, command: str = "import") -> str:
    return f"raise it with `csmine {FLAGS[name]} N {command} ...`"


def _size(n: int) -> str:
    return f"{n:,} bytes"


def utf8_len_over(text: str, limit: int) -> int | None:
    """The UTF-8 length of ``text`` when it is over ``limit`` bytes, else None (cheap when short)."""
    if len(text) * 4 <= limit:
        return None
    n = len(text.encode("utf-8", "surrogatepass"))
    return n if n > limit else None


def _value_len_over(value: Any, limit: int) -> int | None:
    if isinstance(value, str):
        return utf8_len_over(value, limit)
    if isinstance(value, (bytes, bytearray)):
        return len(value) if len(value) > limit else None
    if isinstance(value, (list, tuple, dict)):
        import json

        n = len(json.dumps(value, ensure_ascii=False, default=str).encode())
        return n if n > limit else None
    return None


def check_field(value: Any, what: str, where: str, limits: InputLimits, command: str = "import") -> None:
    """Refuse a name-like field (id, activity, actor, team, attribute name) over the field limit."""
    if value is None:
        return
    n = utf8_len_over(value if isinstance(value, str) else str(value), limits.max_field_bytes)
    if n is not None:
        raise InputLimitError(
            f"{where}: {what} is {_size(n)} long, over the limit of {_size(limits.max_field_bytes)} for ids, "
            f"activities, actors, teams and attribute names; shorten it in the source, or "
            f"{_hint('max_field_bytes', command)}"
        )


def check_value(key: str, value: Any, where: str, limits: InputLimits, command: str = "import") -> None:
    """Refuse an attribute name or value over its limit."""
    check_field(key, f"attribute name {key[:40]!r}...", where, limits, command)
    n = _value_len_over(value, limits.max_value_bytes)
    if n is not None:
        raise InputLimitError(
            f"{where}: attribute {key!r} holds a value of {_size(n)}, over the limit of "
            f"{_size(limits.max_value_bytes)} for attribute values; shorten it in the source, or "
            f"{_hint('max_value_bytes', command)}"
        )


def check_attrs(attrs: Mapping[str, Any] | None, where: str, limits: InputLimits, command: str = "import") -> None:
    if not attrs:
        return
    field_chars = limits.max_field_bytes // 4
    value_chars = limits.max_value_bytes // 4
    for key, value in attrs.items():
        # fast path: short text needs no encoding
        if (type(key) is str and len(key) <= field_chars
                and (value is None or (type(value) is str and len(value) <= value_chars)
                     or type(value) in (int, float, bool))):
            continue
        check_value(str(key), value, where, limits, command)


def check_event(where: str, limits: InputLimits, *, command: str, ticket: str | None = None,
                activity: str | None = None, actor: str | None = None, team: str | None = None,
                attrs: Mapping[str, Any] | None = None) -> None:
    """The field limits for one command's values (open, record, correct)."""
    check_field(ticket, "the ticket id", where, limits, command)
    check_field(activity, "the activity", where, limits, command)
    check_field(actor, "the actor", where, limits, command)
    check_field(team, "the team", where, limits, command)
    check_attrs(attrs, where, limits, command)


def check_history(history: Any, limits: InputLimits) -> None:
    """The field limits for one :class:`~event_store.records.TicketHistory`, naming the source line."""
    fchars = limits.max_field_bytes // 4
    where = history.source_ref or f"ticket {str(history.ticket)[:40]!r}"
    if len(history.ticket) > fchars:
        check_field(history.ticket, "the ticket id", where, limits)
    check_attrs(history.case, where, limits)
    for row in history.steps:
        if (len(row.activity) > fchars or (row.actor is not None and len(row.actor) > fchars)
                or (row.team is not None and len(row.team) > fchars)):
            w = row.source_ref or where
            check_field(row.activity, "the activity", w, limits)
            check_field(row.actor, "the actor", w, limits)
            check_field(row.team, "the team", w, limits)
        if row.attrs:
            check_attrs(row.attrs, row.source_ref or where, limits)


# -- compressed input ------------------------------------------------------------------------


class LimitedReader:
    """A binary stream over a ``.gz`` file that refuses to inflate past the limits.

    ``read`` raises :class:`InputLimitError` as soon as the bytes out pass
    ``max_inflated_bytes``, or pass :data:`RATIO_FLOOR` and ``max_ratio`` times the
    compressed size. Memory is one piece at a time.
    """

    def __init__(self, path: str, limits: InputLimits) -> None:
        self.path = path
        self.name = os.path.basename(path)
        self.limits = limits
        self.compressed = max(1, os.path.getsize(path))
        self._fh: Any = gzip.open(path, "rb")
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while piece := self.read(_PIECE):
                parts.append(piece)
            return b"".join(parts)
        data = self._fh.read(min(size, _PIECE))
        self.total += len(data)
        self._check()
        return bytes(data)

    def _check(self) -> None:
        lim = self.limits
        if self.total > lim.max_inflated_bytes:
            raise InputLimitError(
                f"{self.name}: inflates to more than {_size(lim.max_inflated_bytes)} (the limit for compressed "
                f"input; the file itself is {_size(self.compressed)}): refused before reading further; if the "
                f"file is genuine, {_hint('max_inflated_bytes')}"
            )
        if self.total > RATIO_FLOOR and self.total > lim.max_ratio * self.compressed:
            raise InputLimitError(
                f"{self.name}: {_size(self.compressed)} inflate to more than {_size(self.total)} so far, more than "
                f"{lim.max_ratio:g} times its size (event logs inflate 20-45 times; this looks like a "
                f"decompression bomb): refused before reading further; if the file is genuine, "
                f"{_hint('max_ratio')}"
            )

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> LimitedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def inflated_size(path: str, limits: InputLimits) -> int:
    """Inflate a ``.gz`` file as a stream, discarding the bytes: its size, or a refusal.

    Raises:
        InputLimitError: past ``max_inflated_bytes`` or ``max_ratio``.
        OSError, EOFError, zlib.error: not a complete gzip file (the caller words it).
    """
    with LimitedReader(path, limits) as reader:
        while reader.read(_PIECE):
            pass
        return reader.total


__all__ = [
    "FLAGS", "InputLimits", "LimitedReader", "check_event", "check_field", "check_history", "check_value",
    "current_limits", "inflated_size", "parse_size", "use_limits",
]
