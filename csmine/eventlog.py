"""The only adapter from the store's read model to analysis: an event-log DataFrame.

:func:`load_event_log` reads the ``event_log`` projection with **one** query (filters
pushed into SQL where they are columns), converts integer-microsecond times to
tz-aware pandas timestamps in bulk, assigns phases, and returns pm4py's column names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from event_store.projection import EPOCH, _US
from event_store.records import CASE_FIELDS

from csmine.errors import FilterError
from csmine.filters import LogFilter

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
START = "start_timestamp"
RESOURCE = "org:resource"
GROUP = "org:group"

_SELECT = (
    "notification_id, ticket, version, activity, occurred_at, started_at, recorded_at, actor, team, "
    "source_ref, attrs, opened_at, channel, category, priority, emotion, customer, case_team, region"
)


@dataclass(frozen=True, slots=True)
class Phase:
    """A phase of the plan: tickets opened in [start, end) matching the cohort.

    Attributes:
        name: phase name (baseline, pilot, rollout, ...).
        start: first opening time included (tz-aware).
        end: first opening time excluded, or None for open-ended.
        cohort: attribute -> accepted values; empty means every ticket.
        note: free text recorded with the phase.
    """

    name: str
    start: datetime
    end: datetime | None
    cohort: dict[str, tuple[str, ...]]
    note: str = ""


def _us(dt: datetime) -> int:
    return (dt - EPOCH) // _US


def list_phases(store: TicketStore) -> list[Phase]:
    """The phases currently defined, ordered by start."""
    rows = store.db.query("SELECT name, start_at, end_at, cohort, note FROM phases ORDER BY start_at, name")
    out = []
    for name, start, end, cohort, note in rows:
        out.append(Phase(
            name=name,
            start=EPOCH + start * _US,
            end=None if end is None else EPOCH + end * _US,
            cohort={k: tuple(v) for k, v in json.loads(cohort).items()},
            note=note or "",
        ))
    return out


def assign_phases(df: pd.DataFrame, phases: Sequence[Phase], *, case_id_key: str = CASE_ID) -> pd.Series:
    """The phase of each row's ticket: the first phase (by start) whose window holds the
    opening time and whose cohort matches; None when no phase does."""
    import numpy as np
    import pandas as pd

    result = pd.Series(np.full(len(df), None, dtype=object), index=df.index)
    if not phases or df.empty:
        return result
    opened = df["case:opened_at"]
    unassigned = np.ones(len(df), dtype=bool)
    for phase in sorted(phases, key=lambda p: p.start):
        mask = (opened >= pd.Timestamp(phase.start)).to_numpy().copy()
        if phase.end is not None:
            mask &= (opened < pd.Timestamp(phase.end)).to_numpy()
        for key, values in phase.cohort.items():
            col = f"case:{key}" if f"case:{key}" in df.columns else key
            if col not in df.columns:
                mask &= False
                continue
            mask &= df[col].astype("string").isin(list(values)).fillna(False).to_numpy(dtype=bool)
        take = mask & unassigned
        result[take] = phase.name
        unassigned &= ~take
    return result


def load_event_log(
    store: TicketStore,
    log_filter: LogFilter | None = None,
    *,
    attributes: Sequence[str] | str | None = None,
    catch_up: bool = True,
) -> pd.DataFrame:
    """Read the store's events as a pm4py-ready DataFrame.

    Args:
        store: an open store.
        log_filter: tickets to keep (opening-time window, phase, attribute values).
        attributes: free attributes to expand into columns (``"all"`` for every one).
        catch_up: bring the read model up to date first.

    Returns:
        One row per recorded activity (retractions dropped, corrections applied),
        sorted by ticket, time and version. See the brief's column list.
    """
    import numpy as np
    import pandas as pd

    if catch_up:
        store.projection.catch_up()
    log_filter = log_filter or LogFilter()
    sql = f"SELECT {_SELECT} FROM event_log WHERE retracted = 0"
    params: list[Any] = []
    if log_filter.start is not None:
        sql += " AND opened_at >= ?"
        params.append(_us(log_filter.start))
    if log_filter.end is not None:
        sql += " AND opened_at < ?"
        params.append(_us(log_filter.end))
    free_filters: dict[str, tuple[str, ...]] = {}
    for key, values in log_filter.where.items():
        column = {"team": "case_team"}.get(key, key)
        if key in CASE_FIELDS:
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            params.extend(values)
        else:
            free_filters[key] = values
    with store.db.transaction() as cur:
        cur.execute(sql, params)
        rows = cur.raw.fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 19
    n = len(rows)

    def times(values: Sequence[Any], nullable: bool = False) -> pd.Series:
        if nullable:
            arr = np.array([-(2**63) if v is None else v for v in values], dtype="int64")
        else:
            arr = np.fromiter(values, dtype="int64", count=n)
        return pd.Series(arr.astype("datetime64[us]"), dtype="datetime64[us]").dt.tz_localize("UTC")

    def strings(values: Sequence[Any]) -> np.ndarray:
        return np.array(values, dtype=object) if n else np.array([], dtype=object)

    df = pd.DataFrame({
        CASE_ID: strings(cols[1]),
        ACTIVITY: strings(cols[3]),
        TIMESTAMP: times(cols[4]),
        START: times(cols[5], nullable=True),
        RESOURCE: strings(cols[7]),
        GROUP: strings([t if t is not None else ct for t, ct in zip(cols[8], cols[17], strict=True)]),
        "case:opened_at": times(cols[11]),
        "case:channel": strings(cols[12]),
        "case:category": strings(cols[13]),
        "case:priority": strings(cols[14]),
        "case:emotion": strings(cols[15]),
        "case:customer": strings(cols[16]),
        "case:team": strings(cols[17]),
        "case:region": strings(cols[18]),
        "@@event_id": np.fromiter(cols[0], dtype="int64", count=n),
        "@@version": np.fromiter(cols[2], dtype="int64", count=n),
        "recorded_at": times(cols[6]),
        "source_ref": strings(cols[9]),
    })
    wanted: set[str] | None = None
    if attributes == "all":
        wanted = None
    elif attributes:
        wanted = set(attributes)
    if free_filters or attributes:
        keys = set(free_filters) | (wanted or set())
        decode = store.mapper.transcoder.decode
        memo: dict[str, dict[str, Any]] = {}

        def attrs_of(text: str | None) -> dict[str, Any]:
            if not text:
                return {}
            found = memo.get(text)
            if found is None:
                found = memo[text] = decode(text.encode())
            return found

        parsed = [attrs_of(a) for a in cols[10]]
        if wanted is None and attributes == "all":
            keys = set().union(*parsed) if parsed else set()
        for key in sorted(keys):
            df[key] = pd.Series([p.get(key) for p in parsed], index=df.index, dtype=object)
    phases = list_phases(store)
    df["case:phase"] = assign_phases(df, phases)
    if log_filter.phase:
        known = {p.name for p in phases}
        if log_filter.phase not in known:
            raise FilterError(
                f"no phase {log_filter.phase!r} (known: {', '.join(sorted(known)) or 'none'}; "
                "define one with `csmine phase add`)"
            )
        df = df[df["case:phase"] == log_filter.phase]
    for key, values in free_filters.items():
        if key == "phase":
            df = df[df["case:phase"].isin(values)]
            continue
        df = df[df[key].astype("string").isin(list(values)).fillna(False).to_numpy(dtype=bool)]
    df = df.sort_values([CASE_ID, TIMESTAMP, "@@version"], kind="stable").reset_index(drop=True)
    return df


def now_utc() -> datetime:
    return datetime.now(UTC)
