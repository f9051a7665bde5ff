"""A Jira search result with ``expand=changelog`` as change records; the first status at creation."""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.changes import (
    _CONTAINERS, _histories, _json_time, _reads, _text, _Tickets, _wrong_shape, _zone_of, Change,
    SourceRead,
)
from event_store.io.json_stream import iter_json
from event_store.io.mapping import ImportMapping
from event_store.io.zendesk import _need


# -- Jira --------------------------------------------------------------------------------------


def _jira(path: str, mapping: ImportMapping) -> SourceRead:
    name = os.path.basename(path)
    zone = _zone_of(mapping, name)
    tickets = _Tickets()
    rules = mapping.changes
    wanted = {*rules.steps, *rules.case.values(), *rules.attributes, *([rules.team] if rules.team else [])}
    issues = truncated = 0
    seen: list[str] = []
    for _container, item, line in iter_json(path, _CONTAINERS["jira-changelog"], seen):
        where = f"{name}:{line}"
        if not isinstance(item, dict) or ("key" not in item and "fields" not in item and "changelog" not in item):
            keys = list(item)[:8] if isinstance(item, dict) else []
            raise _wrong_shape(name, "jira-changelog", mapping,
                               "the file holds no issues" if issues == 0 else f"line {line} is not an issue", keys)
        issues += 1
        _jira_issue(tickets, item, mapping, zone, where, wanted)
        log = item.get("changelog") or {}
        total, histories = log.get("total"), log.get("histories") or []
        if isinstance(total, int) and total > len(histories):
            truncated += 1
    if issues == 0:
        raise _wrong_shape(name, "jira-changelog", mapping, "the file holds no issues", seen)
    notes = []
    if truncated:
        notes.append(f"{truncated} issue{'s' if truncated != 1 else ''} with a truncated changelog (the search "
                     "returns at most 100 histories per issue): fetch GET /rest/api/2/issue/KEY/changelog for "
                     "those, or their later steps are missing")
    return _histories(tickets, mapping, 0, notes)


def _jira_issue(tickets: _Tickets, issue: dict[str, Any], mapping: ImportMapping, zone: tzinfo | None,
                where: str, wanted: set[str]) -> int:
    key = str(_need(issue, "key", where, mapping, "an issue"))
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        raise ImportFormatError(f"{where}: issue {key} without 'fields', which {_reads(mapping)}")
    created = _json_time(_need(fields, "created", where, mapping, f"issue {key}'s fields"), mapping, zone, where,
                         "fields.created")
    log = issue.get("changelog")
    if not isinstance(log, dict) or not isinstance(log.get("histories"), list):
        raise ImportFormatError(f"{where}: issue {key} has no changelog.histories: run the search with "
                                f"expand=changelog ({_reads(mapping)})")
    changes: list[tuple[datetime, int, str | None, dict[str, Any], str]] = []
    for h in log["histories"]:
        if not isinstance(h, dict):
            continue
        at = _json_time(h.get("created"), mapping, zone, where, "changelog.histories[].created")
        author = h.get("author") or {}
        actor = next((str(author[k]) for k in ("accountId", "name", "key", "displayName")
                      if isinstance(author, dict) and author.get(k)), None)
        try:
            order = int(h.get("id") or 0)
        except (TypeError, ValueError):
            order = 0
        ref = f"{where} history {h['id']}" if h.get("id") not in (None, "") else where
        for item in h.get("items") or ():
            if isinstance(item, dict) and item.get("field"):
                changes.append((at, order, actor, item, ref))
    changes.sort(key=lambda c: (c[0], c[1]))
    reporter = fields.get("reporter") or fields.get("creator") or {}
    opener = next((str(reporter[k]) for k in ("accountId", "name", "key", "displayName")
                   if isinstance(reporter, dict) and reporter.get(k)), None)
    # Jira records no change at creation: each wanted field's value then is the
    # fromString of its first change, else its value today.
    for fld in sorted(wanted):
        first = next((c for c in changes if str(c[3]["field"]) == fld), None)
        value = first[3].get("fromString") if first is not None else _jira_value(fields.get(fld))
        if value not in (None, ""):
            tickets.add(key, Change(created, -1, 0, opener, fld, None, value, "create", where))
    for at, order, actor, item, ref in changes:
        tickets.add(key, Change(at, order, 0, actor, str(item["field"]), item.get("fromString"),
                                item.get("toString"), "change", ref))
    return len(changes)


def _jira_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _text(value)
