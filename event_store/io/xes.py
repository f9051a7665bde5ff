"""Reading XES event logs: a fast scanner for the common layout, lxml for the rest.

XES files written by OpenXES, ProM, pm4py and most exporters put every attribute in
the form ``<string key="K" value="V"/>``. :func:`scan_fast` reads that layout without
building an XML tree: it splits the text at the quote characters, so keys and values
fall out at fixed positions, and classifies the few distinct stretches of markup
between them (``"/>\\n\\t\\t</event>\\n\\t\\t<event>\\n\\t\\t\\t<date key="``...)
once each. It is strict: the header is checked by lxml, every ``<`` in the body must
belong to a recognised tag, the trace/event nesting is checked, and anything it does
not fully understand (comments or nested attributes inside traces, single quotes,
unusual entities, line breaks inside values, a NUL byte, another encoding, ...) makes it give up
so that :func:`scan_lxml` reads the file instead. Both return the same
:class:`RawTrace` records; tests check that they agree.

Line numbers are those of the ``<event>`` and ``<trace>`` start tags, as lxml reports them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import numpy as np

from event_store.errors import ImportFormatError

XES_NS = "{http://www.xes-standard.org/}"
ATTRIBUTE_TAGS = ("string", "date", "int", "float", "boolean", "id")

_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_ENTITY_RE = re.compile(r"&([^;&\s]{1,12});")
_SEP_RE = re.compile(
    r"(?P<close>\s*/>)?(?P<tags>(?:\s*</?(?:event|trace)>)*)\s*"
    r"(?:<(?P<type>string|date|int|float|boolean|id)\s+key\s*=\s*)?"
)
_TAG_RE = re.compile(r"<(/?)(event|trace)>")
_MID_RE = re.compile(r"[ \t]+value[ \t]*=[ \t]*")
_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass(slots=True)
class RawTrace:
    """One ``<trace>`` as read: its attributes and its events with their lines."""

    attrs: dict[str, Any]
    events: list[tuple[dict[str, Any], int]]
    line: int


class _GiveUp(Exception):
    """The fast scanner met something it does not handle; use lxml."""


def convert_value(tag: str, value: str, zone: tzinfo | None, where: Callable[[], str]) -> Any:
    """A typed value of an XES attribute (``where`` names the place for errors)."""
    if tag == "date":
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            try:
                dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ImportFormatError(
                    f"{where()}: cannot read date {value!r} (XES dates are ISO 8601, e.g. "
                    "2012-10-09T14:50:17+02:00)"
                ) from None
        if dt.tzinfo is None:
            if zone is None:
                raise ImportFormatError(
                    f"{where()}: date {value!r} has no time zone (give --tz, e.g. --tz UTC)"
                )
            dt = dt.replace(tzinfo=zone)
        return dt
    if tag == "int":
        try:
            return int(value)
        except ValueError:
            raise ImportFormatError(f"{where()}: {value!r} is not an int") from None
    if tag == "float":
        try:
            return float(value)
        except ValueError:
            raise ImportFormatError(f"{where()}: {value!r} is not a float") from None
    if tag == "boolean":
        return value.strip().lower() == "true"
    return value


def _unescape(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _ENTITIES:
            return _ENTITIES[name]
        try:
            if name.startswith("#x"):
                return chr(int(name[2:], 16))
            if name.startswith("#"):
                return chr(int(name[1:]))
        except (ValueError, OverflowError):
            pass
        raise _GiveUp

    out = _ENTITY_RE.sub(sub, text)
    if "&" in _ENTITY_RE.sub("", text):
        raise _GiveUp  # a bare '&': not well-formed; let lxml say where
    return out


@dataclass(slots=True)
class _Sep:
    closes: bool  # starts with "/>" (ends the previous attribute)
    tags: list[tuple[bool, str, int]]  # (is_close, "event"/"trace", newlines before it)
    type: str | None  # the next attribute's type, None at the end
    newlines: int
    lts: int


def _classify(sep: str) -> _Sep:
    m = _SEP_RE.fullmatch(sep)
    if m is None:
        raise _GiveUp
    tags = []
    base = m.start("tags")
    for t in _TAG_RE.finditer(m.group("tags")):
        tags.append((t.group(1) == "/", t.group(2), sep.count("\n", 0, base + t.start())))
    return _Sep(m.group("close") is not None, tags, m.group("type"), sep.count("\n"), sep.count("<"))


def scan_fast(raw: bytes, name: str, zone: tzinfo | None) -> list[RawTrace]:
    """Scan the common XES layout; raises _GiveUp when lxml must read the file."""
    from lxml import etree

    m = _ENCODING_RE.match(raw[:200])
    if m is not None and m.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise _GiveUp
    start_b = raw.find(b"<trace>")
    end_b = raw.rfind(b"</log>")
    if start_b < 0 or end_b < start_b:
        raise _GiveUp
    try:
        etree.fromstring(raw[:start_b] + b"</log>", etree.XMLParser(huge_tree=True))
        tail = raw[end_b + 6 :]
        if tail.strip():
            etree.fromstring(b"<x>" + tail + b"</x>")  # only comments/PIs may follow
        text = raw[start_b:end_b].decode("utf-8")
    except (etree.XMLSyntaxError, UnicodeDecodeError, ValueError):
        raise _GiveUp from None
    if "\r" in text or "\x00" in text:  # NUL is not allowed in XML: lxml says where
        raise _GiveUp
    base_line = raw.count(b"\n", 0, start_b) + 1

    parts = text.split('"')
    if len(parts) % 4 != 1 or len(parts) < 5:
        raise _GiveUp
    seps = parts[0::4]
    keys = parts[1::4]
    mids = parts[2::4]
    values = parts[3::4]
    del parts
    # Classify each distinct stretch of markup once; then work on integer codes.
    uniq_mids = list(set(mids))
    for mid in uniq_mids:
        if _MID_RE.fullmatch(mid) is None:
            raise _GiveUp
    uniq = list(set(seps))
    kinds = [_classify(s) for s in uniq]
    code_of = {s: k for k, s in enumerate(uniq)}
    codes = np.fromiter(map(code_of.__getitem__, seps), dtype=np.int64, count=len(seps))
    closes = np.array([k.closes for k in kinds], dtype=bool)
    has_tags = np.array([bool(k.tags) for k in kinds], dtype=bool)
    type_names = [k.type for k in kinds]
    typed = np.array([t not in (None, "string", "id") for t in type_names], dtype=bool)
    untyped_end = np.array([t is None for t in type_names], dtype=bool)
    newlines = np.array([k.newlines for k in kinds], dtype=np.int64)
    counts = np.bincount(codes, minlength=len(uniq))
    mid_counts = np.bincount(np.fromiter(map({m: k for k, m in enumerate(uniq_mids)}.__getitem__, mids),
                                         dtype=np.int64, count=len(mids)), minlength=len(uniq_mids))
    # Every '<', line break and tab of the body must lie in the markup between values
    # (XML would normalise line breaks and tabs inside values; lxml handles those).
    for char in ("<", "\n", "\t"):
        in_markup = sum(int(c) * s.count(char) for c, s in zip(counts, uniq, strict=True))
        in_markup += sum(int(c) * m.count(char) for c, m in zip(mid_counts, uniq_mids, strict=True))
        if in_markup != text.count(char):
            raise _GiveUp
    n_attrs = len(keys)
    if closes[codes[0]] or not has_tags[codes[0]] or not closes[codes[1:]].all():
        raise _GiveUp
    if untyped_end[codes[:-1]].any() or not untyped_end[codes[-1]]:
        raise _GiveUp
    if "&" in text:
        keys = [_unescape(k) if "&" in k else k for k in keys]
        values = [_unescape(v) if "&" in v else v for v in values]
    sep_lines = np.empty(len(seps), dtype=np.int64)
    sep_lines[0] = base_line
    np.cumsum(newlines[codes[:-1]], out=sep_lines[1:])
    sep_lines[1:] += base_line
    attr_lines = sep_lines[:-1] + newlines[codes[:-1]]

    # Typed values (dates, numbers) first, so the dicts below are plain zips.
    for i in np.flatnonzero(typed[codes[:-1]]).tolist():
        values[i] = convert_value(type_names[codes[i]], values[i], zone,
                                  lambda i=i: f"{name}:{int(attr_lines[i])}")

    traces: list[RawTrace] = []
    in_trace = in_event = False
    trace: RawTrace | None = None
    ev_attrs: dict[str, Any] = {}
    start = 0  # first attribute of the current run
    last = len(seps) - 1
    boundaries = np.flatnonzero(has_tags[codes]).tolist()
    if boundaries[-1] != last:
        boundaries.append(last)
    lines_list = sep_lines.tolist()
    codes_list = codes.tolist()
    for i in boundaries:
        # Attributes start..i-1 belong to the open event, else to the open trace.
        if i > start:
            run = dict(zip(keys[start:i], values[start:i], strict=True))
            if in_event:
                ev_attrs.update(run)
            elif in_trace:
                assert trace is not None
                trace.attrs.update(run)
            else:
                raise _GiveUp
        start = i
        for is_close, tag, nl in kinds[codes_list[i]].tags:
            if tag == "event":
                if is_close:
                    if not in_event:
                        raise _GiveUp
                    in_event = False
                else:
                    if in_event or not in_trace:
                        raise _GiveUp
                    in_event = True
                    ev_attrs = {}
                    assert trace is not None
                    trace.events.append((ev_attrs, lines_list[i] + nl))
            elif is_close:
                if in_event or not in_trace:
                    raise _GiveUp
                in_trace = False
            else:
                if in_trace:
                    raise _GiveUp
                in_trace = True
                trace = RawTrace({}, [], lines_list[i] + nl)
                traces.append(trace)
        if i != last and not in_trace:
            raise _GiveUp
    if in_trace:
        raise _GiveUp
    return traces


def scan_lxml(raw: bytes | Any, name: str, zone: tzinfo | None) -> list[RawTrace]:
    """Read any well-formed XES with lxml (nested attributes are skipped).

    ``raw`` is the document's bytes, or a binary stream read piece by piece (each
    trace is freed once read, so memory follows the traces, not the file).
    """
    import io

    from lxml import etree

    traces: list[RawTrace] = []
    source = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    try:
        # Any namespace (or none), as the fast scanner does: XES writers disagree.
        context = etree.iterparse(source, events=("end",), tag="{*}trace",
                                  huge_tree=True, remove_comments=True)
        for _, elem in context:
            attrs: dict[str, Any] = {}
            events: list[tuple[dict[str, Any], int]] = []
            for child in elem:
                ctag = child.tag if isinstance(child.tag, str) else ""
                local = ctag.rsplit("}", 1)[-1]
                if local == "event":
                    ev: dict[str, Any] = {}
                    line = child.sourceline or 0
                    for a in child:
                        _read_attr(a, ev, zone, name)
                    events.append((ev, line))
                else:
                    _read_attr(child, attrs, zone, name)
            traces.append(RawTrace(attrs, events, elem.sourceline or 0))
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno is not None else "?"
        raise ImportFormatError(
            f"{name}:{line}: malformed XML: {exc.msg} (is the file complete and really XES? "
            "fix or re-export it)"
        ) from None
    return traces


def _read_attr(elem: Any, out: dict[str, Any], zone: tzinfo | None, name: str) -> None:
    tag = elem.tag if isinstance(elem.tag, str) else ""
    local = tag.rsplit("}", 1)[-1]
    if local not in ATTRIBUTE_TAGS:
        return
    key = elem.get("key")
    value = elem.get("value")
    if key is None or value is None:
        return
    out[key] = convert_value(local, value, zone, lambda: f"{name}:{elem.sourceline}")


def scan_xes(raw: bytes, name: str, zone: tzinfo | None, *, fast: bool = True) -> list[RawTrace]:
    """The traces of an XES document (fast scanner first, lxml when it gives up)."""
    if fast:
        try:
            return scan_fast(raw, name, zone)
        except _GiveUp:
            pass
    return scan_lxml(raw, name, zone)
