"""The auditor's commands as text: ``checkpoint``, ``verify``, ``trace``, ``audit sample`` and ``audit check``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from csmine.formatting import human_duration
from csmine.reports.text.blocks import Block, Para, Table, Text, table

if TYPE_CHECKING:
    from event_store.integrity.findings import VerifyReport
    from event_store.integrity.package import PackageReport

    from csmine.audit.integrity import SignedCheckpoint
    from csmine.audit.pending import TracePending
    from csmine.audit.sample import AuditSample
    from csmine.audit.trace import TicketTrace

#: Problems listed by ``verify`` (the JSON has them all).
PROBLEMS_SHOWN = 50


def render_verify(report: VerifyReport) -> Text:
    """The verdict, the Merkle root, the read model's and the checkpoint's checks, the problems."""
    blocks: list[Block] = [
        Para(f" {report.store}: {report.events:,} events re-hashed, {report.chain_rows:,} chain links, "
             f"head at {report.head_size:,} ({report.seconds:.1f} s)", bold="OK" if report.ok else "TAMPERED"),
        Para(f"Merkle root of {report.size:,} entries: {report.root}"),
    ]
    rm = report.read_model
    if rm is not None:
        if rm.mode == "skipped":
            blocks.append(Para("read model: not compared (the events do not verify)"))
        else:
            share = f", a random {rm.sample_rate:.0%} of the tickets" if rm.mode == "sample" else ""
            blocks.append(Para(f"read model: {'matches' if not rm.differences else 'DIFFERS FROM'} the events "
                               f"({rm.rows:,} event_log rows of {rm.tickets:,} tickets{share}, {rm.chunks} columnar "
                               f"chunks, up to log position {rm.position:,})"))
    cp = report.checkpoint
    if cp is not None:
        key = ("key pinned" if cp.key_trusted else "key NOT the pinned one" if cp.key_trusted is False
               else "key not pinned")
        differs = f" (first difference in entries {cp.differs_from:,}-{cp.differs_to:,})" if cp.differs_from else ""
        blocks.append(Para(f"checkpoint of {cp.issued_at} ({cp.size:,} entries, key {cp.key_id}, {key}): signature "
                           f"{'valid' if cp.signature_valid else 'INVALID'}, root "
                           f"{'matches' if cp.root_matches else 'DIFFERS'}{differs}"))
    if report.findings:
        rows = [[f.kind, "" if f.position is None else f.position, f.ticket or "",
                 "" if f.version is None else f.version, f.message] for f in report.findings[:PROBLEMS_SHOWN]]
        blocks.append(table(["problem", "log pos.", "ticket", "version", "what"], rows,
                            title=f"{len(report.findings) + report.more} problem(s), first in log order first"))
    return Text(tuple(blocks), tuple(f"warning: {w}" for w in report.warnings))


def render_package_check(report: PackageReport) -> Text:
    """An audit package's verdict in one line, then its problems."""
    key = ("pinned key" if report.key_trusted else "NOT the pinned key" if report.key_trusted is False
           else "key not pinned (give --public-key)")
    line = (f"{'OK' if report.ok else 'FAILED'} ticket {report.ticket}: {report.events} events re-hashed "
            f"and proved against the checkpoint of {report.issued_at} ({report.checkpoint_size:,} entries, "
            f"key {report.key_id}, {key}); signature {'valid' if report.signature_valid else 'INVALID'}")
    return Text((line, *[f"  problem: {p}" for p in report.problems]))


def render_sample(result: AuditSample, seed: str, rate: float, filter_text: str) -> Text:
    """The sample drawn, the checks' pass/fail counts, and each ticket's verdicts with the failures."""
    from csmine.audit.sample import CHECK_WORDS, CHECKS

    mark = {True: "pass", False: "FAIL", None: "-"}
    rows = []
    for t in result.tickets:
        failed = "; ".join(f"{c.check}: {c.detail} [{' '.join(map(str, c.evidence))}]"
                           for c in t.checks if c.passed is False)
        rows.append([t.ticket, mark[t.passed], *[mark[c.passed] for c in t.checks], failed])
    return Text((
        Para(f" seed {seed!r}, rate {rate:g}: {result.selected:,} of {result.population:,} tickets "
             f"({filter_text}), SOP {result.sop} v{result.sop_version}", bold="sample"),
        table(["check", "passed", "failed", "n/a"], [
            [CHECK_WORDS[c], result.summary[c]["passed"], result.summary[c]["failed"],
             result.summary[c]["not_applicable"]] for c in CHECKS]),
        table(["ticket", "verdict", "SOP", "1st resp.", "informed", "callback", "closed", "failures (event ids)"],
              rows),
    ))


def _when(value: datetime) -> str:
    """A time in its own offset, to the second (``2025-03-03 09:00:00+08``)."""
    text = value.strftime("%Y-%m-%d %H:%M:%S%z")
    return text[:-2] if text.endswith("00") and len(text) > 19 else text


def render_trace(t: TicketTrace) -> Text:
    """The ticket's header, view and status, its timeline, limits, deviations, pending steps, integrity."""
    blocks: list[Block] = [Para(
        f" opened {t.opened_at.isoformat()} (recorded {t.opened_recorded_at.isoformat(timespec='seconds')}, log "
        f"position {t.opened_event_id})" + (f" · SOP {t.sop} v{t.sop_version}" if t.sop else ""),
        bold=f"Ticket {t.ticket}")]
    views = []
    if t.as_of is not None:
        views.append(f"as of {t.as_of.isoformat()}")
    if t.known_at is not None:
        views.append(f"as known at log position {t.known_at}")
    if t.hidden:
        views.append(f"{t.hidden} later event(s) not shown")
    if views:
        blocks.append(Para("view: " + "; ".join(views)))
    attrs = ", ".join(f"{k}={v}" + (f" (was {t.case_original[k]})" if k in t.case_original else "")
                      for k, v in t.case.items())
    if attrs:
        blocks.append(Para(f"attributes: {attrs}"))
    blocks += [Para(_status_line(t)), _timeline(t)]
    if t.limits:
        blocks.append(table(["limit", "since", "within", "took", "status"], [
            [lim.step, lim.since, human_duration(lim.within_s), human_duration(lim.elapsed_s),
             "overdue" if lim.overdue else "BREACHED" if lim.breached else "met"] for lim in t.limits],
            title=f"SOP time limits ({t.breaches} breached)"))
    blocks += _sop_blocks(t)
    if t.integrity is not None:
        i = t.integrity
        head = (f"matches ({i.head_size:,} entries)" if i.log_ok
                else f"DOES NOT MATCH (it records {i.head_size:,} entries; see `csmine verify`)")
        blocks.append(Para(f"integrity: chain {'verified' if i.chain_ok else 'BROKEN'} ({i.events} events "
                           f"re-hashed), inclusion proofs {'verified' if i.proofs_ok else 'FAILED'} against the root "
                           f"of {i.tree_size:,} entries {i.root[:16]}…, chain head: {head}"))
        blocks += [Para(f"  problem: {p}") for p in i.problems]
    return Text(tuple(blocks))


def _timeline(t: TicketTrace) -> Table:
    """Every step with its business and recording time; corrections and retractions beneath it."""
    rows: list[list[Any]] = []
    n = 0
    for s in t.steps:
        if s.retracted is None:
            n += 1
        activity = s.activity + (f" (was {s.original['activity']})" if "activity" in s.original else "")
        verdict = "retracted" if s.retracted else (s.deviation.replace("_", " ") if s.deviation else "")
        rows.append([n if s.retracted is None else "", s.version, s.event_id, _when(s.occurred_at),
                     _when(s.recorded_at), activity, s.step or "", s.actor or "", s.team or "",
                     human_duration(s.wait_s), "; ".join(f"{k}={v}" for k, v in s.attrs.items() if v is not None),
                     verdict])
        for a in (*s.corrections, *((s.retracted,) if s.retracted else ())):
            what = (", ".join(f"{k}: {s.original.get(k)} → {v}" for k, v in a.changes.items())
                    if a.kind == "corrected" else "retracted")
            rows.append(["", a.version, a.event_id, _when(a.occurred_at), _when(a.recorded_at), f"↳ {what}", "",
                         a.actor or "", "", "", a.reason, ""])
    headers = ["#", "ver", "pos", "business time", "recorded", "activity", "SOP step", "actor", "team", "wait",
               "attributes", "verdict"]
    return table(headers, rows, title=f"timeline ({n} steps)", right=(0, 1, 2, 9), nowrap=(0, 1, 2, 3, 4, 9))


def _sop_blocks(t: TicketTrace) -> list[Block]:
    """Deviations from the SOP and the steps still pending (or that the run is complete)."""
    blocks: list[Block] = []
    if t.sop is not None:
        devs = [m for m in t.moves if m.deviation is not None and (m.move != "model" or m.deviation == "skipped")]
        fit = f", fitness {t.fitness:.2f}" if t.fitness is not None else ""
        so_far = " so far" if t.status == "open" else ""
        if devs:
            blocks.append(table(["deviation", "step", "pos", "what"], [
                [m.deviation, m.label, "" if m.event_id is None else m.event_id, m.description] for m in devs],
                title=f"deviations from SOP {t.sop}{so_far}{fit}"))
        else:
            blocks.append(Para(f"follows SOP {t.sop}{so_far}: no deviation{fit}"))
    if t.pending:
        end = f" (as of {_when(t.log_end)}, the end of the log)" if t.log_end is not None else ""
        blocks.append(table(["pending step", "", "time limit", "due", "status"], [
            [p.label, "required" if p.required else "one option", _limit_text(p),
             _when(p.due_at) if p.due_at is not None else "", _pending_status(p)] for p in t.pending],
            title=f"pending: the next steps SOP {t.sop} expects{end}"))
    elif t.status == "open" and t.sop is not None:
        blocks.append(Para(f"pending: nothing — the SOP run is complete, but the ticket is not closed "
                           f"({t.closing_rule})"))
    return blocks


def _status_line(t: TicketTrace) -> str:
    """The ticket's status in one line: open or closed, stale, and the rule used."""
    if not t.closing_known:
        return f"status: counted as ended — {t.closing_rule}"
    if t.status == "closed":
        return f"status: closed — {t.closing_rule}"
    quiet = ""
    if t.stale and t.log_end is not None and t.effective_steps:
        last = t.effective_steps[-1].occurred_at
        quiet = f", stale: no event for {human_duration((t.log_end - last).total_seconds())}"
    return f"status: open{quiet} — {t.closing_rule}"


def _limit_text(p: TracePending) -> str:
    if p.within_s is None:
        return "none"
    clock = " business" if p.business_hours else ""
    return f"{human_duration(p.within_s)}{clock} since {p.since}"


def _pending_status(p: TracePending) -> str:
    if p.overdue:
        return "OVERDUE"
    if p.due_at is not None:
        return "due"
    return p.note or ("no limit" if p.within_s is None else "")


def render_signed(signed: SignedCheckpoint) -> Text:
    """``csmine checkpoint``: the file written, the entries, root and key signed, and when."""
    cp = signed.checkpoint
    return Text((f"signed checkpoint {signed.path}: {cp.size:,} entries, root {cp.root}, key {cp.key_id}, "
                 f"{cp.issued_at}",))


def rebuilt_note(before: VerifyReport) -> str:
    """``csmine verify --rebuild``'s line on stderr when the read model was rebuilt."""
    return (f"rebuilt the read model: it differed from the events in {len(before.findings) + before.more} "
            f"place(s) (first: {before.findings[0].message})")
