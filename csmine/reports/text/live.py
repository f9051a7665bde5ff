"""``csmine watch``: the live server's open tickets near a limit and its latest alerts, as tables."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from csmine.reports.text.blocks import Text, table


def _duration(seconds: float) -> str:
    s = abs(int(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h" if d else f"{h}h {m:02d}m" if h else f"{m}m"


def _when(iso: str, tz: tzinfo) -> str:
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%m-%d %H:%M")


def render_watch(open_tickets: dict[str, Any], alerts: list[dict[str, Any]], tz: tzinfo, *,
                 near: float = 0.5, rows: int = 15, alert_rows: int = 10) -> Text:
    """Open tickets whose next limit is at least ``near`` used up (most urgent first), then the latest alerts.

    Args:
        open_tickets: ``GET /api/open``'s answer.  alerts: ``GET /api/alerts``'s ``alerts``.
        tz: time zone of the times shown.  near: share of a limit from which a ticket is listed.
    """
    urgent = [t for t in open_tickets.get("tickets", []) if t.get("next_due") and t["next_due"]["share"] >= near]
    urgent.sort(key=lambda t: -t["next_due"]["share"])
    ticket_rows = []
    for t in urgent[:rows]:
        nd = t["next_due"]
        left = nd["left_s"]
        state = f"{_duration(left)} left" if left >= 0 else f"{_duration(left)} over"
        ticket_rows.append((t["ticket"], t.get("label") or "", nd["label"], f"{nd['share'] * 100:.0f}%", state,
                            _when(nd["due"], tz)))
    total = open_tickets.get("count", 0)
    title = (f"Open tickets near a limit ({len(urgent)} of {total} open at ≥ {near * 100:.0f}%; "
             f"clock {_when(open_tickets['now'], tz)})" if open_tickets.get("now") else "Open tickets")
    blocks: list[Any] = [table(("ticket", "step", "next limit", "used", "", "due"), ticket_rows, title=title,
                               left=(0, 1, 2), nowrap=(0, 3, 4, 5))]
    latest = alerts[-alert_rows:][::-1]
    alert_cells = [(_when(a["time"], tz), a["kind"] + (f" {a['share'] * 100:.0f}%" if a.get("share") else ""),
                    a["ticket"], a["step"], a["detail"] + (" (acknowledged)" if a.get("acknowledged") else ""))
                   for a in latest]
    blocks.append(table(("time", "alert", "ticket", "step", "detail"), alert_cells,
                        title=f"Latest alerts ({len(alerts)} recorded)", left=(0, 1, 2, 3, 4), nowrap=(0, 1, 2)))
    return Text(tuple(blocks))


__all__ = ["render_watch"]
