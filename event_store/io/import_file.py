"""One export file into the store, as ``csmine import`` does it: read, join, record.

:func:`import_file` reads the file with its mapping (:func:`event_store.io.vendors.read_source`),
joins the mapping's case table when it names one, records the histories
(:meth:`TicketStore.import_histories`: idempotent, batch by batch) and keeps the
mapping's closing states as the store's hint for ``sop draft``. The result says what
the file held, what was recorded and what was left out, for the command to print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from event_store.application import ImportResult, TicketStore
    from event_store.io.mapping import ImportMapping
    from event_store.io.vendors import SourceRead


@dataclass(frozen=True, slots=True)
class CaseTableUse:
    """How a case table matched the events file.

    Attributes:
        file: the case table. rows: its rows. matched: tickets with a row.
        tickets_without_row: tickets with events but no row. rows_without_events: rows with no events.
    """

    file: str
    rows: int
    matched: int
    tickets_without_row: int
    rows_without_events: int


@dataclass(frozen=True, slots=True)
class FileImport:
    """What importing one file did.

    Attributes:
        result: what the store recorded.
        read: what reading the file gave (rows collapsed and left out, closed tickets, notes).
        tickets: tickets in the file.
        case_table: how the case table matched (None without one).
    """

    result: ImportResult
    read: SourceRead
    tickets: int
    case_table: CaseTableUse | None

    def to_dict(self, *, with_mapping: str | None = None) -> dict[str, Any]:
        """The ``--json`` form (``with_mapping``: the mapping's name, when one was given)."""
        out = {**asdict(self.result), "rows_collapsed": self.read.rows_collapsed,
               "case_table": None if self.case_table is None else asdict(self.case_table)}
        if with_mapping is not None:
            out.update(mapping=with_mapping, rows_dropped=self.read.rows_dropped, closed=self.read.closed)
        return out


def read_file(path: str, mapping: ImportMapping) -> tuple[SourceRead, list[Any], CaseTableUse | None]:
    """The file's histories with the mapping's case table joined (nothing is recorded)."""
    from event_store.io.case_table import join_case_table, read_case_table
    from event_store.io.vendors import read_source

    read = read_source(path, mapping)
    histories, spec = read.histories, mapping.case_table
    if spec is None or not spec.file:
        return read, histories, None
    cols = mapping.columns
    table = read_case_table(mapping.case_table_path(), spec.key or cols.case, sep=spec.sep or cols.sep,
                            encoding=spec.encoding or cols.encoding)
    joined = join_case_table(histories, table)
    use = CaseTableUse(spec.file, len(table.rows), joined.matched, joined.without_row, joined.without_events)
    return read, joined.histories, use


def record_read(store: TicketStore, mapping: ImportMapping, read: SourceRead, histories: list[Any],
                case_table: CaseTableUse | None, *, batch_size: int = 500,
                progress: Callable[[int, int], None] | None = None) -> FileImport:
    """Record what :func:`read_file` gave, and keep the mapping's closing states."""
    from event_store.io.mapping import remember_closing

    result = store.import_histories(histories, batch_size=batch_size, progress=progress, refuse_misread=True)
    if mapping.closed_when:
        remember_closing(store, mapping.closed_when)  # sop draft's closing states
    return FileImport(result, read, len(histories), case_table)


def import_file(store: TicketStore, path: str, mapping: ImportMapping, *, batch_size: int = 500,
                progress: Callable[[int, int], None] | None = None) -> FileImport:
    """Import one export file (see the module docstring); running it again adds nothing."""
    read, histories, case_table = read_file(path, mapping)
    return record_read(store, mapping, read, histories, case_table, batch_size=batch_size, progress=progress)


__all__ = ["CaseTableUse", "FileImport", "import_file", "read_file", "record_read"]
