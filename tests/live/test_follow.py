"""csmine follow: a growing export into the store (or a running csmine serve), each row exactly once.

Every count is checked against pandas reading the source files, and the store
against ``csmine verify``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from event_store import open_store
from event_store.io.mapping import ImportMapping, with_flags

from csmine.eventlog.loading import load_event_log
from csmine.live.follow import Follower, FollowState, HttpSink, StoreSink
from csmine.errors import FollowDeliveryError, FollowError

ROOT = Path(__file__).resolve().parents[2]
HEADER = "id,step,at,who\n"
START = datetime(2025, 3, 3, 8, 0)
MAPPING = with_flags(ImportMapping(), case="id", activity="step", timestamp="at", resource="who", tz="UTC")
FLAGS = ["--case-column", "id", "--activity-column", "step", "--timestamp-column", "at", "--resource-column", "who",
         "--tz", "UTC"]


def rows(first: int, count: int, *, tickets: int = 7) -> str:
    """``count`` rows; row k is ticket T(k % tickets), step S(k), at minute k (all distinct)."""
    return "".join(f"T{k % tickets},S{k % 5},{(START + timedelta(minutes=k)).isoformat()},agent{k % 3}\n"
                   for k in range(first, first + count))


def stored(store: str) -> list[tuple[str, str, str]]:
    with open_store(store) as s:
        df = load_event_log(s)
    times = pd.to_datetime(df["time:timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return sorted(zip(df["case:concept:name"].astype(str), df["concept:name"].astype(str), times, strict=True))


def source(*paths: Path, sep: str = ",", encoding: str = "utf-8") -> list[tuple[str, str, str]]:
    out = []
    for p in paths:
        df = pd.read_csv(p, sep=sep, encoding=encoding, dtype=str)
        times = pd.to_datetime(df["at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S")
        out += list(zip(df["id"], df["step"], times, strict=True))
    return sorted(out)


def verify(cli, store: str) -> None:
    result = cli("verify", "--store", store)
    assert result.exit_code == 0, result.output


def append(path: Path, text: str, encoding: str = "utf-8") -> None:
    with open(path, "ab") as fh:
        fh.write(text.encode(encoding))


@pytest.fixture
def follower(tmp_path):
    made = []

    def make(path: Path, store: str, mapping=MAPPING, **kw):
        s = open_store(store, create=True)
        f = Follower(str(path), mapping, StoreSink(s), state_path=str(tmp_path / "state.json"), **kw)
        made.append((f, s))
        return f

    yield make
    for f, s in made:
        f.close()
        s.close()


def test_rows_appended_in_several_writes_are_recorded_once_and_a_split_line_waits(tmp_path, follower, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 10))
    f = follower(export, store)
    first = f.poll_once()
    assert (first.rows, first.events, first.batches) == (10, 10, 1)
    block = rows(10, 5)
    cut = block.index("\n", 40) + 1 + 7  # two whole rows and 7 bytes of the third
    append(export, block[:cut])
    second = f.poll_once()
    assert second.rows == 2 and second.waiting_bytes == 7
    assert f.state.line == 13  # header + 12 rows
    assert f.poll_once().rows == 0  # nothing complete arrived
    append(export, block[cut:] + "\n" + rows(15, 3))  # a blank line in between is no row
    third = f.poll_once()
    assert (third.rows, third.events, third.waiting_bytes) == (6, 6, 0)
    assert stored(store) == source(export)
    assert len(stored(store)) == 18
    verify(cli, store)


def test_rotation_by_rename_and_create_finishes_the_old_file_then_reads_the_new(tmp_path, follower, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 20))
    f = follower(export, store)
    assert f.poll_once().rows == 20
    append(export, rows(20, 4))  # written to the old file before it is rotated: never polled before rotation
    os.rename(export, tmp_path / "export.csv.1")
    export.write_text(HEADER + rows(100, 6))
    r = f.poll_once()
    assert (r.rows, r.rotations) == (10, 1)
    append(export, rows(106, 3))
    assert f.poll_once().rows == 3
    assert stored(store) == source(tmp_path / "export.csv.1", export)
    assert len(stored(store)) == 33
    verify(cli, store)


def test_truncation_in_place_starts_again_from_the_top(tmp_path, follower, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 12))
    f = follower(export, store)
    assert f.poll_once().rows == 12
    (tmp_path / "copy.csv").write_bytes(export.read_bytes())  # what copytruncate keeps
    with open(export, "r+b") as fh:
        fh.truncate(0)
    append(export, HEADER + rows(200, 30))  # longer than before: the fingerprint tells, not only the size
    r = f.poll_once()
    assert (r.rows, r.rotations) == (30, 1)
    assert any("truncated" in n for n in r.notes)
    assert len(stored(store)) == 42
    assert stored(store) == source(tmp_path / "copy.csv", export)
    verify(cli, store)


def test_a_new_follower_resumes_where_the_last_stopped_without_duplicates(tmp_path, follower, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 25))
    f = follower(export, store)
    assert f.poll_once().rows == 25
    f.close()
    append(export, rows(25, 8))
    g = follower(export, store)
    r = g.poll_once()
    assert (r.rows, r.events) == (8, 8)
    # the state file lost (or from before the last batch): the store's idempotency records nothing twice
    g.close()
    os.unlink(tmp_path / "state.json")
    h = follower(export, store)
    again = h.poll_once()
    assert (again.rows, again.events) == (33, 0)
    assert len(stored(store)) == 33
    assert stored(store) == source(export)
    verify(cli, store)


def test_follow_takes_every_mapping_flag_of_import_the_same_option_objects():
    from csmine.cli.follow import MAPPING_FLAGS, follow_cmd
    from csmine.cli.store import import_cmd

    mine = {p.name: p for p in follow_cmd.params}
    theirs = {p.name: p for p in import_cmd.params}
    assert all(mine[name] is theirs[name] for name in MAPPING_FLAGS)


def test_two_followers_on_one_state_file_are_refused(tmp_path, follower):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 2))
    follower(export, store)
    with pytest.raises(FollowError, match="another csmine follow"):
        follower(export, str(tmp_path / "other.db"))


def _follow_cmd(export: Path, store: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "csmine", "follow", str(export), "--store", store, *FLAGS,
            "--state", str(export.parent / "state.json"), *extra]


def wait_state(state: Path, done, timeout: float = 300) -> None:
    """Until the follower's state file says ``done(rows)`` (generous: the machine may be loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.exists() and done(json.loads(state.read_text())["rows"]):
            return
        time.sleep(0.05)
    raise AssertionError(f"the follower did not get there in {timeout} s")


def test_sigkill_between_batches_then_resume_records_each_row_once(tmp_path, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER)
    state = tmp_path / "state.json"
    proc = subprocess.Popen(_follow_cmd(export, store, "--poll", "0.05"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        written = 0
        for _ in range(6):  # several batches while it runs
            append(export, rows(written, 150))
            written += 150
            time.sleep(0.3)
        wait_state(state, lambda rows: rows >= 300)
        append(export, rows(written, 400))  # the kill lands while this may be mid-batch
        written += 400
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    before = json.loads(state.read_text())["rows"]
    assert 300 <= before <= written
    append(export, rows(written, 50))
    written += 50
    done = subprocess.run(_follow_cmd(export, store, "--once", "--json"), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == written - before
    assert len(stored(store)) == written == 1350
    assert stored(store) == source(export)
    verify(cli, store)


def test_sigterm_stops_cleanly_after_the_batch(tmp_path):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 40))
    proc = subprocess.Popen(_follow_cmd(export, store, "--poll", "0.05"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = tmp_path / "state.json"
    wait_state(state, lambda rows: rows == 40)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == b""  # off a terminal: quiet
    assert len(stored(store)) == 40


def test_semicolon_latin1_export(tmp_path, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    text = "id;step;at;who\n" + "".join(f"T{k % 3};Réclamation traitée {k % 4};2025-03-03 09:{k:02d};agent é{k % 2}\n"
                                       for k in range(20))
    export.write_bytes(text.encode("latin-1"))
    result = cli("follow", export, "--store", store, *FLAGS, "--encoding", "latin-1", "--once", "--json",
                 "--state", tmp_path / "st.json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 20
    append(export, "T9;Clôture;2025-03-03 10:00;agent é0\n", "latin-1")
    result = cli("follow", export, "--store", store, *FLAGS, "--encoding", "latin-1", "--once", "--json",
                 "--state", tmp_path / "st.json")
    assert json.loads(result.stdout)["rows"] == 1
    got = stored(store)
    assert got == source(export, sep=";", encoding="latin-1")
    assert ("T9", "Clôture", "2025-03-03T10:00:00") in got
    verify(cli, store)


def test_ndjson_events_with_chinese_steps_and_a_bad_line(tmp_path, cli):
    export, store = tmp_path / "events.ndjson", str(tmp_path / "s.db")
    events = [{"ticket": f"CS-{k % 4}", "activity": ["受理", "处理", "回访"][k % 3],
               "timestamp": f"2025-03-03T09:{k:02d}:00+08:00", "resource": f"坐席{k % 2}", "channel": "电话",
               "attrs": {"satisfaction": 90 + k}} for k in range(12)]
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    lines.insert(5, '{"ticket": "CS-9", "activity": ')  # line 6: broken JSON
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("follow", export, "--store", store, "--once", "--json", "--state", tmp_path / "st.json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["rejected"]) == (12, 1)
    assert "events.ndjson: line 6: not valid JSON" in result.stderr
    with open_store(store) as s:
        df = load_event_log(s, attributes=["satisfaction"])
    assert len(df) == 12
    assert df["concept:name"].value_counts().to_dict() == {"受理": 4, "处理": 4, "回访": 4}
    assert sorted(df["satisfaction"].astype(int)) == list(range(90, 102))
    rejects = [json.loads(x) for x in (tmp_path / "st.rejects.ndjson").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [6]
    verify(cli, store)


def test_a_bad_row_is_rejected_with_its_line_and_the_rest_recorded(tmp_path, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    good = rows(0, 9).splitlines(keepends=True)
    good.insert(3, "T1,S1,yesterday-ish,agent0\n")  # line 5 (header is line 1)
    export.write_text(HEADER + "".join(good))
    result = cli("follow", export, "--store", store, *FLAGS, "--once", "--json", "--state", tmp_path / "st.json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected"] == 1
    assert "export.csv: line 5: cannot read value 'yesterday-ish' in column 'at' as a time" in result.stderr
    (reject,) = [json.loads(x) for x in (tmp_path / "st.rejects.ndjson").read_text().splitlines()]
    assert (reject["line"], reject["record"]) == (5, "T1,S1,yesterday-ish,agent0")
    assert reject["offset"] == len(HEADER) + len("".join(good[:3]))
    assert len(stored(store)) == 9
    verify(cli, store)


def test_rows_after_a_value_over_two_lines_keep_their_lines(tmp_path, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + 'T1,"Open\nnow",2025-03-03 08:00:00,a\n\nT1,Closed,2025-03-03 09:00:00,b\n'
                      "T2,Open,yesterday,c\n")
    result = cli("follow", export, "--store", store, *FLAGS, "--once", "--state", tmp_path / "st.json")
    assert result.exit_code == 0, result.output
    assert "export.csv: line 6: cannot read value 'yesterday'" in result.stderr
    with open_store(store) as s:
        refs = s.db.query("SELECT activity, source_ref FROM event_log ORDER BY version")
    assert [tuple(r) for r in refs] == [("Open\nnow", "export.csv:2"), ("Closed", "export.csv:5")]


def test_on_error_stop_records_nothing_of_the_batch_and_exits_3(tmp_path, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 3) + ",S1,2025-03-03T09:00:00,agent0\n")
    result = cli("follow", export, "--store", store, *FLAGS, "--once", "--on-error", "stop",
                 "--state", tmp_path / "st.json")
    assert result.exit_code == 3
    assert "export.csv: line 5: empty ticket id" in result.stderr
    assert FollowState.load(str(tmp_path / "st.json")).rows == 0
    assert stored(store) == []


def test_a_missing_column_is_a_configuration_error(tmp_path, cli):
    export, store = tmp_path / "export.csv", str(tmp_path / "s.db")
    export.write_text(HEADER + rows(0, 3))
    result = cli("follow", export, "--store", store, *FLAGS[:-2], "--timestamp-column", "when", "--once",
                 "--state", tmp_path / "st.json")
    assert result.exit_code == 3
    assert "missing timestamp column 'when'" in result.stderr and "--timestamp-column" in result.stderr
    naive = tmp_path / "naive.csv"
    naive.write_text(HEADER + rows(0, 3))
    result = cli("follow", naive, "--store", store, *FLAGS[:-2], "--once", "--state", tmp_path / "n.json")
    assert result.exit_code == 3
    assert "give --tz" in result.stderr


# -- --to a running csmine serve --------------------------------------------------------------------


def test_to_a_real_csmine_serve_posts_each_row_once(tmp_path, cli):
    from tests.live.server import TOKEN, SubprocessServer

    export, served = tmp_path / "export.csv", str(tmp_path / "served.db")
    export.write_text(HEADER + rows(0, 30))
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    with SubprocessServer(served, "--clock", "events") as server:
        url = f"http://127.0.0.1:{server.port}"
        args = ["follow", export, "--to", url, "--token-file", token, *FLAGS, "--once", "--json",
                "--state", tmp_path / "st.json"]
        first = cli(*args)
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["events_added"] == 30
        append(export, rows(30, 5))
        second = cli(*args)
        assert json.loads(second.stdout)["rows"] == 5
        # the state lost: the same rows posted again with the same event ids record nothing
        os.unlink(tmp_path / "st.json")
        again = cli(*args)
        assert (json.loads(again.stdout)["rows"], json.loads(again.stdout)["events_added"]) == (35, 0)
        bad = cli("follow", export, "--to", url, *FLAGS, "--once", "--state", tmp_path / "st2.json",
                  env={"CSMINE_TOKEN": ""})
        assert bad.exit_code == 3 and "401" in bad.stderr
    assert stored(served) == source(export)
    verify(cli, served)


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[list[dict]] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if any(e["activity"] == "S4" and e["ticket"] == "T4" for e in body):
            self.send_response(400)  # the server refuses one event: nothing of the request recorded
            payload = b'{"error": "event 0: field \'activity\' S4 not allowed", "index": 0}'
        else:
            type(self).bodies.append(body)
            self.send_response(201)
            payload = json.dumps({"recorded": len(body)}).encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_http_sink_retries_until_the_server_is_up_and_quarantines_what_it_refuses(tmp_path):
    from tests.live.server import free_socket

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: connection refused until the receiver starts
    export = tmp_path / "export.csv"
    export.write_text(HEADER + rows(0, 20))
    retries: list[str] = []
    sink = HttpSink(f"http://127.0.0.1:{port}", "t" * 20, on_retry=retries.append, max_backoff=0.3)
    _Receiver.bodies = []
    servers: list[ThreadingHTTPServer] = []
    lock, ended = threading.Lock(), threading.Event()

    def start() -> None:  # bound only now: until then the port refuses connections
        with lock:
            if ended.is_set():
                return
            servers.append(ThreadingHTTPServer(("127.0.0.1", port), _Receiver))
        servers[0].serve_forever()

    starter = threading.Timer(1.0, start)
    starter.daemon = True
    starter.start()
    try:
        with Follower(str(export), MAPPING, sink, state_path=str(tmp_path / "st.json")) as f:
            r = f.poll_once()
    finally:
        with lock:
            ended.set()  # a receiver not started yet never starts
        starter.cancel()
        for server in servers:
            server.shutdown()  # returns once serve_forever has run and stopped
            server.server_close()
        starter.join(10)
    assert retries  # it waited for the receiver
    delivered = [e for body in _Receiver.bodies for e in body]
    assert [k for k in range(20) if k % 7 == 4 and k % 5 == 4] == [4]  # row 4 (line 6) is T4's S4
    assert (r.rows, len(r.rejected), r.rejected[0].line) == (19, 1, 6)
    assert len(delivered) == 19 and len({e["event_id"] for e in delivered}) == 19
    assert "refused it (400)" in r.rejected[0].reason


def test_http_sink_gives_up_after_retry_for_and_keeps_the_rows(tmp_path):
    from tests.live.server import free_socket

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    export = tmp_path / "export.csv"
    export.write_text(HEADER + rows(0, 4))
    sink = HttpSink(f"http://127.0.0.1:{port}", None, retry_for=0.5, max_backoff=0.1)
    with Follower(str(export), MAPPING, sink, state_path=str(tmp_path / "st.json")) as f:
        with pytest.raises(FollowDeliveryError, match="could not deliver 4 events"):
            f.poll_once()
    assert FollowState.load(str(tmp_path / "st.json")).rows == 0  # the offset did not move past them


def test_a_start_whose_complete_comes_in_a_later_batch_is_paired_as_import_pairs_it(tmp_path, follower, cli):
    export, store, imported = tmp_path / "export.csv", str(tmp_path / "s.db"), str(tmp_path / "i.db")
    header = "id,step,at,who,lifecycle:transition\n"
    parts = ["T1,Handle,2025-03-03T09:00:00,a1,start\nT2,Handle,2025-03-03T09:05:00,a2,start\n"
             "T2,Handle,2025-03-03T09:20:00,a2,complete\n",
             "T3,Handle,2025-03-03T09:40:00,a3,start\n",
             "T1,Handle,2025-03-03T09:30:00,a1,complete\nT3,Handle,2025-03-03T09:50:00,a3,complete\n"]
    export.write_text(header + parts[0])
    f = follower(export, store)
    assert f.poll_once().rows == 2  # T1's start waits for its complete
    assert [p[0] for p in f.state.pending] == [2]
    append(export, parts[1])
    assert f.poll_once().rows == 0
    assert [p[0] for p in f.state.pending] == [2, 5]
    f.close()  # the held-back starts survive a restart (they are in the state file)
    append(export, parts[2])
    g = follower(export, store)
    assert g.poll_once().rows == 4
    assert g.state.pending == []
    assert cli("import", export, "--store", imported, *FLAGS).exit_code == 0

    def steps(path):
        with open_store(path) as s:
            df = load_event_log(s)
        return sorted(zip(df["case:concept:name"], df["concept:name"], df["time:timestamp"].astype(str),
                          df["start_timestamp"].astype(str), strict=True))

    assert steps(store) == steps(imported)
    assert [(t, s[11:16]) for t, _, _, s in steps(store)] == [("T1", "09:00"), ("T2", "09:05"), ("T3", "09:40")]
    verify(cli, store)


def test_into_postgresql_alike(tmp_path, pg_url, cli):
    export = tmp_path / "export.csv"
    export.write_text(HEADER + rows(0, 40))
    args = ["follow", export, "--store", pg_url, *FLAGS, "--once", "--json", "--state", tmp_path / "st.json"]
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["events_added"] == 40
    append(export, rows(40, 2) + "T1,S1,2025-03-03T09:0")
    second = json.loads(cli(*args).stdout)
    assert (second["rows"], second["waiting_bytes"]) == (2, len("T1,S1,2025-03-03T09:0"))
    assert stored(pg_url) == source_rows_of(export)
    assert len(stored(pg_url)) == 42
    verify(cli, pg_url)


def source_rows_of(path: Path) -> list[tuple[str, str, str]]:
    """The complete rows of a file whose last line is still being written."""
    text = path.read_text()
    whole = text[: text.rfind("\n") + 1]
    partial = path.with_suffix(".whole.csv")
    partial.write_text(whole)
    return source(partial)


def test_a_real_log_followed_in_ragged_pieces_equals_its_import(tmp_path, cli):
    """Helpdesk (4,580 tickets, 21,348 events) as a time-ordered CSV export, appended in 9 pieces cut
    mid-line, with a rotation in the middle: the store holds what `csmine import` of the rows holds."""
    import random

    from event_store.io.importing import read_log

    from tests.datasets import HELPDESK, dataset_path

    log = read_log(str(dataset_path(*HELPDESK)))
    events = sorted(((s.occurred_at, h.ticket, s.activity, s.actor or "") for h in log.histories for s in h.steps),
                    key=lambda e: e[0])
    header = "case:concept:name,concept:name,time:timestamp,org:resource\n"
    lines = [f"{t},{a},{ts.isoformat()},{r}\n" for ts, t, a, r in events]
    half = len(lines) // 2
    first, second = header + "".join(lines[:half]), header + "".join(lines[half:])
    export, store, imported = tmp_path / "helpdesk.csv", str(tmp_path / "f.db"), str(tmp_path / "i.db")
    rng = random.Random(7)
    args = ["follow", export, "--store", store, "--once", "--json", "--state", tmp_path / "st.json"]
    rows_seen = 0
    for text, pieces in ((first, 5), (second, 4)):
        if export.exists():
            os.rename(export, tmp_path / "helpdesk.csv.1")
        cuts = sorted(rng.sample(range(1, len(text)), pieces - 1))
        for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
            append(export, text[a:b])
            result = cli(*args)
            assert result.exit_code == 0, result.output
            rows_seen += json.loads(result.stdout)["rows"]
    assert rows_seen == len(lines) == 21348
    assert cli("import", tmp_path / "helpdesk.csv.1", "--format", "csv", "--store", imported).exit_code == 0
    assert cli("import", export, "--store", imported).exit_code == 0
    assert stored(store) == stored(imported)
    with open_store(store) as s:
        assert load_event_log(s)["case:concept:name"].nunique() == 4580
    verify(cli, store)
