"""PostgreSQL stores are append-only like SQLite ones: `csmine init` installs the triggers."""

from __future__ import annotations

import json

import psycopg
import pytest

from event_store import open_store
from event_store.persistence.recorders import parse_location

pytestmark = pytest.mark.postgres

STATEMENTS = ("UPDATE ticketstore_events SET topic = 'x'", "DELETE FROM ticketstore_events",
              "TRUNCATE ticketstore_events", "UPDATE event_chain SET link = '\\x00'", "DELETE FROM event_chain",
              "TRUNCATE event_chain CASCADE")


def _conninfo(url: str) -> str:
    p = parse_location(url).pg
    assert p is not None
    return f"dbname={p['dbname']} host={p['host']} port={p['port']} user={p['user']}"


def test_init_installs_append_only_triggers(cli, pg_url):
    result = cli("init", "--store", pg_url)
    assert result.exit_code == 0, result.output
    assert cli("open", "CS-1", "--at", "2024-01-01T00:00Z", "--store", pg_url).exit_code == 0
    with psycopg.connect(_conninfo(pg_url), autocommit=True) as conn:
        for statement in STATEMENTS:
            with pytest.raises(psycopg.Error, match=r"csmine: \w+ is append-only \((UPDATE|DELETE|TRUNCATE) refused\)"):
                conn.execute(statement)
        assert conn.execute("SELECT COUNT(*) FROM ticketstore_events").fetchone()[0] == 1
    # csmine itself still appends
    assert cli("record", "CS-1", "Handle", "--at", "2024-01-01T01:00Z", "--store", pg_url).exit_code == 0


def test_an_older_store_gets_the_triggers_when_its_owner_opens_it(pg_url):
    open_store(pg_url, create=True).close()
    with psycopg.connect(_conninfo(pg_url), autocommit=True) as conn:
        for table in ("ticketstore_events", "event_chain"):
            conn.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            conn.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        conn.execute("UPDATE csmine_meta SET value = 'old' WHERE key = 'schema_rev'")
    open_store(pg_url).close()
    with psycopg.connect(_conninfo(pg_url), autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    assert names == {"ticketstore_events_append_only", "ticketstore_events_no_truncate",
                     "event_chain_append_only", "event_chain_no_truncate"}


def test_concurrent_index_builders_after_a_bulk_load_both_succeed(pg_url):
    """Two imports that loaded one empty store both build its deferred indexes: neither fails.

    PostgreSQL's ``CREATE INDEX IF NOT EXISTS`` is not safe against a concurrent
    creator (the loser hits the catalogue's unique key); the builders take a lock.
    """
    import threading

    from event_store.persistence.bulk import create_indexes, missing_indexes
    from event_store.persistence.recorders import READ_MODEL_INDEXES

    open_store(pg_url, create=True).close()
    for _ in range(5):
        stores = [open_store(pg_url) for _ in range(4)]
        with stores[0].db.transaction(write=True) as cur:
            for name in READ_MODEL_INDEXES:
                cur.execute(f"DROP INDEX IF EXISTS {name}")
        assert sorted(missing_indexes(stores[0].db)) == sorted(READ_MODEL_INDEXES)
        barrier, errors = threading.Barrier(4), []

        def build(store):
            barrier.wait()
            try:
                create_indexes(store.db)
            except Exception as exc:  # noqa: BLE001 - the assertion below reports it
                errors.append(exc)

        threads = [threading.Thread(target=build, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert missing_indexes(stores[0].db) == []
        for s in stores:
            s.close()


def test_stores_in_their_own_schemas_of_one_database_stay_apart(cli, pg_url, tmp_path):
    """``?schema=`` puts a whole store (events, chain, read model) in that schema, created if missing.

    Two stores in one database, and a third in ``public``: each import, proof and
    push-down figure sees only its own schema's events.
    """
    sizes = {"a": 3, "postgres": 2, "public": 1}  # "postgres": the role's own name, first in "$user", public
    urls = {name: pg_url + ("" if name == "public" else f"?schema={name}") for name in sizes}
    for name, tickets in sizes.items():
        source = tmp_path / f"{name}.csv"
        rows = [f"{name}-{t},{step},2024-01-0{t + 1}T0{i}:00Z" for t in range(tickets)
                for i, step in enumerate(("New", "Handle", "Close"))]
        source.write_text("case:concept:name,concept:name,time:timestamp\n" + "\n".join(rows) + "\n")
        imported = cli("import", source, "--store", urls[name], "--quiet")
        assert imported.exit_code == 0, imported.output
    for name, tickets in sizes.items():
        proof = cli("verify", "--store", urls[name])
        assert proof.exit_code == 0, proof.output
        # each ticket: its opening event and three steps
        assert f"{4 * tickets} events re-hashed, {4 * tickets} chain links" in proof.output
        assert f"({3 * tickets} event_log rows of {tickets} tickets" in proof.output
        for engine in ("local", "postgres"):
            result = cli("kpi", "--json", "--store", urls[name], "--engine", engine)
            assert result.exit_code == 0, (engine, result.output)
            kpi = json.loads(result.stdout)
            assert kpi["tickets"]["total"] == kpi["tickets"]["closed"] == tickets, (name, engine)
        assert cli("record", f"{name}-0", "Reopen", "--at", "2024-02-01T00:00Z", "--store", urls[name]).exit_code == 0
    with psycopg.connect(_conninfo(pg_url), autocommit=True) as conn:
        for name, tickets in sizes.items():
            assert conn.execute(f'SELECT COUNT(*) FROM "{name}".event_chain').fetchone()[0] == 4 * tickets + 1
            assert conn.execute(f'SELECT COUNT(*) FROM "{name}".event_log').fetchone()[0] == 3 * tickets + 1
    shown = cli("verify", "--store", urls["a"])
    assert shown.exit_code == 0 and "?schema=a" in shown.output
