// csmine live page: open tickets by SOP step, alert feed, today's KPIs, a small live map.
// Everything comes from this server (no CDN); updates arrive over /api/stream (server-sent
// events, read with fetch so that a bearer token can be sent) and by polling /api/open.
"use strict";

const state = { token: localStorage.getItem("csmine-token") || "", open: null, alerts: [], kpi: null,
  connected: false, renders: 0, selftest: null };
const $ = (id) => document.getElementById(id);
const MAX_CARDS = 40, MAX_ALERTS = 200;

function headers() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

async function getJson(path) {
  const r = await fetch(path, { headers: headers(), cache: "no-store" });
  if (r.status === 401) { $("token-box").hidden = false; throw new Error("401"); }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;" }[c]));
}

function dur(seconds) {
  const s = Math.abs(seconds), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
    m = Math.floor((s % 3600) / 60);
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + String(m).padStart(2, "0") + "m";
  return m + "m";
}

function band(share) {
  if (share == null) return "c0";
  return share >= 1 ? "c3" : share >= 0.75 ? "c2" : share >= 0.5 ? "c1" : "c0";
}

function splitLabel(label) {
  const i = String(label || "").indexOf(" / ");
  return i < 0 ? [label || "", ""] : [label.slice(0, i), label.slice(i + 3)];
}

function renderBoard() {
  const open = state.open;
  if (!open) return;
  const columns = new Map(open.steps.map((s) => [s.step, { step: s, tickets: [] }]));
  const other = { step: { step: "", label: "other activities / 其他", label_zh: "其他" }, tickets: [] };
  for (const t of open.tickets) (columns.get(t.step) || other).tickets.push(t);
  const cols = [...columns.values()].filter((c) => c.tickets.length || !c.step.off_flow);
  if (other.tickets.length) cols.push(other);
  $("board").innerHTML = cols.map((c) => {
    const [en, zh] = splitLabel(c.step.label);
    const cards = c.tickets.slice(0, MAX_CARDS).map((t) => {
      const nd = t.next_due, b = band(nd && nd.share);
      const width = nd ? Math.min(100, Math.max(2, nd.share * 100)) : 0;
      const due = nd ? (nd.left_s >= 0 ? dur(nd.left_s) + " left · " : dur(nd.left_s) + " over · ") +
        esc(splitLabel(nd.label)[1] || nd.step) : "no clock running";
      return `<div class="card ${b}" data-ticket="${esc(t.ticket)}"><span class="id">${esc(t.ticket)}</span>
        <div class="due">${due}</div><div class="bar ${b}"><b style="width:${width}%"></b></div></div>`;
    }).join("");
    const more = c.tickets.length > MAX_CARDS ? `<div class="more">+${c.tickets.length - MAX_CARDS} more</div>` : "";
    return `<div class="col" data-step="${esc(c.step.step)}"><h3><span class="n">${c.tickets.length}</span>${esc(en)}
      <span class="zh">${esc(zh || c.step.label_zh || "")}</span></h3>${cards}${more}</div>`;
  }).join("");
  renderMap(cols);
  $("now").textContent = new Date(open.now).toLocaleString();
  $("counts").textContent = `${open.count} open · ${state.alerts.length} alerts`;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  state.renders += 1;
  checkSelftest();
}

function renderMap(cols) {
  const svg = $("map"), flow = cols.filter((c) => c.step.step);
  const w = svg.clientWidth || 900, h = 96, n = Math.max(flow.length, 1), gap = w / n;
  let out = "";
  flow.forEach((c, i) => {
    const x = gap * (i + 0.5);
    if (i < flow.length - 1) out += `<line x1="${x}" y1="38" x2="${x + gap}" y2="38" stroke="#3b4d60" stroke-width="2"/>`;
  });
  flow.forEach((c, i) => {
    const x = gap * (i + 0.5), k = c.tickets.length;
    const worst = Math.max(-1, ...c.tickets.map((t) => (t.next_due ? t.next_due.share : -1)));
    const r = 9 + Math.min(20, Math.sqrt(k) * 3);
    const fill = k ? `var(--${band(worst < 0 ? null : worst)})` : "#263443";
    const zh = splitLabel(c.step.label)[1] || c.step.label_zh || c.step.step;
    out += `<circle cx="${x}" cy="38" r="${r}" fill="${fill}" opacity="0.9"/>
      <text class="n" x="${x}" y="43" text-anchor="middle">${k}</text>
      <text x="${x}" y="${h - 8}" text-anchor="middle">${esc(zh)}</text>`;
  });
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.innerHTML = out;
}

function alertItem(a, fresh) {
  const acked = a.acknowledged ? " acked" : "";
  const when = new Date(a.time).toLocaleString();
  const button = a.acknowledged ? "" : `<button data-ack="${esc(a.id)}">ack</button>`;
  const share = a.share != null ? ` ${Math.round(a.share * 100)}%` : "";
  return `<li class="${esc(a.kind)}${acked}${fresh ? " new" : ""}" data-id="${esc(a.id)}">${button}
    <span class="when">${esc(when)}</span><span class="kind">${esc(a.kind.replace("_", " "))}${share}</span>
    <b>${esc(a.ticket)}</b> · ${esc(a.step)}<br>${esc(a.detail)}</li>`;
}

function renderAlerts(freshId) {
  const rows = state.alerts.slice(-MAX_ALERTS).reverse();
  $("alerts").innerHTML = rows.map((a) => alertItem(a, a.id === freshId)).join("");
  $("alert-count").textContent = `${state.alerts.length} recorded`;
}

function renderKpis() {
  const k = state.kpi;
  if (!k) return;
  const measured = k.kpis.filter((x) => x.value != null);
  const shown = [...measured.filter((x) => x.target != null), ...measured.filter((x) => x.target == null)].slice(0, 9);
  if (!shown.length) {
    $("kpis").innerHTML = `<div class="tile empty">Today (${esc(k.day)}): ${k.tickets} tickets opened — no KPI measurable yet</div>`;
    return;
  }
  $("kpis").innerHTML = shown.map((x) => {
    const cls = x.met === true ? "met" : x.met === false ? "missed" : "";
    const value = fmt(x.value, x.unit), target = x.target != null ? "target " + fmt(x.target, x.unit) : "no target";
    return `<div class="tile ${cls}" title="${esc(x.note || "")}"><div class="k">${esc(x.label)}</div>
      <div class="v">${value}</div><div class="t">${target} · n=${x.n}</div></div>`;
  }).join("") + `<div class="tile"><div class="k">Tickets opened today · 今日工单</div><div class="v">${k.tickets}</div>
      <div class="t">${esc(k.day)}</div></div>`;
}

function fmt(v, unit) {
  if (v == null) return "—";
  if (unit === "share") return (v * 100).toFixed(1) + "%";
  if (unit === "seconds") return dur(v);
  if (unit === "tickets") return String(Math.round(v));
  if (unit === "points") return v.toFixed(1);
  return v.toFixed(2);
}

let openTimer = null, kpiTimer = null, lastKpi = 0;
function refreshSoon() {
  if (openTimer) return;
  openTimer = setTimeout(async () => { openTimer = null; await refreshOpen(); }, 300);
  if (Date.now() - lastKpi > 10000 && !kpiTimer) kpiTimer = setTimeout(async () => { kpiTimer = null; await refreshKpi(); }, 1000);
}

async function refreshOpen() {
  try { state.open = await getJson("/api/open?limit=5000"); renderBoard(); } catch (e) { /* shown by status */ }
}

async function refreshKpi() {
  lastKpi = Date.now();
  try { state.kpi = await getJson("/api/kpi?window=today"); renderKpis(); } catch (e) { /* keep the last tiles */ }
}

async function stream() {
  for (;;) {
    try {
      const r = await fetch("/api/stream", { headers: headers(), cache: "no-store" });
      if (r.status === 401) { $("token-box").hidden = false; return; }
      setConn(true);
      const reader = r.body.getReader(), dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) { onMessage(buf.slice(0, i)); buf = buf.slice(i + 2); }
      }
    } catch (e) { /* reconnect below */ }
    setConn(false);
    await new Promise((res) => setTimeout(res, 2000));
  }
}

function onMessage(block) {
  let kind = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) kind = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const msg = JSON.parse(data);
  if (kind === "alert") { state.alerts.push(msg); renderAlerts(msg.id); refreshSoon(); }
  else if (kind === "ack") {
    const a = state.alerts.find((x) => x.id === msg.id);
    if (a) { a.acknowledged = msg.acknowledged; renderAlerts(); }
  } else if (kind === "state") refreshSoon();
}

function setConn(on) { state.connected = on; $("conn").className = "dot " + (on ? "on" : "off"); }

async function ack(id) {
  const r = await fetch(`/api/alerts/${id}/ack`, { method: "POST", headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify({ actor: "live page" }) });
  if (r.status === 401) $("token-box").hidden = false;
}

// ?selftest=N: wait until N open tickets are shown without a reload, then write what was seen.
function checkSelftest() {
  const want = state.selftest;
  if (want == null || !state.open) return;
  const cards = document.querySelectorAll(".card").length;
  if (cards >= want && !$("selftest")) {
    const pre = document.createElement("pre");
    pre.id = "selftest";
    pre.hidden = true;
    pre.textContent = JSON.stringify({ cards, renders: state.renders, alerts: state.alerts.length,
      navigations: performance.getEntriesByType("navigation").length, connected: state.connected,
      steps: [...document.querySelectorAll(".col h3 .zh")].map((e) => e.textContent.trim()) });
    document.body.appendChild(pre);
  }
}

async function main() {
  const q = new URLSearchParams(location.search);
  if (q.has("selftest")) state.selftest = Number(q.get("selftest"));
  $("token-save").onclick = () => { state.token = $("token").value.trim(); localStorage.setItem("csmine-token", state.token);
    $("token-box").hidden = true; main(); };
  $("alerts").onclick = (e) => { const id = e.target.getAttribute && e.target.getAttribute("data-ack"); if (id) ack(id); };
  try {
    const h = await (await fetch("/api/health", { cache: "no-store" })).json();
    $("sop-title").textContent = "csmine live · " + (h.title || h.sop);
    $("sop-sub").textContent = h.title_zh || "";
  } catch (e) { /* the server is starting */ }
  try { const a = await getJson("/api/alerts"); state.alerts = a.alerts; renderAlerts(); } catch (e) { /* token */ }
  await refreshOpen();
  refreshKpi();
  setInterval(refreshOpen, 5000);
  setInterval(refreshKpi, 30000);
  stream();
}
main();
