"""``csmine replay --rebuild``'s verdict on a rebuild of the read model.

The rebuild itself is the store's job: :func:`event_store.readmodel.rebuild.rebuild_read_model`.
"""

from __future__ import annotations

from event_store.readmodel.rebuild import RebuildReport, TableCheck, rebuild_read_model

from csmine.errors import CheckFailedError


def check_rebuild(report: RebuildReport) -> None:
    """Raise :class:`~csmine.errors.CheckFailedError` if the rebuild did not match."""
    if not report.match:
        bad = [f"{t.table}: {t.mismatches} rows differ" for t in report.tables if not t.match]
        raise CheckFailedError(
            "the rebuilt read model does not match what was there before (" + "; ".join(bad) + "): "
            "the old read model was stale or altered; the rebuilt one now reflects the event log"
        )


__all__ = ["RebuildReport", "TableCheck", "check_rebuild", "rebuild_read_model"]
