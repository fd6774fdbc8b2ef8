/* wamc admin dashboard: the analytics view (#analytics, #analytics/<client>). Plain JS.
 *
 * Reads GET /api/stats (every client) or GET /api/clients/{id}/stats (one client), per UTC day or
 * hour, and draws the charts as SVG built here (no library, no CDN); colours come from the
 * dashboard's theme variables through CSS classes (analytics.css), so light and dark follow the
 * system. The API key is the one app.js keeps in sessionStorage. The view replaces the client
 * list while open; the hash keeps it across reloads.
 */
(() => {
  "use strict";

  const KEY_STORAGE = "wamc.apiKey";
  const REFRESH_MS = 30000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const SERIES = {
    messages: [
      { key: "messages_in", label: "In", cls: "an-in" },
      { key: "messages_out", label: "Out", cls: "an-out" },
    ],
    trouble: [
      { key: "send_failures", label: "Send failures", cls: "an-fail" },
      { key: "restarts", label: "Restarts", cls: "an-restart" },
    ],
    uptime: [{ key: "uptime_percent", label: "Uptime", cls: "an-uptime" }],
  };
  const TILES = [
    ["messages_in", "Messages in"],
    ["messages_out", "Messages out"],
    ["send_failures", "Send failures"],
    ["restarts", "Restarts"],
    ["uptime_percent", "Uptime"],
  ];

  const view = {
    client: "", // "" = every client
    bucket: "day",
    days: 30,
    data: null,
    timer: null,
    seq: 0,
    loads: 0, // answers drawn (read by the browser tests)
  };
  window.wamcAnalytics = view;

  const $ = (sel, root = document) => root.querySelector(sel);

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text != null) node.textContent = text;
    return node;
  }
  function svg(tag, attrs = {}) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  // ------------------------------------------------------------------------------ formatting
  const DAY_FMT = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  const HOUR_FMT = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC",
  });
  const FULL = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  /** Axis labels: short (1.5k); tiles and tables: the number itself (33,412). */
  function fmtShort(n) {
    if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1).replace(/\.0$/, "")}M`;
    if (Math.abs(n) >= 1000) return `${(n / 1000).toFixed(1).replace(/\.0$/, "")}k`;
    return FULL.format(n);
  }
  function fmtNumber(n) {
    return n == null ? "—" : FULL.format(n);
  }
  function fmtPercent(p) {
    return p == null ? "—" : `${p.toFixed(p === 100 ? 0 : 1)} %`;
  }
  function fmtBucket(start, bucket) {
    const d = new Date(start);
    return bucket === "day" ? `${DAY_FMT.format(d)} (UTC)` : `${HOUR_FMT.format(d)} UTC`;
  }
  function fmtValue(key, v) {
    return key === "uptime_percent" ? fmtPercent(v) : fmtNumber(v);
  }
  /** The top of a 4-tick axis above ``v`` whose ticks are round whole numbers. */
  function niceMax(v) {
    const raw = Math.max(1, (v > 0 ? v : 0) / 4);
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 3, 5, 10].map((k) => k * p).find((s) => s >= raw && Number.isInteger(s));
    return 4 * (step || 10 * p);
  }

  // ------------------------------------------------------------------------------ the view
  function build() {
    const root = $("#analytics");
    if (root.dataset.built) return root;
    root.dataset.built = "1";
    root.classList.add("analytics");
    root.setAttribute("aria-labelledby", "an-title");
    root.innerHTML = `
      <div class="an-head">
        <button type="button" id="an-back" class="ghost">← Instances</button>
        <h2 id="an-title">Analytics</h2>
        <div class="an-controls">
          <label for="an-client">Client</label>
          <select id="an-client"><option value="">All clients</option></select>
          <label for="an-days">Period</label>
          <select id="an-days">
            <option value="7">7 days</option>
            <option value="30" selected>30 days</option>
            <option value="90">90 days</option>
          </select>
          <div class="an-seg" role="group" aria-label="Sums per">
            <button type="button" data-bucket="day" aria-pressed="true">Per day</button>
            <button type="button" data-bucket="hour" aria-pressed="false">Per hour</button>
          </div>
        </div>
      </div>
      <p id="an-error" class="error" role="alert"></p>
      <dl id="an-tiles" class="an-tiles"></dl>
      <figure class="an-chart">
        <figcaption><span class="an-cap">Messages</span>
          <span class="an-legend"><i class="an-in"></i>in <i class="an-out"></i>out</span></figcaption>
        <div id="an-messages" class="an-plot"></div>
      </figure>
      <div class="an-pair">
        <figure class="an-chart">
          <figcaption><span class="an-cap">Send failures and restarts</span>
            <span class="an-legend"><i class="an-fail"></i>failures <i class="an-restart"></i>restarts</span></figcaption>
          <div id="an-trouble" class="an-plot"></div>
        </figure>
        <figure class="an-chart">
          <figcaption><span class="an-cap">Uptime %</span>
            <span class="an-legend muted small">connected ÷ desired running</span></figcaption>
          <div id="an-uptime" class="an-plot"></div>
        </figure>
      </div>
      <section id="an-clients-box" class="an-clients" aria-labelledby="an-clients-title" hidden>
        <h3 id="an-clients-title">Per client</h3>
        <div class="an-scroll"><table id="an-clients">
          <thead><tr><th scope="col">Client</th><th scope="col">In</th><th scope="col">Out</th>
            <th scope="col" title="Send failures">Failures</th><th scope="col">Restarts</th><th scope="col">Uptime</th></tr></thead>
          <tbody></tbody></table></div>
      </section>
      <p class="muted small an-note">Days and hours are UTC. Uptime counts the time the daemon ran.</p>`;
    $("#an-back", root).addEventListener("click", () => setHash(null));
    $("#an-client", root).addEventListener("change", (ev) => setHash(ev.target.value));
    $("#an-days", root).addEventListener("change", (ev) => {
      view.days = Number(ev.target.value);
      load();
    });
    for (const b of root.querySelectorAll("[data-bucket]")) {
      b.addEventListener("click", () => {
        view.bucket = b.dataset.bucket;
        for (const o of root.querySelectorAll("[data-bucket]")) {
          o.setAttribute("aria-pressed", String(o === b));
        }
        load();
      });
    }
    $("#an-clients", root).addEventListener("click", (ev) => {
      const row = ev.target.closest("tr[data-client]");
      if (row) setHash(row.dataset.client);
    });
    new ResizeObserver(() => view.data && drawCharts()).observe($("#an-messages", root));
    return root;
  }

  function setHash(client) {
    const hash = client == null ? "" : client ? `#analytics/${encodeURIComponent(client)}` : "#analytics";
    if (location.hash !== hash) {
      history.pushState(null, "", hash || location.pathname);
      route();
    }
  }

  function wanted() {
    const m = /^#analytics(?:\/(.*))?$/.exec(location.hash);
    return m ? decodeURIComponent(m[1] || "") : null;
  }

  function signedIn() {
    return !$("#app").hidden && sessionStorage.getItem(KEY_STORAGE);
  }

  function route() {
    const client = wanted();
    if (client === null || !signedIn()) return close();
    open(client);
  }

  function open(client) {
    const root = build();
    const app = $("#app");
    view.client = client;
    app.dataset.view = "analytics";
    root.hidden = false;
    setText($("#an-title"), client ? `Analytics · ${client}` : "Analytics · all clients");
    fillClients();
    $("#an-client").value = client;
    $("#an-clients-box").hidden = Boolean(client);
    load();
    clearInterval(view.timer);
    view.timer = setInterval(() => !document.hidden && load(), REFRESH_MS);
  }

  function close() {
    clearInterval(view.timer);
    view.timer = null;
    const root = $("#analytics");
    if (root) root.hidden = true;
    delete $("#app").dataset.view;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function fillClients(extra = []) {
    const select = $("#an-client");
    const ids = new Set([...document.querySelectorAll("#cards li.card[data-id]")].map((c) => c.dataset.id));
    for (const id of extra) ids.add(id);
    if (view.client) ids.add(view.client);
    const have = new Set([...select.options].map((o) => o.value));
    for (const id of [...ids].sort()) {
      if (!have.has(id)) select.append(el("option", { value: id }, id));
    }
  }

  async function load() {
    const seq = ++view.seq;
    const q = `days=${view.days}&bucket=${view.bucket}`;
    const path = view.client
      ? `/api/clients/${encodeURIComponent(view.client)}/stats?${q}`
      : `/api/stats?${q}`;
    const error = $("#an-error");
    try {
      const res = await fetch(path, {
        headers: { "X-Api-Key": sessionStorage.getItem(KEY_STORAGE) || "" },
        cache: "no-store",
      });
      const body = await res.json().catch(() => null);
      if (seq !== view.seq) return; // a newer load started
      if (!res.ok) {
        setText(error, `Cannot load the analytics: ${(body && body.detail) || res.statusText}`);
        return;
      }
      setText(error, "");
      view.data = body;
      render();
      view.loads += 1;
    } catch (err) {
      if (seq === view.seq) setText(error, "Cannot reach the wamc server.");
    }
  }

  function render() {
    const data = view.data;
    const tiles = $("#an-tiles");
    tiles.replaceChildren();
    for (const [key, label] of TILES) {
      const box = el("div", { class: `an-tile ${key}`, "data-k": key });
      box.append(el("dt", {}, label), el("dd", {}, fmtValue(key, data.totals[key])));
      tiles.append(box);
    }
    drawCharts();
    if (data.clients) {
      fillClients(data.clients.map((c) => c.client));
      const rows = data.clients.map((c) => {
        const tr = el("tr", { "data-client": c.client, tabindex: "0" });
        tr.append(el("th", { scope: "row" }, c.client));
        for (const k of ["messages_in", "messages_out", "send_failures", "restarts", "uptime_percent"]) {
          tr.append(el("td", { "data-k": k }, fmtValue(k, c[k])));
        }
        tr.addEventListener("keydown", (ev) => ev.key === "Enter" && setHash(c.client));
        return tr;
      });
      $("#an-clients tbody").replaceChildren(...rows);
    }
  }

  function drawCharts() {
    const d = view.data;
    const per = d.bucket === "day" ? "per day" : "per hour";
    const span = `last ${d.days} days`;
    plot($("#an-messages"), d, SERIES.messages, { kind: d.bucket === "day" ? "bars" : "lines",
      title: `Messages in and out ${per}, ${span}` });
    plot($("#an-trouble"), d, SERIES.trouble, { kind: "bars", height: 140,
      title: `Send failures and restarts ${per}, ${span}` });
    plot($("#an-uptime"), d, SERIES.uptime, { kind: d.bucket === "day" ? "bars" : "lines", height: 140,
      max: 100, title: `Uptime ${per}, ${span}` });
  }

  // ------------------------------------------------------------------------------ charts
  /** Draw ``series`` of ``data.buckets`` into ``host`` as one SVG (bars or lines). */
  function plot(host, data, series, opts) {
    const buckets = data.buckets;
    const W = Math.max(260, Math.floor(host.clientWidth || 600));
    const H = opts.height || 220;
    const m = { l: 38, r: 8, t: 10, b: 22 };
    const pw = W - m.l - m.r;
    const ph = H - m.t - m.b;
    let top = 0;
    for (const b of buckets) for (const s of series) top = Math.max(top, b[s.key] || 0);
    const yMax = opts.max || niceMax(top);
    const y = (v) => m.t + ph - (ph * Math.min(v, yMax)) / yMax;
    const band = pw / Math.max(1, buckets.length);
    const root = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "an-svg",
      "aria-label": `${opts.title}. Totals: ${series.map((s) => `${s.label} ${fmtValue(s.key, data.totals[s.key])}`).join(", ")}.`,
    });
    // grid and y labels
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: i ? "an-grid" : "an-axis" }));
      const label = svg("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end", class: "an-label" });
      label.textContent = fmtShort(v);
      root.append(label);
    }
    xLabels(root, buckets, data.bucket, m, band, H);
    if (opts.kind === "bars") bars(root, buckets, series, m, band, y);
    else lines(root, buckets, series, m, band, y);
    hits(root, buckets, series, data.bucket, m, band, ph);
    host.replaceChildren(root);
  }

  function xLabels(root, buckets, bucket, m, band, H) {
    const perLabel = Math.max(1, Math.ceil(64 / (bucket === "day" ? band : band * 24)));
    buckets.forEach((b, i) => {
      const t = new Date(b.start);
      const dayIndex = Math.floor(t.getTime() / 86400000);
      if (bucket === "hour" && t.getUTCHours() !== 0) return;
      if (dayIndex % perLabel !== 0) return;
      const x = m.l + i * band + (bucket === "day" ? band / 2 : 0);
      const label = svg("text", { x, y: H - 6, "text-anchor": "middle", class: "an-label" });
      label.textContent = DAY_FMT.format(t);
      root.append(label);
    });
  }

  function bars(root, buckets, series, m, band, y) {
    const pad = band > 6 ? band * 0.15 : 0;
    const w = Math.max(1.5, (band - 2 * pad) / series.length);
    buckets.forEach((b, i) => {
      series.forEach((s, j) => {
        const v = b[s.key];
        if (!v) return;
        root.append(svg("rect", {
          x: (m.l + i * band + pad + j * w).toFixed(2), y: y(v).toFixed(2),
          width: w.toFixed(2), height: Math.max(1, y(0) - y(v)).toFixed(2),
          class: `an-bar ${s.cls}`, "data-start": b.start, "data-k": s.key, "data-v": v,
        }));
      });
    });
  }

  function lines(root, buckets, series, m, band, y) {
    for (const s of series) {
      let d = "";
      let pen = false;
      buckets.forEach((b, i) => {
        const v = b[s.key];
        if (v == null) {
          pen = false;
          return;
        }
        d += `${pen ? "L" : "M"}${(m.l + (i + 0.5) * band).toFixed(1)} ${y(v).toFixed(1)}`;
        pen = true;
      });
      if (d) root.append(svg("path", { d, class: `an-line ${s.cls}` }));
    }
  }

  /** One transparent column per bucket: its tooltip (title) and its numbers for tests. */
  function hits(root, buckets, series, bucket, m, band, ph) {
    const group = svg("g", { class: "an-hits" });
    buckets.forEach((b, i) => {
      const r = svg("rect", {
        x: (m.l + i * band).toFixed(2), y: m.t, width: Math.max(band, 0.5).toFixed(2), height: ph,
        class: "an-hit", "data-start": b.start,
      });
      const title = svg("title");
      title.textContent = `${fmtBucket(b.start, bucket)}: ${series.map((s) => `${s.label} ${fmtValue(s.key, b[s.key])}`).join(", ")}`;
      r.append(title);
      group.append(r);
    });
    root.append(group);
  }

  // ------------------------------------------------------------------------------ wiring
  function init() {
    const button = $("#analytics-open");
    if (button) button.addEventListener("click", () => setHash(""));
    $("#cards").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-analytics]");
      if (b) setHash(b.closest(".card").dataset.id);
    });
    // Label each card's Stats button with its client (cards are created by app.js).
    new MutationObserver(() => {
      for (const b of document.querySelectorAll("#cards button[data-analytics]:not([aria-label])")) {
        b.setAttribute("aria-label", `Analytics of ${b.closest(".card").dataset.id}`);
      }
    }).observe($("#cards"), { childList: true });
    // Shown or hidden with the app (sign-in, sign-out): follow the hash then.
    new MutationObserver(route).observe($("#app"), { attributes: true, attributeFilter: ["hidden"] });
    window.addEventListener("popstate", route);
    window.addEventListener("hashchange", route);
    route();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
