"""Real logs import exactly, on SQLite and PostgreSQL, and survive export/re-import.

Published figures: BPI Challenge 2013 incidents 7,554 tickets, 65,533 events,
13 activities (concept:name/lifecycle:transition), 2,278 variants; Helpdesk 4,580 /
21,348; pm4py's running example 6 / 42. BPIC is parsed once and imported once per
backend (module-scoped stores).
"""

from __future__ import annotations

import os
from datetime import datetime

import pandas as pd
import pytest

from event_store import open_store
from event_store.io.export import export_store, iter_tickets
from event_store.io.importing import read_histories
from tests.datasets import BPIC2013, HELPDESK, RUNNING_EXAMPLE, dataset_path

from csmine.eventlog.loading import load_event_log
from csmine.mining.stats import compute_stats

pytestmark = pytest.mark.slow

BPIC_ACTIVITIES = {
    "Accepted/In Progress", "Accepted/Assigned", "Accepted/Wait - User", "Accepted/Wait - Implementation",
    "Accepted/Wait", "Accepted/Wait - Vendor", "Accepted/Wait - Customer", "Queued/Awaiting Assignment",
    "Completed/Resolved", "Completed/Closed", "Completed/In Call", "Completed/Cancelled", "Unmatched/Unmatched",
}


@pytest.fixture(scope="module")
def bpic_histories():
    return read_histories(str(dataset_path(*BPIC2013)))


@pytest.fixture(scope="module")
def bpic_sqlite(bpic_histories, tmp_path_factory):
    store = open_store(str(tmp_path_factory.mktemp("bpic") / "bpic.db"), create=True)
    store.import_histories(bpic_histories)
    yield store
    store.close()


@pytest.fixture(scope="module")
def bpic_postgres(bpic_histories, pg_server):
    store = open_store(pg_server.create_database(f"bpic_{os.getpid()}"), create=True)
    store.import_histories(bpic_histories)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def bpic(request):
    return request.getfixturevalue(f"bpic_{request.param}")


def chain_state(store):
    table = store.recorder.events_table_name
    return (
        store.db.query(f"SELECT COUNT(*) FROM {table}")[0][0],
        store.db.query("SELECT COUNT(*), MAX(seq) FROM event_chain")[0],
        store.db.query("SELECT size, head FROM chain_head")[0],
    )


def test_bpic2013_counts(bpic):
    stats = compute_stats(load_event_log(bpic))
    assert (stats.tickets, stats.events, stats.activities, stats.variants) == (7554, 65533, 13, 2278)
    assert set(stats.activity_counts) == BPIC_ACTIVITIES
    assert stats.activity_counts["Accepted/In Progress"] == 30239  # the log's most frequent status
    assert stats.first_event == "2010-03-31T14:59:42+00:00"  # 16:59:42+02:00 in the file
    events, (chain_rows, last_seq), (size, _) = chain_state(bpic)
    assert events == 65533 + 7554  # one opening per ticket
    assert chain_rows == last_seq == size == events


def test_bpic2013_reimport_adds_nothing(bpic, bpic_histories):
    before = chain_state(bpic)
    result = bpic.import_histories(bpic_histories)
    assert (result.tickets_added, result.events_added, result.tickets_unchanged) == (0, 0, 7554)
    assert (result.tickets_seen, result.events_seen) == (7554, 65533)
    assert chain_state(bpic) == before


def test_bpic2013_lifecycle_detected_as_status(bpic_histories):
    explicit = read_histories(str(dataset_path(*BPIC2013)), lifecycle="status")
    assert [[s.activity for s in h.steps] for h in explicit] == [[s.activity for s in h.steps] for h in bpic_histories]
    first = bpic_histories[0]
    assert first.ticket == "1-364285768"
    assert [s.activity for s in first.steps][:3] == ["Accepted/In Progress", "Accepted/In Progress",
                                                     "Queued/Awaiting Assignment"]
    assert first.steps[0].actor == "Frederic" and first.steps[0].team == "V30"
    assert first.steps[0].attrs == {"resource country": "France", "organization country": "fr",
                                    "organization involved": "Org line A2", "org:role": "A2_4",
                                    "impact": "Medium", "product": "PROD582"}


@pytest.mark.parametrize(("parts", "tickets", "events"), [(HELPDESK, 4580, 21348), (RUNNING_EXAMPLE, 6, 42)],
                         ids=["helpdesk", "running-example"])
def test_other_real_logs(store_url, parts, tickets, events):
    with open_store(store_url, create=True) as store:
        result = store.import_histories(read_histories(str(dataset_path(*parts))))
        assert (result.tickets_added, result.events_added) == (tickets, events)
        df = load_event_log(store)
        assert (df["case:concept:name"].nunique(), len(df)) == (tickets, events)
        assert chain_state(store)[0] == events + tickets


# -- export and re-import -----------------------------------------------------------------

KEYS = ["case:concept:name", "concept:name", "time:timestamp", "start_timestamp", "org:resource", "org:group"]


def comparable(df: pd.DataFrame, *, as_text: bool = False) -> pd.DataFrame:
    """Everything an export must keep: ids, activities, order, times, actors, attributes."""
    drop = {"@@event_id", "recorded_at", "source_ref", "case:opened_at", "case:phase"}
    out = df[[c for c in df.columns if c not in drop]].copy()
    out["position"] = out.groupby("case:concept:name", sort=False).cumcount()
    out = out.drop(columns=["@@version"]).sort_values(["case:concept:name", "position"]).reset_index(drop=True)
    if as_text:
        for col in out.columns:
            if col not in ("time:timestamp", "start_timestamp", "position"):
                out[col] = out[col].map(lambda v: None if v is None or v != v else str(v)).astype(object)
    return out


def assert_same_log(original: pd.DataFrame, again: pd.DataFrame, *, as_text: bool = False) -> None:
    a = comparable(original, as_text=as_text)
    b = comparable(again, as_text=as_text)
    assert sorted(a.columns) == sorted(b.columns)
    b = b[a.columns]
    assert len(a) == len(b)
    assert (a["time:timestamp"] == b["time:timestamp"]).all()  # to the microsecond
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    if not as_text:  # typed formats keep each attribute's Python type
        for col in a.columns:
            if a[col].dtype == object:
                assert [type(v) for v in a[col]] == [type(v) for v in b[col]], col


def same_tickets(original, again, *, as_text: bool = False) -> None:
    """Tickets in order, case attributes, events in order with times to the microsecond,
    actors, teams and typed attributes (as text for CSV)."""
    def norm(value):
        return value if not as_text or value is None or isinstance(value, datetime) else str(value)

    a = list(iter_tickets(original))
    b = list(iter_tickets(again))
    assert [t for t, _, _ in a] == [t for t, _, _ in b]
    for (ticket, case_a, events_a), (_, case_b, events_b) in zip(a, b, strict=True):
        assert {k: norm(v) for k, v in case_a.items()} == case_b, ticket
        assert len(events_a) == len(events_b), ticket
        for ea, eb in zip(events_a, events_b, strict=True):
            assert {k: (norm(v) if k != "attrs" else {ak: norm(av) for ak, av in v.items()}) for k, v in ea.items()} == eb
            if not as_text:
                assert [type(v) for v in ea["attrs"].values()] == [type(v) for v in eb["attrs"].values()]


def test_bpic2013_xes_export_reimport_round_trip(bpic_sqlite, tmp_path):
    path = str(tmp_path / "bpic.xes.gz")
    assert export_store(bpic_sqlite, path) == (7554, 65533)
    with open_store(str(tmp_path / "again.db"), create=True) as again:
        again.import_histories(read_histories(path))
        same_tickets(bpic_sqlite, again)
        assert compute_stats(load_event_log(again)).variants == 2278


@pytest.fixture(scope="module")
def bpic_part(bpic_histories, tmp_path_factory):
    """The first 800 BPIC tickets (about 7,000 events), for the table formats."""
    store = open_store(str(tmp_path_factory.mktemp("part") / "part.db"), create=True)
    store.import_histories(bpic_histories[:800])
    yield store
    store.close()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bpic2013_table_export_reimport_round_trip(bpic_part, tmp_path, fmt):
    path = str(tmp_path / f"part.{fmt}")
    tickets, events = export_store(bpic_part, path)
    assert tickets == 800 and events == len(load_event_log(bpic_part))
    with open_store(str(tmp_path / "again.db"), create=True) as again:
        again.import_histories(read_histories(path))
        same_tickets(bpic_part, again, as_text=fmt == "csv")
        assert_same_log(load_event_log(bpic_part, attributes="all"), load_event_log(again, attributes="all"),
                        as_text=fmt == "csv")


def test_bpic2013_postgres_exports_the_same_bytes(bpic_postgres, bpic_sqlite, tmp_path):
    """Same import order, same read model: the two backends export identical files."""
    assert export_store(bpic_postgres, str(tmp_path / "pg.xes")) == (7554, 65533)
    assert export_store(bpic_sqlite, str(tmp_path / "lite.xes")) == (7554, 65533)
    assert (tmp_path / "pg.xes").read_bytes() == (tmp_path / "lite.xes").read_bytes()
