"""A forked job's child ends as soon as it has answered, not when the answer is read; it is
reaped (its pid kept ours) only by result() or close()."""

from __future__ import annotations

import os
import time

import pytest

from csmine.reports.parallel import background_jobs

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _state(pid: int) -> str:
    """The process's state letter (R, S, Z for an ended child not yet reaped), "" once gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_the_child_ends_before_its_answer_is_read():
    payload = bytes(range(256)) * 40_000  # 10 MB: far more than a pipe holds
    with background_jobs() as start:
        job = start(lambda: payload, fork=True)
        pid = job._pid
        assert pid > 0
        deadline = time.monotonic() + 15
        while _state(pid) not in ("Z", "") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(pid) == "Z", "the child waited for the parent to read its answer"
        assert job.result() == payload
        assert not _alive(pid)  # reaped by result()


def test_a_child_killed_half_way_is_computed_here():
    calls = []

    def work() -> int:
        calls.append(os.getpid())
        if len(calls) == 1 and os.getpid() != parent:
            os.kill(os.getpid(), 9)  # dies in the child, as out of memory would
        return 42

    parent = os.getpid()
    with background_jobs() as start:
        job = start(work, fork=True)
        assert job.result() == 42
    assert calls == [parent]  # the child's call is not seen here; this one is the parent's


def test_a_job_never_read_is_stopped_and_reaped():
    with background_jobs() as start:
        job = start(lambda: time.sleep(60), fork=True)
        pid = job._pid
    assert not _alive(pid)


def test_an_error_in_the_child_is_raised_by_result():
    def fail() -> None:
        raise ValueError("no such step: Archive")

    with background_jobs() as start:
        job = start(fail, fork=True)
        with pytest.raises(ValueError, match="no such step"):
            job.result()


def test_a_finished_job_never_read_is_reaped_by_close():
    # its pid stays ours (a zombie) until close(): no other process can have taken it
    with background_jobs() as start:
        job = start(lambda: "done", fork=True)
        pid = job._pid
        deadline = time.monotonic() + 15
        while _state(pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(pid) == "Z"
    assert not _alive(pid)
