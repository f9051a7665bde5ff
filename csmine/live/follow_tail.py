"""The tailing half of ``csmine follow``: the state file, complete records, the file's identity.

:class:`FollowState` is the sidecar JSON file, replaced atomically. Records are found
vectorised (numpy) on the raw bytes: a record ends at a newline outside double quotes,
counted in code units (bytes, or UTF-16/32 units), so a byte offset is always the end
of a whole record. A file is recognised by the SHA-256 of its first bytes (up to
:data:`FINGERPRINT_BYTES` of what was read), which tells a rotated or rewritten file
from the one followed even when the inode is reused.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field

from csmine.errors import FollowError

STATE_VERSION = 1
#: Bytes of the file's start kept as its fingerprint (what tells a replaced file apart).
FINGERPRINT_BYTES = 4096
#: Rows per batch (one transaction / one request each) and bytes read per look.

@dataclass(slots=True)
class FollowState:
    """Where following a file stands (the sidecar JSON file).

    Attributes:
        source: the followed file's absolute path.  destination: the store or URL.
        generation: a random id of the file being read (new at each rotation); the
            ``event_id`` of a row is derived from it and the row's byte offset.
        device, inode: the file's identity.  fingerprint: SHA-256 of its first
            ``fingerprint_len`` bytes (at most :data:`FINGERPRINT_BYTES`).
        offset: byte offset after the last whole record delivered.  line: lines read
            up to there.  header: the CSV header's bytes (base64), None before it is read.
        encoding, sep, lifecycle, shape: the dialect, lifecycle mode and NDJSON shape
            pinned on the first batch, so every batch is read alike.
        rows, rejected: totals over the file's life.
        pending: records held back for the next batch (``[line, offset, base64 bytes]``):
            ``start`` rows whose ``complete`` has not arrived (lifecycle start-complete).
    """

    source: str
    destination: str
    generation: str = field(default_factory=lambda: uuid.uuid4().hex)
    device: int = 0
    inode: int = 0
    fingerprint: str = ""
    fingerprint_len: int = 0
    offset: int = 0
    line: int = 0
    header: str | None = None
    encoding: str | None = None
    sep: str | None = None
    lifecycle: str | None = None
    shape: str | None = None
    rows: int = 0
    rejected: int = 0
    pending: list[list[object]] = field(default_factory=list)

    @property
    def header_bytes(self) -> bytes | None:
        return None if self.header is None else base64.b64decode(self.header)

    def save(self, path: str) -> None:
        """Replace the state file atomically (temporary file, fsync, rename, fsync of the folder)."""
        data = json.dumps({"version": STATE_VERSION, **dataclasses.asdict(self)}, indent=1).encode()
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".follow-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with _suppress_os():
                os.unlink(tmp)
            raise
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    @classmethod
    def load(cls, path: str) -> FollowState | None:
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise FollowError(f"state file {path}: cannot read it ({exc}); remove it to start the file "
                              "from the top (the store's idempotency keeps rows already recorded once)") from None
        if not isinstance(data, dict) or data.pop("version", None) != STATE_VERSION:
            raise FollowError(f"state file {path}: not a csmine follow state of this version")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def default_state_name(source: str) -> str:
    """The state file's name for ``source``: its base name and a hash of its absolute path."""
    path = os.path.abspath(source)
    return f"follow-{os.path.basename(path)}-{hashlib.sha256(path.encode()).hexdigest()[:10]}.json"


class _suppress_os:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, OSError)


@dataclass(slots=True)
class _Batch:
    """Complete records read from the current offset (offsets relative to ``data``)."""

    data: bytes
    starts: list[int]
    ends: list[int]
    lines: list[int]  # first line of each record in the file
    end: int  # bytes of the file consumed (blank lines included; carried records not counted)
    end_line: int  # the state's ``line`` after it
    offsets: list[int] = field(default_factory=list)  # each record's byte offset in the file
    carried: int = 0  # records at the front carried from earlier batches (FollowState.pending)

    def raw(self, i: int) -> bytes:
        return self.data[self.starts[i]:self.ends[i]]

    def carry_in(self, pending: list[list[object]]) -> None:
        """Put the carried records (``[line, offset, base64 bytes]``) in front."""
        raws = [base64.b64decode(str(p[2])) for p in pending]
        lead = b"".join(raws)
        starts, pos = [], 0
        for r in raws:
            starts.append(pos)
            pos += len(r)
        self.data = lead + self.data
        self.starts = starts + [x + len(lead) for x in self.starts]
        self.ends = [a + len(r) for a, r in zip(starts, raws, strict=True)] + [x + len(lead) for x in self.ends]
        self.lines = [int(str(p[0])) for p in pending] + self.lines
        self.offsets = [int(str(p[1])) for p in pending] + self.offsets
        self.carried = len(pending)



def _lock(path: str, source: str) -> int:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FollowError(f"another csmine follow is following {source} with this state file "
                          f"({path.removesuffix('.lock')}); stop it first, or give another --state FILE") from None
    return fd


def _fingerprint(fd: int, length: int) -> str:
    return hashlib.sha256(os.pread(fd, length, 0)).hexdigest() if length else hashlib.sha256(b"").hexdigest()


def _print_of(fd: int, offset: int) -> tuple[int, str]:
    length = min(offset, FINGERPRINT_BYTES)
    return length, _fingerprint(fd, length)


def _plain(enc: str) -> str:
    """The codec without its byte-order mark (utf-16 -> utf-16-le), for patterns."""
    name = codecs.lookup(enc).name
    return {"utf-8-sig": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(name, name)


def _unit(enc: str, head: bytes) -> tuple[int, str]:
    """Code-unit width and byte order of the encoding (UTF-16/32 read in units, the rest in bytes)."""
    name = codecs.lookup(enc).name
    if name.startswith(("utf-16", "utf-32")):
        width = 2 if name.startswith("utf-16") else 4
        big = name.endswith("-be") or (name in ("utf-16", "utf-32") and head.startswith(
            codecs.BOM_UTF16_BE if width == 2 else codecs.BOM_UTF32_BE))
        return width, ">" if big else "<"
    return 1, "<"


def _record_ends(data: bytes, width: int, order: str, *, quoted: bool) -> list[int]:
    """Byte ends of the complete records in ``data``: newlines outside double quotes (vectorised)."""
    import numpy as np

    usable = len(data) - len(data) % width
    units = np.frombuffer(data, dtype=f"{order}u{width}" if width > 1 else "u1", count=usable // width)
    newline = units == 10
    if quoted:
        newline &= (np.cumsum(units == 34) & 1) == 0
    return ((np.flatnonzero(newline) + 1) * width).tolist()


def _records(data: bytes, ends: list[int], width: int, order: str, line: int, max_rows: int) -> _Batch:
    """The non-blank records among ``ends`` (at most ``max_rows``), with their first lines."""
    import numpy as np

    units = np.frombuffer(data, dtype=f"{order}u{width}" if width > 1 else "u1", count=ends[-1] // width)
    nl_before = np.concatenate(([0], np.cumsum(units == 10)))
    e = np.asarray(ends) // width
    s = np.concatenate(([0], e[:-1]))
    length = e - s
    blank = (length == 1) | ((length == 2) & (units[np.maximum(s, 0)] == 13))
    keep = np.flatnonzero(~blank)
    if len(keep) > max_rows:  # stop after the max_rows-th record (blank lines before it included)
        last = keep[max_rows - 1]
        keep = keep[:max_rows]
    else:
        last = len(e) - 1
    end = int(e[last]) * width
    return _Batch(data[:end], (s[keep] * width).tolist(), (e[keep] * width).tolist(),
                  (line + 1 + nl_before[s[keep]]).tolist(), end, line + int(nl_before[e[last]]))


def _text(raw: bytes, enc: str | None) -> str:
    return raw.decode(enc or "utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")


__all__ = ["FINGERPRINT_BYTES", "STATE_VERSION", "FollowState", "default_state_name"]
