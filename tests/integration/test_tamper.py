"""The tamper matrix: every edit an attacker with database access can make is detected.

Each case builds a small store (5 tickets, 35 events) on SQLite and on PostgreSQL,
signs a checkpoint, tampers with the database directly (on SQLite after dropping
the append-only triggers, as an attacker would), and checks that ``verify_store``
names the first ticket and version that no longer matches. A full rewrite that
recomputes every chain link and the head passes without a checkpoint and fails
against the one signed before.
"""

from __future__ import annotations

import base64
import itertools
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from event_store import ActivityRow, TicketHistory, open_store, ticket_id
from event_store.integrity.checkpoint import generate_keys, load_private_key
from event_store.domain import TOPIC_RETRACTED
from event_store.integrity.chain import ZERO, head_link, stream_link
from event_store.persistence.recorders import parse_location
from event_store.integrity.verify import issue_checkpoint, verify_store

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
STEPS = ("Receive", "Record", "Classify", "Handle", "Callback", "Archive")


def histories(n: int = 5) -> list[TicketHistory]:
    return [
        TicketHistory(
            f"CS-{i}", T0 + timedelta(hours=i), {"channel": "phone", "team": "A"},
            tuple(ActivityRow(a, T0 + timedelta(hours=i, minutes=10 * j), actor=f"agent{j}")
                  for j, a in enumerate(STEPS)),
        )
        for i in range(1, n + 1)
    ]


class Attacker:
    """Plain SQL on the store's database, bypassing csmine entirely."""

    def __init__(self, url: str, events_table: str) -> None:
        loc = parse_location(url)
        self.postgres = loc.kind == "postgres"
        self.table = events_table
        self.nid = "notification_id" if self.postgres else "rowid"
        if self.postgres:
            import psycopg

            p = loc.pg
            assert p is not None
            self.conn: Any = psycopg.connect(
                f"dbname={p['dbname']} host={p['host']} port={p['port']} user={p['user']}", autocommit=True)
            # csmine init installed append-only triggers; the owner can drop them, as an attacker would
            for t in (events_table, "event_chain"):
                self.conn.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
                self.conn.execute(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
        else:
            self.conn = sqlite3.connect(loc.sqlite_path, isolation_level=None)
            for table in (events_table, "event_chain"):
                for op in ("update", "delete"):
                    self.conn.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_{op}")

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            statement = statement.replace("?", "%s")
        cur = self.conn.execute(statement, params)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def oid(self, ticket: str) -> Any:
        u = ticket_id(ticket)
        return u if self.postgres else u.hex

    def event(self, ticket: str, version: int) -> tuple[int, str, bytes]:
        row = self.sql(f"SELECT {self.nid}, topic, state FROM {self.table} "
                       "WHERE originator_id = ? AND originator_version = ?", (self.oid(ticket), version))[0]
        return int(row[0]), str(row[1]), bytes(row[2])

    def delete(self, ticket: str, version: int) -> int:
        nid = self.event(ticket, version)[0]
        self.sql(f"DELETE FROM {self.table} WHERE {self.nid} = ?", (nid,))
        self.sql("DELETE FROM event_chain WHERE notification_id = ?", (nid,))
        return nid

    def rewrite_chain(self) -> None:
        """Recompute every chain link and the head from the events, as csmine would."""
        rows = self.sql(f"SELECT {self.nid}, originator_id, originator_version, topic, state "
                        f"FROM {self.table} ORDER BY {self.nid}")
        self.sql("DELETE FROM event_chain")
        last: dict[str, bytes] = {}
        head = ZERO
        for seq, (nid, oid, version, topic, state) in enumerate(rows, 1):
            oid = str(oid) if isinstance(oid, UUID) else str(UUID(oid))
            link = stream_link(last.get(oid, ZERO), oid, int(version), topic, bytes(state))
            last[oid] = link
            head = head_link(head, seq, link)
            self.sql("INSERT INTO event_chain (seq, notification_id, originator_id, originator_version, link) "
                     "VALUES (?, ?, ?, ?, ?)", (seq, nid, oid, int(version), link))
        self.sql("UPDATE chain_head SET size = ?, head = ? WHERE id = 1", (len(rows), head))

    def close(self) -> None:
        self.conn.close()


def flip_byte(state: bytes, at: int = 60) -> bytes:
    return state[:at] + bytes([state[at] ^ 0x01]) + state[at + 1:]


# -- the attacks ---------------------------------------------------------------------------


def change_payload_byte(a: Attacker) -> tuple[str, int]:
    nid, _, state = a.event("CS-2", 2)
    a.sql(f"UPDATE {a.table} SET state = ? WHERE {a.nid} = ?", (flip_byte(state), nid))
    return "CS-2", 2


def change_topic(a: Attacker) -> tuple[str, int]:
    nid = a.event("CS-2", 3)[0]
    a.sql(f"UPDATE {a.table} SET topic = ? WHERE {a.nid} = ?", (TOPIC_RETRACTED, nid))
    return "CS-2", 3


def swap_two_events(a: Attacker) -> tuple[str, int]:
    n1, t1, s1 = a.event("CS-1", 2)
    n2, t2, s2 = a.event("CS-3", 4)
    a.sql(f"UPDATE {a.table} SET topic = ?, state = ? WHERE {a.nid} = ?", (t2, s2, n1))
    a.sql(f"UPDATE {a.table} SET topic = ?, state = ? WHERE {a.nid} = ?", (t1, s1, n2))
    return "CS-1", 2


def delete_middle_event(a: Attacker) -> tuple[str, int]:
    a.delete("CS-2", 3)
    return "CS-2", 3


def delete_last_event_of_ticket(a: Attacker) -> tuple[str, int]:
    a.delete("CS-2", 6)
    return "CS-2", 6


def truncate_tail(a: Attacker) -> tuple[str, int]:
    for version in (6, 5, 4):
        a.delete("CS-5", version)
    return "CS-5", 4


def forge_event(a: Attacker) -> tuple[str, int]:
    _, topic, state = a.event("CS-3", 6)
    forged = state.replace(b'"Archive"', b'"Callback"')
    a.sql(f"INSERT INTO {a.table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
          (a.oid("CS-3"), 7, topic, forged))
    return "CS-3", 7


def forge_event_and_chain_row(a: Attacker) -> tuple[str, int]:
    forge_event(a)
    nid, topic, state = a.event("CS-3", 7)
    oid = str(ticket_id("CS-3"))
    prev = bytes(a.sql("SELECT link FROM event_chain WHERE originator_id = ? AND originator_version = 6",
                       (oid,))[0][0])
    seq = int(a.sql("SELECT MAX(seq) FROM event_chain")[0][0]) + 1
    a.sql("INSERT INTO event_chain (seq, notification_id, originator_id, originator_version, link) "
          "VALUES (?, ?, ?, ?, ?)", (seq, nid, oid, 7, stream_link(prev, oid, 7, topic, state)))
    return "CS-3", 7


ATTACKS: dict[str, Callable[[Attacker], tuple[str, int]]] = {
    "payload byte": change_payload_byte,
    "topic": change_topic,
    "swap": swap_two_events,
    "middle delete": delete_middle_event,
    "last event of a ticket": delete_last_event_of_ticket,
    "tail truncation": truncate_tail,
    "forged event": forge_event,
    "forged event and chain row": forge_event_and_chain_row,
}


_clones = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def template(request, tmp_path_factory):
    """One store of 5 tickets (35 events) per backend, with a checkpoint signed over it."""
    keys = generate_keys(tmp_path_factory.mktemp("keys"))
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("template") / "csmine.db")
    else:
        url = request.getfixturevalue("pg_server").create_database(
            f"tamper_tmpl_{os.getpid()}_{next(_clones)}")  # one per module that uses the template
    with open_store(url, create=True) as store:
        store.import_histories(histories())
        checkpoint = issue_checkpoint(store, load_private_key(keys.private))
        table = store.recorder.events_table_name
    assert checkpoint.size == 35
    return request.param, url, table, checkpoint


@pytest.fixture
def signed_store(template, tmp_path, request):
    """A fresh copy of the template store: (url, events table, checkpoint)."""
    kind, url, table, checkpoint = template
    if kind == "sqlite":
        copy = str(tmp_path / "csmine.db")
        with sqlite3.connect(url) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        return copy, table, checkpoint
    import psycopg

    server = request.getfixturevalue("pg_server")
    name = f"tamper_{os.getpid()}_{next(_clones)}"
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
    return url.rsplit("/", 1)[0] + "/" + name, table, checkpoint


def unknown_topic(a: Attacker) -> tuple[str, int]:
    nid = a.event("CS-2", 3)[0]
    a.sql(f"UPDATE {a.table} SET topic = ? WHERE {a.nid} = ?", ("nope.module:Nope", nid))
    return "CS-2", 3


def unreadable_state(a: Attacker) -> tuple[str, int]:
    nid, _, state = a.event("CS-2", 3)
    a.sql(f"UPDATE {a.table} SET state = ? WHERE {a.nid} = ?", (state.replace(b"{", b"[", 1), nid))
    return "CS-2", 3


@pytest.mark.parametrize("attack", [unknown_topic, unreadable_state], ids=["unknown topic", "unreadable state"])
def test_trace_of_an_event_that_no_longer_reads_exits_5(cli, signed_store, attack):
    url, table, _ = signed_store
    ticket, _ = _attack(url, table, attack)
    result = cli("trace", ticket, "--store", url)
    assert result.exit_code == 5, result.output
    assert f"ticket {ticket}" in result.stderr and "cannot be read" in result.stderr
    assert "csmine verify" in result.stderr


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_tampering_is_detected_and_named(signed_store, attack):
    url, table, checkpoint = signed_store
    with open_store(url) as store:
        assert verify_store(store).ok
    attacker = Attacker(url, table)
    try:
        ticket, version = ATTACKS[attack](attacker)
    finally:
        attacker.close()
    with open_store(url) as store:
        report = verify_store(store)
        against_checkpoint = verify_store(store, checkpoint)
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.ticket, first.version) == (ticket, version), report.findings
    assert ticket in first.message
    assert not against_checkpoint.ok


def test_full_rewrite_passes_alone_and_fails_against_the_checkpoint(signed_store):
    url, table, checkpoint = signed_store
    attacker = Attacker(url, table)
    try:
        change_payload_byte(attacker)
        attacker.rewrite_chain()
    finally:
        attacker.close()
    with open_store(url) as store:
        partial = verify_store(store)
    # The chain is consistent again, but the read model still shows the original
    # history: the only trace inside the database, named as a read-model difference.
    assert {f.kind for f in partial.findings} == {"read_model"}, partial.findings
    assert (partial.first.ticket, partial.first.version) == ("CS-2", 2)
    with open_store(url) as store:
        store.projection.rebuild()  # the attacker rebuilds the read model too
        alone = verify_store(store)
        report = verify_store(store, checkpoint)
    assert alone.ok, alone.findings  # internally consistent: nothing in the database can tell
    assert not report.ok
    assert report.first is not None and report.first.kind == "checkpoint"
    assert report.checkpoint is not None
    assert report.checkpoint.signature_valid and not report.checkpoint.root_matches
    assert (report.checkpoint.differs_from, report.checkpoint.differs_to) == (1, 35)


def test_truncation_with_rewritten_head_is_caught_by_the_checkpoint(signed_store):
    url, table, checkpoint = signed_store
    attacker = Attacker(url, table)
    try:
        truncate_tail(attacker)
        attacker.rewrite_chain()
    finally:
        attacker.close()
    with open_store(url) as store:
        partial = verify_store(store)
        assert {f.kind for f in partial.findings} == {"read_model"}, partial.findings  # rows of the cut events
        assert (partial.first.ticket, partial.first.version) == ("CS-5", 4)
        store.projection.rebuild()
        assert verify_store(store).ok
        report = verify_store(store, checkpoint)
    assert report.first is not None and report.first.kind == "checkpoint"
    assert "covers 35 entries but the log holds 32" in report.first.message


def test_checkpoint_still_verifies_after_the_log_grows(signed_store):
    url, _, checkpoint = signed_store
    with open_store(url) as store:
        store.record_activity("CS-1", "Reopen", T0 + timedelta(days=3))
        store.import_histories(histories(7))
        report = verify_store(store, checkpoint)
    assert report.ok, report.findings
    assert report.size == 35 + 1 + 2 * 7
    assert report.checkpoint is not None and report.checkpoint.root_matches and report.checkpoint.head_matches


def test_altered_checkpoint_fails_its_signature(signed_store):
    from dataclasses import replace

    url, _, checkpoint = signed_store
    forged = replace(checkpoint, size=34)
    with open_store(url) as store:
        report = verify_store(store, forged)
    assert report.first is not None and report.first.kind == "checkpoint"
    assert "signature does not verify" in report.first.message


# -- csmine trace ------------------------------------------------------------------------------


def _attack(url: str, table: str, attack: Callable[[Attacker], tuple[str, int]]) -> tuple[str, int]:
    attacker = Attacker(url, table)
    try:
        return attack(attacker)
    finally:
        attacker.close()


def _failed_trace(cli, ticket: str, url: str):
    """``trace TICKET`` as text and as ``--json``: both exit 5 and point to ``csmine verify``;
    the text result and the JSON's integrity block."""
    import json

    text = cli("trace", ticket, "--store", url)
    assert text.exit_code == 5, text.output
    assert "csmine verify" in text.stderr
    as_json = cli("trace", ticket, "--json", "--store", url)
    assert as_json.exit_code == 5, as_json.output
    return text, json.loads(as_json.stdout)["integrity"]


def test_trace_exits_5_when_its_ticket_was_changed(cli, signed_store):
    url, table, _ = signed_store
    assert cli("trace", "CS-2", "--store", url).exit_code == 0
    _attack(url, table, change_payload_byte)
    text, integrity = _failed_trace(cli, "CS-2", url)
    assert "chain BROKEN" in text.stdout
    assert "version 2: stored bytes do not hash to its chain link" in text.stderr
    assert integrity["ok"] is False and integrity["chain_ok"] is False


def test_trace_reports_the_log_cut_after_its_ticket(cli, signed_store):
    """The log's last event deleted with its chain row: the ticket's own chain still re-hashes,
    only the chain head, which records 35 entries, tells."""
    url, table, _ = signed_store
    _attack(url, table, lambda a: (a.delete("CS-5", 6), ("CS-5", 6))[1])
    text, integrity = _failed_trace(cli, "CS-5", url)
    assert "chain head: DOES NOT MATCH" in text.stdout
    assert "the chain head records 35 entries, the chain holds 34" in text.stdout
    assert "CS-5 version 6 (position 35)" in text.stderr
    assert integrity["ok"] is False and integrity["chain_ok"] is True and integrity["log_ok"] is False
    assert (integrity["head_size"], integrity["tree_size"]) == (35, 34)
    assert any("cut off after chain position 34" in p for p in integrity["problems"])


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_trace_of_an_attacked_ticket_exits_5(cli, signed_store, attack):
    url, table, _ = signed_store
    ticket, _ = _attack(url, table, ATTACKS[attack])
    result = cli("trace", ticket, "--store", url)
    assert result.exit_code == 5, result.output
    assert f"ticket {ticket}" in result.stderr and "csmine verify" in result.stderr


# -- append-only guards ------------------------------------------------------------------------


def test_sqlite_triggers_refuse_update_and_delete(tmp_path):
    path = str(tmp_path / "csmine.db")
    with open_store(path, create=True) as store:
        store.import_histories(histories(1))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in ("UPDATE stored_events SET topic = 'x'", "DELETE FROM stored_events",
                          "UPDATE event_chain SET link = x'00'", "DELETE FROM event_chain"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0] == 7
    finally:
        conn.close()


APP_GRANTS = """
GRANT USAGE ON SCHEMA public TO {app};
GRANT SELECT, INSERT ON ticketstore_events, event_chain TO {app};
GRANT SELECT, INSERT, UPDATE ON chain_head TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON event_log, event_log_columns, tickets, phases, projection_state TO {app};
GRANT SELECT ON csmine_meta TO {app};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {app};
"""

# As in docs/audit.md: the library locks the events table IN EXCLUSIVE MODE before
# each insert, which PostgreSQL allows only with UPDATE, DELETE or TRUNCATE
# privilege, so the writer gets UPDATE there; the append-only trigger that
# `csmine init` installed (owned by the owner) refuses it.
LOCK_GRANT_AND_TRIGGER = """
GRANT UPDATE ON ticketstore_events TO {app};
"""


@pytest.fixture
def pg_roles(pg_server):
    """A database owned by an owner role, and an app role that only writes through csmine."""
    import psycopg

    n = next(_clones)
    owner, app, db = f"csmine_owner_{n}", f"csmine_app_{n}", f"roles_{os.getpid()}_{n}"
    admin = f"host=127.0.0.1 port={pg_server.port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN")
        conn.execute(f"CREATE ROLE {app} LOGIN")
        conn.execute(f'CREATE DATABASE "{db}" OWNER {owner}')
    url = f"postgresql://{owner}@127.0.0.1:{pg_server.port}/{db}"
    with open_store(url, create=True) as store:
        store.import_histories(histories(2))
    return url, owner, app, f"host=127.0.0.1 port={pg_server.port} dbname={db}"


def _refused(conninfo: str, statement: str) -> str:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute(statement)
    return str(err.value)


@pytest.mark.postgres
def test_postgres_role_with_only_insert_and_select_cannot_change_history(pg_roles):
    import psycopg

    _, owner, app, conninfo = pg_roles
    with psycopg.connect(f"{conninfo} user={owner}", autocommit=True) as conn:
        conn.execute(APP_GRANTS.format(app=app))
    as_app = f"{conninfo} user={app}"
    for statement in ("UPDATE ticketstore_events SET topic = 'x'", "DELETE FROM ticketstore_events",
                      "TRUNCATE ticketstore_events", "UPDATE event_chain SET link = '\\x00'",
                      "DELETE FROM event_chain", "TRUNCATE event_chain"):
        assert "permission denied" in _refused(as_app, statement)
    with psycopg.connect(as_app, autocommit=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM ticketstore_events").fetchone()[0] == 14


@pytest.mark.postgres
def test_postgres_documented_setup_lets_csmine_append_and_nothing_else(pg_roles):
    import psycopg

    from event_store.application import TicketStore

    url, owner, app, conninfo = pg_roles
    with psycopg.connect(f"{conninfo} user={owner}", autocommit=True) as conn:
        conn.execute(APP_GRANTS.format(app=app))
        conn.execute(LOCK_GRANT_AND_TRIGGER.format(app=app))
    as_app = f"{conninfo} user={app}"
    assert "append-only (UPDATE refused)" in _refused(as_app, "UPDATE ticketstore_events SET topic = 'x'")
    assert "permission denied" in _refused(as_app, "DELETE FROM ticketstore_events")
    assert "permission denied" in _refused(as_app, "TRUNCATE ticketstore_events")
    assert "must be owner" in _refused(
        as_app, "ALTER TABLE ticketstore_events DISABLE TRIGGER ticketstore_events_append_only")
    # csmine itself still appends as the app role (tables made by the owner: no DDL)
    loc = parse_location(url.replace(f"{owner}@", f"{app}@"))
    env = {**loc.library_env(), "CREATE_TABLE": "false"}
    store = TicketStore(loc, env)
    try:
        store.record_activity("CS-1", "Reopen", T0 + timedelta(days=2))
        assert verify_store(store).ok
        assert verify_store(store).events == 15
    finally:
        store.close()


# -- audit packages ----------------------------------------------------------------------------


def test_audit_package_verifies_offline_and_any_change_fails(signed_store, tmp_path):
    import json

    from event_store.integrity.package import check_package, export_package

    url, _, checkpoint = signed_store
    with open_store(url) as store:
        folder = export_package(store, "CS-3", tmp_path / "pkg", checkpoint)
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "checkpoint.json", "events.json",
                                                        "public_key.pem"]
    report = check_package(folder, trusted_key=base64.b64decode(checkpoint.public_key))
    assert report.ok, report.problems
    assert (report.ticket, report.events, report.checkpoint_size) == ("CS-3", 7, 35)
    doc = json.loads((folder / "events.json").read_text())
    assert [e["version"] for e in doc["events"]] == list(range(7))
    assert all(len(e["proof"]) == 6 for e in doc["events"])  # ceil(log2(35)) levels, 32-35 in the last

    def tampered(edit: Callable[[dict[str, Any]], None]) -> tuple[str, ...]:
        changed = json.loads(json.dumps(doc))
        edit(changed)
        (folder / "events.json").write_text(json.dumps(changed))
        try:
            return check_package(folder).problems
        finally:
            (folder / "events.json").write_text(json.dumps(doc))

    def flip_state(d: dict[str, Any]) -> None:
        e = d["events"][2]
        e["state"] = base64.b64encode(flip_byte(base64.b64decode(e["state"]), 30)).decode()

    def flip_proof(d: dict[str, Any]) -> None:
        p = d["events"][4]["proof"]
        p[1] = ("0" if p[1][0] != "0" else "1") + p[1][1:]

    def drop_event(d: dict[str, Any]) -> None:
        del d["events"][3]

    assert tampered(flip_state) == ("version 2: stored bytes do not hash to its chain link",
                                    "version 2: inclusion proof does not lead to the checkpoint's root")
    assert tampered(flip_proof) == ("version 4: inclusion proof does not lead to the checkpoint's root",)
    assert "version 3 is missing (next is 4)" in tampered(drop_event)
    assert check_package(folder).ok
    cp = json.loads((folder / "checkpoint.json").read_text())
    cp["size"] = 36
    (folder / "checkpoint.json").write_text(json.dumps(cp))
    problems = check_package(folder).problems
    assert problems[0].startswith("checkpoint signature does not verify")


def test_audit_export_refuses_a_store_that_no_longer_matches(signed_store, tmp_path):
    from event_store.errors import IntegrityError
    from event_store.integrity.package import export_package

    url, table, checkpoint = signed_store
    attacker = Attacker(url, table)
    try:
        change_payload_byte(attacker)
        attacker.rewrite_chain()
    finally:
        attacker.close()
    with open_store(url) as store, pytest.raises(IntegrityError, match="no longer matches the checkpoint"):
        export_package(store, "CS-3", tmp_path / "pkg", checkpoint)
