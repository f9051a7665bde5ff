"""The fast XES scanner reads exactly what lxml reads, or hands the file to lxml.

The real logs are read both ways and compared; generated documents in many
layouts (quotes, entities, comments, nested attributes, line breaks in values,
explicit end tags, truncation and other damage) must give the same traces
through the fast-first path as through lxml alone, or the same error.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta, timezone
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from event_store.errors import ImportFormatError
from event_store.io.xes import _GiveUp, scan_fast, scan_lxml, scan_xes
from tests.datasets import HELPDESK, RUNNING_EXAMPLE, dataset_path

LIBXML_LINE_LIMIT = 65535  # libxml2 reports lines past this one off by one


def _raw(parts):
    path = dataset_path(*parts)
    return gzip.open(path).read() if str(path).endswith(".gz") else path.read_bytes()


def _comparable(traces, *, cap_lines=False):
    def line(n):
        return min(n, LIBXML_LINE_LIMIT) if cap_lines else n

    return [(t.attrs, [(a, line(n)) for a, n in t.events], line(t.line)) for t in traces]


@pytest.mark.slow
@pytest.mark.parametrize("parts", [HELPDESK, RUNNING_EXAMPLE], ids=["helpdesk", "running"])
def test_real_logs_read_the_same_both_ways(parts):
    raw = _raw(parts)
    fast = scan_fast(raw, "log", None)  # the real logs are in the fast layout
    slow = scan_lxml(raw, "log", None)
    assert _comparable(fast, cap_lines=True) == _comparable(slow, cap_lines=True)
    # Lines are the <event> start tags' (checked by hand on the running example).
    if parts == RUNNING_EXAMPLE:
        assert fast[0].line == 20 and fast[0].events[0][1] == 23


def test_running_example_line_numbers_are_the_start_tags():
    raw = _raw(RUNNING_EXAMPLE)
    lines = raw.decode().splitlines()
    for trace in scan_fast(raw, "x", None):
        assert lines[trace.line - 1].strip().startswith("<trace")
        for _, line in trace.events:
            assert lines[line - 1].strip().startswith("<event")


# -- generated documents --------------------------------------------------------------------

ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3))]
safe_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=10)
key_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)


@st.composite
def attribute(draw, odd_values):
    kind = draw(st.sampled_from(["string", "string", "date", "int", "float", "boolean", "id"]))
    if kind == "date":
        dt = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1),
                               timezones=st.sampled_from(ZONES)))
        value = dt.isoformat()
    elif kind == "int":
        value = str(draw(st.integers(-(10**12), 10**12)))
    elif kind == "float":
        value = repr(draw(st.floats(allow_nan=False, allow_infinity=False, width=32)))
    elif kind == "boolean":
        value = draw(st.sampled_from(["true", "false"]))
    elif odd_values and draw(st.integers(0, 4)) == 0:
        value = draw(st.sampled_from(["a\tb", "line\nbreak", "x & y", "<tag>", 'q"uote', "é", "it's"]))
    else:
        value = draw(safe_text)
    return kind, draw(key_text), value


@st.composite
def layout(draw):
    """One document's way of writing attributes (most documents are plain)."""
    plain = draw(st.booleans())
    return {
        "quote": '"' if plain else draw(st.sampled_from(['"', "'"])),
        "gap": " " if plain else draw(st.sampled_from([" ", "  ", "\n        "])),
        "close": "/>" if plain else draw(st.sampled_from(["/>", " />", "end-tag"])),
        "reverse": False if plain else draw(st.booleans()),
        "charref": not plain and draw(st.booleans()),
        "nested": not plain and draw(st.integers(0, 3)) == 0,
        "comment": not plain and draw(st.integers(0, 3)) == 0,
        "odd_values": draw(st.booleans()),
        "indent": draw(st.sampled_from(["  ", "\t", ""])),
    }


def render_attr(draw, style, kind, key, value, depth):
    quote = style["quote"]

    def q(text):
        body = escape(text, {'"': "&quot;", "'": "&apos;"})
        if style["charref"]:
            body = body.replace("é", "&#233;")
        return f"{quote}{body}{quote}"

    indent = style["indent"] * depth
    pair = [f"key={q(key)}", f"value={q(value)}"]
    if style["reverse"] and draw(st.booleans()):
        pair.reverse()
    head = f"{indent}<{kind} {pair[0]}{style['gap']}{pair[1]}"
    if style["nested"] and draw(st.integers(0, 4)) == 0:
        return f'{head}><string key="inner" value="x"/></{kind}>'
    if style["close"] == "end-tag":
        return f"{head}></{kind}>"
    return head + style["close"]


@st.composite
def xes_document(draw):
    style = draw(layout())
    ind = style["indent"]
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<!-- generated -->",
           '<log xes.version="1.0" xmlns="http://www.xes-standard.org/">',
           f'{ind}<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>',
           f'{ind}<global scope="event"><string key="concept:name" value="x"/></global>']
    for t in range(draw(st.integers(1, 3))):
        out.append(f"{ind}<trace>")
        out.append(render_attr(draw, style, "string", "concept:name", f"case {t}", 2))
        for kind, key, value in draw(st.lists(attribute(style["odd_values"]), max_size=2)):
            out.append(render_attr(draw, style, kind, key, value, 2))
        for _ in range(draw(st.integers(0, 3))):
            out.append(f"{ind * 2}<event>")
            for kind, key, value in draw(st.lists(attribute(style["odd_values"]), max_size=4)):
                out.append(render_attr(draw, style, kind, key, value, 3))
            if style["comment"] and draw(st.booleans()):
                out.append(f"{ind * 3}<!-- a comment -->")
            out.append(f"{ind * 2}</event>")
        out.append(f"{ind}</trace>")
    out.append("</log>")
    doc = "\n".join(out) + draw(st.sampled_from(["\n", "", "\n<!-- end -->\n"]))
    damage = draw(st.integers(0, 7))
    if damage == 0:  # truncated
        doc = doc[: draw(st.integers(0, len(doc) - 1))]
    elif damage == 1:  # one character dropped
        i = draw(st.integers(0, len(doc) - 1))
        doc = doc[:i] + doc[i + 1 :]
    return doc.encode()


def _outcome(fn, raw):
    try:
        return "ok", _comparable(fn(raw, "doc.xes", UTC))
    except ImportFormatError as exc:
        return "error", str(exc).split(":")[1]  # the line number


@settings(max_examples=200, deadline=None)
@given(xes_document())
def test_fast_first_path_agrees_with_lxml(raw):
    assert _outcome(scan_xes, raw) == _outcome(scan_lxml, raw)


def test_fast_scanner_gives_up_on_what_it_does_not_handle():
    base = '<log xmlns="http://www.xes-standard.org/"><trace><string key="concept:name" value="1"/>{}</trace></log>'
    for body in ('<event><string key="a" value="x\ny"/></event>',  # line break: XML makes it a space
                 "<event><string key='a' value='x'/></event>",  # single quotes
                 '<event><!-- c --><string key="a" value="x"/></event>',
                 '<event><string key="a" value="b"><int key="n" value="1"/></string></event>',
                 '<event><string key="a" value="&nbsp;"/></event>'):
        with pytest.raises(_GiveUp):
            scan_fast(base.format(body).encode(), "x", UTC)
    # lxml reads them all (the unknown entity is an error there, with its line).
    assert scan_lxml(base.format('<event><string key="a" value="x\ny"/></event>').encode(), "x", UTC)[0].events[0][0] == {
        "a": "x y"}
    with pytest.raises(ImportFormatError, match=r"x:1: malformed XML"):
        scan_xes(base.format('<event><string key="a" value="&nbsp;"/></event>').encode(), "x", UTC)


def test_typed_values_and_errors_name_the_line():
    doc = ('<log>\n<trace>\n<string key="concept:name" value="1"/>\n<event>\n'
           '<int key="n" value="7"/>\n<float key="f" value="2.5"/>\n<boolean key="b" value="true"/>\n'
           '<date key="time:timestamp" value="2020-01-02T03:04:05.000123+08:00"/>\n</event>\n</trace>\n</log>\n')
    (trace,) = scan_fast(doc.encode(), "x", None)
    attrs, line = trace.events[0]
    assert line == 4
    assert attrs == {"n": 7, "f": 2.5, "b": True,
                     "time:timestamp": datetime(2020, 1, 1, 19, 4, 5, 123, tzinfo=UTC)}
    with pytest.raises(ImportFormatError, match=r"x:5: 'seven' is not an int"):
        scan_xes(doc.replace('value="7"', 'value="seven"').encode(), "x", None)
    with pytest.raises(ImportFormatError, match=r"x:8: date '2020-01-02T03:04:05' has no time zone .*--tz"):
        scan_xes(doc.replace(".000123+08:00", "").encode(), "x", None)
