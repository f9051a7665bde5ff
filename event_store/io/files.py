"""Files csmine writes: never half-written, never overwritten by surprise, safe in a spreadsheet.

**Whole or not at all.** Every file is written to a temporary name in the same
folder (``.NAME.XXXX.partial``), flushed to disk, then renamed over its final name:
a reader (or a crash) never sees half a file.

**No silent overwrite.** An existing file is replaced only when asked (``force``;
the CLI's ``--force``); otherwise :class:`~event_store.errors.OutputExistsError`
(exit code 73) is raised before any work is done, and again, atomically, at the
moment of the rename (``os.link`` refuses an existing name), so two writers cannot
both win.

**Formula injection.** A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return is run as a formula by Excel, LibreOffice and Google Sheets
(``=cmd|' /C calc'!A0``, ``@HYPERLINK(...)``). As OWASP recommends, every CSV csmine
writes prefixes such cells with a single quote, which makes a spreadsheet show the
text as text. Plain numbers (``-5``, ``+1.5e3``) are left alone: a spreadsheet reads
them as numbers, never as formulas. A cell that already starts with a quote gets
one more, so the rule can be undone exactly: :func:`restore` removes one leading
quote where :func:`neutralise` added it. ``raw=True`` (``--raw``) writes the values
as they are.

**Round trip.** ``csmine export F.csv`` also writes ``F.csv.csmine.json``, a small
manifest: the CSV's SHA-256 and whether its cells were neutralised. ``csmine
import F.csv`` looks for it; when the checksum matches, the file is csmine's own
export and the added quotes are removed, so the store gets back the original
values. A CSV that was changed after the export (the checksum differs) is refused
while the manifest is next to it, since which quotes csmine added can no longer be
told; delete the manifest to import the file as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from event_store.errors import ImportFormatError, OutputExistsError

#: First characters that make a spreadsheet evaluate a cell (OWASP "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
MANIFEST_SUFFIX = ".csmine.json"
MANIFEST_FORMAT = "csmine-export/v1"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_RESTORABLE = (*FORMULA_TRIGGERS, QUOTE)


def neutralise(text: str) -> str:
    """The cell as written to a CSV: a quote before a formula trigger (or a leading quote)."""
    if not text:
        return text
    first = text[0]
    if first == QUOTE or (first in FORMULA_TRIGGERS and not _NUMBER.fullmatch(text)):
        return QUOTE + text
    return text


def restore(text: str) -> str:
    """Undo :func:`neutralise` (for cells of a CSV csmine wrote with neutralisation)."""
    if len(text) >= 2 and text[0] == QUOTE and text[1] in _RESTORABLE:
        return text[1:]
    return text


def check_new(path: str, force: bool, *, advice: str = "pass --force to replace it") -> None:
    """Refuse an existing ``path`` unless ``force`` (before any work is done)."""
    if not force and os.path.lexists(path):
        raise OutputExistsError(f"{path} exists already: nothing was written ({advice})")


@contextlib.contextmanager
def atomic_path(path: str, *, force: bool = False) -> Iterator[str]:
    """A temporary path next to ``path``; on success it becomes ``path`` in one rename.

    The caller writes the temporary file (by name); on an exception it is removed
    and ``path`` is left as it was.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    check_new(path, force)
    if os.path.exists(path) and not os.path.isfile(path):
        # a device, a pipe, /dev/stdout: written in place (renaming over it would replace it)
        yield path
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        _publish(tmp, path, force)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str, path: str, force: bool) -> None:
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path appeared meanwhile: no clobbering
    except FileExistsError:
        raise OutputExistsError(f"{path} exists already: nothing was written (pass --force to replace it)") from None
    except OSError:  # a file system without hard links
        check_new(path, force)
        os.replace(tmp, path)


def write_text(path: str, text: str, *, force: bool = False, encoding: str = "utf-8") -> None:
    """Write a whole text file atomically (see :func:`atomic_path`)."""
    with atomic_path(path, force=force) as tmp, open(tmp, "w", encoding=encoding) as fh:
        fh.write(text)


def write_bytes(path: str, data: bytes, *, force: bool = False) -> None:
    """Write a whole binary file atomically (see :func:`atomic_path`)."""
    with atomic_path(path, force=force) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def write_csv_rows(fh: Any, header: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> None:
    """Write text cells as CSV to an open text file, neutralised unless ``raw``."""
    import csv

    writer = csv.writer(fh)
    if raw:
        writer.writerow(header)
        writer.writerows(rows)
        return
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([neutralise(c) for c in row] for row in rows)


def write_csv(path: str, header: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False,
              force: bool = False) -> None:
    """A whole CSV file, atomically, cells neutralised unless ``raw`` (no manifest)."""
    with atomic_path(path, force=force) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        write_csv_rows(fh, header, rows, raw=raw)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(path: str) -> str:
    return path + MANIFEST_SUFFIX


def manifest_for(csv_path: str, *, raw: bool, **extra: Any) -> dict[str, Any]:
    """The manifest of a finished CSV export (its checksum and how cells were written)."""
    return {
        "format": MANIFEST_FORMAT,
        "file": os.path.basename(csv_path),
        "sha256": sha256_file(csv_path),
        "bytes": os.path.getsize(csv_path),
        "cells": "raw" if raw else "neutralised",
        "neutralised": ("" if raw else
                        "cells starting with = + - @ tab or CR (plain numbers excepted) or with a quote got one "
                        "more single quote in front (OWASP CSV injection); csmine import removes it"),
        **extra,
    }


def read_manifest(csv_path: str) -> dict[str, Any] | None:
    """The manifest next to ``csv_path``, when there is one that belongs to it.

    Returns None without a manifest; the manifest when the CSV's checksum matches.

    Raises:
        ImportFormatError: a manifest is there but the CSV no longer matches it.
    """
    mpath = manifest_path(csv_path)
    if not os.path.exists(mpath):
        return None
    name = os.path.basename(csv_path)
    try:
        with open(mpath, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ImportFormatError(f"{name}: cannot read its manifest {os.path.basename(mpath)} ({exc}); "
                                "delete it to import the file as it is") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    if manifest.get("sha256") != sha256_file(csv_path):
        raise ImportFormatError(
            f"{name} was changed after csmine exported it (its checksum differs from "
            f"{os.path.basename(mpath)}), so the quotes csmine put before formula-like cells can no longer be told "
            f"from the data: re-export it, or delete {os.path.basename(mpath)} to import the file as it is"
        )
    return manifest


def restore_frame(df: Any) -> Any:
    """Undo :func:`neutralise` on every text column (and the header) of a DataFrame."""
    df = df.rename(columns={c: restore(c) for c in df.columns if isinstance(c, str) and c.startswith(QUOTE)})
    import pandas as pd

    for col in df.columns:
        series = df[col]
        if not (series.dtype == object or isinstance(series.dtype, pd.StringDtype)):
            continue
        starts = series.str.startswith(QUOTE, na=False)
        if not starts.any():
            continue
        second = series.str.slice(1, 2)
        mask = starts & second.isin(list(_RESTORABLE))
        if mask.any():
            df[col] = series.where(~mask, series.str.slice(1))
    return df

