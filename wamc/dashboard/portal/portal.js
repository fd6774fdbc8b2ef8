/* wamc client portal: one client's owner sees and runs only that client. Plain JS, no deps.
 *
 * Sign-in: the invite link carries the client token in the URL fragment (#token=…), which the
 * browser never sends to the server. This page moves it to sessionStorage (this tab only),
 * removes it from the address bar (history.replaceState) and sends it as X-Api-Key. GET
 * /api/whoami tells the token's client and scopes: the page shows only what the token may do, so
 * it makes no call the server would refuse. State is live from /ws (a single-use ticket from
 * POST /api/stream-tickets; a client token's stream carries only its own client).
 */
(() => {
  "use strict";

  const TOKEN_STORAGE = "wamc.portalToken";
  const LABELS = {
    stopped: "Stopped",
    starting: "Starting",
    qr: "Waiting for the phone",
    connected: "Connected",
    disconnected: "Disconnected",
    failed: "Failed",
  };
  const ACK = { "-1": "failed", 0: "🕓", 1: "✓", 2: "✓✓", 3: "✓✓ read", 4: "✓✓ played" };
  const POLL_MS = 15000;
  const GONE =
    "This link is no longer valid (it expired or was revoked). Ask your administrator for a new one.";

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  const app = {
    token: null,
    me: null, // GET /api/whoami
    client: null, // the status of the token's client
    fetchedAt: 0,
    ws: null,
    wsAttempt: 0,
    wsTimer: null,
    pollTimer: null,
    tickTimer: null,
    qrSeq: 0,
    qrUrl: null,
    stats: { events: 0 },
  };
  window.wamcPortal = app.stats;

  // ---------------------------------------------------------------------------------- helpers
  function setText(el, text) {
    const value = text == null ? "" : String(text);
    if (el.textContent !== value) el.textContent = value;
  }
  function fmtDuration(s) {
    if (s == null) return "—";
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const p2 = (x) => String(x).padStart(2, "0");
    if (d) return `${d}d ${p2(h)}h`;
    if (h) return `${h}h ${p2(m)}m`;
    if (m) return `${m}m ${p2(s % 60)}s`;
    return `${s % 60}s`;
  }
  function fmtAgo(iso) {
    const t = Date.parse(iso || "");
    if (Number.isNaN(t)) return "—";
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 10) return "just now";
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return new Date(t).toLocaleDateString();
  }
  function phone(me) {
    if (!me) return "—";
    const user = String(me).split("@")[0];
    return /^\d+$/.test(user) ? `+${user}` : user;
  }
  function can(scope) {
    return !!app.me && app.me.scopes.includes(scope);
  }
  function clientPath(suffix = "") {
    return `/api/clients/${encodeURIComponent(app.me.client)}${suffix}`;
  }
  let toastTimer = null;
  function toast(text) {
    const el = $("#toast");
    setText(el, text);
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (el.hidden = true), 3500);
  }

  class ApiFailure extends Error {
    constructor(status, problem, message) {
      super(message);
      this.status = status;
      this.code = (problem && problem.code) || null;
    }
  }

  async function api(method, path, body, opts = {}) {
    const headers = { "X-Api-Key": opts.token || app.token };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new ApiFailure(0, null, "Cannot reach the server.");
    }
    if (res.ok) {
      if (opts.raw || res.status === 204) return res;
      return res.json();
    }
    let problem = null;
    try {
      problem = await res.json();
    } catch (err) {
      problem = null;
    }
    const detail = (problem && (problem.detail || problem.title)) || res.statusText;
    if (res.status === 401 && !opts.token) signOut(GONE);
    throw new ApiFailure(res.status, problem, detail);
  }

  // ---------------------------------------------------------------------------------- sign-in
  /** The token from an invite link's fragment, kept in this tab and wiped from the URL. */
  function takeTokenFromFragment() {
    if (!location.hash) return;
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    history.replaceState(null, "", location.pathname + location.search);
    if (token) sessionStorage.setItem(TOKEN_STORAGE, token);
  }

  function showSignIn(message) {
    $("#app").hidden = true;
    $("#signin").hidden = false;
    setText($("#signin-error"), message || "");
    $("#signin-token").setAttribute("aria-invalid", message ? "true" : "false");
    $("#signin-token").focus();
  }

  async function trySignIn(token) {
    try {
      const me = await api("GET", "/api/whoami", undefined, { token });
      if (me.admin || !me.client) {
        return {
          ok: false,
          message: "This page is for one client's access token; the admin dashboard is at /admin.",
        };
      }
      const status = await api(
        "GET",
        `/api/clients/${encodeURIComponent(me.client)}/status`,
        undefined,
        { token },
      );
      return { ok: true, me, status };
    } catch (err) {
      return { ok: false, message: err.status === 401 ? GONE : err.message };
    }
  }

  async function signIn(token) {
    const button = $("#signin-form button[type=submit]");
    button.disabled = true;
    const result = await trySignIn(token);
    button.disabled = false;
    if (!result.ok) {
      sessionStorage.removeItem(TOKEN_STORAGE);
      showSignIn(result.message);
      return;
    }
    sessionStorage.setItem(TOKEN_STORAGE, token);
    start(token, result.me, result.status);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_STORAGE);
    app.token = null;
    app.me = null;
    stopLive();
    showSignIn(message || "");
  }

  function stopLive() {
    clearInterval(app.pollTimer);
    clearInterval(app.tickTimer);
    clearTimeout(app.wsTimer);
    app.pollTimer = app.tickTimer = app.wsTimer = null;
    if (app.ws) {
      const ws = app.ws;
      app.ws = null;
      ws.onclose = null;
      ws.close();
    }
    hideQr();
  }

  function start(token, me, status) {
    app.token = token;
    app.me = me;
    $("#signin").hidden = true;
    $("#app").hidden = false;
    setText($("#client-id"), me.client);
    document.title = `${me.client} · my WhatsApp`;
    for (const el of $$("[data-needs]")) el.hidden = !can(el.dataset.needs);
    setText(
      $("#expiry"),
      me.expires_at ? `This access link is valid until ${new Date(me.expires_at).toLocaleString()}.` : "",
    );
    applyStatus(status);
    loadMessages();
    if (can("webhooks")) loadHooks();
    connectWs();
    app.pollTimer = setInterval(poll, POLL_MS);
    app.tickTimer = setInterval(tick, 1000);
    document.documentElement.dataset.ready = "1";
  }

  // ---------------------------------------------------------------------------------- state
  function applyStatus(status) {
    app.client = { ...(app.client || {}), ...status };
    app.fetchedAt = performance.now();
    render();
  }

  function uptime() {
    const d = app.client;
    if (!d || d.uptime_seconds == null || !d.pid) return null;
    return d.uptime_seconds + (performance.now() - app.fetchedAt) / 1000;
  }

  function render() {
    const d = app.client;
    const state = d.state || "stopped";
    const badge = $("#state");
    badge.dataset.state = state;
    setText(badge, LABELS[state] || state);
    setText($('[data-f="me"]'), state === "connected" ? phone(d.me) : "—");
    setText($('[data-f="uptime"]'), fmtDuration(uptime()));
    setText($('[data-f="restarts"]'), d.restarts ?? 0);
    setText($('[data-f="last_message"]'), fmtAgo(d.last_message_at));
    setText($('[data-f="error"]'), d.last_error || "");
    $('[data-row="error"]').hidden = !d.last_error;
    const down = state === "stopped" || state === "failed";
    $('[data-act="connect"]').hidden = !down;
    $('[data-act="restart"]').hidden = down;
    $('[data-act="logout"]').disabled = !(state === "connected" || state === "disconnected");
    const linking = state === "qr";
    if (linking && $("#link").hidden) {
      $("#link").hidden = false;
      loadQr();
    } else if (!linking && !$("#link").hidden) {
      hideQr();
    }
  }

  function tick() {
    if (app.client) setText($('[data-f="uptime"]'), fmtDuration(uptime()));
  }

  async function poll() {
    if (document.hidden || !app.token) return;
    try {
      applyStatus(await api("GET", clientPath("/status")));
    } catch (err) {
      /* the connection state shows it; a 401 signs out in api() */
    }
  }

  async function runAction(act) {
    if (act === "logout") {
      const ok = await confirmDialog(
        "Log this WhatsApp out? The phone unlinks this device; you will need to link it again.",
        "Log out",
      );
      if (!ok) return;
    }
    const buttons = $$("[data-act]");
    for (const b of buttons) b.disabled = true;
    setText($("#state-error"), "");
    setText($("#state-progress"), { connect: "Starting…", restart: "Restarting…", logout: "Logging out…" }[act]);
    try {
      applyStatus(await api("POST", clientPath(`/${act}`)));
      setText($("#state-progress"), "");
    } catch (err) {
      setText($("#state-progress"), "");
      setText($("#state-error"), err.message);
    } finally {
      for (const b of buttons) b.disabled = false;
      render();
    }
  }

  // ---------------------------------------------------------------------------------- linking
  async function loadQr() {
    const seq = ++app.qrSeq;
    const img = $("#qr-img");
    try {
      const res = await api("GET", clientPath("/qr"), undefined, { raw: true });
      const blob = await res.blob();
      if (seq !== app.qrSeq || $("#link").hidden) return;
      const url = URL.createObjectURL(blob);
      img.onload = () => {
        if (app.qrUrl && app.qrUrl !== url) URL.revokeObjectURL(app.qrUrl);
        app.qrUrl = url;
        img.hidden = false;
        img.dataset.version = String(seq);
        setText($("#qr-status"), `Updated ${new Date().toLocaleTimeString()}`);
      };
      img.src = url;
    } catch (err) {
      if (seq !== app.qrSeq) return;
      img.hidden = true;
      setText($("#qr-status"), err.code === "no_qr" ? "Waiting for a code…" : err.message);
    }
  }

  function hideQr() {
    app.qrSeq += 1;
    $("#link").hidden = true;
    const img = $("#qr-img");
    img.hidden = true;
    img.removeAttribute("src");
    delete img.dataset.version;
    if (app.qrUrl) URL.revokeObjectURL(app.qrUrl);
    app.qrUrl = null;
    setText($("#qr-status"), "Waiting for a code…");
    setText($("#pair-result"), "");
  }

  async function onPair(ev) {
    ev.preventDefault();
    const number = $("#pair-phone").value.replace(/[\s().-]/g, "");
    const out = $("#pair-result");
    if (!/^\+?\d{6,20}$/.test(number)) {
      setText(out, "Enter the phone number with its country code.");
      return;
    }
    setText(out, "Requesting…");
    try {
      const body = await api("POST", clientPath("/pairing-code"), { phone: number });
      setText(out, body.code);
    } catch (err) {
      setText(out, err.message);
    }
  }

  // ---------------------------------------------------------------------------------- messages
  async function loadMessages() {
    try {
      const body = await api("GET", clientPath("/messages/recent?limit=30"));
      $("#messages").replaceChildren(...body.messages.map(messageItem));
      $("#messages-empty").hidden = body.messages.length > 0;
    } catch (err) {
      $("#messages-empty").hidden = false;
      setText($("#messages-empty"), err.message);
    }
  }

  function messageItem(m) {
    const li = document.createElement("li");
    li.dataset.msg = m.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const dir = document.createElement("span");
    dir.textContent = m.from_me ? `→ ${phone(m.to || m.chat_id)}` : `← ${phone(m.from || m.chat_id)}`;
    const time = document.createElement("time");
    time.dateTime = m.timestamp || "";
    const t = Date.parse(m.timestamp || "");
    time.textContent = Number.isNaN(t) ? "" : new Date(t).toLocaleTimeString();
    const ack = document.createElement("span");
    ack.className = "ack";
    ack.textContent = m.from_me ? ACK[m.ack] ?? "" : "";
    meta.append(dir, time, ack);
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = m.type === "chat" || !m.type ? m.body : `[${m.type}] ${m.body || ""}`;
    li.append(meta, body);
    return li;
  }

  function addMessage(m) {
    const list = $("#messages");
    if (list.querySelector(`[data-msg="${CSS.escape(m.id)}"]`)) return;
    list.prepend(messageItem(m));
    while (list.children.length > 50) list.lastElementChild.remove();
    $("#messages-empty").hidden = true;
  }

  async function onSend(ev) {
    ev.preventDefault();
    const to = $("#send-to").value.trim();
    const text = $("#send-text").value;
    const out = $("#send-result");
    if (!to || !text.trim()) {
      setText(out, "Enter a recipient and a text.");
      return;
    }
    const button = $("#send-form button[type=submit]");
    button.disabled = true;
    setText(out, "Sending…");
    try {
      const body = await api("POST", clientPath("/send-message"), { to, text });
      setText(out, `Sent to ${phone(body.to)} (id ${body.id}).`);
      $("#send-text").value = "";
    } catch (err) {
      setText(out, `Not sent: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------- webhooks
  async function loadHooks() {
    try {
      const body = await api("GET", clientPath("/webhooks"));
      $("#hook-list").replaceChildren(...body.webhooks.map(hookItem));
      $("#hooks-empty").hidden = body.webhooks.length > 0;
    } catch (err) {
      setText($("#hook-error"), err.message);
    }
  }

  function hookItem(h) {
    const li = document.createElement("li");
    li.dataset.hook = h.id;
    const info = document.createElement("div");
    info.className = "hook-info";
    const url = document.createElement("span");
    url.className = "hook-url";
    url.textContent = h.url;
    const meta = document.createElement("span");
    meta.className = "hook-meta";
    const s = h.stats || {};
    const events = h.events ? h.events.join(", ") : "all events";
    meta.textContent = `${events} · ${s.delivered ?? 0} delivered · ${s.pending ?? 0} pending · ${s.dead ?? 0} failed`;
    info.append(url, meta);
    const del = document.createElement("button");
    del.type = "button";
    del.className = "danger small";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete webhook ${h.url}`);
    del.addEventListener("click", () => deleteHook(h));
    li.append(info, del);
    return li;
  }

  async function onAddHook(ev) {
    ev.preventDefault();
    const url = $("#hook-url").value.trim();
    const raw = $("#hook-events").value.trim();
    const err = $("#hook-error");
    setText(err, "");
    $("#hook-secret").hidden = true;
    if (!/^https?:\/\/\S+$/i.test(url)) {
      setText(err, "Enter an http:// or https:// URL.");
      $("#hook-url").setAttribute("aria-invalid", "true");
      return;
    }
    $("#hook-url").setAttribute("aria-invalid", "false");
    const body = { url };
    if (raw) body.events = raw.split(/[\s,]+/).filter(Boolean);
    const button = $("#hook-form button[type=submit]");
    button.disabled = true;
    try {
      const hook = await api("POST", clientPath("/webhooks"), body);
      setText($("#hook-secret-value"), hook.secret);
      $("#hook-secret").hidden = false;
      $("#hook-url").value = "";
      $("#hook-events").value = "";
      toast("Webhook added");
      await loadHooks();
    } catch (e) {
      setText(err, e.message);
    } finally {
      button.disabled = false;
    }
  }

  async function deleteHook(h) {
    if (!(await confirmDialog(`Delete the webhook to ${h.url}? Pending deliveries are dropped.`, "Delete"))) {
      return;
    }
    try {
      await api("DELETE", clientPath(`/webhooks/${encodeURIComponent(h.id)}`));
      $("#hook-secret").hidden = true;
      toast("Webhook deleted");
      await loadHooks();
    } catch (err) {
      setText($("#hook-error"), err.message);
    }
  }

  // ---------------------------------------------------------------------------------- confirm
  let confirmResolve = null;
  function confirmDialog(text, okLabel) {
    setText($("#confirm-text"), text);
    setText($("#confirm-ok"), okLabel);
    $("#confirm-dialog").showModal();
    $("#confirm-cancel").focus();
    return new Promise((resolve) => {
      confirmResolve = resolve;
    });
  }
  function finishConfirm(value) {
    const resolve = confirmResolve;
    confirmResolve = null;
    if ($("#confirm-dialog").open) $("#confirm-dialog").close();
    if (resolve) resolve(value);
  }

  // ---------------------------------------------------------------------------------- events
  async function connectWs() {
    clearTimeout(app.wsTimer);
    let ws;
    try {
      const { ticket } = await api("POST", "/api/stream-tickets"); // a 401 signs out
      if (!app.token || app.ws) return;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`);
    } catch (err) {
      if (app.token) scheduleReconnect();
      return;
    }
    app.ws = ws;
    ws.onopen = () => {
      const again = app.wsAttempt > 0;
      app.wsAttempt = 0;
      setLive(true);
      if (again) {
        poll();
        loadMessages();
      }
    };
    ws.onmessage = (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch (err) {
        return;
      }
      app.stats.events += 1;
      applyEvent(ev);
    };
    ws.onclose = () => {
      if (app.ws !== ws) return;
      app.ws = null;
      setLive(false);
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (!app.token) return;
    const attempt = app.wsAttempt++;
    const delay = Math.min(8000, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
    setText($("#banner-text"), `Reconnecting in ${Math.ceil(delay / 1000)}s…`);
    clearTimeout(app.wsTimer);
    app.wsTimer = setTimeout(async () => {
      try {
        await api("GET", "/api/whoami"); // a revoked or expired token signs out here
      } catch (err) {
        if (!app.token) return;
      }
      if (app.token && !app.ws) connectWs();
    }, delay);
  }

  function setLive(live) {
    const conn = $("#conn");
    if (live) {
      conn.dataset.live = "1";
      setText(conn, "Live");
      $("#banner").hidden = true;
    } else if (app.token) {
      conn.dataset.live = "lost";
      setText(conn, "Connection lost");
      $("#banner").hidden = false;
    }
    document.documentElement.dataset.live = live ? "1" : "0";
  }

  function applyEvent(ev) {
    if (!app.me || (ev.client && ev.client !== app.me.client)) return;
    const d = ev.data || {};
    switch (ev.event) {
      case "client.state": {
        const patch = { state: d.state, since: ev.timestamp };
        if (d.state === "connected" && d.me) patch.me = d.me;
        if (d.state === "failed" && d.reason) patch.last_error = d.reason;
        app.client = { ...app.client, ...patch };
        render();
        if (d.state === "connected") toast(`Linked as ${phone(d.me)}`);
        setTimeout(poll, 800); // pid, uptime and restarts
        break;
      }
      case "client.qr":
        if (app.client.state !== "qr") {
          app.client = { ...app.client, state: "qr" };
          render();
        } else {
          loadQr();
        }
        break;
      case "message": {
        const ts = d.timestamp || ev.timestamp;
        if (!app.client.last_message_at || ts > app.client.last_message_at) {
          app.client = { ...app.client, last_message_at: ts };
          render();
        }
        addMessage(d);
        break;
      }
      case "message.ack":
        for (const mid of d.ids || []) {
          const el = $(`#messages [data-msg="${CSS.escape(mid)}"] .ack`);
          if (el && el.textContent) setText(el, ACK[d.ack] ?? "");
        }
        break;
      case "client.deleted":
        signOut("This WhatsApp was removed by the administrator.");
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------------------------- wiring
  function init() {
    takeTokenFromFragment();
    $("#signin-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const token = $("#signin-token").value.trim();
      if (!token) {
        showSignIn("Paste the access token, or open the invite link.");
        return;
      }
      $("#signin-token").value = "";
      signIn(token);
    });
    $("#signout").addEventListener("click", () => signOut("Signed out."));
    $("#banner-retry").addEventListener("click", () => {
      app.wsAttempt = 0;
      if (!app.ws) connectWs();
    });
    for (const b of $$("[data-act]")) b.addEventListener("click", () => runAction(b.dataset.act));
    $("#pair-form").addEventListener("submit", onPair);
    $("#send-form").addEventListener("submit", onSend);
    $("#hook-form").addEventListener("submit", onAddHook);
    $("#confirm-cancel").addEventListener("click", () => finishConfirm(false));
    $("#confirm-ok").addEventListener("click", () => finishConfirm(true));
    $("#confirm-dialog").addEventListener("close", () => finishConfirm(false));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && app.token) poll();
    });
    const saved = sessionStorage.getItem(TOKEN_STORAGE);
    if (saved) signIn(saved);
    else showSignIn("");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
