"""One ticket's integrity: its events re-hashed along its chain, with inclusion proofs in the log's Merkle tree,
and the whole log's chain rows against the recorded chain head (verify's own step 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from event_store.domain import ticket_id
from event_store.errors import TicketNotFoundError
from event_store.integrity.chain import leaf_hash, MerkleTree, root_from_inclusion_proof, stream_link, ZERO
from event_store.integrity.log_tables import LogTables
from event_store.integrity.walk import check_head, named_findings, Scan, walk_chain

if TYPE_CHECKING:
    from event_store.application import TicketStore


#: Problems of the whole log (positions, head) a ticket's integrity lists; ``csmine verify`` lists them all.
_LOG_PROBLEMS = 3


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
        head_size: entries the chain head records.
        log_ok: the log's chain rows run 1, 2, 3, ... and match the chain head's recorded
            size and hash (no entry deleted, cut off or appended outside csmine).
    """

    ticket: str
    ticket_uuid: str
    events: tuple[EventProof, ...]
    chain_ok: bool
    tree_size: int
    root: str
    proofs_ok: bool
    problems: tuple[str, ...]
    head_size: int
    log_ok: bool

    @property
    def ok(self) -> bool:
        """Chain, proofs and the log's head all verify."""
        return self.chain_ok and self.proofs_ok and self.log_ok


def ticket_integrity(store: TicketStore, ticket: str, *, tree_size: int | None = None) -> TicketIntegrity:
    """Re-hash one ticket's chain and prove each event against the log's Merkle root.

    Args:
        store: an open store.
        ticket: external ticket id.
        tree_size: prove against the first ``tree_size`` entries (a checkpoint's
            size); default the whole chain.

    The tree is built from the stored chain links (one fast read), which are also
    checked against the recorded chain head as ``csmine verify`` does (positions and
    head, :func:`event_store.integrity.walk.check_head`); the ticket's own links are
    recomputed from its stored bytes.

    Raises:
        TicketNotFoundError: no such ticket.
    """
    oid = str(ticket_id(ticket))
    rows, chain, links, head_size, log_problems = _stored(store, ticket, oid, tree_size)
    problems: list[str] = []
    tree = MerkleTree([leaf_hash(link) for link in links])
    events, chain_ok, proofs_ok = _prove(oid, rows, chain, tree, tree_size, problems)
    return TicketIntegrity(ticket, oid, tuple(events), chain_ok, tree.size, tree.root.hex(), proofs_ok,
                           tuple(problems + log_problems), head_size, not log_problems)


def _stored(store: TicketStore, ticket: str, oid: str, tree_size: int | None
            ) -> tuple[list[Any], dict[int, tuple[int, bytes]], list[bytes], int, list[str]]:
    """In one snapshot: the ticket's events, its chain rows by version, the links of the tree, the size
    the chain head records, and what the log's chain rows and head do not agree on."""
    tables = LogTables(store)
    with store.db.transaction() as cur:
        tables.begin(cur)
        rows = cur.execute(
            f"SELECT {tables.nid}, originator_version, topic, state FROM {tables.table} "
            f"WHERE originator_id = ? ORDER BY originator_version", (tables.stored_id(oid),),
        ).fetchall()
        if not rows:
            raise TicketNotFoundError(f"no ticket {ticket!r} in {store.location.display}")
        chain: dict[int, tuple[int, bytes]] = {}
        nids = [int(r[0]) for r in rows]
        for i in range(0, len(nids), 500):  # the chain's key is the notification id (no index on the ticket)
            part = nids[i:i + 500]
            chain.update({int(r[0]): (int(r[1]), bytes(r[2])) for r in cur.execute(
                "SELECT originator_version, seq, link FROM event_chain WHERE originator_id = ? AND notification_id "
                f"IN ({', '.join('?' * len(part))})", (oid, *part)).fetchall()})
        head_size, stored_head = tables.recorded_head(cur)
        scan = Scan()
        walk = walk_chain(tables, cur, scan, head_size)
        check_head(scan, cur, walk, tables.event_count(cur), head_size, stored_head)
        found = named_findings(store, tables, cur, scan)
    log_problems = [f.message for f in found[:_LOG_PROBLEMS]]
    if len(found) + scan.more > _LOG_PROBLEMS:
        log_problems.append(f"{len(found) + scan.more - _LOG_PROBLEMS} more problem(s) in the log: "
                            "run `csmine verify`")
    links = walk.links if tree_size is None else walk.links[:tree_size]
    return rows, chain, links, head_size, log_problems


def _prove(oid: str, rows: list[Any], chain: dict[int, tuple[int, bytes]], tree: MerkleTree,
           tree_size: int | None, problems: list[str]) -> tuple[list[EventProof], bool, bool]:
    """Each event re-hashed along the chain and proved in ``tree``: (events, chain ok, proofs ok)."""
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
    return events, chain_ok, proofs_ok


__all__ = [
    "EventProof",
    "TicketIntegrity",
    "ticket_integrity",
]
