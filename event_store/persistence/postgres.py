"""The PostgreSQL recorder with the hash chain (imported only for PostgreSQL stores,
so that SQLite users never load psycopg)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from event_store.persistence.db import Cursor
from event_store.persistence.recorders import schema_statements, write_chain


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, plus hash chain and schema, in one transaction.

    The chain is written after the insert, while the library's EXCLUSIVE table lock
    is held, so links are appended in notification order.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        from psycopg.sql import SQL

        for statement in schema_statements(True, events_table_name):
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]

    def _schema_search_path(self, curs: Any) -> None:
        """Resolve csmine's own (unqualified) table names in the store's schema.

        The library's pooled connections keep PostgreSQL's default ``search_path``:
        without this, a store in its own schema would write and read the chain
        tables of ``public`` (or of whatever schema the server resolves first).
        """
        from psycopg.sql import SQL, Identifier

        # "public" too: the server's default "$user", public would resolve to a schema named after the role.
        curs.execute(SQL("SET LOCAL search_path TO {}").format(Identifier(self.datastore.schema)))

    def _create_table(self, curs: Any) -> None:
        self._schema_search_path(curs)
        super()._create_table(curs)

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert ids is not None
        from psycopg.rows import tuple_row

        with curs.connection.cursor(row_factory=tuple_row) as c:
            self._schema_search_path(c)
            write_chain(Cursor(c, True), stored_events, ids, f'"{self.datastore.schema}"."{self.events_table_name}"')
        return ids
