"""The baseline a daily review holds its KPIs against: which phase, and its tickets.

The rule (``csmine review --day``): the phase asked for (``--baseline``), else the phase
named ``baseline`` when one is defined; none when that is the very phase under review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine.errors import PhaseError
from csmine.eventlog.filters import LogFilter

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore

#: The phase held against when none is asked for.
DEFAULT_BASELINE = "baseline"


def baseline_log(store: TicketStore, log_filter: LogFilter, requested: str | None = None, *,
                 attributes: tuple[str, ...] = ("satisfaction",)) -> tuple[str | None, pd.DataFrame | None]:
    """The baseline phase's name and events for a review of ``log_filter``'s tickets.

    Args:
        store: the store.  log_filter: the tickets under review (its ``phase`` is not its own baseline).
        requested: the baseline phase asked for; None: :data:`DEFAULT_BASELINE` if defined.
        attributes: case attributes to load with the events.

    Returns:
        ``(name, events)`` (ties ordered by ``log_filter.tie_order``), or ``(None, None)``
        when there is no baseline.

    Raises:
        PhaseError: ``requested`` names no phase.
    """
    from csmine.eventlog.loading import list_phases, load_event_log

    known = {p.name for p in list_phases(store)}
    if requested and requested not in known:
        raise PhaseError(f"no phase {requested!r} (see `csmine phase list`)")
    name = requested or (DEFAULT_BASELINE if DEFAULT_BASELINE in known else None)
    if not name or name == log_filter.phase:
        return None, None
    return name, load_event_log(store, LogFilter(phase=name, tie_order=log_filter.tie_order),
                                attributes=list(attributes))
