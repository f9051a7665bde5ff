"""The live engine: an ingest thread commits events in groups, a monitor thread runs the monitors.

Two threads, each with its own connection to the store:

* the **ingest** thread is the store's one live writer of ticket events: requests put
  their parsed events on a queue (:meth:`LiveEngine.submit`) and wait for a future;
  the thread takes what is queued (waiting up to ``window_s`` after the first request
  for more), writes it in **one transaction** (:class:`event_store.ingest.Ingestor`,
  idempotent: events, hash chain and read model together), tells the monitor thread,
  and only then resolves each request's future with its count of new events:
  ``201`` means durable;
* the **monitor** thread reads what was committed back from the store's log (the
  events with their log positions), feeds the
  :class:`csmine.live.online.OnlineMonitors`, moves them on by the clock every
  ``tick_s`` seconds (so deadlines fire when no event arrives), records **all the
  alerts of one round in one transaction** (:func:`event_store.alerts.raise_alerts`)
  and publishes them, and records acknowledgements. Its work never delays a commit
  (the two threads share only the store's write lock, for the alert transaction).

Reads that must see the monitors up to date (``/api/alerts``, ``/api/open``) wait
for :meth:`LiveEngine.sync`: it resolves once the monitor thread has handled
everything queued before it (every commit acknowledged before, every clock poke).

On start the monitor thread feeds the whole stored log, page by page, through fresh
monitors (the same events in the same order give the same alerts with the same keys)
and records only the alerts not yet in the store: a restart never refires an alert
and a crash between a commit and its alerts loses none.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from csmine.live.online import LiveAlert, OnlineMonitors, stream_from_notifications, wait_p90

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.ingest import IngestEvent
    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar

Clock = Callable[[], datetime]
#: Name of the stuck monitor's settings (the P90 table) in the store.
STUCK_SETTINGS = "stuck-p90"
#: Ticket events read from the log at a time when the monitors catch up (start, commits).
FEED_PAGE = 20_000
#: The full garbage collection runs after this long without a commit (seconds) ...
GC_IDLE_S = 2.0
#: ... at most this often (seconds); see :func:`_quiet_gc`.
GC_EVERY_S = 60.0
#: How often the monitor thread checkpoints the SQLite WAL (seconds; the commits do not).
CHECKPOINT_S = 1.0


def wall_clock() -> datetime:
    """The real time (UTC): the default clock of the monitors."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class EngineConfig:
    """What the engine monitors and how.

    Attributes:
        store: store location (SQLite path or postgresql:// URL).
        sop: the SOP monitored.
        shares: shares of a limit for risk alerts.
        calendar: business calendar (None: wall clock).
        tz: IANA zone name of business days (None: UTC).
        clock: the wall clock (injectable); None runs on **event time**: the clock is
            the latest event's business time (to replay history through the server).
        window_s: how long a commit waits after the first request for more.
        tick_s: how often the clock moves the monitors on without events.
        stuck: whether to raise stuck-ticket alerts (P90 from the stored history).
        stuck_refresh_s: how often the P90 table is measured again (and recorded, when changed).
    """

    store: str
    sop: SOP
    shares: tuple[float, ...] = (0.5, 0.75)
    calendar: BusinessCalendar | None = None
    tz: str | None = None
    clock: Clock | None = wall_clock
    window_s: float = 0.002
    tick_s: float = 0.25
    stuck: bool = True
    stuck_refresh_s: float = 3600.0


def alert_json(la: LiveAlert, position: int | None = None) -> dict[str, Any]:
    """The alert as the API gives it (plain JSON values)."""
    from event_store.alerts import alert_id

    a = la.alert
    return {"id": str(alert_id(la.key)), "key": la.key, "time": a.time.isoformat(), "ticket": a.ticket,
            "kind": a.kind, "step": a.step, "detail": a.detail, "sop": a.sop, "event_id": a.event_id,
            "actor": a.actor, "phase": a.phase, "share": la.share, "evidence": la.evidence,
            "position": position, "acknowledged": None}


class LiveEngine:
    """The store's one live writer (ingest thread) and the monitors' one feeder (monitor thread)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._queue: queue.Queue[tuple[str, Any, Future[Any]] | None] = queue.Queue()
        self._monitor_queue: queue.Queue[tuple[str, Any, Future[Any] | None] | None] = queue.Queue()
        self._ingest_thread = threading.Thread(target=self._run_ingest, name="csmine-live-ingest", daemon=True)
        self._monitor_thread = threading.Thread(target=self._run_monitor, name="csmine-live-monitor", daemon=True)
        self._ingest_ready = threading.Event()
        self._monitor_ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.lock = threading.Lock()  # guards the monitors and the alert list for readers
        self.alerts: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._subscribers: list[Callable[[str, dict[str, Any]], None]] = []
        self.position = 0
        self.committed_events = 0
        self.monitors: OnlineMonitors | None = None
        self.ingestor: Any = None
        self._stop = False
        self._next_refresh = float("inf")

    # -- life cycle -----------------------------------------------------------------------

    def start(self, timeout: float = 600.0) -> None:
        """Start both threads; returns once the stored log is fed (raises what startup raised)."""
        self._ingest_thread.start()
        self._monitor_thread.start()
        deadline = time.monotonic() + timeout
        self._ingest_ready.wait(timeout)
        self._monitor_ready.wait(max(0.0, deadline - time.monotonic()))
        if self._startup_error is not None:
            self.stop()
            raise self._startup_error

    def stop(self) -> None:
        self._stop = True
        self._queue.put(None)
        self._monitor_queue.put(None)
        for thread in (self._ingest_thread, self._monitor_thread):
            if thread.is_alive():
                thread.join(30)

    def subscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``callback(kind, data)`` from the monitor thread on each ``alert``, ``ack`` and ``commit``."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def now(self) -> datetime:
        """The monitors' clock: the wall clock, or the latest event's time on event time."""
        if self.config.clock is not None:
            return self.config.clock()
        from event_store.readmodel.projection import _US, EPOCH

        return EPOCH + (self.monitors.clock_us if self.monitors else 0) * _US

    # -- requests (any thread) -------------------------------------------------------------

    def submit(self, events: list[IngestEvent]) -> Future[int]:
        """Queue a request's events; the future gives how many were new, once committed."""
        fut: Future[int] = Future()
        self._queue.put(("events", events, fut))
        return fut

    def acknowledge(self, alert: str, actor: str | None, note: str) -> Future[dict[str, Any]]:
        fut: Future[dict[str, Any]] = Future()
        self._monitor_queue.put(("ack", (alert, actor, note), fut))
        return fut

    def poke(self) -> None:
        """Make the monitor thread look at the clock now (tests with an injected clock)."""
        self._monitor_queue.put(("tick", None, None))

    def sync(self) -> Future[None]:
        """A future resolved once the monitors handled everything queued before (commits, pokes)."""
        fut: Future[None] = Future()
        self._monitor_queue.put(("sync", None, fut))
        return fut

    # -- the ingest thread ---------------------------------------------------------------------

    def _run_ingest(self) -> None:
        from event_store import open_store
        from event_store.ingest import Ingestor
        from event_store.live_write import defer_checkpoints

        try:
            store = open_store(self.config.store, create=True)
        except BaseException as exc:
            self._fail(exc)
            return
        try:
            defer_checkpoints(store)
            self.ingestor = Ingestor(store)
        except BaseException as exc:
            store.close()
            self._fail(exc)
            return
        self._ingest_ready.set()
        try:
            self._ingest_loop()
        finally:
            store.close()

    def _fail(self, exc: BaseException) -> None:
        if self._startup_error is None:
            self._startup_error = exc
        self._ingest_ready.set()
        self._monitor_ready.set()

    def _ingest_loop(self) -> None:
        window = self.config.window_s
        while not self._stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            deadline = time.monotonic() + window
            while True:
                left = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._stop = True
                    break
                batch.append(nxt)
            self._commit([(events, fut) for _, events, fut in batch])

    def _commit(self, writes: list[tuple[list[IngestEvent], Future[int]]]) -> None:
        try:
            counts = self.ingestor.append([events for events, _ in writes])
        except Exception:
            if len(writes) == 1:
                writes[0][1].set_exception(_current())
                return
            for one in writes:  # find the request that failed; the others are written alone
                self._commit([one])
            return
        if any(counts):
            self._monitor_queue.put(("commit", None, None))  # before the 201s: a later sync sees it
        for (_, fut), n in zip(writes, counts, strict=True):
            self.committed_events += n
            fut.set_result(n)

    # -- the monitor thread --------------------------------------------------------------------

    def _run_monitor(self) -> None:
        from event_store import open_store
        from event_store.live_write import defer_checkpoints

        if not self._ingest_ready.wait(600) or self._startup_error is not None:
            self._monitor_ready.set()
            return
        try:
            store = open_store(self.config.store, create=True)
        except BaseException as exc:
            self._fail(exc)
            return
        try:
            defer_checkpoints(store)
            self._startup(store)
        except BaseException as exc:
            store.close()
            self._fail(exc)
            return
        self._monitor_ready.set()
        thresholds = _quiet_gc()
        try:
            self._monitor_loop(store)
        finally:
            store.close()
            gc.unfreeze()  # the collector as it was (an engine in a longer-lived process, tests)
            gc.set_threshold(*thresholds)

    def _startup(self, store: TicketStore) -> None:
        from event_store.alerts import iter_alerts, settings_history

        cfg = self.config
        tz = UTC
        if cfg.tz:
            from zoneinfo import ZoneInfo

            tz = ZoneInfo(cfg.tz)  # type: ignore[assignment]
        self.monitors = OnlineMonitors(cfg.sop, shares=cfg.shares, calendar=cfg.calendar, tz=tz)
        self._recorded: set[str] = set()
        acks: dict[str, dict[str, Any]] = {}
        for item in iter_alerts(store):
            if item["event"] == "raised":
                self._recorded.add(item["key"])
                row = {**item["fields"], "id": item["id"], "key": item["key"], "position": item["position"],
                       "acknowledged": None}
                self.alerts.append(row)
                self._by_id[item["id"]] = row
            else:
                acks[item["id"]] = {"at": _iso(item["at"]), "actor": item["actor"], "note": item["note"]}
        for aid, ack in acks.items():
            if aid in self._by_id:
                self._by_id[aid]["acknowledged"] = ack
        self._names: dict[UUID, str] = {}
        # The stored log through fresh monitors, with the stuck thresholds in force at each
        # position: the alerts not yet recorded (a crash before they were) are recorded now.
        self._record(store, self._feed_new(store, settings_history(store, STUCK_SETTINGS) if cfg.stuck else []))
        if cfg.stuck:
            self._refresh_stuck(store)
        if cfg.clock is not None:
            self._record(store, self.monitors.advance(cfg.clock()))

    def _monitor_loop(self, store: TicketStore) -> None:
        from event_store.live_write import checkpoint

        cfg = self.config
        next_tick = time.monotonic() + cfg.tick_s
        next_checkpoint = time.monotonic() + CHECKPOINT_S
        last_commit = next_collect = time.monotonic()
        while not self._stop:
            try:
                first = self._monitor_queue.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                first = ("tick", None, None)
            items = [first]
            while True:  # everything queued meanwhile: one round, one alert transaction
                try:
                    items.append(self._monitor_queue.get_nowait())
                except queue.Empty:
                    break
            if any(it is None for it in items):
                break
            self._round(store, items, time.monotonic() >= next_tick)  # type: ignore[arg-type]
            now = time.monotonic()
            if now >= next_checkpoint:  # the WAL into the database, off the commits' path
                checkpoint(store)
                next_checkpoint = now + CHECKPOINT_S
            if any(it is not None and it[0] == "commit" for it in items):
                last_commit = now
            elif now >= next_collect and now - last_commit >= GC_IDLE_S:  # the full collection, when quiet
                gc.collect()
                next_collect = time.monotonic() + GC_EVERY_S
            if time.monotonic() >= next_tick or any(k == "tick" for k, _, _ in items):  # type: ignore[misc]
                next_tick = time.monotonic() + cfg.tick_s

    def _round(self, store: TicketStore, items: list[tuple[str, Any, Future[Any] | None]], due: bool) -> None:
        """Commits fed, the clock moved on, alerts recorded (one transaction), acks, then syncs resolved."""
        cfg = self.config
        assert self.monitors is not None
        fired: list[LiveAlert] = []
        if any(kind == "commit" for kind, _, _ in items):
            fired += self._feed_new(store)
        if cfg.stuck and time.monotonic() >= self._next_refresh:
            self._record(store, fired)
            fired = []
            self._refresh_stuck(store)
        if cfg.clock is not None and (due or any(kind == "tick" for kind, _, _ in items)):
            with self.lock:
                fired += self.monitors.advance(cfg.clock())
        try:
            self._record(store, fired)
        except Exception:  # the store refused: the next start records them (fed from the log again)
            import logging

            logging.getLogger("csmine.live").exception("recording %d alerts failed", len(fired))
        if any(kind == "commit" for kind, _, _ in items):
            self._publish("commit", {"events": self.committed_events, "position": self.position})
        for kind, data, fut in items:
            if fut is None or not fut.set_running_or_notify_cancel():  # a reader that gave up waiting
                continue
            if kind == "ack":
                try:
                    fut.set_result(self._ack(store, *data))
                except Exception as exc:
                    fut.set_exception(exc)
            elif kind == "sync":
                fut.set_result(None)

    def _feed_new(self, store: TicketStore,
                  switches: list[tuple[int, dict[str, Any]]] | None = None) -> list[LiveAlert]:
        """Feed what was committed since the last feed, page by page; ``switches``: stuck thresholds by position.

        Returns the alerts that fired (recorded by the caller).
        """
        monitors = self.monitors
        assert monitors is not None
        pending = list(switches or [])
        fired: list[LiveAlert] = []
        while True:
            last, items, more = stream_from_notifications(store, self.position, self._names, self.config.sop,
                                                          limit=FEED_PAGE)
            with self.lock:
                start = 0
                for i, item in enumerate(items):
                    if pending and item.event_id > pending[0][0]:
                        fired += monitors.feed(items[start:i])
                        start = i
                        while pending and item.event_id > pending[0][0]:
                            monitors.set_stuck_after(pending.pop(0)[1].get("p90") or {})
                fired += monitors.feed(items[start:])
                self.position = last
            if not more:
                break
        with self.lock:
            while pending:
                monitors.set_stuck_after(pending.pop(0)[1].get("p90") or {})
        return fired

    def _refresh_stuck(self, store: TicketStore) -> None:
        """Measure each step's P90 wait on the store's history; record it when it changed."""
        from event_store.alerts import change_settings

        from csmine.eventlog.loading import load_event_log

        assert self.monitors is not None
        table = wait_p90(load_event_log(store), self.config.sop) if self.monitors.events else {}
        if table != self.monitors.stuck_after:
            change_settings(store, STUCK_SETTINGS, self.position, {"p90": table})
            with self.lock:
                self.monitors.set_stuck_after(table)
        self._next_refresh = time.monotonic() + self.config.stuck_refresh_s

    def _record(self, store: TicketStore, fired: list[LiveAlert]) -> None:
        from event_store.alerts import raise_alerts

        new = [la for la in fired if la.key not in self._recorded]
        if not new:
            return
        recorded_at = datetime.now(UTC).isoformat()
        rows = []
        for la in new:
            row = alert_json(la)
            row["recorded_at"] = recorded_at
            rows.append(row)
        fields_of = [{k: v for k, v in row.items() if k not in ("id", "key", "position", "acknowledged")}
                     for row in rows]
        raise_alerts(store, [(la.key, la.alert.time, f, la.evidence) for la, f in zip(new, fields_of, strict=True)])
        with self.lock:
            for la, row in zip(new, rows, strict=True):
                self._recorded.add(la.key)
                self.alerts.append(row)
                self._by_id[row["id"]] = row
        for row in rows:
            self._publish("alert", row)

    def _ack(self, store: TicketStore, alert: str, actor: str | None, note: str) -> dict[str, Any]:
        from event_store.alerts import acknowledge_alert
        from event_store.errors import InvalidEventError

        row = self._by_id.get(alert)
        if row is None:
            raise InvalidEventError(f"no alert {alert!r}")
        ack = acknowledge_alert(store, UUID(alert), actor=actor, note=note)
        ack = {"at": _iso(ack["at"]), "actor": ack.get("actor"), "note": ack.get("note") or ""}
        with self.lock:
            row["acknowledged"] = ack
        self._publish("ack", {"id": alert, "acknowledged": ack})
        return row

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        for callback in list(self._subscribers):
            try:
                callback(kind, data)
            except Exception:  # a subscriber that went away must not stop the engine
                continue


def _quiet_gc() -> tuple[int, int, int]:
    """Keep the garbage collector's full passes off the acknowledgement path.

    With tens of thousands of open tickets the monitors hold millions of objects, and
    Python's automatic full collection (every tenth middle one) walked them all in
    100-350 ms while requests waited (the p99 acknowledgement). So: what start-up made
    (modules, the stored log's monitors) is frozen out of the collector's walks, the
    young generations are collected as usual (the cycles a request leaves die there),
    and the full pass runs in the monitor thread when no commit came for
    :data:`GC_IDLE_S` seconds (at most every :data:`GC_EVERY_S`). Returns the thresholds before.
    """
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(before[0], 5_000), before[1], 1_000_000)
    return before


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _current() -> BaseException:
    import sys

    exc = sys.exc_info()[1]
    assert exc is not None
    return exc


__all__ = ["EngineConfig", "LiveEngine", "alert_json", "wall_clock"]
