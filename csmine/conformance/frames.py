"""Per-ticket frames of a conformance pass: one row per ticket, one row per deviation.

The frames :func:`csmine.conformance.deviations.ticket_fitness` and
:func:`csmine.conformance.deviations.ticket_deviations` return (their columns are
documented there), built from a :class:`csmine.conformance.tickets.TicketPass`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from csmine.conformance.results import KINDS
from csmine.conformance.tickets import DeviationRows, TicketPass, event_ids

__all__ = ["deviation_frame", "iso_weeks", "ticket_frame"]


def deviation_frame(run: TicketPass, devs: DeviationRows) -> pd.DataFrame:
    """One row per ticket x deviation (see ``ticket_deviations``)."""
    on = devs.on_event
    rows = devs.row[on]
    event_id = np.full(len(on), None, dtype=object)
    event_id[on] = event_ids(run.events, rows)
    activity = np.full(len(on), None, dtype=object)
    activity[on] = run.activities[rows]
    if run.timestamp_key in run.events.columns:
        stamps = run.events[run.timestamp_key].array
        time = pd.Series(stamps.take(np.where(on, devs.row, -1), allow_fill=True))
    else:
        time = pd.Series(pd.NaT, index=range(len(on)), dtype="datetime64[us, UTC]")
    steps = np.asarray(run.steps, dtype=object)
    kinds = np.asarray(KINDS, dtype=object)
    return pd.DataFrame(
        {
            "ticket": pd.Series(run.tickets[devs.tidx], dtype=object),
            "step": pd.Series(steps[devs.step] if len(steps) else [], dtype=object),
            "kind": pd.Series(kinds[devs.kind], dtype=object),
            "event_id": pd.Series(event_id, dtype=object),
            "position": devs.position,
            "activity": pd.Series(activity, dtype=object),
            "time": time,
            "related": pd.Series(devs.related, dtype=object),
            "description": pd.Series(devs.description, dtype=object),
            "team": pd.Series(devs.team, dtype=object),
            "agent": pd.Series(devs.agent, dtype=object),
            "channel": pd.Series(run.attrs["channel"][devs.tidx], dtype=object),
            "phase": pd.Series(run.attrs["phase"][devs.tidx], dtype=object),
        }
    )


def iso_weeks(opened: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO week label (``2024-W10``) and its Monday per ticket (UTC dates); None if unknown."""
    from datetime import timedelta

    stamps = pd.to_datetime(opened, utc=True).dt.tz_convert(None)
    days = stamps.to_numpy().astype("datetime64[D]")
    valid = ~np.isnat(days)
    labels = np.full(len(days), None, dtype=object)
    mondays = np.full(len(days), None, dtype=object)
    if valid.any():
        uniq, inverse = np.unique(days[valid], return_inverse=True)
        lab, mon = [], []
        for d in uniq.tolist():
            year, week, weekday = d.isocalendar()
            lab.append(f"{year}-W{week:02d}")
            mon.append((d - timedelta(days=weekday - 1)).isoformat())
        labels[valid] = np.asarray(lab, dtype=object)[inverse]
        mondays[valid] = np.asarray(mon, dtype=object)[inverse]
    return labels, mondays


def _per_ticket_kinds(run: TicketPass, devs: DeviationRows) -> np.ndarray:
    n, k = len(run.tickets), len(KINDS)
    return np.bincount(devs.tidx * k + devs.kind, minlength=n * k).reshape(n, k)


def ticket_frame(run: TicketPass, devs: DeviationRows) -> pd.DataFrame:
    """One row per ticket, index ``ticket`` (see ``ticket_fitness``)."""
    week, _ = iso_weeks(run.opened)
    fitness = run.fitness[run.variant_of]
    kinds = _per_ticket_kinds(run, devs)
    frame = pd.DataFrame(
        {
            "fitness": fitness,
            "cost": run.cost[run.variant_of],
            "is_fit": fitness == 1.0,
            "events": run.lengths,
            "deviations": kinds.sum(axis=1),
            "variant": run.variant_of,
            "opened_at": run.opened.array,
            "week": pd.Series(week, dtype=object),
            "team": pd.Series(run.attrs["team"], dtype=object),
            "channel": pd.Series(run.attrs["channel"], dtype=object),
            "phase": pd.Series(run.attrs["phase"], dtype=object),
            **{kind: kinds[:, i] for i, kind in enumerate(KINDS)},
            "status": pd.Series(np.where(run.ticket_open, "open", "closed"), dtype=object),
            "stale": run.ticket_stale,
            "pending": pd.Series(_per_ticket(run.pending, run.variant_of), dtype=object),
        },
    )
    frame.index = pd.Index(run.tickets, dtype=object, name="ticket")
    return frame


def _per_ticket(per_variant: list[Any], variant_of: np.ndarray) -> np.ndarray:
    """An object array spreading one value per variant over the tickets."""
    values = np.empty(len(per_variant), dtype=object)
    for i, v in enumerate(per_variant):
        values[i] = v
    return values[variant_of] if len(per_variant) else np.empty(0, dtype=object)
