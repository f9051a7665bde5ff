"""Posted events: a JSON array or NDJSON body to :class:`event_store.ingest.IngestEvent` items.

An event is an object with ``ticket``, ``activity``, ``timestamp`` (ISO 8601 with a
time zone or ``Z``) and optionally ``resource`` (who did it), ``team``, ``channel``,
``priority`` (case attributes), ``attrs`` (an object of further attributes) and
``event_id`` (the sender's id: a retry with the same id records once). Anything
else is refused, so that a misspelt field is an error and not a silent loss, and so is
a NUL character in any text (as the file readers refuse one). The
first bad event stops the parse with a :class:`csmine.errors.LiveInputError`
naming its index (and line, for NDJSON) and the field; the server then records
nothing of that request.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from event_store.errors import InputLimitError
from event_store.ingest import IngestEvent
from event_store.limits import check_event, current_limits

from csmine.errors import LiveInputError

FIELDS = ("ticket", "activity", "timestamp", "resource", "team", "channel", "priority", "attrs", "event_id")
REQUIRED = ("ticket", "activity", "timestamp")


def parse_body(body: bytes) -> list[IngestEvent]:
    """Parse a JSON array, a single JSON object or NDJSON (one object a line) of events.

    Raises:
        LiveInputError: not JSON, or an event is not valid (index, line and field named).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LiveInputError(f"the body is not UTF-8 (byte {exc.start})") from None
    stripped = text.lstrip()
    if not stripped:
        raise LiveInputError("the body is empty: send a JSON array or NDJSON of events")
    if stripped[0] == "[":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LiveInputError(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                                 line=exc.lineno) from None
        return [parse_event(item, i) for i, item in enumerate(items)]
    out = []
    index = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LiveInputError(f"event {index} (line {lineno}) is not valid JSON: {exc.msg} at column {exc.colno}",
                                 index=index, line=lineno) from None
        out.append(parse_event(item, index, lineno))
        index += 1
    return out


def parse_event(item: Any, index: int, line: int | None = None) -> IngestEvent:
    """One event object; raises :class:`LiveInputError` naming ``index`` and the field."""
    where = f"event {index}" + (f" (line {line})" if line is not None else "")

    def bad(field: str | None, message: str) -> LiveInputError:
        return LiveInputError(f"{where}: {message}", index=index, field=field, line=line)

    if not isinstance(item, dict):
        raise bad(None, f"expected an object with {', '.join(REQUIRED)}, got {type(item).__name__}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise bad(unknown[0], f"unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    for name in REQUIRED:
        if item.get(name) in (None, ""):
            raise bad(name, f"field {name!r} is missing or empty")
    ticket = _text(item, "ticket", bad, numbers=True)
    activity = _text(item, "activity", bad)
    assert ticket is not None and activity is not None
    if not activity.strip():
        raise bad("activity", "field 'activity' is blank")
    occurred = _timestamp(item["timestamp"], bad)
    resource, team = _text(item, "resource", bad, numbers=True), _text(item, "team", bad)
    case = {k: v for k in ("channel", "priority") if (v := _text(item, k, bad, numbers=True)) is not None}
    attrs = item.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise bad("attrs", f"field 'attrs' must be an object, got {type(attrs).__name__}")
    event_id = _text(item, "event_id", bad, numbers=True)
    for name, value in (("ticket", ticket), ("activity", activity), ("resource", resource), ("team", team),
                        *case.items(), ("attrs", attrs), ("event_id", event_id)):
        if _holds_nul(value):
            raise bad(name, f"field {name!r} holds a NUL character (\\u0000), which a ticket's text cannot "
                            "keep (PostgreSQL refuses it, and a ticket id with one could never be named "
                            "again): remove it in the sender")
    try:
        check_event(where, current_limits(), command="record", ticket=ticket, activity=activity, actor=resource,
                    team=team, attrs={**case, **attrs})
    except InputLimitError as exc:
        raise bad(_limit_field(str(exc)), str(exc)) from None
    return IngestEvent(ticket, activity, occurred, resource, team, case, attrs, event_id)


def _text(item: dict[str, Any], name: str, bad: Any, *, numbers: bool = False) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or (isinstance(value, int) and not numbers):
        raise bad(name, f"field {name!r} must be a string, got {type(value).__name__}")
    return str(value)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _timestamp(value: Any, bad: Any) -> datetime:
    if not isinstance(value, str):
        raise bad("timestamp", f"field 'timestamp' must be an ISO 8601 string, got {type(value).__name__}")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise bad("timestamp", f"field 'timestamp' {value[:40]!r} is not an ISO 8601 time "
                               "(e.g. 2025-03-03T09:15:00+08:00)") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise bad("timestamp", f"field 'timestamp' {value[:40]!r} has no time zone (add +08:00 or Z)")
    return t


def _limit_field(message: str) -> str | None:
    for phrase, field in (("ticket id", "ticket"), ("activity", "activity"), ("actor", "resource"),
                          ("team", "team")):
        if phrase in message:
            return field
    return "attrs"


__all__ = ["FIELDS", "parse_body", "parse_event"]
