"""Ticket and phase-plan aggregates, and their events.

Events are immutable facts, named in the past tense, with explicit versioned topics
(``csmine/Ticket.Opened/v1``) so that moving a module never makes history unreadable.
Every ticket event carries business time ``occurred_at`` (tz-aware), ``actor`` and
``source_ref``; the library's own ``timestamp`` is the recording time.

History is accepted as it happened: nothing here checks a ticket against an SOP.
Corrections are new events (:class:`Ticket.Corrected`, :class:`Ticket.Retracted`).
When a re-imported export brings new or changed case attributes, the store records
:class:`Ticket.CaseAttributesChanged` (the old values stay in the history); unlike a
correction it says "the source now says", not "this was recorded in error".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from event_store.errors import InvalidEventError

TICKET_NAMESPACE = "csmine:ticket:"
PHASE_PLAN_ID = uuid5(NAMESPACE_URL, "csmine:phase-plan")

TOPIC_OPENED = "csmine/Ticket.Opened/v1"
TOPIC_ACTIVITY = "csmine/Ticket.ActivityRecorded/v1"
TOPIC_CORRECTED = "csmine/Ticket.Corrected/v1"
TOPIC_RETRACTED = "csmine/Ticket.Retracted/v1"
TOPIC_CASE_CHANGED = "csmine/Ticket.CaseAttributesChanged/v1"
# What every store holds: ``PhasePlan.Created`` below is the creation event class (the
# library takes it by its name for ``@event("Created")``), so its TOPIC is the stored one.
TOPIC_PLAN_CREATED = "csmine/PhasePlan.Created"
TOPIC_PHASE_DEFINED = "csmine/PhasePlan.PhaseDefined/v1"
TOPIC_PHASE_REMOVED = "csmine/PhasePlan.PhaseRemoved/v1"

#: Fields of a recorded activity that a correction may change.
CORRECTABLE_STEP_FIELDS = ("activity", "occurred_at", "started_at", "actor", "team")


def ticket_id(external_id: str) -> UUID:
    """The aggregate id of a source ticket id (stable: a re-import finds it)."""
    return uuid5(NAMESPACE_URL, TICKET_NAMESPACE + external_id)


def check_aware(value: datetime | None, what: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidEventError(f"{what} must be timezone-aware, got {value.isoformat()}")


class Ticket(Aggregate):
    """One customer-service ticket: its case attributes and every step of its life."""

    TOPIC = "csmine/Ticket"
    INITIAL_VERSION = 0

    class Event(Aggregate.Event):
        TOPIC = "csmine/Ticket.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "csmine/Ticket.Created"

    @staticmethod
    def create_id(external_id: str, **_: Any) -> UUID:
        return ticket_id(external_id)

    @event("Opened", topic=TOPIC_OPENED)
    def __init__(
        self,
        external_id: str,
        occurred_at: datetime,
        case: dict[str, Any],
        actor: str | None = None,
        source_ref: str | None = None,
    ) -> None:
        self.external_id = external_id
        self.opened_at = occurred_at
        self.case = dict(case)
        self.opened_by = actor
        self.steps: dict[int, dict[str, Any]] = {}
        self.retracted: dict[int, str] = {}

    @event("ActivityRecorded", topic=TOPIC_ACTIVITY)
    def record_activity(
        self,
        activity: str,
        occurred_at: datetime,
        actor: str | None = None,
        team: str | None = None,
        started_at: datetime | None = None,
        source_ref: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        # apply() runs before the library advances the version number.
        self.steps[self.version + 1] = {
            "activity": activity,
            "occurred_at": occurred_at,
            "actor": actor,
            "team": team,
            "started_at": started_at,
            "source_ref": source_ref,
            "attrs": dict(attrs or {}),
        }

    @event("Corrected", topic=TOPIC_CORRECTED)
    def correct(
        self,
        target_version: int,
        changes: dict[str, Any],
        reason: str,
        occurred_at: datetime,
        actor: str | None = None,
        source_ref: str | None = None,
    ) -> None:
        if target_version == 0:
            self.case.update(changes)
            return
        step = self.steps[target_version]
        for key, value in changes.items():
            if key in CORRECTABLE_STEP_FIELDS:
                step[key] = value
            else:
                step["attrs"][key] = value

    @event("CaseAttributesChanged", topic=TOPIC_CASE_CHANGED)
    def change_case(
        self,
        changes: dict[str, Any],
        reason: str,
        occurred_at: datetime,
        actor: str | None = None,
        source_ref: str | None = None,
    ) -> None:
        """The source reports new values for some case attributes (re-import)."""
        self.case.update(changes)

    @event("Retracted", topic=TOPIC_RETRACTED)
    def retract(
        self,
        target_version: int,
        reason: str,
        occurred_at: datetime,
        actor: str | None = None,
        source_ref: str | None = None,
    ) -> None:
        self.retracted[target_version] = reason

    def check_step(self, target_version: int) -> None:
        """Raise InvalidEventError unless ``target_version`` is a correctable event."""
        if target_version != 0 and target_version not in self.steps:
            raise InvalidEventError(
                f"ticket {self.external_id} has no recorded activity at version "
                f"{target_version} (versions with activities: "
                f"{', '.join(map(str, sorted(self.steps))) or 'none'}; 0 is the opening)"
            )
        if target_version in self.retracted:
            raise InvalidEventError(
                f"ticket {self.external_id} version {target_version} is already retracted"
            )


class PhasePlan(Aggregate):
    """The plan of phases (baseline, pilot, rollout, ...) as its own history."""

    TOPIC = "csmine/PhasePlan"
    INITIAL_VERSION = 0

    class Event(Aggregate.Event):
        TOPIC = "csmine/PhasePlan.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = TOPIC_PLAN_CREATED

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return PHASE_PLAN_ID

    @event("Created", topic=TOPIC_PLAN_CREATED)
    def __init__(self) -> None:
        self.phases: dict[str, dict[str, Any]] = {}

    @event("PhaseDefined", topic=TOPIC_PHASE_DEFINED)
    def define_phase(
        self,
        name: str,
        start: datetime,
        end: datetime | None,
        cohort: dict[str, list[str]],
        note: str = "",
        actor: str | None = None,
    ) -> None:
        self.phases[name] = {"name": name, "start": start, "end": end, "cohort": cohort, "note": note}

    @event("PhaseRemoved", topic=TOPIC_PHASE_REMOVED)
    def remove_phase(self, name: str, note: str = "", actor: str | None = None) -> None:
        self.phases.pop(name, None)
