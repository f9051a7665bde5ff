"""Re-hash the stored history against its chain, head and checkpoints.

:func:`verify_store` reads the events table and the chain table in log order, in
one consistent snapshot, and recomputes everything from the **stored bytes** (never
trusting the stored links alone):

1. each event's chain link from the previous link of its ticket, its ticket id,
   version, topic and SHA-256 of its state; compared with the stored link;
2. per ticket, versions 0, 1, 2, ... without gaps or repeats;
3. every event has exactly one chain row (same ticket and version) and every chain
   row an event; chain positions (``seq``) run 1, 2, 3, ... in log order;
4. the running head over all links, against ``chain_head`` (size and hash);
5. with a checkpoint: its signature, and the Merkle root and head of the first
   ``size`` entries against the signed ones (the log may have grown since).

Each mismatch is a :class:`Finding`; the report names the first one in log order
with its ticket (external id) and version. A full rewrite that recomputes every
link and the head passes 1-4 by construction; only step 5, against a checkpoint
kept outside the database, can catch it.

:func:`export_package` and :func:`check_package` make and check an **audit
package**: one ticket's stored rows, chain links and RFC 9162 inclusion proofs
against a signed checkpoint, checkable offline without the database.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from event_store.integrity.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_signature,
    load_checkpoint,
    load_public_key,
)
from event_store.domain import PHASE_PLAN_ID, TOPIC_OPENED, ticket_id
from event_store.errors import IntegrityError, OutputExistsError, TicketNotFoundError
from event_store.persistence.failures import storage_errors
from event_store.io.files import write_bytes, write_text
from event_store.readmodel.projection import NAME as PROJECTION
from event_store.readmodel.check import ReadModelCheck, ShadowProjection
from event_store.integrity.chain import (
    ZERO,
    MerkleTree,
    head_link,
    leaf_hash,
    root_from_inclusion_proof,
    stream_link,
    subtree_span,
)

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.persistence.db import Cursor

#: Findings kept in a report (the rest are counted in ``VerifyReport.more``).
MAX_FINDINGS = 1000
_PAGE = 5000
PACKAGE_FORMAT = "csmine-audit-package/v1"

#: Kinds of finding, in the order a reader meets them.
KINDS = {
    "content": "stored bytes do not hash to the event's chain link (payload, topic or ids changed)",
    "version_gap": "a ticket's versions skip a number (an event was deleted)",
    "version_order": "a ticket's version repeats or goes back (events reordered or duplicated)",
    "unchained": "an event has no chain row (inserted outside csmine)",
    "orphan_link": "a chain row has no event (its event was deleted)",
    "chain_mismatch": "a chain row names another ticket or version than the event at its position",
    "seq_gap": "chain positions are missing (entries deleted from both tables)",
    "seq_order": "chain positions do not follow the log order",
    "beyond_head": "chain rows after the signed head (appended outside csmine)",
    "head": "the chain head does not match the log (truncation, deletion or insertion)",
    "checkpoint": "the log does not match a signed checkpoint",
    "read_model": "the read model (what export and the analytics read) is not the projection of the events",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One place where the stored history does not match its chain or checkpoint.

    Attributes:
        kind: one of :data:`KINDS`.
        position: log position (notification id) where it was found, if known.
        ticket: the ticket's external id ("phase plan" for the phase plan), if known.
        version: the event's version within its ticket, if known.
        message: what does not match, in words.
    """

    kind: str
    position: int | None
    ticket: str | None
    version: int | None
    message: str


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """How the store compares with a checkpoint.

    Attributes:
        size: entries the checkpoint covers.
        issued_at: when it was signed.
        key_id: id of the signing key.
        signature_valid: the signature (and the subtree roots) verify.
        key_trusted: the key equals the pinned one (None: no key pinned).
        root_matches: the first ``size`` entries, re-hashed, give the signed root.
        head_matches: ... and the signed chain head.
        differs_from / differs_to: log positions of the first range of
            ``subtree_size`` entries that differs (None when all match).
    """

    size: int
    issued_at: str
    key_id: str
    signature_valid: bool
    key_trusted: bool | None
    root_matches: bool
    head_matches: bool
    differs_from: int | None = None
    differs_to: int | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify_store`.

    Attributes:
        store: the store, as shown to users.
        store_created_at: the store's creation time (from its metadata).
        events: stored events read.
        chain_rows: chain rows read.
        head_size: entries the chain head records.
        size: log size used for the root (= events).
        root: RFC 9162 Merkle root over the re-hashed links of all events, hex.
        head: the running head over them, hex.
        subtree_size: range length of ``subtrees``.
        subtrees: roots of consecutive ranges of ``subtree_size`` entries, hex.
        checkpoint: the checkpoint comparison, when one was given.
        findings: the problems, in log order (at most :data:`MAX_FINDINGS`).
        more: problems found beyond those kept.
        warnings: notes that are not failures (e.g. checkpoint key not pinned).
        seconds: wall time of the verification.
        read_model: what the read-model comparison covered (None when not asked for).
    """

    store: str
    store_created_at: str
    events: int
    chain_rows: int
    head_size: int
    size: int
    root: str
    head: str
    subtree_size: int
    subtrees: tuple[str, ...]
    checkpoint: CheckpointResult | None
    findings: tuple[Finding, ...]
    more: int = 0
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    read_model: ReadModelCheck | None = None

    @property
    def ok(self) -> bool:
        """No finding at all."""
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The first finding in log order (None when the store verifies)."""
        return self.findings[0] if self.findings else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``ok`` and ``first`` included)."""
        from dataclasses import asdict

        data = asdict(self)
        data["ok"] = self.ok
        data["first"] = None if self.first is None else asdict(self.first)
        data["subtrees"] = list(self.subtrees)
        return data


# -- reading ---------------------------------------------------------------------------


class _Backend:
    """SQL details that differ between SQLite and PostgreSQL."""

    def __init__(self, store: TicketStore) -> None:
        self.store = store
        self.postgres = store.location.kind == "postgres"
        self.table = store.recorder.events_table_name  # type: ignore[attr-defined]
        self.nid = "notification_id" if self.postgres else "rowid"
        self._canon: dict[Any, str] = {}

    def canonical(self, oid: Any) -> str:
        c = self._canon.get(oid)
        if c is None:
            c = str(oid) if isinstance(oid, UUID) else str(UUID(str(oid)))
            self._canon[oid] = c
        return c

    def stored_id(self, canonical: str) -> Any:
        u = UUID(canonical)
        return u if self.postgres else u.hex

    def begin(self, cur: Cursor) -> None:
        if self.postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def events(self, cur: Cursor, *, after: int = 0) -> Iterator[tuple[Any, ...]]:
        last = after
        sql = (f"SELECT {self.nid}, originator_id, originator_version, topic, state FROM {self.table} "
               f"WHERE {self.nid} > ? ORDER BY {self.nid} LIMIT {_PAGE}")
        while True:
            rows = cur.execute(sql, (last,)).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def chain(self, cur: Cursor) -> Iterator[tuple[Any, ...]]:
        last = -(2**62)
        sql = ("SELECT notification_id, seq, originator_id, originator_version, link FROM event_chain "
               f"WHERE notification_id > ? ORDER BY notification_id LIMIT {_PAGE * 4}")
        while True:
            rows = cur.execute(sql, (last,)).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]


@dataclass
class _Scan:
    """Findings as they are met: (sort key, order, kind, position, ticket uuid, ticket, version, message)."""

    found: list[tuple[int, int, str, int | None, str | None, str | None, int | None, str]] = field(
        default_factory=list)
    more: int = 0

    def add(self, kind: str, position: int | None, oid: str | None, version: int | None,
            message: str, *, ticket: str | None = None, before_all: bool = False,
            after_positions: bool = False) -> None:
        if len(self.found) >= MAX_FINDINGS:
            self.more += 1
            return
        key = -1 if before_all else 2**61 if after_positions or position is None else position
        self.found.append((key, len(self.found), kind, position, oid, ticket, version, message))


def _names(store: TicketStore, backend: _Backend, cur: Cursor, oids: set[str]) -> dict[str, str]:
    """External ids of tickets: decoded from their Opened event, else from the read model."""
    from eventsourcing.persistence import StoredEvent

    names: dict[str, str] = {}
    for oid in oids:
        if oid == str(PHASE_PLAN_ID):
            names[oid] = "phase plan"
            continue
        row = cur.execute(
            f"SELECT topic, state FROM {backend.table} WHERE originator_id = ? AND originator_version = 0",
            (backend.stored_id(oid),),
        ).fetchone()
        if row is not None and row[0] == TOPIC_OPENED:
            try:
                event = store.mapper.to_domain_event(StoredEvent(UUID(oid), 0, row[0], bytes(row[1])))
                names[oid] = str(getattr(event, "external_id"))  # noqa: B009 - not on the protocol type
                continue
            except Exception:
                pass
        found = cur.execute("SELECT ticket FROM tickets WHERE ticket_uuid = ?", (oid,)).fetchone()
        if found is not None:
            names[oid] = str(found[0])
    return names


def _missing_entries(cur: Cursor, after: int, before: int | None) -> list[tuple[int, str, int]]:
    """Entries the read model knows between two log positions: (position, ticket, version)."""
    params: tuple[Any, ...] = (after,) if before is None else (after, before)
    upper = "" if before is None else " AND notification_id < ?"
    rows = cur.execute(
        f"SELECT notification_id, ticket, version FROM event_log WHERE notification_id > ?{upper} "
        "ORDER BY notification_id LIMIT 20", params,
    ).fetchall()
    rows += cur.execute(
        f"SELECT notification_id, ticket, 0 FROM tickets WHERE notification_id > ?{upper} "
        "ORDER BY notification_id LIMIT 20", params,
    ).fetchall()
    return sorted((int(r[0]), str(r[1]), int(r[2])) for r in rows)


def _describe_missing(entries: list[tuple[int, str, int]]) -> str:
    if not entries:
        return "the read model does not know them either"
    shown = ", ".join(f"{t} version {v} (position {p})" for p, t, v in entries[:3])
    extra = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
    return f"the read model names {shown}{extra}"


READ_MODEL_MODES = ("full", "sample", "none")
#: Share of tickets ``read_model="sample"`` (``csmine verify --fast``) compares.
SAMPLE_RATE = 1 / 16


def verify_store(store: TicketStore, checkpoint: Checkpoint | None = None, *,
                 trusted_key: bytes | None = None, read_model: str = "full",
                 sample_rate: float = SAMPLE_RATE) -> VerifyReport:
    """Re-hash the whole stored log and compare it with its chain, head and a checkpoint,
    then prove the read model is the projection of those events.

    Args:
        store: an open store (SQLite or PostgreSQL).
        checkpoint: a signed checkpoint issued earlier (see
            :func:`event_store.integrity.checkpoint.issue_checkpoint`), or None.
        trusted_key: the auditor's pinned public key (raw 32 bytes); the
            checkpoint's signer must be this key.
        read_model: ``full`` (every row), ``sample`` (a random ``sample_rate`` of the
            tickets) or ``none``: how to compare the read model with the events
            (:mod:`event_store.readmodel.check`).
        sample_rate: the share of tickets for ``sample``.

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is true when nothing differs, and
        ``report.first`` names the first ticket and version that does not match.
        Runs in one pass over the log.
    """
    if read_model not in READ_MODEL_MODES:
        raise ValueError(f"read_model must be one of {', '.join(READ_MODEL_MODES)}, not {read_model!r}")
    with storage_errors(store.location.display, "Nothing was written (verify only reads)."):
        with store.db.transaction() as cur:
            _Backend(store).begin(cur)
            return verify_in(store, cur, checkpoint, trusted_key=trusted_key, read_model=read_model,
                             sample_rate=sample_rate)


def verify_in(store: TicketStore, cur: Cursor, checkpoint: Checkpoint | None = None, *,
              trusted_key: bytes | None = None, read_model: str = "full",
              sample_rate: float = SAMPLE_RATE) -> VerifyReport:
    """:func:`verify_store` inside the caller's read transaction (already begun as a snapshot).

    Whoever reads the store afterwards with the same ``cur`` reads exactly what was verified.
    """
    opened: list[ShadowProjection] = []
    try:
        return _verify_in(store, cur, checkpoint, trusted_key, read_model, sample_rate, opened)
    finally:
        for shadow in opened:  # the scratch database, also when the scan fails half-way
            shadow.close()


def _verify_in(store: TicketStore, cur: Cursor, checkpoint: Checkpoint | None, trusted_key: bytes | None,
               read_model: str, sample_rate: float, opened: list[ShadowProjection]) -> VerifyReport:
    started = time.perf_counter()
    backend = _Backend(store)
    scan = _Scan()
    warnings: list[str] = []
    sig = None
    if checkpoint is not None:
        sig = check_signature(checkpoint, trusted_key)
        if not sig.valid:
            by = (" although it names the pinned key" if sig.trusted else
                  ", and it names another key than the pinned one" if sig.trusted is False else "")
            scan.add("checkpoint", None, None, None,
                     f"the checkpoint's signature does not verify (key {checkpoint.key_id}){by}: "
                     "the checkpoint file was altered after it was signed, or is not genuine", before_all=True)
        elif sig.trusted is False:
            scan.add("checkpoint", None, None, None,
                     f"the checkpoint is signed by key {checkpoint.key_id}, not by the pinned key: "
                     "it was not issued by you", before_all=True)
        elif sig.trusted is None:
            warnings.append(
                f"checkpoint signature checked with the key inside it ({checkpoint.key_id}); "
                "pin your public key (--public-key) to know who signed it")

    shadow: ShadowProjection | None = None
    head_row = cur.execute("SELECT size, head FROM chain_head WHERE id = 1").fetchone()
    head_size, stored_head = (int(head_row[0]), bytes(head_row[1])) if head_row else (0, ZERO)
    meta = cur.execute("SELECT value FROM csmine_meta WHERE key = 'created_at'").fetchone()
    created_at = str(meta[0]) if meta else ""
    if checkpoint is not None and checkpoint.store_created_at and checkpoint.store_created_at != created_at:
        warnings.append(
            f"the checkpoint was issued for the store {checkpoint.store} created {checkpoint.store_created_at}; "
            f"this one was created {created_at or 'at an unknown time'}: is it the right checkpoint?")

    if read_model != "none":
        row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
        shadow = ShadowProjection(store, int(row[0]) if row else 0,
                                  sample_rate=sample_rate if read_model == "sample" else None)
        opened.append(shadow)
    feed = shadow.feed if shadow is not None else None
    last: dict[str, tuple[int, bytes]] = {}
    links: list[bytes] = []
    head = ZERO  # running head over the stored chain rows, as the recorder wrote it
    head_at_size: bytes | None = ZERO if head_size == 0 else None
    canon = backend.canonical
    expected_seq = 1
    chain_count = 0
    prev_chain_nid = 0
    beyond: list[tuple[int, str, int, int]] = []
    events = backend.events(cur)
    chain = backend.chain(cur)
    e = next(events, None)
    c = next(chain, None)
    while e is not None or c is not None:
        e_nid = int(e[0]) if e is not None else None
        c_nid = int(c[0]) if c is not None else None
        take_event = e is not None and (c_nid is None or e_nid <= c_nid)  # type: ignore[operator]
        take_chain = c is not None and (e_nid is None or c_nid <= e_nid)  # type: ignore[operator]
        if take_chain:
            assert c is not None and c_nid is not None
            c_seq, c_oid, c_ver, c_link = int(c[1]), str(c[2]), int(c[3]), bytes(c[4])
            chain_count += 1
            if c_seq > expected_seq:
                gone = _missing_entries(cur, prev_chain_nid, c_nid)
                pos, name, ver = gone[0] if gone else (prev_chain_nid + 1, None, None)
                scan.add("seq_gap", pos, None, ver,
                         f"chain positions {expected_seq}-{c_seq - 1} are missing before log "
                         f"position {c_nid}: entries were deleted ({_describe_missing(gone)})",
                         ticket=name)
            elif c_seq < expected_seq:
                scan.add("seq_order", c_nid, c_oid, c_ver,
                         f"chain position {c_seq} at log position {c_nid} comes after position "
                         f"{expected_seq - 1}: chain rows reordered")
            expected_seq = c_seq + 1
            prev_chain_nid = c_nid
            head = head_link(head, c_seq, c_link)
            if c_seq == head_size:
                head_at_size = head
            if c_seq > head_size:
                beyond.append((c_nid, c_oid, c_ver, c_seq))
            if not take_event:
                scan.add("orphan_link", c_nid, c_oid, c_ver,
                         f"the chain has an entry for version {c_ver} at log position {c_nid}, "
                         "but the event is gone: it was deleted")
        if take_event:
            assert e is not None
            nid, oid, version, topic, state = int(e[0]), canon(e[1]), int(e[2]), str(e[3]), bytes(e[4])
            prev_version, prev_link = last.get(oid, (-1, ZERO))
            if version > prev_version + 1:
                missing = (f"version {prev_version + 1}" if version == prev_version + 2
                           else f"versions {prev_version + 1}-{version - 1}")
                after = f"follows version {prev_version}" if prev_version >= 0 else "is its first event"
                scan.add("version_gap", nid, oid, prev_version + 1,
                         f"version {version} at log position {nid} {after}: {missing} missing (deleted)")
            elif version <= prev_version:
                scan.add("version_order", nid, oid, version,
                         f"version {version} at log position {nid} comes after version {prev_version}: "
                         "events reordered or duplicated")
            link = stream_link(prev_link, oid, version, topic, state)
            next_prev = link
            if version > prev_version + 1 and take_chain:
                next_prev = c_link  # the predecessor is gone: nothing to re-hash against
            elif not take_chain:
                scan.add("unchained", nid, oid, version,
                         f"version {version} at log position {nid} has no chain link: "
                         "it was inserted outside csmine")
            elif c_oid != oid or c_ver != version:
                scan.add("chain_mismatch", nid, oid, version,
                         f"log position {nid} holds version {version}, but its chain row is for "
                         f"ticket {c_oid} version {c_ver}")
            elif c_link != link:
                scan.add("content", nid, oid, version,
                         f"version {version} at log position {nid}: stored bytes do not hash to its "
                         "chain link (payload, topic or ids changed)")
                next_prev = c_link  # resynchronise: report each changed event once
            last[oid] = (version, next_prev)
            links.append(link)
            if feed is not None:
                feed(nid, oid, version, topic, state)
            e = next(events, None)
        if take_chain:
            c = next(chain, None)

    # Merkle tree and subtree roots over the re-hashed links; with a checkpoint,
    # also the head they give after its size.
    index = len(links)
    cp_size = checkpoint.size if checkpoint is not None else -1
    cp_head = ZERO
    for i, link in enumerate(links[: max(cp_size, 0)], 1):
        cp_head = head_link(cp_head, i, link)
    leaves = [leaf_hash(link) for link in links]
    del links
    tree = MerkleTree(leaves)
    span = subtree_span(index)

    # Head: size and hash.
    if head_size != index or head_size != chain_count or head != stored_head:
        if beyond and head_at_size == stored_head:
            for b_nid, b_oid, b_ver, b_seq in beyond:
                scan.add("beyond_head", b_nid, b_oid, b_ver,
                         f"version {b_ver} at log position {b_nid} (chain position {b_seq}) lies "
                         f"after the signed head ({head_size} entries): appended outside csmine")
        elif expected_seq - 1 < head_size:
            gone = _missing_entries(cur, prev_chain_nid, None)
            pos, name, ver = gone[0] if gone else (prev_chain_nid + 1, None, None)
            scan.add("head", pos, None, ver, ticket=name, message=
                     f"the chain head records {head_size} entries, the chain holds {chain_count} "
                     f"and the log {index}: the log's tail was cut off after chain position "
                     f"{expected_seq - 1} ({_describe_missing(gone)})")
        else:
            scan.add("head", None, None, None,
                     f"the chain head (size {head_size}) does not match the {index} stored events "
                     f"and {chain_count} chain rows: entries were deleted, inserted or rewritten")

    cp_result = None
    if checkpoint is not None:
        if index < cp_size:
            root_ok = head_ok = False
            scan.add("checkpoint", index + 1, None, None,
                     f"the checkpoint of {checkpoint.issued_at} covers {cp_size} entries but the log "
                     f"holds {index}: the log was truncated")
            first_diff = None
        else:
            cp_tree = tree if cp_size == index else MerkleTree(leaves[:cp_size])
            roots = cp_tree.subtree_roots(checkpoint.subtree_size)
            root_ok = cp_tree.root == checkpoint.root_bytes
            head_ok = cp_head == checkpoint.head_bytes
            first_diff = None
            if not (root_ok and head_ok):
                signed = [bytes.fromhex(s) for s in checkpoint.subtrees]
                k = next((i for i, (a, b) in enumerate(zip(roots, signed, strict=False)) if a != b), 0)
                lo = k * checkpoint.subtree_size + 1
                hi = min((k + 1) * checkpoint.subtree_size, cp_size)
                first_diff = (lo, hi)
                scan.add("checkpoint", _position_of(cur, backend, lo), None, None, after_positions=True,
                         message=
                         f"the first {cp_size} entries do not hash to the root signed on "
                         f"{checkpoint.issued_at}: history was rewritten since (first difference "
                         f"within entries {lo}-{hi} of the log)")
        cp_result = CheckpointResult(
            size=cp_size, issued_at=checkpoint.issued_at, key_id=checkpoint.key_id,
            signature_valid=bool(sig and sig.valid), key_trusted=sig.trusted if sig else None,
            root_matches=root_ok, head_matches=head_ok,
            differs_from=first_diff[0] if first_diff else None,
            differs_to=first_diff[1] if first_diff else None,
        )

    rm_check: ReadModelCheck | None = None
    if shadow is not None:
        try:
            if scan.found:
                warnings.append("the read model was not compared: the events themselves do not verify "
                                "(restore them first; a read model rebuilt from tampered events proves nothing)")
                rm_check = ReadModelCheck("skipped", shadow.position, shadow.lag, 0, 0, 0, None, 0, 0.0)
            else:
                diffs, rm_more, rm_check = shadow.compare(cur)
                for d in diffs:
                    scan.add("read_model", d.position, None, d.version, d.message, ticket=d.ticket,
                             after_positions=d.position is None)
                scan.more += rm_more
                if shadow.lag:
                    warnings.append(
                        f"the read model is {shadow.lag:,} event(s) behind the log (position "
                        f"{shadow.position:,}); it was compared up to there and catches up when the "
                        "store is next opened for writing")
        finally:
            shadow.close()

    ordered = sorted(scan.found, key=lambda t: (t[0], t[1]))
    oids = {t[4] for t in ordered if t[4] is not None}
    names = _names(store, backend, cur, oids) if oids else {}

    findings = []
    for _, _, f_kind, f_position, f_oid, f_name, f_version, f_message in ordered:
        ticket = f_name or (names.get(f_oid) if f_oid else None)
        if ticket is None and f_oid is not None:
            ticket = f"(unknown ticket {f_oid})"
        findings.append(Finding(f_kind, f_position, ticket, f_version,
                                f"ticket {ticket}: {f_message}" if ticket else f_message))
    own_roots = tree.subtree_roots(span)
    return VerifyReport(
        store=store.location.display,
        store_created_at=created_at,
        events=index,
        chain_rows=chain_count,
        head_size=head_size,
        size=index,
        root=tree.root.hex(),
        head=head.hex(),
        subtree_size=span,
        subtrees=tuple(r.hex() for r in own_roots),
        checkpoint=cp_result,
        findings=tuple(findings),
        more=scan.more,
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
        read_model=rm_check,
    )


def rebuild_if_safe(store: TicketStore, checkpoint: Checkpoint | None, *,
                       trusted_key: bytes | None = None) -> tuple[VerifyReport, VerifyReport | None]:
    """Rebuild the read model from the events, when that is safe; returns (before, after).

    A read model that differs from events which verify against their own chain is
    also what a *full rewrite* of the events (chain and head recomputed) looks like:
    the read model then still shows the original history, and rebuilding it would
    wipe that last trace. So the events must first match a checkpoint kept outside
    the database, and that checkpoint must cover every position where the read
    model differs. ``after`` is None when nothing needed rebuilding.

    Raises:
        IntegrityError: the events do not verify, no checkpoint was given, or the
            differences lie after the checkpoint's entries (nothing is changed).
    """
    before = verify_store(store, checkpoint, trusted_key=trusted_key, read_model="full")
    if before.ok:
        return before, None
    others = [f for f in before.findings if f.kind != "read_model"]
    if others:
        raise IntegrityError(
            f"not rebuilding the read model of {store.location.display}: the events themselves do not verify "
            f"(first: {others[0].message}); restore them from a backup first")
    if checkpoint is None:
        raise IntegrityError(
            f"not rebuilding the read model of {store.location.display}: it differs from the events "
            f"({len(before.findings) + before.more} problem(s)), which is also how a rewrite of the events "
            "together with their chain would show; give the latest checkpoint kept outside the database "
            "(--checkpoint FILE --public-key KEY) so the events are proved first")
    if trusted_key is None:
        raise IntegrityError(
            f"not rebuilding the read model of {store.location.display}: give the signer's public key you trust "
            "(--public-key KEY) too; a checkpoint checked only with the key inside it could have been made by "
            "whoever rewrote the events")
    with store.db.transaction() as cur:
        _Backend(store).begin(cur)
        covered = _position_of(cur, _Backend(store), checkpoint.size) if checkpoint.size else 0
    uncovered = [f for f in before.findings if f.position is None or covered is None or f.position > covered]
    if uncovered or before.more:
        where = uncovered[0].message if uncovered else "more differences than listed"
        raise IntegrityError(
            f"not rebuilding the read model of {store.location.display}: it differs from events the checkpoint "
            f"of {checkpoint.issued_at} does not cover (it covers log positions up to {covered}; first: {where}); "
            "a rewrite of those events cannot be ruled out. Compare them with a backup; to rebuild anyway, "
            "call TicketStore.projection.rebuild() (docs/audit.md)")
    with storage_errors(store.location.display,
                        "The read model may be half rebuilt; run the same command again (the events are untouched)."):
        store.projection.rebuild()
    after = verify_store(store, checkpoint, trusted_key=trusted_key, read_model="full")
    return before, after


def _position_of(cur: Cursor, backend: _Backend, entry: int) -> int | None:
    """The log position (notification id) of the ``entry``-th event (1-based)."""
    row = cur.execute(
        f"SELECT {backend.nid} FROM {backend.table} ORDER BY {backend.nid} LIMIT 1 OFFSET ?", (entry - 1,)
    ).fetchone()
    return int(row[0]) if row else None


# -- ticket-level integrity --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventProof:
    """One stored event of a ticket with its chain link and inclusion proof.

    Attributes:
        version: version within the ticket.
        position: log position (notification id).
        seq: chain position (1-based; leaf index + 1).
        topic: stored topic.
        state: stored bytes, exactly as in the database.
        link: the stored chain link.
        link_ok: re-hashing the stored bytes gives the stored link.
        proof: RFC 9162 audit path against a tree of ``tree_size`` leaves.
    """

    version: int
    position: int
    seq: int | None
    topic: str
    state: bytes
    link: bytes | None
    link_ok: bool
    proof: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class TicketIntegrity:
    """A ticket's chain, re-hashed, and its events proved against a Merkle root.

    Attributes:
        ticket: external id.
        ticket_uuid: aggregate id.
        events: the ticket's events, in version order, with links and proofs.
        chain_ok: versions run 0..n without gaps and every link re-hashes.
        tree_size: entries of the tree the proofs are against.
        root: that tree's root, hex.
        proofs_ok: every event's proof leads to ``root``.
        problems: what failed, in words.
    """

    ticket: str
    ticket_uuid: str
    events: tuple[EventProof, ...]
    chain_ok: bool
    tree_size: int
    root: str
    proofs_ok: bool
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Chain and proofs both verify."""
        return self.chain_ok and self.proofs_ok


def ticket_integrity(store: TicketStore, ticket: str, *, tree_size: int | None = None) -> TicketIntegrity:
    """Re-hash one ticket's chain and prove each event against the log's Merkle root.

    Args:
        store: an open store.
        ticket: external ticket id.
        tree_size: prove against the first ``tree_size`` entries (a checkpoint's
            size); default the whole chain.

    The tree is built from the stored chain links (one fast read); the ticket's
    own links are recomputed from its stored bytes.

    Raises:
        TicketNotFoundError: no such ticket.
    """
    backend = _Backend(store)
    oid = str(ticket_id(ticket))
    problems: list[str] = []
    with store.db.transaction() as cur:
        backend.begin(cur)
        rows = cur.execute(
            f"SELECT {backend.nid}, originator_version, topic, state FROM {backend.table} "
            f"WHERE originator_id = ? ORDER BY originator_version", (backend.stored_id(oid),),
        ).fetchall()
        if not rows:
            raise TicketNotFoundError(f"no ticket {ticket!r} in {store.location.display}")
        chain = {int(r[0]): (int(r[1]), bytes(r[2])) for r in cur.execute(
            "SELECT originator_version, seq, link FROM event_chain WHERE originator_id = ?", (oid,)).fetchall()}
        size_row = cur.execute("SELECT COUNT(*) FROM event_chain").fetchone()
        size = int(size_row[0]) if size_row else 0
        if tree_size is not None:
            size = min(size, tree_size)
        links = cur.execute("SELECT seq, link FROM event_chain WHERE seq <= ? ORDER BY seq", (size,)).fetchall()
    if any(int(s) != i + 1 for i, (s, _) in enumerate(links)):
        problems.append("chain positions are not contiguous (entries deleted): run `csmine verify`")
    tree = MerkleTree([leaf_hash(bytes(link)) for _, link in links])
    events: list[EventProof] = []
    prev = ZERO
    chain_ok = True
    proofs_ok = True
    for expected, (nid, version, topic, state) in enumerate(rows):
        state_b = bytes(state)
        version = int(version)
        if version != expected:
            chain_ok = False
            problems.append(f"version {expected} is missing (next stored version is {version})")
        link = stream_link(prev, oid, version, topic, state_b)
        seq_link = chain.get(version)
        stored_link = seq_link[1] if seq_link else None
        link_ok = stored_link == link
        if not link_ok:
            chain_ok = False
            problems.append(f"version {version}: stored bytes do not hash to its chain link"
                            if stored_link else f"version {version}: no chain link")
        proof: tuple[bytes, ...] = ()
        seq = seq_link[0] if seq_link else None
        if seq is not None and seq <= tree.size:
            proof = tuple(tree.proof(seq - 1))
            if root_from_inclusion_proof(leaf_hash(link), seq - 1, tree.size, proof) != tree.root:
                proofs_ok = False
                problems.append(f"version {version}: inclusion proof does not lead to the root")
        elif seq is None or tree_size is None:
            proofs_ok = False
            problems.append(f"version {version}: not in the Merkle tree")
        events.append(EventProof(version, int(nid), seq, topic, state_b, stored_link, link_ok, proof))
        prev = stored_link or link
    return TicketIntegrity(ticket, oid, tuple(events), chain_ok, tree.size, tree.root.hex(), proofs_ok,
                           tuple(problems))


# -- audit packages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageReport:
    """The offline check of an audit package.

    Attributes:
        ticket: the ticket the package is about.
        events: events in the package.
        checkpoint_size: entries the package's checkpoint covers.
        issued_at: when that checkpoint was signed.
        key_id: the signing key's id.
        signature_valid: the checkpoint's signature verifies.
        key_trusted: the signer is the pinned key (None: none pinned).
        problems: what failed, in words (empty when the package verifies).
    """

    ticket: str
    events: int
    checkpoint_size: int
    issued_at: str
    key_id: str
    signature_valid: bool
    key_trusted: bool | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Signature, chain and every proof verify (and a pinned key, if given, matches)."""
        return not self.problems


_README = """csmine audit package for ticket {ticket}
=========================================

events.json      the ticket's stored events exactly as in the database (state in
                 base64), each with its chain link, its chain position (seq) and an
                 RFC 9162 inclusion proof against the checkpoint.
checkpoint.json  the signed checkpoint (log size, Merkle root, Ed25519 signature).
public_key.pem   the signer's public key (compare it with the one you hold).

Check it without the database:  csmine audit check {folder}

By hand (SHA-256 throughout; frame(x) = 4-byte big-endian length of x, then x):
  link_v = SHA256(frame("csmine/v1/stream") frame(link_(v-1) or 32 zero bytes)
                  frame(ticket uuid, canonical text) frame(version, 8-byte big-endian)
                  frame(topic) frame(SHA256(state)))
  leaf   = SHA256(0x00 || link);  node = SHA256(0x01 || left || right)
  the audit path of leaf (seq - 1) in a tree of checkpoint.size leaves leads to
  checkpoint.root (RFC 9162 section 2.1.3.2), and the signature covers the
  checkpoint's other fields as canonical JSON (sorted keys, no spaces, ASCII).
"""


def export_package(store: TicketStore, ticket: str, out_dir: str | os.PathLike[str],
                   checkpoint: Checkpoint, *, overwrite: bool = False) -> Path:
    """Write a ticket's audit package, proved against ``checkpoint``.

    The package is read from the **stored events themselves** (their bytes, chain
    links and inclusion proofs), never from the read model: what it holds is what
    the auditor re-hashes. The store must still match the checkpoint (its first
    ``size`` chain links give the signed root) and the ticket's stored bytes must
    re-hash to their links. Each file is written whole (temporary name, then
    renamed); a folder that already holds a package is refused unless ``overwrite``.

    Raises:
        OutputExistsError: the folder holds a package already.
        TicketNotFoundError: no such ticket.
        IntegrityError: the store no longer matches the checkpoint, the ticket's
            chain is broken, or the ticket has events the checkpoint does not cover
            (issue a new checkpoint first).
    """
    integrity = ticket_integrity(store, ticket, tree_size=checkpoint.size)
    if integrity.tree_size != checkpoint.size or integrity.root != checkpoint.root:
        raise IntegrityError(
            f"{store.location.display} no longer matches the checkpoint of {checkpoint.issued_at} "
            f"({checkpoint.size} entries): run `csmine verify --checkpoint` to see what changed"
        )
    if not integrity.chain_ok:
        raise IntegrityError(f"ticket {ticket}'s chain does not verify: {'; '.join(integrity.problems)}")
    uncovered = [ev.version for ev in integrity.events if ev.seq is None or ev.seq > checkpoint.size]
    if uncovered:
        raise IntegrityError(
            f"ticket {ticket} has events after the checkpoint of {checkpoint.issued_at} "
            f"(versions {', '.join(map(str, uncovered))}): issue a new checkpoint (`csmine checkpoint`) "
            "and export against it"
        )
    out = Path(out_dir)
    names = ("events.json", "checkpoint.json", "public_key.pem", "README.txt")
    if not overwrite and any((out / n).exists() for n in names):
        raise OutputExistsError(f"{out} holds an audit package already: nothing was written (choose another "
                                "folder, or remove the old package first)")
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": PACKAGE_FORMAT,
        "ticket": ticket,
        "ticket_uuid": integrity.ticket_uuid,
        "store": store.location.display,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "checkpoint_size": checkpoint.size,
        "events": [
            {
                "version": ev.version,
                "topic": ev.topic,
                "state": base64.b64encode(ev.state).decode(),
                "notification_id": ev.position,
                "seq": ev.seq,
                "link": ev.link.hex() if ev.link else None,
                "proof": [p.hex() for p in ev.proof],
            }
            for ev in integrity.events
        ],
    }
    raw = base64.b64decode(checkpoint.public_key)
    pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # events.json last: a package without it is visibly incomplete
    write_text(str(out / "checkpoint.json"), checkpoint.to_json(), force=overwrite)
    write_bytes(str(out / "public_key.pem"), pem, force=overwrite)
    write_text(str(out / "README.txt"), _README.format(ticket=ticket, folder=out), force=overwrite)
    write_text(str(out / "events.json"), json.dumps(doc, indent=2, ensure_ascii=False) + "\n", force=overwrite)
    return out


def check_package(folder: str | os.PathLike[str], *, trusted_key: bytes | None = None) -> PackageReport:
    """Verify an audit package offline: signature, chain re-hash, inclusion proofs.

    Checks that the ticket id maps to the stored aggregate id, that versions run
    0..n, that each event's stored bytes re-hash to its link (chained from the
    previous one), that each link's RFC 9162 audit path leads to the signed root,
    that the checkpoint's signature verifies (and is by ``trusted_key`` if given),
    and that the opening event names the ticket.

    Raises:
        CheckpointError: the folder is not an audit package (files missing or unreadable).
    """
    base = Path(folder)
    try:
        doc = json.loads((base / "events.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{base} is not a csmine audit package (events.json: {exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != PACKAGE_FORMAT:
        raise CheckpointError(f"{base}/events.json is not a {PACKAGE_FORMAT} file")
    cp = load_checkpoint(base / "checkpoint.json")
    sig = check_signature(cp, trusted_key)
    problems: list[str] = []
    if not sig.valid:
        problems.append(f"checkpoint signature does not verify (key {cp.key_id}): the checkpoint was altered")
    if sig.trusted is False:
        problems.append(f"checkpoint is signed by key {cp.key_id}, not by the pinned key")
    pem_path = base / "public_key.pem"
    if pem_path.exists() and load_public_key(pem_path) != base64.b64decode(cp.public_key):
        problems.append("public_key.pem is not the key that signed the checkpoint")
    ticket = str(doc.get("ticket", ""))
    oid = str(ticket_id(ticket))
    if doc.get("ticket_uuid") != oid:
        problems.append(f"the package's aggregate id {doc.get('ticket_uuid')} is not the id of ticket {ticket!r}")
    root = cp.root_bytes
    prev = ZERO
    events = doc.get("events") or []
    for expected, ev in enumerate(events):
        try:
            version = int(ev["version"])
            topic = str(ev["topic"])
            state = base64.b64decode(ev["state"], validate=True)
            seq = int(ev["seq"])
            link = bytes.fromhex(ev["link"])
            proof = [bytes.fromhex(p) for p in ev["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"event #{expected}: malformed entry ({exc})")
            continue
        if version != expected:
            problems.append(f"version {expected} is missing (next is {version})")
        computed = stream_link(prev, oid, version, topic, state)
        if computed != link:
            problems.append(f"version {version}: stored bytes do not hash to its chain link")
        try:
            proved = root_from_inclusion_proof(leaf_hash(computed), seq - 1, cp.size, proof) == root
        except ValueError as exc:
            proved = False
            problems.append(f"version {version}: malformed inclusion proof ({exc})")
        else:
            if not proved:
                problems.append(f"version {version}: inclusion proof does not lead to the checkpoint's root")
        if version == 0:
            try:
                opened = json.loads(state)
            except (ValueError, UnicodeDecodeError):
                opened = None
            if topic != TOPIC_OPENED or (isinstance(opened, dict) and opened.get("external_id") != ticket):
                problems.append("version 0 is not the opening of this ticket")
        # after a mismatch go on from the stated link, so each changed event is named once
        prev = computed if computed == link else link
    if not events:
        problems.append("the package holds no events")
    return PackageReport(ticket, len(events), cp.size, cp.issued_at, cp.key_id, sig.valid, sig.trusted,
                         tuple(problems))
