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

  // Unix seconds from seconds or milliseconds.
  const seconds = (t) => (typeof t === 'number' && t > 0 ? Math.floor(t > 1e12 ? t / 1000 : t) : null);
  // wa-js event -> [our event name, payload builder]; a builder may return null to drop it.
  const FORWARDED = {
    'chat.msg_revoke': ['revoke', (ev) => {
      const ref = ev.refId || {};
      if (!wid(ref)) return null;
      return {
        id: wid(ref),
        chat_id: wid(ref.remote),
        from_me: !!ref.fromMe,
        from: wid(ref.participant) || wid(ev.from),
        revoked_by: wid(ev.author) || wid(ev.from),
        type: ev.type || 'revoke',
      };
    }],
    'chat.msg_edited': ['edit', (ev) => {
      const m = ev.msg ? message(ev.msg) : null;
      if (!m) return null;
      return {
        id: m.id || wid(ev.id),
        chat_id: m.chat_id,
        from_me: m.from_me,
        from: m.author || m.from,
        body: m.body,
        edited_at: seconds(ev.msg.latestEditSenderTimestampMs),
      };
    }],
    'chat.new_reaction': ['reaction', (ev) => {
      const target = ev.msgId || {};
      if (!wid(target)) return null;
      return {
        id: wid(target),
        chat_id: wid(target.remote),
        reaction_id: wid(ev.id),
        sender: wid(ev.sender),
        reaction: ev.reactionText ?? '',
        timestamp: seconds(ev.timestamp),
      };
    }],
    'chat.unread_count_changed': ['unread', (ev) => {
      const c = ev.chat || {};
      const unread = typeof ev.unreadCount === 'number' ? ev.unreadCount : c.unreadCount;
      return wid(c.id) ? { chat_id: wid(c.id), unread: unread ?? 0 } : null;
    }],
    'chat.presence_change': ['presence', (ev) => (wid(ev.id) ? {
      chat_id: wid(ev.id),
      state: ev.state == null ? null : String(ev.state),
      is_online: !!ev.isOnline,
      is_group: !!ev.isGroup,
      participants: (ev.participants || []).map((p) => ({ id: wid(p.id), state: p.state })),
    } : null)],
    'call.incoming_call': ['call', (ev) => (ev.id ? {
      id: String(ev.id),
      from: wid(ev.sender) || wid(ev.peerJid),
      is_video: !!ev.isVideo,
      is_group: !!ev.isGroup,
      timestamp: seconds(ev.offerTime),
    } : null)],
  };

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
    for (const [source, [name, build]] of Object.entries(FORWARDED)) {
      W.on(source, (ev) => {
        try {
          const data = ev ? build(ev) : null;
          if (data) emit(name, data);
        } catch (e) { emit('bridge_error', { error: `${source}: ${e}` }); }
      });
    }
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
    async pairingCode(phone) {
      return await window.WPP.conn.genLinkDeviceCodeForPhoneNumber(phone, true);
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
