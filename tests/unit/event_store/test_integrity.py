"""Hashing primitives, RFC 9162 Merkle trees and proofs, signed checkpoints."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from event_store.integrity.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_signature,
    generate_keys,
    key_id,
    load_checkpoint,
    load_private_key,
    load_public_key,
    sign_checkpoint,
    write_checkpoint,
)
from event_store.integrity.chain import (
    ZERO,
    MerkleTree,
    head_link,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_proof,
    stream_link,
    subtree_span,
)

# Certificate Transparency's published test vectors (RFC 6962 section 2.1 trees over
# these eight inputs): roots for sizes 0..8 and audit paths.
CT_INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PROOFS = [  # (0-based leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_LEAVES = [leaf_hash(d) for d in CT_INPUTS]


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, written as the RFC states it (recursive split)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_vectors(size):
    leaves = CT_LEAVES[:size]
    assert merkle_root(leaves).hex() == CT_ROOTS[size]
    assert MerkleTree(leaves).root.hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), CT_PROOFS)
def test_inclusion_proofs_match_the_published_vectors(index, size, path):
    leaves = CT_LEAVES[:size]
    assert [p.hex() for p in inclusion_proof(leaves, index)] == path
    assert [p.hex() for p in MerkleTree(leaves).proof(index)] == path
    proof = [bytes.fromhex(p) for p in path]
    assert root_from_inclusion_proof(leaves[index], index, size, proof).hex() == CT_ROOTS[size]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=6), min_size=1, max_size=70))
def test_tree_equals_the_rfc_definition_and_every_proof_verifies(data):
    leaves = [leaf_hash(d) for d in data]
    tree = MerkleTree(leaves)
    assert tree.root == merkle_root(leaves) == reference_mth(leaves)
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert proof == inclusion_proof(leaves, i)
        assert root_from_inclusion_proof(leaf, i, len(leaves), proof) == tree.root
    for span in (1, 2, 4, 8, 1024):
        assert merkle_root(tree.subtree_roots(span)) == tree.root


def _verifies(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion_proof(leaf, index, size, proof) == root
    except ValueError:
        return False


def test_proof_verifier_rejects_every_wrong_input():
    leaves = [leaf_hash(bytes([i])) for i in range(13)]
    tree = MerkleTree(leaves)
    for i in range(13):
        proof = tree.proof(i)
        assert _verifies(leaves[i], i, 13, proof, tree.root)
        assert not _verifies(leaves[(i + 1) % 13], i, 13, proof, tree.root)  # another leaf
        assert not _verifies(leaves[i], (i + 1) % 13, 13, proof, tree.root)  # wrong index
        # a tree size the path cannot fit (the size itself comes from the signed checkpoint)
        for size in (i, 26):
            assert not _verifies(leaves[i], i, size, proof, tree.root)
        assert not _verifies(leaves[i], i, 13, [*proof, ZERO], tree.root)  # extra element
        assert not _verifies(leaves[i], i, 13, proof[:-1], tree.root)  # missing element
        for j in range(len(proof)):  # any flipped bit
            bad = list(proof)
            bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
            assert not _verifies(leaves[i], i, 13, bad, tree.root)
    with pytest.raises(ValueError, match="outside tree"):
        root_from_inclusion_proof(leaves[0], 13, 13, [])
    with pytest.raises(ValueError, match="outside tree"):
        tree.proof(13)


def test_stream_link_is_sha256_of_the_length_prefixed_fields():
    prev = bytes(range(32))
    state = b'{"activity":"Record"}'
    fields = [b"csmine/v1/stream", prev, b"f8f4fb74-7c54-50f6-bcd4-743e236a72ed", struct.pack(">q", 3),
              b"csmine/Ticket.ActivityRecorded/v1", hashlib.sha256(state).digest()]
    expected = hashlib.sha256(b"".join(len(f).to_bytes(4, "big") + f for f in fields)).digest()
    assert stream_link(prev, "f8f4fb74-7c54-50f6-bcd4-743e236a72ed", 3,
                       "csmine/Ticket.ActivityRecorded/v1", state) == expected


def test_head_link_is_sha256_of_the_length_prefixed_fields():
    prev, link = bytes(32), bytes(range(32))
    fields = [b"csmine/v1/head", prev, struct.pack(">q", 7), link]
    assert head_link(prev, 7, link) == hashlib.sha256(
        b"".join(len(f).to_bytes(4, "big") + f for f in fields)).digest()


def test_every_input_of_a_link_matters_and_framing_is_unambiguous():
    base = (ZERO, "t-1", 2, "topic", b"state")
    link = stream_link(*base)
    variants = [
        (bytes([1]) + ZERO[1:], "t-1", 2, "topic", b"state"),
        (ZERO, "t-2", 2, "topic", b"state"),
        (ZERO, "t-1", 3, "topic", b"state"),
        (ZERO, "t-1", 2, "topic2", b"state"),
        (ZERO, "t-1", 2, "topic", b"statf"),
        (ZERO, "t-1t", 2, "opic", b"state"),  # bytes moved across a field boundary
    ]
    assert len({link, *(stream_link(*v) for v in variants)}) == len(variants) + 1


@pytest.mark.parametrize(("size", "span"), [(0, 1024), (1, 1024), (65_536, 1024), (65_537, 2048),
                                             (73_087, 2048), (10**6, 16384)])
def test_subtree_span_keeps_at_most_64_ranges(size, span):
    assert subtree_span(size) == span
    assert -(-size // span) <= 64


# -- keys and checkpoints ------------------------------------------------------------------


@pytest.fixture
def keys(tmp_path):
    return generate_keys(tmp_path / "keys")


def _unsigned(size: int = 5) -> Checkpoint:
    tree = MerkleTree(CT_LEAVES[:size])
    return Checkpoint(store="s.db", store_created_at="2025-01-01T00:00:00+00:00", size=size,
                      root=tree.root.hex(), head=ZERO.hex(), issued_at="2025-03-03T09:00:00Z",
                      subtree_size=1024, subtrees=tuple(r.hex() for r in tree.subtree_roots(1024)),
                      public_key="", key_id="")


def test_keys_private_file_is_0600_and_public_alongside(keys):
    assert os.stat(keys.private).st_mode & 0o777 == 0o600
    assert keys.public.parent == keys.private.parent
    raw = load_public_key(keys.public)
    assert len(raw) == 32 and key_id(raw) == keys.key_id
    with pytest.raises(CheckpointError, match="already exists"):
        generate_keys(keys.private.parent)


def test_a_key_readable_by_others_is_refused(keys):
    os.chmod(keys.private, 0o644)
    with pytest.raises(CheckpointError, match="readable by other users"):
        load_private_key(keys.private)


def test_signature_verifies_and_binds_every_field(keys, tmp_path):
    cp = sign_checkpoint(_unsigned(), load_private_key(keys.private))
    raw = load_public_key(keys.public)
    assert check_signature(cp, raw).valid and check_signature(cp, raw).trusted is True
    assert check_signature(cp).trusted is None
    other = generate_keys(tmp_path / "other")
    assert check_signature(cp, load_public_key(other.public)).trusted is False
    forged = [
        replace(cp, size=4), replace(cp, root=CT_ROOTS[4]), replace(cp, head="11" * 32),
        replace(cp, issued_at="2025-03-04T09:00:00Z"), replace(cp, store="t.db"),
        replace(cp, subtrees=(CT_ROOTS[4],)), replace(cp, key_id="0" * 16),
        replace(cp, signature=base64.b64encode(bytes(64)).decode()),
    ]
    for bad in forged:
        assert not check_signature(bad).valid, bad
    # re-signing a forged body with another key verifies, but not as the pinned key
    resigned = sign_checkpoint(replace(cp, size=4), load_private_key(other.private))
    assert check_signature(resigned).valid and check_signature(resigned, raw).trusted is False


def test_checkpoint_file_round_trip(keys, tmp_path):
    cp = sign_checkpoint(_unsigned(), load_private_key(keys.private))
    path = tmp_path / "cp.json"
    write_checkpoint(cp, path)
    assert load_checkpoint(path) == cp
    assert path.stat().st_size < 2000
    path.write_text('{"format": "something else"}')
    with pytest.raises(CheckpointError, match="not a csmine-checkpoint/v1"):
        load_checkpoint(path)
