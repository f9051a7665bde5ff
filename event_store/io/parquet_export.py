"""The columnar export engines read: Parquet files in Hive-style month partitions, incremental.

``csmine export DIR --format parquet --partition month`` writes::

    DIR/manifest.json
    DIR/events/month=2024-03/part-0.parquet     one row per event (the read model's columns)
    DIR/tickets/month=2024-03/part-0.parquet    one row per ticket

**Partitions are by the month the ticket was opened** (UTC), not by the month of each
event: a ticket's events are always in one partition, so every per-ticket window (the
directly-follows pairs, variants, KPI clocks) runs inside a partition, a correction
rewrites exactly one partition, and an engine can split the work by partition.

**Rows.** The corrected view of the read model (corrections applied, retracted events
left out) with its columns (:data:`event_store.readmodel.relation.PARQUET_EVENT_COLUMNS`);
times are ``timestamp[us, UTC]``, ``attrs`` the step attributes' JSON text as the read
model keeps it. Rows are sorted by ticket, time, version inside a file.

**Incremental.** The manifest records the store position exported (the last stored
event's notification id). A later export reads the stored events after it, finds the
tickets they touch (new tickets, new steps, corrections, retractions) and rewrites the
partitions of those tickets' opening months whole, from the read model; the other
partitions are left as they are (their files, hashes and counts unchanged). A partition
is written to a temporary file and renamed, so a reader never sees half a file; the
manifest is written last, so a run that fails leaves the previous manifest, which no
longer matches a rewritten file's hash: :func:`check_export` then says so, and the next
export rewrites from the old position again.

**What a reader can check** (:func:`check_export`): every file's SHA-256 and row counts
against the manifest, and, given the store, that the manifest's log size and Merkle root
are those of the verified store and its event and ticket counts the read model's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from event_store.errors import ExportCheckError, ImportFormatError, IntegrityError, ReadModelError
from event_store.io.files import sha256_file, write_text
from event_store.persistence.failures import storage_errors
from event_store.readmodel.relation import PARQUET_EVENT_COLUMNS, PARQUET_TICKET_COLUMNS

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.integrity.findings import VerifyReport
    from event_store.persistence.db import Cursor

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "csmine-parquet-export/1"
PARTITIONINGS = ("month",)
_US = timedelta(microseconds=1)

_EVENT_SELECT = (
    "SELECT notification_id, ticket, version, activity, occurred_at, started_at, recorded_at, actor, team, case_team, "
    "opened_at, channel, category, priority, emotion, customer, region, source_ref, attrs, "
    # ticket_key: the ticket's opening notification id, an integer the engines partition by
    "(SELECT t.notification_id FROM tickets t WHERE t.ticket = event_log.ticket) AS ticket_key FROM event_log "
    "WHERE retracted = 0 AND opened_at >= ? AND opened_at < ? ORDER BY ticket, occurred_at, version"
)
_TICKET_SELECT = (
    "SELECT t.ticket, t.notification_id, t.opened_at, t.recorded_at, t.channel, t.category, t.priority, t.emotion, "
    "t.customer, t.team, t.region, t.case_attrs, t.opened_by, t.source_ref, "
    "(SELECT COUNT(*) FROM event_log e WHERE e.ticket = t.ticket AND e.retracted = 0) AS events "
    "FROM tickets t WHERE t.opened_at >= ? AND t.opened_at < ? ORDER BY t.ticket"
)
_TIME_COLUMNS = frozenset({"occurred_at", "started_at", "recorded_at", "opened_at"})
_INT_COLUMNS = frozenset({"notification_id", "version", "events", "ticket_key"})


@dataclass(frozen=True, slots=True)
class ParquetExport:
    """What one run of :func:`export_parquet` did.

    Attributes:
        directory: the export folder.
        tickets: tickets in the export.  events: events in the export.
        partitions: partitions in the export.
        written: partitions (re)written by this run (month names).
        position: the store position (last notification id) the export covers.
        log_size: the verified log size.  merkle_root: its Merkle root (None if not verified).
    """

    directory: str
    tickets: int
    events: int
    partitions: int
    written: tuple[str, ...]
    position: int
    log_size: int | None
    merkle_root: str | None


def month_of(us: int) -> str:
    """``YYYY-MM`` (UTC) of a time in microseconds since the epoch."""
    return datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[int, int]:
    """The first microsecond of ``month`` and of the next."""
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return (start - epoch) // _US, (end - epoch) // _US




def read_manifest(directory: str) -> dict[str, Any] | None:
    """The export's manifest, or None when there is none."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        manifest: dict[str, Any] = json.load(fh)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ExportCheckError(f"{path} is not a csmine Parquet export manifest (format "
                               f"{manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}): choose an empty folder")
    return manifest


def export_parquet(store: TicketStore, directory: str, *, partition: str = "month", verify: str = "full",
                   full: bool = False, progress: Callable[[int], None] | None = None) -> ParquetExport:
    """Verify the store, then bring the Parquet export in ``directory`` up to date.

    Args:
        store: an open store.
        directory: the export folder (created if missing; an existing one must hold a
            csmine Parquet export of the same store, or be empty).
        partition: ``month`` (the ticket's opening month).
        verify: ``full``, ``sample`` or ``none`` (see :func:`event_store.io.export.export_store`).
        full: rewrite every partition (default: only those with new or changed tickets).
        progress: called with 1 per partition written.

    Raises:
        ImportFormatError: an unknown partitioning.
        ExportCheckError: the folder holds something else than an export of this store.
        IntegrityError / ReadModelError: the store does not verify; nothing is written.
    """
    from event_store.integrity.log_tables import LogTables

    if partition not in PARTITIONINGS:
        raise ImportFormatError(f"unknown partitioning {partition!r}: use --partition month")
    _check_folder(directory)
    manifest = read_manifest(directory)
    store_id = _store_id(store)
    if manifest is not None and manifest.get("store_id") != store_id:
        raise ExportCheckError(f"{directory} holds an export of another store ({manifest.get('store')}): "
                               "choose another folder, or delete it to start again")
    with storage_errors(store.location.display, "Nothing was written to the store (export only reads)."):
        with store.db.transaction() as cur:
            backend = LogTables(store)
            backend.begin(cur)
            report = _verified(store, cur, verify, directory)
            position = int(cur.execute(f"SELECT COALESCE(MAX({backend.nid}), 0) FROM {backend.table}").fetchone()[0])
            months = _all_months(cur)
            old = dict(manifest["partitions"]) if manifest and not full else {}
            # an export written with other event columns (before ticket_key) is rewritten whole: the
            # engines read every partition with one schema
            if manifest is None or full or manifest.get("event_columns") != list(PARQUET_EVENT_COLUMNS):
                todo = set(months)
            else:
                todo = _touched_months(cur, backend, int(manifest["position"])) | (set(months) - set(old))
            parts = {m: p for m, p in old.items() if m in months}
            for month in sorted(todo):
                parts[month] = _write_partition(cur, directory, month)
                if progress is not None:
                    progress(1)
    for name in set(os.listdir(os.path.join(directory, "events"))) - {f"month={m}" for m in parts}:
        _remove_partition(directory, name.removeprefix("month="))  # a month whose last ticket went away
    totals = _write_manifest(directory, store, store_id, partition, position, report, parts)
    return ParquetExport(directory, totals["tickets"], totals["events"], len(parts), tuple(sorted(todo)), position,
                         None if report is None else report.size, None if report is None else report.root)


def _verified(store: TicketStore, cur: Cursor, verify: str, directory: str) -> VerifyReport | None:
    """Verify in the export's snapshot (None: ``verify="none"``); raises when it does not verify."""
    from event_store.integrity.verify import verify_in

    if verify == "none":
        return None
    report = verify_in(store, cur, read_model=verify)
    if not report.ok:
        first = report.first
        assert first is not None
        cls = ReadModelError if first.kind == "read_model" else IntegrityError
        raise cls(f"refusing to export {store.location.display}: it does not verify ({first.message}). "
                  f"Nothing was written to {directory}; see `csmine verify`.")
    return report


def _write_manifest(directory: str, store: TicketStore, store_id: str, partition: str, position: int,
                    report: VerifyReport | None, parts: dict[str, Any]) -> dict[str, int]:
    """Write the manifest (last: it names only partitions already written); returns the totals."""
    totals = {"events": sum(p["events"] for p in parts.values()), "tickets": sum(p["tickets"] for p in parts.values())}
    out = {
        "format": MANIFEST_FORMAT, "partitioning": partition, "event_columns": list(PARQUET_EVENT_COLUMNS),
        "store": store.location.display, "store_id": store_id,
        "position": position, "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "verified": None if report is None else {"log_size": report.size, "merkle_root": report.root,
                                                 "read_model": report.read_model.mode if report.read_model else "none"},
        **totals, "partitions": {m: parts[m] for m in sorted(parts)},
    }
    write_text(os.path.join(directory, MANIFEST), json.dumps(out, indent=2, ensure_ascii=False) + "\n", force=True)
    return totals


def _check_folder(directory: str) -> None:
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ExportCheckError(f"{directory} is a file: a partitioned export is written to a folder")
    if os.path.isdir(directory) and os.listdir(directory) and not os.path.exists(os.path.join(directory, MANIFEST)):
        raise ExportCheckError(f"{directory} is not empty and holds no csmine export manifest: choose an empty folder")
    os.makedirs(os.path.join(directory, "events"), exist_ok=True)
    os.makedirs(os.path.join(directory, "tickets"), exist_ok=True)


def _store_id(store: TicketStore) -> str:
    from event_store.readmodel.queries import meta_value

    return meta_value(store, "created_at") or store.location.display


def _all_months(cur: Cursor) -> set[str]:
    rows = cur.execute("SELECT DISTINCT opened_at / 86400000000 FROM tickets").fetchall()
    return {month_of(int(r[0]) * 86_400_000_000) for r in rows}


def _touched_months(cur: Cursor, backend: Any, position: int) -> set[str]:
    """Opening months of the tickets that stored events after ``position`` touch."""
    oids = {backend.canonical(r[0]) for r in cur.execute(
        f"SELECT DISTINCT originator_id FROM {backend.table} WHERE {backend.nid} > ?", (position,)).fetchall()}
    months: set[str] = set()
    ids = sorted(oids)
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        rows = cur.execute(f"SELECT opened_at FROM tickets WHERE ticket_uuid IN ({','.join('?' * len(chunk))})",
                           [str(UUID(i)) for i in chunk]).fetchall()
        months.update(month_of(int(r[0])) for r in rows)
    return months


def _table(rows: list[tuple[Any, ...]], columns: Iterable[str]) -> Any:
    import pyarrow as pa

    names = list(columns)
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = []
    for name, values in zip(names, cols, strict=True):
        if name in _TIME_COLUMNS:
            arrays.append(pa.array(values, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")))
        elif name in _INT_COLUMNS:
            arrays.append(pa.array(values, type=pa.int64()))
        else:
            arrays.append(pa.array(values, type=pa.string()))
    return pa.Table.from_arrays(arrays, names=names)


def _write_file(table: Any, path: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20)
    os.replace(tmp, path)
    return {"file": os.path.relpath(path, os.path.dirname(os.path.dirname(os.path.dirname(path)))),
            "rows": table.num_rows, "sha256": sha256_file(path), "bytes": os.path.getsize(path)}


def _write_partition(cur: Cursor, directory: str, month: str) -> dict[str, Any]:
    lo, hi = month_bounds(month)
    events = _table(cur.execute(_EVENT_SELECT, (lo, hi)).fetchall(), PARQUET_EVENT_COLUMNS)
    trows = [(*r, month) for r in cur.execute(_TICKET_SELECT, (lo, hi)).fetchall()]
    tickets = _table(trows, PARQUET_TICKET_COLUMNS)
    e = _write_file(events, os.path.join(directory, "events", f"month={month}", "part-0.parquet"))
    t = _write_file(tickets, os.path.join(directory, "tickets", f"month={month}", "part-0.parquet"))
    return {"events": e["rows"], "tickets": t["rows"], "files": [e, t]}


def _remove_partition(directory: str, month: str) -> None:
    for kind in ("events", "tickets"):
        folder = os.path.join(directory, kind, f"month={month}")
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                os.remove(os.path.join(folder, name))
            os.rmdir(folder)


@dataclass(frozen=True, slots=True)
class ExportCheck:
    """The outcome of :func:`check_export`.

    Attributes:
        directory: the export folder.  ok: no problem found.
        problems: what does not match, in words.
        events: events the manifest counts.  tickets: tickets it counts.
    """

    directory: str
    ok: bool
    problems: tuple[str, ...]
    events: int
    tickets: int


def check_export(directory: str, store: TicketStore | None = None) -> ExportCheck:
    """Check the export's files against its manifest and, given ``store``, the manifest
    against the verified store (log size, Merkle root, event and ticket counts)."""
    import pyarrow.parquet as pq

    manifest = read_manifest(directory)
    if manifest is None:
        raise ExportCheckError(f"{directory} holds no {MANIFEST}: not a csmine Parquet export")
    problems: list[str] = []
    for month, part in manifest["partitions"].items():
        for f in part["files"]:
            path = os.path.join(directory, f["file"])
            if not os.path.exists(path):
                problems.append(f"partition {month}: {f['file']} is missing")
                continue
            if sha256_file(path) != f["sha256"]:
                problems.append(f"partition {month}: {f['file']} does not match its SHA-256 in the manifest")
            elif pq.ParquetFile(path).metadata.num_rows != f["rows"]:
                problems.append(f"partition {month}: {f['file']} has another row count than the manifest")
    if store is not None:
        from event_store.integrity.verify import verify_store

        report = verify_store(store)
        verified = manifest.get("verified") or {}
        if not report.ok:
            problems.append(f"the store does not verify: {report.first.message if report.first else '?'}")
        if verified.get("log_size") != report.size or verified.get("merkle_root") != report.root:
            problems.append(f"the export covers log size {verified.get('log_size')} (root "
                            f"{str(verified.get('merkle_root'))[:12]}...), the store is at {report.size} (root "
                            f"{report.root[:12]}...): export again to bring it up to date")
        with store.db.transaction() as cur:
            n_events = int(cur.execute("SELECT COUNT(*) FROM event_log WHERE retracted = 0").fetchone()[0])
            n_tickets = int(cur.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])
        if (n_events, n_tickets) != (manifest["events"], manifest["tickets"]):
            problems.append(f"the export counts {manifest['events']:,} events and {manifest['tickets']:,} tickets, "
                            f"the store's read model {n_events:,} and {n_tickets:,}")
    return ExportCheck(directory, not problems, tuple(problems), int(manifest["events"]), int(manifest["tickets"]))


__all__ = ["MANIFEST", "MANIFEST_FORMAT", "ExportCheck", "ParquetExport", "check_export", "export_parquet",
           "month_bounds", "month_of", "read_manifest"]
