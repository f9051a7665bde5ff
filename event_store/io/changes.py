"""Change records (one record per changed field) folded into ticket histories: the shapes, the fold, the messages the ServiceNow, Zendesk and Jira readers share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo, UTC
from typing import Any, NamedTuple

from event_store.errors import ImportFormatError
from event_store.io.read_base import ReadResult, case_from, collapse_rows, opened_at, time_zone
from event_store.io.mapping import ImportMapping
from event_store.limits import check_history, current_limits
from event_store.records import ActivityRow, TicketHistory

#: Formats read here (the importing hook dispatches them) and the preset each defaults to.
VENDOR_FORMATS = {"servicenow-audit": "servicenow-audit", "zendesk-audits": "zendesk", "jira-changelog": "jira"}

#: What each change-record format expects, for messages about a file of another shape.
SHAPES = {
    "servicenow-audit": ("ServiceNow sys_audit rows: a CSV export of sys_audit with the columns documentkey, "
                         "fieldname, oldvalue, newvalue, sys_created_on, user, or the Table API's JSON "
                         "{\"result\": [{\"documentkey\": ..., \"fieldname\": ..., ...}]}"),
    "zendesk-audits": ("the Zendesk Ticket Audits API's JSON: {\"audits\": [{\"ticket_id\", \"created_at\", "
                       "\"author_id\", \"via\", \"events\": [...]}]} as GET /api/v2/tickets/{id}/audits or "
                       "/api/v2/ticket_audits returns it (pages concatenated or in an array), one audit per line "
                       "(NDJSON), or the incremental ticket event export {\"ticket_events\": [...]}"),
    "jira-changelog": ("a Jira search result with the changelog: {\"issues\": [{\"key\", \"fields\": "
                       "{\"created\", ...}, \"changelog\": {\"histories\": [...]}}]} as GET "
                       "/rest/api/2/search?jql=...&expand=changelog returns it, or one issue per line"),
}

_CONTAINERS = {"servicenow-audit": ("result", "records"), "zendesk-audits": ("audits", "ticket_events"),
               "jira-changelog": ("issues",)}
_GUESS = {"issues": "a Jira search result (--preset jira)", "audits": "Zendesk ticket audits (--preset zendesk)",
          "ticket_events": "a Zendesk incremental ticket event export (--preset zendesk)",
          "result": "a ServiceNow Table API result (--preset servicenow-audit, for sys_audit)"}


@dataclass(frozen=True, slots=True)
class SourceRead:
    """What reading an export with a mapping gave.

    Attributes:
        histories: the tickets, in order of first appearance.
        rows: records (rows, events, changelog items) read from the file.
        rows_collapsed: rows merged into the row before them (collapse_repeats).
        rows_dropped: rows left out: dropped activities, changes of fields that are not
            steps, sys_audit rows of other tables.
        closed: tickets whose last step closes them (``closed_when``); None without it.
        notes: things the reader wants said (truncated changelogs, ...).
    """

    histories: list[TicketHistory]
    rows: int
    rows_collapsed: int = 0
    rows_dropped: int = 0
    closed: int | None = None
    notes: tuple[str, ...] = ()

    def as_read_result(self) -> ReadResult:
        """The :class:`~event_store.io.read_base.ReadResult` view (for ``read_log``)."""
        return ReadResult(self.histories, self.rows, self.rows_collapsed)


# -- change records -----------------------------------------------------------------------------


class Change(NamedTuple):
    """One field's change (or value at creation) in a ticket's history."""

    time: datetime
    order: int  # audit / history / checkpoint number, the tie-break at equal times
    seq: int  # file order
    actor: str | None
    field: str
    old: Any
    new: Any
    kind: str  # "create" (set at creation), "change", "meta" (how it came in), "current" (today's value)
    ref: str


def _missing(value: Any, missing: frozenset[str]) -> bool:
    return value is None or value == "" or (isinstance(value, str) and value in missing)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("name", "value", "displayName", "key", "id"):
            if value.get(key) not in (None, ""):
                return str(value[key])
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(value: Any) -> Any:
    """A JSON value as a step or case attribute: scalars as they are, objects as text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _text(value)


class _Tickets:
    """Change records gathered per ticket, in order of first appearance."""

    def __init__(self) -> None:
        self.by_ticket: dict[str, list[Change]] = {}
        self.refs: dict[str, str] = {}
        self.seq = 0

    def add(self, ticket: str, change: Change) -> None:
        records = self.by_ticket.get(ticket)
        if records is None:
            records = self.by_ticket[ticket] = []
            self.refs[ticket] = change.ref
        records.append(change._replace(seq=self.seq))
        self.seq += 1


def _fold(ticket: str, records: list[Change], mapping: ImportMapping, missing: frozenset[str],
          source_ref: str) -> tuple[TicketHistory | None, int, int, int]:
    """One ticket's records, in time order, as a history; and records, rows collapsed, rows dropped."""
    rules = mapping.changes
    steps_fields = set(rules.steps)
    records.sort(key=lambda r: (r.time, r.order, r.seq))
    current: dict[str, Any] = {}
    earliest: dict[str, Any] = {}
    today: dict[str, Any] = {}
    rows: list[tuple[ActivityRow, str | None]] = []
    dropped = 0
    i, n = 0, len(records)
    while i < n:
        # One update (same time and audit): apply all its values first, so a status
        # changed with the group in one update is a step of the new group.
        j = i + 1
        while j < n and records[j].time == records[i].time and records[j].order == records[i].order:
            j += 1
        batch = records[i:j]
        for r in batch:
            if r.kind == "current":
                today[r.field] = r.new
                continue
            if r.field not in earliest:
                first = r.old if r.kind == "change" and not _missing(r.old, missing) else r.new
                earliest[r.field] = first
            current[r.field] = r.new
        for r in batch:
            if r.kind in ("current", "meta"):
                continue
            if r.field not in steps_fields or _missing(r.new, missing):
                dropped += 1
                continue
            value = _text(r.new)
            activity = value if mapping.activity_form == "value" else f"{r.field}: {value}"
            activity = mapping.rename.get(activity, activity)
            if activity in mapping.drop:
                dropped += 1
                continue
            team = current.get(rules.team) if rules.team else None
            team = None if _missing(team, missing) else _text(team)
            attrs = {a: _plain(current[a]) for a in rules.attributes
                     if a in current and not _missing(current[a], missing)}
            actor = None if _missing(r.actor, missing) else r.actor
            rows.append((ActivityRow(activity, r.time, actor, team, None, r.ref, attrs), None))
        i = j
    counted = sum(1 for r in records if r.kind in ("create", "change"))
    if not rows:
        return None, counted, 0, dropped
    collapsed = 0
    if mapping.collapse_repeats:
        rows, collapsed = collapse_rows(rows)
    case: dict[str, Any] = {}
    for attr, fld in rules.case.items():
        first = earliest.get(fld, today.get(fld))
        if not _missing(first, missing):
            case[attr] = _plain(first)
    return (TicketHistory(ticket, opened_at(rows, False), case_from(case, rows), tuple(r for r, _ in rows),
                          source_ref), counted, collapsed, dropped)


def _histories(tickets: _Tickets, mapping: ImportMapping, skipped: int, notes: list[str]) -> SourceRead:
    """The tickets' histories; ``skipped``: records left out before folding (other tables)."""
    missing = frozenset(mapping.missing_values)
    out: list[TicketHistory] = []
    rows, collapsed, dropped = skipped, 0, skipped
    limits = current_limits()
    for ticket, records in tickets.by_ticket.items():
        history, n, c, d = _fold(ticket, records, mapping, missing, tickets.refs[ticket])
        rows += n
        collapsed += c
        dropped += d
        if history is not None:
            check_history(history, limits)
            out.append(history)
    return SourceRead(out, rows, collapsed, dropped, _closed(out, mapping), tuple(notes))


def _closed(histories: list[TicketHistory], mapping: ImportMapping) -> int | None:
    if not mapping.closed_when:
        return None
    return sum(1 for h in histories if h.steps and mapping.closes(h.steps[-1].activity))


def _zone_of(mapping: ImportMapping, name: str) -> tzinfo | None:
    return time_zone(mapping.columns.tz, name)


def _json_time(value: Any, mapping: ImportMapping, zone: tzinfo | None, where: str, key: str) -> datetime:
    if isinstance(value, bool) or value is None or value == "":
        raise ImportFormatError(f"{where}: no time in {key!r}; every change needs one ({_reads(mapping)})")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    try:
        if mapping.columns.timestamp_format:
            parsed = datetime.strptime(text, mapping.columns.timestamp_format)
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        fmt = mapping.columns.timestamp_format
        hint = f"--timestamp-format {fmt!r} does not match" if fmt else "give --timestamp-format"
        raise ImportFormatError(f"{where}: cannot read {text!r} in {key!r} as a time ({hint})") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise ImportFormatError(f"{where}: the time {text!r} in {key!r} has no time zone; give --tz "
                                    "(e.g. --tz UTC)")
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _reads(mapping: ImportMapping) -> str:
    fmt = mapping.format or ""
    fields = {
        "servicenow-audit": "documentkey, fieldname, oldvalue, newvalue, sys_created_on, user",
        "zendesk-audits": "each audit's ticket_id, created_at, author_id, via and events[]",
        "jira-changelog": "each issue's key, fields.created and changelog.histories[] (created, author, items[])",
    }.get(fmt, "")
    return f"{mapping.label} reads {fields}" if fields else mapping.label


def _wrong_shape(name: str, fmt: str, mapping: ImportMapping, what: str, top_keys: list[str]) -> ImportFormatError:
    guess = next((g for k, g in _GUESS.items() if k in top_keys and k not in _CONTAINERS[fmt]), None)
    keys = f" (its keys: {', '.join(top_keys[:8])})" if top_keys else ""
    looks = f"; it looks like {guess}" if guess else ""
    return ImportFormatError(f"{name}: {what}{keys}, not the shape {mapping.label} reads: expected "
                             f"{SHAPES[fmt]}{looks}")


__all__ = [
    "Change",
    "SHAPES",
    "SourceRead",
    "VENDOR_FORMATS",
]
