"""What verification reports: findings by kind, checkpoint results, the verify report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from event_store.readmodel.check import ReadModelCheck


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


__all__ = [
    "CheckpointResult",
    "Finding",
    "KINDS",
    "MAX_FINDINGS",
    "PACKAGE_FORMAT",
    "VerifyReport",
]
