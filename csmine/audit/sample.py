"""The quality team's reproducible spot check: a hash-based sample and the service checklist.

**Sampling.** A ticket is in the sample when ``u(seed, ticket) < rate``, where
``u`` is the first 8 bytes of ``SHA-256("csmine-sample/v1" 0x00 seed 0x00 ticket)``
read as a big-endian integer and divided by 2**64 (uniform in [0, 1)). So:

* the same seed on the same tickets gives the same sample, on any machine;
* each ticket's membership depends only on the seed and its own id: tickets added
  to the store later, or filters that keep other tickets, never change whether a
  ticket is drawn (stable under unrelated growth);
* samples nest: with one seed, the 5% sample is inside the 10% sample;
* the sample size is binomial (``rate x population`` on average), not fixed.

**The checklist** (from the service manuals) each sampled ticket gets, item by item
(:data:`CHECKS`), is :func:`csmine.audit.checklist.audit_tickets`'s: see
:mod:`csmine.audit.checklist`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from csmine.audit.checklist import TicketAudit, audit_tickets, default_inform_within
from csmine.errors import AuditError, EmptyLogError

if TYPE_CHECKING:
    from datetime import timedelta

    import pandas as pd

    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar

SAMPLE_SALT = b"csmine-sample/v1"
CHECKS: tuple[str, ...] = (
    "recorded_as_sop",
    "first_response_in_time",
    "customer_kept_informed",
    "callback_done",
    "closed_properly",
)
CHECK_WORDS: dict[str, str] = {
    "recorded_as_sop": "recorded as the SOP says",
    "first_response_in_time": "first response in time",
    "customer_kept_informed": "customer kept informed",
    "callback_done": "callback done",
    "closed_properly": "closed properly",
}


def sample_score(seed: str, ticket: str) -> float:
    """The ticket's draw in [0, 1) for ``seed`` (see the module doc)."""
    digest = hashlib.sha256(SAMPLE_SALT + b"\x00" + seed.encode() + b"\x00" + ticket.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def sample_tickets(tickets: Iterable[str], rate: float, seed: str) -> list[str]:
    """The tickets drawn at ``rate`` with ``seed``, sorted; each ticket at most once.

    Raises:
        AuditError: ``rate`` outside (0, 1].
    """
    if not 0.0 < rate <= 1.0:
        raise AuditError(f"sample rate {rate} is outside (0, 1]: use e.g. 0.1 for 10%")
    return sorted(t for t in set(map(str, tickets)) if sample_score(seed, t) < rate)


@dataclass(frozen=True, slots=True)
class AuditSample:
    """A reproducible sample with its checklist.

    Attributes:
        sop: SOP id.  sop_version: its version.
        seed: the seed.  rate: the sampling rate (0-1].
        population: tickets the sample was drawn from (after filters).
        inform_within_s: the longest silence allowed by ``customer_kept_informed``.
        tickets: the sampled tickets' checklists, sorted by ticket.
        summary: check -> {"passed": n, "failed": n, "not_applicable": n}.
    """

    sop: str
    sop_version: str
    seed: str
    rate: float
    population: int
    inform_within_s: float
    tickets: tuple[TicketAudit, ...]
    summary: dict[str, dict[str, int]]

    @property
    def selected(self) -> int:
        """Tickets in the sample."""
        return len(self.tickets)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = asdict(self)
        data["selected"] = self.selected
        return data

    def to_frame(self) -> pd.DataFrame:
        """One row per sampled ticket: ``ticket``, ``score``, ``passed`` and, per check,
        ``<check>`` (pass / fail / n/a), ``<check>_evidence`` (space-separated event ids)
        and ``<check>_detail``."""
        import pandas as pd

        rows = []
        for t in self.tickets:
            row: dict[str, Any] = {"ticket": t.ticket, "score": t.score, "passed": _word(t.passed)}
            for c in t.checks:
                row[c.check] = _word(c.passed)
                row[f"{c.check}_evidence"] = " ".join(map(str, c.evidence))
                row[f"{c.check}_detail"] = c.detail
            rows.append(row)
        columns = ["ticket", "score", "passed"] + [f"{c}{s}" for c in CHECKS for s in ("", "_evidence", "_detail")]
        return pd.DataFrame(rows, columns=columns)

    def write_csv(self, path: str, *, raw: bool = False, force: bool = False) -> None:
        """Write :meth:`to_frame` as CSV, whole or not at all (temporary name, then renamed).

        Cells a spreadsheet would run as formulas (ticket ids or details starting
        with ``= + - @``, tab or CR) get a leading single quote, as OWASP recommends,
        unless ``raw``; an existing file is replaced only with ``force``
        (see :mod:`event_store.io.files`).
        """
        from event_store.io.files import write_csv

        frame = self.to_frame()
        rows = ([_cell(v) for v in row] for row in frame.itertuples(index=False, name=None))
        write_csv(path, [str(c) for c in frame.columns], rows, raw=raw, force=force)


def _cell(value: Any) -> str:
    """A CSV cell as pandas would write it (missing values empty)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _word(value: bool | None) -> str:
    return "n/a" if value is None else "pass" if value else "fail"


def audit_sample(
    df: pd.DataFrame,
    sop: SOP,
    *,
    rate: float,
    seed: str,
    inform_within: timedelta | None = None,
    calendar: BusinessCalendar | None = None,
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
) -> AuditSample:
    """Draw the reproducible sample from the tickets of ``df`` and run the checklist.

    Args:
        df: event log frame (filters already applied: the population).
        sop: the SOP to check against.
        rate: share of tickets to draw, (0, 1].
        seed: any text (e.g. the day's date); the same seed gives the same sample.
        inform_within: see :func:`~csmine.audit.checklist.audit_tickets`.
        calendar: see :func:`~csmine.audit.checklist.audit_tickets`.

    Returns:
        An :class:`AuditSample` (empty ``tickets`` when nothing is drawn).

    Raises:
        AuditError: ``rate`` outside (0, 1].
        EmptyLogError: ``df`` is empty.
    """
    if len(df) == 0:
        raise EmptyLogError("no tickets to sample from (check the filters)")
    population = df[case_id_key].astype(str)
    chosen = sample_tickets(population.unique(), rate, seed)
    within = inform_within or default_inform_within(sop)
    audits: list[TicketAudit] = []
    if chosen:
        part = df[population.isin(chosen).to_numpy()]
        audits = [
            TicketAudit(a.ticket, sample_score(seed, a.ticket), a.passed, a.checks)
            for a in audit_tickets(part, sop, inform_within=within, calendar=calendar, case_id_key=case_id_key,
                                   activity_key=activity_key, timestamp_key=timestamp_key)
        ]
    summary = {
        check: {
            "passed": sum(1 for a in audits if a.check(check).passed is True),
            "failed": sum(1 for a in audits if a.check(check).passed is False),
            "not_applicable": sum(1 for a in audits if a.check(check).passed is None),
        }
        for check in CHECKS
    }
    return AuditSample(sop.id, sop.version, seed, rate, int(population.nunique()), within.total_seconds(),
                       tuple(audits), summary)
