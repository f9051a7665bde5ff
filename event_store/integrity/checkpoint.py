"""Signed checkpoints of the log, kept outside the database.

A checkpoint says "this store's log had ``size`` entries and their RFC 9162 Merkle
root was ``root``", signed with an Ed25519 key that never enters the database.
Kept elsewhere (git, mail, WORM storage), it lets anyone detect later that the
first ``size`` entries were changed, even by someone who recomputed every chain
link and the head: :func:`event_store.integrity.verify.verify_store` recomputes the root of
the first ``size`` entries from the stored bytes and compares.

File format (``csmine-checkpoint/v1``, UTF-8 JSON, about 3 KB for 100k events)::

    {"format": "csmine-checkpoint/v1", "store": "...", "store_created_at": "...",
     "size": 73087, "root": "<hex>", "head": "<hex>", "issued_at": "2026-...Z",
     "subtree_size": 2048, "subtrees": ["<hex>", ...],
     "public_key": "<base64 raw 32 bytes>", "key_id": "<16 hex>",
     "signature": "<base64 Ed25519 signature>"}

The signature covers every other field, serialised as canonical JSON (sorted keys,
no spaces, ASCII). ``subtrees`` are the roots of consecutive ranges of
``subtree_size`` entries (nodes of the same tree; their Merkle root is ``root``),
so a mismatch can be narrowed to one range. ``head`` is the chain head after
``size`` entries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from event_store.errors import EventStoreError, OutputExistsError
from event_store.integrity.chain import merkle_root

FORMAT = "csmine-checkpoint/v1"
KEY_NAME = "csmine-ed25519"


class CheckpointError(EventStoreError):
    """A key or checkpoint file cannot be made, read or used."""


@dataclass(frozen=True, slots=True)
class KeyFiles:
    """Where a key pair was written.

    Attributes:
        private: the private key (PKCS#8 PEM, file mode 0600).
        public: the public key (SubjectPublicKeyInfo PEM), safe to share.
        key_id: first 8 bytes of SHA-256 of the raw public key, in hex.
    """

    private: Path
    public: Path
    key_id: str


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome of checking a checkpoint's signature.

    Attributes:
        valid: the signature verifies with the public key inside the checkpoint.
        key_id: id of that key (see :func:`key_id`).
        trusted: ``True`` when it equals the pinned key given by the auditor,
            ``False`` when it differs, ``None`` when no key was pinned (then
            ``valid`` only shows the file is intact, not who signed it).
    """

    valid: bool
    key_id: str
    trusted: bool | None


def key_id(public_raw: bytes) -> str:
    """Short id of a public key: SHA-256 of the raw 32 bytes, first 8 bytes in hex."""
    return hashlib.sha256(public_raw).digest()[:8].hex()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate_keys(directory: str | os.PathLike[str], *, name: str = KEY_NAME,
                  overwrite: bool = False) -> KeyFiles:
    """Make an Ed25519 key pair in ``directory`` (created 0700 if missing).

    The private key is written with mode 0600 from the start (never readable by
    others, not even briefly); the public key alongside, ``<name>.pub``.

    Raises:
        CheckpointError: the key exists (and ``overwrite`` is false) or cannot be written.
    """
    folder = Path(directory)
    private_path = folder / f"{name}.key"
    public_path = folder / f"{name}.pub"
    if private_path.exists() and not overwrite:
        raise CheckpointError(
            f"a signing key already exists at {private_path}: keep using it, or pass "
            "--force to replace it (checkpoints signed with the old key stay verifiable "
            "with its public key)"
        )
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        if private_path.exists():
            private_path.unlink()
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.chmod(private_path, 0o600)  # whatever the umask
        public = key.public_key()
        public_path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as exc:
        raise CheckpointError(f"cannot write a key pair to {folder}: {exc.strerror or exc}") from exc
    return KeyFiles(private_path, public_path, key_id(_raw_public(public)))


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read a private key written by :func:`generate_keys`.

    Raises:
        CheckpointError: missing, readable by group or others, or not an Ed25519 key.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(
            f"cannot read signing key {p}: {exc.strerror or exc} (make one with `csmine keys init`)"
        ) from exc
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CheckpointError(
            f"signing key {p} is readable by other users (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {p}` and consider the key exposed"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{p} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{p} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> bytes:
    """Read a public key (PEM, or a checkpoint's base64 raw form); returns the raw 32 bytes.

    Raises:
        CheckpointError: missing or not an Ed25519 public key.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read public key {p}: {exc.strerror or exc}") from exc
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise CheckpointError(f"{p} is not a PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointError(f"{p} holds a {type(key).__name__}, not an Ed25519 public key")
        return _raw_public(key)
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise CheckpointError(f"{p} is neither a PEM public key nor a base64 raw Ed25519 key")
    return raw


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the log's size and Merkle root.

    Attributes:
        store: the store it was issued for, as shown to users (no password).
        store_created_at: the store's creation time (tells stores apart after a move).
        size: number of log entries covered (the first ``size`` chain positions).
        root: RFC 9162 Merkle root of their chain links, hex.
        head: the chain head after ``size`` entries, hex.
        issued_at: when it was signed, ISO 8601 UTC.
        subtree_size: length of the ranges in ``subtrees`` (a power of two).
        subtrees: roots of consecutive ranges of ``subtree_size`` entries, hex.
        public_key: the signer's raw Ed25519 public key, base64.
        key_id: :func:`key_id` of that key.
        signature: Ed25519 signature of :meth:`signed_bytes`, base64 ("" before signing).
        format: ``csmine-checkpoint/v1``.
    """

    store: str
    store_created_at: str
    size: int
    root: str
    head: str
    issued_at: str
    subtree_size: int
    subtrees: tuple[str, ...]
    public_key: str
    key_id: str
    signature: str = ""
    format: str = FORMAT

    def body(self) -> dict[str, Any]:
        """Every field except the signature (what is signed)."""
        data = asdict(self)
        data.pop("signature")
        data["subtrees"] = list(self.subtrees)
        return data

    def signed_bytes(self) -> bytes:
        """Canonical JSON of :meth:`body`: sorted keys, no spaces, ASCII."""
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def to_json(self) -> str:
        """The checkpoint file's text."""
        data = self.body()
        data["signature"] = self.signature
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "checkpoint") -> Checkpoint:
        """Parse a checkpoint file's text.

        Raises:
            CheckpointError: not JSON, another format, or a field missing or mistyped.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{source} is not JSON ({exc}): give a file written by `csmine checkpoint`") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"{source} is not a {FORMAT} file: give a file written by `csmine checkpoint`")
        try:
            cp = cls(
                store=str(data["store"]), store_created_at=str(data.get("store_created_at", "")),
                size=int(data["size"]), root=str(data["root"]), head=str(data["head"]),
                issued_at=str(data["issued_at"]), subtree_size=int(data["subtree_size"]),
                subtrees=tuple(str(s) for s in data["subtrees"]), public_key=str(data["public_key"]),
                key_id=str(data["key_id"]), signature=str(data["signature"]),
            )
            for value in (cp.root, cp.head, *cp.subtrees):
                if len(bytes.fromhex(value)) != 32:
                    raise ValueError(f"{value!r} is not a 32-byte hex hash")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: missing or malformed field ({exc})") from exc
        if cp.size < 0 or cp.subtree_size < 1:
            raise CheckpointError(f"{source}: size {cp.size} / subtree_size {cp.subtree_size} out of range")
        return cp

    @property
    def root_bytes(self) -> bytes:
        return bytes.fromhex(self.root)

    @property
    def head_bytes(self) -> bytes:
        return bytes.fromhex(self.head)


def sign_checkpoint(unsigned: Checkpoint, private_key: Ed25519PrivateKey) -> Checkpoint:
    """Fill in the signer's public key, its id and the signature."""
    raw = _raw_public(private_key.public_key())
    cp = replace(unsigned, public_key=base64.b64encode(raw).decode(), key_id=key_id(raw), signature="")
    return replace(cp, signature=base64.b64encode(private_key.sign(cp.signed_bytes())).decode())


def check_signature(cp: Checkpoint, trusted_key: bytes | None = None) -> SignatureCheck:
    """Check the signature with the embedded key, and that key against a pinned one.

    Also checks that ``subtrees`` hash to ``root`` (a signed but inconsistent
    checkpoint is reported as invalid).
    """
    # Whether the embedded key is the pinned one does not depend on the signature:
    # a checkpoint signed by the pinned key and altered afterwards is "pinned key,
    # signature invalid", not "someone else's key".
    try:
        raw = base64.b64decode(cp.public_key, validate=True)
    except ValueError:
        raw = b""
    try:
        signature = base64.b64decode(cp.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, cp.signed_bytes())
        valid = key_id(raw) == cp.key_id
    except (ValueError, InvalidSignature):
        valid = False
    if valid and cp.size:
        valid = merkle_root([bytes.fromhex(s) for s in cp.subtrees]) == cp.root_bytes
    trusted = None if trusted_key is None else (raw == trusted_key)
    return SignatureCheck(valid, cp.key_id, trusted)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint file.

    Raises:
        CheckpointError: unreadable or not a checkpoint.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    return Checkpoint.from_json(text, source=str(path))


def write_checkpoint(cp: Checkpoint, path: str | os.PathLike[str]) -> None:
    """Write a checkpoint file, whole or not at all; an existing file is never replaced.

    Every checkpoint is evidence: overwriting an older one would lose it.

    Raises:
        OutputExistsError: the file exists.
        CheckpointError: it cannot be written.
    """
    from event_store.io.files import write_text

    p = Path(path)
    try:
        write_text(str(p), cp.to_json(), force=False)
    except OutputExistsError:
        raise OutputExistsError(
            f"checkpoint {p} exists already: checkpoints are never overwritten (each one is evidence); "
            "give another --out name"
        ) from None
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {p}: {exc.strerror or exc}") from exc
