"""The bulk import path writes exactly what the library's aggregate path would.

Imports build stored events directly (no aggregate replay, JSON built as text) for
speed. These tests hold that shortcut to the library: for arbitrary tickets the
stored bytes equal the library mapper's encoding of the events ``Ticket`` itself
triggers, ``repository.get`` reads them back to the same state, the read model
equals a rebuild from the log, and the hash chain covers every event.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from event_store import CASE_FIELDS, ActivityRow, Ticket, TicketHistory, open_store, ticket_id
from event_store.domain import TOPIC_ACTIVITY, TOPIC_OPENED

ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(hours=2))]
times = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.sampled_from(ZONES))
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
values = st.one_of(text, st.integers(-(2**60), 2**60), st.floats(allow_nan=False, allow_infinity=False),
                   st.booleans(), st.none(), times)
rows = st.builds(
    ActivityRow,
    activity=names,
    occurred_at=times,
    actor=st.none() | text,
    team=st.none() | text,
    started_at=st.none() | times,
    source_ref=st.none() | text,
    attrs=st.dictionaries(names, values, max_size=4),
)
cases = st.fixed_dictionaries(
    {}, optional={"channel": names, "priority": names, "team": names, "region": names, "impact": values,
                  "opened_on": times}
)
_ids = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path_factory):
    """One store per backend: PostgreSQL's rows go by ``COPY (FORMAT csv)`` (quoting, NULL and empty text)."""
    if request.param == "sqlite":
        location = str(tmp_path_factory.mktemp("bulk") / "bulk.db")
    else:
        location = request.getfixturevalue("pg_server").create_database(f"bulk{os.getpid()}")
    s = open_store(location, create=True)
    yield s
    s.close()


def _has_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (tuple, list)):
        return any(_has_nul(v) for v in value)
    if isinstance(value, (TicketHistory, ActivityRow)):
        return any(_has_nul(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _library_state(store, history, stored_events):
    """Encode the events that the Ticket aggregate itself triggers for ``history``."""
    # The store's documented case cleaning: no None values, case fields as text.
    case = {k: (str(v) if k in CASE_FIELDS else v) for k, v in history.case.items() if v is not None}
    ticket = Ticket(external_id=history.ticket, occurred_at=history.opened_at, case=case,
                    actor=None, source_ref=history.source_ref)
    for row in history.steps:
        ticket.record_activity(row.activity, row.occurred_at, actor=row.actor, team=row.team,
                               started_at=row.started_at, source_ref=row.source_ref, attrs=row.attrs or None)
    out = []
    for event, stored in zip(ticket.collect_events(), stored_events, strict=True):
        # The recording time is the one moment the two paths cannot share.
        event.__dict__["timestamp"] = store.mapper.to_domain_event(stored).timestamp
        out.append(store.mapper.to_stored_event(event))
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opened=times, case=cases, steps=st.lists(rows, max_size=6), ref=st.none() | text)
def test_bulk_bytes_equal_the_library_encoding(store, opened, case, steps, ref):
    history = TicketHistory(f"T{next(_ids)}", opened, case, tuple(steps), ref)
    # PostgreSQL text holds no NUL character (the file readers refuse one for every store).
    assume(store.location.kind == "sqlite" or not _has_nul(history))
    result = store.import_histories([history])
    assert (result.tickets_added, result.events_added) == (1, len(steps))
    stored = list(store.recorder.select_events(ticket_id(history.ticket)))
    assert [s.topic for s in stored] == [TOPIC_OPENED] + [TOPIC_ACTIVITY] * len(steps)
    assert [s.originator_version for s in stored] == list(range(len(steps) + 1))
    expected = _library_state(store, history, stored)
    assert [s.state for s in stored] == [e.state for e in expected]
    # The library reads the stored bytes back to the ticket's state.
    state = store.get_ticket(history.ticket)
    assert [s["activity"] for s in state["steps"].values()] == [r.activity for r in history.steps]
    assert [s["occurred_at"] for s in state["steps"].values()] == [r.occurred_at for r in history.steps]
    assert [s["attrs"] for s in state["steps"].values()] == [r.attrs for r in history.steps]


def test_read_model_written_in_the_same_pass_equals_a_rebuild(store):
    before = _read_model(store)
    assert before[0], "the property test above filled the store"
    store.projection.rebuild()
    assert _read_model(store) == before


def test_chain_covers_every_event(store):
    events = store.db.query(f"SELECT COUNT(*) FROM {store.recorder.events_table_name}")[0][0]
    assert store.db.query("SELECT COUNT(*), MAX(seq) FROM event_chain")[0] == (events, events)
    assert store.db.query("SELECT size FROM chain_head")[0][0] == events


def _read_model(store):
    return (
        store.db.query("SELECT * FROM event_log ORDER BY notification_id"),
        store.db.query("SELECT * FROM tickets ORDER BY notification_id"),
        store.db.query("SELECT position FROM projection_state"),
    )


def test_import_checkpoints_the_wal_and_restores_the_default(tmp_path):
    path = tmp_path / "wal.db"
    t0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    histories = [TicketHistory(f"W-{i}", t0, {"channel": "phone"},
                               (ActivityRow("Receive", t0 + timedelta(minutes=i)),)) for i in range(50)]
    with open_store(str(path), create=True) as store:
        store.import_histories(histories, batch_size=7)
        conn = store.db._connect()
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert store.db.query("SELECT COUNT(*) FROM event_log")[0][0] == 50
    with open_store(str(path)) as again:  # everything committed is readable by a new connection
        assert again.db.query("SELECT COUNT(*) FROM event_log")[0][0] == 50
