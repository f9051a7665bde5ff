"""Run one computation on a second core, in a forked child process, while this one goes on.

The report checks conformance (exact alignments, CPU-bound Python) while it draws the
maps; threads would share one core because of the GIL, so the computation runs in a
child made with ``os.fork`` (it inherits the frames already in memory, no pickling on
the way in) and hands its result back pickled in a temporary file::

    with background_jobs() as start:
        job = start(lambda: slow(df), fork=worth_forking(len(df), 200_000), needs=("pm4py",))
        ...                      # this process does something else meanwhile
        value = job.result()     # the child's value, or its exception raised here

With ``fork=False`` the function runs at once in this process and ``result()`` returns
its value: the outcome is the same either way. A child whose result is never read (an
error in between) is killed when the ``with`` block ends. A child that dies without an
answer (killed, out of memory) is recomputed here.

``needs`` names the modules the computation imports. They are imported in this process
before the fork: a module that another thread is importing at that moment (such as a
background import of pm4py) would otherwise have its import lock held forever in the
child. Other threads are not waited for; the computation should not take locks they
may hold (logging, database connections).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["Job", "background_jobs", "cores", "worth_forking"]


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worth_forking(size: int, minimum: int) -> bool:
    """True when ``os.fork`` exists, there are two or more cores and the work (``size``) is at least ``minimum``."""
    return hasattr(os, "fork") and cores() >= 2 and size >= minimum


class Job:
    """A computation running in a forked child, or already done in this process."""

    def __init__(self, fn: Callable[[], Any], fork: bool, needs: Iterable[str] = ()) -> None:
        self._fn = fn
        self._value: Any = None
        self._pid = 0
        self._answer = ""
        if fork and hasattr(os, "fork"):
            for name in needs:  # waits for another thread importing it to finish
                importlib.import_module(name)
            self._fork()
        else:
            self._value = fn()

    def _fork(self) -> None:
        from event_store.memory import release_free_memory

        release_free_memory()  # freed pages the child would otherwise map too
        # The child writes its answer to a file and ends at once: waiting for the parent to
        # read it from a pipe, it would keep mapping every page the parent has freed since
        # the fork (at 10M events, gigabytes of the process tree). Ended, it is a zombie
        # holding no memory until result() or close() reaps it (so its pid is never reused
        # before then).
        fd, self._answer = tempfile.mkstemp(prefix="csmine-job-", suffix=".pickle")
        pid = os.fork()
        if pid == 0:  # the child: compute, write the result, leave without any clean-up
            code = 1  # an answer not wholly written counts as none (result() computes it here)
            try:
                try:
                    payload = pickle.dumps(("ok", self._fn()), protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException as exc:  # handed to the parent
                    try:
                        payload = pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception:
                        payload = pickle.dumps(("error", RuntimeError(repr(exc))))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(payload)
                code = 0
            finally:
                # Never return into the parent's code, run its atexit hooks or close
                # its database connections (a PostgreSQL connection closed here
                # would end the parent's session).
                os._exit(code)
        os.close(fd)
        self._pid = pid

    def _reap(self) -> bytes:
        """Wait for the child, take its answer (empty if it died without one, even half-written)
        and remove the file."""
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        try:
            if os.waitstatus_to_exitcode(status) != 0:
                return b""
            with open(self._answer, "rb") as fh:
                return fh.read()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(self._answer)

    def close(self) -> None:
        """Stop a child whose result will not be read (no-op once it has been)."""
        if self._pid == 0:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)  # our own child (or zombie): not reaped yet
        self._reap()

    def result(self) -> Any:
        """The computation's value (waiting for the child); its exception is raised here."""
        if self._pid == 0:
            return self._value
        data = self._reap()
        if not data:  # the child died (killed, out of memory): compute it here
            self._value = self._fn()
            return self._value
        kind, value = pickle.loads(data)
        if kind == "error":
            raise value
        self._value = value
        return value


@contextlib.contextmanager
def background_jobs() -> Iterator[Callable[..., Job]]:
    """Yield ``start(fn, *, fork, needs=())`` -> :class:`Job`; children not read by the end are killed."""
    started: list[Job] = []

    def start(fn: Callable[[], Any], *, fork: bool, needs: Iterable[str] = ()) -> Job:
        job = Job(fn, fork, needs)
        started.append(job)
        return job

    try:
        yield start
    finally:
        for job in started:
            job.close()
