"""JSON read as a stream: an incremental decoder yields one audit, issue or row at a time, so memory is bounded by the largest single object, never the file."""

from __future__ import annotations

import codecs
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from event_store.errors import ImportFormatError
from event_store.limits import current_limits, LimitedReader


#: Bytes read at a time.
_CHUNK = 1 << 16
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


# -- streaming JSON ------------------------------------------------------------------------------


class JsonStream:
    """Top-level JSON values of a file, decoded one object at a time.

    The file may hold one value, several concatenated (NDJSON, or pages one after
    another). :meth:`items` walks top-level objects and arrays key by key and yields
    the elements of the arrays named in ``containers`` one by one; any other top-level
    object, or element of a top-level array, is an item itself. The buffer holds what
    is not consumed yet: one chunk plus the object being decoded.
    """

    def __init__(self, read: Callable[[int], bytes], name: str) -> None:
        self._read = read
        self.name = name
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._lines = 0  # newlines in the text dropped from the buffer
        self.bytes_read = 0
        self.top_keys: list[str] = []

    def _more(self, size: int | None = None) -> bool:
        if self.eof:
            return False
        data = self._read(size or _CHUNK)
        self.bytes_read += len(data)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            at = self.bytes_read - len(data) + exc.start
            raise ImportFormatError(f"{self.name}: byte {at + 1} is not UTF-8 (0x{data[exc.start]:02X}): JSON "
                                    "exports are UTF-8; re-export the file") from None
        if not data:
            self.eof = True
        if self.pos > _CHUNK:
            self._lines += self.buf.count("\n", 0, self.pos)
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += text
        return bool(data) or bool(text)

    def line(self) -> int:
        """Line of the next unread character (1-based)."""
        return self._lines + self.buf.count("\n", 0, self.pos) + 1

    def _error(self, what: str, pos: int | None = None) -> ImportFormatError:
        if pos is not None:
            self.pos = min(pos, len(self.buf))
        return ImportFormatError(f"{self.name}: line {self.line()}: not valid JSON ({what}); is the export complete?")

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            buf, n = self.buf, len(self.buf)
            while self.pos < n and buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < n:
                return buf[self.pos]
            if not self._more():
                return ""

    def take(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self._error(f"expected {char!r}, found {found or 'the end of the file'!r}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next value; reads more of the file until it is complete."""
        self.peek()
        size = _CHUNK
        while True:
            try:
                value, end = self._json.raw_decode(self.buf, self.pos)
                # a number at the end of what is read may go on ("1." of "1.5")
                open_number = isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and _NUMBER_TAIL.fullmatch(self.buf, end) is not None
                if self.eof or (end < len(self.buf) and not open_number):
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                # Truncated input fails at the end of the buffer (or in an open string);
                # anything else is broken JSON, reported without reading further.
                if self.eof or (exc.pos < len(self.buf) - 16 and not exc.msg.startswith("Unterminated string")):
                    raise self._error(exc.msg, exc.pos) from None
            self._more(size)
            size = min(size * 2, 1 << 26)

    def items(self, containers: tuple[str, ...]) -> Iterator[tuple[str | None, Any, int]]:
        """``(container, item, line)`` for every item (see the class docstring)."""
        while True:
            c = self.peek()
            if c == "":
                return
            if c == "{":
                yield from self._object(containers)
            elif c == "[":
                self.take("[")
                if self.peek() == "]":
                    self.take("]")
                    continue
                while True:
                    if self.peek() == "{":
                        yield from self._object(containers)
                    else:
                        line = self.line()
                        yield None, self.value(), line
                    if self.peek() == ",":
                        self.take(",")
                        continue
                    self.take("]")
                    break
            else:  # a bare value on its own (a line of NDJSON): an item
                line = self.line()
                yield None, self.value(), line

    def _object(self, containers: tuple[str, ...]) -> Iterator[tuple[str | None, Any, int]]:
        line = self.line()
        self.take("{")
        rest: dict[str, Any] = {}
        found = False
        if self.peek() == "}":
            self.take("}")
            yield None, rest, line
            return
        while True:
            if self.peek() != '"':
                raise self._error("expected a key in double quotes")
            key = self.value()
            self.take(":")
            if key not in self.top_keys and len(self.top_keys) < 50:
                self.top_keys.append(key)
            if key in containers and self.peek() == "[":
                found = True
                self.take("[")
                if self.peek() == "]":
                    self.take("]")
                else:
                    while True:
                        at = self.line()
                        yield key, self.value(), at
                        if self.peek() == ",":
                            self.take(",")
                            continue
                        self.take("]")
                        break
            else:
                rest[key] = self.value()
            if self.peek() == ",":
                self.take(",")
                continue
            self.take("}")
            break
        if not found:
            yield None, rest, line


def _open_binary(path: str) -> Any:
    if path.lower().endswith(".gz"):
        return LimitedReader(path, current_limits())
    return open(path, "rb")


def iter_json(path: str, containers: tuple[str, ...],
              top_keys: list[str] | None = None) -> Iterator[tuple[str | None, Any, int]]:
    """Stream the items of a JSON or NDJSON file (``.gz`` inflated within the input limits).

    Args:
        path: the file.
        containers: keys of top-level objects whose arrays hold the items.
        top_keys: filled with the keys of the top-level objects seen (for messages).
    """
    name = os.path.basename(path)
    try:
        with _open_binary(path) as fh:
            stream = JsonStream(fh.read, name)
            if top_keys is not None:
                stream.top_keys = top_keys
            yield from stream.items(containers)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportFormatError(f"{name}: cannot read ({exc}); is it a complete JSON file?") from None


__all__ = [
    "JsonStream",
    "iter_json",
]
