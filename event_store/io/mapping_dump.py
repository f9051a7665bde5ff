"""Writing a mapping back as TOML (``csmine import --print-mapping``).

:func:`dump_mapping` writes every key, so that
``parse_mapping(dump_mapping(m)) == m`` (:func:`event_store.io.mapping.parse_mapping`).
"""

from __future__ import annotations

import json
import re

from event_store.io.mapping import CHANGE_FORMATS, ChangeRules, FORMATS, ImportMapping


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _q(name)


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def dump_mapping(mapping: ImportMapping, *, detected: dict[str, str] | None = None) -> str:
    """The mapping as TOML text, every key written (``parse_mapping`` gives it back).

    Args:
        mapping: the mapping.
        detected: what reading the file found where the mapping leaves it open
            (``delimiter``, ``encoding``), written as comments to uncomment.
    """
    out = ["# csmine import mapping (the format: docs/mapping-files.md)"]
    out += _top(mapping)
    out += _columns(mapping, detected or {})
    out += _activities(mapping)
    if mapping.format in CHANGE_FORMATS or mapping.changes != ChangeRules():
        out += _changes(mapping.changes)
    return "\n".join(out) + "\n"


def _top(m: ImportMapping) -> list[str]:
    """The top-level keys."""
    out = []
    if m.name:
        out.append(f"name = {_q(m.name)}")
    if m.description:
        out.append(f"description = {_q(m.description)}")
    if m.format:
        out.append(f"format = {_q(m.format)}              # {', '.join(FORMATS)}")
    out += [
        f"lifecycle = {_q(m.lifecycle)}",
        f"activity_form = {_q(m.activity_form)}        # \"value\", or \"field: value\"",
        f"collapse_repeats = {'true' if m.collapse_repeats else 'false'}",
        f"closed_when = {_list(m.closed_when)}",
    ]
    if m.missing_values:
        out.append(f"missing_values = {_list(m.missing_values)}")
    return out


def _columns(m: ImportMapping, detected: dict[str, str]) -> list[str]:
    """``[columns]``, ``[case_attributes]``, ``[time]``, ``[csv]`` and ``[case_table]``."""
    c = m.columns
    out = ["", "[columns]", f"case = {_q(c.case)}", f"activity = {_q(c.activity)}", f"timestamp = {_q(c.timestamp)}"]
    for key in ("resource", "team", "start", "lifecycle"):
        value = getattr(c, key)
        if value is not None and key in c.named:
            out.append(f"{key} = {_q(value)}")
        elif value is not None:  # left at its default: uncommented, the file must have it
            out.append(f"# {key} = {_q(value)}          # the default: read when the file has it")
    if m.order_column:
        out.append(f"order = {_q(m.order_column)}            # orders rows with the same time")
    if c.case_attrs:
        out += ["", "[case_attributes]                # ticket attribute = column"]
        out += [f"{_key(k)} = {_q(v)}" for k, v in c.case_attrs.items()]
    if c.timestamp_format or c.tz:
        out += ["", "[time]"]
        if c.timestamp_format:
            out.append(f"format = {_q(c.timestamp_format)}")
        if c.tz:
            out.append(f"zone = {_q(c.tz)}")
    if c.sep or c.encoding or detected:
        out += ["", "[csv]"]
        for key, value in (("delimiter", _sep_text(c.sep)), ("encoding", c.encoding)):
            if value is not None:
                out.append(f"{key} = {_q(value)}")
            elif key in detected:
                out.append(f"# {key} = {_q(detected[key])}          # detected in the file; uncomment to fix it")
    if m.case_table is not None:
        t = m.case_table
        out += ["", "[case_table]", f"file = {_q(t.file)}"]
        for key, value in (("key", t.key), ("delimiter", _sep_text(t.sep)), ("encoding", t.encoding)):
            if value is not None:
                out.append(f"{key} = {_q(value)}")
    return out


def _activities(m: ImportMapping) -> list[str]:
    """``[activities]`` and ``[activities.rename]``."""
    out = []
    if m.drop:
        out += ["", "[activities]", f"drop = {_list(m.drop)}"]
    if m.rename:
        out += ["", "[activities.rename]              # source activity = recorded activity"]
        out += [f"{_q(k)} = {_q(v)}" for k, v in m.rename.items()]
    return out


def _changes(ch: ChangeRules) -> list[str]:
    """``[changes]`` and ``[changes.case]``."""
    out = ["", "[changes]", f"steps = {_list(ch.steps)}"]
    if ch.team:
        out.append(f"team = {_q(ch.team)}")
    if ch.attributes:
        out.append(f"attributes = {_list(ch.attributes)}")
    if ch.table:
        out.append(f"table = {_q(ch.table)}")
    if ch.case:
        out += ["", "[changes.case]                   # ticket attribute = field (its earliest value)"]
        out += [f"{_key(k)} = {_q(v)}" for k, v in ch.case.items()]
    return out


def _sep_text(sep: str | None) -> str | None:
    return "tab" if sep == "\t" else sep


__all__ = ["dump_mapping"]
