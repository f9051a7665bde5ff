"""The self-contained HTML report: one file, no network (scripts, styles, fonts inline).

:func:`render_report_html` takes plain data (see its ``data`` argument)
and pre-rendered SVG strings and returns the page. A Content-Security-Policy meta
tag forbids every network load, so the page provably works offline.

Interactive parts: the process map's frequency/performance switch and its
activity/path sliders (pre-rendered SVG per level, shown one at a time), and an
animation of tickets moving over the map in business time. Opening the page with
``#selftest`` drives those parts from script and writes the outcome into
``<pre id="selftest">`` (used by the browser test).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
from pathlib import Path
from typing import Any

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FONT_FAMILY = "Noto Sans CJK SC"


def subset_font(text: str, cache: Path | None = None) -> str | None:
    """A base64 OpenType subset of Noto Sans CJK SC covering ``text`` (None if absent).

    Subsetting the 20 MB collection takes seconds, so with ``cache`` (a folder; the
    CLI passes ``$XDG_CACHE_HOME/csmine/fonts``, default ``~/.cache``) subsets are kept
    there, keyed by the font file (path, size, modification time) and the characters;
    an unwritable cache is skipped. None: no cache.
    """
    chars = "".join(sorted(set(text)))
    try:
        st = os.stat(CJK_FONT)
    except OSError:
        return None
    key = hashlib.sha256(f"{CJK_FONT}|{st.st_size}|{st.st_mtime_ns}|{FONT_FAMILY}|{chars}".encode()).hexdigest()
    cached = cache / f"{key}.b64" if cache is not None else None
    if cached is not None:
        try:
            return cached.read_text(encoding="ascii")
        except OSError:
            pass
    encoded = _subset_font(chars)
    if encoded is not None and cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{key}.{os.getpid()}.tmp")
            tmp.write_text(encoded, encoding="ascii")
            os.replace(tmp, cached)
        except OSError:
            pass
    return encoded


def _subset_font(chars: str) -> str | None:
    try:
        from fontTools import subset
        from fontTools.ttLib import TTCollection
    except ImportError:
        return None
    try:
        collection = TTCollection(CJK_FONT, lazy=True)
    except OSError:
        return None
    try:
        font = next((f for f in collection.fonts if f["name"].getDebugName(1) == FONT_FAMILY), None)
        if font is None:
            return None
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(font)
        buf = io.BytesIO()
        font.recalcTimestamp = False  # the same characters give the same bytes (no "modified" time)
        font.save(buf)
    finally:
        collection.close()  # the lazy collection keeps the 20 MB file open
    return base64.b64encode(buf.getvalue()).decode()


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[Any]], *, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _e(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class _Raw(str):
    """Markup that must not be escaped."""


def raw(markup: str) -> _Raw:
    return _Raw(markup)


def line_chart_svg(points: list[tuple[str, float]], *, width: int = 900, height: int = 220,
                   label: str = "", marks: list[tuple[str, str]] | None = None) -> str:
    """A small inline SVG line chart of (ISO date, value) points, with optional date marks."""
    if not points:
        return "<p class=muted>no data</p>"
    pad_l, pad_b, pad_t = 48, 28, 12
    xs = list(range(len(points)))
    vmax = max(v for _, v in points) or 1.0
    w = width - pad_l - 10
    h = height - pad_b - pad_t

    def px(i: int) -> float:
        return pad_l + (w * i / max(1, len(points) - 1))

    def py(v: float) -> float:
        return pad_t + h - h * v / vmax

    path = " ".join(f"{'M' if i == 0 else 'L'}{px(i):.1f},{py(v):.1f}" for i, (_, v) in zip(xs, points, strict=True))
    ticks = []
    step = max(1, len(points) // 8)
    for i in range(0, len(points), step):
        ticks.append(f'<text x="{px(i):.1f}" y="{height - 8}" class="tick" text-anchor="middle">{_e(points[i][0][:10])}</text>')
    yt = "".join(
        f'<text x="{pad_l - 6}" y="{py(vmax * f):.1f}" class="tick" text-anchor="end">{vmax * f:.0f}</text>'
        f'<line x1="{pad_l}" x2="{width - 10}" y1="{py(vmax * f):.1f}" y2="{py(vmax * f):.1f}" class="grid"/>'
        for f in (0, 0.5, 1)
    )
    mk = ""
    index = {d[:10]: i for i, (d, _) in enumerate(points)}
    for day, text in marks or []:
        if day[:10] in index:
            x = px(index[day[:10]])
            mk += (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{pad_t + h}" class="mark"/>'
                   f'<text x="{x + 3:.1f}" y="{pad_t + 10}" class="tick">{_e(text)}</text>')
    return (f'<svg viewBox="0 0 {width} {height}" class="chart" role="img" aria-label="{_e(label)}">'
            f'{yt}<path d="{path}" class="line"/>{mk}{"".join(ticks)}</svg>')


CSS = """
:root{--fg:#1d2733;--muted:#667085;--ok:#1a7f37;--bad:#c62828;--warn:#b26a00;--card:#f6f8fa;--accent:#2457a7}
*{box-sizing:border-box}
body{font-family:"Noto Sans CJK SC","CsmineCJK",system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);margin:0;background:#fff}
header{background:#14213d;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#cfd8e3;font-size:13px}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #e4e7ec;padding:6px 28px;z-index:5;font-size:13px}
nav a{margin-right:14px;color:var(--accent);text-decoration:none}
main{padding:8px 28px 40px;max-width:1400px}
section{margin-top:26px} h2{font-size:18px;border-bottom:2px solid #e4e7ec;padding-bottom:4px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}
.tile{background:var(--card);border-radius:8px;padding:12px 14px;border-left:5px solid var(--muted)}
.tile.ok{border-left-color:var(--ok)} .tile.bad{border-left-color:var(--bad)}
.tile .name{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.tile .value{font-size:26px;font-weight:700;margin:4px 0}
.tile .target{font-size:12px;color:var(--muted)}
.tile .why{font-size:12px;color:var(--warn)}
.controls{display:flex;gap:18px;align-items:center;flex-wrap:wrap;margin:8px 0;font-size:14px}
.switch button{border:1px solid var(--accent);background:#fff;color:var(--accent);padding:4px 12px;cursor:pointer}
.switch button.on{background:var(--accent);color:#fff}
.mapbox{border:1px solid #e4e7ec;border-radius:8px;overflow:auto;max-height:880px;background:#fff;position:relative}
.mapbox svg{max-width:100%;max-height:840px;width:auto;height:auto;display:block;margin:0 auto}
.muted{color:var(--muted)} table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #e4e7ec;padding:4px 10px;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left} th{background:#f2f4f7}
.bar{display:inline-block;height:10px;background:var(--accent);vertical-align:middle}
.up{color:var(--bad)} .down{color:var(--ok)} .sig{font-weight:700}
.chart{width:100%;max-width:900px} .chart .line{fill:none;stroke:var(--accent);stroke-width:2}
.chart .tick{font-size:10px;fill:var(--muted)} .chart .grid{stroke:#eee} .chart .mark{stroke:var(--bad);stroke-dasharray:4 3}
details{margin:4px 0;background:var(--card);border-radius:6px;padding:4px 10px} summary{cursor:pointer}
.token{fill:#e4572e;opacity:.85;stroke:#fff;stroke-width:1}
.clock{font-variant-numeric:tabular-nums;font-weight:700}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:18px} @media(max-width:1000px){.cols{grid-template-columns:1fr}}
.note{font-size:13px;color:var(--muted)}
"""

JS = r"""
(function(){
  const errors = [];
  window.addEventListener('error', e => errors.push(String(e.message || e)));
  document.addEventListener('securitypolicyviolation', e => errors.push('blocked: ' + e.blockedURI));
  const $ = s => document.querySelector(s), $$ = s => Array.from(document.querySelectorAll(s));
  const state = {mode: 'frequency', act: 0, path: 0};
  const levels = JSON.parse($('#map-levels').textContent);
  function showMap(){
    $$('.mapview').forEach(el => el.style.display = 'none');
    const id = `map-${state.mode}-${state.act}-${state.path}`;
    const el = document.getElementById(id);
    if (el) el.style.display = 'block';
    $('#act-label').textContent = Math.round(levels.activities[state.act]*100) + '%';
    $('#path-label').textContent = Math.round(levels.paths[state.path]*100) + '%';
    $$('.switch button').forEach(b => b.classList.toggle('on', b.dataset.mode === state.mode));
    return el;
  }
  $$('.switch button').forEach(b => b.addEventListener('click', () => {state.mode = b.dataset.mode; showMap();}));
  $('#act-slider').addEventListener('input', e => {state.act = +e.target.value; showMap();});
  $('#path-slider').addEventListener('input', e => {state.path = +e.target.value; showMap();});
  showMap();

  // --- animation: tokens move along the map's edges in business time ---
  const anim = JSON.parse($('#anim-data').textContent);
  const svg = document.querySelector('#anim-map svg');
  const layer = document.createElementNS('http://www.w3.org/2000/svg', 'g');
  if (svg) (svg.querySelector('g') || svg).appendChild(layer);
  const edges = {};
  if (svg) svg.querySelectorAll('g.edge').forEach(g => {
    const t = g.querySelector('title'); const p = g.querySelector('path');
    if (t && p) edges[t.textContent.replace('&#45;','-')] = p;
  });
  const nodes = {};
  if (svg) svg.querySelectorAll('g.node').forEach(g => {
    const t = g.querySelector('title'); const shape = g.querySelector('ellipse,polygon,path');
    if (t && shape) nodes[t.textContent] = shape;
  });
  const t0 = anim.start, t1 = anim.end;
  let now = t0, playing = false, last = null, drawn = 0;
  let speed = 3600 * 1000;   // business milliseconds per real second (1 s = 1 h)
  $('#speed').addEventListener('change', e => { speed = +e.target.value; });
  const tokens = anim.moves.map(() => null);
  function fmt(ms){ return new Date(ms).toISOString().slice(0,16).replace('T',' ') + ' UTC'; }
  function draw(){
    let active = 0;
    anim.moves.forEach((m, i) => {
      const [edge, a, b] = m;
      const path = edges[edge];
      let c = tokens[i];
      if (!path || now < a || now > b) { if (c) c.style.display = 'none'; return; }
      if (!c) { c = document.createElementNS('http://www.w3.org/2000/svg','circle'); c.setAttribute('r', 5);
                c.setAttribute('class','token'); layer.appendChild(c); tokens[i] = c; }
      const len = path.getTotalLength();
      const f = b > a ? (now - a) / (b - a) : 1;
      const pt = path.getPointAtLength(len * f);
      c.setAttribute('cx', pt.x); c.setAttribute('cy', pt.y); c.style.display = '';
      active++;
    });
    drawn = active;
    $('#clock').textContent = fmt(now);
    $('#active').textContent = active;
    $('#time-slider').value = Math.round(1000 * (now - t0) / Math.max(1, t1 - t0));
  }
  function frame(ts){
    if (!playing) return;
    if (last !== null) now = Math.min(t1, now + (ts - last) / 1000 * speed);
    last = ts; draw();
    if (now >= t1) { playing = false; $('#play').textContent = '▶ play'; return; }
    requestAnimationFrame(frame);
  }
  function play(){ if (now >= t1) now = t0; playing = true; last = null; $('#play').textContent = '❚❚ pause'; requestAnimationFrame(frame); }
  function pause(){ playing = false; $('#play').textContent = '▶ play'; }
  $('#play').addEventListener('click', () => playing ? pause() : play());
  $('#time-slider').addEventListener('input', e => { now = t0 + (t1 - t0) * (+e.target.value) / 1000; draw(); });
  draw();

  // --- self test (browser test drives the interactive parts) ---
  if (location.hash === '#selftest') {
    const out = {errors, checks: {}};
    const res = performance.getEntriesByType('resource').map(r => r.name);
    out.resources = res;
    state.mode = 'performance'; state.act = levels.activities.length - 1; state.path = levels.paths.length - 1;
    $$('.switch button').find(b => b.dataset.mode === 'performance').click();
    const s1 = $('#act-slider'); s1.value = s1.max; s1.dispatchEvent(new Event('input'));
    const s2 = $('#path-slider'); s2.value = s2.max; s2.dispatchEvent(new Event('input'));
    const visible = $$('.mapview').filter(el => el.style.display === 'block').map(el => el.id);
    out.checks.visible_map = visible;
    out.checks.performance_shown = visible.length === 1 && visible[0].startsWith('map-performance-');
    const nodesSmall = document.getElementById(visible[0]).querySelectorAll('g.node').length;
    $$('.switch button').find(b => b.dataset.mode === 'frequency').click();
    s1.value = 0; s1.dispatchEvent(new Event('input')); s2.value = 0; s2.dispatchEvent(new Event('input'));
    const full = $$('.mapview').filter(el => el.style.display === 'block')[0];
    out.checks.nodes_full = full.querySelectorAll('g.node').length;
    out.checks.nodes_simplified = nodesSmall;
    now = t0 + (t1 - t0) * 0.5; draw();
    out.checks.clock_moved = $('#clock').textContent;
    out.checks.tokens_mid = drawn;
    const sp = $('#speed'); sp.value = '86400000'; sp.dispatchEvent(new Event('change'));
    play();
    setTimeout(() => {
      pause();
      out.checks.tokens_after_play = drawn;
      out.checks.played_to = now > t0 + (t1 - t0) * 0.5;
      out.errors = errors;
      $('#selftest').textContent = JSON.stringify(out);
      document.title = 'SELFTEST DONE';
    }, 600);
  }
})();
"""


def render_report_html(data: dict[str, Any], *, map_svgs: dict[str, str], anim_svg: str,
                       sop_svg: str | None, compare_svg: str | None, font_text: str = "",
                       font_cache: Path | None = None) -> str:
    """Assemble the report page.

    Args:
        data: plain report data, made by :func:`csmine.reports.report.build_report` from
            :mod:`csmine.reports.report_sections`: ``title``, ``subtitle``, ``kpi_title``,
            ``kpi_note``, ``kpis`` (tiles), ``levels``, ``map_note``, ``animation``,
            ``conformance``, ``sop_note``, ``bottlenecks``, ``comparison``, ``variants``,
            ``backlog_svg``, ``backlog_note``, ``tickets``, ``truth``, ``footer``.
        map_svgs: ``"{mode}-{i}-{j}"`` -> SVG of the process map at activity level i, path level j.
        anim_svg: the map used for the animation (SVG).
        sop_svg: the SOP flowchart with conformance overlay (SVG) or None.
        compare_svg: the comparison map (SVG) or None.
        font_text: every text the page shows (for the embedded CJK font subset).
        font_cache: folder of cached font subsets (:func:`subset_font`); None: no cache.
    """
    font = subset_font(font_text + json.dumps(data, ensure_ascii=False), font_cache)
    parts = [_head(data, font)]
    parts += [_kpis(data), _map(data, map_svgs), _animation(data, anim_svg), _conformance(data, sop_svg),
              _bottlenecks(data), data.get("why_html", ""), _comparison(data, compare_svg), _variants(data),
              _backlog(data), _tickets(data)]
    if data.get("truth"):
        parts.append('<section id="truth"><h2>Ground truth built into the simulation</h2>'
                     + _table(["effect", "designed", "realised", "found by csmine"], data["truth"]) + "</section>")
    parts.append(f'<p class="note">{_e(data.get("footer", ""))}</p>')
    parts.append('<pre id="selftest" class="note"></pre></main>')
    parts.append(f"<script>{JS}</script></body></html>")
    return "".join(parts)


#: The page's sections in order: (id, navigation label).
SECTIONS = [("kpis", "KPIs"), ("map", "Process map"), ("animation", "Animation"), ("sop", "SOP conformance"),
            ("bottlenecks", "Bottlenecks"), ("why", "Why"), ("compare", "Pilot vs baseline"), ("variants", "Variants"),
            ("backlog", "Backlog"), ("tickets", "Ticket traces")]


def _head(data: dict[str, Any], font: str | None) -> str:
    """Doctype, the Content-Security-Policy, styles (with the font), header and navigation."""
    font_css = (f'@font-face{{font-family:"CsmineCJK";src:url(data:font/otf;base64,{font}) format("opentype");}}'
                if font else "")
    sections = [*SECTIONS, *([("truth", "Ground truth")] if data.get("truth") else [])]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:; font-src data:\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{_e(data['title'])}</title>"
            f"<style>{font_css}{CSS}</style></head><body>"
            f"<header><h1>{_e(data['title'])}</h1><p>{_e(data['subtitle'])}</p></header>"
            "<nav>" + "".join(f'<a href="#{k}">{_e(v)}</a>' for k, v in sections) + "</nav><main>")


def _kpis(data: dict[str, Any]) -> str:
    """KPI tiles (a tile without a value says why)."""
    parts = [f'<section id="kpis"><h2>{_e(data.get("kpi_title", "KPIs against the SOP targets"))}</h2>']
    if data.get("kpi_note"):
        parts.append(f'<p class="note">{_e(data["kpi_note"])}</p>')
    parts.append('<div class="tiles">')
    for k in data["kpis"]:
        status = "ok" if k.get("met") is True else "bad" if k.get("met") is False else ""
        why = f'<div class="why">{_e(k["why"])}</div>' if k.get("why") else ""
        parts.append(f'<div class="tile {status}"><div class="name">{_e(k["name"])}</div>'
                     f'<div class="value">{_e(k["value"])}</div><div class="target">{_e(k.get("target", ""))}</div>'
                     f'<div class="target">{_e(k.get("detail", ""))}</div>{why}</div>')
    parts.append("</div></section>")
    return "".join(parts)


def _map(data: dict[str, Any], map_svgs: dict[str, str]) -> str:
    """The process map with its frequency/performance switch and activity/path sliders."""
    levels = data["levels"]
    views = "".join(f'<div class="mapview" id="map-{_e(key)}" style="display:none">{svg}</div>'
                    for key, svg in map_svgs.items())
    return ('<section id="map"><h2>Process map</h2><div class="controls">'
            '<span class="switch"><button data-mode="frequency" class="on">Frequency</button>'
            '<button data-mode="performance">Performance</button></span>'
            f'<label>Activities <input id="act-slider" type="range" min="0" max="{len(levels["activities"]) - 1}" '
            'value="0"> <span id="act-label"></span></label>'
            f'<label>Paths <input id="path-slider" type="range" min="0" max="{len(levels["paths"]) - 1}" value="0"> '
            f'<span id="path-label"></span></label></div><div class="mapbox">{views}'
            f'</div><p class="note">{_e(data.get("map_note", ""))}</p></section>'
            f'<script type="application/json" id="map-levels">{json.dumps(levels)}</script>')


def _animation(data: dict[str, Any], anim_svg: str) -> str:
    """Tickets moving over the map: play button, time slider, speed, and the moves as JSON."""
    anim = data["animation"]
    return ('<section id="animation"><h2>Tickets moving over the map</h2><div class="controls">'
            '<button id="play">▶ play</button><input id="time-slider" type="range" min="0" max="1000" value="0" '
            'style="width:420px">'
            '<label>speed <select id="speed"><option value="600000">1 s = 10 min</option>'
            '<option value="3600000" selected>1 s = 1 hour</option><option value="21600000">1 s = 6 hours</option>'
            '<option value="86400000">1 s = 1 day</option><option value="604800000">1 s = 1 week</option>'
            '</select></label>'
            '<span class="clock" id="clock"></span><span>active tokens: <b id="active">0</b></span></div>'
            f'<div class="mapbox" id="anim-map">{anim_svg}</div>'
            f'<p class="note">{_e(anim.get("note", ""))}</p></section>'
            f'<script type="application/json" id="anim-data">{json.dumps(anim, ensure_ascii=False)}</script>')


def _conformance(data: dict[str, Any], sop_svg: str | None) -> str:
    """The SOP flowchart coloured by deviations and the per-step table (or why there is none)."""
    parts = ['<section id="sop"><h2>SOP conformance</h2>']
    conf = data.get("conformance")
    if conf:
        parts.append(f"<p>{_e(conf['summary'])}</p><div class=\"mapbox\">{sop_svg or ''}</div>")
        parts.append(_table(conf["step_headers"], conf["step_rows"]))
        if conf.get("unknown"):
            parts.append(f"<p class=note>Activities the SOP does not know: {_e(conf['unknown'])}</p>")
    else:
        parts.append(f"<p class=muted>{_e(data.get('sop_note') or 'No SOP given.')}</p>")
    parts.append("</section>")
    return "".join(parts)


def _bottlenecks(data: dict[str, Any]) -> str:
    """Ranked bottlenecks, ping-pong pairs and days when a step's working time jumped."""
    parts = ['<section id="bottlenecks"><h2>Bottlenecks, ranked by impact on throughput time</h2>']
    b = data.get("bottlenecks")
    parts.append(_table(b["headers"], b["rows"]) if b else "<p class=muted>none</p>")
    if b and b.get("pingpong"):
        parts.append(f"<h3>{_e(b.get('pingpong_title', 'Ping-pong between teams'))}</h3>"
                     + _table(b["pingpong_headers"], b["pingpong"]))
    if b and b.get("days"):
        parts.append("<h3>Days when a step's working time jumped</h3>" + _table(b["days_headers"], b["days"]))
    parts.append("</section>")
    return "".join(parts)


def _comparison(data: dict[str, Any], compare_svg: str | None) -> str:
    """Pilot against baseline: the KPI table, the comparison map and the variants' note."""
    parts = ['<section id="compare"><h2>Pilot against baseline</h2>']
    c = data.get("comparison")
    if c:
        parts.append(f"<p>{_e(c['summary'])}</p>" + _table(c["headers"], c["rows"]))
        if compare_svg:
            parts.append(f'<div class="mapbox">{compare_svg}</div><p class=note>{_e(c.get("map_note", ""))}</p>')
        if c.get("variants"):
            parts.append(f"<p class=note>{_e(c['variants'])}</p>")
    else:
        parts.append("<p class=muted>No comparison requested (use --compare A B).</p>")
    parts.append("</section>")
    return "".join(parts)


def _variants(data: dict[str, Any]) -> str:
    """The most frequent variants with a bar of their share."""
    v = data["variants"]
    rows = [[raw(f'<span class="bar" style="width:{max(1, int(r[1] * 160))}px"></span> {r[1] * 100:.1f}%'),
             r[2], r[3], r[0]] for r in v["rows"]]
    return ('<section id="variants"><h2>Variants</h2>'
            + _table(["share", "tickets", "median throughput", "activities"], rows)
            + f"<p class=note>{_e(v.get('note', ''))}</p></section>")


def _backlog(data: dict[str, Any]) -> str:
    """Open tickets at the end of each day."""
    note = f'<p class="note">{_e(data["backlog_note"])}</p>' if data.get("backlog_note") else ""
    return ('<section id="backlog"><h2>Backlog over time (open tickets at the end of each day)</h2>'
            f'{data["backlog_svg"]}{note}</section>')


def _tickets(data: dict[str, Any]) -> str:
    """A sample of tickets with their traces (and the command for the full history)."""
    parts = ['<section id="tickets"><h2>A sample of tickets with their traces</h2>']
    for t in data["tickets"]:
        parts.append(f"<details><summary><b>{_e(t['ticket'])}</b> — {_e(t['summary'])}</summary>")
        parts.append(_table(["business time", "activity", "actor", "team", "wait before"], t["rows"]))
        if t.get("deviations"):
            parts.append(f"<p class=note>Deviations: {_e(t['deviations'])}</p>")
        parts.append(f"<p class=note>Full history: <code>csmine trace {_e(t['ticket'])}</code></p></details>")
    parts.append("</section>")
    return "".join(parts)
