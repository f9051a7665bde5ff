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

What a verification found is described in :mod:`event_store.integrity.findings`; one
ticket's integrity with inclusion proofs in :mod:`event_store.integrity.tickets`; the
offline **audit package** (one ticket's stored rows, chain links and RFC 9162 inclusion
proofs against a signed checkpoint) in :mod:`event_store.integrity.package`.

``_verify_in`` is longer than the rest (about 240 lines) on purpose: it is one pass over
the log in one database snapshot, and its steps share the running state of that pass
(the previous link per ticket, the running head, the Merkle tree, the read-model
shadow); cut into functions, that state would travel through every call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING
from uuid import UUID

from event_store.domain import PHASE_PLAN_ID, TOPIC_OPENED
from event_store.errors import IntegrityError
from event_store.integrity.chain import head_link, leaf_hash, MerkleTree, stream_link, subtree_span, ZERO
from event_store.integrity.checkpoint import check_signature, Checkpoint
from event_store.integrity.findings import _PAGE, CheckpointResult, Finding, MAX_FINDINGS, VerifyReport
from event_store.persistence.failures import storage_errors
from event_store.readmodel.check import ReadModelCheck, ShadowProjection
from event_store.readmodel.projection import NAME as PROJECTION

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.persistence.db import Cursor


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


__all__ = [
    "READ_MODEL_MODES",
    "SAMPLE_RATE",
    "rebuild_if_safe",
    "verify_in",
    "verify_store",
]
