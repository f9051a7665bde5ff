"""The order of a ticket's events: business time first, then a documented tie-break.

Real exports stamp several events of one ticket with the same second, and list
rows in whatever order the system wrote them. csmine orders a ticket's events by
business time (``occurred_at``) and breaks ties deterministically, so that a
shuffled copy of a log gives the same variants, maps and figures:

``auto`` (the default)
    1. **lifecycle class**: an activity whose name says it opens a ticket (*new*,
       *open*, *create*, *insert*, *receive*, *register*, *submit*, *accept*) before
       the rest, the rest before one whose name says it ends the ticket (*close*,
       *archive*, *cancel*, *complete*, *done*, *finish*); XES lifecycle suffixes
       ``/start`` before ``/complete``;
    2. **SOP step order**, where an SOP is given (its steps in flow order, aliases
       by their step; activities the SOP does not know after those it knows);
    3. **activity name** (code-point order);
    4. **record order** (the store's version, i.e. file order), which only decides
       between events of the same activity at the same time — indistinguishable for
       variants, maps and KPIs.
``file``
    ties keep record order (the order of the rows in the imported file, or of the
    ``csmine record`` calls): for a ticket system known to write rows in the order
    things happened.

``--tie-order`` on every analytic command chooses; ``stats`` and the report say
how many tickets have tied timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from event_store.ordering import lifecycle_class, tie_key

from csmine.errors import FilterError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from process_models import SOP

TIE_ORDERS = ("auto", "file")
DEFAULT_TIE_ORDER = "auto"

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
VERSION = "@@version"

def check_tie_order(value: str | None) -> str:
    """The tie order named by ``value`` (None: the default); FilterError if unknown."""
    if value is None:
        return DEFAULT_TIE_ORDER
    if value not in TIE_ORDERS:
        raise FilterError(f"unknown tie order {value!r}: use one of {', '.join(TIE_ORDERS)}")
    return value


def sop_positions(sop: SOP | None) -> dict[str, int]:
    """Activity -> position in the SOP's step order (aliases take their step's)."""
    if sop is None:
        return {}
    order = list(dict.fromkeys([*sop.flow_steps, *sop.step_names]))
    pos = {name: i for i, name in enumerate(order)}
    for src, step in sop.aliases.items():
        if step in pos:
            pos.setdefault(src, pos[step])
    return pos


def activity_ranks(activities: Sequence[str], sop: SOP | None = None, tie_order: str = DEFAULT_TIE_ORDER) -> np.ndarray:
    """The tie rank of each activity name: events at the same time sort by it.

    With ``tie_order="file"`` every rank is 0 (record order decides).
    """
    import numpy as np

    n = len(activities)
    if tie_order == "file" or n == 0:
        return np.zeros(n, dtype=np.int64)
    sop_pos = sop_positions(sop)
    keys = [tie_key(str(a), sop_pos) for a in activities]
    order = sorted(range(n), key=keys.__getitem__)
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n)
    return ranks


def tied_tickets(df: pd.DataFrame) -> int:
    """How many tickets have at least two events with the same business time."""
    import numpy as np
    import pandas as pd

    if len(df) == 0:
        return 0
    stamps = df[TIMESTAMP]
    if stamps.dtype.kind != "M":  # not datetime64: pandas' own duplicate test
        dup = df.duplicated([CASE_ID, TIMESTAMP], keep=False)
        return int(df.loc[dup.to_numpy(), CASE_ID].nunique())
    # on integer codes: (ticket, instant) pairs sorted, equal neighbours are ties (NaT equals NaT, as in pandas)
    cases = pd.factorize(df[CASE_ID], sort=False)[0]
    ts = (stamps.dt.tz_convert(None) if stamps.dt.tz is not None else stamps).to_numpy().view("int64")
    order = np.lexsort((ts, cases))
    c, t = cases[order], ts[order]
    same = (c[1:] == c[:-1]) & (t[1:] == t[:-1])
    dup = np.zeros(len(c), dtype=bool)
    dup[1:] |= same
    dup[:-1] |= same
    return int(len(np.unique(c[dup & (c >= 0)])))


def order_events(df: pd.DataFrame, sop: SOP | None = None, tie_order: str = DEFAULT_TIE_ORDER) -> pd.DataFrame:
    """``df`` with each ticket's events in business-time order and ties broken as
    documented; the frame itself when it is in that order already (no copy).

    Tickets keep their order of appearance in ``df`` (``load_event_log`` sorts them
    by id); only events with the same ticket and time move relative to each other.
    """
    import numpy as np
    import pandas as pd

    if len(df) < 2:
        return df
    tie_order = check_tie_order(tie_order)
    cases = pd.factorize(df[CASE_ID], sort=False)[0]
    stamps = df[TIMESTAMP]  # tz-aware or naive datetime64: its instants as int64 (UTC for tz-aware)
    ts = (stamps.dt.tz_convert(None) if stamps.dt.tz is not None else stamps).to_numpy().view("int64")
    acts, names = pd.factorize(df[ACTIVITY].astype(str), sort=False)
    ranks = activity_ranks(list(names), sop, tie_order)[acts]
    version = df[VERSION].to_numpy() if VERSION in df.columns else np.arange(len(df))
    keys = (cases, ts, ranks, version)  # most significant first, then the row itself
    if _in_order(keys):
        return df
    order = np.lexsort((np.arange(len(df)), *reversed(keys)))
    return df.iloc[order].reset_index(drop=True)


def _in_order(keys: tuple[np.ndarray, ...]) -> bool:
    """Whether the rows are sorted by ``keys`` already (what a stable sort would leave as it is)."""
    import numpy as np

    bad = np.zeros(len(keys[0]) - 1, dtype=bool)
    equal = np.ones(len(keys[0]) - 1, dtype=bool)
    for k in keys:
        bad |= equal & (k[1:] < k[:-1])
        equal &= k[1:] == k[:-1]
    return not bad.any()


__all__ = ["DEFAULT_TIE_ORDER", "TIE_ORDERS", "activity_ranks", "check_tie_order", "lifecycle_class",
           "order_events", "sop_positions", "tie_key", "tied_tickets"]
