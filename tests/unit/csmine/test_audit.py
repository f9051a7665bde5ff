"""The audit sample (hash-based, reproducible), its checklist, and the ticket trace."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from process_models import load_sop

from csmine.audit.checklist import audit_tickets
from csmine.audit.sample import audit_sample, sample_score, sample_tickets
from csmine.errors import AuditError

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
H, D = 60, 24 * 60

# Hand-made complaint tickets (minutes after T0), with the verdicts worked out by hand
# against the complaint SOP (first response = Record within 30 min; contacts = Record,
# Wait for customer, Handle, Callback; close = Archive).
TICKETS = {
    # all as the SOP says; longest silence Record 09:10 -> Handle 12:00 = 2 h 50 m
    "A": [("Receive", 0), ("Record", 10), ("Classify", 30), ("Handle", 3 * H), ("Callback", D + H),
          ("Archive", D + 2 * H)],
    # Classify and Callback skipped, first response after 1 h, Wait after the Archive
    "B": [("Receive", 0), ("Record", H), ("Handle", 2 * H), ("Archive", 3 * H), ("Wait for customer", 4 * H)],
    # three days without a word between Record and Handle
    "C": [("Receive", 0), ("Record", 5), ("Classify", 20), ("Handle", 3 * D), ("Callback", 3 * D + H),
          ("Archive", 3 * D + 2 * H)],
    # long handling, but a waiting notice splits the silence: 55 m, 22 h, 23 h
    "D": [("Receive", 0), ("Record", 5), ("Classify", 20), ("Handle", H), ("Wait for customer", D - H),
          ("Handle", 2 * D - 2 * H), ("Callback", 2 * D), ("Archive", 2 * D + H)],
    # still open after Classify
    "E": [("Receive", 0), ("Record", 20), ("Classify", 40)],
}


def frame(tickets: dict[str, list[tuple[str, int]]] = TICKETS) -> pd.DataFrame:
    rows = []
    event_id = 100
    for ticket, steps in tickets.items():
        for version, (activity, minutes) in enumerate(steps, 1):
            rows.append({"case:concept:name": ticket, "concept:name": activity,
                         "time:timestamp": T0 + timedelta(minutes=minutes), "case:opened_at": T0,
                         "@@event_id": event_id, "@@version": version})
            event_id += 1
    df = pd.DataFrame(rows)
    for col in ("time:timestamp", "case:opened_at"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


@pytest.fixture(scope="module")
def audits():
    return {a.ticket: a for a in audit_tickets(frame(), load_sop("complaint"))}


# event ids: A 100-105, B 106-110, C 111-116, D 117-124, E 125-127
EXPECTED = {
    "A": {"recorded_as_sop": (True, ()), "first_response_in_time": (True, (101,)),
          "customer_kept_informed": (True, (101, 103)), "callback_done": (True, (104,)),
          "closed_properly": (True, (105,))},
    "B": {"recorded_as_sop": (False, (108, 109)), "first_response_in_time": (False, (107,)),
          "customer_kept_informed": (True, (107, 108)), "callback_done": (False, (108,)),
          "closed_properly": (False, (110,))},
    "C": {"recorded_as_sop": (True, ()), "first_response_in_time": (True, (112,)),
          "customer_kept_informed": (False, (112, 114)), "callback_done": (True, (115,)),
          "closed_properly": (True, (116,))},
    "D": {"recorded_as_sop": (True, ()), "first_response_in_time": (True, (118,)),
          "customer_kept_informed": (True, (118, 120, 121, 122)), "callback_done": (True, (123,)),
          "closed_properly": (True, (124,))},
    "E": {"recorded_as_sop": (True, ()), "first_response_in_time": (True, (126,)),
          "customer_kept_informed": (True, (126,)), "callback_done": (None, ()),
          "closed_properly": (None, ())},
}


@pytest.mark.parametrize("ticket", sorted(EXPECTED))
def test_checklist_verdicts_and_evidence(audits, ticket):
    got = {c.check: (c.passed, c.evidence) for c in audits[ticket].checks}
    assert got == EXPECTED[ticket]


def test_checklist_details_say_why(audits):
    assert audits["A"].passed is True and audits["D"].passed is True and audits["E"].passed is True
    assert audits["B"].passed is False and audits["C"].passed is False
    assert audits["B"].check("recorded_as_sop").detail == "skipped: Classify, Callback"
    assert audits["B"].check("first_response_in_time").detail == "first response after 1h (target 30m)"
    assert audits["B"].check("closed_properly").detail == "last step is Wait for customer, not Archive"
    assert audits["C"].check("customer_kept_informed").detail == "no contact for 3d (allowed 1d)"
    assert audits["D"].check("customer_kept_informed").detail == "longest silence 23h (allowed 1d)"
    assert audits["E"].check("recorded_as_sop").detail == "no SOP step skipped; still open, 3 SOP steps to come"


def test_inform_within_is_a_parameter():
    strict = {a.ticket: a for a in audit_tickets(frame({"D": TICKETS["D"]}), load_sop("complaint"),
                                                 inform_within=timedelta(hours=12))}
    check = strict["D"].check("customer_kept_informed")
    # ids 100-107 here; the longest silence is Wait (104) -> Handle (105), 23 h
    assert (check.passed, check.evidence) == (False, (104, 105))
    assert check.detail == "no contact for 23h (allowed 12h)"


def test_checks_without_sop_roles_do_not_apply():
    # it-incident has no callback role: the callback check does not apply
    df = frame({"X": [("Accepted/In Progress", 0), ("Completed/Resolved", 30), ("Completed/Closed", 60)]})
    audit = audit_tickets(df, load_sop("it-incident"))[0]
    assert audit.check("callback_done").passed is None
    assert audit.check("closed_properly").passed is True
    assert audit.check("first_response_in_time").passed is True


# -- sampling ----------------------------------------------------------------------------------


def test_score_is_the_documented_hash():
    digest = hashlib.sha256(b"csmine-sample/v1\x002025-03-03\x00CS-1001").digest()
    assert sample_score("2025-03-03", "CS-1001") == int.from_bytes(digest[:8], "big") / 2**64


def test_sample_is_reproducible_nested_and_stable_under_growth():
    tickets = [f"T{i}" for i in range(5000)]
    ten = sample_tickets(tickets, 0.1, "seed-1")
    assert ten == sample_tickets(list(reversed(tickets)), 0.1, "seed-1")
    assert set(sample_tickets(tickets, 0.05, "seed-1")) <= set(ten)
    grown = sample_tickets(tickets + [f"N{i}" for i in range(3000)], 0.1, "seed-1")
    assert [t for t in grown if t.startswith("T")] == ten
    other = sample_tickets(tickets, 0.1, "seed-2")
    assert other != ten
    # binomial(5000, 0.1): mean 500, sd 21.2; within 4 sd
    assert 415 <= len(ten) <= 585
    assert sample_tickets(tickets, 1.0, "x") == sorted(tickets)


def test_rate_must_be_a_share():
    with pytest.raises(AuditError, match=r"outside \(0, 1\]"):
        sample_tickets(["a"], 0.0, "s")


def test_audit_sample_draws_by_hash_and_summarises():
    df = frame()
    sample = audit_sample(df, load_sop("complaint"), rate=0.5, seed="qa")
    expected = [t for t in sorted(TICKETS) if sample_score("qa", t) < 0.5]
    assert [t.ticket for t in sample.tickets] == expected
    assert sample.population == 5 and sample.selected == len(expected)
    for t in sample.tickets:
        assert t.score == sample_score("qa", t.ticket)
        assert {c.check: (c.passed, c.evidence) for c in t.checks} == EXPECTED[t.ticket]
    recorded = sample.summary["recorded_as_sop"]
    assert recorded["failed"] == int("B" in expected)
    assert sum(recorded.values()) == len(expected)
    table = sample.to_frame()
    assert list(table["ticket"]) == expected
    if "B" in expected:
        row = table.set_index("ticket").loc["B"]
        assert (row["recorded_as_sop"], row["recorded_as_sop_evidence"]) == ("fail", "108 109")


def test_a_checkpoint_is_named_after_its_time_never_overwritten_and_verifies(tmp_path, monkeypatch):
    import os

    from event_store import ActivityRow, TicketHistory, open_store
    from event_store.errors import OutputExistsError
    from event_store.integrity.checkpoint import generate_keys

    from csmine.audit.integrity import check_verified, checkpoint_file_name, sign_checkpoint, verify_location

    db = str(tmp_path / "s.db")
    t0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
    with open_store(db, create=True) as s:
        s.import_histories([TicketHistory(t, t0, {}, (ActivityRow("Receive", t0), ActivityRow("Record", t0 + timedelta(
            minutes=5)))) for t in ("A", "B")])
    keys = generate_keys(tmp_path / "keys")
    monkeypatch.chdir(tmp_path)
    signed = sign_checkpoint(db, str(keys.private), None)
    assert signed.checkpoint.size == 6  # two openings and four steps
    assert signed.path == checkpoint_file_name(signed.checkpoint) and os.path.exists(signed.path)
    assert signed.path == f"csmine-checkpoint-{signed.checkpoint.issued_at.replace(':', '').replace('-', '')}.json"
    assert signed.to_dict()["file"] == signed.path and signed.to_dict()["size"] == 6
    with pytest.raises(OutputExistsError, match="checkpoints are never overwritten"):
        sign_checkpoint(db, str(keys.private), signed.path)
    assert sign_checkpoint(db, str(keys.private), "-").path is None
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".json")) == [signed.path]
    done = verify_location(db, signed.path, str(keys.public))
    assert done.report.ok and done.rebuilt_from is None and done.report.checkpoint.root_matches
    check_verified(done.report)  # raises nothing
