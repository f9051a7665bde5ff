"""Clean failures at the storage edge, through the real ``csmine`` command.

Each case checks the documented exit code (docs/exit-codes.md), a one-paragraph
message that names the store and says what was committed and what to do, no
traceback, and a store that is unchanged or holds whole batches (its chain
consistent; running the same command again completes it exactly).

* a full disk: a 2 MB tmpfs mounted for the test (root), else a size-limited file
  (``RLIMIT_FSIZE``, SIGXFSZ ignored) in a child process;
* a read-only store: a read-only mount (root), else file modes (other users);
  reading commands still work on it;
* an immutable store file (``chattr +i``);
* PostgreSQL stopped in the middle of an import: a private server, so that the
  session's shared server is not disturbed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from event_store import open_store
from event_store.integrity.verify import verify_store
from tests.datasets import HELPDESK, RUNNING_EXAMPLE, dataset_path
from tests.integration.test_store_robustness import assert_chain_consistent, snapshot

CSMINE = str(Path(sys.executable).with_name("csmine"))
HELPDESK_TICKETS, HELPDESK_EVENTS = 4580, 21348


def run(*args: str, preexec=None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CSMINE, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def assert_clean(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    assert result.stderr.count("\n") == 1, "one paragraph: " + result.stderr
    for part in parts:
        assert part in result.stderr, result.stderr


@contextlib.contextmanager
def tmpfs(size: str):
    """A small file system of its own (root only); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = tempfile.mkdtemp(prefix="csmine-tmpfs-")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder], capture_output=True)
    if done.returncode != 0:
        os.rmdir(folder)
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", folder], check=False)
        os.rmdir(folder)


def _limit_file_size(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


# -- a full disk -------------------------------------------------------------------------------


def test_full_disk_keeps_whole_batches_and_a_rerun_completes(tmp_path):
    source = dataset_path(*HELPDESK)
    with tmpfs("2m") as folder:
        if folder is not None:
            store = os.path.join(folder, "full.db")
            result = run("import", source, "--store", store, "--batch-size", "200", "--quiet")
            grow = ["mount", "-o", "remount,size=64m", folder]
        else:  # no mount: the same through a size-limited file
            store = str(tmp_path / "full.db")
            result = run("import", source, "--store", store, "--batch-size", "200", "--quiet",
                         preexec=_limit_file_size(2 << 20))
            grow = None
        assert_clean(result, 74, f"store {store}", "full", "committed", "running the same import again")
        with open_store(store) as s:
            partial = snapshot(s)
            assert verify_store(s).ok
            assert_chain_consistent(s)
            counts = dict(s.db.query("SELECT ticket, COUNT(*) FROM event_log GROUP BY ticket"))
        assert 0 < partial["tickets"] < HELPDESK_TICKETS
        assert partial["events"] == partial["chain"][0] == partial["head"][0][0]
        histories = {h.ticket: len(h.steps) for h in __import__("event_store.io.importing", fromlist=["x"])
                     .read_histories(str(source))}
        assert all(counts[t] == histories[t] for t in counts)  # whole tickets only
        if grow is not None:
            subprocess.run(grow, check=True)
            again = run("import", source, "--store", store, "--quiet")
        else:
            again = run("import", source, "--store", store, "--quiet")
        assert again.returncode == 0, again.stderr
        with open_store(store) as s:
            final = snapshot(s)
            assert (final["tickets"], final["event_log"]) == (HELPDESK_TICKETS, HELPDESK_EVENTS)
            assert verify_store(s).ok


# -- read-only and immutable stores --------------------------------------------------------------


@pytest.fixture
def small_store(tmp_path):
    store = str(tmp_path / "ro" / "csmine.db")
    os.mkdir(tmp_path / "ro")
    result = run("import", dataset_path(*RUNNING_EXAMPLE), "--store", store, "--quiet")
    assert result.returncode == 0, result.stderr
    return store


def test_read_only_store_reads_and_refuses_writes_cleanly(small_store):
    folder = os.path.dirname(small_store)
    with tmpfs("8m") as mounted:
        if mounted is None:
            pytest.skip("cannot mount a tmpfs here")
        shutil.copy(small_store, mounted)
        store = os.path.join(mounted, "csmine.db")
        subprocess.run(["mount", "-o", "remount,ro", mounted], check=True)
        # reading works on a read-only folder (it used to say "not a csmine store")
        verified = run("verify", "--store", store)
        assert verified.returncode == 0, verified.stderr
        assert "OK" in verified.stdout
        stats = run("stats", "--json", "--store", store)
        assert stats.returncode == 0, stats.stderr
        # writing is refused with its own exit code, nothing written
        result = run("record", "1", "Reopen", "--at", "2024-01-01T00:00Z", "--store", store)
        assert_clean(result, 74, f"store {store}", "read-only", "Nothing was written", "To go on")
        # an import with nothing new writes nothing and succeeds; one with new tickets is refused
        same = run("import", dataset_path(*RUNNING_EXAMPLE), "--store", store, "--quiet")
        assert same.returncode == 0 and "0 new tickets" in same.stdout, same.stderr
        imported = run("import", dataset_path(*HELPDESK), "--store", store, "--quiet")
        assert_clean(imported, 74, "read-only", "Nothing of this import was committed")
    del folder


def test_immutable_store_file(small_store):
    with open_store(small_store) as s:
        before = snapshot(s)
    if subprocess.run(["chattr", "+i", small_store], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here (needs root and ext4/xfs/btrfs)")
    try:
        result = run("record", "1", "Reopen", "--at", "2024-01-01T00:00Z", "--store", small_store)
        assert_clean(result, 74, f"store {small_store}", "read-only", "chattr -i", "Nothing was written")
        verified = run("verify", "--store", small_store)
        assert verified.returncode == 0, verified.stderr
    finally:
        subprocess.run(["chattr", "-i", small_store], check=False)
    with open_store(small_store) as s:
        assert snapshot(s) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the command as another user (needs root)")
def test_read_only_file_for_another_user(small_store):
    folder = os.path.dirname(small_store)
    os.chmod(folder, 0o755)
    for name in os.listdir(folder):
        os.chmod(os.path.join(folder, name), 0o644)
    os.chmod(os.path.dirname(folder), 0o755)
    probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "import event_store"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout's Python: {probe.stderr[-200:]}")
    result = subprocess.run(["runuser", "-u", "nobody", "--", CSMINE, "record", "1", "Reopen", "--at",
                             "2024-01-01T00:00Z", "--store", small_store], capture_output=True, text=True)
    assert_clean(result, 74, "read-only", "Nothing was written")
    reading = subprocess.run(["runuser", "-u", "nobody", "--", CSMINE, "verify", "--store", small_store],
                             capture_output=True, text=True)
    assert reading.returncode == 0, reading.stderr


# -- PostgreSQL stopped in the middle of an import ----------------------------------------------


class PrivateServer:
    """A PostgreSQL server of this test only, which the test may stop and start again."""

    def __init__(self) -> None:
        from tests.pg_server import PostgresServer

        self.server = PostgresServer()

    def start(self) -> None:
        self.server.start()
        # The session's server trades durability for speed; this one must keep every
        # acknowledged commit through an immediate stop, as a production server does.
        self.stop_now()
        self.restart()

    def pg_ctl(self, *args: str) -> None:
        s = self.server
        opts = (f"-c listen_addresses=127.0.0.1 -p {s.port} -k {s.root} -c fsync=on "
                "-c synchronous_commit=on -c max_connections=50")
        extra = ["-o", opts, "-l", os.path.join(s.root, "log"), "-w"] if args[0] == "start" else ["-m", "immediate"]
        s._run(os.path.join(s.bindir, "pg_ctl"), "-D", s.data, *extra, *args)

    def stop_now(self) -> None:
        self.pg_ctl("stop")

    def restart(self) -> None:
        self.pg_ctl("start")

    def close(self) -> None:
        self.server.stop()


@pytest.mark.postgres
def test_postgres_stopped_mid_import(tmp_path):
    try:
        private = PrivateServer()
        private.start()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot start a private PostgreSQL server: {exc}")
    try:
        url = private.server.create_database("stopped")
        run("init", "--store", url)
        source = dataset_path(*HELPDESK)
        proc = subprocess.Popen([CSMINE, "import", source, "--store", url, "--batch-size", "20", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        import psycopg

        deadline = time.monotonic() + 120
        conninfo = f"host=127.0.0.1 port={private.server.port} user=postgres dbname=stopped"
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(psycopg.Error), psycopg.connect(conninfo) as c:
                if c.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] >= 100:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the import ended before the server could be stopped"
        private.stop_now()
        out, err = proc.communicate(timeout=120)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert_clean(result, 75, "connection to the database server was lost", "committed",
                     "run the same command again")
        import re

        said = re.search(r"([\d,]+) new tickets and ([\d,]+) new events written", result.stderr)
        assert said is not None, result.stderr
        private.restart()
        with open_store(url) as s:
            partial = snapshot(s)
            assert 100 <= partial["tickets"] < HELPDESK_TICKETS
            # what the message said was committed (plus, rarely, the batch whose commit was in flight)
            tickets, events = (int(g.replace(",", "")) for g in said.groups())
            assert partial["tickets"] in (tickets, tickets + 20), (partial, tickets)
            if partial["tickets"] == tickets:
                assert partial["event_log"] == events
            assert partial["events"] == partial["chain"][0] == partial["head"][0][0]
            assert verify_store(s).ok
        again = run("import", source, "--store", url, "--quiet")
        assert again.returncode == 0, again.stderr
        with open_store(url) as s:
            final = snapshot(s)
            assert (final["tickets"], final["event_log"]) == (HELPDESK_TICKETS, HELPDESK_EVENTS)
            assert_chain_consistent(s)
    finally:
        private.close()
