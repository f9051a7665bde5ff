"""Which tickets are closed, which are still open, and which have gone stale.

Every real export holds tickets that are still being worked on. A ticket is
**closed** when its last *closing* event is not followed by a reopening; otherwise
it is **open**, and an open ticket with no event for longer than a horizon
(``stale_after``, 30 days by default) before the end of the log is **stale**:
reported as such, never silently closed.

Closing events are, together:

* the steps of the SOP's ``close`` role, and the activities mapped to them by its
  aliases;
* the activities the SOP's ``closed_when`` entry names;
* the activities that match ``--closed-when REGEX`` (case-insensitive; the
  pattern must match the whole activity name or one of its ``/``-separated parts,
  so ``Closed`` matches BPIC 2013's ``Completed/Closed``).

Reopening: with an SOP that has a ``reopen`` role, its steps reopen a closed
ticket (a ``Callback`` after ``Archive`` does not); without one, any later event
that is not itself closing does.

When no rule applies (no SOP close step, no ``closed_when``, no ``--closed-when``)
the log is treated as historic: every ticket counts as ended with its last event,
and :attr:`TicketStatus.known` is ``False`` so that callers can say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from process_models.model import format_duration

from csmine.errors import FilterError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from process_models import SOP

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"

#: Open tickets with no event for this long before the end of the log are stale.
DEFAULT_STALE_AFTER = timedelta(days=30)

OPEN = "open"
CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ClosingRule:
    """What the user said about closing, on top of the SOP.

    Attributes:
        closed_when: a regular expression over activity names (see the module
            docstring), or None.
        stale_after: the horizon after which an open ticket is stale; None: never.
    """

    closed_when: str | None = None
    stale_after: timedelta | None = DEFAULT_STALE_AFTER

    def __post_init__(self) -> None:
        if self.closed_when is not None:
            try:
                re.compile(self.closed_when)
            except re.error as exc:
                raise FilterError(
                    f"--closed-when {self.closed_when!r} is not a regular expression ({exc}); "
                    "e.g. --closed-when 'Closed|Resolved'"
                ) from None

    def matches(self, activity: str) -> bool:
        if self.closed_when is None:
            return False
        pattern = re.compile(self.closed_when, re.IGNORECASE)
        if pattern.fullmatch(activity):
            return True
        return any(pattern.fullmatch(part.strip()) for part in activity.split("/"))


def closing_activities(activities: Iterable[str], sop: SOP | None, rule: ClosingRule | None) -> frozenset[str]:
    """The activity names, among ``activities``, whose events close a ticket."""
    rule = rule or ClosingRule()
    names: set[str] = set()
    if sop is not None:
        names.update(sop.roles.get("close", ()))
        names.update(sop.closed_when)
        close_steps = set(sop.roles.get("close", ()))
        names.update(src for src, step in sop.aliases.items() if step in close_steps)
    return frozenset(a for a in activities if a in names or rule.matches(str(a)))


def reopening_activities(activities: Iterable[str], sop: SOP | None) -> frozenset[str] | None:
    """Activities that reopen a closed ticket; None: any later non-closing event does."""
    if sop is None or not sop.roles.get("reopen"):
        return None
    steps = set(sop.roles["reopen"])
    steps.update(src for src, step in sop.aliases.items() if step in steps)
    return frozenset(a for a in activities if a in steps)


def describe_rule(sop: SOP | None, rule: ClosingRule | None) -> str:
    """One line on how tickets are judged closed."""
    rule = rule or ClosingRule()
    parts = []
    if sop is not None and sop.roles.get("close"):
        parts.append(f"SOP {sop.id!r} close step {' or '.join(sop.roles['close'])}")
    if sop is not None and sop.closed_when:
        parts.append(f"SOP closed_when {', '.join(sop.closed_when)}")
    if rule.closed_when:
        parts.append(f"--closed-when {rule.closed_when!r}")
    if not parts:
        return "no closing rule (no SOP close step, no --closed-when): every ticket counted as ended"
    return "closed by " + "; ".join(parts)


@dataclass(frozen=True)
class TicketStatus:
    """Open and closed tickets of a log.

    Attributes:
        frame: one row per ticket (index ``ticket``, in the log's order) with
            ``status`` (``open``/``closed``), ``closed_at`` (NaT when open),
            ``last_event_at`` and ``stale`` (open, and quiet for over the horizon).
        known: whether any closing rule applied (else every ticket is closed).
        rule: the rule in words (:func:`describe_rule`).
        as_of: the end of the log (the latest event), the reference for staleness.
        stale_after: the horizon used.
    """

    frame: pd.DataFrame
    known: bool
    rule: str
    as_of: pd.Timestamp | None
    stale_after: timedelta | None

    @property
    def closed(self) -> int:
        return int((self.frame["status"] == CLOSED).sum())

    @property
    def open(self) -> int:
        return int((self.frame["status"] == OPEN).sum())

    @property
    def stale(self) -> int:
        return int(self.frame["stale"].sum())

    def is_open(self, ticket: str) -> bool:
        return bool(self.frame.at[ticket, "status"] == OPEN)

    def summary(self) -> dict[str, object]:
        """Counts and the rule, for ``--json`` and the report."""
        return {
            "closed": self.closed,
            "open": self.open,
            "stale": self.stale,
            "rule": self.rule,
            "rule_known": self.known,
            "stale_after": None if self.stale_after is None else format_duration(self.stale_after),
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
        }


def ticket_status(df: pd.DataFrame, sop: SOP | None = None, rule: ClosingRule | None = None, *,
                  as_of: pd.Timestamp | None = None) -> TicketStatus:
    """Open, closed and stale tickets of an event-log frame.

    Args:
        df: events in time order inside each ticket (as :func:`csmine.eventlog.loading.load_event_log`
            returns them); a ticket's rows need not be together.
        sop: the SOP whose close/reopen roles and ``closed_when`` apply, if any.
        rule: ``--closed-when`` and the stale horizon.
        as_of: the reference time for staleness (default: the latest event).
    """
    import numpy as np
    import pandas as pd

    rule = rule or ClosingRule()
    if len(df) == 0:
        return _empty_status(sop, rule)
    df = _grouped_by_ticket(df)
    cases = df[CASE_ID].to_numpy()
    acts = _activity_codes(df[ACTIVITY])
    names = list(acts.categories)
    closing = closing_activities(names, sop, rule)
    known = bool(closing) or (sop is not None and bool(sop.roles.get("close") or sop.closed_when)) \
        or rule.closed_when is not None
    ts = df[TIMESTAMP]
    # naive UTC datetime64 (a tz-aware column's to_numpy() would build Python objects)
    tsn = (ts.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(ts.dt, "tz", None) is not None else ts).to_numpy()
    # ticket boundaries (the frame is sorted by ticket)
    change = np.ones(len(cases), dtype=bool)
    change[1:] = cases[1:] != cases[:-1]
    starts = np.flatnonzero(change)
    last_event_at = tsn[np.append(starts[1:], len(cases)) - 1]
    if not known:
        status = np.full(len(starts), CLOSED, dtype=object)
        closed_at = last_event_at
    else:
        status, closed_at = _closed(acts.codes, names, closing, sop, np.cumsum(change) - 1, tsn)
    end = pd.Timestamp(as_of) if as_of is not None else ts.max()
    stale = np.zeros(len(starts), dtype=bool)
    if known and rule.stale_after is not None:
        naive_end = end.tz_convert("UTC").tz_localize(None) if end.tzinfo is not None else end
        horizon = np.datetime64(naive_end - rule.stale_after)
        stale = (status == OPEN) & (last_event_at < horizon)
    frame = pd.DataFrame({
        "status": status,
        "closed_at": pd.Series(np.asarray(closed_at, dtype=last_event_at.dtype)).dt.tz_localize("UTC"),
        "last_event_at": pd.Series(last_event_at).dt.tz_localize("UTC"),
        "stale": stale,
    })
    frame.index = pd.Index(cases[starts].astype(str), name="ticket")
    text = describe_rule(sop, rule)
    if known and not closing:
        text += ("; no event of the log is one of these, so every ticket is open "
                 "(name the status that closes a ticket with --closed-when)")
    return TicketStatus(frame, known, text, end, rule.stale_after)


def _empty_status(sop: SOP | None, rule: ClosingRule) -> TicketStatus:
    """The status of a log without events: no tickets, no rule known."""
    import pandas as pd

    empty = pd.DataFrame({"status": pd.Series([], dtype=object), "closed_at": pd.Series([], dtype="datetime64[us, UTC]"),
                          "last_event_at": pd.Series([], dtype="datetime64[us, UTC]"),
                          "stale": pd.Series([], dtype=bool)})
    empty.index.name = "ticket"
    return TicketStatus(empty, False, describe_rule(sop, rule), None, rule.stale_after)


def _activity_codes(column: pd.Series) -> pd.Categorical:
    """The activity column as a categorical of names (a categorical of names as it is: the
    order of the categories does not matter here, and no string is made per event)."""
    import pandas as pd

    if (isinstance(column.dtype, pd.CategoricalDtype) and len(column) and (column.cat.codes >= 0).all()
            and all(type(c) is str for c in column.cat.categories)):
        return column.array
    return pd.Categorical(column.astype(str))


def _grouped_by_ticket(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each ticket's rows together (a stable sort, so time order inside stays)."""
    import numpy as np
    import pandas as pd

    codes_by_case = pd.factorize(df[CASE_ID], sort=False)[0]
    if len(codes_by_case) > 1 and (np.diff(codes_by_case) < 0).any():
        return df.iloc[np.argsort(codes_by_case, kind="stable")]
    return df


def _closed(codes: np.ndarray, names: list[str], closing: frozenset[str], sop: SOP | None,
            case_of: np.ndarray, tsn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ticket its status (closed: a closing event not followed by a reopening) and closing time."""
    import numpy as np

    n_cases = int(case_of[-1]) + 1
    is_close = np.isin(codes, [names.index(a) for a in closing])
    reopen = reopening_activities(names, sop)
    is_reopen = ~is_close if reopen is None else np.isin(codes, [names.index(a) for a in reopen])
    pos = np.arange(len(codes))
    last_close = np.full(n_cases, -1, dtype=np.int64)
    np.maximum.at(last_close, case_of[is_close], pos[is_close])
    last_reopen = np.full(n_cases, -1, dtype=np.int64)
    np.maximum.at(last_reopen, case_of[is_reopen], pos[is_reopen])
    done = (last_close >= 0) & (last_close > last_reopen)
    status = np.where(done, CLOSED, OPEN).astype(object)
    return status, np.where(done, tsn[np.maximum(last_close, 0)], np.datetime64("NaT"))


__all__ = [
    "CLOSED", "DEFAULT_STALE_AFTER", "OPEN", "ClosingRule", "TicketStatus", "closing_activities",
    "describe_rule", "reopening_activities", "ticket_status",
]
