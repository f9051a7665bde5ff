"""Audit packages: one ticket's stored rows, chain links and inclusion proofs against a signed checkpoint, checkable offline without the database."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from event_store.domain import ticket_id, TOPIC_OPENED
from event_store.errors import IntegrityError, OutputExistsError
from event_store.integrity.chain import leaf_hash, root_from_inclusion_proof, stream_link, ZERO
from event_store.integrity.checkpoint import (
    check_signature, Checkpoint, CheckpointError, load_checkpoint, load_public_key, SignatureCheck,
)
from event_store.integrity.findings import PACKAGE_FORMAT
from event_store.integrity.tickets import ticket_integrity, TicketIntegrity
from event_store.io.files import write_bytes, write_text

if TYPE_CHECKING:
    from event_store.application import TicketStore


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
    integrity = _proved_ticket(store, ticket, checkpoint)
    out = Path(out_dir)
    names = ("events.json", "checkpoint.json", "public_key.pem", "README.txt")
    if not overwrite and any((out / n).exists() for n in names):
        raise OutputExistsError(f"{out} holds an audit package already: nothing was written (choose another "
                                "folder, or remove the old package first)")
    out.mkdir(parents=True, exist_ok=True)
    doc = _events_document(store, ticket, integrity, checkpoint)
    raw = base64.b64decode(checkpoint.public_key)
    pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # events.json last: a package without it is visibly incomplete
    write_text(str(out / "checkpoint.json"), checkpoint.to_json(), force=overwrite)
    write_bytes(str(out / "public_key.pem"), pem, force=overwrite)
    write_text(str(out / "README.txt"), _README.format(ticket=ticket, folder=out), force=overwrite)
    write_text(str(out / "events.json"), json.dumps(doc, indent=2, ensure_ascii=False) + "\n", force=overwrite)
    return out


def _proved_ticket(store: TicketStore, ticket: str, checkpoint: Checkpoint) -> TicketIntegrity:
    """The ticket's integrity against the checkpoint, refused unless all of it is proved."""
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
    return integrity


def _events_document(store: TicketStore, ticket: str, integrity: TicketIntegrity,
                     checkpoint: Checkpoint) -> dict[str, Any]:
    """The content of ``events.json``: the stored rows, links and proofs."""
    return {
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
    problems = _signature_problems(base, cp, sig)
    ticket = str(doc.get("ticket", ""))
    oid = str(ticket_id(ticket))
    if doc.get("ticket_uuid") != oid:
        problems.append(f"the package's aggregate id {doc.get('ticket_uuid')} is not the id of ticket {ticket!r}")
    events = doc.get("events") or []
    problems += _event_problems(events, ticket, oid, cp)
    if not events:
        problems.append("the package holds no events")
    return PackageReport(ticket, len(events), cp.size, cp.issued_at, cp.key_id, sig.valid, sig.trusted,
                         tuple(problems))


def _signature_problems(base: Path, cp: Checkpoint, sig: SignatureCheck) -> list[str]:
    """The checkpoint's signature, its signer, and the key file beside it."""
    problems: list[str] = []
    if not sig.valid:
        problems.append(f"checkpoint signature does not verify (key {cp.key_id}): the checkpoint was altered")
    if sig.trusted is False:
        problems.append(f"checkpoint is signed by key {cp.key_id}, not by the pinned key")
    pem_path = base / "public_key.pem"
    if pem_path.exists() and load_public_key(pem_path) != base64.b64decode(cp.public_key):
        problems.append("public_key.pem is not the key that signed the checkpoint")
    return problems


def _event_problems(events: list[Any], ticket: str, oid: str, cp: Checkpoint) -> list[str]:
    """Each event: its version, its bytes re-hashed along the chain, its proof to the signed root."""
    problems: list[str] = []
    root = cp.root_bytes
    prev = ZERO
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
        if version == 0 and not _opens(topic, state, ticket):
            problems.append("version 0 is not the opening of this ticket")
        # after a mismatch go on from the stated link, so each changed event is named once
        prev = computed if computed == link else link
    return problems


def _opens(topic: str, state: bytes, ticket: str) -> bool:
    """The stored event is the opening of ``ticket`` (by topic, and by external id when readable)."""
    try:
        opened = json.loads(state)
    except (ValueError, UnicodeDecodeError):
        opened = None
    return not (topic != TOPIC_OPENED or (isinstance(opened, dict) and opened.get("external_id") != ticket))


__all__ = [
    "PackageReport",
    "check_package",
    "export_package",
]
