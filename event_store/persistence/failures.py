"""Storage failures in words, and how long a write keeps retrying.

The database libraries raise their own exceptions (``sqlite3.OperationalError``,
``psycopg.OperationalError``, the ``eventsourcing`` wrappers around both). At the
store's boundary they become one of three errors of :mod:`event_store.errors`, each
a one-paragraph message that names the store, says what had been committed and
what to do:

* :class:`~event_store.errors.StorageError`: the store cannot be written or read
  (read-only file or folder, immutable file, disk full, I/O error, damaged file,
  missing privilege). Running the command again does not help until that is fixed.
* :class:`~event_store.errors.TemporaryStoreError` (its subclasses
  :class:`~event_store.errors.StoreLockedError`,
  :class:`~event_store.errors.ConnectionLostError`,
  :class:`~event_store.errors.ConcurrencyConflictError`): the store was busy or the
  server went away; the same command can simply be run again.

**Retries.** A write that loses a race (another writer stored an event at the same
ticket version, or held the lock) is retried with exponential backoff and full
jitter: before attempt *k* it sleeps a random time in ``[0, min(CAP, BASE * 2**k))``,
for at most :data:`RETRY_BUDGET` seconds in total; then it gives up with
:class:`~event_store.errors.ConcurrencyConflictError`. Jitter spreads writers that
collided apart, so they do not collide again in lockstep.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from event_store.errors import (
    ConnectionLostError,
    EventStoreError,
    StorageError,
    StoreLockedError,
    TemporaryStoreError,
)

#: Seconds a write keeps retrying after conflicts before it reports one (exit code 75).
RETRY_BUDGET = 10.0
#: First backoff ceiling and the largest one, in seconds.
RETRY_BASE = 0.005
RETRY_CAP = 0.25


@dataclass(slots=True)
class Retry:
    """A retry budget: ``wait()`` sleeps the next jittered backoff, or returns False when spent.

    Attributes:
        budget: seconds in total (from construction) the retries may take.
        attempts: retries made so far.
    """

    budget: float = RETRY_BUDGET
    attempts: int = 0
    started: float = 0.0
    rng: random.Random | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.started = self.clock()

    def wait(self) -> bool:
        """Sleep before the next attempt; False (without sleeping) when the budget is spent."""
        ceiling = min(RETRY_CAP, RETRY_BASE * (2 ** min(self.attempts, 16)))
        delay = (self.rng or random).uniform(0, ceiling)
        if self.clock() - self.started + delay > self.budget:
            return False
        self.attempts += 1
        self.sleep(delay)
        return True

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started


# -- classifying ----------------------------------------------------------------------------

_SQLITE = {
    3: "permission",  # SQLITE_PERM
    5: "locked",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
    8: "readonly",  # SQLITE_READONLY
    10: "io",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "full",  # SQLITE_FULL
    14: "cantopen",  # SQLITE_CANTOPEN
    26: "corrupt",  # SQLITE_NOTADB
}
_SQLITE_WORDS = (
    ("readonly database", "readonly"), ("disk is full", "full"), ("disk i/o error", "io"),
    ("unable to open database", "cantopen"), ("database is locked", "locked"),
    ("table is locked", "locked"), ("malformed", "corrupt"), ("file is not a database", "corrupt"),
)
_PG_STATES = {
    "53100": "full",  # disk_full
    "53200": "full",  # out_of_memory
    "58030": "io",  # io_error
    "25006": "readonly",  # read_only_sql_transaction (a standby, or default_transaction_read_only)
    "42501": "permission",  # insufficient_privilege
    "55P03": "locked",  # lock_not_available (lock_timeout)
    "57P01": "lost",  # admin_shutdown
    "57P02": "lost",  # crash_shutdown
    "57P03": "lost",  # cannot_connect_now
    "57P05": "lost",  # idle_session_timeout
}
_PG_WORDS = (
    ("server closed the connection", "lost"), ("connection is lost", "lost"), ("the connection is closed", "lost"),
    ("consuming input failed", "lost"), ("terminating connection", "lost"), ("connection refused", "lost"),
    ("could not receive data", "lost"), ("could not send data", "lost"), ("no connection to the server", "lost"),
    ("connection timeout expired", "lost"), ("lock timeout", "locked"), ("no space left on device", "full"),
    ("could not extend file", "full"),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> str | None:
    """The kind of storage failure behind ``exc`` (its causes included), or None.

    Kinds: ``readonly``, ``full``, ``io``, ``corrupt``, ``cantopen``, ``permission``
    (cannot be fixed by retrying), ``locked``, ``lost`` (can).
    """
    for e in _chain(exc):
        if isinstance(e, sqlite3.Error):
            code = getattr(e, "sqlite_errorcode", None)
            if isinstance(code, int) and (code & 0xFF) in _SQLITE:
                return _SQLITE[code & 0xFF]
            text = str(e).lower()
            for words, kind in _SQLITE_WORDS:
                if words in text:
                    return kind
        module = type(e).__module__ or ""
        if module.startswith("psycopg"):
            state = getattr(e, "sqlstate", None)
            if state in _PG_STATES:
                return _PG_STATES[state]
            if isinstance(state, str) and state.startswith("08"):
                return "lost"
            text = str(e).lower()
            for words, kind in _PG_WORDS:
                if words in text:
                    return kind
            if type(e).__name__ in ("OperationalError", "InterfaceError") and state is None:
                return "lost"  # psycopg reports a dead connection without a state
        if isinstance(e, OSError) and getattr(e, "errno", None) == 28:
            return "full"
    return None


_WHAT = {
    "readonly": "the store is read-only: a read-only file, folder or mount, an immutable file, or a read-only "
                "database server",
    "full": "the disk (or the database server's disk) is full",
    "io": "the disk reported an I/O error",
    "corrupt": "the database file is damaged",
    "cantopen": "the database file cannot be opened for writing: SQLite also needs to create its -wal and -shm "
                "files next to it, so the folder must be writable too",
    "permission": "the database refused the operation: permission denied",
    "locked": "another process held the store's write lock for longer than the lock timeout (30 s)",
    "lost": "the connection to the database server was lost: the server stopped, restarted or cut the "
            "connection",
}
_TODO = {
    "readonly": "make the store writable (file, folder, mount, chattr -i) or work on a copy made with "
                "`sqlite3 STORE \"VACUUM INTO 'copy.db'\"`, then run the command again",
    "full": "free some space (or move the store), then run the command again",
    "io": "check the disk (dmesg, SMART), restore from a backup if needed, then run `csmine verify`",
    "corrupt": "restore the store from a backup (docs/event-store.md, Backups) and run `csmine verify`",
    "cantopen": "check the permissions of the file and its folder, then run the command again",
    "permission": "grant the role the privileges in docs/event-store.md (PostgreSQL), then run the command "
                  "again",
    "locked": "wait for the other writer (an import?) to finish and run the command again",
    "lost": "check the server is running and run the same command again (a write in flight when the "
            "connection went may have been committed too; an import run again adds exactly what is missing)",
}
_TEMPORARY = {"locked": StoreLockedError, "lost": ConnectionLostError}


def translate(exc: BaseException, store: str, committed: str) -> EventStoreError | None:
    """The :mod:`event_store.errors` error for a raw storage failure (None: not one)."""
    if isinstance(exc, EventStoreError):
        return None
    kind = classify(exc)
    if kind is None:
        return None
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = f"store {store}: {_WHAT[kind]} (the database said: {detail}). {committed} To go on: {_TODO[kind]}."
    cls: type[EventStoreError] = _TEMPORARY.get(kind, StorageError)
    return cls(message)


@contextmanager
def storage_errors(store: str, committed: str | Callable[[], str] = "Nothing was written.") -> Iterator[None]:
    """Turn raw database failures inside the block into :func:`translate`'s errors.

    ``committed`` says what had been committed when the failure came (a callable is
    asked only then).
    """
    try:
        yield
    except EventStoreError:
        raise
    except Exception as exc:
        error = translate(exc, store, committed() if callable(committed) else committed)
        if error is None:
            raise
        raise error from exc


def is_temporary(exc: BaseException) -> bool:
    """A failure that the same command can get past by running again."""
    return isinstance(exc, TemporaryStoreError) or classify(exc) in _TEMPORARY
