"""The centre scaled to a number of events (for benchmarks), and histories as an event-log frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory

from csmine.simulation.config import PhaseSpec, SimulationConfig
from csmine.simulation.simulate import phase_of, simulate

if TYPE_CHECKING:
    import pandas as pd


# ---------------------------------------------------------------------------
# Scale and frames
# ---------------------------------------------------------------------------

#: Mean activity rows per ticket under the default model (measured, seeds 7/11/23).
EVENTS_PER_TICKET = 6.73


def tickets_for_events(n_events: int) -> int:
    """How many tickets give about ``n_events`` activity rows."""
    return max(1, round(n_events / EVENTS_PER_TICKET))


def scale_histories(n_events_target: int, seed: int = 7) -> tuple[TicketHistory, ...]:
    """Histories with about ``n_events_target`` events, for benchmarks.

    The centre is the default one with the ticket count set by
    :func:`tickets_for_events` and staff scaled in proportion, so queues and the
    built-in effects keep their shape. For the ground truth as well, call
    ``simulate(SimulationConfig(tickets=tickets_for_events(n), seed=seed))``.

    Args:
        n_events_target: wanted number of activity rows (within a few percent).
        seed: random seed.
    """
    return simulate(
        SimulationConfig(tickets=tickets_for_events(n_events_target), seed=seed)
    ).histories


def histories_to_frame(
    histories: Sequence[TicketHistory],
    phases: Sequence[PhaseSpec] = (),
    *,
    attributes: Sequence[str] | str | None = "all",
) -> pd.DataFrame:
    """The event-log frame of the histories, as ``csmine.eventlog.loading`` would give it.

    One row per activity row, sorted by (case, time, version), with the pm4py column
    names of ``csmine.eventlog.loading.load_event_log``. Numbering follows an import in the
    given order: each ticket takes one notification id for its opening and one per step,
    so ``@@event_id`` is the global position and ``@@version`` runs 1, 2, ... within
    the ticket (version 0 is the opening). ``recorded_at`` equals business time, as
    if recorded live; ``org:group`` falls back to the ticket's team.

    Args:
        histories: the tickets.
        phases: phases to fill ``case:phase`` (first matching phase; else None).
        attributes: free attributes to add as columns: ``"all"`` (default), a list
            of names, or ``None`` for none. Step attributes (e.g. ``satisfaction``)
            keep their name; case attributes outside the standard case fields get a
            ``case:`` prefix.

    Returns:
        A DataFrame; time columns are ``datetime64[us, UTC]``.
    """
    import pandas as pd

    rows = _Rows.of(histories)
    occurred_us = _to_us(list(map(datetime.timestamp, map(attrgetter("occurred_at"), rows.steps))))
    data = _standard_columns(histories, phases, rows, occurred_us)
    frame = pd.DataFrame(
        {
            k: v
            if isinstance(v, pd.Series) or k.startswith("@@")
            else pd.Series(v, dtype=object)
            for k, v in data.items()
        }
    )
    want_all = attributes == "all"
    wanted: set[str] = (
        set() if attributes is None or isinstance(attributes, str) else set(attributes)
    )
    if want_all or wanted:
        _add_attributes(frame, histories, rows, lambda key: want_all or key in wanted)
    if not _is_sorted(frame["case:concept:name"].to_numpy(), occurred_us):
        frame = frame.sort_values(
            ["case:concept:name", "time:timestamp", "@@version"], kind="stable"
        ).reset_index(drop=True)
    return frame


@dataclass(frozen=True, slots=True)
class _Rows:
    """The histories' steps in one list: ticket ``t`` has rows ``start[t]`` to ``start[t] + counts[t]``."""

    steps: list[ActivityRow]
    counts: np.ndarray
    ticket: np.ndarray  # per row: its ticket's position
    start: np.ndarray

    @classmethod
    def of(cls, histories: Sequence[TicketHistory]) -> _Rows:
        counts = np.fromiter(
            (len(h.steps) for h in histories), dtype=np.int64, count=len(histories)
        )
        start = (
            np.concatenate([[0], np.cumsum(counts)[:-1]])
            if len(histories)
            else np.zeros(0, np.int64)
        )
        steps = [step for h in histories for step in h.steps]
        return cls(steps, counts, np.repeat(np.arange(len(histories)), counts), start)

    def per_ticket(self, values: list[Any]) -> np.ndarray:
        """One value per ticket, repeated on each of its rows (an object array)."""
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return np.repeat(arr, self.counts)


def _to_us(seconds: list[float]) -> np.ndarray:
    us = np.round(np.asarray(seconds, dtype=float) * 1e6)
    return np.where(np.isnan(us), np.iinfo(np.int64).min, us).astype(np.int64)


def _to_time(seconds: list[float] | np.ndarray) -> pd.Series:
    import pandas as pd

    values = seconds if isinstance(seconds, np.ndarray) else _to_us(seconds)
    return pd.Series(values.view("datetime64[us]")).dt.tz_localize("UTC")


def _standard_columns(histories: Sequence[TicketHistory], phases: Sequence[PhaseSpec], rows: _Rows,
                      occurred_us: np.ndarray) -> dict[str, Any]:
    """The columns every frame has: the step's, the case fields, the phase and the numbering."""
    steps, nan, timestamp = rows.steps, float("nan"), datetime.timestamp
    started = [
        nan if d is None else timestamp(d) for d in map(attrgetter("started_at"), steps)
    ]
    ticket_team = rows.per_ticket([h.case.get("team") for h in histories])
    groups = np.asarray(list(map(attrgetter("team"), steps)), dtype=object)
    missing = np.array([g is None for g in groups], dtype=bool)
    groups[missing] = ticket_team[missing]
    data: dict[str, Any] = {
        "case:concept:name": rows.per_ticket([h.ticket for h in histories]),
        "concept:name": list(map(attrgetter("activity"), steps)),
        "time:timestamp": _to_time(occurred_us),
        "start_timestamp": _to_time(started),
        "org:resource": list(map(attrgetter("actor"), steps)),
        "org:group": groups,
    }
    for key in CASE_FIELDS:
        data[f"case:{key}"] = rows.per_ticket([h.case.get(key) for h in histories])
    data["case:opened_at"] = _to_time(
        np.repeat([h.opened_at.timestamp() for h in histories], rows.counts).tolist()
    )
    data["case:phase"] = rows.per_ticket(
        [phase_of(h.opened_at, h.case, phases) if phases else None for h in histories]
    )
    total = len(steps)
    index = np.arange(total, dtype=np.int64)
    data["@@event_id"] = index + rows.ticket + 2
    data["@@version"] = index - rows.start[rows.ticket] + 1 if total else index
    data["recorded_at"] = data["time:timestamp"].copy()
    data["source_ref"] = list(map(attrgetter("source_ref"), steps))
    return data


def _add_attributes(frame: pd.DataFrame, histories: Sequence[TicketHistory], rows: _Rows,
                    wanted: Callable[[str], bool]) -> None:
    """Add the free attributes as columns: the steps' by name, the tickets' (outside the
    case fields) as ``case:<name>`` on each of their rows; numeric when every value is."""
    import pandas as pd

    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # key -> (values, which rows have one)

    def column(key: str) -> tuple[np.ndarray, np.ndarray]:
        if key not in columns:
            columns[key] = (np.full(len(rows.steps), np.nan, dtype=object), np.zeros(len(rows.steps), dtype=bool))
        return columns[key]

    with_attrs = np.fromiter(map(bool, map(attrgetter("attrs"), rows.steps)), dtype=bool, count=len(rows.steps))
    for r in np.flatnonzero(with_attrs).tolist():
        for key, value in rows.steps[r].attrs.items():
            if wanted(key):
                values, present = column(key)
                values[r], present[r] = value, True
    for t, h in enumerate(histories):
        for key, value in h.case.items():
            if key not in CASE_FIELDS and wanted(key):
                values, present = column(f"case:{key}")
                start, stop = int(rows.start[t]), int(rows.start[t] + rows.counts[t])
                same = np.empty(stop - start, dtype=object)
                same.fill(value)  # the value itself on every row, even a list
                values[start:stop], present[start:stop] = same, True
    for key, (values, present) in columns.items():
        if key in frame.columns:
            continue
        series = pd.Series(values, dtype=object)
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in values[present]):
            series = pd.to_numeric(series)
        frame[key] = series


def _is_sorted(case: np.ndarray, time_us: np.ndarray) -> bool:
    if case.size < 2:
        return True
    if not bool(np.all(case[1:] >= case[:-1])):
        return False
    same = case[1:] == case[:-1]
    return bool(np.all(time_us[1:][same] >= time_us[:-1][same]))


__all__ = [
    "EVENTS_PER_TICKET",
    "histories_to_frame",
    "scale_histories",
    "tickets_for_events",
]
