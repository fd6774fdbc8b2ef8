/* What the admin dashboard (app.js) and the client owner's portal (portal/portal.js) share: an ES
 * module both import from /admin/static/common.js (script-src 'self' in both pages' CSP; the
 * portal already takes app.css and the favicon from /admin/static).
 *
 * DOM and formatting helpers, the API call (the key as X-Api-Key, problem+json errors as
 * ApiFailure), the live stream (/ws with a single-use ticket from POST /api/stream-tickets, so the
 * key never appears in a URL; reconnect with backoff), the QR image, the pairing-code and
 * test-send forms, the recent-messages list and the confirm dialog. Each page keeps its own state
 * and wording; the element ids used here (#conn, #banner, #qr-img, #send-form, …) are the same
 * on both pages.
 */

export const ACK = { "-1": "failed", 0: "🕓", 1: "✓", 2: "✓✓", 3: "✓✓ read", 4: "✓✓ played" };
export const STATE_LABELS = {
  stopped: "Stopped",
  starting: "Starting",
  qr: "QR ready",
  connected: "Connected",
  disconnected: "Disconnected",
  failed: "Failed",
};

// ------------------------------------------------------------------------------------ DOM
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function setText(el, text) {
  const value = text == null ? "" : String(text);
  if (el.textContent !== value) el.textContent = value;
}
export function setAttr(el, name, value) {
  const v = String(value);
  if (el.getAttribute(name) !== v) el.setAttribute(name, v);
}
export function setHidden(el, hidden) {
  if (el.hidden !== hidden) el.hidden = hidden;
}
export function onReady(init) {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
}

let toastTimer = null;
export function toast(text) {
  const el = $("#toast");
  setText(el, text);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 3500);
}

// ------------------------------------------------------------------------------ formatting
export function fmtDuration(s) {
  if (s == null) return "—";
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const p2 = (x) => String(x).padStart(2, "0");
  if (d) return `${d}d ${p2(h)}h`;
  if (h) return `${h}h ${p2(m)}m`;
  if (m) return `${m}m ${p2(sec)}s`;
  return `${sec}s`;
}
export function fmtAgo(iso) {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}
export function fmtTime(iso) {
  const t = Date.parse(iso || "");
  return Number.isNaN(t) ? "" : new Date(t).toLocaleTimeString();
}
export function phone(me) {
  if (!me) return "—";
  const user = String(me).split("@")[0];
  return /^\d+$/.test(user) ? `+${user}` : user;
}

// ------------------------------------------------------------------------------ client state
/** Seconds up now: the status's uptime plus the time since it was fetched (null if not running). */
export function uptimeNow(status, fetchedAt) {
  if (!status || status.uptime_seconds == null || !status.pid) return null;
  return status.uptime_seconds + (performance.now() - fetchedAt) / 1000;
}

/** What a ``client.state`` event changes in a client's status. */
export function statePatch(ev) {
  const d = ev.data || {};
  const patch = { state: d.state, since: ev.timestamp };
  if (d.state === "connected" && d.me) patch.me = d.me;
  if (d.state === "failed" && d.reason) patch.last_error = d.reason;
  return patch;
}

/** The state badge and the facts both pages show (``f``: the ``[data-f]`` elements by name). */
export function renderStatus(badge, labels, f, errorRow, status, uptime) {
  const state = status.state || "stopped";
  setAttr(badge, "data-state", state);
  setText(badge, labels[state] || state);
  setText(f.me, state === "connected" ? phone(status.me) : "—");
  setText(f.uptime, fmtDuration(uptime));
  setText(f.restarts, status.restarts ?? 0);
  setText(f.last_message, fmtAgo(status.last_message_at));
  setText(f.error, status.last_error || "");
  setHidden(errorRow, !status.last_error);
  return state;
}

// ------------------------------------------------------------------------------ the API
export class ApiFailure extends Error {
  constructor(status, problem, message) {
    super(message);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || null;
  }
}

/**
 * An ``api(method, path, body, opts)`` that sends ``key()`` (or ``opts.key``) and answers the JSON
 * (text for other types, the Response itself with ``opts.raw``). A failure throws ApiFailure with
 * the problem's detail; a 401 for the page's own key calls ``onUnauthorized`` first.
 */
export function apiClient({ key, unreachable, onUnauthorized }) {
  return async function api(method, path, body, opts = {}) {
    const headers = { "X-Api-Key": opts.key || key() };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new ApiFailure(0, null, unreachable);
    }
    if (res.ok) {
      if (opts.raw) return res;
      const type = res.headers.get("Content-Type") || "";
      return type.includes("json") ? res.json() : res.text();
    }
    let problem = null;
    try {
      problem = await res.json();
    } catch (err) {
      problem = null;
    }
    const detail = (problem && (problem.detail || problem.title)) || res.statusText;
    const failure = new ApiFailure(res.status, problem, detail);
    if (res.status === 401 && !opts.key) onUnauthorized();
    throw failure;
  };
}

// ------------------------------------------------------------------------------ the live stream
/**
 * What keeps a page current while ``signedIn()``: the /ws event stream, a ``poll`` every
 * ``pollMs`` (what events do not carry: memory, CPU, …) and a ``tick`` every second (clocks).
 * #conn and #banner show the stream's state; a lost socket is reopened with backoff after
 * ``probe`` (a GET) shows the key is still good (a 401 there signs out); ``onReopen`` catches up
 * on what a reopened socket may have missed.
 */
export class LiveStream {
  constructor({ api, signedIn, probe, onEvent, onReopen, poll, pollMs, tick }) {
    Object.assign(this, { api, signedIn, probe, onEvent, onReopen, poll, pollMs, tick });
    this.pollTimer = null;
    this.tickTimer = null;
    this.ws = null;
    this.opening = false;
    this.attempt = 0;
    this.timer = null;
    this.everOpen = false;
    this.stopped = false;
  }

  /** Signed in and not stopped: a stopped stream's late answers and timers do nothing. */
  active() {
    return !this.stopped && this.signedIn();
  }

  start() {
    this.connect();
    this.pollTimer = setInterval(this.poll, this.pollMs);
    this.tickTimer = setInterval(this.tick, 1000);
  }

  async connect() {
    clearTimeout(this.timer);
    if (this.opening) return;
    this.opening = true;
    let ws;
    try {
      const { ticket } = await this.api("POST", "/api/stream-tickets"); // a 401 signs out
      if (!this.active() || this.ws) return;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`);
    } catch (err) {
      if (this.active()) this.scheduleReconnect();
      return;
    } finally {
      this.opening = false;
    }
    this.ws = ws;
    ws.onopen = async () => {
      const reopened = this.everOpen || this.attempt > 0;
      this.everOpen = true;
      this.attempt = 0;
      this.setLive(true);
      if (reopened) {
        try {
          await this.onReopen(); // events may have been missed while the socket was down
        } catch (err) {
          /* api() handles 401 */
        }
      }
    };
    ws.onmessage = (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch (err) {
        return;
      }
      this.onEvent(ev);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setLive(false);
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    if (!this.active()) return;
    const attempt = this.attempt++;
    const delay = Math.min(8000, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
    const due = Date.now() + delay;
    const update = () => {
      const s = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setText($("#banner-text"), s > 0 ? `Reconnecting in ${s}s…` : "Reconnecting…");
    };
    update();
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      // A refused key would also refuse the socket: ask the API first (a 401 signs out).
      try {
        await this.api("GET", this.probe);
      } catch (err) {
        if (!this.active()) return;
      }
      if (this.active() && !this.ws) this.connect();
    }, delay);
    const countdown = setInterval(() => {
      if (this.ws || !this.active()) clearInterval(countdown);
      else update();
    }, 1000);
  }

  /** The banner's "Retry now". */
  retryNow() {
    this.attempt = 0;
    clearTimeout(this.timer);
    if (!this.ws) this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearInterval(this.tickTimer);
    clearTimeout(this.timer);
    this.pollTimer = this.tickTimer = this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close();
    }
  }

  setLive(live) {
    const conn = $("#conn");
    if (live) {
      setAttr(conn, "data-live", "1");
      setText(conn, "Live");
      setHidden($("#banner"), true);
    } else if (this.active()) {
      setAttr(conn, "data-live", "lost");
      setText(conn, "Connection lost");
      setHidden($("#banner"), false);
    }
    document.documentElement.dataset.live = live ? "1" : "0";
  }
}

// ------------------------------------------------------------------------------ QR and pairing
/** The QR image (#qr-img, #qr-status): the newest request wins; the old image URL is revoked. */
export class QrImage {
  constructor() {
    this.seq = 0;
    this.url = null;
  }

  /** Loads ``path``'s PNG while ``wanted()``; ``noQr()`` says why there is none yet. */
  async load(api, path, { wanted, noQr }) {
    const seq = ++this.seq;
    const img = $("#qr-img");
    try {
      const res = await api("GET", path, undefined, { raw: true });
      const blob = await res.blob();
      if (seq !== this.seq || !wanted()) return;
      const url = URL.createObjectURL(blob);
      img.onload = () => {
        if (this.url && this.url !== url) URL.revokeObjectURL(this.url);
        this.url = url;
        img.hidden = false;
        img.dataset.version = String(seq);
        setText($("#qr-status"), `Updated ${new Date().toLocaleTimeString()}`);
      };
      img.src = url;
    } catch (err) {
      if (seq !== this.seq) return;
      img.hidden = true;
      setText($("#qr-status"), err.code === "no_qr" ? noQr() : err.message);
    }
  }

  /** Drops the image (a late answer is ignored). */
  clear() {
    this.seq += 1;
    const img = $("#qr-img");
    img.removeAttribute("src");
    delete img.dataset.version;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }
}

/** The pairing-code form (#pair-phone, #pair-result): ``hint`` when the number is not one. */
export async function requestPairingCode(api, path, hint) {
  const number = $("#pair-phone").value.replace(/[\s().-]/g, "");
  const out = $("#pair-result");
  if (!/^\+?\d{6,20}$/.test(number)) {
    setText(out, hint);
    return;
  }
  setText(out, "Requesting…");
  try {
    const body = await api("POST", path, { phone: number });
    setText(out, body.code);
  } catch (err) {
    setText(out, err.message);
  }
}

// ------------------------------------------------------------------------------ messages
/** The test-send form (#send-to, #send-text, #send-result) posting to ``path``. */
export async function sendTestMessage(api, path) {
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
    const body = await api("POST", path, { to, text });
    setText(out, `Sent to ${phone(body.to)} (id ${body.id}).`);
    $("#send-text").value = "";
  } catch (err) {
    setText(out, `Not sent: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

export function messageItem(m) {
  const li = document.createElement("li");
  li.dataset.msg = m.id;
  const meta = document.createElement("div");
  meta.className = "meta";
  const dir = document.createElement("span");
  dir.textContent = m.from_me ? `→ ${phone(m.to || m.chat_id)}` : `← ${phone(m.from || m.chat_id)}`;
  const time = document.createElement("time");
  time.dateTime = m.timestamp || "";
  time.textContent = fmtTime(m.timestamp);
  const ack = document.createElement("span");
  ack.className = "ack";
  ack.textContent = m.from_me ? ACK[m.ack] ?? "" : "";
  meta.append(dir, time, ack);
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = m.type === "chat" || !m.type ? m.body : `[${m.type}] ${m.body || ""}`;
  li.append(meta, body);
  if (window.wamcMedia) window.wamcMedia.decorate(li, m); // media.js (dashboard): thumbnail or download
  return li;
}

/** A list of recent messages (selectors: the list, and what is shown when it has none). */
export class MessageList {
  constructor(listSel, emptySel) {
    this.listSel = listSel;
    this.emptySel = emptySel;
  }
  get list() {
    return $(this.listSel);
  }
  get empty() {
    return $(this.emptySel);
  }

  /** Fills the list from ``path`` (GET …/messages/recent) unless ``wanted()`` turned false. */
  async load(api, path, wanted = () => true) {
    try {
      const body = await api("GET", path);
      if (!wanted()) return;
      this.list.replaceChildren(...body.messages.map(messageItem));
      this.empty.hidden = body.messages.length > 0;
    } catch (err) {
      this.empty.hidden = false;
      setText(this.empty, err.message);
    }
  }

  /** A live ``message`` event: newest first, once, at most 50 kept. */
  add(m) {
    if (this.list.querySelector(`[data-msg="${CSS.escape(m.id)}"]`)) return;
    this.list.prepend(messageItem(m));
    while (this.list.children.length > 50) this.list.lastElementChild.remove();
    this.empty.hidden = true;
  }

  /** A live ``message.ack`` event: the ticks of the messages shown as sent. */
  ack(d) {
    for (const mid of d.ids || []) {
      const el = this.list.querySelector(`[data-msg="${CSS.escape(mid)}"] .ack`);
      if (el && el.textContent) setText(el, ACK[d.ack] ?? "");
    }
  }
}

// ------------------------------------------------------------------------------ dialogs
export function closeDialog(sel) {
  const d = $(sel);
  if (d.open) d.close();
}

let confirmResolve = null;
/**
 * Asks in #confirm-dialog; resolves true for its OK button. ``okLabel`` and ``title`` (optional)
 * word the button and the heading; left out, the page's own wording comes back (a "Drain"
 * asked before never lingers on a later "Delete").
 */
export function confirmDialog(text, okLabel, title) {
  const dialog = $("#confirm-dialog");
  const ok = $("#confirm-ok");
  const head = $("#confirm-title");
  if (dialog.dataset.okLabel === undefined) {
    dialog.dataset.okLabel = ok.textContent;
    dialog.dataset.title = head.textContent;
  }
  setText($("#confirm-text"), text);
  setText(ok, okLabel ?? dialog.dataset.okLabel);
  setText(head, title ?? dialog.dataset.title);
  $("#confirm-dialog").showModal();
  $("#confirm-cancel").focus();
  return new Promise((resolve) => {
    confirmResolve = resolve;
  });
}
function finishConfirm(value) {
  const resolve = confirmResolve;
  confirmResolve = null;
  closeDialog("#confirm-dialog");
  if (resolve) resolve(value);
}
export function wireConfirmDialog() {
  $("#confirm-cancel").addEventListener("click", () => finishConfirm(false));
  $("#confirm-ok").addEventListener("click", () => finishConfirm(true));
  $("#confirm-dialog").addEventListener("close", () => finishConfirm(false));
}

/** Shows the sign-in form with ``message`` (its input: ``inputSel``) and hides the app. */
export function showSignInForm(inputSel, message) {
  $("#app").hidden = true;
  $("#signin").hidden = false;
  setText($("#signin-error"), message || "");
  const input = $(inputSel);
  input.setAttribute("aria-invalid", message ? "true" : "false");
  input.focus();
}
