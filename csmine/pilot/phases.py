"""Phases of a pilot (baseline, pilot, rollout, ...) as recorded history.

A phase is a window of ticket *opening* times ``[start, end)`` plus an optional
cohort (case attributes that must match, e.g. ``region=East``). A ticket belongs to
the first phase, by start, whose window holds its opening time and whose cohort it
matches (:func:`csmine.eventlog.loading.assign_phases`). Phases are events of the store's
``PhasePlan`` aggregate: defining, redefining and removing a phase are each recorded,
so a change of plan is itself on record (:func:`phase_history`).

This module wraps the store's use cases with the checks a user needs (a clear
error for an unknown phase or an empty window, a refusal to overwrite a phase
silently) and counts the tickets each phase holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from event_store.readmodel import queries
from event_store.records import CASE_FIELDS

from csmine.errors import PhaseError
from csmine.eventlog.loading import Phase, assign_phases, list_phases

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore


@dataclass(frozen=True, slots=True)
class PhaseInfo:
    """A phase of the current plan and how many tickets it holds.

    Attributes:
        name: phase name.
        start: first opening time included (ISO 8601, UTC).
        end: first opening time excluded (ISO 8601), or None when open-ended.
        cohort: attribute -> accepted values; empty means every ticket.
        note: free text recorded with the phase.
        tickets: tickets in the store that belong to the phase now (a ticket that
            matches several phases counts for the first by start).
        first_opened: earliest opening time among them (ISO) or None.
        last_opened: latest opening time among them (ISO) or None.
    """

    name: str
    start: str
    end: str | None
    cohort: dict[str, tuple[str, ...]]
    note: str
    tickets: int
    first_opened: str | None
    last_opened: str | None


@dataclass(frozen=True, slots=True)
class PhaseChange:
    """One recorded change of the phase plan.

    Attributes:
        version: position of the change in the plan's history (1, 2, ...).
        recorded_at: when the change was recorded (ISO, UTC).
        change: ``defined`` (new phase), ``redefined`` (a phase of that name
            existed and was replaced) or ``removed``.
        name: the phase.
        start: window start (ISO) for definitions, else None.
        end: window end (ISO) or None.
        cohort: cohort for definitions (empty dict otherwise).
        note: the note recorded with the change.
        actor: who made it, if given.
    """

    version: int
    recorded_at: str
    change: str
    name: str
    start: str | None
    end: str | None
    cohort: dict[str, tuple[str, ...]]
    note: str
    actor: str | None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def define_phase(
    store: TicketStore,
    name: str,
    start: datetime,
    end: datetime | None = None,
    cohort: dict[str, tuple[str, ...]] | None = None,
    *,
    note: str = "",
    actor: str | None = None,
    replace: bool = False,
) -> Phase:
    """Record a phase in the store's plan.

    Args:
        store: an open store.
        name: phase name (baseline, pilot, rollout, or any name without spaces at the ends).
        start: first opening time included (tz-aware).
        end: first opening time excluded (tz-aware), or None for open-ended.
        cohort: attribute -> accepted values (e.g. ``{"region": ("East",)}``).
        note: free text kept with the change (why the plan is what it is).
        actor: who defines it.
        replace: allow redefining an existing phase (the old definition stays on record).

    Returns:
        The phase as now defined.

    Raises:
        PhaseError: empty name, naive times, ``end`` not after ``start``, a cohort key
            that no ticket of the store has as a ticket attribute (only checked once the
            store holds tickets), or the phase exists and ``replace`` is False.
    """
    name = name.strip()
    if not name:
        raise PhaseError("a phase needs a name (e.g. baseline, pilot, rollout)")
    _check_window(name, start, end)
    cohort = {k: tuple(v) for k, v in (cohort or {}).items()}
    _check_cohort(store, name, cohort)
    existing = {p.name for p in list_phases(store)}
    if name in existing and not replace:
        raise PhaseError(
            f"phase {name!r} is already defined (see `csmine phase list`); "
            "use --replace to record a new definition, or choose another name"
        )
    store.define_phase(name, start, end, {k: list(v) for k, v in cohort.items()}, note=note, actor=actor)
    return Phase(name=name, start=start, end=end, cohort=cohort, note=note)


def _check_window(name: str, start: datetime, end: datetime | None) -> None:
    for label, value in (("--from", start), ("--to", end)):
        if value is not None and value.utcoffset() is None:
            raise PhaseError(f"phase {name!r}: {label} {value.isoformat()} has no time zone")
    if end is not None and end <= start:
        raise PhaseError(
            f"phase {name!r}: --to {end.isoformat()} is not after --from {start.isoformat()} "
            "(the window holds tickets opened at or after --from and before --to)"
        )


def _check_cohort(store: TicketStore, name: str, cohort: dict[str, tuple[str, ...]]) -> None:
    for key, values in cohort.items():
        if key == "phase":
            raise PhaseError(f"phase {name!r}: a cohort cannot test the phase itself (drop --where phase=...)")
        if not values or any(not v for v in values):
            raise PhaseError(f"phase {name!r}: cohort {key}= has an empty value (write e.g. --where {key}=East)")
    unknown = sorted(k for k in cohort if k not in CASE_FIELDS)
    if unknown:
        known_attrs = ticket_attributes(store)
        if known_attrs is not None:
            missing = [k for k in unknown if k not in known_attrs]
            if missing:
                raise PhaseError(
                    f"phase {name!r}: no ticket has the attribute {', '.join(missing)} "
                    f"(ticket attributes: {', '.join(sorted(known_attrs))}); a cohort tests attributes "
                    "of the ticket, not of its steps, so this phase would hold no ticket"
                )


def ticket_attributes(store: TicketStore) -> set[str] | None:
    """The attributes a cohort can test: the case columns and every free attribute
    some ticket carries (keys of ``tickets.case_attrs``); None when the store holds
    no ticket yet (nothing to check against)."""
    store.projection.catch_up()
    if not queries.has_tickets(store):
        return None
    return set(CASE_FIELDS) | queries.case_attribute_keys(store)


def remove_phase(store: TicketStore, name: str, *, note: str = "", actor: str | None = None) -> None:
    """Record the removal of a phase (its definition stays in the history).

    Raises:
        PhaseError: no such phase.
    """
    known = sorted(p.name for p in list_phases(store))
    if name not in known:
        raise PhaseError(f"no phase {name!r} (defined: {', '.join(known) or 'none'}; see `csmine phase list`)")
    store.remove_phase(name, note=note, actor=actor)


def phase_history(store: TicketStore) -> list[PhaseChange]:
    """Every change of the phase plan, oldest first."""
    out: list[PhaseChange] = []
    alive: set[str] = set()
    for item in store.phase_history():
        name = item["name"]
        if item["change"] == "PhaseRemoved":
            change = "removed"
            alive.discard(name)
        else:
            change = "redefined" if name in alive else "defined"
            alive.add(name)
        cohort = item.get("cohort") or {}
        out.append(PhaseChange(
            version=int(item["version"]),
            recorded_at=_iso(item["recorded_at"]) or "",
            change=change,
            name=name,
            start=_iso(item.get("start")),
            end=_iso(item.get("end")),
            cohort={k: tuple(v) for k, v in cohort.items()},
            note=item.get("note") or "",
            actor=item.get("actor"),
        ))
    return out


def tickets_frame(store: TicketStore) -> pd.DataFrame:
    """One row per ticket: ``case:concept:name``, ``case:opened_at`` and the case
    attributes (``case:<field>`` columns, free attributes under their own names).

    Read from the ``tickets`` table of the read model with one query.
    """
    import numpy as np
    import pandas as pd

    store.projection.catch_up()
    rows = queries.ticket_table(store)
    data: dict[str, Any] = {
        "case:concept:name": np.array([r[0] for r in rows], dtype=object),
        "case:opened_at": pd.Series(np.array([r[1] for r in rows], dtype="int64").astype("datetime64[us]"),
                                    dtype="datetime64[us]").dt.tz_localize("UTC"),
    }
    for i, field in enumerate(CASE_FIELDS):
        data[f"case:{field}"] = np.array([r[3 + i] for r in rows], dtype=object)
    frame = pd.DataFrame(data)
    extras = [json.loads(r[2]) if r[2] else {} for r in rows]
    for key in sorted(set().union(*extras)) if extras else []:
        if f"case:{key}" not in frame.columns and key not in frame.columns:
            frame[key] = pd.Series([e.get(key) for e in extras], dtype=object)
    return frame


def phase_infos(store: TicketStore) -> list[PhaseInfo]:
    """The current phases with the tickets each holds, ordered by start."""
    phases = list_phases(store)
    if not phases:
        return []
    frame = tickets_frame(store)
    assigned = assign_phases(frame, phases)
    out = []
    for p in phases:
        mask = (assigned == p.name).to_numpy()
        opened = frame.loc[mask, "case:opened_at"]
        out.append(PhaseInfo(
            name=p.name,
            start=p.start.isoformat(),
            end=None if p.end is None else p.end.isoformat(),
            cohort=dict(p.cohort),
            note=p.note,
            tickets=int(mask.sum()),
            first_opened=opened.min().isoformat() if len(opened) else None,
            last_opened=opened.max().isoformat() if len(opened) else None,
        ))
    return out


def _window_overlap(a: Phase, b: Phase) -> bool:
    a_end = a.end.timestamp() if a.end else float("inf")
    b_end = b.end.timestamp() if b.end else float("inf")
    return a.start.timestamp() < b_end and b.start.timestamp() < a_end


def _cohorts_may_meet(a: Phase, b: Phase) -> bool:
    return all(set(a.cohort[k]) & set(b.cohort[k]) for k in set(a.cohort) & set(b.cohort))


def overlapping_phases(phases: list[Phase], name: str) -> list[tuple[str, str]]:
    """Phases that can claim the same tickets as ``name``, and which one wins.

    Two phases overlap when their windows intersect and their cohorts are not
    disjoint (a key both test with no value in common makes them disjoint). A ticket
    matching both belongs to the one that starts first (ties: by name).

    Returns:
        ``(other phase, phase that keeps the shared tickets)`` pairs, by name.
    """
    me = next((p for p in phases if p.name == name), None)
    if me is None:
        return []
    out = []
    for other in sorted(phases, key=lambda p: p.name):
        if other.name != name and _window_overlap(me, other) and _cohorts_may_meet(me, other):
            first = min((me, other), key=lambda p: (p.start, p.name))
            out.append((other.name, first.name))
    return out


@dataclass(frozen=True, slots=True)
class PhaseAdded:
    """A phase just defined, and the phases it can share tickets with.

    Attributes:
        info: the phase as now defined, with its tickets.
        overlaps: ``(other phase, phase that keeps the shared tickets)`` pairs
            (:func:`overlapping_phases`).
    """

    info: PhaseInfo
    overlaps: tuple[tuple[str, str], ...]


def add_phase(
    store: TicketStore,
    name: str,
    start: datetime,
    end: datetime | None = None,
    cohort: dict[str, tuple[str, ...]] | None = None,
    *,
    note: str = "",
    actor: str | None = None,
    replace: bool = False,
) -> PhaseAdded:
    """Define a phase (:func:`define_phase`) and say which phases it overlaps."""
    phase = define_phase(store, name, start, end, cohort, note=note, actor=actor, replace=replace)
    info = next(p for p in phase_infos(store) if p.name == phase.name)
    return PhaseAdded(info, tuple(overlapping_phases(list_phases(store), phase.name)))


def find_phase(store: TicketStore, name: str) -> Phase:
    """The current definition of a phase.

    Raises:
        PhaseError: no such phase.
    """
    phases = list_phases(store)
    for p in phases:
        if p.name == name:
            return p
    known = ", ".join(sorted(p.name for p in phases)) or "none"
    raise PhaseError(f"no phase {name!r} (defined: {known}; define one with `csmine phase add`)")


__all__ = [
    "PhaseAdded",
    "PhaseChange",
    "PhaseInfo",
    "add_phase",
    "define_phase",
    "find_phase",
    "overlapping_phases",
    "phase_history",
    "phase_infos",
    "remove_phase",
    "ticket_attributes",
    "tickets_frame",
]
