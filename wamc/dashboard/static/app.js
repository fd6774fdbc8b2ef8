/* wamc admin dashboard. Plain JS, no dependencies.
 *
 * State comes from GET /api/clients once, then from the /ws event stream; each event updates the
 * one card it concerns in place (text and attributes only: cards are created once and never
 * re-rendered). Memory, CPU and uptime are refreshed by a light poll of /api/clients.
 * The API key lives in sessionStorage (this tab only) and goes out as X-Api-Key. The WebSocket,
 * which cannot carry headers from a browser, opens with a single-use ticket from
 * POST /api/stream-tickets (?ticket=): the key never appears in a URL. What the client owner's
 * portal needs too (the API call, the stream, the QR, the forms, the helpers) is in common.js.
 * The cluster's nodes and each client's node (WAMC_BACKEND=ray) are in nodes.js.
 */
import {
  $,
  $$,
  LiveStream,
  MessageList,
  QrImage,
  STATE_LABELS as LABELS,
  apiClient,
  closeDialog,
  confirmDialog,
  fmtAgo,
  fmtDuration,
  onReady,
  phone,
  renderStatus,
  requestPairingCode,
  sendTestMessage,
  setAttr,
  setHidden,
  setText,
  showSignInForm,
  statePatch,
  toast,
  uptimeNow,
  wireConfirmDialog,
} from "./common.js";
import { NodesPanel } from "./nodes.js";

(() => {
  "use strict";

  const KEY_STORAGE = "wamc.apiKey";
  const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
  const ID_HELP =
    "Client ids are 1–64 characters: letters, digits, '_' and '-', starting with a letter or digit.";
  const STATE_ORDER = ["failed", "disconnected", "qr", "starting", "connected", "stopped"];
  const POLL_MS = 5000;
  const app = {
    key: null,
    clients: new Map(), // id -> {data, el, refs, fetchedAt, busy}
    live: null, // LiveStream while signed in
    filter: { q: "", state: "" },
    sort: "id",
    qrFor: null,
    qr: new QrImage(),
    detailFor: null,
    refreshTimers: new Map(),
    // Counters read by the browser tests and bench/bench_dashboard.py.
    stats: {
      events: 0,
      cardsCreated: 0,
      cardsRemoved: 0,
      reorders: 0,
      resyncs: 0,
      loadMs: null,
      readyAt: null,
      lastEventAt: null,
    },
  };
  window.wamcDashboard = app.stats;

  // ---------------------------------------------------------------------------------- helpers
  function fmtBytes(n) {
    if (n == null) return "—";
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
    if (n < 1024 * 1024 * 1024) return `${Math.round(n / (1024 * 1024))} MB`;
    return `${(n / (1024 * 1024 * 1024)).toFixed(2)} GB`;
  }

  const api = apiClient({
    key: () => app.key,
    unreachable: "Cannot reach the wamc server.",
    onUnauthorized: () =>
      signOut("The server no longer accepts this API key (401 Unauthorized). Sign in again."),
  });
  const messages = new MessageList("#detail-messages", "#detail-messages-empty");
  const nodes = new NodesPanel({
    api,
    onMoved: (status) => {
      if (!status || !app.clients.has(status.id)) return;
      upsert(status);
      updateTotals();
      scheduleRefresh(status.id, 800);
    },
  });

  // ---------------------------------------------------------------------------------- sign-in
  function showSignIn(message) {
    showSignInForm("#signin-key", message);
  }

  async function trySignIn(key) {
    try {
      const body = await api("GET", "/api/clients", undefined, { key });
      return { ok: true, body };
    } catch (err) {
      if (err.status === 401) {
        return {
          ok: false,
          message:
            "Wrong API key: the server refused it (401 Unauthorized). " +
            "Run `wamc api-key` on the server to print the right one.",
        };
      }
      return { ok: false, message: err.message || "Sign-in failed." };
    }
  }

  async function onSignIn(ev) {
    ev.preventDefault();
    const input = $("#signin-key");
    const key = input.value.trim();
    if (!key) {
      showSignIn("Enter the API key.");
      return;
    }
    const button = $("#signin-form button[type=submit]");
    button.disabled = true;
    setText($("#signin-error"), "");
    const result = await trySignIn(key);
    button.disabled = false;
    if (!result.ok) {
      showSignIn(result.message);
      return;
    }
    input.value = "";
    sessionStorage.setItem(KEY_STORAGE, key);
    start(key, result.body);
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    app.key = null;
    stopLive();
    for (const id of Array.from(app.clients.keys())) removeCard(id, true);
    closeDialog("#qr-dialog");
    closeDialog("#detail-dialog");
    closeDialog("#confirm-dialog");
    closeDialog("#move-dialog");
    nodes.reset();
    showSignIn(message || "");
  }

  function stopLive() {
    if (app.live) app.live.stop();
    app.live = null;
  }

  // ---------------------------------------------------------------------------------- start
  function start(key, listing) {
    const t0 = performance.now();
    app.key = key;
    $("#signin").hidden = true;
    $("#app").hidden = false;
    applyListing(listing.clients || [], true);
    app.stats.loadMs = Math.round(performance.now() - t0); // rendering the listing
    app.stats.readyAt = Math.round(performance.now()); // since navigation start
    document.documentElement.dataset.ready = "1";
    nodes.refresh();
    app.live = new LiveStream({
      api,
      signedIn: () => !!app.key,
      probe: "/api/clients?probe=1",
      onEvent,
      onReopen: resync,
      poll,
      pollMs: POLL_MS,
      tick,
    });
    app.live.start();
  }

  function applyListing(list, initial) {
    const seen = new Set();
    const now = performance.now();
    for (const data of list) {
      seen.add(data.id);
      upsert(data, now);
    }
    if (!initial) {
      for (const id of Array.from(app.clients.keys())) if (!seen.has(id)) removeCard(id);
    }
    reorder();
    updateTotals();
  }

  async function poll() {
    if (document.hidden) return;
    try {
      const body = await api("GET", "/api/clients");
      applyListing(body.clients || [], false);
    } catch (err) {
      /* the WebSocket state shows connectivity; a 401 signs out in api() */
    }
    nodes.poll();
  }

  async function resync() {
    app.stats.resyncs += 1;
    nodes.refresh();
    const body = await api("GET", "/api/clients");
    applyListing(body.clients || [], false);
    if (app.qrFor) loadQr();
  }

  // ---------------------------------------------------------------------------------- cards
  function upsert(data, now = performance.now()) {
    let entry = app.clients.get(data.id);
    if (!entry) {
      entry = createCard(data.id);
      entry.data = data;
      app.clients.set(data.id, entry);
      entry.fetchedAt = now;
      updateCard(entry);
      insertCard(entry);
      return entry;
    }
    entry.data = { ...entry.data, ...data };
    entry.fetchedAt = now;
    updateCard(entry);
    return entry;
  }

  function createCard(id) {
    const el = $("#card-tpl").content.firstElementChild.cloneNode(true);
    el.dataset.id = id;
    el.id = `client-${id}`;
    const refs = {
      id: $(".cid", el),
      badge: $(".badge", el),
      progress: $(".progress", el),
      error: $(".error", el),
      errorRow: $("[data-row=error]", el),
      f: {},
      act: {},
    };
    for (const dd of $$("[data-f]", el)) refs.f[dd.dataset.f] = dd;
    for (const b of $$("[data-act]", el)) {
      refs.act[b.dataset.act] = b;
      b.setAttribute("aria-label", `${b.textContent} ${id}`);
    }
    setText(refs.id, id);
    el.setAttribute("aria-labelledby", `client-${id}-title`);
    refs.id.id = `client-${id}-title`;
    app.stats.cardsCreated += 1;
    return { el, refs, data: null, busy: false, fetchedAt: 0 };
  }

  function uptimeOf(entry) {
    return uptimeNow(entry.data, entry.fetchedAt);
  }

  function updateCard(entry) {
    const d = entry.data;
    const r = entry.refs;
    const state = renderStatus(r.badge, LABELS, r.f, r.errorRow, d, uptimeOf(entry));
    setAttr(entry.el, "data-state", state);
    setText(r.f.memory, fmtBytes(d.memory_bytes));
    setText(r.f.cpu, d.cpu_percent == null ? "—" : `${Number(d.cpu_percent).toFixed(1)}%`);
    setAttr(r.f.last_message, "title", d.last_message_at || "");
    nodes.decorate(entry);
    const down = state === "stopped" || state === "failed";
    setHidden(r.act.qr, state !== "qr");
    setHidden(r.act.connect, !down);
    setHidden(r.act.disconnect, down);
    if (!entry.busy) {
      r.act.connect.disabled = false;
      r.act.disconnect.disabled = false;
      r.act.restart.disabled = false;
      r.act.logout.disabled = !(state === "connected" || state === "disconnected");
      r.act.delete.disabled = false;
      r.act.details.disabled = false;
      r.act.qr.disabled = false;
      r.act.move.disabled = false;
    }
    setHidden(entry.el, !matches(entry));
  }

  function matches(entry) {
    const d = entry.data;
    if (app.filter.state && d.state !== app.filter.state) return false;
    const q = app.filter.q;
    if (q) {
      const hay = `${d.id} ${d.me || ""} ${phone(d.me)} ${LABELS[d.state] || ""}`.toLowerCase();
      if (!hay.includes(q)) return false;
    }
    return true;
  }

  function sortKey(entry) {
    const d = entry.data;
    switch (app.sort) {
      case "state":
        return [STATE_ORDER.indexOf(d.state), d.id];
      case "uptime":
        return [-(uptimeOf(entry) ?? -1), d.id];
      case "memory":
        return [-(d.memory_bytes ?? -1), d.id];
      case "last_message":
        return [-(Date.parse(d.last_message_at || "") || 0), d.id];
      case "restarts":
        return [-(d.restarts || 0), d.id];
      default:
        return [d.id];
    }
  }
  function compare(a, b) {
    const ka = sortKey(a);
    const kb = sortKey(b);
    for (let i = 0; i < ka.length; i += 1) {
      if (ka[i] < kb[i]) return -1;
      if (ka[i] > kb[i]) return 1;
    }
    return 0;
  }

  function insertCard(entry) {
    const list = $("#cards");
    let before = null;
    for (const child of list.children) {
      const other = app.clients.get(child.dataset.id);
      if (other && compare(entry, other) < 0) {
        before = child;
        break;
      }
    }
    list.insertBefore(entry.el, before);
    updateEmpty();
  }

  /** Move only the cards that are out of place (no re-render; usually nothing moves). */
  function reorder() {
    const list = $("#cards");
    const wanted = Array.from(app.clients.values()).sort(compare);
    let node = list.firstElementChild;
    let moved = false;
    for (const entry of wanted) {
      if (node === entry.el) {
        node = node.nextElementSibling;
      } else {
        list.insertBefore(entry.el, node);
        moved = true;
      }
    }
    if (moved) app.stats.reorders += 1;
    updateEmpty();
  }

  function removeCard(id, quiet) {
    const entry = app.clients.get(id);
    if (!entry) return;
    entry.el.remove();
    app.clients.delete(id);
    app.stats.cardsRemoved += 1;
    if (!quiet) {
      if (app.qrFor === id) closeDialog("#qr-dialog");
      if (app.detailFor === id) closeDialog("#detail-dialog");
      updateTotals();
      updateEmpty();
    }
  }

  function updateEmpty() {
    const any = Array.from(app.clients.values()).some((e) => !e.el.hidden);
    setHidden($("#empty"), any);
    setText($("#empty"), app.clients.size ? "No clients match." : "No clients yet: create one above.");
  }

  function updateTotals() {
    const counts = { all: 0, connected: 0, qr: 0, disconnected: 0, failed: 0 };
    for (const { data } of app.clients.values()) {
      counts.all += 1;
      if (data.state in counts) counts[data.state] += 1;
    }
    for (const el of $$("[data-total]")) setText(el, counts[el.dataset.total]);
    updateEmpty();
  }

  function applyFilter() {
    for (const entry of app.clients.values()) setHidden(entry.el, !matches(entry));
    for (const b of $$(".total")) setAttr(b, "aria-pressed", b.dataset.filter === app.filter.state);
    updateEmpty();
  }

  function tick() {
    for (const entry of app.clients.values()) {
      setText(entry.refs.f.uptime, fmtDuration(uptimeOf(entry)));
      setText(entry.refs.f.last_message, fmtAgo(entry.data.last_message_at));
    }
  }

  /** Fetch one client's full status shortly after an event (restarts, pid, uptime, error). */
  function scheduleRefresh(id, delay = 300) {
    clearTimeout(app.refreshTimers.get(id));
    app.refreshTimers.set(
      id,
      setTimeout(async () => {
        app.refreshTimers.delete(id);
        try {
          const data = await api("GET", `/api/clients/${encodeURIComponent(id)}/status`);
          if (app.clients.has(id) || data.state) {
            upsert(data);
            updateTotals();
            if (app.sort !== "id") reorder();
          }
        } catch (err) {
          if (err.code === "client_not_found") removeCard(id);
        }
      }, delay),
    );
  }

  // ---------------------------------------------------------------------------------- controls
  const ACTIONS = {
    connect: { method: "POST", path: "connect", busy: "Connecting…", done: "Start requested" },
    disconnect: { method: "POST", path: "disconnect", busy: "Disconnecting…", done: "Stop requested" },
    restart: { method: "POST", path: "restart", busy: "Restarting…", done: "Restart requested" },
    logout: { method: "POST", path: "logout", busy: "Logging out…", done: "Logged out" },
    delete: { method: "DELETE", path: "", busy: "Deleting…", done: "Deleted" },
  };

  function setBusy(entry, busy, text) {
    entry.busy = busy;
    setAttr(entry.el, "aria-busy", busy);
    for (const b of Object.values(entry.refs.act)) if (busy) b.disabled = true;
    if (text !== undefined) setText(entry.refs.progress, text);
    if (!busy) updateCard(entry);
  }

  async function runAction(id, act) {
    const entry = app.clients.get(id);
    if (!entry) return;
    if (act === "qr") return openQr(id);
    if (act === "details") return openDetail(id);
    if (act === "move") return nodes.openMove(id, entry.data.node);
    if (act === "delete") {
      const ok = await confirmDialog(
        `Delete client “${id}”? Its worker stops and its WhatsApp session, messages and events ` +
          "are erased. This cannot be undone.",
      );
      if (!ok) return;
    }
    const spec = ACTIONS[act];
    setText(entry.refs.error, "");
    setBusy(entry, true, spec.busy);
    const base = `/api/clients/${encodeURIComponent(id)}`;
    try {
      const body = await api(spec.method, spec.path ? `${base}/${spec.path}` : base);
      if (act === "delete") {
        removeCard(id);
        toast(`Deleted ${id}`);
        return;
      }
      if (body && body.id) upsert(body);
      setBusy(entry, false, spec.done);
      clearProgressLater(entry, spec.done);
      scheduleRefresh(id, 800);
    } catch (err) {
      setBusy(entry, false, "");
      setText(entry.refs.error, `${spec.busy.replace("…", "")} failed: ${err.message}`);
    }
    updateTotals();
  }

  function clearProgressLater(entry, text) {
    setTimeout(() => {
      if (entry.refs.progress.textContent === text) setText(entry.refs.progress, "");
    }, 4000);
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const input = $("#create-id");
    const err = $("#create-error");
    const id = input.value.trim();
    if (!ID_RE.test(id)) {
      input.setAttribute("aria-invalid", "true");
      setText(err, id ? ID_HELP : "Enter a client id.");
      input.focus();
      return;
    }
    input.setAttribute("aria-invalid", "false");
    setText(err, "");
    const button = $("#create-form button[type=submit]");
    button.disabled = true;
    try {
      const body = await api("POST", `/api/clients/${encodeURIComponent(id)}/connect`);
      upsert(body);
      reorder();
      updateTotals();
      if (input.value.trim() === id) input.value = ""; // keep what was typed meanwhile
      toast(body.created ? `Created ${id}: starting` : `${id} already existed: started`);
      scheduleRefresh(id, 800);
    } catch (e) {
      input.setAttribute("aria-invalid", "true");
      setText(err, e.message);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------- dialogs
  function openQr(id) {
    app.qrFor = id;
    setText($("#qr-title"), `Scan to link “${id}”`);
    const img = $("#qr-img");
    img.hidden = true;
    img.alt = `QR code to link ${id}`;
    setText($("#qr-status"), "Loading…");
    setText($("#pair-result"), "");
    $("#qr-dialog").showModal();
    loadQr();
  }

  function loadQr() {
    const id = app.qrFor;
    if (!id) return;
    app.qr.load(api, `/api/clients/${encodeURIComponent(id)}/qr`, {
      wanted: () => app.qrFor === id,
      noQr: () => {
        const entry = app.clients.get(id);
        const state = entry ? LABELS[entry.data.state] : "unknown";
        return `No QR code right now (${state}). It appears here when ready.`;
      },
    });
  }

  function onQrClosed() {
    app.qrFor = null;
    app.qr.clear();
  }

  function onPair(ev) {
    ev.preventDefault();
    const path = `/api/clients/${encodeURIComponent(app.qrFor)}/pairing-code`;
    requestPairingCode(api, path, "Enter the phone number with country code.");
  }

  async function openDetail(id) {
    app.detailFor = id;
    $("#detail-dialog").dataset.client = id; // read by invite.js (the owner's portal link)
    setText($("#detail-title"), `Client “${id}”`);
    setText($("#send-result"), "");
    $("#detail-messages").replaceChildren();
    setText($("#detail-logs"), "Loading…");
    $("#detail-dialog").showModal();
    loadMessages(id);
    loadLogs(id);
  }

  function loadMessages(id) {
    const path = `/api/clients/${encodeURIComponent(id)}/messages/recent?limit=30`;
    return messages.load(api, path, () => app.detailFor === id);
  }

  async function loadLogs(id) {
    const pre = $("#detail-logs");
    try {
      const body = await api("GET", `/api/clients/${encodeURIComponent(id)}/logs?lines=200`);
      if (app.detailFor !== id) return;
      setText(pre, body.lines.length ? body.lines.join("\n") : "(the log is empty)");
      pre.scrollTop = pre.scrollHeight;
    } catch (err) {
      setText(pre, err.message);
    }
  }

  function onSend(ev) {
    ev.preventDefault();
    sendTestMessage(api, `/api/clients/${encodeURIComponent(app.detailFor)}/send-message`);
  }

  // ---------------------------------------------------------------------------------- events
  function onEvent(ev) {
    try {
      applyEvent(ev);
    } finally {
      app.stats.events += 1;
      app.stats.lastEventAt = Date.now();
    }
  }

  function applyEvent(ev) {
    const id = ev.client;
    const d = ev.data || {};
    if (ev.event === "daemon.started") {
      resync().catch(() => {});
      return;
    }
    if (!id) return;
    if (ev.event === "client.deleted") {
      removeCard(id);
      nodes.soon();
      return;
    }
    let entry = app.clients.get(id);
    if (!entry) {
      if (ev.event === "client.state" || ev.event === "client.qr") scheduleRefresh(id, 0);
      return;
    }
    switch (ev.event) {
      case "client.state": {
        nodes.soon(); // it may have taken or left a node's slot
        entry.data = { ...entry.data, ...statePatch(ev) };
        updateCard(entry);
        updateTotals();
        if (app.sort === "state") reorder();
        if (app.qrFor === id) {
          if (d.state === "connected") {
            closeDialog("#qr-dialog");
            toast(`${id} connected as ${phone(d.me)}`);
          } else if (d.state !== "qr") {
            loadQr();
          }
        }
        scheduleRefresh(id);
        break;
      }
      case "client.qr":
        if (entry.data.state !== "qr") {
          entry.data = { ...entry.data, state: "qr" };
          updateCard(entry);
          updateTotals();
        }
        if (app.qrFor === id) loadQr();
        break;
      case "message": {
        const ts = d.timestamp || ev.timestamp;
        if (!entry.data.last_message_at || ts > entry.data.last_message_at) {
          entry.data = { ...entry.data, last_message_at: ts };
          updateCard(entry);
          if (app.sort === "last_message") reorder();
        }
        if (app.detailFor === id) messages.add(d);
        break;
      }
      case "message.ack":
        if (app.detailFor === id) messages.ack(d);
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------------------------- wiring
  function init() {
    $("#signin-form").addEventListener("submit", onSignIn);
    $("#signout").addEventListener("click", () => signOut("Signed out."));
    $("#create-form").addEventListener("submit", onCreate);
    $("#create-id").addEventListener("input", (ev) => {
      const v = ev.target.value.trim();
      const bad = v !== "" && !ID_RE.test(v);
      ev.target.setAttribute("aria-invalid", bad ? "true" : "false");
      setText($("#create-error"), bad ? ID_HELP : "");
    });
    $("#search").addEventListener("input", (ev) => {
      app.filter.q = ev.target.value.trim().toLowerCase();
      applyFilter();
    });
    $("#state-filter").addEventListener("change", (ev) => {
      app.filter.state = ev.target.value;
      applyFilter();
    });
    $("#sort").addEventListener("change", (ev) => {
      app.sort = ev.target.value;
      reorder();
    });
    for (const b of $$(".total")) {
      b.addEventListener("click", () => {
        app.filter.state = b.dataset.filter;
        $("#state-filter").value = app.filter.state;
        applyFilter();
      });
    }
    $("#cards").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-act]");
      if (!button || button.disabled) return;
      const card = button.closest(".card");
      runAction(card.dataset.id, button.dataset.act);
    });
    $("#banner-retry").addEventListener("click", () => app.live && app.live.retryNow());
    wireConfirmDialog();
    nodes.wire();
    $("#qr-dialog").addEventListener("close", onQrClosed);
    $("#detail-dialog").addEventListener("close", () => {
      app.detailFor = null;
    });
    $("#pair-form").addEventListener("submit", onPair);
    $("#send-form").addEventListener("submit", onSend);
    $("#logs-refresh").addEventListener("click", () => app.detailFor && loadLogs(app.detailFor));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && app.key) poll();
    });

    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (!saved) {
      showSignIn("");
      return;
    }
    trySignIn(saved).then((result) => {
      if (result.ok) start(saved, result.body);
      else {
        sessionStorage.removeItem(KEY_STORAGE);
        showSignIn(result.message);
      }
    });
  }

  onReady(init);
})();
