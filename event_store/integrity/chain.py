"""Hashing primitives of the tamper-evident log.

* A per-ticket **hash chain** over the stored bytes: each link hashes the previous
  link, the ticket id, the version, the topic and SHA-256 of the stored state, with
  length-prefixed framing and a domain tag, so no two different inputs share bytes.
* A **log head** hash running over every link in log order (catches deletion,
  truncation and insertion that leaves each ticket's own chain intact).
* An RFC 9162 (Certificate Transparency v2) **Merkle tree** whose leaves are the
  links in log order: a root for any log size, and inclusion proofs.
  :class:`MerkleTree` keeps the levels, for many proofs at once and for the
  roots of fixed-size ranges that checkpoints carry.

The links exclude the store's notification id, so they survive a move between stores.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

ZERO = bytes(32)
_TAG_STREAM = b"csmine/v1/stream"
_TAG_HEAD = b"csmine/v1/head"


def _frame(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


# The same framing as _frame, unrolled: these run once per event when verifying.
_STREAM_PREFIX = _frame(_TAG_STREAM)
_HEAD_PREFIX = _frame(_TAG_HEAD)
_LEN8 = struct.pack(">I", 8)
_LEN32 = struct.pack(">I", 32)
_sha256 = hashlib.sha256
_pack = struct.pack


def stream_link(prev: bytes, originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """The chain link of one stored event (32 bytes).

    SHA-256 over length-prefixed fields: the tag ``csmine/v1/stream``, the previous
    link of the ticket (32 zero bytes for version 0), the ticket id (canonical
    UUID text), the version (8-byte big-endian), the topic and SHA-256 of the
    stored state.
    """
    o = originator_id.encode()
    t = topic.encode()
    return _sha256(b"".join((
        _STREAM_PREFIX, _pack(">I", len(prev)), prev, _pack(">I", len(o)), o,
        _LEN8, _pack(">q", version), _pack(">I", len(t)), t, _LEN32, _sha256(state).digest(),
    ))).digest()


def head_link(prev: bytes, seq: int, link: bytes) -> bytes:
    """The running log head after appending ``link`` at position ``seq`` (1-based)."""
    return _sha256(b"".join((
        _HEAD_PREFIX, _pack(">I", len(prev)), prev, _LEN8, _pack(">q", seq), _pack(">I", len(link)), link,
    ))).digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle Tree Hash of already leaf-hashed entries.

    Computed bottom-up level by level; an odd node at the end of a level is
    promoted unchanged, which equals the RFC's split at the largest power of two.
    The empty tree hashes to SHA-256 of the empty string.
    """
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 audit path for the leaf at ``index`` in a tree of ``len(leaves)``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside tree of size {n}")
    path: list[bytes] = []

    def walk(lo: int, hi: int, m: int) -> None:
        size = hi - lo
        if size == 1:
            return
        k = _largest_power_of_two_below(size)
        if m < k:
            walk(lo, lo + k, m)
            path.append(merkle_root(leaves[lo + k : hi]))
        else:
            walk(lo + k, hi, m - k)
            path.append(merkle_root(leaves[lo : lo + k]))

    walk(0, n, index)
    return path


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """Recompute the root from a leaf and its audit path (RFC 9162 §2.1.3.2).

    Raises ValueError when the path has the wrong length for ``index``/``size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ValueError("inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is shorter than the tree requires")
    return r


class MerkleTree:
    """An RFC 9162 tree built once over already leaf-hashed entries.

    Keeps every level in memory (about twice the leaves), so the root and any
    number of inclusion proofs come without recomputing subtrees. Level ``j``
    holds the roots of consecutive ranges of ``2**j`` leaves (the last range may
    be shorter); an odd node at the end of a level is promoted unchanged, which
    gives the same tree as the RFC's split at the largest power of two.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.size = len(leaves)
        self.levels: list[list[bytes]] = [list(leaves)]
        level = self.levels[0]
        while len(level) > 1:
            nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            self.levels.append(nxt)
            level = nxt

    @property
    def root(self) -> bytes:
        """The Merkle Tree Hash of all leaves (SHA-256 of nothing when empty)."""
        if not self.size:
            return hashlib.sha256(b"").digest()
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """RFC 9162 audit path of the leaf at ``index`` (deepest sibling first)."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} outside tree of size {self.size}")
        path: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path

    def subtree_roots(self, span: int) -> list[bytes]:
        """Roots of consecutive ranges of ``span`` leaves (``span`` a power of two).

        Each is a node of the tree, and :func:`merkle_root` of the list equals the
        root, so a checkpoint that keeps them can say which range differs.
        """
        if span < 1 or span & (span - 1):
            raise ValueError(f"span {span} is not a power of two")
        depth = span.bit_length() - 1
        if depth >= len(self.levels):
            return [self.root] if self.size else []
        return list(self.levels[depth])


def subtree_span(size: int, *, most: int = 64, least: int = 1024) -> int:
    """The power-of-two range length that cuts ``size`` leaves into at most ``most`` ranges."""
    span = least
    while (size + span - 1) // span > most:
        span <<= 1
    return span
