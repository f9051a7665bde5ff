"""`csmine keys / checkpoint / verify / trace / audit`: exit codes, outputs, files."""

from __future__ import annotations

import base64
import csv
import gzip
import itertools
import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from event_store import ActivityRow, TicketHistory, open_store
from tests.datasets import dataset_path

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture
def keys(cli, tmp_path):
    out = tmp_path / "keys"
    result = cli("keys", "init", "--out", out)
    assert result.exit_code == 0, result.output
    return out / "csmine-ed25519.key", out / "csmine-ed25519.pub"


@pytest.fixture
def store(tmp_path):
    """Three complaint tickets (log positions 1-7, 8-14, 15-20, then 21-23).

    CS-2's third step was keyed as Handle and corrected to Classify (position 22),
    and a duplicate Callback (21) was retracted (23); CS-3 never got its Callback.
    """
    path = str(tmp_path / "csmine.db")
    flow = (("Receive", 0), ("Record", 10), ("Classify", 40), ("Handle", 300), ("Callback", 1500),
            ("Archive", 1560))
    plans = {
        "CS-1": flow,
        "CS-2": tuple(("Handle", m) if a == "Classify" else (a, m) for a, m in flow),
        "CS-3": tuple((a, m) for a, m in flow if a != "Callback"),
    }
    with open_store(path, create=True) as s:
        s.import_histories([
            TicketHistory(ticket, T0 + timedelta(hours=i), {"channel": "phone", "team": "East"},
                          tuple(ActivityRow(a, T0 + timedelta(hours=i, minutes=m), actor=f"A-{j}",
                                            attrs={"satisfaction": 95} if a == "Callback" else {})
                                for j, (a, m) in enumerate(steps)))
            for i, (ticket, steps) in enumerate(plans.items(), 1)
        ])
        s.record_activity("CS-2", "Callback", T0 + timedelta(hours=2, minutes=1510), actor="A-9")
        s.correct("CS-2", 3, {"activity": "Classify"}, "mis-keyed step", actor="QA-1",
                  occurred_at=T0 + timedelta(days=3))
        s.retract("CS-2", 7, "duplicate entry", actor="QA-1", occurred_at=T0 + timedelta(days=3))
    return path


def test_keys_init_makes_a_private_0600_key_and_refuses_to_overwrite(cli, keys):
    private, public = keys
    assert os.stat(private).st_mode & 0o777 == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = cli("keys", "init", "--out", private.parent)
    assert again.exit_code == 3
    assert "already exists" in again.stderr
    assert cli("keys", "init", "--out", private.parent, "--force").exit_code == 0


def test_checkpoint_verify_clean_then_tampered(cli, store, keys, tmp_path):
    private, public = keys
    cp = tmp_path / "cp.json"
    result = cli("checkpoint", "--key", private, "--out", cp, "--store", store)
    assert result.exit_code == 0, result.output
    data = json.loads(cp.read_text())
    assert data["size"] == 23 and data["format"] == "csmine-checkpoint/v1"
    assert set(data) >= {"store", "size", "root", "head", "issued_at", "signature", "public_key"}
    # the private key never enters the database
    db = Path(store).read_bytes()
    assert private.read_text().splitlines()[1].encode() not in db

    ok = cli("verify", "--checkpoint", cp, "--public-key", public, "--store", store)
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("OK ")
    assert "signature valid, root matches" in ok.stdout

    conn = sqlite3.connect(store, isolation_level=None)
    conn.execute("DROP TRIGGER stored_events_append_only_update")
    rowid, state = conn.execute("SELECT rowid, state FROM stored_events WHERE rowid = 12").fetchone()
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state.replace(b"Handle", b"Hacked"), rowid))
    conn.close()
    bad = cli("verify", "--store", store)
    assert bad.exit_code == 5
    assert bad.stdout.startswith("TAMPERED ")
    assert "ticket CS-2: version 4 at log position 12" in bad.stderr
    as_json = cli("verify", "--json", "--checkpoint", cp, "--store", store)
    assert as_json.exit_code == 5
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert (report["first"]["ticket"], report["first"]["version"], report["first"]["kind"]) == ("CS-2", 4, "content")
    assert report["checkpoint"]["root_matches"] is False


def test_verify_with_someone_elses_key_fails(cli, store, keys, tmp_path):
    private, _ = keys
    cp = tmp_path / "cp.json"
    assert cli("checkpoint", "--key", private, "--out", cp, "--store", store).exit_code == 0
    other = tmp_path / "other"
    assert cli("keys", "init", "--out", other).exit_code == 0
    result = cli("verify", "--checkpoint", cp, "--public-key", other / "csmine-ed25519.pub", "--store", store)
    assert result.exit_code == 5
    assert "not by the pinned key" in result.stdout


def test_trace_json_shows_corrections_beside_what_they_correct(cli, store):
    result = cli("trace", "CS-2", "--sop", "complaint", "--json", "--store", store)
    assert result.exit_code == 0, result.output
    t = json.loads(result.stdout)
    assert t["ticket"] == "CS-2" and t["sop"] == "complaint"
    steps = t["steps"]
    assert [s["version"] for s in steps] == [1, 2, 3, 4, 5, 7, 6]
    third = steps[2]
    assert third["activity"] == "Classify" and third["original"] == {"activity": "Handle"}
    assert third["corrections"][0]["reason"] == "mis-keyed step"
    assert third["corrections"][0]["actor"] == "QA-1" and third["corrections"][0]["event_id"] == 22
    assert steps[5]["retracted"]["reason"] == "duplicate entry" and steps[5]["wait_s"] is None
    # waits (min): Receive 0 after opening, Record 10, Classify 30, Handle 260, Callback 1200, Archive 60
    assert [s["wait_s"] for s in steps if s["retracted"] is None] == [0, 600, 1800, 15600, 72000, 3600]
    assert steps[0]["recorded_at"] != steps[0]["occurred_at"]
    assert steps[4]["attrs"] == {"satisfaction": 95}
    # as corrected (and without the retracted duplicate) the ticket follows the SOP
    assert t["deviations"] == {} and t["fitness"] == 1.0
    assert [m["event_id"] for m in t["moves"]] == [9, 10, 11, 12, 13, 14]
    limits = {lim["step"]: lim for lim in t["limits"]}
    assert {k: (v["elapsed_s"], v["breached"]) for k, v in limits.items()} == {
        "Record": (600, False), "Classify": (2400, False), "Handle": (15600, False),
        "Callback": (72000, False), "Archive": (3600, False)}
    assert t["integrity"]["chain_ok"] and t["integrity"]["proofs_ok"]
    assert t["integrity"]["tree_size"] == 23 and t["integrity"]["events"] == 10


def test_trace_names_skipped_steps(cli, store):
    t = json.loads(cli("trace", "CS-3", "--sop", "complaint", "--json", "--store", store).stdout)
    assert t["deviations"] == {"skipped": 1}
    assert [m["step"] for m in t["moves"] if m["deviation"]] == ["Callback"]


def test_trace_text_as_of_and_known_at(cli, store):
    text = cli("trace", "CS-2", "--sop", "complaint", "--store", store)
    assert text.exit_code == 0, text.output
    assert "↳ activity: Handle →" in text.stdout and "Classify (was Handle)" in text.stdout
    assert "duplicate entry" in text.stdout and "integrity: chain verified" in text.stdout
    as_of = cli("trace", "CS-2", "--sop", "complaint", "--as-of", "2025-03-03T04:00:00Z", "--json", "--store", store)
    t = json.loads(as_of.stdout)
    assert [s["activity"] for s in t["steps"]] == ["Receive", "Record", "Classify"]
    assert t["hidden"] == 4
    known = cli("trace", "CS-2", "--known-at", 21, "--json", "--sop", "complaint", "--store", store)
    k = json.loads(known.stdout)
    assert [s["activity"] for s in k["steps"]][2] == "Handle"  # the correction came later
    assert all(s["retracted"] is None and not s["corrections"] for s in k["steps"])
    assert k["hidden"] == 2
    early = cli("trace", "CS-3", "--known-at", 14, "--store", store)
    assert early.exit_code == 3 and "by log position 14" in early.stderr
    before = cli("trace", "CS-3", "--as-of", "2025-03-03T02:00:00Z", "--store", store)
    assert before.exit_code == 3 and "after --as-of" in before.stderr


def test_trace_html_is_self_contained_with_the_path_on_the_sop(cli, store, tmp_path):
    page = tmp_path / "cs-3.html"
    result = cli("trace", "CS-3", "--sop", "complaint", "--html", page, "--store", store)
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "<svg" in text and "Content-Security-Policy" in text
    assert "<script" not in text and "<link" not in text and 'src="http' not in text
    assert "记录登记" in text and "skipped 跳过" in text  # Callback drawn as skipped
    page2 = tmp_path / "cs-2.html"
    assert cli("trace", "CS-2", "--sop", "complaint", "--html", page2, "--store", store).exit_code == 0
    text2 = page2.read_text(encoding="utf-8")
    assert "mis-keyed step" in text2 and "duplicate entry" in text2
    assert text2.count('class="amend"') == 2


def test_audit_sample_csv_json_and_reproducible(cli, store, tmp_path):
    out = tmp_path / "qa.csv"
    result = cli("audit", "sample", "--rate", 1, "--seed", "qa", "--sop", "complaint", "--out", out,
                 "--store", store)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["ticket"] for r in rows] == ["CS-1", "CS-2", "CS-3"]
    assert [r["passed"] for r in rows] == ["pass", "pass", "fail"]
    cs3 = rows[2]
    assert (cs3["recorded_as_sop"], cs3["recorded_as_sop_detail"]) == ("fail", "skipped: Callback")
    assert (cs3["callback_done"], cs3["callback_done_evidence"]) == ("fail", "19")  # its Handle
    assert rows[0]["closed_properly_evidence"] == "7" and rows[0]["first_response_in_time_evidence"] == "3"
    first = json.loads(cli("audit", "sample", "--rate", 0.5, "--seed", "day-1", "--sop", "complaint", "--json",
                           "--store", store).stdout)
    second = json.loads(cli("audit", "sample", "--rate", 0.5, "--seed", "day-1", "--sop", "complaint",
                            "--json", "--store", store).stdout)
    assert [t["ticket"] for t in first["tickets"]] == [t["ticket"] for t in second["tickets"]]
    assert first["population"] == 3


def test_audit_export_and_offline_check(cli, store, keys, tmp_path):
    private, public = keys
    folder = tmp_path / "pkg"
    result = cli("audit", "export", "CS-2", "--out", folder, "--key", private, "--store", store)
    assert result.exit_code == 0, result.output
    Path(store).unlink()  # offline: no database at all
    ok = cli("audit", "check", folder, "--public-key", public)
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("OK ticket CS-2: 10 events")
    doc = json.loads((folder / "events.json").read_text())
    state = base64.b64decode(doc["events"][5]["state"])
    doc["events"][5]["state"] = base64.b64encode(state[:-2] + b"0}").decode()
    (folder / "events.json").write_text(json.dumps(doc))
    bad = cli("audit", "check", folder, "--json")
    assert bad.exit_code == 5
    assert json.loads(bad.stdout)["problems"][0] == "version 5: stored bytes do not hash to its chain link"


# -- a real ticket: BPIC 2013 -----------------------------------------------------------------

BPIC_CASE = "1-364285768"


def _bpic_subset(path: Path, traces: int = 4) -> None:
    """The first ``traces`` traces of the BPIC 2013 incident log, as a small XES file."""
    from lxml import etree

    ns = "{http://www.xes-standard.org/}"
    source = dataset_path("bpic2013", "BPI_Challenge_2013_incidents.xes.gz")
    with gzip.open(source, "rb") as fh, open(path, "wb") as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0" '
                  b'xmlns="http://www.xes-standard.org/">\n')
        for kept, (_, element) in enumerate(etree.iterparse(fh, events=("end",), tag=f"{ns}trace"), 1):
            out.write(etree.tostring(element))
            if kept == traces:
                break
        out.write(b"</log>\n")


@pytest.mark.slow
def test_trace_of_a_bpic_ticket_matches_the_source_events(cli, tmp_path):
    import pm4py

    xes = tmp_path / "bpic-subset.xes"
    _bpic_subset(xes)
    store = str(tmp_path / "bpic.db")
    assert cli("import", xes, "--store", store).exit_code == 0
    result = cli("trace", BPIC_CASE, "--sop", "it-incident", "--json", "--store", store)
    assert result.exit_code == 0, result.output
    t = json.loads(result.stdout)

    src = pm4py.read_xes(str(xes))
    src = src[src["case:concept:name"] == BPIC_CASE].reset_index(drop=True)
    assert len(t["steps"]) == len(src) == 17
    for step, (_, row) in zip(t["steps"], src.iterrows(), strict=True):
        assert step["activity"] == f"{row['concept:name']}/{row['lifecycle:transition']}"
        assert datetime.fromisoformat(step["occurred_at"]) == row["time:timestamp"].to_pydatetime()
        assert step["actor"] == row["org:resource"]
        assert step["team"] == row["org:group"]
        assert step["attrs"]["impact"] == row["impact"] and step["attrs"]["product"] == row["product"]
    times = src["time:timestamp"]
    assert datetime.fromisoformat(t["opened_at"]) == times[0].to_pydatetime()
    waits = [0.0] + [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert [s["wait_s"] for s in t["steps"]] == waits
    # SOP limits by hand from the rows (no waiting step in this ticket: wall clock)
    limits = {lim["step"]: lim for lim in t["limits"]}
    first_resolve = times[src["lifecycle:transition"] == "Resolved"].iloc[0]
    assert limits["Resolve"]["elapsed_s"] == (first_resolve - times[0]).total_seconds()
    assert limits["Resolve"]["breached"] is ((first_resolve - times[0]) > timedelta(days=5))
    assert limits["Work in progress"]["elapsed_s"] == 0 and not limits["Work in progress"]["breached"]
    # the first Resolved is followed by more work: the SOP does not allow it there
    resolved = [s["event_id"] for s in t["steps"] if s["activity"] == "Completed/Resolved"]
    verdicts = {m["event_id"]: m["deviation"] for m in t["moves"] if m["event_id"] in resolved}
    assert verdicts == {resolved[0]: "extra", resolved[1]: None}
    assert t["integrity"]["chain_ok"] and t["integrity"]["proofs_ok"]
