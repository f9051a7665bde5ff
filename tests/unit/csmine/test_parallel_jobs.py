"""A forked job's child ends as soon as it has answered, not when the answer is read."""

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


def test_the_child_ends_before_its_answer_is_read():
    payload = bytes(range(256)) * 40_000  # 10 MB: far more than a pipe holds
    with background_jobs() as start:
        job = start(lambda: payload, fork=True)
        pid = job._pid
        assert pid > 0
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the child waited for the parent to read its answer"
        assert job.result() == payload


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
