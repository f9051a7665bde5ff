"""The alignment pass: an event log's tickets mapped to SOP steps, grouped into variants,
aligned and classified once per variant, and the deviations spread back over the tickets.

:func:`run_pass` returns a :class:`TicketPass` of numpy arrays (events, tickets,
variants) and :func:`spread_deviations` its :class:`DeviationRows` (one per ticket x
deviation); the frames (:mod:`csmine.conformance.frames`) and the report
(:mod:`csmine.conformance.summary`) are built from those two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from csmine.conformance.classify import (
    ClassifiedMove,
    ClassifiedVariant,
    classify_variants,
    describe,
)
from csmine.conformance.engines import Engine, resolve_engine
from csmine.conformance.moves import LOG_MOVE_COST
from csmine.conformance.results import KINDS, StepStatus
from csmine.errors import ConformanceError, EmptyLogError
from csmine.mining.variants import variant_ids

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule

__all__ = [
    "DeviationRows",
    "TicketPass",
    "column_values",
    "event_ids",
    "run_pass",
    "spread_deviations",
]


@dataclass(frozen=True)
class TicketPass:
    """One alignment pass: events, tickets and variants as numpy arrays."""

    events: pd.DataFrame  # the input's PASS_COLUMNS (and keys) sorted by ticket (stable), index 0..n-1
    activities: np.ndarray  # source activity per event (str objects)
    known: np.ndarray  # per event: the activity maps to an SOP step
    step_idx: np.ndarray  # per event: index into `steps`
    steps: list[str]  # SOP steps (flow, then off-flow) then unknown activities
    status: list[StepStatus]  # parallel to `steps`
    tickets: np.ndarray  # ticket ids, sorted (str objects)
    starts: np.ndarray  # first event row of each ticket
    lengths: np.ndarray  # events per ticket
    variant_of: np.ndarray  # variant index per ticket
    variants: list[tuple[str, ...]]
    cost: np.ndarray  # per variant
    fitness: np.ndarray  # per variant
    items: list[list[ClassifiedMove]]  # classified moves per variant
    best_worst_cost: int
    engine: str
    activity_key: str
    timestamp_key: str
    opened: pd.Series  # per ticket: opening time (first event when not recorded)
    attrs: dict[str, np.ndarray]  # per ticket: team, channel, phase (None when absent)
    variant_open: np.ndarray  # per variant: an open (prefix) variant
    pending: list[tuple[str, ...]]  # per variant: steps allowed next (open variants)
    required: list[frozenset[str]]  # per variant: of those, the ones every way needs
    ticket_open: np.ndarray  # per ticket
    ticket_stale: np.ndarray  # per ticket
    closing: dict[str, Any]  # TicketStatus.summary() (or the "not applied" summary)

    @property
    def event_ticket(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.tickets)), self.lengths)

    @property
    def ticket_bwc(self) -> np.ndarray:
        """Per ticket the fitness denominator ``len * 10,000 + w`` (``w`` 0 when open)."""
        return self.lengths * LOG_MOVE_COST + np.where(self.ticket_open, 0, self.best_worst_cost)


def _objects(values: Any) -> np.ndarray:
    """An object array with None for missing values."""
    out = np.asarray(values, dtype=object).copy()
    out[pd.isna(out)] = None
    return out


def column_values(events: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    """Column ``name`` at ``rows`` as an object array (None when missing or absent)."""
    if name not in events.columns:
        return np.full(len(rows), None, dtype=object)
    # the rows first: a text column as objects is a Python string per event
    return _objects(events[name].take(rows).to_numpy(dtype=object))


def event_ids(events: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``@@event_id`` of rows as Python ints (the input frame's row label without it)."""
    column = "@@event_id" if "@@event_id" in events.columns else "_row"
    out = np.empty(len(rows), dtype=object)
    out[:] = events[column].to_numpy()[rows].tolist()
    return out


def _not_applied(n: int) -> dict[str, Any]:
    return {
        "closed": n, "open": 0, "stale": 0,
        "rule": "closing not checked: every ticket counted as ended (full alignments)",
        "rule_known": False, "stale_after": None, "as_of": None,
    }


def _ticket_status(
    events: pd.DataFrame, sop: SOP, closing: ClosingRule, tickets: np.ndarray, *,
    case_id_key: str, activity_key: str, timestamp_key: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per ticket (in ``tickets`` order): open, stale; and the status summary."""
    from csmine.eventlog.lifecycle import ACTIVITY, CASE_ID, OPEN, TIMESTAMP, ticket_status

    if timestamp_key not in events.columns:
        raise ConformanceError(
            f"cannot tell open tickets from closed ones: the event log has no column "
            f"{timestamp_key!r} (pass timestamp_key=, or closing=None to count every "
            "ticket as ended)"
        )
    frame = pd.DataFrame({
        CASE_ID: events[case_id_key].astype(str),
        ACTIVITY: events[activity_key].astype(str),
        TIMESTAMP: events[timestamp_key],
    })
    status = ticket_status(frame, sop, closing)
    if not status.known:
        n = len(tickets)
        summary = status.summary()
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), summary
    per = status.frame.reindex(pd.Index(np.asarray(tickets, dtype=object).astype(str)))
    is_open = (per["status"] == OPEN).to_numpy(dtype=bool)
    stale = per["stale"].fillna(False).to_numpy(dtype=bool)
    return is_open, stale, status.summary()


def _check_input(df: pd.DataFrame, sop: SOP, case_id_key: str, activity_key: str) -> None:
    for key in (case_id_key, activity_key):
        if key not in df.columns:
            raise ConformanceError(
                f"cannot check conformance against SOP {sop.id!r}: the event log has no "
                f"column {key!r} (columns: {', '.join(map(str, df.columns[:12]))}; "
                "pass case_id_key=/activity_key=)"
            )
    if len(df) == 0:
        raise EmptyLogError(
            f"no events to check against SOP {sop.id!r}: the log (after filters) is empty"
        )


#: Event columns the pass reads besides the case id, activity and time keys (the
#: frames, the report and the breakdowns); the others are not copied.
PASS_COLUMNS = ("org:group", "org:resource", "case:team", "case:channel", "case:phase", "case:opened_at",
                "@@event_id")


def _sorted_events(df: pd.DataFrame, case_id_key: str, activity_key: str,
                   timestamp_key: str) -> tuple[pd.DataFrame, np.ndarray, Any]:
    """The columns the pass reads, events in ticket id order (stable), with ``_row`` the
    input's row label; codes; ids."""
    # ranks of the distinct ids, then an integer sort
    case_codes, case_names = pd.factorize(df[case_id_key].astype(str), sort=True)
    wanted = {case_id_key, activity_key, timestamp_key, *PASS_COLUMNS}
    events = df[[c for c in df.columns if c in wanted]]
    if len(case_codes) > 1 and bool((case_codes[1:] < case_codes[:-1]).any()):
        order = np.argsort(case_codes, kind="stable")
        events, case_codes = events.iloc[order], case_codes[order]
    # else in ticket order already (as load_event_log returns it): the columns, not a copy
    row_labels = events.index.to_numpy()
    events = events.reset_index(drop=True)
    events["_row"] = row_labels
    return events, case_codes, case_names


class _Steps(NamedTuple):
    """Events mapped to steps: SOP steps (flow steps first), then unknown activities."""

    activities: np.ndarray  # source activity per event
    known: np.ndarray  # per event: maps to an SOP step
    step_idx: np.ndarray  # per event: index into `steps`
    steps: list[str]
    status: list[StepStatus]


def _map_steps(events: pd.DataFrame, sop: SOP, activity_key: str, mapping: bool) -> _Steps:
    # activities: each distinct name mapped once, then spread by its code
    act_codes, act_names = pd.factorize(events[activity_key].astype(str), sort=False)
    act_names = np.asarray(act_names, dtype=object)
    vocabulary = sop.activity_map() if mapping else {n: n for n in sop.step_names}
    mapped_names = np.array([vocabulary.get(a) for a in act_names], dtype=object)
    known_names = np.array([m is not None for m in mapped_names], dtype=bool)
    flow = set(sop.flow_steps)
    steps = [s for s in sop.step_names if s in flow] + [s for s in sop.step_names if s not in flow]
    status: list[StepStatus] = ["flow" if s in flow else "off_flow" for s in steps]
    if not known_names.all():
        counts = np.bincount(act_codes, minlength=len(act_names))
        events_of = {str(a): int(c) for a, c, k in zip(act_names, counts, known_names, strict=True) if not k}
        unknown = sorted(events_of, key=lambda a: (-events_of[a], a))
        steps += unknown
        status += ["unknown"] * len(unknown)
    step_of_name = pd.Index(steps).get_indexer(np.where(known_names, mapped_names, act_names)).astype(np.int64)
    return _Steps(act_names[act_codes], known_names[act_codes], step_of_name[act_codes], steps, status)


def _open_status(
    events: pd.DataFrame, sop: SOP, tickets: np.ndarray, *, closing: ClosingRule | None,
    all_open: bool, case_id_key: str, activity_key: str, timestamp_key: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per ticket: open, stale; and the closing summary (see ``ConformanceReport.closing``)."""
    n_tickets = len(tickets)
    if all_open:
        summary = {**_not_applied(0), "open": n_tickets, "rule": "the ticket is taken as open",
                   "rule_known": True}
        return np.ones(n_tickets, dtype=bool), np.zeros(n_tickets, dtype=bool), summary
    if closing is not None:
        return _ticket_status(
            events, sop, closing, tickets, case_id_key=case_id_key, activity_key=activity_key,
            timestamp_key=timestamp_key)
    return np.zeros(n_tickets, dtype=bool), np.zeros(n_tickets, dtype=bool), _not_applied(n_tickets)


def _classify_all(
    sop: SOP, engine: str, variants: list[tuple[str, ...]], variant_open: np.ndarray
) -> tuple[list[ClassifiedVariant], int]:
    """Per variant its classified alignment (prefix ones for open variants); and ``w``."""
    closed_idx = np.flatnonzero(~variant_open).tolist()
    open_idx = np.flatnonzero(variant_open).tolist()
    # the empty trace first: its cost is the cheapest complete SOP run (w)
    closed_results = classify_variants(sop, engine, [(), *(variants[i] for i in closed_idx)])
    results: list[ClassifiedVariant] = [closed_results[0]] * len(variants)
    for i, r in zip(closed_idx, closed_results[1:], strict=True):
        results[i] = r
    if open_idx:
        opened = classify_variants(sop, engine, [variants[i] for i in open_idx], prefix=True)
        for i, r in zip(open_idx, opened, strict=True):
            results[i] = r
    return results, closed_results[0].cost


def _opened(events: pd.DataFrame, starts: np.ndarray, timestamp_key: str) -> pd.Series:
    """Per ticket its opening time (``case:opened_at``, else its first event's time)."""
    if "case:opened_at" in events.columns:
        opened = events["case:opened_at"].iloc[starts].reset_index(drop=True)
        if timestamp_key in events.columns:
            opened = opened.fillna(events[timestamp_key].iloc[starts].reset_index(drop=True))
        return opened
    if timestamp_key in events.columns:
        return events[timestamp_key].iloc[starts].reset_index(drop=True)
    return pd.Series(pd.NaT, index=range(len(starts)), dtype="datetime64[us, UTC]")


def run_pass(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool,
    engine: Engine,
    case_id_key: str,
    activity_key: str,
    timestamp_key: str,
    closing: ClosingRule | None = None,
    all_open: bool = False,
) -> TicketPass:
    """Align ``df``'s tickets with ``sop`` (see :func:`csmine.conformance.deviations.check_conformance`).

    ``all_open``: every ticket is open (prefix alignments), ``closing`` is not used.

    Raises:
        ConformanceError: a required column is missing.
        EmptyLogError: the log has no events.
    """
    _check_input(df, sop, case_id_key, activity_key)
    events, case_codes, case_names = _sorted_events(df, case_id_key, activity_key, timestamp_key)
    mapped = _map_steps(events, sop, activity_key, mapping)
    n = len(events)
    starts = np.flatnonzero(np.r_[True, case_codes[1:] != case_codes[:-1]])
    lengths = np.diff(np.r_[starts, n])
    variant_of, sequences = variant_ids(mapped.step_idx, starts, lengths)
    tickets = np.asarray(case_names, dtype=object)[case_codes[starts]]
    ticket_open, ticket_stale, summary = _open_status(
        events, sop, tickets, closing=closing, all_open=all_open, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key)
    # open and closed tickets: one alignment per distinct (variant, open) pair
    if ticket_open.any():
        keys, variant_of = np.unique(variant_of * 2 + ticket_open, return_inverse=True)
        variant_of = variant_of.reshape(-1)
        variant_open = (keys % 2).astype(bool)
        sequences = [sequences[k] for k in (keys // 2).tolist()]
    else:
        variant_open = np.zeros(len(sequences), dtype=bool)
    variants = [tuple(mapped.steps[c] for c in seq) for seq in sequences]
    which = resolve_engine(engine)
    results, best_worst_cost = _classify_all(sop, which, variants, variant_open)
    attrs = {name: column_values(events, f"case:{name}", starts) for name in ("team", "channel", "phase")}
    return TicketPass(
        events=events, activities=mapped.activities, known=mapped.known, step_idx=mapped.step_idx,
        steps=mapped.steps, status=mapped.status, tickets=tickets, starts=starts, lengths=lengths,
        variant_of=variant_of, variants=variants,
        cost=np.fromiter((r.cost for r in results), dtype=np.int64, count=len(results)),
        fitness=np.fromiter((r.fitness for r in results), dtype=np.float64, count=len(results)),
        items=[r.items for r in results], best_worst_cost=best_worst_cost, engine=which,
        activity_key=activity_key, timestamp_key=timestamp_key,
        opened=_opened(events, starts, timestamp_key), attrs=attrs, variant_open=variant_open,
        pending=[r.pending for r in results], required=[r.required for r in results],
        ticket_open=ticket_open, ticket_stale=ticket_stale, closing=summary,
    )


@dataclass(frozen=True)
class DeviationRows:
    """Deviations, one entry per ticket x deviation, sorted by ticket then position."""

    tidx: np.ndarray  # ticket index
    step: np.ndarray  # index into TicketPass.steps
    kind: np.ndarray  # index into KINDS
    on_event: np.ndarray  # the deviation is an event (not a skipped step)
    position: np.ndarray  # event position, or for a skipped step the next event's
    row: np.ndarray  # event row (on_event) else -1
    related: np.ndarray  # object: the other step of a wrong-branch pair
    description: np.ndarray  # object
    team: np.ndarray  # object: team the deviation is counted for
    agent: np.ndarray  # object: agent the deviation is counted for


def _per_variant_rows(run: TicketPass) -> tuple[dict[str, list[Any]], np.ndarray]:
    """The counted deviations of every variant, concatenated; and how many per variant."""
    index = {s: i for i, s in enumerate(run.steps)}
    kind_index = {k: i for i, k in enumerate(KINDS)}
    cols: dict[str, list[Any]] = {k: [] for k in ("step", "kind", "on_event", "position", "anchor",
                                                  "related", "description")}
    per_variant = np.zeros(len(run.items), dtype=np.int64)
    for v, its in enumerate(run.items):
        length = len(run.variants[v])
        for it in its:
            if not it.counted:
                continue
            per_variant[v] += 1
            cols["step"].append(index[it.label])
            cols["kind"].append(kind_index[str(it.deviation)])
            cols["on_event"].append(it.move == "log")
            cols["position"].append(it.position)
            # a skipped step is counted for the event done in its place (or the last one)
            cols["anchor"].append(min(it.position, length - 1))
            cols["related"].append(it.related)
            cols["description"].append(describe(it, run.status[index[it.label]]))
    return cols, per_variant


def spread_deviations(run: TicketPass) -> DeviationRows:
    """Classified moves per variant, spread over the tickets with numpy indexing."""
    cols, per_variant = _per_variant_rows(run)
    first = np.r_[0, np.cumsum(per_variant)[:-1]]
    per_ticket = per_variant[run.variant_of]
    total = int(per_ticket.sum())
    tidx = np.repeat(np.arange(len(run.tickets)), per_ticket)
    offset = np.arange(total) - np.repeat(np.cumsum(per_ticket) - per_ticket, per_ticket)
    k = first[run.variant_of[tidx]] + offset

    def take(name: str, dtype: Any) -> np.ndarray:
        return np.asarray(cols[name], dtype=dtype)[k] if total else np.zeros(0, dtype=dtype)

    on_event = take("on_event", bool)
    position = take("position", np.int64)
    anchor = take("anchor", np.int64)
    start = run.starts[tidx]
    row = np.where(on_event, start + position, -1)
    has_anchor = anchor >= 0
    anchor_row = start + np.maximum(anchor, 0)
    team = column_values(run.events, "org:group", anchor_row)
    team[~has_anchor] = None
    missing = pd.isna(team)
    team[missing] = run.attrs["team"][tidx][missing]
    agent = column_values(run.events, "org:resource", anchor_row)
    agent[~has_anchor] = None
    return DeviationRows(
        tidx=tidx, step=take("step", np.int64), kind=take("kind", np.int64), on_event=on_event,
        position=position, row=row, related=take("related", object), description=take("description", object),
        team=team, agent=agent,
    )
