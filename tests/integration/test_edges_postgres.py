"""PostgreSQL stores are append-only like SQLite ones: `csmine init` installs the triggers."""

from __future__ import annotations

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
