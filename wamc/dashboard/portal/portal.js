/* wamc client portal: one client's owner sees and runs only that client. Plain JS, no deps.
 *
 * Sign-in: the invite link carries the client token in the URL fragment (#token=…), which the
 * browser never sends to the server. This page moves it to sessionStorage (this tab only),
 * removes it from the address bar (history.replaceState) and sends it as X-Api-Key. GET
 * /api/whoami tells the token's client and scopes: the page shows only what the token may do, so
 * it makes no call the server would refuse. State is live from /ws (a single-use ticket from
 * POST /api/stream-tickets; a client token's stream carries only its own client). What the admin
 * dashboard needs too (the API call, the stream, the QR, the forms, the helpers) is in
 * /admin/static/common.js.
 */
import {
  $,
  $$,
  LiveStream,
  MessageList,
  QrImage,
  STATE_LABELS,
  apiClient,
  confirmDialog,
  fmtDuration,
  onReady,
  phone,
  renderStatus,
  requestPairingCode,
  sendTestMessage,
  setText,
  showSignInForm,
  statePatch,
  toast,
  uptimeNow,
  wireConfirmDialog,
} from "/admin/static/common.js";

(() => {
  "use strict";

  const TOKEN_STORAGE = "wamc.portalToken";
  const LABELS = { ...STATE_LABELS, qr: "Waiting for the phone" };
  const POLL_MS = 15000;
  const GONE =
    "This link is no longer valid (it expired or was revoked). Ask your administrator for a new one.";

  const app = {
    token: null,
    me: null, // GET /api/whoami
    client: null, // the status of the token's client
    fetchedAt: 0,
    live: null, // LiveStream while signed in
    qr: new QrImage(),
    stats: { events: 0 },
  };
  window.wamcPortal = app.stats;

  // ---------------------------------------------------------------------------------- helpers
  function can(scope) {
    return !!app.me && app.me.scopes.includes(scope);
  }
  function clientPath(suffix = "") {
    return `/api/clients/${encodeURIComponent(app.me.client)}${suffix}`;
  }

  const api = apiClient({
    key: () => app.token,
    unreachable: "Cannot reach the server.",
    onUnauthorized: () => signOut(GONE),
  });
  const messages = new MessageList("#messages", "#messages-empty");

  // ---------------------------------------------------------------------------------- sign-in
  /** The token from an invite link's fragment, kept in this tab and wiped from the URL. */
  function takeTokenFromFragment() {
    if (!location.hash) return;
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    history.replaceState(null, "", location.pathname + location.search);
    if (token) sessionStorage.setItem(TOKEN_STORAGE, token);
  }

  function showSignIn(message) {
    showSignInForm("#signin-token", message);
  }

  async function trySignIn(token) {
    try {
      const me = await api("GET", "/api/whoami", undefined, { key: token });
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
        { key: token },
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
    if (app.live) app.live.stop();
    app.live = null;
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
    app.live = new LiveStream({
      api,
      signedIn: () => !!app.token,
      probe: "/api/whoami", // a revoked or expired token signs out here
      onEvent,
      onReopen: () => {
        poll();
        loadMessages();
      },
      poll,
      pollMs: POLL_MS,
      tick,
    });
    app.live.start();
    document.documentElement.dataset.ready = "1";
  }

  // ---------------------------------------------------------------------------------- state
  function applyStatus(status) {
    app.client = { ...(app.client || {}), ...status };
    app.fetchedAt = performance.now();
    render();
  }

  function uptime() {
    return uptimeNow(app.client, app.fetchedAt);
  }

  function render() {
    const status = $("#status");
    const f = Object.fromEntries($$("[data-f]", status).map((el) => [el.dataset.f, el]));
    const errorRow = $('[data-row="error"]', status);
    const state = renderStatus($("#state"), LABELS, f, errorRow, app.client, uptime());
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
  function loadQr() {
    app.qr.load(api, clientPath("/qr"), {
      wanted: () => !$("#link").hidden,
      noQr: () => "Waiting for a code…",
    });
  }

  function hideQr() {
    app.qr.clear();
    $("#link").hidden = true;
    $("#qr-img").hidden = true;
    setText($("#qr-status"), "Waiting for a code…");
    setText($("#pair-result"), "");
  }

  function onPair(ev) {
    ev.preventDefault();
    const hint = "Enter the phone number with its country code.";
    requestPairingCode(api, clientPath("/pairing-code"), hint);
  }

  // ---------------------------------------------------------------------------------- messages
  function loadMessages() {
    return messages.load(api, clientPath("/messages/recent?limit=30"));
  }

  function onSend(ev) {
    ev.preventDefault();
    sendTestMessage(api, clientPath("/send-message"));
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

  // ---------------------------------------------------------------------------------- events
  function onEvent(ev) {
    app.stats.events += 1;
    applyEvent(ev);
  }

  function applyEvent(ev) {
    if (!app.me || (ev.client && ev.client !== app.me.client)) return;
    const d = ev.data || {};
    switch (ev.event) {
      case "client.state": {
        app.client = { ...app.client, ...statePatch(ev) };
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
        messages.add(d);
        break;
      }
      case "message.ack":
        messages.ack(d);
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
    $("#banner-retry").addEventListener("click", () => app.live && app.live.retryNow());
    for (const b of $$("[data-act]")) b.addEventListener("click", () => runAction(b.dataset.act));
    $("#pair-form").addEventListener("submit", onPair);
    $("#send-form").addEventListener("submit", onSend);
    $("#hook-form").addEventListener("submit", onAddHook);
    wireConfirmDialog();
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && app.token) poll();
    });
    const saved = sessionStorage.getItem(TOKEN_STORAGE);
    if (saved) signIn(saved);
    else showSignIn("");
  }

  onReady(init);
})();
