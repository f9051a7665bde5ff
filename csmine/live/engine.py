"""The live engine: an ingest thread commits events in groups, a child process runs the monitors.

* the **ingest** thread is the store's one live writer of ticket events: requests put
  their parsed events on a queue (:meth:`LiveEngine.submit`) and wait for a future;
  the thread takes what is queued (waiting up to ``window_s`` after the first request
  for more), writes it in **one transaction** (:class:`event_store.ingest.Ingestor`,
  idempotent: events, hash chain and read model together), tells the monitors, and
  only then resolves each request's future with its count of new events: ``201``
  means durable;
* the **monitors** run in a child process (:mod:`csmine.live.monitor_process`), with
  their own connection to the store and their own interpreter lock, so that their
  work (reading the commits back, feeding, the timers, recording alerts) never takes
  the serving process's CPU time from HTTP and commits. A *sender* thread passes the
  child what is queued for it (commits, clock ticks, syncs, acknowledgements,
  open-ticket requests) a batch at a time; a *receiver* thread takes the child's
  answers: the alerts it recorded (kept here for ``/api/alerts`` and published to the
  subscribers: stream, webhook), acknowledgements, replies. The clock is read here
  (a test may inject one) and sent with each tick, every ``tick_s`` seconds; on the
  wall clock the child also reads it itself, to fire each deadline when it falls due.

Reads that must see the monitors up to date (``/api/alerts``, ``/api/open``) wait
for :meth:`LiveEngine.sync`: it resolves once the child handled everything sent
before it (every commit acknowledged before, every clock poke) and its alerts are here.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from csmine.live.monitor_process import GC_EVERY_S, GC_IDLE_S, quiet_gc

if TYPE_CHECKING:
    from event_store.ingest import IngestEvent
    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar

Clock = Callable[[], datetime]
log = logging.getLogger("csmine.live")


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
        monitors: ``process`` (a child process, its own interpreter lock) or ``thread``
            (the same worker in a thread of this process: one core, or to compare).
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
    monitors: str = "process"


class MonitorGone(RuntimeError):
    """The monitor process stopped (a read waiting for it is answered with what is here)."""


class LiveEngine:
    """The store's one live writer (ingest thread) and the monitor process's proxy."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._queue: queue.Queue[tuple[list[IngestEvent], Future[int]] | None] = queue.Queue()
        self._to_child: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._run_ingest, name="csmine-live-ingest", daemon=True),
                         threading.Thread(target=self._run_receiver, name="csmine-live-receiver", daemon=True),
                         threading.Thread(target=self._run_sender, name="csmine-live-sender", daemon=True)]
        self._ingest_ready = threading.Event()
        self._monitor_ready = threading.Event()
        self._stopped = threading.Event()
        self._startup_error: BaseException | None = None
        self.lock = threading.Lock()  # guards the alert list and rows for readers
        self.alerts: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._subscribers: list[Callable[[str, dict[str, Any]], None]] = []
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._conn: Any = None
        self._process: Any = None
        self.position = 0
        self.clock_us = 0
        self.committed_events = 0
        self.ingestor: Any = None
        self._stop = False
        self._gc_before: tuple[int, int, int] | None = None

    # -- life cycle -----------------------------------------------------------------------

    def start(self, timeout: float = 600.0) -> None:
        """Start the threads and the monitor process; returns once the stored log is fed."""
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + timeout
        self._ingest_ready.wait(timeout)
        self._monitor_ready.wait(max(0.0, deadline - time.monotonic()))
        if self._startup_error is not None:
            self.stop()
            raise self._startup_error
        if self.config.clock is not None:
            threading.Thread(target=self._run_ticker, name="csmine-live-ticker", daemon=True).start()
        self._gc_before = quiet_gc()

    def stop(self) -> None:
        self._stop = True
        self._stopped.set()
        self._queue.put(None)
        ingest, receiver, sender = self._threads
        if ingest.is_alive():
            ingest.join(30)
        self._to_child.put(("stop",))
        self._to_child.put(None)
        for thread in (sender, receiver):
            if thread.is_alive():
                thread.join(30)
        if self._gc_before is not None:
            gc.unfreeze()  # the collector as it was (an engine in a longer-lived process, tests)
            gc.set_threshold(*self._gc_before)
            self._gc_before = None

    def subscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``callback(kind, data)`` from the receiver thread on each ``alert``, ``ack`` and ``commit``."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def now(self) -> datetime:
        """The monitors' clock: the wall clock, or the latest event's time on event time."""
        if self.config.clock is not None:
            return self.config.clock()
        from event_store.readmodel.projection import _US, EPOCH

        return EPOCH + self.clock_us * _US

    # -- requests (any thread) -------------------------------------------------------------

    def submit(self, events: list[IngestEvent]) -> Future[int]:
        """Queue a request's events; the future gives how many were new, once committed."""
        fut: Future[int] = Future()
        self._queue.put((events, fut))
        return fut

    def acknowledge(self, alert: str, actor: str | None, note: str) -> Future[dict[str, Any]]:
        """Record an acknowledgement; the future gives the alert's row with it (``InvalidEventError``: no such alert)."""
        if alert not in self._by_id:  # every alert the child recorded is here before its later replies
            from event_store.errors import InvalidEventError

            fut: Future[dict[str, Any]] = Future()
            fut.set_exception(InvalidEventError(f"no alert {alert!r}"))
            return fut
        return self._ask("ack", alert, actor, note)

    def poke(self) -> None:
        """Make the monitors look at the clock now (tests with an injected clock)."""
        self._to_child.put(("tick", self.config.clock() if self.config.clock is not None else None))

    def sync(self) -> Future[None]:
        """A future resolved once the monitors handled everything queued before (commits, pokes)."""
        return self._ask("sync")

    def open_tickets(self, limit: int | None = None) -> Future[tuple[datetime, int, list[dict[str, Any]]]]:
        """The open tickets, most urgent first: ``(now, count, the first limit rows)`` (after a sync)."""
        now = self.config.clock() if self.config.clock is not None else None
        return self._ask("open", now, limit)

    def _ask(self, kind: str, *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        req = next(self._ids)
        self._pending[req] = fut
        if self._process is not None and not self._process.is_alive() and self._monitor_ready.is_set():
            self._pending.pop(req, None)
            fut.set_exception(MonitorGone("the monitor process stopped"))
            return fut
        self._to_child.put((kind, req, *args))
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
        next_collect = time.monotonic()
        while not self._stop:
            try:
                item = self._queue.get(timeout=GC_IDLE_S)
            except queue.Empty:  # quiet: the full collection here, not while requests wait
                if self._gc_before is not None and time.monotonic() >= next_collect:
                    gc.collect()
                    next_collect = time.monotonic() + GC_EVERY_S
                continue
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
            self._commit(batch)

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
            self._to_child.put(("commit",))  # before the 201s: a later sync sees it
        for (_, fut), n in zip(writes, counts, strict=True):
            self.committed_events += n
            fut.set_result(n)

    # -- the monitor process's two pipes' ends -------------------------------------------------

    def _run_sender(self) -> None:
        """Pass what is queued for the child, a batch per send (one pickle, one write)."""
        self._monitor_ready.wait()
        while True:
            item = self._to_child.get()
            batch = [item]
            while True:
                try:
                    batch.append(self._to_child.get_nowait())
                except queue.Empty:
                    break
            items = [it for it in batch if it is not None]
            if items and self._conn is not None:
                try:
                    self._conn.send(items)
                except (OSError, ValueError):  # the child is gone: the receiver fails what waits
                    pass
            if None in batch:
                return

    def _run_receiver(self) -> None:
        """Start the child (from this long-lived thread: it dies with it), then take its answers."""
        import multiprocessing

        if not self._ingest_ready.wait(600) or self._startup_error is not None:
            self._monitor_ready.set()
            return
        from csmine.live.monitor_process import run_monitor

        cfg = replace(self.config, clock=None)  # the clock stays here; its readings go with the ticks
        now = self.config.clock() if self.config.clock is not None else None
        wall = self.config.clock is wall_clock  # the child reads it too: each deadline fires when due
        if cfg.monitors == "thread":  # the same worker and messages, on this process's GIL
            ours, theirs = multiprocessing.Pipe()
            self._process = threading.Thread(target=run_monitor, args=(cfg, now, None, theirs, wall),
                                             name="csmine-live-monitors", daemon=True)
            self._process.start()
        else:
            ctx = multiprocessing.get_context("spawn")
            ours, theirs = ctx.Pipe()
            self._process = ctx.Process(target=run_monitor, args=(cfg, now, os.getpid(), theirs, wall),
                                        name="csmine-live-monitors", daemon=True)
            self._process.start()
            theirs.close()
        self._conn = ours
        try:
            self._receive(ours)
        finally:
            self._gone()
            ours.close()
            self._process.join(30)
            if self._process.is_alive() and hasattr(self._process, "kill"):
                self._process.kill()

    def _receive(self, conn: Any) -> None:
        while True:
            try:
                batch = conn.recv()
            except (EOFError, OSError):
                if not self._stopped.is_set():
                    log.error("the monitors stopped (exit code %s)", getattr(self._process, "exitcode", None))
                if not self._monitor_ready.is_set():
                    self._fail(MonitorGone(f"the monitors stopped at start "
                                           f"(exit code {getattr(self._process, 'exitcode', None)})"))
                return
            for message in batch:
                self._handle(message)

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "alerts":
            with self.lock:
                for row in message[1]:
                    self.alerts.append(row)
                    self._by_id[row["id"]] = row
            for row in message[1]:
                self._publish("alert", row)
        elif kind == "fed":
            self.position, self.clock_us = message[1], message[2]
            if message[3]:
                self._publish("commit", {"events": self.committed_events, "position": self.position})
        elif kind == "acked":
            _, req, alert, ack = message
            with self.lock:
                row = self._by_id[alert]
                row["acknowledged"] = ack
            self._publish("ack", {"id": alert, "acknowledged": ack})
            self._resolve(req, row, None)
        elif kind == "reply":
            self._resolve(*message[1:])
        elif kind == "ready":
            state = message[1]
            with self.lock:
                self.alerts = list(state["alerts"])
                self._by_id = {row["id"]: row for row in self.alerts}
            self.position, self.clock_us = state["position"], state["clock_us"]
            self._monitor_ready.set()
        elif kind == "failed":
            self._fail(message[1])

    def _resolve(self, req: int, value: Any, exc: BaseException | None) -> None:
        fut = self._pending.pop(req, None)
        if fut is None or not fut.set_running_or_notify_cancel():  # a reader that gave up waiting
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)

    def _gone(self) -> None:
        """The child stopped: what waits for it is answered (reads with what is here)."""
        for req in list(self._pending):
            self._resolve(req, None, MonitorGone("the monitor process stopped"))

    def _run_ticker(self) -> None:
        """Send the clock's reading every ``tick_s``: the deadlines fire when no event arrives."""
        clock = self.config.clock
        assert clock is not None
        while not self._stopped.wait(self.config.tick_s):
            self._to_child.put(("tick", clock()))

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        for callback in list(self._subscribers):
            try:
                callback(kind, data)
            except Exception:  # a subscriber that went away must not stop the engine
                continue


def _current() -> BaseException:
    import sys

    exc = sys.exc_info()[1]
    assert exc is not None
    return exc


__all__ = ["EngineConfig", "LiveEngine", "MonitorGone", "wall_clock"]
