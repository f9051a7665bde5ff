"""A ticket's trace as one self-contained HTML page, its path drawn on the SOP flowchart.

:func:`trace_flowchart_dot` takes the SOP flowchart of :func:`process_models.render.render_sop`
and overlays the ticket: each step it went through is coloured (green as the SOP
says, amber with a deviation) and labelled with its order numbers in the ticket,
skipped steps are red, the next steps an open ticket is expected to do (pending) are
blue, red arrows numbered 1, 2, 3, ... follow the ticket from step to step, and
activities the SOP does not know are drawn apart. :func:`render_trace_html`
lays out the page (header with the open/closed status, ticket attributes,
flowchart, timeline with corrections beside what they correct, time limits,
deviations, pending steps with their due times, integrity) with inline CSS and
inline SVG only; a Content-Security-Policy forbids every network load.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from csmine.formatting import human_duration

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.audit.trace import TicketTrace

FONT = "Noto Sans CJK SC"
OK_FILL = "#cdebd0"
DEVIATION_FILL = "#ffe2a8"
SKIPPED_FILL = "#f6b3b3"
PENDING_FILL = "#cfe3ff"
PATH_COLOUR = "#c62828"
_STEP_NODE = re.compile(r"^\s*(n\d+) \[shape=box .*?label=<<B>(.*?)</B>", re.MULTILINE)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _dot_str(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def trace_flowchart_dot(trace: TicketTrace, sop: SOP) -> str:
    """The SOP flowchart (DOT) with the ticket's path drawn on it."""
    from process_models.render import render_sop

    live = trace.effective_steps
    order: dict[str, list[int]] = defaultdict(list)
    deviating: set[str] = set()
    for i, s in enumerate(live, 1):
        if s.step is not None:
            order[s.step].append(i)
            if s.deviation is not None:
                deviating.add(s.step)
    skipped = [m.step for m in trace.moves if m.move == "model" and m.deviation == "skipped"]
    overlay: dict[str, tuple[str, str]] = {}
    for step, numbers in order.items():
        fill = DEVIATION_FILL if step in deviating else OK_FILL
        shown = ", ".join(f"#{n}" for n in numbers[:8]) + (f" … ({len(numbers)} times)" if len(numbers) > 8 else "")
        overlay[step] = (fill, shown)
    for step in skipped:
        if step not in overlay:
            overlay[step] = (SKIPPED_FILL, "skipped 跳过")
    for p in trace.pending:
        if p.step in overlay:  # done before (a loop): it is also next
            fill, shown = overlay[p.step]
            overlay[p.step] = (fill, f"{shown} · next 下一步")
        else:
            overlay[p.step] = (PENDING_FILL, "pending 待办" + (" · OVERDUE 逾期" if p.overdue else ""))
    dot = render_sop(sop, overlay)

    node_of: dict[str, str] = {}
    for nid, name in _STEP_NODE.findall(dot):
        node_of.setdefault(html.unescape(name), nid)
    extra_lines: list[str] = []
    unknown: dict[str, str] = {}
    for s in live:
        if s.step is None or s.step not in node_of:
            name = s.activity
            if name not in unknown:
                unknown[name] = f"x{len(unknown) + 1}"
                extra_lines.append(
                    f'  {unknown[name]} [shape=box style="rounded,filled,dashed" fillcolor="{DEVIATION_FILL}" '
                    f'color="{PATH_COLOUR}" label="{_dot_str(name)}\\n(not in the SOP 非标准)"];')
    hops: dict[tuple[str, str], list[int]] = defaultdict(list)
    previous: str | None = None
    for i, s in enumerate(live, 1):
        here = node_of.get(s.step or "") or unknown.get(s.activity)
        if here is None:
            continue
        if previous is not None:
            hops[(previous, here)].append(i)
        previous = here
    for (a, b), numbers in hops.items():
        label = ",".join(map(str, numbers[:6])) + ("…" if len(numbers) > 6 else "")
        extra_lines.append(
            f'  {a} -> {b} [color="{PATH_COLOUR}" penwidth=2 constraint=false fontcolor="{PATH_COLOUR}" '
            f'fontsize=10 label="{label}"];')
    if not extra_lines:
        return dot
    cut = dot.rstrip().rfind("}")
    return dot[:cut] + "\n".join(extra_lines) + "\n}\n"


_CSS = f"""
body {{ font-family: "{FONT}", "Noto Sans", sans-serif; margin: 24px; color: #1f2328; max-width: 1400px; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} h2 {{ font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }}
.sub {{ color: #57606a; margin-bottom: 12px; }}
.badges span {{ display: inline-block; padding: 3px 10px; border-radius: 12px; margin: 0 6px 6px 0; font-size: 13px; }}
.good {{ background: #dafbe1; color: #116329; }} .bad {{ background: #ffebe9; color: #a40e26; }}
.info {{ background: #ddf4ff; color: #0a3069; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 6px 0; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
tr.amend td {{ background: #fff8c5; font-size: 12px; }}
tr.retracted td {{ text-decoration: line-through; color: #8c959f; }}
tr.dev td.act {{ background: {DEVIATION_FILL}; }}
td.num {{ text-align: right; white-space: nowrap; }}
.flow {{ overflow-x: auto; border: 1px solid #d0d7de; padding: 6px; }}
.flow svg {{ max-width: 100%; height: auto; }}
code {{ font-size: 12px; word-break: break-all; }}
.legend span {{ display: inline-block; width: 14px; height: 14px; margin: 0 4px -2px 12px; border: 1px solid #999; }}
"""


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(sep=" ", timespec="seconds")


def _attrs(attrs: dict[str, Any]) -> str:
    return "; ".join(f"{k}={v}" for k, v in attrs.items() if v is not None)


def _changes(changes: dict[str, Any], original: dict[str, Any]) -> str:
    parts = []
    for k, v in changes.items():
        was = original.get(k)
        parts.append(f"{k}: {was} → {v}" if k in original else f"{k} → {v}")
    return "; ".join(parts)


def render_trace_html(trace: TicketTrace, *, flowchart_svg: str | None = None,
                      generated_at: datetime | None = None) -> str:
    """The one-page HTML view of a trace (self-contained: inline CSS and SVG)."""
    t = trace
    parts = [*_header(t), _attributes(t), *_flowchart(flowchart_svg), _timeline(t), *_limits(t), *_sop_parts(t),
             *_integrity(t),
             f'<p class="sub">csmine trace · generated {_e(_time(generated_at) if generated_at else "")}</p>',
             "</body></html>"]
    return "\n".join(parts) + "\n"


def _badges(t: TicketTrace) -> list[tuple[str, str]]:
    """(css class, text) badges: status, integrity, limits, deviations, fitness, overdue steps, the view."""
    badges = []
    if t.integrity is not None:
        badges.append(("good", "integrity verified 完整性已验证") if t.integrity.ok
                      else ("bad", "integrity FAILED 完整性校验失败"))
    if t.sop is not None:
        badges.append(("bad" if t.breaches else "good",
                       f"{t.breaches} time limit(s) breached" if t.breaches else "all time limits met"))
        n_dev = sum(t.deviations.values())
        badges.append(("bad" if n_dev else "good", f"{n_dev} deviation(s) from the SOP" if n_dev
                       else "follows the SOP" + (" so far" if t.status == "open" else "")))
        if t.fitness is not None:
            badges.append(("info", f"fitness {t.fitness:.2f}" + (" so far" if t.status == "open" else "")))
        overdue = sum(1 for p in t.pending if p.overdue)
        if overdue:
            badges.append(("bad", f"{overdue} pending step(s) overdue"))
    if not t.closing_known:
        badges.insert(0, ("info", "counted as ended (no closing rule)"))
    elif t.status == "open":
        badges.insert(0, ("info", "open 未结" + (" · stale 停滞" if t.stale else "")))
    else:
        badges.insert(0, ("good", "closed 已结"))
    if t.as_of is not None:
        badges.append(("info", f"as of {_time(t.as_of)}"))
    if t.known_at is not None:
        badges.append(("info", f"as known at log position {t.known_at}"))
    if t.hidden:
        badges.append(("info", f"{t.hidden} later event(s) not shown"))
    return badges


def _header(t: TicketTrace) -> list[str]:
    """Doctype, the Content-Security-Policy, styles, title, badges and status."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">",
        f"<title>Ticket {_e(t.ticket)} · csmine trace</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Ticket {_e(t.ticket)} <small>工单轨迹</small></h1>",
        f'<div class="sub">opened {_e(_time(t.opened_at))} (recorded {_e(_time(t.opened_recorded_at))}, '
        f"log position {t.opened_event_id})"
        + (f" · SOP {_e(t.sop)} v{_e(t.sop_version)}" if t.sop else "") + "</div>",
        '<div class="badges">' + "".join(f'<span class="{c}">{_e(text)}</span>' for c, text in _badges(t)) + "</div>",
        f'<div class="sub">status: {_e(t.status if t.closing_known else "counted as ended")} — '
        f"{_e(t.closing_rule)}</div>",
    ]


def _attributes(t: TicketTrace) -> str:
    """The ticket's attributes, each corrected one with what it was and who corrected it."""
    rows = []
    for key, value in t.case.items():
        note = ""
        if key in t.case_original:
            fixes = [a for a in t.case_corrections if key in a.changes]
            note = f"was {t.case_original[key]!s}; " + "; ".join(
                f"corrected #{a.version} by {a.actor or '?'} ({a.reason})" for a in fixes)
        rows.append(f"<tr><th>{_e(key)}</th><td>{_e(value)}</td><td>{_e(note)}</td></tr>")
    return "<h2>Ticket attributes 工单属性</h2><table>" + "".join(rows) + "</table>"


def _flowchart(flowchart_svg: str | None) -> list[str]:
    if not flowchart_svg:
        return []
    return ["<h2>Path on the SOP 流程路径</h2>",
            f'<div class="legend">numbers = order of the ticket\'s steps; red arrows = its path'
            f'<span style="background:{OK_FILL}"></span>as the SOP says'
            f'<span style="background:{DEVIATION_FILL}"></span>deviation'
            f'<span style="background:{SKIPPED_FILL}"></span>skipped'
            f'<span style="background:{PENDING_FILL}"></span>pending (next)</div>',
            f'<div class="flow">{flowchart_svg}</div>']


def _timeline(t: TicketTrace) -> str:
    """Every step with business and recording time; corrections and retractions beneath it."""
    head = ("<tr><th>#</th><th>ver.</th><th>log pos.</th><th>business time 业务时间</th>"
            "<th>recorded 记录时间</th><th>activity 活动</th><th>SOP step</th><th>actor 处理人</th>"
            "<th>team 团队</th><th>wait 等待</th><th>work 处理</th><th>attributes</th><th>verdict</th></tr>")
    body = []
    number = 0
    for s in t.steps:
        cls = "retracted" if s.retracted else ("dev" if s.deviation else "")
        if not s.retracted:
            number += 1
        activity = s.activity + (f" (was {s.original['activity']})" if "activity" in s.original else "")
        verdict = "retracted" if s.retracted else (s.deviation.replace("_", " ") if s.deviation else "")
        body.append(
            f'<tr class="{cls}"><td class="num">{number if not s.retracted else ""}</td>'
            f'<td class="num">{s.version}</td><td class="num">{s.event_id}</td>'
            f"<td>{_e(_time(s.occurred_at))}</td><td>{_e(_time(s.recorded_at))}</td>"
            f'<td class="act">{_e(activity)}</td><td>{_e(s.step or "")}</td><td>{_e(s.actor)}</td>'
            f'<td>{_e(s.team)}</td><td class="num">{_e(human_duration(s.wait_s))}</td>'
            f'<td class="num">{_e(human_duration(s.work_s) if s.work_s is not None else "")}</td>'
            f"<td>{_e(_attrs(s.attrs))}</td><td>{_e(verdict)}</td></tr>")
        for a in s.corrections:
            body.append(
                f'<tr class="amend"><td></td><td class="num">{a.version}</td><td class="num">{a.event_id}</td>'
                f"<td>{_e(_time(a.occurred_at))}</td><td>{_e(_time(a.recorded_at))}</td>"
                f'<td colspan="8">↳ corrected by {_e(a.actor or "?")}: {_e(_changes(a.changes, s.original))} '
                f"— {_e(a.reason)}</td></tr>")
        if s.retracted is not None:
            a = s.retracted
            body.append(
                f'<tr class="amend"><td></td><td class="num">{a.version}</td><td class="num">{a.event_id}</td>'
                f"<td>{_e(_time(a.occurred_at))}</td><td>{_e(_time(a.recorded_at))}</td>"
                f'<td colspan="8">↳ retracted by {_e(a.actor or "?")} — {_e(a.reason)}</td></tr>')
    return f"<h2>Timeline 时间线 ({number} steps)</h2><table>{head}{''.join(body)}</table>"


def _limits(t: TicketTrace) -> list[str]:
    if not t.limits:
        return []
    rows = []
    for lim in t.limits:
        status = "overdue" if lim.overdue else "breached" if lim.breached else "met"
        rows.append(
            f'<tr class="{"dev" if lim.breached else ""}"><td>{_e(lim.step)}</td><td>{_e(lim.since)}</td>'
            f'<td class="num">{_e(human_duration(lim.within_s))}</td>'
            f'<td class="num">{_e(human_duration(lim.elapsed_s))}</td><td class="act">{status}</td></tr>')
    return ["<h2>SOP time limits 时限</h2><table><tr><th>step</th><th>since</th><th>limit</th>"
            "<th>took</th><th>status</th></tr>" + "".join(rows) + "</table>"]


def _sop_parts(t: TicketTrace) -> list[str]:
    """Deviations from the SOP and, for an open ticket, the steps it has still to do."""
    if t.sop is None:
        return []
    devs = [m for m in t.moves if m.deviation is not None and (m.move != "model" or m.deviation == "skipped")]
    if devs:
        rows = [f"<tr><td>{_e(m.deviation.replace('_', ' ') if m.deviation else '')}</td><td>{_e(m.label)}</td>"
                f'<td class="num">{_e(m.event_id if m.event_id is not None else "")}</td>'
                f"<td>{_e(m.description)}</td></tr>" for m in devs]
        parts = ["<h2>Deviations from the SOP 偏差</h2><table><tr><th>kind</th><th>step</th>"
                 "<th>log pos.</th><th>what</th></tr>" + "".join(rows) + "</table>"]
    else:
        so_far = " so far" if t.status == "open" else ""
        parts = [f"<h2>Deviations from the SOP 偏差</h2><p>None: the ticket follows the SOP{so_far}.</p>"]
    if t.status == "open":
        parts.append(_pending(t))
    return parts


def _pending(t: TicketTrace) -> str:
    if not t.pending:
        return ("<h2>Pending: next steps 待办</h2><p>Nothing: the SOP run is complete, but the "
                "ticket is not closed.</p>")
    end = f" as of {_time(t.log_end)} (the end of the log)" if t.log_end is not None else ""
    rows = []
    for p in t.pending:
        limit = ("" if p.within_s is None else
                 f"{human_duration(p.within_s)}{' business' if p.business_hours else ''} since {p.since}")
        state = "OVERDUE" if p.overdue else ("due" if p.due_at is not None else (p.note or "no limit"))
        rows.append(
            f'<tr class="{"dev" if p.overdue else ""}"><td>{_e(p.label)}</td>'
            f"<td>{'required' if p.required else 'one option'}</td><td>{_e(limit)}</td>"
            f"<td>{_e(_time(p.due_at))}</td><td class=\"act\">{_e(state)}</td></tr>")
    return (f"<h2>Pending: next steps 待办{_e(end)}</h2><table><tr><th>step</th><th></th>"
            "<th>time limit</th><th>due</th><th>status</th></tr>" + "".join(rows) + "</table>")


def _integrity(t: TicketTrace) -> list[str]:
    if t.integrity is None:
        return []
    i = t.integrity
    problems = "".join(f"<li>{_e(p)}</li>" for p in i.problems)
    return ["<h2>Integrity 完整性</h2><table>"
            f"<tr><th>hash chain</th><td>{'verified' if i.chain_ok else 'BROKEN'} ({i.events} stored events "
            "re-hashed)</td></tr>"
            f"<tr><th>inclusion proofs</th><td>{'verified' if i.proofs_ok else 'FAILED'} against the Merkle root "
            f"of {i.tree_size} log entries</td></tr>"
            f"<tr><th>chain head</th><td>{'matches' if i.log_ok else 'DOES NOT MATCH'}: it records "
            f"{i.head_size} log entries</td></tr>"
            f"<tr><th>root</th><td><code>{_e(i.root)}</code></td></tr></table>"
            + (f"<ul>{problems}</ul>" if problems else "")]
