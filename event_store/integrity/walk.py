"""The one pass of a verification: events and chain rows side by side, in log order.

:func:`walk_log` merges the events table and the chain table by log position and,
for each row, re-hashes the event from its stored bytes and compares it with its
chain row (steps 1-3 of :mod:`event_store.integrity.verify`); it keeps the running
head over the chain rows as the recorder wrote them (step 4 compares it). The
running state of the pass (the previous link per ticket, the expected chain
position, the head) lives in one :class:`_Pass`; each kind of row is one step.

:func:`check_head` compares what a pass saw with the recorded chain head (step 4),
and :func:`named_findings` names each finding's ticket. :func:`walk_chain` is the
same pass over the chain rows alone: one ticket's trace
(:mod:`event_store.integrity.tickets`) checks the whole log's chain against its head
with it, without re-hashing every event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING

from event_store.integrity.chain import head_link, stream_link, ZERO
from event_store.integrity.findings import Finding, MAX_FINDINGS
from event_store.integrity.log_tables import describe_missing, LogTables, missing_entries, ticket_names

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.persistence.db import Cursor

#: (sort key, order, kind, position, ticket uuid, ticket, version, message)
FoundRow = tuple[int, int, str, "int | None", "str | None", "str | None", "int | None", str]


@dataclass
class Scan:
    """Findings as they are met, in the order met; sorted into log order at the end."""

    found: list[FoundRow] = field(default_factory=list)
    more: int = 0

    def add(self, kind: str, position: int | None, oid: str | None, version: int | None,
            message: str, *, ticket: str | None = None, before_all: bool = False,
            after_positions: bool = False) -> None:
        """Keep one finding (``before_all``: sorts first; ``after_positions``: after every position)."""
        if len(self.found) >= MAX_FINDINGS:
            self.more += 1
            return
        key = -1 if before_all else 2**61 if after_positions or position is None else position
        self.found.append((key, len(self.found), kind, position, oid, ticket, version, message))


@dataclass(frozen=True, slots=True)
class Walk:
    """What the pass saw.

    Attributes:
        links: the re-hashed link of every event, in log order (:func:`walk_chain`: the
            stored link of every chain row).
        head: the running head over the stored chain rows.
        head_at_size: that head after the chain head's recorded size (None: never reached).
        last_seq: the last chain position read.
        chain_count: chain rows read.
        last_chain_position: log position of the last chain row read.
        beyond: chain rows after the recorded size: (position, ticket uuid, version, seq).
    """

    links: list[bytes]
    head: bytes
    head_at_size: bytes | None
    last_seq: int
    chain_count: int
    last_chain_position: int
    beyond: list[tuple[int, str, int, int]]


@dataclass(slots=True)
class _Pass:
    """The running state of the pass."""

    cur: Cursor
    scan: Scan
    head_size: int
    canon: Callable[[Any], str]
    feed: Callable[..., None] | None
    last: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    links: list[bytes] = field(default_factory=list)
    head: bytes = ZERO
    head_at_size: bytes | None = None
    expected_seq: int = 1
    chain_count: int = 0
    prev_chain_nid: int = 0
    beyond: list[tuple[int, str, int, int]] = field(default_factory=list)

    def walk(self) -> Walk:
        """What the pass saw, once it is over."""
        return Walk(self.links, self.head, self.head_at_size, self.expected_seq - 1, self.chain_count,
                    self.prev_chain_nid, self.beyond)


def walk_log(tables: LogTables, cur: Cursor, scan: Scan, head_size: int,
             feed: Callable[..., None] | None) -> Walk:
    """Read the log once, checking each event against its chain row (``feed`` sees every event)."""
    p = _Pass(cur, scan, head_size, tables.canonical, feed, head_at_size=ZERO if head_size == 0 else None)
    events = tables.events(cur)
    chain = tables.chain(cur)
    e = next(events, None)
    c = next(chain, None)
    while e is not None or c is not None:
        e_nid = int(e[0]) if e is not None else None
        c_nid = int(c[0]) if c is not None else None
        take_event = e is not None and (c_nid is None or e_nid <= c_nid)  # type: ignore[operator]
        take_chain = c is not None and (e_nid is None or c_nid <= e_nid)  # type: ignore[operator]
        if take_chain:
            assert c is not None
            _chain_row(p, c)
            if not take_event:
                _orphan_row(p, c)
        if take_event:
            assert e is not None
            _event_row(p, e, c if take_chain else None)
            e = next(events, None)
        if take_chain:
            c = next(chain, None)
    return p.walk()


def walk_chain(tables: LogTables, cur: Cursor, scan: Scan, head_size: int) -> Walk:
    """Read the chain rows alone, in log order: their positions and the running head (steps 3-4
    of :func:`walk_log` without the events; ``links`` are the stored links)."""
    p = _Pass(cur, scan, head_size, tables.canonical, None, head_at_size=ZERO if head_size == 0 else None)
    for c in tables.chain(cur):
        _chain_row(p, c)
        p.links.append(bytes(c[4]))
    return p.walk()


def _chain_row(p: _Pass, c: tuple[Any, ...]) -> None:
    """Steps 3-4 for one chain row: its position follows the last one; the running head."""
    c_nid, c_seq, c_oid, c_ver, c_link = int(c[0]), int(c[1]), str(c[2]), int(c[3]), bytes(c[4])
    p.chain_count += 1
    if c_seq > p.expected_seq:
        gone = missing_entries(p.cur, p.prev_chain_nid, c_nid)
        pos, name, ver = gone[0] if gone else (p.prev_chain_nid + 1, None, None)
        p.scan.add("seq_gap", pos, None, ver,
                   f"chain positions {p.expected_seq}-{c_seq - 1} are missing before log "
                   f"position {c_nid}: entries were deleted ({describe_missing(gone)})",
                   ticket=name)
    elif c_seq < p.expected_seq:
        p.scan.add("seq_order", c_nid, c_oid, c_ver,
                   f"chain position {c_seq} at log position {c_nid} comes after position "
                   f"{p.expected_seq - 1}: chain rows reordered")
    p.expected_seq = c_seq + 1
    p.prev_chain_nid = c_nid
    p.head = head_link(p.head, c_seq, c_link)
    if c_seq == p.head_size:
        p.head_at_size = p.head
    if c_seq > p.head_size:
        p.beyond.append((c_nid, c_oid, c_ver, c_seq))


def _orphan_row(p: _Pass, c: tuple[Any, ...]) -> None:
    """Step 3 for a chain row without an event at its position."""
    c_nid, c_oid, c_ver = int(c[0]), str(c[2]), int(c[3])
    p.scan.add("orphan_link", c_nid, c_oid, c_ver,
               f"the chain has an entry for version {c_ver} at log position {c_nid}, "
               "but the event is gone: it was deleted")


def _event_row(p: _Pass, e: tuple[Any, ...], c: tuple[Any, ...] | None) -> None:
    """Steps 1-2 for one event (``c``: the chain row at its position, if any)."""
    nid, oid, version, topic, state = int(e[0]), p.canon(e[1]), int(e[2]), str(e[3]), bytes(e[4])
    prev_version, prev_link = p.last.get(oid, (-1, ZERO))
    if version > prev_version + 1:
        missing = (f"version {prev_version + 1}" if version == prev_version + 2
                   else f"versions {prev_version + 1}-{version - 1}")
        after = f"follows version {prev_version}" if prev_version >= 0 else "is its first event"
        p.scan.add("version_gap", nid, oid, prev_version + 1,
                   f"version {version} at log position {nid} {after}: {missing} missing (deleted)")
    elif version <= prev_version:
        p.scan.add("version_order", nid, oid, version,
                   f"version {version} at log position {nid} comes after version {prev_version}: "
                   "events reordered or duplicated")
    link = stream_link(prev_link, oid, version, topic, state)
    next_prev = link
    if c is not None:
        c_oid, c_ver, c_link = str(c[2]), int(c[3]), bytes(c[4])
    if version > prev_version + 1 and c is not None:
        next_prev = c_link  # the predecessor is gone: nothing to re-hash against
    elif c is None:
        p.scan.add("unchained", nid, oid, version,
                   f"version {version} at log position {nid} has no chain link: "
                   "it was inserted outside csmine")
    elif c_oid != oid or c_ver != version:
        p.scan.add("chain_mismatch", nid, oid, version,
                   f"log position {nid} holds version {version}, but its chain row is for "
                   f"ticket {c_oid} version {c_ver}")
    elif c_link != link:
        p.scan.add("content", nid, oid, version,
                   f"version {version} at log position {nid}: stored bytes do not hash to its "
                   "chain link (payload, topic or ids changed)")
        next_prev = c_link  # resynchronise: report each changed event once
    p.last[oid] = (version, next_prev)
    p.links.append(link)
    if p.feed is not None:
        p.feed(nid, oid, version, topic, state)


def check_head(scan: Scan, cur: Cursor, walk: Walk, index: int, head_size: int, stored_head: bytes) -> None:
    """Step 4: the chain head's size and hash against the ``index`` events and the chain rows read."""
    if head_size == index and head_size == walk.chain_count and walk.head == stored_head:
        return
    if walk.beyond and walk.head_at_size == stored_head:
        for b_nid, b_oid, b_ver, b_seq in walk.beyond:
            scan.add("beyond_head", b_nid, b_oid, b_ver,
                     f"version {b_ver} at log position {b_nid} (chain position {b_seq}) lies "
                     f"after the signed head ({head_size} entries): appended outside csmine")
    elif walk.last_seq < head_size:
        gone = missing_entries(cur, walk.last_chain_position, None)
        pos, name, ver = gone[0] if gone else (walk.last_chain_position + 1, None, None)
        scan.add("head", pos, None, ver, ticket=name, message=
                 f"the chain head records {head_size} entries, the chain holds {walk.chain_count} "
                 f"and the log {index}: the log's tail was cut off after chain position "
                 f"{walk.last_seq} ({describe_missing(gone)})")
    else:
        scan.add("head", None, None, None,
                 f"the chain head (size {head_size}) does not match the {index} stored events "
                 f"and {walk.chain_count} chain rows: entries were deleted, inserted or rewritten")


def named_findings(store: TicketStore, tables: LogTables, cur: Cursor, scan: Scan) -> tuple[Finding, ...]:
    """The findings in log order, each naming its ticket by external id."""
    ordered = sorted(scan.found, key=lambda t: (t[0], t[1]))
    oids = {t[4] for t in ordered if t[4] is not None}
    names = ticket_names(store, tables, cur, oids) if oids else {}
    findings = []
    for _, _, f_kind, f_position, f_oid, f_name, f_version, f_message in ordered:
        ticket = f_name or (names.get(f_oid) if f_oid else None)
        if ticket is None and f_oid is not None:
            ticket = f"(unknown ticket {f_oid})"
        findings.append(Finding(f_kind, f_position, ticket, f_version,
                                f"ticket {ticket}: {f_message}" if ticket else f_message))
    return tuple(findings)


__all__ = ["Scan", "Walk", "check_head", "named_findings", "walk_chain", "walk_log"]
