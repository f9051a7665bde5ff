"""The tamper matrix, extended to the read model: an edit of what export and the analytics read.

Every attack edits the read model directly (``event_log``, ``tickets``, ``phases``,
``projection_state``, the columnar chunks), on SQLite and on PostgreSQL, on the
template store of the tamper matrix (5 tickets, 35 events, a checkpoint). Each is
detected by ``verify`` with the ticket and version named, and ``export`` refuses to
write anything from it, in every format and view.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from event_store import open_store
from event_store.errors import IntegrityError, ReadModelError
from event_store.io.export import export_store
from event_store.integrity.verify import rebuild_if_safe, verify_store
from tests.integration.test_tamper import Attacker, signed_store, template  # noqa: F401 (fixtures)

# -- the attacks on the read model -----------------------------------------------------------


def _nid(a: Attacker, ticket: str, version: int) -> int:
    return int(a.sql("SELECT notification_id FROM event_log WHERE ticket = ? AND version = ?", (ticket, version))[0][0])


def change_activity(a: Attacker) -> tuple[str, int]:
    a.sql("UPDATE event_log SET activity = 'Resolve' WHERE ticket = 'CS-2' AND version = 3")
    return "CS-2", 3


def change_time(a: Attacker) -> tuple[str, int]:
    a.sql("UPDATE event_log SET occurred_at = occurred_at - 3600000000 WHERE ticket = 'CS-4' AND version = 5")
    return "CS-4", 5


def delete_row(a: Attacker) -> tuple[str, int]:
    a.sql("DELETE FROM event_log WHERE ticket = 'CS-3' AND version = 2")
    return "CS-3", 2


def insert_row(a: Attacker) -> tuple[str, int]:
    cols = ("notification_id, ticket, version, activity, occurred_at, started_at, recorded_at, actor, team, "
            "source_ref, attrs, retracted, corrected, opened_at, channel, category, priority, emotion, customer, "
            "case_team, region")
    row = a.sql(f"SELECT {cols} FROM event_log WHERE ticket = 'CS-1' AND version = 6")[0]
    forged = (row[0] + 1000, row[1], 7, "Callback", *row[4:])
    a.sql(f"INSERT INTO event_log ({cols}) VALUES ({', '.join('?' * len(forged))})", forged)
    return "CS-1", 7


def change_case_attribute(a: Attacker) -> tuple[str, int]:
    a.sql("UPDATE tickets SET channel = 'email' WHERE ticket = 'CS-1'")
    return "CS-1", 0


def change_case_on_rows(a: Attacker) -> tuple[str, int]:
    a.sql("UPDATE event_log SET case_team = 'B' WHERE ticket = 'CS-5'")
    return "CS-5", 1


def delete_ticket(a: Attacker) -> tuple[str, int]:
    a.sql("DELETE FROM tickets WHERE ticket = 'CS-4'")
    return "CS-4", 0


def retract_in_read_model(a: Attacker) -> tuple[str, int]:
    a.sql("UPDATE event_log SET retracted = 1 WHERE ticket = 'CS-2' AND version = 4")
    return "CS-2", 4


def forge_phase(a: Attacker) -> tuple[str, int | None]:
    a.sql("INSERT INTO phases (name, start_at, end_at, cohort, note, notification_id) VALUES "
          "('pilot', 0, NULL, '{}', '', 3)")
    return "phase plan", None


ATTACKS: dict[str, Callable[[Attacker], tuple[str, int | None]]] = {
    "event_log activity changed": change_activity,
    "event_log time changed": change_time,
    "event_log row deleted": delete_row,
    "event_log row inserted": insert_row,
    "tickets attribute changed": change_case_attribute,
    "case columns of event_log changed": change_case_on_rows,
    "tickets row deleted": delete_ticket,
    "event_log row marked retracted": retract_in_read_model,
    "phase inserted": forge_phase,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_read_model_edit_is_detected_and_never_exported(signed_store, attack, tmp_path):  # noqa: F811
    url, table, checkpoint = signed_store
    out = tmp_path / "out"
    out.mkdir()
    with open_store(url) as store:
        assert verify_store(store).ok
    attacker = Attacker(url, table)
    try:
        ticket, version = ATTACKS[attack](attacker)
    finally:
        attacker.close()
    with open_store(url) as store:
        report = verify_store(store)
        assert not report.ok
        first = report.first
        assert first is not None and first.kind == "read_model", report.findings
        assert (first.ticket, first.version) == (ticket, version), report.findings
        assert "--rebuild" in first.message
        assert report.read_model is not None and report.read_model.mode == "full"
        # ... also against the checkpoint (the events still match it)
        against = verify_store(store, checkpoint)
        assert {f.kind for f in against.findings} == {"read_model"}
        assert against.checkpoint is not None and against.checkpoint.root_matches
        # and never reaches a file an auditor takes away
        for name, view in (("t.csv", "corrected"), ("t.xes", "corrected"), ("t.parquet", "corrected"),
                           ("r.csv", "recorded")):
            with pytest.raises(ReadModelError, match=f"refusing to export .*{ticket}"):
                export_store(store, str(out / name), view=view)
        assert os.listdir(out) == []  # not even a temporary file


def test_position_moved_past_the_log_is_detected(signed_store):  # noqa: F811
    url, table, _ = signed_store
    attacker = Attacker(url, table)
    try:
        attacker.sql("UPDATE projection_state SET position = 99")
    finally:
        attacker.close()
    with open_store(url, catch_up=False) as store:
        report = verify_store(store)
    assert report.first is not None and report.first.kind == "read_model"
    assert "records position 99" in report.first.message


def test_a_lagging_read_model_is_compared_up_to_its_position(signed_store):  # noqa: F811
    """A read model behind the log (a writer still catching up) is not a fault."""
    url, table, _ = signed_store
    attacker = Attacker(url, table)
    try:
        attacker.sql("DELETE FROM event_log WHERE notification_id > 30")
        attacker.sql("UPDATE projection_state SET position = 30")
    finally:
        attacker.close()
    with open_store(url, catch_up=False) as store:
        report = verify_store(store)
    assert report.ok, report.findings
    assert report.read_model is not None and (report.read_model.position, report.read_model.lag) == (30, 5)
    assert any("5 event(s) behind" in w for w in report.warnings)


# -- the columnar copy ------------------------------------------------------------------------


def _write_chunk(store, *, tamper: bool = False) -> None:
    """A columnar chunk of event_log, as csmine.eventlog writes them (Arrow IPC, lz4)."""
    import pyarrow as pa

    from event_store.readmodel.projection import COLUMNS_TABLE, EVENT_LOG_COLUMNS
    from event_store.readmodel.check import _INT_COLUMNS

    rows = store.db.query(f"SELECT {', '.join(EVENT_LOG_COLUMNS)} FROM event_log ORDER BY notification_id")
    if tamper:
        i = EVENT_LOG_COLUMNS.index("activity")
        rows[3] = (*rows[3][:i], "Forged", *rows[3][i + 1:])
    schema = pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in EVENT_LOG_COLUMNS])
    cols = list(zip(*rows, strict=True))
    table = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as w:
        w.write_table(table)
    with store.db.transaction(write=True) as cur:
        cur.execute(f"DELETE FROM {COLUMNS_TABLE}")
        cur.execute(f"INSERT INTO {COLUMNS_TABLE} (chunk, first_nid, last_nid, rows, arrow) VALUES (?, ?, ?, ?, ?)",
                    (1, 1, int(rows[-1][0]), len(rows), sink.getvalue().to_pybytes()))


def test_columnar_chunk_edit_is_detected(signed_store):  # noqa: F811
    url, _, _ = signed_store
    with open_store(url) as store:
        _write_chunk(store)
        report = verify_store(store)
        assert report.ok, report.findings
        assert report.read_model is not None and report.read_model.chunks == 1
        _write_chunk(store, tamper=True)
        report = verify_store(store)
    assert report.first is not None and report.first.kind == "read_model"
    assert "event_log_columns" in report.first.message and "what the analytics read" in report.first.message


# -- sampling and rebuilding -------------------------------------------------------------------


def test_fast_verify_samples_tickets_but_always_rehashes_every_event(signed_store):  # noqa: F811
    url, table, _ = signed_store
    with open_store(url) as store:
        sample = verify_store(store, read_model="sample", sample_rate=1.0)
        assert sample.ok and sample.read_model is not None and sample.read_model.mode == "sample"
        assert sample.read_model.tickets == 5 and sample.events == 35
    attacker = Attacker(url, table)
    try:
        change_activity(attacker)
    finally:
        attacker.close()
    with open_store(url) as store:
        assert not verify_store(store, read_model="sample", sample_rate=1.0).ok
        none = verify_store(store, read_model="sample", sample_rate=1e-9)  # draws (almost surely) no ticket
        assert none.ok and none.read_model is not None and none.read_model.tickets == 0


def test_rebuild_needs_a_pinned_checkpoint_that_covers_the_difference(signed_store, tmp_path):  # noqa: F811
    url, table, checkpoint = signed_store
    key = base64.b64decode(checkpoint.public_key)
    attacker = Attacker(url, table)
    try:
        change_activity(attacker)
    finally:
        attacker.close()
    with open_store(url) as store:
        with pytest.raises(IntegrityError, match="give the latest checkpoint"):
            rebuild_if_safe(store, None)
        with pytest.raises(IntegrityError, match="public key you trust"):
            rebuild_if_safe(store, checkpoint)
        before, after = rebuild_if_safe(store, checkpoint, trusted_key=key)
        assert not before.ok and after is not None and after.ok
        assert export_store(store, str(tmp_path / "ok.csv")) == (5, 30)


def test_rebuild_refuses_differences_after_the_checkpoint(signed_store):  # noqa: F811
    url, table, checkpoint = signed_store
    with open_store(url) as store:
        store.record_activity("CS-1", "Reopen", datetime(2025, 3, 5, tzinfo=UTC))  # position 36, not signed
    attacker = Attacker(url, table)
    try:
        attacker.sql("UPDATE event_log SET activity = 'Archive' WHERE ticket = 'CS-1' AND version = 7")
    finally:
        attacker.close()
    with open_store(url) as store, pytest.raises(IntegrityError, match="does not cover"):
        rebuild_if_safe(store, checkpoint, trusted_key=base64.b64decode(checkpoint.public_key))


def test_rebuild_refuses_when_the_events_were_rewritten(signed_store):  # noqa: F811
    from tests.integration.test_tamper import change_payload_byte

    url, table, checkpoint = signed_store
    attacker = Attacker(url, table)
    try:
        change_payload_byte(attacker)
        attacker.rewrite_chain()
    finally:
        attacker.close()
    with open_store(url) as store:
        with pytest.raises(IntegrityError, match="the events themselves do not verify"):
            rebuild_if_safe(store, checkpoint, trusted_key=base64.b64decode(checkpoint.public_key))
        # the read model still holds the original: it was not rebuilt
        assert verify_store(store).first.kind == "read_model"


def test_cli_verify_export_and_sample_refuse_an_edited_read_model(signed_store, cli, tmp_path):  # noqa: F811
    url, table, _ = signed_store
    attacker = Attacker(url, table)
    try:
        change_activity(attacker)
    finally:
        attacker.close()
    result = cli("verify", "--store", url)
    assert result.exit_code == 5
    assert "read model: DIFFERS FROM the events" in result.stdout
    assert "ticket CS-2" in result.stderr and "--rebuild" in result.stderr
    out = tmp_path / "t.csv"
    result = cli("export", out, "--store", url)
    assert result.exit_code == 5 and "refusing to export" in result.stderr and not out.exists()
    result = cli("audit", "sample", "--rate", 1, "--seed", "s", "--sop", "complaint", "--store", url)
    assert result.exit_code == 5 and "refusing to sample" in result.stderr
    result = cli("verify", "--rebuild", "--store", url)
    assert result.exit_code == 5 and "give the latest checkpoint" in result.stderr
