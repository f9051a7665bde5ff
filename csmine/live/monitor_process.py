"""The monitor process: the online monitors of ``csmine serve``, outside the server's GIL.

:class:`csmine.live.engine.LiveEngine` starts :func:`run_monitor` in a child process
(``multiprocessing`` *spawn*) with one end of a pipe. The child opens its own
connection to the store and does what the monitor thread of one process did, so the
serving process is left with HTTP, parsing and the commits:

* it reads what was committed back from the store's read model (the events with their
  log positions, :func:`csmine.live.online.stream_committed`: rows, not decoded events), feeds the
  :class:`csmine.live.online.OnlineMonitors`, moves them on by the clock the parent
  sends every ``tick_s`` (the parent owns the clock, which a test may inject), records
  **all the alerts of one round in one transaction** (:func:`event_store.alerts.raise_alerts`)
  and only then sends them to the parent, which publishes them; it records
  acknowledgements and answers the open-ticket and sync requests;
* the parent sends a batch of messages at a time (``commit``, ``tick``, ``sync``,
  ``ack``, ``open``, ``stop``); the child takes every batch queued and handles them
  as one **round** (commits fed, the clock moved on, alerts recorded, then the
  replies, in order), and answers with one batch. A ``sync`` is answered after the
  commits sent before it were fed and their alerts recorded and sent: the parent has
  them when the sync resolves.

On start the child feeds the whole stored log, page by page, through fresh monitors
(the same events in the same order give the same alerts with the same keys) and
records only the alerts not yet in the store: a restart never refires an alert and a
crash between a commit and its alerts loses none. The child dies with the server (Linux
``PR_SET_PDEATHSIG``, and the pipe's end of file elsewhere), as the monitor thread did:
a ``kill -9`` of serve stops both, and SQLite rolls back a transaction left half-way.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from csmine.live.online import LiveAlert, OnlineMonitors, stream_committed, wait_p90

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from event_store.application import TicketStore

    from csmine.live.engine import EngineConfig

#: Name of the stuck monitor's settings (the P90 table) in the store.
STUCK_SETTINGS = "stuck-p90"
#: Ticket events read from the log at a time when the monitors catch up (start, commits).
FEED_PAGE = 20_000
#: The full garbage collection runs after this long without a commit (seconds) ...
GC_IDLE_S = 2.0
#: ... at most this often (seconds); see :func:`quiet_gc`.
GC_EVERY_S = 60.0
#: How often the child checkpoints the SQLite WAL (seconds; the commits do not).
CHECKPOINT_S = 1.0
#: On the wall clock, rounds that fire deadlines start at most this often (seconds): the
#: deadlines due meanwhile are recorded together (one transaction), not one round each.
MIN_ROUND_S = 0.1

log = logging.getLogger("csmine.live")


def alert_json(la: LiveAlert, position: int | None = None) -> dict[str, Any]:
    """The alert as the API gives it (plain JSON values)."""
    from event_store.alerts import alert_id

    a = la.alert
    return {"id": str(alert_id(la.key)), "key": la.key, "time": a.time.isoformat(), "ticket": a.ticket,
            "kind": a.kind, "step": a.step, "detail": a.detail, "sop": a.sop, "event_id": a.event_id,
            "actor": a.actor, "phase": a.phase, "share": la.share, "evidence": la.evidence,
            "position": position, "acknowledged": None}


def run_monitor(config: EngineConfig, now: datetime | None, parent_pid: int | None, conn: Connection,
                wall: bool = False) -> None:
    """The monitors' body: start-up, then rounds until ``stop`` or the parent's end of the pipe closes.

    ``parent_pid``: the server's process id in a child process; None in a thread of the server.
    ``wall``: the server's clock is the wall clock, which the monitors then read themselves
    to fire each deadline when it falls due (the parent's ticks still come).
    """
    try:
        if parent_pid is not None:
            _die_with_parent(parent_pid)
        _serve(config, now, conn, parent_pid is not None, wall)
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the server went away
        pass
    finally:
        conn.close()


def _serve(config: EngineConfig, now: datetime | None, conn: Connection, child: bool, wall: bool) -> None:
    from event_store import open_store
    from event_store.live_write import defer_checkpoints

    try:
        worker = MonitorWorker(config, wall)
        store = open_store(config.store, create=True)
    except BaseException as exc:
        conn.send([("failed", _picklable(exc))])
        return
    try:
        defer_checkpoints(store)
        conn.send([("ready", worker.startup(store, now))])
    except BaseException as exc:
        store.close()
        conn.send([("failed", _picklable(exc))])
        return
    if child:  # in a thread the server's own collector settings apply
        quiet_gc()
    try:
        worker.loop(store, conn)
    finally:
        store.close()


class MonitorWorker:
    """The monitors and their records, on one store connection (the child's one thread)."""

    def __init__(self, config: EngineConfig, wall: bool = False) -> None:
        from zoneinfo import ZoneInfo

        self.config = config
        self.wall = wall
        tz = ZoneInfo(config.tz) if config.tz else UTC
        self.monitors = OnlineMonitors(config.sop, shares=config.shares, calendar=config.calendar, tz=tz)
        self.position = 0
        self._recorded: set[str] = set()
        self._next_refresh = float("inf")
        self._out: list[tuple[Any, ...]] = []

    def startup(self, store: TicketStore, now: datetime | None) -> dict[str, Any]:
        """Recorded alerts loaded, the stored log fed, due alerts recorded; the state for the parent."""
        from event_store.alerts import iter_alerts, settings_history

        rows: list[dict[str, Any]] = []
        by_id: dict[str, dict[str, Any]] = {}
        acks: dict[str, dict[str, Any]] = {}
        for item in iter_alerts(store):
            if item["event"] == "raised":
                self._recorded.add(item["key"])
                row = {**item["fields"], "id": item["id"], "key": item["key"], "position": item["position"],
                       "acknowledged": None}
                rows.append(row)
                by_id[item["id"]] = row
            else:
                acks[item["id"]] = {"at": _iso(item["at"]), "actor": item["actor"], "note": item["note"]}
        for aid, ack in acks.items():
            if aid in by_id:
                by_id[aid]["acknowledged"] = ack
        cfg = self.config
        # The stored log through fresh monitors, with the stuck thresholds in force at each
        # position: the alerts not yet recorded (a crash before they were) are recorded now.
        rows += self._record(store, self._feed_new(store, settings_history(store, STUCK_SETTINGS)
                                                   if cfg.stuck else []))
        if cfg.stuck:
            self._refresh_stuck(store)
        if now is not None:
            rows += self._record(store, self.monitors.advance(now))
        self._out.clear()  # the rows go in the ready message
        return {"alerts": rows, "position": self.position, "clock_us": self.monitors.clock_us}

    def loop(self, store: TicketStore, conn: Connection) -> None:
        """Rounds of the batches queued, checkpoints and quiet collections in between.

        On the wall clock (``wall``) the loop also wakes when the next deadline falls due
        (at most every :data:`MIN_ROUND_S`) and every round reads the clock: a due alert
        waits neither for the parent's next tick nor for a round without one.
        """
        from event_store.live_write import checkpoint

        next_checkpoint = time.monotonic() + CHECKPOINT_S
        last_commit = next_collect = last_round = time.monotonic()
        while True:
            wait = next_checkpoint - time.monotonic()
            due = self.monitors.next_due_us() if self.wall else None
            if due is not None:
                wait = min(wait, max(due / 1e6 - time.time() + 0.001, last_round + MIN_ROUND_S - time.monotonic()))
            items: list[tuple[Any, ...]] = []
            if conn.poll(max(0.0, wait)):
                items = list(conn.recv())
                while conn.poll(0):  # everything queued meanwhile: one round, one alert transaction
                    items += conn.recv()
                if any(it[0] == "stop" for it in items):
                    return
            if self.wall and (items or (due is not None and due < time.time() * 1e6)):
                items.append(("tick", datetime.now(UTC)))
            if items:
                last_round = time.monotonic()
                self.round(store, items)
                if self._out:
                    conn.send(self._out)
                    self._out = []
                if any(it[0] == "commit" for it in items):
                    last_commit = time.monotonic()
            now = time.monotonic()
            if now >= next_checkpoint:  # the WAL into the database, off the commits' path
                checkpoint(store)
                next_checkpoint = now + CHECKPOINT_S
            if now >= next_collect and now - last_commit >= GC_IDLE_S:  # the full collection, when quiet
                gc.collect()
                next_collect = time.monotonic() + GC_EVERY_S

    def round(self, store: TicketStore, items: list[tuple[Any, ...]]) -> None:
        """Commits fed, the clock moved on, alerts recorded (one transaction), then the replies in order."""
        fired: list[LiveAlert] = []
        commits = any(it[0] == "commit" for it in items)
        if commits:
            fired += self._feed_new(store)
        if self.config.stuck and time.monotonic() >= self._next_refresh:
            self._record(store, fired)
            fired = []
            self._refresh_stuck(store)
        ticks = [it[1] for it in items if it[0] == "tick" and it[1] is not None]
        if ticks:
            fired += self.monitors.advance(max(ticks))
        try:
            self._record(store, fired)
        except Exception:  # the store refused: the next start records them (fed from the log again)
            log.exception("recording %d alerts failed", len(fired))
        if commits or ticks:
            self._out.append(("fed", self.position, self.monitors.clock_us, commits))
        for it in items:
            if it[0] in ("sync", "ack", "open"):
                self._reply(store, it)

    def _reply(self, store: TicketStore, item: tuple[Any, ...]) -> None:
        kind, req = item[0], item[1]
        try:
            if kind == "ack":
                self._out.append(("acked", req, item[2], self._ack(store, *item[2:])))
            elif kind == "open":
                self._out.append(("reply", req, self._open(item[2], item[3]), None))
            else:
                self._out.append(("reply", req, None, None))
        except Exception as exc:
            self._out.append(("reply", req, None, _picklable(exc)))

    def _open(self, now: datetime | None, limit: int | None) -> tuple[datetime, int, list[dict[str, Any]]]:
        from event_store.readmodel.projection import _US, EPOCH

        when = now if now is not None else EPOCH + self.monitors.clock_us * _US
        rows = self.monitors.open_tickets(when)
        rows.sort(key=lambda r: -(r["next_due"]["share"] if r["next_due"] else -1.0))
        return when, len(rows), rows if limit is None else rows[:limit]

    def _feed_new(self, store: TicketStore,
                  switches: list[tuple[int, dict[str, Any]]] | None = None) -> list[LiveAlert]:
        """Feed what was committed since the last feed, page by page; ``switches``: stuck thresholds by position.

        Returns the alerts that fired (recorded by the caller).
        """
        monitors = self.monitors
        pending = list(switches or [])
        fired: list[LiveAlert] = []
        store.projection.catch_up()  # serve's commits write the read model's rows; an import may not have
        while True:
            last, items, more = stream_committed(store, self.position, self.config.sop, limit=FEED_PAGE)
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
        while pending:
            monitors.set_stuck_after(pending.pop(0)[1].get("p90") or {})
        return fired

    def _refresh_stuck(self, store: TicketStore) -> None:
        """Measure each step's P90 wait on the store's history; record it when it changed."""
        from event_store.alerts import change_settings

        from csmine.eventlog.loading import load_event_log

        table = wait_p90(load_event_log(store), self.config.sop) if self.monitors.events else {}
        if table != self.monitors.stuck_after:
            change_settings(store, STUCK_SETTINGS, self.position, {"p90": table})
            self.monitors.set_stuck_after(table)
        self._next_refresh = time.monotonic() + self.config.stuck_refresh_s

    def _record(self, store: TicketStore, fired: list[LiveAlert]) -> list[dict[str, Any]]:
        """Record the alerts not yet recorded (one transaction) and queue them for the parent."""
        from event_store.alerts import raise_alerts

        new = [la for la in fired if la.key not in self._recorded]
        if not new:
            return []
        recorded_at = datetime.now(UTC).isoformat()
        rows = []
        for la in new:
            row = alert_json(la)
            row["recorded_at"] = recorded_at
            rows.append(row)
        fields_of = [{k: v for k, v in row.items() if k not in ("id", "key", "position", "acknowledged")}
                     for row in rows]
        raise_alerts(store, [(la.key, la.alert.time, f, la.evidence) for la, f in zip(new, fields_of, strict=True)])
        self._recorded.update(la.key for la in new)
        self._out.append(("alerts", rows))
        return rows

    def _ack(self, store: TicketStore, alert: str, actor: str | None, note: str) -> dict[str, Any]:
        """Record an acknowledgement (the parent checked that the alert exists)."""
        from event_store.alerts import acknowledge_alert

        ack = acknowledge_alert(store, UUID(alert), actor=actor, note=note)
        return {"at": _iso(ack["at"]), "actor": ack.get("actor"), "note": ack.get("note") or ""}


def quiet_gc() -> tuple[int, int, int]:
    """Keep the garbage collector's full passes off the hot path.

    With tens of thousands of open tickets the monitors (and the ingestor's case
    attributes) hold millions of objects, and Python's automatic full collection
    (every tenth middle one) walked them all in 100-350 ms. So: what start-up made is
    frozen out of the collector's walks, the young generations are collected as usual
    (the cycles a request leaves die there), and the full pass runs when no commit came
    for :data:`GC_IDLE_S` seconds (at most every :data:`GC_EVERY_S`). Returns the thresholds before.
    """
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(before[0], 5_000), before[1], 1_000_000)
    return before


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills this process when the server dies (``kill -9`` included)."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pipe's end of file stops the loop
        return
    if os.getppid() != parent_pid:  # the server died before prctl took effect
        os._exit(1)


def _picklable(exc: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


__all__ = ["STUCK_SETTINGS", "MonitorWorker", "alert_json", "quiet_gc", "run_monitor"]
