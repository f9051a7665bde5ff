"""Today's KPIs against the SOP's targets, for the live page's tiles.

The tickets opened on the current business day (midnight to midnight in the
server's time zone, by the server's clock) are loaded from the read model and
measured with the same functions as ``csmine kpi``
(:func:`csmine.performance.kpi.ticket_kpis`, :func:`csmine.performance.summary.summarise_kpis`),
so a tile equals ``csmine kpi --from DAY --to DAY+1`` on the same store.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar


def day_window(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of ``now``'s local day in ``tz``."""
    local = now.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
    return start, end


def kpi_today(store_location: str, sop: SOP, now: datetime, tz: tzinfo,
              calendar: BusinessCalendar | None = None) -> dict[str, Any]:
    """The day's KPI report as plain JSON data.

    Returns:
        ``{"day", "from", "to", "tickets", "kpis": [{name, label, unit, value, target, met, n, note}]}``.
    """
    from event_store import open_store

    from csmine.errors import EmptyLogError
    from csmine.eventlog.filters import LogFilter
    from csmine.eventlog.loading import load_event_log
    from csmine.performance.kpi import ticket_kpis
    from csmine.performance.summary import summarise_kpis
    from csmine.reports.json import to_jsonable

    start, end = day_window(now, tz)
    out: dict[str, Any] = {"day": start.date().isoformat(), "from": start.isoformat(), "to": end.isoformat(),
                           "tickets": 0, "kpis": []}
    with open_store(store_location) as store:
        df = load_event_log(store, LogFilter(start=start, end=end))
    if df.empty:
        return out
    try:
        report = summarise_kpis(ticket_kpis(df, sop, calendar=calendar), sop)
    except EmptyLogError:
        return out
    out["tickets"] = int(report.tickets)
    out["kpis"] = [{k: to_jsonable(getattr(k_, k)) for k in ("name", "label", "unit", "value", "target", "met",
                                                              "n", "note")} for k_ in report.kpis]
    return out


__all__ = ["day_window", "kpi_today"]
