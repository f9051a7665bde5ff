"""The bad-input matrix, through the CLI: what comes in is bounded, what goes out is safe.

Each refusal has its documented exit code (docs/exit-codes.md), a message without a
traceback that names the line or the limit and the flag that raises it, and leaves
the store exactly as it was. Files out are neutralised against formula injection,
whole (temporary name, then renamed) and never overwritten without --force.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from event_store import ActivityRow, TicketHistory, open_store
from tests.datasets import RUNNING_EXAMPLE, dataset_path
from tests.integration.test_store_robustness import snapshot

CSMINE = str(Path(sys.executable).with_name("csmine"))
HEADER = "case:concept:name,concept:name,time:timestamp,org:resource,note\n"
FORMULAS = ["=cmd|' /C calc'!A0", "@HYPERLINK(\"http://x\",\"y\")", "+SUM(1,2)", "-2+3", "\tTAB", "\rCR",
            "'already quoted", "''=two", "-", "-5", "+1.5e3", "plain"]


@pytest.fixture
def filled(cli, tmp_path):
    store = str(tmp_path / "csmine.db")
    result = cli("import", dataset_path(*RUNNING_EXAMPLE), "--store", store, "--quiet")
    assert result.exit_code == 0, result.output
    return store


def state(store):
    with open_store(store) as s:
        return snapshot(s)


def refused(cli, store, *args, code=3, match=()):
    before = state(store)
    result = cli(*args, "--store", store) if args[0] != "--" else cli(*args[1:])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for part in match:
        assert part in result.stderr, result.stderr
    assert state(store) == before
    return result.stderr


def cells_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [c for row in csv.reader(fh) for c in row]


def rows_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write_csv(path: Path, rows: list[list[str]], header: str = HEADER) -> Path:
    buf = io.StringIO()
    buf.write(header)
    csv.writer(buf).writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return path


# -- formula cells ----------------------------------------------------------------------------


def test_formula_cells_are_neutralised_and_csmine_reads_its_own_export_back(cli, tmp_path):
    source = write_csv(tmp_path / "in.csv", [
        [f"T{i}" if i % 3 else value, "Receive" if i % 2 else value,
         (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat(), value, value]
        for i, value in enumerate(FORMULAS)])
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    assert cli("import", source, "--store", a, "--quiet").exit_code == 0
    out = tmp_path / "out.csv"
    result = cli("export", out, "--store", a)
    assert result.exit_code == 0, result.output
    cells = cells_of(out)
    for cell in cells:  # nothing a spreadsheet would run as a formula: plain numbers only
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r") or cell in ("-5", "+1.5e3"), cell
    assert "'=cmd|' /C calc'!A0" in cells and "'@HYPERLINK(\"http://x\",\"y\")" in cells
    assert "''already quoted" in cells and "'-2+3" in cells and "'-" in cells and "'\tTAB" in cells
    manifest = json.loads((tmp_path / "out.csv.csmine.json").read_text())
    assert manifest["cells"] == "neutralised" and manifest["format"] == "csmine-export/v1"
    assert manifest["verified"]["log_size"] > 0
    # --raw writes the values as they are
    raw = tmp_path / "raw.csv"
    assert cli("export", raw, "--raw", "--store", a).exit_code == 0
    raw_cells = cells_of(raw)
    assert set(FORMULAS) <= set(raw_cells)
    # csmine's own import of the neutralised export restores the original values
    assert cli("import", out, "--store", b, "--quiet").exit_code == 0
    again = tmp_path / "again.csv"
    assert cli("export", again, "--raw", "--store", b).exit_code == 0
    assert again.read_bytes() == raw.read_bytes()
    # a neutralised export changed afterwards is refused while its manifest is there
    out.write_text(out.read_text(encoding="utf-8") + "T99,x,2024-01-02T00:00:00+00:00,,,,\n", encoding="utf-8")
    c = str(tmp_path / "c.db")
    result = cli("import", out, "--store", c)
    assert result.exit_code == 3 and "changed after csmine exported it" in result.stderr


def test_audit_sample_csv_is_neutralised(cli, tmp_path):
    store = str(tmp_path / "s.db")
    t0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
    flow = ("Receive", "Record", "Classify", "Handle", "Callback", "Archive")
    with open_store(store, create=True) as s:
        s.import_histories([TicketHistory(ticket, t0, {"channel": "phone"},
                                          tuple(ActivityRow(a, t0 + timedelta(minutes=10 * j)) for j, a in
                                                enumerate(flow)))
                            for ticket in ("=HYPERLINK(1)", "@x", "CS-3")])
    out = tmp_path / "qa.csv"
    result = cli("audit", "sample", "--rate", 1, "--seed", "s", "--sop", "complaint", "--out", out,
                 "--store", store)
    assert result.exit_code == 0, result.output
    tickets = [row[0] for row in rows_of(out)][1:]
    assert sorted(tickets) == ["'=HYPERLINK(1)", "'@x", "CS-3"]
    again = cli("audit", "sample", "--rate", 1, "--seed", "s", "--sop", "complaint", "--out", out, "--store", store)
    assert again.exit_code == 73 and "--force" in again.stderr
    raw = cli("audit", "sample", "--rate", 1, "--seed", "s", "--sop", "complaint", "--out", out, "--force",
              "--raw", "--store", store)
    assert raw.exit_code == 0, raw.output
    assert "=HYPERLINK(1)" in [row[0] for row in rows_of(out)]


# -- oversized fields -----------------------------------------------------------------------


def test_a_10_mb_field_is_refused_naming_line_and_flag(cli, filled, tmp_path):
    big = write_csv(tmp_path / "big.csv", [["A", "Receive", "2024-01-01T09:00:00+00:00", "x", "ok"],
                                           ["A", "Record", "2024-01-01T09:05:00+00:00", "x", "n" * (10 << 20)]])
    refused(cli, filled, "import", big, match=["big.csv:3", "attribute 'note'", "10,485,760 bytes",
                                                "65,536 bytes", "csmine --max-value-bytes N import"])
    # the flag raises it
    result = cli("--max-value-bytes", "16M", "import", big, "--store", filled, "--quiet")
    assert result.exit_code == 0, result.output


def test_a_long_activity_or_id_is_refused(cli, filled, tmp_path):
    long = write_csv(tmp_path / "long.csv", [["A", "R" * 5000, "2024-01-01T09:00:00+00:00", "x", "ok"]])
    refused(cli, filled, "import", long, match=["long.csv:2", "the activity is 5,000 bytes", "4,096 bytes",
                                                 "--max-field-bytes"])
    refused(cli, filled, "record", "1", "x" * 5000, "--at", "2024-01-01T00:00Z",
            match=["the activity is 5,000 bytes", "csmine --max-field-bytes N record"])
    refused(cli, filled, "record", "1", "Handle", "--at", "2024-01-01T00:00Z", "--attr", "note=" + "y" * 70000,
            match=["attribute 'note'", "--max-value-bytes"])
    xes = tmp_path / "long.xes"
    xes.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0">\n<trace>\n'
                   f'<string key="concept:name" value="{"T" * 5000}"/>\n<event>\n'
                   '<string key="concept:name" value="a"/>\n'
                   '<date key="time:timestamp" value="2024-01-01T00:00:00+00:00"/>\n</event>\n</trace>\n</log>\n')
    refused(cli, filled, "import", xes, match=["long.xes:3", "the ticket id is 5,000 bytes"])


# -- decompression bombs -----------------------------------------------------------------------


def _bomb(path: Path, inflated: int = 2 << 30) -> Path:
    """About 2.7 MB of gzip that inflates to 2 GiB of well-formed-looking XES."""
    trace = (b'<trace><string key="concept:name" value="T"/><event><string key="concept:name" value="a"/>'
             b'<date key="time:timestamp" value="2024-01-01T00:00:00+00:00"/></event></trace>\n') + b" " * 8000
    block = trace * ((64 << 20) // len(trace))
    member = gzip.compress(block, compresslevel=9)
    with path.open("wb") as fh:
        fh.write(gzip.compress(b'<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0">\n'))
        for _ in range(inflated // len(block)):
            fh.write(member)
    return path


PEAK = """
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(r.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB on Linux
sys.exit(r.returncode)
"""


def test_gzip_bomb_is_refused_in_bounded_memory(filled, tmp_path):
    bomb = _bomb(tmp_path / "bomb.xes.gz")
    assert bomb.stat().st_size < 4 << 20
    before = state(filled)
    result = subprocess.run([sys.executable, "-c", PEAK, CSMINE, "import", str(bomb), "--store", filled],
                            capture_output=True, text=True, timeout=300)
    peak_mb = int(result.stdout.strip()) / 1024
    print(f"\ngzip bomb ({bomb.stat().st_size:,} bytes -> 2 GiB): exit {result.returncode}, "
          f"peak RSS {peak_mb:.0f} MB")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "bomb.xes.gz" in result.stderr and "200 times its size" in result.stderr
    assert "csmine --max-ratio N import" in result.stderr
    assert peak_mb < 500
    assert state(filled) == before


def test_csv_bomb_and_absolute_limit(cli, filled, tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    line = b"A,Receive,2024-01-01T09:00:00+00:00,x," + b"y" * 4000 + b"\n"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(HEADER.encode())
        for _ in range(64):
            fh.write(line * 1024)  # 256 MiB
    refused(cli, filled, "import", bomb, match=["bomb.csv.gz", "decompression bomb", "--max-ratio"])
    refused(cli, filled, "--", "--max-inflated-bytes", "1M", "--max-ratio", "1000000", "import", bomb,
            "--store", filled, match=["inflates to more than 1,048,576 bytes", "--max-inflated-bytes"])


# -- malformed input (kept from before: still clean) ----------------------------------------


def test_duplicate_header_nul_bytes_and_empty_times(cli, filled, tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("case:concept:name,concept:name,time:timestamp,note,note\nA,x,2024-01-01T00:00:00Z,1,2\n")
    refused(cli, filled, "import", dup, match=["column name 'note' appears 2 times"])
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"case:concept:name,concept:name,time:timestamp\nA,x\x00y,2024-01-01T00:00:00Z\n")
    refused(cli, filled, "import", nul, match=["NUL byte"])
    empty = tmp_path / "empty_time.csv"
    empty.write_text("case:concept:name,concept:name,time:timestamp\nA,x,2024-01-01T00:00:00Z\nA,y,\n")
    message = refused(cli, filled, "import", empty, match=["line 3", "the time in column 'time:timestamp' is empty",
                                                            "fill it in or drop the line"])
    assert "--timestamp-format" not in message


# -- files out ---------------------------------------------------------------------------------


def test_files_out_are_never_overwritten_silently(cli, filled, tmp_path):
    out = tmp_path / "log.xes"
    out.write_text("keep me")
    result = cli("export", out, "--store", filled)
    assert result.exit_code == 73 and "exists already" in result.stderr and "--force" in result.stderr
    assert out.read_text() == "keep me"
    assert cli("export", out, "--force", "--store", filled).exit_code == 0
    assert out.read_text().startswith("<?xml")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_checkpoints_never_overwrite_and_an_altered_root_names_the_pinned_key(cli, filled, tmp_path):
    keys = tmp_path / "keys"
    assert cli("keys", "init", "--out", keys).exit_code == 0
    private, public = keys / "csmine-ed25519.key", keys / "csmine-ed25519.pub"
    cp = tmp_path / "cp.json"
    assert cli("checkpoint", "--key", private, "--out", cp, "--store", filled).exit_code == 0
    signed = cp.read_text()
    again = cli("checkpoint", "--key", private, "--out", cp, "--store", filled)
    assert again.exit_code == 73 and "never overwritten" in again.stderr
    assert cp.read_text() == signed
    data = json.loads(signed)
    data["root"] = "0" * 64
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(data))
    result = cli("verify", "--checkpoint", altered, "--public-key", public, "--store", filled)
    assert result.exit_code == 5
    assert "key pinned" in result.stdout and "key NOT the pinned one" not in result.stdout
    assert "signature INVALID" in result.stdout
    assert "although it names the pinned key" in result.stderr


def test_an_untranslated_database_error_is_still_a_clean_message_and_debug_shows_it(cli, filled, monkeypatch):
    import sqlite3

    from event_store.persistence.db import Database

    query = Database.query

    def full(self, sql, params=()):
        if sql.startswith("SELECT COUNT(*) FROM tickets"):  # export's progress count: read outside event_store
            raise sqlite3.OperationalError("database or disk is full")
        return query(self, sql, params)

    monkeypatch.setattr(Database, "query", full)
    result = cli("export", "/tmp/never-written.xes", "--store", filled)
    assert result.exit_code == 74, result.output
    assert f"store {filled}: the disk" in result.stderr and "Traceback" not in result.output
    with pytest.raises(Exception, match="disk is full"):
        cli("--debug", "export", "/tmp/never-written.xes", "--store", filled)
