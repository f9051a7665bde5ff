"""Alerts as their own history: a stream of events apart from the tickets.

A live monitor (``csmine serve``) records each alert it raises as an
:class:`AlertRecord` aggregate: ``AlertRaised`` (what fired, when, on which
evidence) and later ``AlertAcknowledged`` (who acknowledged it, when). Alerts are
aggregates of their own, not ticket events, so the read model the analytics load
(``tickets`` and ``event_log``, see :mod:`event_store.readmodel.projection`) never
sees them, while they are still in the store's one log and its hash chain.

The aggregate id is derived from the alert's **key** (a string the monitor builds
from what makes the alert unique), so recording the same alert twice is refused by
the store itself: an alert fires once, across restarts too. Nothing here knows what
an SOP or a monitor is: the alert's fields are plain values chosen by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.application import AggregateNotFoundError

from event_store.errors import InvalidEventError

if TYPE_CHECKING:
    from event_store.application import TicketStore

TOPIC_ALERT_RAISED = "csmine/Alert.Raised/v1"
TOPIC_SETTINGS_CHANGED = "csmine/MonitorSettings.Changed/v1"
TOPIC_ALERT_ACKNOWLEDGED = "csmine/Alert.Acknowledged/v1"
ALERT_NAMESPACE = "csmine:alert:"


def alert_id(key: str) -> UUID:
    """The aggregate id of an alert key (stable: the same alert always has the same id)."""
    return uuid5(NAMESPACE_URL, ALERT_NAMESPACE + key)


class AlertRecord(Aggregate):
    """One raised alert and its acknowledgement."""

    TOPIC = "csmine/Alert"
    INITIAL_VERSION = 0

    class Event(Aggregate.Event):
        TOPIC = "csmine/Alert.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "csmine/Alert.Created"

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return alert_id(key)

    @event("Raised", topic=TOPIC_ALERT_RAISED)
    def __init__(self, key: str, fired_at: datetime, fields: dict[str, Any], evidence: dict[str, Any]) -> None:
        self.key = key
        self.fired_at = fired_at
        self.fields = dict(fields)
        self.evidence = dict(evidence)
        self.acknowledged: dict[str, Any] | None = None

    @event("Acknowledged", topic=TOPIC_ALERT_ACKNOWLEDGED)
    def acknowledge(self, at: datetime, actor: str | None = None, note: str = "") -> None:
        self.acknowledged = {"at": at, "actor": actor, "note": note}


class MonitorSettings(Aggregate):
    """The settings a monitor used from a log position on (e.g. thresholds measured on history).

    A monitor that learns a threshold from the store's history records it here with
    the log position it applies from, so that feeding the same log again (a restart)
    uses the same threshold at the same place and raises the same alerts.
    """

    TOPIC = "csmine/MonitorSettings"
    INITIAL_VERSION = 0

    @staticmethod
    def create_id(monitor: str, **_: Any) -> UUID:
        return uuid5(NAMESPACE_URL, "csmine:monitor-settings:" + monitor)

    @event("Created", topic="csmine/MonitorSettings.Created/v1")
    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.history: list[tuple[int, dict[str, Any]]] = []

    @event("Changed", topic=TOPIC_SETTINGS_CHANGED)
    def change(self, position: int, settings: dict[str, Any]) -> None:
        self.history.append((position, dict(settings)))


def settings_history(store: TicketStore, name: str) -> list[tuple[int, dict[str, Any]]]:
    """``(position, settings)`` of a monitor's settings, oldest first (empty if never set)."""
    try:
        record = store.repository.get(MonitorSettings.create_id(name))
    except AggregateNotFoundError:
        return []
    return list(record.history)


def change_settings(store: TicketStore, name: str, position: int, settings: dict[str, Any]) -> None:
    """Record the settings a monitor uses from log position ``position`` on."""
    try:
        record = store.repository.get(MonitorSettings.create_id(name))
    except AggregateNotFoundError:
        record = MonitorSettings(monitor=name)
    record.change(position, settings)
    store.save(record)
    store.projection.catch_up()  # nothing to project: the read model's position moves past it


def raise_alerts(store: TicketStore, alerts: Sequence[tuple[str, datetime, dict[str, Any], dict[str, Any]]]) -> int:
    """Record new alerts, all in **one transaction**; an alert already recorded is left out.

    The batch append of a monitor's tick: the ``AlertRaised`` events are built and
    encoded directly (the bytes :class:`AlertRecord` would store, so the repository
    reads them and :func:`acknowledge_alert` continues them), written with their
    hash-chain links in one locked transaction, and the read model's position moves
    past them in the same transaction when it was caught up (it has nothing to do for
    alerts), so the next ticket window is projected in its own transaction again.
    Which keys the store holds already is read in that transaction (primary-key
    look-ups), so a restart that computes an alert again records it once.

    Args:
        store: an open store.
        alerts: ``(key, fired_at, fields, evidence)``: the unique key, the time it fired
            (tz-aware), the alert's fields and the evidence it rests on (JSON values).

    Returns:
        How many were recorded (the others were already in the store).
    """
    from eventsourcing.persistence import StoredEvent

    from event_store.live_write import _channel, _events_table, _protector, _versions, advance_read_model
    from event_store.persistence.failures import storage_errors
    from event_store.persistence.recorders import insert_stored_events, write_chain

    by_id: dict[UUID, tuple[str, datetime, dict[str, Any], dict[str, Any]]] = {}
    for a in alerts:
        by_id.setdefault(alert_id(a[0]), a)
    if not by_id:
        return 0
    encode = store.mapper.transcoder.encode
    protect = _protector(store)
    stamp = datetime.now(UTC)
    # Encoded before the write lock is taken: the ticket windows wait only for the inserts.
    encoded = [StoredEvent(aid, 0, TOPIC_ALERT_RAISED, protect(encode(
                   {"timestamp": stamp, "originator_topic": AlertRecord.TOPIC, "key": k, "fired_at": t,
                    "fields": dict(f), "evidence": dict(e)})))
               for aid, (k, t, f, e) in by_id.items()]
    with storage_errors(store.location.display), store.db.transaction(write=True) as cur:
        table = _events_table(store)
        if cur.postgres:
            from event_store.readmodel.projection import lock_projection

            cur.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            lock_projection(cur)
        held = _versions(cur, table, list(by_id))
        stored = [ev for ev in encoded if ev.originator_id not in held]
        if not stored:
            return 0
        before = cur.execute(f"SELECT MAX({'notification_id' if cur.postgres else 'rowid'}) FROM {table}").fetchone()
        last_before = int(before[0]) if before and before[0] is not None else 0
        channel = _channel(store, cur)
        nids = insert_stored_events(cur, table, stored, channel=channel)
        write_chain(cur, stored, nids, table)
        advance_read_model(cur, last_before, nids[-1])
    return len(stored)


def acknowledge_alert(store: TicketStore, aggregate_id: UUID, *, actor: str | None = None, note: str = "",
                      at: datetime | None = None) -> dict[str, Any]:
    """Record that an alert was acknowledged (once: a second acknowledgement changes nothing).

    Returns:
        The acknowledgement (``at``, ``actor``, ``note``), the first one if there were two.

    Raises:
        InvalidEventError: no alert has this id.
    """
    try:
        record = store.repository.get(aggregate_id)
    except AggregateNotFoundError:
        raise InvalidEventError(f"no alert {aggregate_id} in the store") from None
    if not isinstance(record, AlertRecord):
        raise InvalidEventError(f"{aggregate_id} is not an alert")
    if record.acknowledged is None:
        record.acknowledge(at or datetime.now(UTC), actor=actor, note=note)
        store.save(record)
        store.projection.catch_up()  # nothing to project: the read model's position moves past it
    assert record.acknowledged is not None
    return dict(record.acknowledged)


def iter_alerts(store: TicketStore, *, page: int = 5000) -> Iterator[dict[str, Any]]:
    """Every recorded alert and acknowledgement, in log order, as plain dicts.

    Each item is ``{"event": "raised"|"acknowledged", "id", "position", ...}``: a raised
    alert carries ``key``, ``fired_at``, ``fields``, ``evidence``; an acknowledgement
    ``id`` (the alert's aggregate id), ``at``, ``actor`` and ``note``.
    """
    decode = store.mapper.transcoder.decode
    topics = (TOPIC_ALERT_RAISED, TOPIC_ALERT_ACKNOWLEDGED)
    position = 0
    while True:
        items = store.recorder.select_notifications(position, page, topics=topics, inclusive_of_start=False)
        if not items:
            return
        for n in items:
            d = decode(store._decrypt(bytes(n.state)))
            base = {"id": str(n.originator_id), "position": n.id}
            if n.topic == TOPIC_ALERT_RAISED:
                yield {"event": "raised", **base, "key": d["key"], "fired_at": d["fired_at"],
                       "fields": d.get("fields") or {}, "evidence": d.get("evidence") or {}}
            else:
                yield {"event": "acknowledged", **base, "at": d["at"], "actor": d.get("actor"),
                       "note": d.get("note") or ""}
        position = items[-1].id


__all__ = [
    "TOPIC_ALERT_ACKNOWLEDGED",
    "TOPIC_ALERT_RAISED",
    "AlertRecord",
    "MonitorSettings",
    "change_settings",
    "settings_history",
    "acknowledge_alert",
    "alert_id",
    "iter_alerts",
    "raise_alerts",
]
