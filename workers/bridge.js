// wamc bridge: runs after wa-js (WPP) in every page. Turns WPP models into plain JSON and
// forwards WPP events to Python through the `__wamcEmit` binding. Ours; talks only to WPP.
(() => {
  if (window.__wamc) return;
  const emit = (name, data) => {
    try {
      if (typeof window.__wamcEmit === 'function') window.__wamcEmit(name, data);
    } catch (e) { /* the worker may be going away */ }
  };
  const wid = (w) => {
    if (w == null) return null;
    if (typeof w === 'string') return w;
    if (w._serialized) return w._serialized;
    return String(w);
  };
  const message = (m) => {
    const key = m.id || {};
    const fromMe = !!key.fromMe;
    const from = wid(m.from);
    const to = wid(m.to);
    return {
      id: wid(key),
      chat_id: wid(key.remote) || (fromMe ? to : from),
      from_me: fromMe,
      from,
      to,
      author: wid(m.author),
      body: m.body ?? m.caption ?? '',
      type: m.type || 'chat',
      timestamp: m.t ?? null,
      ack: m.ack ?? 0,
    };
  };
  const chat = (c) => ({
    id: wid(c.id),
    name: c.name ?? c.formattedTitle ?? null,
    timestamp: c.t ?? null,
    unread_count: c.unreadCount ?? 0,
    archived: !!c.archive,
    is_group: !!c.isGroup,
  });

  let lastQr = null;
  const snapshot = async () => {
    const W = window.WPP;
    if (!W || !W.isReady) return { ready: false };
    let qr = null;
    const authenticated = !!W.conn.isAuthenticated();
    if (!authenticated) {
      try {
        const code = await W.conn.getAuthCode();
        qr = code ? code.fullCode : null;
      } catch (e) { qr = null; }
    }
    const stream = W.conn.getStreamData ? W.conn.getStreamData() : null;
    let me = null;
    try { me = authenticated ? wid(W.conn.getMyUserId()) : null; } catch (e) { me = null; }
    lastQr = qr;
    return { ready: true, authenticated, mode: stream ? stream.mode : null, qr, me, idle: !!(W.conn.isIdle && W.conn.isIdle()) };
  };
  const pushSnapshot = async (reason) => {
    const snap = await snapshot();
    snap.reason = reason;
    emit('snapshot', snap);
  };

  const CONN_EVENTS = [
    'conn.auth_code_change', 'conn.qrcode_idle', 'conn.require_auth', 'conn.authenticated',
    'conn.logout', 'conn.main_ready', 'conn.main_loaded', 'conn.online',
    'conn.stream_mode_changed', 'conn.needs_update',
  ];
  let attached = false;
  const attach = () => {
    // Listeners go on as soon as WPP's emitter exists: storage errors can come before "ready".
    if (attached) return;
    attached = true;
    const W = window.WPP;
    for (const name of CONN_EVENTS) W.on(name, () => { pushSnapshot(name); });
    W.on('conn.logout_reason', (reason) => emit('logout_reason', { reason: String(reason) }));
    W.on('conn.backend_event', (event) => emit('backend_event', { event: String(event) }));
    W.on('chat.new_message', (m) => {
      try { emit('message', message(m)); } catch (e) { emit('bridge_error', { error: String(e) }); }
    });
    W.on('chat.msg_ack_change', (ev) => {
      emit('ack', { ack: ev.ack, chat: wid(ev.chat), ids: (ev.ids || []).map(wid) });
    });
  };
  const waitForWPP = () => {
    if (window.WPP && window.WPP.loader && typeof window.WPP.on === 'function') {
      attach();
      window.WPP.loader.onReady(() => pushSnapshot('ready'));
    } else {
      setTimeout(waitForWPP, 50);
    }
  };

  window.__wamc = {
    snapshot,
    async sendText(chatId, text) {
      const r = await window.WPP.chat.sendTextMessage(chatId, text, { createChat: true });
      return { id: wid(r.id), ack: r.ack ?? 0 };
    },
    async chats(count) {
      const list = await window.WPP.chat.list({ count });
      return list.map(chat);
    },
    async messages(chatId, count, anchor) {
      const opts = { count, direction: 'before' };
      if (anchor) opts.id = anchor;
      const list = await window.WPP.chat.getMessages(chatId, opts);
      return list.map(message);
    },
    async logout() {
      await window.WPP.conn.logout();
      return true;
    },
    async takeover() {
      await window.WPP.whatsapp.Socket.takeover();
      return true;
    },
    async refreshQR() {
      await window.WPP.conn.refreshQR();
      return true;
    },
  };
  waitForWPP();
})();
