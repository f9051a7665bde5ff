"""The auditor's integrity checks of a store: signed checkpoints, verification, refusal.

The hashing, signing and proving are the store's own (:mod:`event_store.integrity`).
This module holds the rules the commands apply around them: a checkpoint file is
never overwritten (each one is evidence) and is named after the time it was signed;
a verification may rebuild a read model that differs from the events when that is
safe (:func:`event_store.integrity.verify.rebuild_if_safe`); and work that is taken
away, such as an audit sample, refuses a store that does not verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.integrity.checkpoint import Checkpoint
    from event_store.integrity.findings import VerifyReport

    from csmine.audit.trace import TicketTrace

#: ``out`` of :func:`sign_checkpoint` that means: do not write the checkpoint (print it).
STDOUT = "-"


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint just signed.

    Attributes:
        checkpoint: the signed checkpoint.  path: the file it was written to, None when
            it was not written (``out`` was ``-``: the caller prints it).
    """

    checkpoint: Checkpoint
    path: str | None

    def to_dict(self) -> dict[str, Any]:
        """The file, the signed body and the signature."""
        return {"file": self.path, **self.checkpoint.body(), "signature": self.checkpoint.signature}


def checkpoint_file_name(cp: Checkpoint) -> str:
    """The default file of a checkpoint: ``csmine-checkpoint-<issued_at without - and :>.json``."""
    return f"csmine-checkpoint-{cp.issued_at.replace(':', '').replace('-', '')}.json"


def sign_checkpoint(location: str, key_file: str, out: str | None) -> SignedCheckpoint:
    """Verify the store at ``location``, then sign its log size, Merkle root and head.

    Args:
        location: the store (SQLite path or PostgreSQL URL).
        key_file: the Ed25519 private key.
        out: the checkpoint file (refused before any work if it exists), :data:`STDOUT`
            to write none, None for :func:`checkpoint_file_name`.

    Raises:
        OutputExistsError: ``out`` exists (exit 73);
        CheckpointError: the key cannot be read; IntegrityError: the store does not verify.
    """
    from event_store import open_store
    from event_store.integrity.checkpoint import load_private_key, write_checkpoint
    from event_store.integrity.verify import issue_checkpoint
    from event_store.io.files import check_new

    if out and out != STDOUT:
        check_new(out, False, advice="checkpoints are never overwritten: each one is evidence; give another "
                                     "--out name")
    key = load_private_key(key_file)
    with open_store(location) as store:
        cp = issue_checkpoint(store, key)
    if out == STDOUT:
        return SignedCheckpoint(cp, None)
    path = out or checkpoint_file_name(cp)
    write_checkpoint(cp, path)
    return SignedCheckpoint(cp, path)


@dataclass(frozen=True, slots=True)
class Verification:
    """What a verification found.

    Attributes:
        report: the verdict (after the rebuild, when the read model was rebuilt).
        rebuilt_from: the verdict before the rebuild, when the read model differed from
            the events and was rebuilt from them; else None.
    """

    report: VerifyReport
    rebuilt_from: VerifyReport | None = None


def verify_location(location: str, checkpoint_file: str | None = None, public_key_file: str | None = None, *,
                    fast: bool = False, rebuild: bool = False) -> Verification:
    """Re-hash the store at ``location`` against its chain, head and a checkpoint, and compare
    the read model with the events (a random sixteenth of the tickets when ``fast``).

    With ``rebuild``, a read model that differs is rebuilt from the events when the
    checkpoint, signed by the trusted key, covers the differences, and verified again.
    """
    from event_store import open_store
    from event_store.integrity.checkpoint import load_checkpoint, load_public_key
    from event_store.integrity.verify import rebuild_if_safe, verify_store

    cp = load_checkpoint(checkpoint_file) if checkpoint_file else None
    trusted = load_public_key(public_key_file) if public_key_file else None
    with open_store(location) as store:
        if rebuild:
            before, after = rebuild_if_safe(store, cp, trusted_key=trusted)
            return Verification(after, before) if after is not None else Verification(before)
        return Verification(verify_store(store, cp, trusted_key=trusted, read_model="sample" if fast else "full"))


def check_verified(report: VerifyReport) -> None:
    """Raise ``IntegrityError`` (exit 5) naming the first problem when ``report`` is not OK."""
    from event_store.errors import IntegrityError

    if not report.ok:
        first = report.first
        assert first is not None
        raise IntegrityError(f"{report.store} does not verify: {len(report.findings) + report.more} problem(s); "
                             f"first: {first.message}")


def check_trace(trace: TicketTrace) -> None:
    """Raise ``IntegrityError`` (exit 5) naming what failed when the traced ticket's integrity does not verify."""
    from event_store.errors import IntegrityError

    i = trace.integrity
    if i is not None and not i.ok:
        raise IntegrityError(f"ticket {trace.ticket}'s stored history does not verify: "
                             f"{'; '.join(i.problems) or 'see the integrity line'}; run `csmine verify` "
                             "to check the whole store")


def require_verified(store: TicketStore, what: str) -> None:
    """Refuse (``IntegrityError``, exit 5) to ``what`` a store whose events or read model do not verify."""
    from event_store.errors import IntegrityError
    from event_store.integrity.verify import verify_store

    report = verify_store(store)
    if not report.ok:
        first = report.first
        assert first is not None
        raise IntegrityError(f"refusing to {what} {store.location.display}: it does not verify "
                             f"({len(report.findings) + report.more} problem(s); first: {first.message}); "
                             "see `csmine verify`")


__all__ = ["STDOUT", "SignedCheckpoint", "Verification", "check_trace", "check_verified", "checkpoint_file_name",
           "require_verified", "sign_checkpoint", "verify_location"]
