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
  // One person can be named by LID ('…@lid') or by phone number ('…@c.us'): chats are keyed by
  // the phone number when WPP knows it, the LID kept in `lid`. Lookups are cached per page.
  const phoneOfLid = new Map();
  const LOOKUP_MS = 5000;
  const phoneOf = async (id) => {
    if (typeof id !== 'string' || !id.endsWith('@lid')) return null;
    if (phoneOfLid.has(id)) return phoneOfLid.get(id);
    const contact = window.WPP && window.WPP.contact;
    if (!contact || typeof contact.getPnLidEntry !== 'function') return null;
    let timer = null;
    try {
      const entry = await Promise.race([
        contact.getPnLidEntry(id),
        new Promise((resolve) => { timer = setTimeout(() => resolve(null), LOOKUP_MS); }),
      ]);
      const pn = entry && entry.phoneNumber ? wid(entry.phoneNumber) : null;
      if (typeof pn === 'string' && pn.endsWith('@c.us')) {
        phoneOfLid.set(id, pn);
        return pn;
      }
    } catch (e) { /* unknown or invalid: keep the LID */ } finally { clearTimeout(timer); }
    return null;
  };
  // Rename `key` (a chat id) to the phone number; fields naming the same person follow.
  const byPhone = async (data, key = 'chat_id', same = ['from', 'to']) => {
    if (!data) return data;
    const lid = data[key];
    const pn = await phoneOf(lid);
    data.lid = pn ? lid : null;
    if (pn) {
      data[key] = pn;
      for (const k of same) if (data[k] === lid) data[k] = pn;
    }
    return data;
  };
  // Events leave in the order they came, even when a lookup has to wait.
  let outbox = Promise.resolve();
  const emitInOrder = (name, build) => {
    const next = outbox.then(build).then((data) => { if (data) emit(name, data); });
    outbox = next.catch((e) => emit('bridge_error', { error: `${name}: ${e}` }));
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
      let data;
      try { data = message(m); } catch (e) { emit('bridge_error', { error: String(e) }); return; }
      emitInOrder('message', () => byPhone(data));
    });
    W.on('chat.msg_ack_change', (ev) => {
      const data = { ack: ev.ack, chat: wid(ev.chat), ids: (ev.ids || []).map(wid) };
      emitInOrder('ack', () => byPhone(data, 'chat', []));
    });
    for (const [source, [name, build]] of Object.entries(FORWARDED)) {
      W.on(source, (ev) => {
        let data;
        try {
          data = ev ? build(ev) : null;
        } catch (e) { emit('bridge_error', { error: `${source}: ${e}` }); return; }
        if (!data) return;
        emitInOrder(name, () => byPhone(data, 'chat_id', ['from', 'sender', 'revoked_by']));
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
    /** Chats by phone number: a person's LID chat and phone chat are one entry (`lid` set). */
    async chats(count) {
      const merged = new Map();
      for (const c of await window.__wamc.pageChats(count)) {
        const seen = merged.get(c.id);
        if (!seen) {
          merged.set(c.id, { ...c, page_id: undefined });
          continue;
        }
        seen.lid = seen.lid || c.lid;
        seen.unread_count += c.unread_count;
        seen.timestamp = Math.max(seen.timestamp || 0, c.timestamp || 0) || null;
        if (!c.lid && c.name != null) seen.name = c.name; // the phone chat's title wins
      }
      return [...merged.values()];
    },
    /** The page's own chats, keyed by phone number; `page_id` is the id the page knows. */
    async pageChats(count) {
      const list = await window.WPP.chat.list({ count });
      const out = [];
      for (const c of list) {
        const data = chat(c);
        data.page_id = data.id;
        out.push(await byPhone(data, 'id', []));
      }
      return out;
    },
    async messages(chatId, count, anchor) {
      const opts = { count, direction: 'before' };
      if (anchor) opts.id = anchor;
      const list = await window.WPP.chat.getMessages(chatId, opts);
      const out = [];
      for (const m of list) out.push(await byPhone(message(m)));
      return out;
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
