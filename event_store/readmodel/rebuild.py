"""Rebuild the read model from the event log and check it row by row against what was there.

:func:`rebuild_read_model` drops the read model (``event_log``, ``tickets``,
``phases``), rebuilds it from the event log and compares each table's rows, by key,
with their digests from before (``csmine replay --rebuild``; csmine turns a mismatch
into an error with :func:`csmine.monitoring.rebuild.check_rebuild`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from event_store.readmodel.queries import READ_MODEL_TABLES, table_rows

if TYPE_CHECKING:
    from event_store.application import TicketStore



@dataclass(frozen=True, slots=True)
class TableCheck:
    """One read-model table before and after a rebuild.

    Attributes:
        table: table name.
        rows_before: rows before the rebuild.  rows_after: rows after.
        digest_before: sha256 over the ordered row digests before.  digest_after: after.
        missing: keys of rows the rebuild did not recreate (first 10).
        added: keys of rows only the rebuild produced (first 10).
        changed: keys of rows whose content differs (first 10).
        mismatches: total rows missing, added or changed.
    """

    table: str
    rows_before: int
    rows_after: int
    digest_before: str
    digest_after: str
    missing: tuple[str, ...]
    added: tuple[str, ...]
    changed: tuple[str, ...]
    mismatches: int

    @property
    def match(self) -> bool:
        return self.mismatches == 0


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """The result of rebuilding the read model from the event log.

    Attributes:
        notifications: events the rebuild processed.
        position: the projection's position after it.
        tables: one check per read-model table.
        match: every table equals what was there before.
    """

    notifications: int
    position: int
    tables: tuple[TableCheck, ...]

    @property
    def match(self) -> bool:
        return all(t.match for t in self.tables)


def _table_digests(store: TicketStore, table: str, key: str) -> tuple[dict[str, bytes], str]:
    rows_by_key: dict[str, bytes] = {}
    total = hashlib.sha256()
    for names, batch in table_rows(store, table, key):
        k = names.index(key)
        for row in batch:
            values = [v.hex() if isinstance(v, bytes | bytearray | memoryview) and not isinstance(v, str)
                      else v for v in (bytes(x) if isinstance(x, memoryview) else x for x in row)]
            d = hashlib.blake2b(json.dumps(values, default=str, ensure_ascii=False).encode("utf-8"),
                                digest_size=16).digest()
            rows_by_key[str(row[k])] = d
            total.update(d)
    return rows_by_key, total.hexdigest()


def rebuild_read_model(store: TicketStore) -> RebuildReport:
    """Rebuild ``event_log``, ``tickets`` and ``phases`` from the event log and check
    them row by row against what was there before (after catching up).

    Returns:
        The report; ``match`` is False when any row is missing, added or different.
    """
    store.projection.catch_up()
    before = {t: _table_digests(store, t, k) for t, k in READ_MODEL_TABLES}
    processed = store.projection.rebuild()
    checks = []
    for table, key in READ_MODEL_TABLES:
        rows_b, dig_b = before[table]
        rows_a, dig_a = _table_digests(store, table, key)
        missing = sorted(k for k in rows_b if k not in rows_a)
        added = sorted(k for k in rows_a if k not in rows_b)
        changed = sorted(k for k in rows_b if k in rows_a and rows_a[k] != rows_b[k])
        checks.append(TableCheck(table, len(rows_b), len(rows_a), dig_b, dig_a, tuple(missing[:10]),
                                 tuple(added[:10]), tuple(changed[:10]), len(missing) + len(added) + len(changed)))
    return RebuildReport(processed, store.projection.position(), tuple(checks))


__all__ = [
    "READ_MODEL_TABLES",
    "RebuildReport",
    "TableCheck",
    "rebuild_read_model",
]
