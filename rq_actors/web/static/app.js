// rq-actors dashboard: history from the JSON endpoints, live records over one WebSocket.
// Prices arrive as exact decimal strings; they become JS numbers only to be drawn.
"use strict";
(function () {
  const LW = window.LightweightCharts;
  const TF_S = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };
  const TF_COLOR = { "1m": "#60a5fa", "5m": "#2dd4bf", "15m": "#4ade80", "1h": "#fb923c",
    "4h": "#f472b6", "1d": "#c084fc" };
  const MAX_WICK_LINES = 120; // per timeframe
  const $ = (id) => document.getElementById(id);
  const state = $("state");
  const view = { inst: null, tf: "1m", meta: null, wicks: [], candles: new Map(), focus: null,
    ws: null, generation: 0, gapTimer: null };

  const secs = (iso) => Math.floor(Date.parse(iso) / 1000);
  const bucket = (t, tf) => t - (t % TF_S[tf]);

  async function api(path) {
    const r = await fetch(path, { credentials: "same-origin" });
    if (r.status === 401) { showLogin(); throw new Error("unauthorized"); }
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  }

  function showLogin() {
    $("main").hidden = true;
    $("login").hidden = false;
  }
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    document.cookie = "rq_token=" + encodeURIComponent($("token").value) +
      "; path=/; SameSite=Strict";
    location.reload();
  });

  // ---- the chart: candles + VWAP bands (pane 0), volume (pane 1), CVD (pane 2) ----
  const chart = LW.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: "#0f1419" }, textColor: "#b6c2d1",
      panes: { separatorColor: "#263040" } },
    grid: { vertLines: { color: "#18202b" }, horzLines: { color: "#18202b" } },
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 8 },
  });
  const candles = chart.addSeries(LW.CandlestickSeries, {
    upColor: "#26a69a", downColor: "#ef5350", wickUpColor: "#26a69a", wickDownColor: "#ef5350",
    borderVisible: false,
  });
  const line = (color, width, style, pane, title) => chart.addSeries(LW.LineSeries, {
    color, lineWidth: width, lineStyle: style, priceLineVisible: false,
    lastValueVisible: !!title, title: title || "", crosshairMarkerVisible: false,
  }, pane);
  const vwapLines = {};
  for (const w of ["1h", "4h"]) {
    const c = w === "1h" ? "#eab308" : "#a78bfa";
    vwapLines[w] = {
      mid: line(c, 2, LW.LineStyle.Solid, 0, "VWAP " + w),
      bands: [-2, -1, 1, 2].map((k) => ({ k, s: line(c, 1,
        Math.abs(k) === 1 ? LW.LineStyle.Dashed : LW.LineStyle.Dotted, 0) })),
    };
  }
  const volume = chart.addSeries(LW.HistogramSeries, { priceFormat: { type: "volume" },
    priceLineVisible: false }, 1);
  const cvdRun = line("#38bdf8", 2, LW.LineStyle.Solid, 2, "CVD");
  const cvdSession = line("#f59e0b", 1, LW.LineStyle.Solid, 2, "session");
  const panes = chart.panes();
  if (panes.length === 3) { panes[0].setStretchFactor(3); panes[1].setStretchFactor(1);
    panes[2].setStretchFactor(1.3); }

  function candlePoint(r) {
    return { time: secs(r.open_time_utc), open: +r.open, high: +r.high, low: +r.low,
      close: +r.close };
  }
  function volumePoint(r) {
    const up = +r.close >= +r.open;
    return { time: secs(r.open_time_utc), value: +r.volume_base,
      color: up ? "rgba(38,166,154,0.5)" : "rgba(239,83,80,0.5)" };
  }
  // VWAP is per minute; on a higher timeframe each candle shows the value at its last minute.
  function vwapPoints(records) {
    const out = { "1h": new Map(), "4h": new Map() };
    for (const r of records) {
      const t = bucket(secs(r.window_start_utc), view.tf);
      for (const w of ["1h", "4h"]) {
        if (r["vwap_" + w] !== null && r["vwap_" + w] !== undefined) {
          out[w].set(t, { v: +r["vwap_" + w], s: +(r["std_" + w] || 0) });
        }
      }
    }
    return out;
  }
  function setVwap(records, update) {
    const pts = vwapPoints(records);
    for (const w of ["1h", "4h"]) {
      const entries = [...pts[w].entries()].sort((a, b) => a[0] - b[0]);
      const mid = entries.map(([time, p]) => ({ time, value: p.v }));
      if (update) { for (const p of mid) vwapLines[w].mid.update(p); } else vwapLines[w].mid.setData(mid);
      for (const b of vwapLines[w].bands) {
        const data = entries.map(([time, p]) => ({ time, value: p.v + b.k * p.s }));
        if (update) { for (const p of data) b.s.update(p); } else b.s.setData(data);
      }
    }
  }
  function cvdPoints(records) {
    const run = new Map(), ses = new Map();
    for (const r of records) {
      const t = bucket(secs(r.window_start_utc), view.tf);
      run.set(t, +r.cvd_value);
      ses.set(t, +r.cvd_session);
    }
    const arr = (m) => [...m.entries()].sort((a, b) => a[0] - b[0])
      .map(([time, value]) => ({ time, value }));
    return [arr(run), arr(ses)];
  }

  // ---- wick levels: drawn on a canvas over the chart, from their candle to now ----
  const levels = $("levels");
  function drawLevels() {
    const box = $("chart").getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    if (levels.width !== Math.round(box.width * dpr)) {
      levels.width = Math.round(box.width * dpr); levels.height = Math.round(box.height * dpr);
      levels.style.width = box.width + "px"; levels.style.height = box.height + "px";
    }
    const g = levels.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, box.width, box.height);
    const right = chart.paneSize(0).width;
    const bottom = chart.paneSize(0).height;
    let drawn = 0;
    for (const w of view.wicks) {
      const y = candles.priceToCoordinate(+w.tip);
      if (y === null || y < 0 || y > bottom) continue;
      let x = chart.timeScale().timeToCoordinate(bucket(secs(w.open_time_utc), view.tf));
      if (x === null) x = 0;
      if (x > right) continue;
      const touched = w.state === "touched";
      const focus = view.focus === w.id;
      g.strokeStyle = touched ? "#475569" : TF_COLOR[w.tf] || "#e5e7eb";
      g.lineWidth = focus ? 3 : (TF_S[w.tf] >= 3600 ? 2 : 1);
      g.setLineDash(touched ? [2, 3] : (w.small ? [5, 3] : []));
      g.beginPath(); g.moveTo(x, y); g.lineTo(right, y); g.stroke();
      if (w.small && !touched) {
        g.fillStyle = g.strokeStyle;
        g.beginPath(); g.arc(x + 3, y, 2.5, 0, 2 * Math.PI); g.fill();
      }
      drawn++;
    }
    state.dataset.wicksDrawn = String(drawn);
  }
  chart.timeScale().subscribeVisibleLogicalRangeChange(drawLevels);
  chart.timeScale().subscribeSizeChange(drawLevels);
  chart.subscribeCrosshairMove(drawLevels);
  setInterval(drawLevels, 500); // price-axis drags have no event of their own

  function markSmall(wicks) {
    // "small": at most the median size of the same timeframe and side (the finder's idea)
    const groups = {};
    for (const w of wicks) (groups[w.tf + w.side] = groups[w.tf + w.side] || []).push(w.size_ticks);
    const median = {};
    for (const k in groups) {
      const s = groups[k].sort((a, b) => a - b);
      median[k] = s[Math.floor((s.length - 1) / 2)];
    }
    for (const w of wicks) w.small = w.size_ticks <= median[w.tf + w.side];
    return wicks;
  }

  async function loadWicks(gen) {
    const tfs = view.meta.wick_timeframes.filter((t) => TF_S[t] >= TF_S[view.tf]);
    if (!tfs.length) { view.wicks = []; return; }
    const touched = $("touched").checked ? 1 : 0;
    const doc = await api(`/api/${view.inst}/wicks?tf=${tfs.join(",")}&touched=${touched}` +
      `&limit=${MAX_WICK_LINES}`);
    if (gen !== view.generation) return;
    view.wicks = markSmall(doc.wicks);
    state.dataset.wicks = String(view.wicks.filter((w) => w.state === "untouched").length);
    drawLevels();
  }

  // ---- setups ----
  async function loadSetups(gen) {
    const doc = await api(`/api/${view.inst}/setups`);
    if (gen !== view.generation) return;
    const body = $("setups").tBodies[0];
    body.textContent = "";
    for (const s of doc.setups) {
      const tr = body.insertRow();
      const cells = [s.tier, s.strength, s.fade, s.tf, s.tip, s.age_min + "m", s.distance_ticks];
      for (const c of cells) tr.insertCell().textContent = c === undefined ? "" : String(c);
      tr.cells[0].className = "tier-" + s.tier;
      tr.dataset.id = s.id;
      tr.addEventListener("click", () => focusWick(s));
    }
    $("setups-count").textContent = `(${doc.setups.length})`;
    state.dataset.setups = String(doc.setups.length);
  }
  function focusWick(s) {
    view.focus = s.id;
    const open = s.id.split(":").slice(2, -1).join(":");
    const t = bucket(secs(open), view.tf);
    const span = TF_S[view.tf] * 30;
    chart.timeScale().setVisibleRange({ from: t - span, to: t + span });
    state.dataset.focus = s.id;
    drawLevels();
  }

  // ---- order book ----
  async function loadBook(gen) {
    const doc = await api(`/api/${view.inst}/book?levels=8`);
    if (gen !== view.generation || !doc.book) return;
    const b = doc.book, body = $("ladder").tBodies[0];
    body.textContent = "";
    for (const a of [...b.asks].reverse()) row(body, "", a[0], a[1]);
    for (const d of b.bids) row(body, d[1], d[0], "");
    $("book-time").textContent = b.timestamp_utc || "";
    function row(tb, bid, px, ask) {
      const tr = tb.insertRow();
      tr.insertCell().textContent = bid; tr.cells[0].className = "bid";
      tr.insertCell().textContent = px; tr.cells[1].className = "px";
      tr.insertCell().textContent = ask; tr.cells[2].className = "ask";
    }
  }
  async function loadHeatmap(gen) {
    const doc = await api(`/api/${view.inst}/heatmap?minutes=10&columns=90&rows=50&span=60`);
    if (gen !== view.generation) return;
    const c = $("heatmap"), g = c.getContext("2d");
    g.fillStyle = "#0b0f14"; g.fillRect(0, 0, c.width, c.height);
    const cols = doc.cells.length;
    if (!cols) return;
    const rows = doc.cells[0].length;
    let max = 0;
    for (const col of doc.cells) for (const v of col) max = Math.max(max, +v);
    const cw = c.width / cols, rh = c.height / rows;
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j < rows; j++) {
        const v = +doc.cells[i][j];
        if (!v) continue;
        const a = Math.log1p(v) / Math.log1p(max);
        g.fillStyle = `rgba(${Math.round(60 + 195 * a)},${Math.round(120 * a)},${Math.round(255 * (1 - a))},${0.25 + 0.75 * a})`;
        g.fillRect(i * cw, c.height - (j + 1) * rh, Math.ceil(cw), Math.ceil(rh));
      }
    }
    state.dataset.heatmapColumns = String(cols);
  }

  // ---- health ----
  const KEY_COUNTERS = ["trades_written", "duplicates_skipped", "quarantined", "gaps",
    "resubscribes", "snapshots_written", "records_written", "lagged", "errors"];
  async function loadHealth() {
    const doc = await api("/api/health");
    const body = $("health").tBodies[0];
    body.textContent = "";
    for (const h of doc.actors) {
      const tr = body.insertRow();
      const counters = Object.entries(h.counters || {})
        .filter(([k]) => KEY_COUNTERS.includes(k) || k.startsWith("alert"))
        .map(([k, v]) => `${k}=${v}`).join(" ");
      for (const c of [h.inst_id, h.actor, h.state, h.restarts, h.lag_ms ?? "-", counters,
        h.last_error || ""]) tr.insertCell().textContent = String(c);
      tr.cells[2].className = "st-" + h.state;
      tr.cells[5].className = "counters";
    }
    state.dataset.healthRows = String(doc.actors.length);
  }

  // ---- loading a view, and the live socket ----
  async function loadAll() {
    const gen = ++view.generation;
    const inst = view.inst, tf = view.tf;
    const [c, v, d] = await Promise.all([
      api(`/api/${inst}/candles?tf=${tf}&limit=1000`),
      api(`/api/${inst}/vwap?limit=${Math.min(5000, 1000 * TF_S[tf] / 60)}`),
      view.meta.cvd_timeframes.includes(tf) ? api(`/api/${inst}/cvd?tf=${tf}&limit=1000`)
        : api(`/api/${inst}/cvd?tf=1m&limit=5000`),
    ]);
    if (gen !== view.generation) return;
    view.candles = new Map(c.records.map((r) => [secs(r.open_time_utc), r]));
    candles.setData(c.records.map(candlePoint));
    volume.setData(c.records.map(volumePoint));
    setVwap(v.records, false);
    const [run, ses] = cvdPoints(d.records);
    cvdRun.setData(run); cvdSession.setData(ses);
    state.dataset.candles = String(view.candles.size);
    await Promise.all([loadWicks(gen), loadSetups(gen), loadBook(gen), loadHeatmap(gen),
      loadHealth()]);
    state.dataset.loaded = String(gen);
  }

  let wickTimer = null;
  function onRecord(m) {
    const r = m.record;
    state.dataset.pushed = String(+state.dataset.pushed + 1);
    state.dataset.lastPush = `${m.kind}:${m.stream}:${m.time_ms}`;
    if (m.kind === "candles" && m.stream === view.tf) {
      view.candles.set(secs(r.open_time_utc), r);
      candles.update(candlePoint(r));
      volume.update(volumePoint(r));
      state.dataset.candles = String(view.candles.size);
    } else if (m.kind === "vwap") {
      setVwap([r], true);
    } else if (m.kind === "cvd" && (m.stream === view.tf ||
        (m.stream === "1m" && !view.meta.cvd_timeframes.includes(view.tf)))) {
      const [run, ses] = cvdPoints([r]);
      if (run.length) { cvdRun.update(run[0]); cvdSession.update(ses[0]); }
    } else if (m.kind === "wicks") {
      clearTimeout(wickTimer); // a burst of wick events becomes one reload
      wickTimer = setTimeout(() => loadWicks(view.generation), 300);
    } else if (m.kind === "signals") {
      loadSetups(view.generation);
    }
  }

  function connect() {
    if (view.ws) { view.ws.onclose = null; view.ws.close(); }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/live?instId=${view.inst}`);
    view.ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "hello") {
        state.dataset.live = m.live ? "on" : "off";
        $("live").textContent = m.live ? "live" : "vault view (no live push)";
        $("live").className = "badge " + (m.live ? "on" : "off");
      } else if (m.type === "record") {
        try { onRecord(m); } catch (err) { state.dataset.pushError = String(err); }
      } else if (m.type === "gap") { // this page fell behind: reload from the vault, once
        clearTimeout(view.gapTimer);
        view.gapTimer = setTimeout(loadAll, 1000);
      }
    };
    ws.onclose = () => {
      $("live").textContent = "disconnected"; $("live").className = "badge";
      state.dataset.live = "";
      setTimeout(connect, 2000);
    };
  }

  function legend() {
    $("legend").textContent = "";
    for (const tf of view.meta.wick_timeframes) {
      const s = document.createElement("span");
      s.textContent = "— " + tf; s.style.color = TF_COLOR[tf];
      $("legend").appendChild(s);
    }
  }

  async function start() {
    view.meta = await api("/api/meta");
    const params = new URLSearchParams(location.search);
    for (const i of view.meta.instruments) $("inst").add(new Option(i, i));
    for (const t of view.meta.candle_timeframes) $("tf").add(new Option(t, t));
    view.inst = params.get("instId") && view.meta.instruments.includes(params.get("instId"))
      ? params.get("instId") : view.meta.instruments[0];
    view.tf = view.meta.candle_timeframes.includes(params.get("tf")) ? params.get("tf") : "1m";
    $("inst").value = view.inst; $("tf").value = view.tf;
    $("inst").onchange = () => { view.inst = $("inst").value; loadAll(); connect(); };
    $("tf").onchange = () => { view.tf = $("tf").value; loadAll(); };
    $("touched").onchange = () => loadWicks(view.generation);
    legend();
    await loadAll();
    connect();
    // the book is not on the live bus (a snapshot every 2 s per instrument): poll it slowly
    setInterval(() => { loadBook(view.generation); loadHealth(); }, 5000);
    setInterval(() => loadHeatmap(view.generation), 15000);
    setInterval(() => { if (state.dataset.live !== "on") loadAll(); }, 30000);
  }
  window.rqDashboard = { view, focusWick, chart };
  start().catch((e) => { state.dataset.error = String(e); });
})();
