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

Why this shape (BPIC 2013, 39.5 MB, 720k attributes, CPU seconds measured side by
side): ``str.split('"')`` cuts the body in 0.17-0.22 s, faster than a regex
``findall`` of keys and values alone (0.19 s) and far faster than lxml's
``iterparse`` building the same dicts (1.07 s). What remains is classifying the
stretches (hashing them once each), locating traces and events with array
arithmetic over the tagged stretches only, and one dict per event (0.1 s).
"""

from __future__ import annotations

import re
from collections import Counter
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


@dataclass(frozen=True, slots=True)
class _Sep:
    """One distinct stretch of markup between two attributes, classified."""

    closes: bool  # starts with "/>" (ends the previous attribute)
    tags: tuple[tuple[bool, str, int], ...]  # (is_close, "event"/"trace", newlines before it)
    type: str | None  # the next attribute's type, None at the end
    newlines: int

    @property
    def marks(self) -> str:
        """Its tags, one letter each: ``T``/``t`` open/close a trace, ``E``/``e`` an event."""
        return "".join(("t" if close else "T") if tag == "trace" else ("e" if close else "E")
                       for close, tag, _ in self.tags)


def _classify(sep: str) -> _Sep:
    m = _SEP_RE.fullmatch(sep)
    if m is None:
        raise _GiveUp
    base = m.start("tags")
    tags = tuple((t.group(1) == "/", t.group(2), sep.count("\n", 0, base + t.start()))
                 for t in _TAG_RE.finditer(m.group("tags")))
    return _Sep(m.group("close") is not None, tags, m.group("type"), sep.count("\n"))


def _body(raw: bytes) -> tuple[str, int]:
    """The text from the first ``<trace>`` to ``</log>`` and its first line; the header checked by lxml."""
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
    return text, raw.count(b"\n", 0, start_b) + 1


@dataclass(frozen=True, slots=True)
class _Cut:
    """The body cut at its quotes: attribute ``i`` is ``<seps[i]> keys[i]="values[i]"``.

    ``codes[i]`` numbers ``seps[i]`` among the distinct stretches ``kinds``; ``seps``
    has one more entry than ``keys`` (the markup after the last attribute).
    """

    keys: list[str]
    values: list[str]
    codes: np.ndarray
    kinds: list[_Sep]


def _cut(text: str) -> _Cut:
    """Split at the quotes and check that every ``<``, line break and tab lies in the markup."""
    parts = text.split('"')
    if len(parts) % 4 != 1 or len(parts) < 5:
        raise _GiveUp
    seps, keys, mids, values = parts[0::4], parts[1::4], parts[2::4], parts[3::4]
    del parts
    uniq_mids = set(mids)
    if any(_MID_RE.fullmatch(mid) is None for mid in uniq_mids):
        raise _GiveUp
    uniq = list(set(seps))
    kinds = [_classify(s) for s in uniq]
    code_of = {s: k for k, s in enumerate(uniq)}
    codes = np.fromiter(map(code_of.__getitem__, seps), dtype=np.int64, count=len(seps))
    # Every '<', line break and tab of the body must lie in the markup between values
    # (XML would normalise line breaks and tabs inside values; lxml handles those).
    counts = np.bincount(codes, minlength=len(uniq)).tolist()
    mid_counts = Counter(mids) if len(uniq_mids) > 1 else {m: len(mids) for m in uniq_mids}
    for char in ("<", "\n", "\t"):
        in_markup = sum(c * s.count(char) for c, s in zip(counts, uniq, strict=True))
        in_markup += sum(c * m.count(char) for m, c in mid_counts.items())
        if in_markup != text.count(char):
            raise _GiveUp
    closes = np.array([k.closes for k in kinds], dtype=bool)
    ends = np.array([k.type is None for k in kinds], dtype=bool)
    if closes[codes[0]] or not kinds[codes[0]].tags or not closes[codes[1:]].all():
        raise _GiveUp
    if ends[codes[:-1]].any() or not ends[codes[-1]]:
        raise _GiveUp
    if "&" in text:
        keys = [_unescape(k) if "&" in k else k for k in keys]
        values = [_unescape(v) if "&" in v else v for v in values]
    return _Cut(keys, values, codes, kinds)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where traces and events begin and end, as attribute indices and lines.

    Event ``j`` holds attributes ``event_from[j]:event_to[j]`` and starts on line
    ``event_lines[j]``; it belongs to trace ``event_trace[j]``. The trace attributes
    are ``trace_attrs`` (indices, in file order), of trace ``trace_of_attr``.
    """

    attr_lines: np.ndarray
    trace_lines: list[int]
    event_from: list[int]
    event_to: list[int]
    event_lines: list[int]
    event_trace: np.ndarray
    trace_attrs: np.ndarray
    trace_of_attr: np.ndarray


def _layout(cut: _Cut, base_line: int) -> _Layout:
    """The nesting of traces and events, checked and located in a few array passes.

    Only the stretches with tags matter: each contributes its tags (``T``/``t`` a trace
    opens/closes, ``E``/``e`` an event), and attribute ``i`` starts after the tags of
    stretch ``i``, at the depth they leave.
    """
    codes, kinds = cut.codes, cut.kinds
    newlines = np.array([k.newlines for k in kinds], dtype=np.int64)
    sep_lines = np.empty(len(codes), dtype=np.int64)
    sep_lines[0] = base_line
    np.cumsum(newlines[codes[:-1]], out=sep_lines[1:])
    sep_lines[1:] += base_line
    n_tags = np.array([len(k.tags) for k in kinds], dtype=np.int64)
    tagged = np.flatnonzero(n_tags[codes])  # the stretches with tags, in file order
    per_sep = n_tags[codes[tagged]]
    sep_of = np.repeat(tagged, per_sep)  # one entry per tag, in file order
    first = np.cumsum(per_sep) - per_sep
    offsets = np.cumsum(n_tags) - n_tags
    at = offsets[codes[sep_of]] + np.arange(len(sep_of)) - np.repeat(first, per_sep)
    marks = np.frombuffer("".join(k.marks for k in kinds).encode("ascii"), dtype=np.uint8)[at]
    tag_nl = np.array([nl for k in kinds for _, _, nl in k.tags], dtype=np.int64)[at]
    is_ = {c: marks == ord(c) for c in "TtEe"}
    depth = np.cumsum(is_["T"].astype(np.int64) + is_["E"] - is_["t"] - is_["e"])
    last_tag = np.cumsum(per_sep) - 1
    # Traces hold events and attributes, events hold attributes, nothing else nests;
    # only the markup after the last attribute leaves no trace open.
    if not ((depth[is_["T"]] == 1).all() and (depth[is_["E"]] == 2).all() and (depth[is_["e"]] == 1).all()
            and (depth[is_["t"]] == 0).all() and (depth[last_tag[:-1]] >= 1).all()
            and tagged[-1] == len(codes) - 1 and depth[-1] == 0):
        raise _GiveUp
    lines = sep_lines[sep_of] + tag_nl
    trace_no = np.cumsum(is_["T"]) - 1
    # Attribute i lies at the depth the last tagged stretch at or before it leaves.
    owner = np.searchsorted(tagged, np.arange(len(codes) - 1), side="right") - 1
    in_trace = depth[last_tag[owner]] == 1
    trace_attrs = np.flatnonzero(in_trace)
    return _Layout(
        attr_lines=sep_lines[:-1] + newlines[codes[:-1]],
        trace_lines=lines[is_["T"]].tolist(),
        event_from=sep_of[is_["E"]].tolist(),
        event_to=sep_of[is_["e"]].tolist(),
        event_lines=lines[is_["E"]].tolist(),
        event_trace=trace_no[is_["E"]],
        trace_attrs=trace_attrs,
        trace_of_attr=trace_no[last_tag[owner[trace_attrs]]],
    )


def _convert_typed(cut: _Cut, attr_lines: np.ndarray, name: str, zone: tzinfo | None) -> None:
    """Dates and numbers to Python values in place (``where`` names the line for errors)."""
    type_names = [k.type for k in cut.kinds]
    typed = np.array([t not in (None, "string", "id") for t in type_names], dtype=bool)
    values, codes = cut.values, cut.codes[:-1]
    positions = np.flatnonzero(typed[codes])
    type_of = np.array([str(t) for t in type_names])[codes[positions]]
    by_type = {t: positions[type_of == t].tolist() for t in sorted(set(type_of.tolist()))}
    fast = {"date": datetime.fromisoformat, "int": int, "float": float}
    try:  # all at once; on any doubt value by value, in file order, so the first error is named
        converted = {t: [fast[t](values[i]) for i in where] if t in fast else None
                     for t, where in by_type.items()}
        if any(d.tzinfo is None for d in converted.get("date") or ()):
            raise ValueError
    except ValueError:
        for i in positions.tolist():
            values[i] = convert_value(type_names[codes[i]], values[i], zone,
                                      lambda i=i: f"{name}:{int(attr_lines[i])}")
        return
    for t, where in by_type.items():
        out = converted[t] or [convert_value(t, values[i], zone, str) for i in where]
        for i, v in zip(where, out, strict=True):
            values[i] = v


def _traces(cut: _Cut, layout: _Layout) -> list[RawTrace]:
    """The :class:`RawTrace` records: one dict per event and per trace."""
    keys, values = cut.keys, cut.values
    # zip without strict=: the slices have equal lengths by construction, and the
    # check costs an eighth of this hot loop.
    events = list(zip([dict(zip(keys[a:b], values[a:b]))  # noqa: B905
                       for a, b in zip(layout.event_from, layout.event_to)],  # noqa: B905
                      layout.event_lines, strict=True))
    n = len(layout.trace_lines)
    ev_bounds = np.concatenate(([0], np.cumsum(np.bincount(layout.event_trace, minlength=n)))).tolist()
    at_bounds = np.concatenate(([0], np.cumsum(np.bincount(layout.trace_of_attr, minlength=n)))).tolist()
    attr_idx = layout.trace_attrs.tolist()
    t_keys = [keys[i] for i in attr_idx]
    t_values = [values[i] for i in attr_idx]
    return [RawTrace(dict(zip(t_keys[at_bounds[t]:at_bounds[t + 1]], t_values[at_bounds[t]:at_bounds[t + 1]],
                              strict=True)),
                     events[ev_bounds[t]:ev_bounds[t + 1]], line)
            for t, line in enumerate(layout.trace_lines)]


def scan_fast(raw: bytes, name: str, zone: tzinfo | None) -> list[RawTrace]:
    """Scan the common XES layout; raises _GiveUp when lxml must read the file.

    Four steps over the whole body: cut it at its quotes and classify the few distinct
    stretches of markup (:func:`_cut`); locate traces and events from those stretches'
    tags with array arithmetic (:func:`_layout`); convert the typed values
    (:func:`_convert_typed`); and build one dict per event and trace (:func:`_traces`).
    """
    text, base_line = _body(raw)
    cut = _cut(text)
    del text
    layout = _layout(cut, base_line)
    _convert_typed(cut, layout.attr_lines, name, zone)
    return _traces(cut, layout)


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
