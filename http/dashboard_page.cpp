// The dashboard page as one raw string. Server data only ever reaches the DOM
// through textContent (device names are configuration, but still untrusted
// text to a browser). The API key lives in sessionStorage and goes out only as
// an Authorization header (fetch) or a WebSocket subprotocol, never in a URL.
#include "http/dashboard_page.hpp"

namespace kairos::http {

std::string_view dashboard_csp() {
  return "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
         "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

std::string_view dashboard_page() {
  static constexpr std::string_view page = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kairos dashboard</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d232b; --mute:#69727d; --line:#e2e5e9;
          --a:#2563eb; --b:#d9480f; --c:#2f9e44; --d:#9c36b5; --e:#0c8599; --f:#e8590c; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:center; gap:16px; padding:12px 20px; background:#111827; color:#fff; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  header .sub { color:#9ca3af; font-size:12px; }
  #conn-status { margin-left:auto; padding:2px 10px; border-radius:10px; background:#374151; font-size:12px; }
  #conn-status.live { background:#15803d; } #conn-status.bad { background:#b91c1c; }
  main { padding:16px 20px; display:grid; gap:14px; grid-template-columns:repeat(12, 1fr); }
  .card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  .kpi { grid-column:span 2; }
  .kpi .v { font-size:26px; font-weight:600; font-variant-numeric:tabular-nums; }
  .kpi .l { color:var(--mute); font-size:12px; }
  .chart { grid-column:span 6; }
  .chart h2, .card h2 { font-size:13px; margin:0 0 6px; font-weight:600; }
  canvas { width:100%; height:150px; display:block; }
  .legend { display:flex; flex-wrap:wrap; gap:10px; font-size:12px; color:var(--mute); margin-top:4px; }
  .legend i { display:inline-block; width:10px; height:3px; margin-right:4px; vertical-align:middle; }
  .wide { grid-column:span 6; }
  table { width:100%; border-collapse:collapse; font-size:13px; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); }
  th { color:var(--mute); font-weight:500; }
  textarea, input { font:inherit; width:100%; padding:6px 8px; border:1px solid var(--line); border-radius:6px; }
  textarea { height:64px; resize:vertical; }
  button { font:inherit; padding:6px 14px; border:0; border-radius:6px; background:var(--a); color:#fff; cursor:pointer; }
  button:disabled { background:#9ca3af; }
  .row { display:flex; gap:8px; align-items:center; margin-top:6px; }
  .row input { width:90px; }
  #stream-out { white-space:pre-wrap; min-height:80px; max-height:220px; overflow:auto; background:#f9fafb;
                border:1px solid var(--line); border-radius:6px; padding:8px; margin-top:8px; font-family:ui-monospace, monospace; font-size:13px; }
  .meta { color:var(--mute); font-size:12px; margin-top:4px; }
  #auth { display:none; grid-column:span 12; border-color:#f59e0b; }
  #auth.show { display:block; }
  #auth form { display:flex; gap:8px; max-width:520px; }
  @media (max-width: 1000px) { .kpi { grid-column:span 4; } .chart, .wide { grid-column:span 12; } }
</style>
</head>
<body>
<header>
  <h1>Kairos</h1><span class="sub" id="model">serving dashboard</span>
  <span class="sub">window <span id="window">0</span> s, <span id="samples">0</span> samples</span>
  <span id="conn-status">connecting</span>
</header>
<main>
  <section class="card" id="auth">
    <h2>API key required</h2>
    <p class="meta">This server needs its API key. It is kept in this tab only (sessionStorage) and sent as an
      Authorization header, never in a URL.</p>
    <form id="auth-form"><input id="auth-key" type="password" autocomplete="off" placeholder="API key">
      <button type="submit">Use key</button></form>
  </section>

  <div class="card kpi"><div class="l">TTFT attainment</div><div class="v"><span id="v-ttft">-</span>%</div>
    <div class="l"><span id="v-ttft-n">0</span> requests</div></div>
  <div class="card kpi"><div class="l">TPOT attainment</div><div class="v"><span id="v-tpot">-</span>%</div>
    <div class="l"><span id="v-tpot-n">0</span> requests</div></div>
  <div class="card kpi"><div class="l">Waiting (prefill / decode)</div>
    <div class="v"><span id="v-prefill-waiting">-</span> / <span id="v-decode-waiting">-</span></div>
    <div class="l">running <span id="v-prefill-running">-</span> / <span id="v-decode-running">-</span></div></div>
  <div class="card kpi"><div class="l">Decode batch (mean)</div><div class="v" id="v-decode-batch">-</div>
    <div class="l">busy <span id="v-decode-busy">-</span>%</div></div>
  <div class="card kpi"><div class="l">Tokens / s</div><div class="v" id="v-tps">-</div>
    <div class="l"><span id="v-generated">0</span> generated</div></div>
  <div class="card kpi"><div class="l">Requests finished</div><div class="v" id="v-finished">-</div>
    <div class="l"><span id="v-rejected">0</span> rejected, <span id="v-cancelled">0</span> cancelled, <span id="v-failed">0</span> failed</div></div>

  <div class="card chart"><h2>SLO attainment per interval</h2><canvas id="c-slo"></canvas><div class="legend" id="l-slo"></div></div>
  <div class="card chart"><h2>Queue depths</h2><canvas id="c-queue"></canvas><div class="legend" id="l-queue"></div></div>
  <div class="card chart"><h2>Batch sizes (mean requests per batch)</h2><canvas id="c-batch"></canvas><div class="legend" id="l-batch"></div></div>
  <div class="card chart"><h2>Device utilisation (busy, KV in use)</h2><canvas id="c-util"></canvas><div class="legend" id="l-util"></div></div>

  <div class="card wide"><h2>Devices</h2>
    <table id="devices"><thead><tr><th>device</th><th>group</th><th>up</th><th>KV used</th><th>KV blocks free</th><th>batches</th><th>busy</th></tr></thead>
    <tbody></tbody></table></div>

  <div class="card wide"><h2>Try a prompt (WebSocket /v1/stream)</h2>
    <textarea id="prompt">Once upon a time</textarea>
    <div class="row">max tokens <input id="max-tokens" type="number" min="1" value="32">
      <button id="send">Send</button><span class="meta" id="stream-status">idle</span></div>
    <div id="stream-out"></div>
    <div class="meta"><span id="stream-tokens">0</span> tokens, TTFT <span id="stream-ttft">-</span> ms,
      TPOT <span id="stream-tpot">-</span> ms, <span id="stream-usage">-</span></div>
  </div>
</main>
<script>
"use strict";
const KEY_SLOT = "kairos.api_key";
let apiKey = sessionStorage.getItem(KEY_SLOT) || "";
let loaded = false, pendingTry = null;
const $ = (id) => document.getElementById(id);
const COLORS = ["#2563eb", "#d9480f", "#2f9e44", "#9c36b5", "#0c8599", "#e8590c", "#5c940d", "#c2255c"];

function setText(id, v) { $(id).textContent = v; }
function fmt(v, digits) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }
function pct(v) { return v === null || v === undefined ? "-" : (100 * v).toFixed(1); }
function authHeaders() { return apiKey ? { "Authorization": "Bearer " + apiKey } : {}; }
function status(text, cls) { const s = $("conn-status"); s.textContent = text; s.className = cls || ""; }

// -- charts: plain canvas lines; null values break a line --
function drawChart(id, legendId, t, lines, opt) {
  const cv = $(id), dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth || 500, h = cv.clientHeight || 150;
  cv.width = w * dpr; cv.height = h * dpr;
  const g = cv.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const L = 38, R = 8, T = 6, B = 18;
  let ymax = opt.ymax || 0;
  if (!opt.ymax) for (const l of lines) for (const v of l.values) if (v !== null && v > ymax) ymax = v;
  if (!opt.ymax) ymax = Math.max(4, Math.ceil(ymax / 4) * 4);  // round ticks
  const tmax = t.length ? t[t.length - 1] : 0, tmin = t.length ? Math.min(t[0], tmax - 60) : -60;
  const X = (x) => L + (w - L - R) * (x - tmin) / Math.max(tmax - tmin, 1e-9);
  const Y = (y) => T + (h - T - B) * (1 - y / ymax);
  g.strokeStyle = "#e2e5e9"; g.fillStyle = "#69727d"; g.font = "11px system-ui, sans-serif"; g.lineWidth = 1;
  for (let i = 0; i <= 4; ++i) {
    const y = ymax * i / 4;
    g.beginPath(); g.moveTo(L, Y(y)); g.lineTo(w - R, Y(y)); g.stroke();
    g.fillText(opt.percent ? (100 * y).toFixed(0) + "%" : (y >= 10 ? y.toFixed(0) : y.toFixed(1)), 2, Y(y) + 4);
  }
  g.fillText("-" + Math.round(tmax - tmin) + " s", L, h - 4);
  g.fillText("now", w - R - 22, h - 4);
  lines.forEach((l, k) => {
    g.strokeStyle = l.color || COLORS[k % COLORS.length]; g.lineWidth = 1.6; g.beginPath();
    let pen = false;
    l.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      if (pen) g.lineTo(X(t[i]), Y(v)); else g.moveTo(X(t[i]), Y(v));
      pen = true;
    });
    g.stroke();
    // Dots too: a value between two nulls (one interval with data) has no line to show it.
    g.fillStyle = g.strokeStyle;
    l.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      g.beginPath(); g.arc(X(t[i]), Y(v), 1.8, 0, 2 * Math.PI); g.fill();
    });
  });
  const lg = $(legendId);
  lg.replaceChildren();
  lines.forEach((l, k) => {
    const s = document.createElement("span"), i = document.createElement("i");
    i.style.background = l.color || COLORS[k % COLORS.length];
    s.append(i, document.createTextNode(l.label));
    lg.append(s);
  });
}

function render(d) {
  const tot = d.totals, s = d.series;
  setText("samples", s.t.length);
  setText("window", Math.round(d.window_s));
  setText("v-ttft", pct(tot.ttft_attainment)); $("v-ttft").dataset.value = tot.ttft_attainment;
  setText("v-tpot", pct(tot.tpot_attainment)); $("v-tpot").dataset.value = tot.tpot_attainment;
  setText("v-ttft-n", tot.ttft_met + tot.ttft_missed);
  setText("v-tpot-n", tot.tpot_met + tot.tpot_missed);
  for (const gr of d.groups) {
    setText("v-" + gr.group + "-waiting", gr.waiting);
    setText("v-" + gr.group + "-running", gr.running);
  }
  setText("v-decode-batch", fmt(tot.mean_decode_batch, 2));
  const last = (a) => { for (let i = a.length - 1; i >= 0; --i) if (a[i] !== null) return a[i]; return null; };
  setText("v-decode-busy", pct(last(s.decode_busy)));
  setText("v-tps", fmt(s.tokens_per_s.length ? s.tokens_per_s[s.tokens_per_s.length - 1] : null, 1));
  setText("v-generated", tot.generated_tokens);
  setText("v-finished", tot.finished);
  setText("v-rejected", tot.rejected);
  setText("v-cancelled", tot.cancelled);
  setText("v-failed", tot.failed);

  drawChart("c-slo", "l-slo", s.t, [{ label: "TTFT met", values: s.ttft_attainment },
                                    { label: "TPOT met", values: s.tpot_attainment }], { ymax: 1, percent: true });
  drawChart("c-queue", "l-queue", s.t, [{ label: "prefill waiting", values: s.prefill_waiting },
                                        { label: "prefill running", values: s.prefill_running },
                                        { label: "decode waiting", values: s.decode_waiting },
                                        { label: "decode running", values: s.decode_running }], {});
  drawChart("c-batch", "l-batch", s.t, [{ label: "prefill", values: s.prefill_batch },
                                        { label: "decode", values: s.decode_batch }], {});
  const util = [{ label: "prefill busy", values: s.prefill_busy }, { label: "decode busy", values: s.decode_busy }];
  for (const name of Object.keys(s.kv_usage)) util.push({ label: "KV " + name, values: s.kv_usage[name] });
  drawChart("c-util", "l-util", s.t, util, { ymax: 1, percent: true });

  const tb = $("devices").tBodies[0];
  tb.replaceChildren();
  for (const dv of d.devices) {
    const tr = document.createElement("tr");
    tr.dataset.device = dv.name;
    const cells = [dv.name, dv.group, dv.alive ? "yes" : "no", pct(dv.kv_used) + "%",
                   dv.kv_free_blocks + " / " + dv.kv_total_blocks, dv.batches,
                   pct(last((s.busy || {})[dv.name] || [])) + "%"];
    cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c;
                              td.className = ["name", "group", "up", "kv", "free", "batches", "busy"][i]; tr.append(td); });
    tb.append(tr);
  }
}

async function poll() {
  try {
    const r = await fetch("/v1/stats", { headers: authHeaders(), cache: "no-store" });
    if (r.status === 401) {
      $("auth").className = "card show";
      status(apiKey ? "wrong API key" : "API key required", "bad");
      return;  // no polling until a key is entered
    }
    if (!r.ok) throw new Error("HTTP " + r.status);
    const d = await r.json();
    $("auth").className = "card";
    render(d);
    status("live", "live");
    loaded = true;
    if (pendingTry !== null) { $("prompt").value = pendingTry; pendingTry = null; send(); }
  } catch (e) {
    status("error: " + e.message, "bad");
  }
  setTimeout(poll, 1000);
}

$("auth-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  apiKey = $("auth-key").value;
  $("auth-key").value = "";
  sessionStorage.setItem(KEY_SLOT, apiKey);
  status("connecting");
  poll();
});

// -- the prompt box: one WebSocket request at a time --
// Browsers cannot set headers on a WebSocket, so the key rides in a
// subprotocol, base64url-encoded; the server answers with plain "kairos".
function b64url(text) {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
let nextId = 1;
function send() {
  const prompt = $("prompt").value;
  const maxTokens = parseInt($("max-tokens").value, 10) || 32;
  const protos = ["kairos"];
  if (apiKey) protos.push("kairos.bearer." + b64url(apiKey));
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/stream";
  const ws = new WebSocket(url, protos);
  const id = nextId++;
  let n = 0;
  $("send").disabled = true;
  setText("stream-out", ""); setText("stream-tokens", 0); setText("stream-status", "connecting");
  setText("stream-ttft", "-"); setText("stream-tpot", "-"); setText("stream-usage", "-");
  ws.onopen = () => { setText("stream-status", "streaming");
                      ws.send(JSON.stringify({ type: "request", id: id, prompt: prompt, max_tokens: maxTokens })); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "token") { $("stream-out").textContent += m.text; setText("stream-tokens", ++n); }
    else if (m.type === "error") { setText("stream-status", "error: " + m.message); }
    else if (m.type === "done") {
      $("stream-out").textContent += m.text;
      setText("stream-status", m.status);
      setText("stream-ttft", fmt(m.timings.ttft_ms, 1));
      setText("stream-tpot", fmt(m.timings.tpot_ms, 2));
      setText("stream-usage", m.usage.completion_tokens + " completion tokens");
      $("stream-usage").dataset.tokens = m.usage.completion_tokens;
      ws.close();
    }
  };
  ws.onerror = () => setText("stream-status", "connection failed");
  ws.onclose = () => { $("send").disabled = false; };
}
$("send").addEventListener("click", send);

// "#try=TEXT" runs TEXT once the stats are live (a link that demonstrates the stream).
if (location.hash.startsWith("#try=")) pendingTry = decodeURIComponent(location.hash.slice(5));
poll();
</script>
</body>
</html>
)page";
  return page;
}

}  // namespace kairos::http
