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

The pass over the log (steps 1-3, and the running head) is
:func:`event_store.integrity.walk.walk_log`, its comparison with the recorded head
(step 4) :func:`event_store.integrity.walk.check_head`; the SQL they read with is
:mod:`event_store.integrity.log_tables`. This module holds the steps around them: the
checkpoint's signature, the Merkle root against the checkpoint, the read-model
comparison, and the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import TYPE_CHECKING

from event_store.errors import IntegrityError
from event_store.integrity.chain import head_link, leaf_hash, MerkleTree, subtree_span, ZERO
from event_store.integrity.checkpoint import check_signature, Checkpoint, sign_checkpoint, SignatureCheck
from event_store.integrity.findings import CheckpointResult, VerifyReport
from event_store.integrity.log_tables import LogTables
from event_store.integrity.walk import check_head, named_findings, Scan, walk_log
from event_store.persistence.failures import storage_errors
from event_store.readmodel.check import ReadModelCheck, ShadowProjection
from event_store.readmodel.projection import NAME as PROJECTION

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from event_store.application import TicketStore
    from event_store.persistence.db import Cursor


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
            :func:`issue_checkpoint`), or None.
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
            LogTables(store).begin(cur)
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
    """The steps of a verification in one snapshot (see the module docstring)."""
    started = time.perf_counter()
    tables = LogTables(store)
    scan = Scan()
    warnings: list[str] = []
    sig = _check_signature(checkpoint, trusted_key, scan, warnings) if checkpoint is not None else None
    head_size, stored_head = tables.recorded_head(cur)
    created_at = _created_at(cur, checkpoint, warnings)
    shadow: ShadowProjection | None = None
    if read_model != "none":
        row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
        shadow = ShadowProjection(store, int(row[0]) if row else 0,
                                  sample_rate=sample_rate if read_model == "sample" else None)
        opened.append(shadow)
    walk = walk_log(tables, cur, scan, head_size, shadow.feed if shadow is not None else None)
    index = len(walk.links)
    tree = _Tree.of(walk.links, checkpoint.size if checkpoint is not None else -1)
    walk.links.clear()  # the tree holds their leaves; a large log need not keep both
    check_head(scan, cur, walk, index, head_size, stored_head)
    cp_result = (_check_checkpoint(scan, cur, tables, checkpoint, sig, tree, index)
                 if checkpoint is not None else None)
    rm_check = _compare_read_model(scan, cur, shadow, warnings) if shadow is not None else None
    span = subtree_span(index)
    return VerifyReport(
        store=store.location.display,
        store_created_at=created_at,
        events=index,
        chain_rows=walk.chain_count,
        head_size=head_size,
        size=index,
        root=tree.whole.root.hex(),
        head=walk.head.hex(),
        subtree_size=span,
        subtrees=tuple(r.hex() for r in tree.whole.subtree_roots(span)),
        checkpoint=cp_result,
        findings=named_findings(store, tables, cur, scan),
        more=scan.more,
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
        read_model=rm_check,
    )


def _check_signature(checkpoint: Checkpoint, trusted_key: bytes | None, scan: Scan,
                     warnings: list[str]) -> SignatureCheck:
    """Step 5a: the checkpoint's signature, and whether its key is the pinned one."""
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
    return sig


def _created_at(cur: Cursor, checkpoint: Checkpoint | None, warnings: list[str]) -> str:
    """The store's creation time; a warning when the checkpoint was issued for another store."""
    meta = cur.execute("SELECT value FROM csmine_meta WHERE key = 'created_at'").fetchone()
    created_at = str(meta[0]) if meta else ""
    if checkpoint is not None and checkpoint.store_created_at and checkpoint.store_created_at != created_at:
        warnings.append(
            f"the checkpoint was issued for the store {checkpoint.store} created {checkpoint.store_created_at}; "
            f"this one was created {created_at or 'at an unknown time'}: is it the right checkpoint?")
    return created_at


@dataclass(frozen=True, slots=True)
class _Tree:
    """The Merkle tree over the re-hashed links, and the part a checkpoint covers.

    Attributes:
        whole: the tree over every entry.
        signed: the tree over the checkpoint's first ``size`` entries (None: none
            given, or the log is shorter).
        signed_head: the chain head after those entries.
    """

    whole: MerkleTree
    signed: MerkleTree | None
    signed_head: bytes

    @classmethod
    def of(cls, links: list[bytes], cp_size: int) -> _Tree:
        """Build the trees (``cp_size`` -1: no checkpoint)."""
        cp_head = ZERO
        for i, link in enumerate(links[: max(cp_size, 0)], 1):
            cp_head = head_link(cp_head, i, link)
        leaves = [leaf_hash(link) for link in links]
        tree = MerkleTree(leaves)
        signed = None if cp_size < 0 or cp_size > len(leaves) else (
            tree if cp_size == len(leaves) else MerkleTree(leaves[:cp_size]))
        return cls(tree, signed, cp_head)


def _check_checkpoint(scan: Scan, cur: Cursor, tables: LogTables, checkpoint: Checkpoint,
                      sig: SignatureCheck | None, tree: _Tree, index: int) -> CheckpointResult:
    """Step 5b: the Merkle root and head of the checkpoint's first entries against the signed ones."""
    cp_size = checkpoint.size
    first_diff = None
    if tree.signed is None:
        root_ok = head_ok = False
        scan.add("checkpoint", index + 1, None, None,
                 f"the checkpoint of {checkpoint.issued_at} covers {cp_size} entries but the log "
                 f"holds {index}: the log was truncated")
    else:
        roots = tree.signed.subtree_roots(checkpoint.subtree_size)
        root_ok = tree.signed.root == checkpoint.root_bytes
        head_ok = tree.signed_head == checkpoint.head_bytes
        if not (root_ok and head_ok):
            signed = [bytes.fromhex(s) for s in checkpoint.subtrees]
            k = next((i for i, (a, b) in enumerate(zip(roots, signed, strict=False)) if a != b), 0)
            lo = k * checkpoint.subtree_size + 1
            hi = min((k + 1) * checkpoint.subtree_size, cp_size)
            first_diff = (lo, hi)
            scan.add("checkpoint", tables.position_of(cur, lo), None, None, after_positions=True,
                     message=
                     f"the first {cp_size} entries do not hash to the root signed on "
                     f"{checkpoint.issued_at}: history was rewritten since (first difference "
                     f"within entries {lo}-{hi} of the log)")
    return CheckpointResult(
        size=cp_size, issued_at=checkpoint.issued_at, key_id=checkpoint.key_id,
        signature_valid=bool(sig and sig.valid), key_trusted=sig.trusted if sig else None,
        root_matches=root_ok, head_matches=head_ok,
        differs_from=first_diff[0] if first_diff else None,
        differs_to=first_diff[1] if first_diff else None,
    )


def _compare_read_model(scan: Scan, cur: Cursor, shadow: ShadowProjection,
                        warnings: list[str]) -> ReadModelCheck:
    """The read model against the projection of the events, when the events verify."""
    try:
        if scan.found:
            warnings.append("the read model was not compared: the events themselves do not verify "
                            "(restore them first; a read model rebuilt from tampered events proves nothing)")
            return ReadModelCheck("skipped", shadow.position, shadow.lag, 0, 0, 0, None, 0, 0.0)
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
        return rm_check
    finally:
        shadow.close()


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
        tables = LogTables(store)
        tables.begin(cur)
        covered = tables.position_of(cur, checkpoint.size) if checkpoint.size else 0
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


def issue_checkpoint(store: TicketStore, private_key: Ed25519PrivateKey, *,
                     issued_at: datetime | None = None) -> Checkpoint:
    """Verify the whole store, then sign its current size, root and head.

    A store that does not verify is never signed: signing it would vouch for
    tampered history.

    Raises:
        IntegrityError: the store does not verify (the first problem is named).
    """
    report = verify_store(store)
    if not report.ok:
        first = report.first
        assert first is not None
        raise IntegrityError(
            f"refusing to sign {store.location.display}: it does not verify "
            f"({len(report.findings)} problem(s); first: {first.message}); run `csmine verify`"
        )
    when = (issued_at or datetime.now(UTC)).astimezone(UTC)
    unsigned = Checkpoint(
        store=store.location.display,
        store_created_at=report.store_created_at,
        size=report.size,
        root=report.root,
        head=report.head,
        issued_at=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        subtree_size=report.subtree_size,
        subtrees=report.subtrees,
        public_key="",
        key_id="",
    )
    return sign_checkpoint(unsigned, private_key)


__all__ = [
    "READ_MODEL_MODES",
    "SAMPLE_RATE",
    "issue_checkpoint",
    "rebuild_if_safe",
    "verify_in",
    "verify_store",
]
