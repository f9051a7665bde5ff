"""Zendesk Ticket Audits (pages, NDJSON, or the incremental ticket event export) as change records; public comments as replies."""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.changes import (
    _CONTAINERS, _histories, _json_time, _reads, _Tickets, _wrong_shape, _zone_of, Change, SHAPES,
    SourceRead,
)
from event_store.io.json_stream import iter_json
from event_store.io.mapping import ImportMapping


# -- Zendesk ----------------------------------------------------------------------------------


def _zendesk(path: str, mapping: ImportMapping) -> SourceRead:
    name = os.path.basename(path)
    zone = _zone_of(mapping, name)
    tickets = _Tickets()
    items = 0
    seen: list[str] = []
    for container, item, line in iter_json(path, _CONTAINERS["zendesk-audits"], seen):
        where = f"{name}:{line}"
        if not isinstance(item, dict):
            raise _wrong_shape(name, "zendesk-audits", mapping, f"line {line} holds {type(item).__name__}", [])
        if container == "ticket_events" or "child_events" in item:
            _zendesk_event(tickets, item, mapping, zone, where)
        elif container == "audits" or "events" in item:
            _zendesk_audit(tickets, item, mapping, zone, where)
        elif items == 0 and container is None:
            raise _wrong_shape(name, "zendesk-audits", mapping, "the file holds no audits", list(item)[:8])
        else:
            raise ImportFormatError(f"{where}: this object has no 'events' (keys: {', '.join(list(item)[:8])}): "
                                    f"not a ticket audit; expected {SHAPES['zendesk-audits']}")
        items += 1
    if items == 0:
        raise _wrong_shape(name, "zendesk-audits", mapping, "the file holds no audits", seen)
    if COMMENT_FIELD in mapping.changes.steps:
        _name_replies(tickets)
    return _histories(tickets, mapping, 0, [])


#: The pseudo field of a Zendesk public comment; list it in ``[changes] steps`` to make
#: replies steps (the zendesk preset does).
COMMENT_FIELD = "comment"
AGENT_REPLY = "Agent reply"
CUSTOMER_REPLY = "Customer reply"
_PUBLIC_COMMENT = "\0public comment"  # placeholder value until the requester is known


def _public_comment(tickets: _Tickets, ticket: str, comment: dict[str, Any], time: datetime, order: int,
                    author: Any, where: str) -> int:
    """Record a public comment (a reply) with its author; private notes are not replies."""
    if comment.get("public") is not True:
        return 0
    author = comment.get("author_id", author)
    if author in (None, "", -1):
        return 0  # the system's own comments are not replies
    tickets.add(ticket, Change(time, order, 0, str(author), COMMENT_FIELD, None, _PUBLIC_COMMENT, "change", where))
    return 1


def _name_replies(tickets: _Tickets) -> None:
    """Name each public comment by who wrote it: the requester (the author of the ticket's
    first audit) writes a *Customer reply*, anyone else an *Agent reply*. The requester's
    comment in that first audit is the ticket's description, not a reply: it is left out.
    Zendesk's first reply time is the time to the first *Agent reply*."""
    for ticket, records in tickets.by_ticket.items():
        if not any(r.field == COMMENT_FIELD for r in records):
            continue
        first = min(records, key=lambda r: (r.time, r.order, r.seq))
        requester = first.actor
        kept = []
        for r in records:
            if r.field == COMMENT_FIELD:
                if r.actor == requester and (r.time, r.order) == (first.time, first.order):
                    continue
                r = r._replace(new=CUSTOMER_REPLY if r.actor == requester else AGENT_REPLY)
            kept.append(r)
        tickets.by_ticket[ticket] = kept


def _number(value: Any) -> int:
    """An audit's or event's id as a number (ids grow with time: the tie-break), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _need(item: dict[str, Any], key: str, where: str, mapping: ImportMapping, what: str) -> Any:
    if item.get(key) in (None, ""):
        raise ImportFormatError(f"{where}: {what} without {key!r}, which {_reads(mapping)}")
    return item[key]


def _zendesk_audit(tickets: _Tickets, audit: dict[str, Any], mapping: ImportMapping, zone: tzinfo | None,
                   where: str) -> int:
    ticket = str(_need(audit, "ticket_id", where, mapping, "an audit"))
    time = _json_time(_need(audit, "created_at", where, mapping, "an audit"), mapping, zone, where, "created_at")
    order = _number(audit.get("id"))
    actor = audit.get("author_id")
    actor = None if actor in (None, "", -1) else str(actor)
    if isinstance(audit.get("id"), (int, str)) and audit.get("id") != "":
        where = f"{where} audit {audit['id']}"
    events = audit.get("events")
    if not isinstance(events, list):
        raise ImportFormatError(f"{where}: the audit's 'events' is not a list ({_reads(mapping)})")
    via = audit.get("via")
    channel = via.get("channel") if isinstance(via, dict) else via
    if channel not in (None, ""):
        tickets.add(ticket, Change(time, order, 0, actor, "via.channel", None, channel, "meta", where))
    n = 0
    replies = COMMENT_FIELD in mapping.changes.steps
    for event in events:
        if replies and isinstance(event, dict) and event.get("type") == "Comment":
            n += _public_comment(tickets, ticket, event, time, order, audit.get("author_id"), where)
            continue
        if not isinstance(event, dict) or event.get("type") not in ("Create", "Change"):
            continue  # notifications, satisfaction ratings, ...: not field values
        fld = event.get("field_name")
        if fld in (None, ""):
            continue
        n += 1
        kind = "create" if event["type"] == "Create" else "change"
        tickets.add(ticket, Change(time, order, 0, actor, str(fld), event.get("previous_value"), event.get("value"),
                                   kind, where))
    return n


_CHILD_KEYS = {"id", "via", "via_reference_id", "event_type", "type", "previous_value", "audit_id", "created_at",
               "author_id", "field_name", "value", "public", "body", "html_body", "plain_body", "attachments",
               "comment_present", "comment_public", "metadata", "recipients", "subject"}


def _zendesk_event(tickets: _Tickets, event: dict[str, Any], mapping: ImportMapping, zone: tzinfo | None,
                   where: str) -> int:
    ticket = str(_need(event, "ticket_id", where, mapping, "a ticket event"))
    raw_time = event.get("created_at", event.get("timestamp"))
    time = _json_time(raw_time, mapping, zone, where, "created_at")
    order = _number(event.get("id"))
    actor = event.get("updater_id")
    actor = None if actor in (None, "", -1) else str(actor)
    if isinstance(event.get("id"), (int, str)) and event.get("id") != "":
        where = f"{where} event {event['id']}"
    via = event.get("via")
    channel = via.get("channel") if isinstance(via, dict) else via
    if channel not in (None, ""):
        tickets.add(ticket, Change(time, order, 0, actor, "via.channel", None, channel, "meta", where))
    n = 0
    replies = COMMENT_FIELD in mapping.changes.steps
    for child in event.get("child_events") or ():
        if replies and isinstance(child, dict) and child.get("event_type", child.get("type")) == "Comment":
            n += _public_comment(tickets, ticket, child, time, order, event.get("updater_id"), where)
            continue
        if not isinstance(child, dict) or child.get("event_type", child.get("type")) not in ("Create", "Change"):
            continue
        if child.get("field_name"):
            fld, value = str(child["field_name"]), child.get("value")
        else:
            keys = [k for k in child if k not in _CHILD_KEYS]
            if len(keys) != 1:
                continue
            fld, value = keys[0], child[keys[0]]
        n += 1
        kind = "create" if child.get("event_type", child.get("type")) == "Create" else "change"
        tickets.add(ticket, Change(time, order, 0, actor, fld, child.get("previous_value"), value, kind, where))
    return n


__all__ = [
    "AGENT_REPLY",
    "COMMENT_FIELD",
    "CUSTOMER_REPLY",
]
