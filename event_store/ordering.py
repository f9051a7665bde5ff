"""Which of a ticket's events comes first when they share a timestamp, before any SOP is known.

Real exports stamp several events of one ticket with the same second (or minute) and
list the rows in whatever order the system wrote them. The analytics break such ties
by :mod:`csmine.eventlog.ordering`'s rule; its first part, the **lifecycle class** of
an activity's name, is defined here because the import needs it too: where the import
must choose among tied rows (which one's ticket attributes count, which rows are
consecutive repeats), it orders them by :func:`tie_key` -- the lifecycle class (an
opening name first, an ending name last), the XES lifecycle suffix, the name -- and only
then by row order, so that a shuffled copy of a file imports the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_OPENING = re.compile(r"\b(new|open(ed|ing)?|creat\w*|insert\w*|receiv\w*|regist\w*|submit\w*|accept\w*)\b",
                      re.IGNORECASE)
_ENDING = re.compile(r"\b(clos\w*|archiv\w*|cancel\w*|complet\w*|done|finish\w*)\b", re.IGNORECASE)
#: XES lifecycle transitions in the order they happen to one activity.
LIFECYCLE_ORDER = {"schedule": 0, "assign": 1, "reassign": 1, "start": 2, "suspend": 3, "resume": 4, "complete": 5}


def lifecycle_class(activity: str) -> int:
    """0 opening, 1 in between, 2 ending; an activity with an XES lifecycle suffix
    (``A/start``) is in between (the suffix orders within the class)."""
    head, _, tail = activity.rpartition("/")
    if head and tail.lower() in LIFECYCLE_ORDER:
        return 1
    if _OPENING.search(activity) and not _ENDING.search(activity):
        return 0
    if _ENDING.search(activity) and not _OPENING.search(activity):
        return 2
    return 1


def tie_key(activity: str, sop_pos: dict[str, int] | None = None) -> tuple[int, int, int, str]:
    """The tie-break key of one activity name (smaller first): lifecycle class, SOP
    position (``sop_pos``; none at import), lifecycle suffix, name."""
    sop_pos = sop_pos or {}
    head, _, tail = activity.rpartition("/")
    life = LIFECYCLE_ORDER.get(tail.lower(), 2) if head else 2
    return (lifecycle_class(activity), sop_pos.get(activity, len(sop_pos)), life, activity)


def tied_first(owner: Any, times: Any, ranks: Any) -> Any:
    """The row order by ticket code (``owner``), time, then tie rank (``ranks``,
    :func:`row_tie_ranks`), then position: for rows already grouped by ticket and in
    time order, a permutation within each ticket that puts tied rows into tie order."""
    import numpy as np

    return np.lexsort((np.arange(len(owner)), ranks, times, owner))


def row_tie_ranks(activities: Any) -> Any:
    """Per row, the rank of its activity by :func:`tie_key` without an SOP (one key per
    distinct name; ``activities`` any sequence of names, missing ones ranked last)."""
    import numpy as np
    import pandas as pd

    codes, names = pd.factorize(pd.Series(activities, dtype=object), sort=False)
    ranks = name_tie_ranks([str(a) for a in names])
    out = np.full(len(codes), len(names), dtype=np.int64)
    known = codes >= 0
    out[known] = ranks[codes[known]]
    return out


def name_tie_ranks(names: Sequence[str]) -> Any:
    """The rank of each distinct name by :func:`tie_key` without an SOP."""
    import numpy as np

    order = sorted(range(len(names)), key=lambda i: tie_key(names[i]))
    ranks = np.empty(len(names), dtype=np.int64)
    ranks[order] = np.arange(len(names))
    return ranks


__all__ = ["LIFECYCLE_ORDER", "lifecycle_class", "name_tie_ranks", "row_tie_ranks", "tie_key", "tied_first"]
