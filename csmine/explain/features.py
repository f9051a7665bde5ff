"""Candidate contributors: groups of tickets that share a value, built for every ticket at once.

Each candidate is an *(attribute, value)* and the tickets that have it. The kinds:

``ticket``
    every case attribute (``channel``, ``category``, ``priority``, ``team``, ...; a
    changed attribute counts with its last value for ``priority``, its first
    otherwise); two attributes that split the tickets into exactly the same groups
    (the demo's ``team`` and ``region``) are kept once; one with more distinct values
    than a fifth of the tickets is an id (the customer) and is tested only when named
    in ``attributes``. An attribute with 3 or 4
    values also has the unions of its values (``online chat or email``, ``not
    consultation``); so has ``phase`` (``baseline or (no phase)``: the old SOP).
``pair``
    two ticket attributes together (``team & category``), for attributes with at most
    :data:`MAX_PAIR_LEVELS` values (so ids such as ``customer`` make no pairs).
``context``
    ``weekday`` and ``hour`` of opening (local time of ``tz``; every
    run of one to six two-hour bins, so a night is one candidate), ``phase``.
``agent``
    someone who worked on the ticket within its window (a ticket has one entry per agent).
``load``
    ``queue at arrival``: tickets of the same team open at the moment the ticket was
    opened, in quintiles ``Q1`` .. ``Q5`` and the top two and three together.
``path``
    ``step`` (passed through the step within the window; SOP step names where the SOP
    maps the activity), ``teams`` (distinct teams, ``org:group``, within the window:
    ``1``, ``2``, ``3 or more``, ``2 or more``) and ``handled by team``.

The *window* of a ticket ends at the outcome's anchor (see
:class:`csmine.explain.measuring.Outcome`): path and agents after it cannot explain it.

Memberships are two parallel integer arrays, ticket code and candidate code, built with
numpy from the encoded log -- no Python loop over tickets. Unions of values, hour ranges
and the top quintiles together are *derived*: they have no memberships of their own, their
counts are the sums of their parts' (:attr:`FeatureSet.derived`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.explain.coding import encode_column, present, step_labels, value_codes
from csmine.mining.encoding import unique_ints

if TYPE_CHECKING:
    from csmine.explain.measuring import Outcome
    from csmine.performance.preparation import Prepared

__all__ = ["MAX_PAIR_LEVELS", "FeatureSet", "ticket_features"]

#: An attribute with more distinct values than this share of the tickets is an id (the
#: customer): its groups are tiny and many, mostly noise; tested only when asked for.
ID_SHARE = 0.2
#: Ticket attributes with more values than this make no pairs.
MAX_PAIR_LEVELS = 12
#: Columns of the frame that are not ticket attributes (ids, times) or that count as context.
_NOT_ATTRIBUTES = {"case:concept:name", "case:opened_at", "case:phase"}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: ``ticket_kpis`` columns that hold the value csmine uses elsewhere (priority: the last known one).
_FROM_KPIS = {"priority": "priority", "channel": "channel", "team": "team"}


@dataclass(frozen=True)
class FeatureSet:
    """Candidate groups of tickets.

    Attributes:
        attribute: per candidate, the attribute (``channel``, ``team & category``, ``agent``, ...).
        value: per candidate, the value (``email``, ``First line North & after-sales``).
        kind: per candidate, ``ticket``, ``pair``, ``context``, ``agent``, ``load`` or ``path``.
        involves: per candidate, the ticket attributes it is made of (for the adjustment:
            a candidate is not adjusted for its own attributes).
        pair_of: per candidate, the two single candidates of a pair (``-1, -1`` otherwise).
        ticket: membership, ticket code (of the prepared log).
        candidate: membership, candidate code.
        strata: ticket attribute name -> per ticket code, its value code (for the
            adjustment strata; -1 never occurs: missing is a value).
        tickets: number of ticket codes.
        notes: what was merged or left out, in words.
        derived: candidate code -> the candidate codes it is the union of (unions of
            values, hour ranges, the top quintiles together): such a candidate has no
            memberships of its own; its counts are the sums of its parts' (the parts are
            values of one attribute, so no ticket is counted twice).
    """

    attribute: np.ndarray
    value: np.ndarray
    kind: np.ndarray
    involves: tuple[frozenset[str], ...]
    pair_of: np.ndarray
    ticket: np.ndarray
    candidate: np.ndarray
    strata: dict[str, np.ndarray]
    tickets: int
    notes: tuple[str, ...] = ()
    derived: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.value)

    def members(self, code: int) -> np.ndarray:
        """Per ticket code: is the ticket in candidate ``code``?"""
        out = np.zeros(self.tickets, dtype=bool)
        codes = list(self.derived.get(code, (code,)))
        out[self.ticket[np.isin(self.candidate, codes)]] = True
        return out


class _Builder:
    def __init__(self, n: int) -> None:
        self.n = n
        self.attribute: list[str] = []
        self.value: list[str] = []
        self.kind: list[str] = []
        self.involves: list[frozenset[str]] = []
        self.pair_of: list[tuple[int, int]] = []
        self.tickets: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []
        self.derived: dict[int, tuple[int, ...]] = {}

    def union(self, attribute: str, kind: str, label: str, parts: list[int],
              involves: frozenset[str] = frozenset()) -> int:
        """A candidate that is the union of single-valued candidates ``parts`` of one attribute."""
        code = self._labels(attribute, kind, [label], involves)
        self.derived[code] = tuple(int(x) for x in parts)
        return code

    def _labels(self, attribute: str, kind: str, labels: list[str], involves: frozenset[str],
                pairs: list[tuple[int, int]] | None = None) -> int:
        offset = len(self.value)
        self.attribute.extend([attribute] * len(labels))
        self.value.extend(labels)
        self.kind.extend([kind] * len(labels))
        self.involves.extend([involves] * len(labels))
        self.pair_of.extend(pairs if pairs is not None else [(-1, -1)] * len(labels))
        return offset

    def single(self, attribute: str, kind: str, codes: np.ndarray, labels: list[str],
               involves: frozenset[str] = frozenset()) -> int:
        offset = self._labels(attribute, kind, labels, involves)
        keep = codes >= 0
        self.tickets.append(_narrow(np.flatnonzero(keep)))
        self.codes.append(_narrow(offset + codes[keep]))
        return offset

    def multi(self, attribute: str, kind: str, ticket: np.ndarray, codes: np.ndarray, labels: list[str]) -> None:
        offset = self._labels(attribute, kind, labels, frozenset())
        self.tickets.append(_narrow(ticket))
        self.codes.append(_narrow(offset + codes))


def _by_ticket(b: _Builder, attribute: str, kind: str, case: np.ndarray, codes: np.ndarray,
               labels: list[str]) -> None:
    """Candidates with one membership per ticket and value (an agent, a step), from events."""
    m = max(len(labels), 1)
    pairs = unique_ints(case * m + codes)
    b.multi(attribute, kind, pairs // m, pairs % m, [str(x) for x in labels])


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    na, nb = int(a.max(initial=-1)) + 1, int(b.max(initial=-1)) + 1
    if na != nb:
        return False
    combined = unique_ints(a * max(nb, 1) + b)
    return len(combined) == na


def _window_events(prep: Prepared, outcome: Outcome | None, *, first_contact: bool = False) -> np.ndarray:
    log = prep.log
    pos = np.arange(log.n)
    if outcome is None:
        return np.ones(log.n, dtype=bool)
    anchor = outcome.anchor[log.case]
    return pos == anchor if first_contact else pos <= anchor


def _queue_at_arrival(opened: np.ndarray, closed_at: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per ticket: tickets of the same group opened before it and not closed by then."""
    span = float(np.nanmax(np.abs(np.concatenate([opened, np.nan_to_num(closed_at)])))) * 2 + 10.0
    key = group.astype(float) * span + opened
    opened_keys = np.sort(key)
    closes = np.where(np.isfinite(closed_at), closed_at, span * 0.999)
    closed_keys = np.sort(group.astype(float) * span + closes)
    base = group.astype(float) * span
    before = np.searchsorted(opened_keys, key, side="left") - np.searchsorted(opened_keys, base, side="left")
    gone = np.searchsorted(closed_keys, key, side="right") - np.searchsorted(closed_keys, base, side="left")
    return np.clip(before - gone, 0, None)


#: Hour-of-opening ranges tested: every run of 1 to this many two-hour bins (circular).
MAX_HOUR_BINS = 6


def _hour_ranges(b: _Builder, hour_bin: np.ndarray) -> None:
    """Hours of opening: each two-hour bin and each run of up to six bins (to 12 h), around
    midnight too, so that "20:00–08:00" is one candidate and not six."""
    offset = b.single("hour", "context", hour_bin, [f"{2 * h:02d}:00–{(2 * h + 2) % 24:02d}:00" for h in range(12)])
    for length in range(2, MAX_HOUR_BINS + 1):
        for first in range(12):
            bins = [offset + (first + j) % 12 for j in range(length)]
            b.union("hour", "context", f"{2 * first:02d}:00–{(2 * (first + length)) % 24:02d}:00", bins)


#: Attributes with 3 or 4 values also get their unions of values tested.
MAX_UNION_LEVELS = 4


def _unions(b: _Builder, attribute: str, kind: str, offset: int, labels: list[str],
            involves: frozenset[str]) -> None:
    """Unions of values of an attribute with 3 or 4 values: ``online chat or email``, ``not
    consultation`` -- one factor often spans values (the old SOP: baseline and no phase)."""
    from itertools import combinations

    k = len(labels)
    if not 3 <= k <= MAX_UNION_LEVELS:
        return
    for size in range(2, k):
        for chosen in combinations(range(k), size):
            if size == k - 1 and k > 3:
                rest = next(i for i in range(k) if i not in chosen)
                label = f"not {labels[rest]}"
            else:
                label = " or ".join(labels[i] for i in chosen)
            b.union(attribute, kind, label, [offset + i for i in chosen], involves)


def _upper_tails(b: _Builder, attribute: str, offset: int, bins: np.ndarray, labels: list[str],
                 values: np.ndarray) -> None:
    """The top two and top three bins of an ordered attribute together (``Q4–Q5 (12+)``)."""
    top = len(labels) - 1
    for width in (2, 3):
        lowest = top - width + 1
        if lowest <= 0:
            continue
        mine = bins >= lowest
        if not mine.any():
            continue
        first = labels[lowest].split(" ", 1)[0]
        last = labels[top].split(" ", 1)[0]
        b.union(attribute, "load", f"{first}–{last} ({int(values[mine].min())}+)",
                [offset + k for k in range(lowest, top + 1)])


def _quintiles(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Bins at the quintiles; a bin is named by the highest quintile it reaches (``Q5``: the
    top 20%) and its range (``Q5 (37+)``). Tied quintiles share one bin."""
    qs = np.quantile(values, [0.2, 0.4, 0.6, 0.8], method="lower")
    edges = np.unique(qs)
    bins = np.searchsorted(edges, values, side="left")
    labels = []
    for k in range(len(edges) + 1):
        sel = values[bins == k]
        rank = 5 if k == len(edges) else int(np.flatnonzero(qs == edges[k]).max()) + 1
        if sel.size == 0:
            labels.append(f"Q{rank}")
        elif k == len(edges):
            labels.append(f"Q{rank} ({int(sel.min())}+)")
        else:
            lo, hi = int(sel.min()), int(sel.max())
            labels.append(f"Q{rank} ({lo})" if lo == hi else f"Q{rank} ({lo}–{hi})")
    return bins.astype(np.int64), labels


def ticket_features(
    prep: Prepared,
    kpis: pd.DataFrame,
    outcome: Outcome | None = None,
    *,
    tz: str = "UTC",
    attributes: list[str] | None = None,
    pairs: bool = True,
    max_pair_levels: int = MAX_PAIR_LEVELS,
) -> FeatureSet:
    """The candidate groups of every ticket of a prepared log.

    Args:
        prep: the prepared log (:func:`csmine.performance.preparation.prepare`).
        kpis: its per-ticket KPI frame (same tickets, same order).
        outcome: the outcome asked about (its window and excluded steps); None: whole
            tickets, every step.
        tz: time zone for the weekday and hour of opening.
        attributes: ticket attributes to use (names without ``case:``); None: all.
        pairs: also pairs of ticket attributes.
        max_pair_levels: attributes with more values make no pairs.
    """
    b = _Builder(len(prep.log.cases))
    notes: list[str] = []
    singles, strata = _ticket_attributes(b, prep, kpis, attributes, notes)
    if pairs:
        _pairs(b, singles, max_pair_levels, notes)
    _opening_time(b, prep, tz)
    _queue(b, prep, kpis, strata)
    _phase(b, kpis)
    _agents(b, prep, outcome)
    if outcome is None or outcome.path:
        _path(b, prep, outcome, notes)
    return FeatureSet(
        attribute=np.asarray(b.attribute, dtype=object),
        value=np.asarray(b.value, dtype=object),
        kind=np.asarray(b.kind, dtype=object),
        involves=tuple(b.involves),
        pair_of=np.asarray(b.pair_of, dtype=np.int64).reshape(-1, 2),
        ticket=_codes(b.tickets),
        candidate=_codes(b.codes),
        strata=strata,
        tickets=b.n,
        notes=tuple(notes),
        derived=dict(b.derived),
    )


def _narrow(codes: np.ndarray) -> np.ndarray:
    """Non-negative codes as 32-bit integers when they fit (the builder holds tens of millions)."""
    codes = np.asarray(codes)
    if codes.size and int(codes.max()) >= 2 ** 31 - 1:
        return codes
    return codes.astype(np.int32, copy=False)


def _codes(parts: list[np.ndarray]) -> np.ndarray:
    """The memberships' ticket or candidate codes in one array, 32-bit as :func:`_narrow` made the
    parts (64-bit if one needed it; arithmetic on them widens first)."""
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


#: A ticket attribute tested: per ticket its value code, the values, its first candidate code.
_Single = tuple[np.ndarray, list[str], int]


def _attribute_columns(df: pd.DataFrame, attributes: list[str] | None) -> list[tuple[str, str]]:
    """The ticket attributes of the frame, ``(column, name)``; the ones asked for must exist."""
    columns = [c for c in df.columns if str(c).startswith("case:") and c not in _NOT_ATTRIBUTES]
    names = [str(c)[5:] for c in columns]
    unknown = set(attributes or ()) - set(names)
    if unknown:
        from csmine.explain.outcomes import OutcomeError

        raise OutcomeError(f"unknown ticket attribute(s) {', '.join(sorted(unknown))}: "
                           f"the log has {', '.join(names) or 'none'}")
    return list(zip(columns, names, strict=True))


def _ticket_attributes(b: _Builder, prep: Prepared, kpis: pd.DataFrame, attributes: list[str] | None,
                       notes: list[str]) -> tuple[dict[str, _Single], dict[str, np.ndarray]]:
    """One candidate per value of each ticket attribute, then the unions of values; every
    attribute's codes are strata for the adjustment (also those not tested)."""
    n = b.n
    first_rows = prep.log.order[np.flatnonzero(prep.log.first)]
    singles: dict[str, _Single] = {}
    strata: dict[str, np.ndarray] = {}
    kept: list[tuple[str, np.ndarray]] = []
    for column, name in _attribute_columns(prep.df, attributes):
        from_kpis = name in _FROM_KPIS and _FROM_KPIS[name] in kpis.columns
        codes, labels = encode_column(kpis[_FROM_KPIS[name]] if from_kpis else prep.df[column].iloc[first_rows])
        strata[name] = codes
        if (attributes is not None and name not in attributes) or len(labels) < 2:
            continue  # not asked for, or one value for every ticket: nothing to compare
        if attributes is None and len(labels) > ID_SHARE * n:
            notes.append(f"{name} has {len(labels):,} values for {n:,} tickets, like an id: not tested "
                         f"(--attributes {name} tests it)")
            continue
        twin = next((other for other, oc in kept if _same_partition(codes, oc)), None)
        if twin is not None:
            notes.append(f"{name} splits the tickets exactly as {twin} does: tested once, as {twin}")
            continue
        kept.append((name, codes))
        singles[name] = (codes, labels, b.single(name, "ticket", codes, labels, frozenset({name})))
    for name, (_, labels, offset) in singles.items():
        _unions(b, name, "ticket", offset, labels, frozenset({name}))
    return singles, strata


def _pairs(b: _Builder, singles: dict[str, _Single], max_pair_levels: int, notes: list[str]) -> None:
    """Two ticket attributes together, each pair of values that occurs (every ticket is in one)."""
    pairable = [k for k, (_, labels, _) in singles.items() if len(labels) <= max_pair_levels]
    skipped = [k for k in singles if k not in pairable]
    if skipped:
        notes.append(f"no pairs with {', '.join(skipped)} (more than {max_pair_levels} values)")
    for i, first in enumerate(pairable):
        ca, la, oa = singles[first]
        for second in pairable[i + 1:]:
            cb, lb, ob = singles[second]
            combo = ca * len(lb) + cb
            present = unique_ints(combo)
            local = np.searchsorted(present, combo)
            labels = [f"{la[int(v) // len(lb)]} & {lb[int(v) % len(lb)]}" for v in present]
            parts = [(oa + int(v) // len(lb), ob + int(v) % len(lb)) for v in present]
            offset = b._labels(f"{first} & {second}", "pair", labels, frozenset({first, second}), parts)
            b.tickets.append(_narrow(np.arange(b.n)))
            b.codes.append(_narrow(offset + local))


def _opening_time(b: _Builder, prep: Prepared, tz: str) -> None:
    """Weekday and two-hour bins (and their runs) of the opening, in ``tz``."""
    opened = pd.Series(pd.to_datetime(prep.opened, unit="s", utc=True))
    try:
        local_time = opened.dt.tz_convert(tz)
    except Exception as exc:  # noqa: BLE001 -- an unknown zone name
        from csmine.explain.outcomes import OutcomeError

        raise OutcomeError(f"unknown time zone {tz!r}: use an IANA name such as Asia/Shanghai") from exc
    b.single("weekday", "context", local_time.dt.day_of_week.to_numpy(dtype=np.int64), list(_WEEKDAYS))
    _hour_ranges(b, local_time.dt.hour.to_numpy(dtype=np.int64) // 2)


def _queue(b: _Builder, prep: Prepared, kpis: pd.DataFrame, strata: dict[str, np.ndarray]) -> None:
    """Tickets of the same team open at the opening, in quintiles, and the top ones together."""
    n = b.n
    closed_at = np.full(n, np.nan)
    if "closed_at" in kpis.columns:
        from csmine.mining.encoding import epoch_seconds

        closed_at = epoch_seconds(kpis["closed_at"])
    queue = _queue_at_arrival(prep.opened, closed_at, strata.get("team", np.zeros(n, dtype=np.int64)))
    qbins, qlabels = _quintiles(queue)
    q_offset = b.single("queue at arrival", "load", qbins, qlabels)
    _upper_tails(b, "queue at arrival", q_offset, qbins, qlabels, queue)


def _phase(b: _Builder, kpis: pd.DataFrame) -> None:
    """The ticket's phase (``(no phase)`` outside every one) and the unions of phases."""
    if "phase" not in kpis.columns or not kpis["phase"].notna().any():
        return
    codes, labels = encode_column(kpis["phase"], missing="(no phase)")
    p_offset = b.single("phase", "context", codes, labels)
    _unions(b, "phase", "context", p_offset, labels, frozenset())


def _agents(b: _Builder, prep: Prepared, outcome: Outcome | None) -> None:
    """Who worked on the ticket within its window (``not-fcr``: who took the first contact)."""
    log, df = prep.log, prep.df
    if "org:resource" not in df.columns:
        return
    window = _window_events(prep, outcome, first_contact=outcome is not None and outcome.agents_first_contact)
    codes, names = value_codes(df["org:resource"])
    codes = codes[log.order] if len(log.order) else codes
    has = window & (codes >= 0)
    if has.any():
        _by_ticket(b, "agent", "agent", log.case[has], *present(codes[has], names))


def _path(b: _Builder, prep: Prepared, outcome: Outcome | None, notes: list[str]) -> None:
    """The steps passed through within the window (not those the outcome is about), how many
    teams and which ones had the ticket."""
    log = prep.log
    window = _window_events(prep, outcome)
    excluded = outcome.excluded_steps if outcome is not None else frozenset()
    label_of, labels = step_labels(prep)
    activities = log.activities.astype(object)
    left_out = np.asarray([labels[label_of[k]] in excluded or str(activities[k]) in excluded
                           for k in range(len(activities))], dtype=bool)
    use = window & ~left_out[log.act]
    if use.any():
        _by_ticket(b, "step", "path", log.case[use], *present(label_of[log.act[use]], labels))
    if excluded:
        notes.append(f"path features leave out {', '.join(sorted(excluded))} (the outcome is about it)")
    codes, names = value_codes(prep.teams)
    has = window & (codes >= 0)
    if not has.any():
        return
    tcodes, tnames = present(codes[has], names)
    m = int(tcodes.max()) + 1
    count = np.bincount(unique_ints(log.case[has] * m + tcodes) // m, minlength=b.n)
    bins = np.where(count <= 0, -1, np.minimum(count, 3) - 1)
    t_offset = b.single("teams", "path", bins.astype(np.int64), ["1", "2", "3 or more"])
    b.union("teams", "path", "2 or more", [t_offset + 1, t_offset + 2])
    if len(tnames) > 1:
        _by_ticket(b, "handled by team", "path", log.case[has], tcodes, tnames)
