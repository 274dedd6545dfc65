// AMM-500 dashboard page. Reads snapshots (GET /api/snapshot, then server-sent events on /api/events),
// or the one snapshot embedded in a replayed journal's static page. Sends only confirmed controls
// (POST /api/control) to its own server, which forwards them to the bot; it never talks to an exchange.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const charts = {};
  window.AMM500_CHARTS = charts; // for the browser tests (zoom is kept across updates)
  let last = null;

  // ---- formatting: every figure also keeps its raw value in data-value, so a test can compare exactly
  function num(id, v, digits, opts) {
    const el = $(id);
    if (!el) return;
    opts = opts || {};
    if (v === null || v === undefined || Number.isNaN(v)) { el.textContent = "–"; el.dataset.value = ""; return; }
    el.dataset.value = String(v);
    let s = Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    if (opts.signed && v > 0) s = "+" + s;
    el.textContent = (opts.prefix || "") + s + (opts.suffix || "");
    if (opts.color) { el.classList.toggle("pos", v > 0); el.classList.toggle("neg", v < 0); }
  }
  const fmt = (v, d) => (v === null || v === undefined) ? "–" : Number(v).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  const hhmmss = (t) => new Date(t * 1000).toISOString().substring(11, 19);
  const badge = (id, text, cls) => { const el = $(id); el.textContent = text; el.className = "badge " + (cls || ""); el.dataset.value = text; };
  function rows(tableId, list, cells) {
    const tb = $(tableId).querySelector("tbody");
    tb.replaceChildren(...list.map((item) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of cells(item)) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); }
      return tr;
    }));
  }

  // ---- charts (uPlot): created once, data replaced on each update, a person's zoom kept
  function dedupe(t) { // uPlot needs strictly increasing x inside one table
    const out = t.slice();
    for (let i = 1; i < out.length; i++) if (out[i] <= out[i - 1]) out[i] = out[i - 1] + 1e-6;
    return out;
  }
  function chart(id, series, data) {
    const el = $(id);
    const width = Math.max(280, el.clientWidth || 600);
    const height = el.classList.contains("tall") ? 320 : (window.innerWidth < 600 ? 200 : 260);
    let c = charts[id];
    if (!c) {
      const opts = {
        width, height, series: [{}].concat(series),
        scales: { x: { time: true } },
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"), // UTC, like the tables and the journal
        axes: [{ stroke: "#8b98a5", grid: { stroke: "#2b3640" } }, { stroke: "#8b98a5", grid: { stroke: "#2b3640" }, size: 70 }],
        cursor: { drag: { x: true, y: false } },
        hooks: { setSelect: [(u) => { if (u.select.width > 0) u._zoomed = true; }] },
        legend: { live: true },
      };
      c = charts[id] = new uPlot(opts, data, el);
      c.over.addEventListener("dblclick", () => { c._zoomed = false; });
    } else {
      c.setData(data, !c._zoomed);
      if (Math.abs(c.width - width) > 20) c.setSize({ width, height });
    }
    return c;
  }
  const line = (label, stroke, extra) => Object.assign({ label, stroke, width: 1.5, spanGaps: true, points: { show: false } }, extra || {});
  const dots = (label, fill, size) => ({ label, stroke: fill, fill, paths: () => null, points: { show: true, size: size || 7, fill, stroke: fill } });

  function split(pts, side) { // points of one side: [t[], px[]]
    const t = [], px = [];
    if (!pts) return [t, px];
    for (let i = 0; i < pts.t.length; i++) if (pts.side[i] === side) { t.push(pts.t[i]); px.push(pts.px[i]); }
    return [dedupe(t), px];
  }
  function priceChart(s) {
    const j = s.journal || {}, ser = j.series || { t: [], mid: [] }, b = s.book || { t: [] };
    const tables = [[dedupe(ser.t), ser.mid], [dedupe(b.t), b.bid, b.ask, b.our_bid, b.our_ask],
      split(j.fill_points, 1), split(j.fill_points, -1), split(j.quote_points, 1), split(j.quote_points, -1)];
    const data = uPlot.join(tables);
    chart("chart_price", [line("mid", "#8b98a5"), line("best bid", "#2f81f7", { width: 1 }), line("best ask", "#a371f7", { width: 1 }),
      line("our bid", "#3fb950", { dash: [4, 3] }), line("our ask", "#f85149", { dash: [4, 3] }),
      dots("buy fill", "#3fb950", 9), dots("sell fill", "#f85149", 9), dots("bid placed", "rgba(63,185,80,.35)", 4),
      dots("ask placed", "rgba(248,81,73,.35)", 4)], data);
  }
  function pnlChart(s) {
    const ser = (s.journal || {}).series || { t: [] };
    const neg = (a) => (a || []).map((v) => v === null ? null : -v);
    chart("chart_pnl", [line("net", "#e6e6e6", { width: 2 }), line("spread capture", "#3fb950"), line("inventory", "#2f81f7"),
      line("fees (paid)", "#d29922"), line("funding (paid)", "#a371f7")],
      [dedupe(ser.t), ser.net || [], ser.capture || [], ser.inventory || [], neg(ser.fees), neg(ser.funding)]);
  }
  function invChart(s) {
    const j = s.journal || {}, ser = j.series || { t: [] }, lim = (j.limits || {}).max_net_exposure;
    const maxPos = (s.bot || {}).max_position;
    const up = (ser.mid || []).map((m) => maxPos ? maxPos : (lim && m) ? lim / m : null);
    chart("chart_inv", [line("position", "#e6e6e6", { width: 2 }), line("+limit", "#da3633", { dash: [5, 4] }),
      line("-limit", "#da3633", { dash: [5, 4] })], [dedupe(ser.t), ser.position || [], up, up.map((v) => v === null ? null : -v)]);
  }

  // ---- the page
  let lastJournal = null;
  function render(s) {
    // an update without a journal part means "unchanged since the last one" (it is most of the bytes)
    if (s.journal) lastJournal = s.journal; else if (lastJournal && s.journal_seq !== undefined) s.journal = lastJournal;
    last = s;
    const p = s.presence || {}, bot = s.bot || {}, j = s.journal || {}, sum = j.summary || {};
    badge("presence", p.status === "replay" ? "replay" : ("bot " + p.status), { active: "ok", stale: "warn", offline: "bad", replay: "" }[p.status]);
    $("presence").title = p.why || "";
    const id = s.identity || {};
    $("identity").textContent = [id.mode, id.network, id.account].filter(Boolean).join(" · ");
    const lt = j.last_transition || {}, replay = s.source === "replay";
    const runs = j.runs || [], lastRun = runs.length ? runs[runs.length - 1] : null;
    // a replay shows the state the journal last recorded (a run that never left ACTIVE recorded none)
    const state = bot.state || lt.state || (replay && lastRun ? "ACTIVE" : "–");
    badge("trading_state", state, { ACTIVE: "ok", REDUCING: "warn", HALTED: "bad" }[state]);
    const reasons = bot.reasons && bot.reasons.length ? bot.reasons : (replay ? (lt.reasons || []) : []);
    $("reasons").textContent = (reasons.length ? "because: " + reasons.join(", ") : "")
      + (replay && lastRun && lastRun.ended_ns ? (reasons.length ? " · " : "") + "run ended " + hhmmss(lastRun.ended_ns / 1e9) + " UTC (" + (lastRun.stopped_by || "?") + ")" : "");
    const kill = replay ? (j.events || []).some((e) => e.kind === "kill_switch") : bot.kill_switch;
    badge("kill_switch", "kill switch " + (kill === true ? "LATCHED" + (bot.kill_reason ? " (" + bot.kill_reason + ")" : "") : kill === false ? "not latched" : "–"), kill ? "bad" : "");
    $("asof").textContent = (s.source === "replay" ? "replayed journal · read " : "updated ") + new Date(s.asof * 1000).toISOString().replace("T", " ").substring(0, 19) + " UTC"
      + (j.read_at && s.asof - j.read_at > 2 * s.interval_s ? " · journal as of " + hhmmss(j.read_at) + " (a long journal is read less often)" : "")
      + (s.endpoint_error ? " · " + s.endpoint_error : "") + (s.journal_error ? " · " + s.journal_error : "");
    $("asof").dataset.value = String(s.asof);

    num("net_pnl", sum.net_pnl, 2, { signed: true, color: true });
    num("spread_capture", sum.spread_capture, 2, { signed: true, color: true });
    num("inventory_pnl", sum.inventory_pnl, 2, { signed: true, color: true });
    num("fees", sum.fees, 2);
    num("funding", sum.funding, 2);
    const equity = bot.equity !== undefined && bot.equity !== null && s.source === "live" ? bot.equity : sum.end_equity;
    num("equity", equity, 2);
    const position = bot.position !== undefined && bot.position !== null && s.source === "live" ? bot.position : sum.position;
    num("position", position, 5, { signed: true });
    num("fills", sum.fills, 0);
    $("maker_ratio").textContent = sum.maker_ratio === null || sum.maker_ratio === undefined ? "" : "maker " + fmt(100 * sum.maker_ratio, 1) + "% · $" + fmt(sum.volume_usd, 0);
    const mid = bot.mid || (j.series && j.series.mid.length ? j.series.mid[j.series.mid.length - 1] : null);
    // the engine's own limit in BTC (max_position) when it publishes one, else the journalled USD cap at this mid
    const lim = bot.max_position && mid ? bot.max_position * mid : (j.limits || {}).max_net_exposure;
    if (lim && mid && position !== null && position !== undefined) {
      const frac = Math.min(1, Math.abs(position * mid) / lim);
      const bar = $("inventory_bar");
      bar.style.left = position >= 0 ? "50%" : (50 - 50 * frac) + "%"; bar.style.width = (50 * frac) + "%";
      bar.style.background = frac > 0.8 ? "var(--bad)" : frac > 0.5 ? "var(--warn)" : "var(--ok)";
      $("inventory_limit").textContent = "$" + fmt(Math.abs(position * mid), 0) + " of $" + fmt(lim, 0) + " (" + fmt(100 * frac, 0) + "%)";
    }
    const ser = j.series || {};
    const lastOf = (a) => a && a.length ? a[a.length - 1] : null;
    num("spread_bps", bot.spread_bps !== undefined && bot.spread_bps !== null ? bot.spread_bps : lastOf(ser.spread_bps), 2, { suffix: " bps" });
    const regime = bot.regime !== undefined && bot.regime !== null ? bot.regime : lastOf(ser.regime);
    const REGIMES = { "-1": "none yet", 0: "ultra-low", 1: "low", 2: "normal", 3: "high", 4: "extreme" };
    $("regime").textContent = regime === null || regime === undefined ? "" : "volatility regime " + (REGIMES[regime] || regime);
    const mk = sum.markouts_bps || {};
    $("markouts").textContent = Object.keys(mk).length ? Object.entries(mk).map(([h, v]) => h + " " + fmt(v, 2)).join(" · ") : "–";

    const orders = s.source === "live" && bot.open_orders ? bot.open_orders : (j.journal_open_orders || []);
    rows("orders", orders.slice().sort((a, b) => (b.px || 0) - (a.px || 0)), (o) => [[o.side, o.side], [fmt(o.px, 1)], [fmt(o.sz, 5)], [o.status || ""]]);
    rows("fills_table", j.fills || [], (f) => [[hhmmss(f.time)], [f.side, f.side], [fmt(f.px, 1)], [fmt(f.sz, 5)], [fmt(f.fee, 4)], [f.liquidity]]);
    const events = (s.controls_log || []).map((c) => ({ time: c.time, kind: "control " + c.command, detail: c.message })).concat(j.events || [])
      .sort((a, b) => b.time - a.time).slice(0, 40);
    rows("events", events, (e) => [[hhmmss(e.time)], [e.kind], [e.detail]]);

    // latency: the engine's recent window (/state latency_ms) first, else quantiles from /metrics' histograms
    const lat = (s.metrics || {}).latency || {}, vals = (s.metrics || {}).values || {};
    const ms = (v) => v === null || v === undefined ? "–" : fmt(v, 2) + " ms";
    const latRows = Object.entries(bot.latency_ms || {}).filter(([, v]) => v.count !== 0).map(([k, v]) => [k, v.p50, v.p99, v.count === null || v.count === undefined ? "" : fmt(v.count, 0)]);
    if (!latRows.length) for (const [k, v] of Object.entries(lat)) {
      latRows.push([k.replace("amm500_", "").replace("_seconds", ""), v.p50 === null ? null : v.p50 * 1e3, v.p99 === null ? null : v.p99 * 1e3, fmt(v.count, 0)]);
    }
    rows("latency", latRows, (r) => [[r[0]], [ms(r[1])], [ms(r[2])], [r[3]]]);
    const budget = bot.budget_left !== undefined && bot.budget_left !== null ? bot.budget_left : vals.amm500_request_budget_left;
    num("budget", budget, 0, { prefix: "request budget left: " });
    if (budget === undefined || budget === null) $("budget").textContent = s.source === "live" ? "request budget: not published by this venue" : "latency and the request budget come from a running bot: a replayed journal has neither";

    renderBacktest(s.backtest, sum, j.runs || []);
    $("controls").hidden = !s.controls;
    for (const b of document.querySelectorAll("#controls button")) b.disabled = p.status === "offline";
    try { priceChart(s); pnlChart(s); invChart(s); } catch (e) { console.error(e); }
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  function renderBacktest(bt, live, runs) {
    if (!bt) return;
    $("backtest_card").hidden = false;
    const spanLive = runs.length ? ((runs[runs.length - 1].ended_ns || Date.now() * 1e6) - runs[0].started_ns) / 864e11 : null;
    const perDay = (v, d) => (v === null || v === undefined || !d) ? null : v / d;
    const r = [["net PnL", bt.net_pnl, live.net_pnl, 2], ["net PnL / day", perDay(bt.net_pnl, bt.span_days), perDay(live.net_pnl, spanLive), 2],
      ["spread capture", bt.spread_capture, live.spread_capture, 2], ["inventory PnL", bt.inventory_pnl, live.inventory_pnl, 2],
      ["fees", bt.fees, live.fees, 2], ["funding", bt.funding, live.funding, 2], ["fills", bt.fills, live.fills, 0],
      ["fills / day", bt.trades_per_day, perDay(live.fills, spanLive), 0],
      ["maker ratio", bt.maker_ratio, live.maker_ratio, 3]];
    const bm = bt.markouts_bps || {}, lm = live.markouts_bps || {};
    for (const h of Object.keys(Object.assign({}, bm, lm)).sort((a, b) => parseFloat(a) - parseFloat(b))) r.push(["mark-out " + h + " (bps)", bm[h], lm[h], 2]);
    rows("backtest", r, ([k, a, b, d]) => [[k], [fmt(a, d)], [fmt(b, d)]]);
    $("backtest_note").textContent = "backtest: " + (bt.source || "") + " · " + (bt.fill_model || "") + (bt.span_days ? " · " + fmt(bt.span_days, 2) + " days" : "")
      + (spanLive ? " · live " + fmt(spanLive * 24, 2) + " h" : "");
  }

  // ---- controls: a confirmation first, then one POST to our own server
  const LABELS = { reduce: "Stop quoting: the bot goes REDUCING and only sends orders that shrink the position.",
    resume: "Resume quoting (release the stop-quoting you set).", cancel_all: "Cancel every resting order now.",
    flatten: "Flatten: close the whole position with a reduce-only IOC (pays the taker fee)." };
  function confirmThen(command) {
    const dlg = $("confirm");
    $("confirm_text").textContent = LABELS[command] + " Send it to the bot?";
    dlg.returnValue = "";
    dlg.onclose = () => { if (dlg.returnValue === "ok") send(command); };
    dlg.showModal();
  }
  async function send(command) {
    $("control_result").textContent = "sending " + command + "…";
    try {
      const r = await fetch("/api/control", { method: "POST", headers: { "Content-Type": "application/json", "X-AMM500-Confirm": command },
        body: JSON.stringify({ command }), credentials: "same-origin" });
      const body = await r.json();
      $("control_result").textContent = body.message;
      $("control_result").dataset.value = body.ok ? "ok" : "refused";
      refresh();
    } catch (e) { $("control_result").textContent = "could not reach the dashboard server"; }
  }
  for (const b of document.querySelectorAll("#controls button")) b.addEventListener("click", () => confirmThen(b.dataset.command));

  async function refresh() {
    try { const r = await fetch("/api/snapshot?fresh=1", { credentials: "same-origin" }); if (r.ok) render(await r.json()); } catch (e) { /* the stream catches up */ }
  }
  window.addEventListener("resize", () => { if (last) render(last); });

  const embedded = document.getElementById("snapshot");
  if (embedded) { render(JSON.parse(embedded.textContent)); return; }
  fetch("/api/snapshot", { credentials: "same-origin" }).then((r) => r.json()).then(render).catch(() => {});
  const es = new EventSource("/api/events");
  es.addEventListener("snapshot", (ev) => render(JSON.parse(ev.data)));
  es.onerror = () => { $("asof").textContent = "connection lost: reconnecting…"; };
})();
