// wamc bridge: runs after wa-js (WPP) in every page. Turns WPP models into plain JSON and
// forwards WPP events to Python through the `__wamcEmit` binding. Ours; talks only to WPP.
//
// The page is untrusted: every WPP event is shape-checked here before it leaves the page. Fields
// are read without letting a getter or a Proxy throw at us, coerced to the type the worker expects
// (ids, strings, integers, booleans) or the event is dropped with a `bridge_error` {error, event};
// long texts are cut at TEXT_MAX bytes and the event flagged `truncated: true`. The worker checks
// the result again (workers/page_events.py): page scripts can call the binding themselves.
(() => {
  if (window.__wamc) return;
  const TEXT_MAX = 64 * 1024; // UTF-8 bytes of a body (or any other long text)
  const ID_MAX = 512; // characters of an id; longer ones are not ids
  const SHORT_MAX = 256; // characters of a short text: a type, a state, a name, a reaction
  const QR_MAX = 4096;
  const LIST_MAX = 1000; // items of a list (ack ids, presence participants)
  const PENDING_MAX = 5000; // events waiting for their turn (LID lookups) before we drop
  const emit = (name, data) => {
    try {
      if (typeof window.__wamcEmit === 'function') window.__wamcEmit(name, data);
    } catch (e) { /* the worker may be going away */ }
  };
  class Bad extends Error {}
  const bad = (why) => { throw new Bad(why); };
  const describe = (e) => {
    try {
      return String(e instanceof Error ? e.message : e).slice(0, 300);
    } catch (err) { return 'unprintable error'; }
  };
  const reject = (event, e) => emit('bridge_error', { error: describe(e), event });
  // A property read that never throws (getters and Proxy traps may).
  const get = (o, k) => {
    if (o == null || (typeof o !== 'object' && typeof o !== 'function')) return undefined;
    try { return o[k]; } catch (e) { return undefined; }
  };
  const list = (v) => {
    try { return Array.isArray(v) ? Array.prototype.slice.call(v, 0, LIST_MAX) : []; } catch (e) { return []; }
  };
  const idString = (s) => (typeof s === 'string' && s.length > 0 && s.length <= ID_MAX ? s : null);
  /** A wid or message key: a string, or an object's `_serialized` string; else null. */
  const wid = (w) => (typeof w === 'string' ? idString(w) : idString(get(w, '_serialized')));
  const int = (v) => {
    if (typeof v === 'string' && v.trim() !== '' && v.length < 32) v = Number(v);
    return typeof v === 'number' && Number.isSafeInteger(Math.trunc(v)) ? Math.trunc(v) : null;
  };
  const bool = (v) => {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
    if (typeof v === 'string') return v === 'true' || v === '1';
    return false;
  };
  // Unix seconds from seconds or milliseconds.
  const seconds = (t) => {
    const n = int(t);
    return n !== null && n > 0 ? Math.floor(n > 1e12 ? n / 1000 : n) : null;
  };
  const encoder = new TextEncoder();
  const textBuffer = new Uint8Array(TEXT_MAX);
  /** Texts of one event: strings (numbers and booleans as strings), cut to size; `cut` if any was. */
  const texts = () => {
    const t = {
      cut: false,
      long(v) {
        if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
        if (typeof v !== 'string') return null;
        if (v.length * 3 <= TEXT_MAX) return v;
        const { read } = encoder.encodeInto(v, textBuffer); // whole characters only
        if (read >= v.length) return v;
        t.cut = true;
        return v.slice(0, read);
      },
      short(v, max = SHORT_MAX) {
        if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
        if (typeof v !== 'string') return null;
        if (v.length <= max) return v;
        t.cut = true;
        return v.slice(0, max);
      },
      flag(data) {
        if (t.cut) data.truncated = true;
        return data;
      },
    };
    return t;
  };
  // --- replies and the other message kinds (issue 11) ---------------------------------------
  const finite = (v, bound) => (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= bound ? v : null);
  const myIds = () => {
    const conn = get(window.WPP, 'conn');
    const ask = (fn) => { try { return wid(get(conn, fn).call(conn)); } catch (e) { return null; } };
    return [ask('getMyUserId'), ask('getMyUserLid')].filter(Boolean);
  };
  /** The id of the message a reply quotes, built like wa-js's getQuotedMsgKey (no lookup). */
  const quotedId = (m, key) => {
    const stanza = get(m, 'quotedStanzaID');
    if (typeof stanza !== 'string' || !/^[0-9A-Za-z]{1,128}$/.test(stanza)) return null;
    const remote = wid(get(m, 'quotedRemoteJid')) || wid(get(key, 'remote'));
    if (!remote) return null;
    const participant = wid(get(m, 'quotedParticipant'));
    const mine = !!participant && myIds().includes(participant);
    const tail = remote.endsWith('@g.us') && participant ? `_${participant}` : '';
    return idString(`${mine}_${remote}_${stanza}${tail}`);
  };
  const SYSTEM_TYPES = new Set([
    'gp2', 'e2e_notification', 'notification_template', 'notification', 'call_log',
    'broadcast_notification', 'ciphertext', 'protocol',
  ]);
  /** quoted_id, and what a location, contact card, poll or notification carries (by type). The
   * body of a location (a map thumbnail) or a sticker is no text: replaced. */
  const kinds = (m, t, type) => {
    const out = { quoted_id: quotedId(m, get(m, 'id')) };
    if (type === 'location') {
      const loc = t.short(get(m, 'loc'), 1024) || '';
      const [name, ...address] = loc.split('\n');
      const lat = finite(get(m, 'lat'), 90);
      const lng = finite(get(m, 'lng'), 180);
      if (lat !== null && lng !== null) {
        out.location = { latitude: lat, longitude: lng, name: name || null, address: address.join('\n') || null, url: t.short(get(m, 'clientUrl'), 2048) };
      }
      out.body = loc;
    } else if (type === 'vcard') {
      out.contacts = [{ name: t.short(get(m, 'vcardFormattedName')), vcard: t.long(get(m, 'body')) ?? '' }];
    } else if (type === 'multi_vcard') {
      out.contacts = list(get(m, 'vcardList')).slice(0, 50)
        .map((c) => ({ name: t.short(get(c, 'displayName')), vcard: t.long(get(c, 'vcard')) ?? '' }));
      out.body = '';
    } else if (type === 'poll_creation') {
      const count = int(get(m, 'pollSelectableOptionsCount'));
      out.poll = {
        name: t.long(get(m, 'pollName')) ?? '',
        options: list(get(m, 'pollOptions')).slice(0, 64).map((o) => t.short(get(o, 'name'))).filter((o) => o !== null),
        selectable_count: count !== null && count >= 0 && count <= 64 ? count : 0,
      };
      out.body = out.poll.name;
    } else if (type === 'sticker') {
      out.body = '';
    } else if (SYSTEM_TYPES.has(type)) {
      out.system = { subtype: t.short(get(m, 'subtype'), 64), recipients: list(get(m, 'recipients')).map(wid).filter(Boolean) };
    }
    return out;
  };
  // --- media (issue 11) ---------------------------------------------------------------------
  // A media message's `body` is a base64 JPEG thumbnail, not text: its text is `caption`, its
  // file is described by `mimetype`, `filename`, `size` and `filehash` (base64 SHA-256).
  const MEDIA_TYPES = new Set(['image', 'video', 'audio', 'ptt', 'document', 'sticker']);
  const withMedia = (m, t, data) => {
    if (!MEDIA_TYPES.has(data.type)) return data;
    const caption = t.long(get(m, 'caption'));
    const size = int(get(m, 'size'));
    data.body = caption ?? '';
    data.media = {
      mimetype: t.short(get(m, 'mimetype')),
      filename: t.short(get(m, 'filename')),
      size: size !== null && size >= 0 ? size : null,
      caption,
      filehash: t.short(get(m, 'filehash'), 128),
    };
    return data;
  };
  const heldMedia = new Map(); // handle -> {blob, timer}: downloads being handed out in slices
  let mediaHandles = 0;
  const HELD_MS = 10 * 60 * 1000;
  const readBase64 = (blob) => new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(',', 2)[1] || '');
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
  const mediaApi = {
    /** Send the file the worker serves at spec.base + part index (spec.part bytes each). */
    async sendFile(chatId, spec, opts) {
      try {
        if (!window.WPP.chat.get(chatId) && !(await window.WPP.contact.queryExists(chatId))) {
          return { error: 'not_on_whatsapp', message: `${chatId} is not on WhatsApp` };
        }
        const parts = [];
        for (let i = 0; i * spec.part < spec.size; i += 1) {
          const r = await fetch(spec.base + i, { cache: 'no-store' });
          if (!r.ok) throw new Error(`media part ${i}: HTTP ${r.status}`);
          parts.push(await r.blob());
        }
        const file = new File(parts, opts.filename || 'file', { type: opts.mimetype });
        if (file.size !== spec.size) throw new Error(`media of ${file.size} bytes, not ${spec.size}`);
        const voice = opts.kind === 'voice';
        const options = {
          type: voice ? 'audio' : opts.kind,
          caption: opts.caption || undefined,
          filename: opts.filename,
          mimetype: opts.mimetype,
          isPtt: voice,
          createChat: true,
        };
        if (opts.reply_to) options.quotedMsg = opts.reply_to;
        const r = await window.WPP.chat.sendFileMessage(chatId, file, options);
        const ack = int(get(r, 'ack'));
        return { id: wid(get(r, 'id')), ack: ack ?? 0, type: voice ? 'ptt' : opts.kind };
      } catch (e) {
        return { error: 'whatsapp_error', message: describe(e) };
      }
    },
    /** Download a message's file and hold it for mediaSlice; {handle, size, mimetype}. */
    async mediaOpen(msgId) {
      let blob;
      try {
        blob = await window.WPP.chat.downloadMedia(msgId);
      } catch (e) {
        const code = get(e, 'code');
        const unknown = code === 'msg_not_found' || code === 'message_not_contains_media';
        return { error: unknown ? 'message_not_found' : 'media_gone', message: describe(e) };
      }
      if (!(blob instanceof Blob)) return { error: 'media_gone', message: 'no file' };
      mediaHandles += 1;
      const handle = `m${mediaHandles}`;
      heldMedia.set(handle, { blob, timer: setTimeout(() => heldMedia.delete(handle), HELD_MS) });
      return { handle, size: blob.size, mimetype: texts().short(blob.type) || '' };
    },
    async mediaSlice(handle, offset, count) {
      const held = heldMedia.get(handle);
      if (!held) throw new Error('no such media handle');
      return readBase64(held.blob.slice(offset, offset + count));
    },
    mediaClose(handle) {
      const held = heldMedia.get(handle);
      if (held) clearTimeout(held.timer);
      heldMedia.delete(handle);
      return true;
    },
  };

  /** A WPP message model -> our message; throws Bad when it has no id or chat. */
  const message = (m) => {
    const t = texts();
    const key = get(m, 'id');
    const fromMe = bool(get(key, 'fromMe'));
    const from = wid(get(m, 'from'));
    const to = wid(get(m, 'to'));
    const id = wid(key);
    const chatId = wid(get(key, 'remote')) || (fromMe ? to : from);
    if (!id) bad('message without an id');
    if (!chatId) bad('message without a chat');
    let body = get(m, 'body');
    if (body == null) body = get(m, 'caption');
    const ack = int(get(m, 'ack'));
    return t.flag(withMedia(m, t, {
      id,
      chat_id: chatId,
      from_me: fromMe,
      from,
      to,
      author: wid(get(m, 'author')),
      body: t.long(body) ?? '',
      type: t.short(get(m, 'type')) || 'chat',
      timestamp: seconds(get(m, 't')),
      ack: ack !== null && ack >= -1 && ack <= 4 ? ack : 0,
      ...kinds(m, t, get(m, 'type')), // quoted_id, location, contacts, poll, system
    }));
  };
  // One person can be named by LID ('…@lid') or by phone number ('…@c.us'): chats are keyed by
  // the phone number when WPP knows it, the LID kept in `lid`. Lookups are cached per page.
  const phoneOfLid = new Map();
  const LOOKUP_MS = 5000;
  const phoneOf = async (id) => {
    if (typeof id !== 'string' || !id.endsWith('@lid')) return null;
    if (phoneOfLid.has(id)) return phoneOfLid.get(id);
    const contact = get(window.WPP, 'contact');
    const lookup = get(contact, 'getPnLidEntry');
    if (typeof lookup !== 'function') return null;
    let timer = null;
    try {
      const entry = await Promise.race([
        lookup.call(contact, id),
        new Promise((resolve) => { timer = setTimeout(() => resolve(null), LOOKUP_MS); }),
      ]);
      const pn = wid(get(entry, 'phoneNumber'));
      if (pn && pn.endsWith('@c.us')) {
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
  let pending = 0;
  const emitInOrder = (name, build) => {
    if (pending >= PENDING_MAX) {
      reject(name, `more than ${PENDING_MAX} events waiting: dropped`);
      return;
    }
    pending += 1;
    const next = outbox.then(build).then((data) => { if (data) emit(name, data); });
    outbox = next.catch((e) => reject(name, e)).finally(() => { pending -= 1; });
  };

  const chat = (c) => {
    const t = texts();
    const id = wid(get(c, 'id'));
    if (!id) bad('chat without an id');
    let name = get(c, 'name');
    if (name == null) name = get(c, 'formattedTitle');
    const unread = int(get(c, 'unreadCount'));
    return t.flag({
      id,
      name: t.short(name, 1024),
      timestamp: seconds(get(c, 't')),
      unread_count: unread !== null && unread > 0 ? unread : 0,
      archived: bool(get(c, 'archive')),
      is_group: bool(get(c, 'isGroup')),
    });
  };

  // wa-js event -> [our event name, payload builder, chat key, keys naming the same person].
  // A builder throws Bad (or anything) to drop the event with a bridge_error.
  const SAME = ['from', 'sender', 'revoked_by'];
  const FORWARDED = {
    'chat.new_message': ['message', message, 'chat_id', ['from', 'to']],
    'chat.msg_ack_change': ['ack', (ev) => {
      const ack = int(get(ev, 'ack'));
      if (ack === null || ack < -1 || ack > 4) bad('ack is not an integer from -1 to 4');
      const ids = list(get(ev, 'ids')).map(wid).filter(Boolean);
      if (!ids.length) bad('ack without message ids');
      return { ack, chat: wid(get(ev, 'chat')), ids };
    }, 'chat', []],
    'chat.msg_revoke': ['revoke', (ev) => {
      const t = texts();
      const ref = get(ev, 'refId');
      const id = wid(ref);
      if (!id) bad('revoke without the revoked message id');
      return t.flag({
        id,
        chat_id: wid(get(ref, 'remote')),
        from_me: bool(get(ref, 'fromMe')),
        from: wid(get(ref, 'participant')) || wid(get(ev, 'from')),
        revoked_by: wid(get(ev, 'author')) || wid(get(ev, 'from')),
        type: t.short(get(ev, 'type')) || 'revoke',
      });
    }, 'chat_id', SAME],
    'chat.msg_edited': ['edit', (ev) => {
      const msg = get(ev, 'msg');
      if (msg == null || typeof msg !== 'object') bad('edit without a message');
      const m = message(msg);
      const data = {
        id: m.id,
        chat_id: m.chat_id,
        from_me: m.from_me,
        from: m.author || m.from,
        body: m.body,
        edited_at: seconds(get(msg, 'latestEditSenderTimestampMs')),
      };
      if (m.truncated) data.truncated = true;
      return data;
    }, 'chat_id', SAME],
    'chat.new_reaction': ['reaction', (ev) => {
      const t = texts();
      const target = get(ev, 'msgId');
      const id = wid(target);
      if (!id) bad('reaction without the message id');
      return t.flag({
        id,
        chat_id: wid(get(target, 'remote')),
        reaction_id: wid(get(ev, 'id')),
        sender: wid(get(ev, 'sender')),
        reaction: t.short(get(ev, 'reactionText'), 64) ?? '',
        timestamp: seconds(get(ev, 'timestamp')),
      });
    }, 'chat_id', SAME],
    'chat.unread_count_changed': ['unread', (ev) => {
      const c = get(ev, 'chat');
      const chatId = wid(get(c, 'id'));
      if (!chatId) bad('unread count without a chat id');
      let raw = get(ev, 'unreadCount');
      if (typeof raw !== 'number') raw = get(c, 'unreadCount');
      const unread = raw == null ? 0 : int(raw);
      if (unread === null || unread < 0) bad('unreadCount is not a count');
      return { chat_id: chatId, unread };
    }, 'chat_id', SAME],
    'chat.presence_change': ['presence', (ev) => {
      const t = texts();
      const chatId = wid(get(ev, 'id'));
      if (!chatId) bad('presence without a chat id');
      const state = get(ev, 'state');
      const participants = [];
      for (const p of list(get(ev, 'participants'))) {
        const id = wid(get(p, 'id'));
        if (id) participants.push({ id, state: t.short(get(p, 'state'), 32) });
      }
      return t.flag({
        chat_id: chatId,
        state: t.short(state, 32),
        is_online: bool(get(ev, 'isOnline')),
        is_group: bool(get(ev, 'isGroup')),
        participants,
      });
    }, 'chat_id', SAME],
    'call.incoming_call': ['call', (ev) => {
      const raw = get(ev, 'id');
      const id = typeof raw === 'number' ? wid(String(int(raw) ?? '')) : wid(raw);
      if (!id) bad('call without an id');
      return {
        id,
        from: wid(get(ev, 'sender')) || wid(get(ev, 'peerJid')),
        is_video: bool(get(ev, 'isVideo')),
        is_group: bool(get(ev, 'isGroup')),
        timestamp: seconds(get(ev, 'offerTime')),
      };
    }, 'chat_id', SAME],
    'group.participant_changed': ['group_participant', (ev) => {
      const t = texts();
      const groupId = wid(get(ev, 'groupId'));
      if (!groupId) bad('group change without a group id');
      const action = t.short(get(ev, 'action'), 32);
      if (!action) bad('group change without an action');
      return t.flag({
        group_id: groupId,
        action,
        operation: t.short(get(ev, 'operation'), 32) || action,
        author: wid(get(ev, 'author')),
        author_push_name: t.short(get(ev, 'authorPushName')),
        participants: list(get(ev, 'participants')).map(wid).filter(Boolean),
      });
    }, 'group_id', []],
    'chat.poll_response': ['poll_vote', (ev) => {
      const t = texts();
      const target = get(ev, 'msgId');
      const id = wid(target);
      if (!id) bad('poll vote without the poll message id');
      const selected = [];
      for (const option of list(get(ev, 'selectedOptions'))) { // sparse: index = localId
        const name = option == null ? null : t.short(get(option, 'name'));
        if (name !== null) selected.push(name);
      }
      return t.flag({
        id,
        chat_id: wid(get(ev, 'chatId')) || wid(get(target, 'remote')),
        sender: wid(get(ev, 'sender')),
        selected: selected.slice(0, 64),
        timestamp: seconds(get(ev, 'timestamp')),
      });
    }, 'chat_id', SAME],
  };

  /** The login state as WPP.conn tells it; every field typed, a broken WPP reads as not ready. */
  const snapshot = async () => {
    const W = window.WPP;
    const conn = get(W, 'conn');
    const ask = (fn) => {
      const f = get(conn, fn);
      try { return typeof f === 'function' ? f.call(conn) : undefined; } catch (e) { return undefined; }
    };
    if (!get(W, 'isReady') || conn == null) return { ready: false };
    const authenticated = bool(ask('isAuthenticated'));
    let qr = null;
    if (!authenticated) {
      try {
        const code = await ask('getAuthCode');
        const full = get(code, 'fullCode');
        qr = typeof full === 'string' && full.length <= QR_MAX ? full : null;
      } catch (e) { qr = null; }
    }
    const mode = get(ask('getStreamData'), 'mode');
    return {
      ready: true,
      authenticated,
      mode: typeof mode === 'string' ? mode.slice(0, 64) : null,
      qr,
      me: authenticated ? wid(ask('getMyUserId')) : null,
      idle: bool(ask('isIdle')),
    };
  };
  const pushSnapshot = async (reason) => {
    try {
      const snap = await snapshot();
      snap.reason = reason;
      emit('snapshot', snap);
    } catch (e) { reject(reason, e); }
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
    const on = (source, fn) => W.on(source, (...args) => {
      try { fn(...args); } catch (e) { reject(source, e); }
    });
    for (const name of CONN_EVENTS) on(name, () => { pushSnapshot(name); });
    on('conn.logout_reason', (reason) => {
      emit('logout_reason', { reason: texts().short(reason, 128) || 'unknown' });
    });
    on('conn.backend_event', (event) => {
      const name = texts().short(event, 128);
      if (!name) bad('backend event without a name');
      emit('backend_event', { event: name });
    });
    for (const [source, [name, build, key, same]] of Object.entries(FORWARDED)) {
      on(source, (ev) => {
        const data = build(ev);
        emitInOrder(name, () => byPhone(data, key, same));
      });
    }
  };
  const waitForWPP = () => {
    const W = window.WPP;
    if (W && W.loader && typeof W.on === 'function') {
      attach();
      W.loader.onReady(() => pushSnapshot('ready'));
    } else {
      setTimeout(waitForWPP, 50);
    }
  };
  /** What a page call returned, kept only if well formed (a bad item is skipped and reported). */
  const shaped = (what, items, fn) => {
    const out = [];
    for (const item of list(items)) {
      try { out.push(fn(item)); } catch (e) { reject(what, e); }
    }
    return out;
  };


  // --- message actions (issue 11): every send checks its recipient first (`recipient`), and
  // what WhatsApp refuses in a way the API names comes back as `wamc:<code>: …` (`refuse`),
  // which the worker turns into that code (workers/page_calls.py).
  const refuse = (code, why) => { throw new Error(`wamc:${code}: ${why}`); };
  const codeOf = (e) => { const c = get(e, 'code'); return typeof c === 'string' ? c : ''; };
  /** The one recipient check of every send: a user WhatsApp does not know is not_on_whatsapp. */
  const recipient = async (chatId) => {
    const W = window.WPP;
    if (W.chat.get(chatId)) return chatId;
    if (!/@(c\.us|lid)$/.test(chatId)) refuse('chat_not_found', `no chat ${chatId}`);
    if (!(await W.contact.queryExists(chatId))) refuse('not_on_whatsapp', `${chatId} is not on WhatsApp`);
    return chatId;
  };
  const findMessage = async (id) => {
    try {
      return await window.WPP.chat.getMessageById(id);
    } catch (e) {
      if (['msg_not_found', 'chat_not_found', 'invalid_wid'].includes(codeOf(e))) refuse('message_not_found', `no message ${id}`);
      throw e;
    }
  };
  /** A chat action (read, typing) on a chat the page does not have answers chat_not_found. */
  const onChat = async (chatId, fn) => {
    try {
      return await fn();
    } catch (e) {
      if (['chat_not_found', 'invalid_wid'].includes(codeOf(e))) refuse('chat_not_found', `no chat ${chatId}`);
      throw e;
    }
  };
  const sendOptions = async (replyTo) => {
    const opts = { createChat: true };
    if (replyTo) opts.quotedMsg = await findMessage(replyTo);
    return opts;
  };
  const sent = (r) => {
    const ack = int(get(r, 'ack'));
    return { id: wid(get(r, 'id')), ack: ack ?? 0 };
  };
  const CHAT_STATES = { composing: 'markIsComposing', recording: 'markIsRecording', paused: 'markIsPaused' };
  const actions = {
    async sendLocation(chatId, place, replyTo) {
      const to = await recipient(chatId);
      const opts = await sendOptions(replyTo);
      const options = { ...opts, lat: place.latitude, lng: place.longitude };
      for (const k of ['name', 'address', 'url']) if (place[k]) options[k] = place[k];
      return sent(await window.WPP.chat.sendLocationMessage(to, options));
    },
    async sendContacts(chatId, cards, replyTo) {
      const to = await recipient(chatId);
      const opts = await sendOptions(replyTo);
      const contacts = cards.map((c) => (c.name ? { id: c.id, name: c.name } : c.id));
      return sent(await window.WPP.chat.sendVCardContactMessage(to, contacts, opts));
    },
    async react(id, emoji) {
      const msg = await findMessage(id);
      await window.WPP.chat.sendReactionToMessage(msg, emoji || false);
      return { id };
    },
    async markRead(chatId) {
      await onChat(chatId, () => window.WPP.chat.markIsRead(chatId));
      return { id: chatId };
    },
    async chatState(chatId, state) {
      const fn = CHAT_STATES[state];
      if (!fn) bad(`unknown chat state ${state}`);
      await onChat(chatId, () => window.WPP.chat[fn](chatId));
      return { id: chatId };
    },
    async editMessage(id, text) {
      const msg = await findMessage(id);
      if (!bool(get(get(msg, 'id'), 'fromMe'))) refuse('not_own_message', `${id} was not sent by this account`);
      if (get(msg, 'type') === 'revoked') refuse('message_not_found', `${id} was deleted`);
      try {
        await window.WPP.chat.editMessage(id, text);
      } catch (e) {
        if (codeOf(e) === 'edit_message_error' && get(msg, 'type') === 'chat') refuse('edit_window_passed', 'WhatsApp no longer allows editing this message');
        throw e;
      }
      return { id };
    },
    /** wa-js forwardMessages (forwardMessage is deprecated in 4.6): it does not answer the new
     * message, so the copy is the own message of the target chat that was not there before. */
    async forward(id, chatId) {
      const msg = await findMessage(id);
      if (get(msg, 'type') === 'revoked') refuse('message_not_found', `${id} was deleted`);
      const to = await recipient(chatId);
      const own = async () => {
        if (!window.WPP.chat.get(to)) return [];
        const recent = await window.WPP.chat.getMessages(to, { count: 20 });
        return list(recent).filter((m) => bool(get(get(m, 'id'), 'fromMe')));
      };
      const before = new Set((await own()).map((m) => wid(get(m, 'id'))));
      await window.WPP.chat.forwardMessages(to, [id], {});
      const fresh = (await own()).filter((m) => !before.has(wid(get(m, 'id'))));
      if (!fresh.length) throw new Error(`WhatsApp did not forward ${id}`);
      return sent(fresh[fresh.length - 1]);
    },
    /** wa-js sendCreatePollMessage; selectable_count 0 lets a voter pick any number. */
    async sendPoll(chatId, poll, replyTo) {
      const to = await recipient(chatId);
      const opts = await sendOptions(replyTo);
      opts.selectableCount = poll.selectable_count;
      return sent(await window.WPP.chat.sendCreatePollMessage(to, poll.name, poll.options, opts));
    },
    /** mode: everyone | me | auto (everyone for our own messages, me for others'). */
    async deleteMessage(id, mode) {
      const msg = await findMessage(id);
      const key = get(msg, 'id');
      const mine = bool(get(key, 'fromMe'));
      const everyone = mode === 'everyone' || (mode === 'auto' && mine);
      if (everyone && !mine) refuse('not_own_message', `${id} was not sent by this account: delete it for me`);
      const chatId = wid(get(key, 'remote'));
      const r = await window.WPP.chat.deleteMessage(chatId, id, false, everyone);
      if (everyone ? !bool(get(r, 'isRevoked')) : !bool(get(r, 'isDeleted'))) {
        throw new Error(`WhatsApp did not delete ${id}`);
      }
      return { id, chat_id: chatId, deleted_for: everyone ? 'everyone' : 'me' };
    },
  };

  const api = {
    snapshot,
    ...mediaApi,
    async sendText(chatId, text, replyTo, mentions) {
      const to = await recipient(chatId);
      const opts = await sendOptions(replyTo);
      if (Array.isArray(mentions) && mentions.length) opts.mentionedList = mentions; // group @s
      return sent(await window.WPP.chat.sendTextMessage(to, text, opts));
    },
    ...actions,
    /** Chats by phone number: a person's LID chat and phone chat are one entry (`lid` set). */
    async chats(count) {
      const merged = new Map();
      for (const c of await api.pageChats(count)) {
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
      const out = [];
      for (const data of shaped('chat.list', await window.WPP.chat.list({ count }), chat)) {
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
      for (const m of shaped('chat.getMessages', list, message)) out.push(await byPhone(m));
      return out;
    },
    async logout() {
      await window.WPP.conn.logout();
      return true;
    },
    async pairingCode(phone) {
      const code = await window.WPP.conn.genLinkDeviceCodeForPhoneNumber(phone, true);
      return texts().short(code, 64);
    },
    async takeover() {
      await window.WPP.whatsapp.Socket.takeover();
      return true;
    },
  };
  // --- contacts, numbers and groups (issue 11) ------------------------------------------------
  // What WhatsApp refuses in a way the API names comes back as a `wamc:<code>: …` error, turned
  // into that code by the worker (workers/groups.py). Per-person outcomes are answers, not errors.
  const people = (() => {
    const W = () => window.WPP;
    const refuse = (code, why) => { throw new Error(`wamc:${code}: ${why}`); };
    const codeOf = (e) => { const c = get(e, 'code'); return typeof c === 'string' ? c : ''; };
    const NAMED = {
      chat_not_found: 'chat_not_found', not_a_group: 'chat_not_found', group_not_exist: 'chat_not_found',
      group_you_are_not_admin: 'not_group_admin', participant_not_exists: 'not_on_whatsapp',
    };
    /** fn(), with WPP's named refusals as ours. */
    const named = async (fn) => {
      try {
        return await fn();
      } catch (e) {
        if (NAMED[codeOf(e)]) refuse(NAMED[codeOf(e)], describe(e));
        throw e;
      }
    };
    const contact = (c, t) => {
      const id = wid(get(c, 'id'));
      if (!id) bad('contact without an id');
      return {
        id,
        name: t.short(get(c, 'name'), 1024),
        push_name: t.short(get(c, 'pushname'), 1024),
        is_business: bool(get(c, 'isBusiness')),
        is_my_contact: bool(get(c, 'isMyContact')),
      };
    };
    const models = (collection) => {
      const all = get(collection, 'getModelsArray');
      try { return typeof all === 'function' ? list(all.call(collection)) : list(collection); } catch (e) { return []; }
    };
    /** Participants by id, also by phone number for those WhatsApp names by LID. */
    const members = async (gid) => {
      const found = new Map();
      for (const p of list(await named(() => W().group.getParticipants(gid)))) {
        const id = wid(get(p, 'id'));
        if (!id) continue;
        const member = { id, is_admin: bool(get(p, 'isAdmin')) || bool(get(p, 'isSuperAdmin')), is_super_admin: bool(get(p, 'isSuperAdmin')) };
        found.set(id, member);
        const pn = await phoneOf(id);
        if (pn) found.set(pn, member);
      }
      return found;
    };
    // WhatsApp's answer per person to an add: 200 added; else why not.
    const ADD_CODES = { 403: 'privacy_restricted', 409: 'already_participant', 421: 'pending_approval' };
    const added = (id, entry) => {
      const code = int(get(entry, 'code'));
      if (entry == null || code === 200) return { id, action: 'add', ok: true, error: null };
      const invite = get(entry, 'invite_code');
      return { id, action: 'add', ok: false, error: ADD_CODES[code] || 'failed', invite_code: typeof invite === 'string' ? invite.slice(0, 64) : null };
    };
    const byWid = (results) => {
      const out = new Map();
      if (results && typeof results === 'object') {
        for (const [k, v] of Object.entries(results)) out.set(wid(get(v, 'wid')) || k, v);
      }
      return out;
    };
    /** [on WhatsApp, outcomes of those not] for ids to add. */
    const existing = async (ids) => {
      const ok = [];
      const not = [];
      for (const id of ids) {
        const r = await W().contact.queryExists(id);
        if (r) ok.push(id);
        else not.push({ id, action: 'add', ok: false, error: 'not_on_whatsapp' });
      }
      return [ok, not];
    };
    /** One kind of change: `check(member)` names why not for a person, else WPP does it. */
    const change = async (gid, action, ids, check, fn) => {
      const current = await members(gid);
      const out = [];
      const todo = [];
      for (const id of ids) {
        const why = check(current.get(id));
        if (why) out.push({ id, action, ok: false, error: why });
        else todo.push(id);
      }
      if (!todo.length) return out;
      try {
        await named(() => fn(gid, todo));
        for (const id of todo) out.push({ id, action, ok: true, error: null });
      } catch (e) {
        if (String(describe(e)).startsWith('wamc:not_group_admin')) throw e;
        reject(`group.${action}`, e);
        for (const id of todo) out.push({ id, action, ok: false, error: 'failed' });
      }
      return out;
    };
    const STEPS = [
      ['remove', (m) => (m ? null : 'not_participant'), (g, ids) => W().group.removeParticipants(g, ids)],
      ['promote', (m) => (!m ? 'not_participant' : m.is_admin ? 'already_admin' : null), (g, ids) => W().group.promoteParticipants(g, ids)],
      ['demote', (m) => (!m ? 'not_participant' : !m.is_admin ? 'not_admin' : null), (g, ids) => W().group.demoteParticipants(g, ids)],
    ];
    const addTo = async (gid, ids) => {
      const [ok, out] = await existing(ids);
      const current = await members(gid);
      const todo = ok.filter((id) => {
        if (!current.has(id)) return true;
        out.push({ id, action: 'add', ok: false, error: 'already_participant' });
        return false;
      });
      if (todo.length) {
        const results = byWid(await named(() => W().group.addParticipants(gid, todo)));
        for (const id of todo) out.push(added(id, results.get(id)));
      }
      return out;
    };
    const groupSummary = (c, t) => {
      const id = wid(get(c, 'id'));
      if (!id) bad('group without an id');
      const meta = get(c, 'groupMetadata');
      const parts = get(meta, 'participants');
      let admin = false;
      try { admin = bool(parts.iAmAdmin()); } catch (e) { admin = false; }
      return {
        id,
        subject: t.short(get(meta, 'subject') ?? get(c, 'name') ?? get(c, 'formattedTitle'), 1024),
        size: models(parts).length,
        i_am_admin: admin,
      };
    };
    return {
      async contacts(count, onlyMine) {
        const t = texts();
        const all = shaped('contact.list', await W().contact.list({ onlyMyContacts: !!onlyMine }), (c) => contact(c, t));
        return all.filter((c) => /@(c\.us|lid)$/.test(c.id)).slice(0, count);
      },
      async contact(id) {
        const found = await W().contact.get(id);
        if (!found) refuse('contact_not_found', `WhatsApp Web does not know ${id}`);
        const out = contact(found, texts());
        let url = null;
        try { url = await W().contact.getProfilePictureUrl(id, true); } catch (e) { url = null; }
        out.profile_picture_url = typeof url === 'string' && url.length <= 4096 ? url : null;
        out.is_blocked = bool(W().blocklist.isBlocked(id));
        return out;
      },
      async numberExists(id) {
        const r = await W().contact.queryExists(id);
        return { exists: !!r, chat_id: r ? wid(get(r, 'wid')) || id : null, is_business: bool(get(r, 'biz')) };
      },
      async block(id, blocked) {
        const r = await (blocked ? W().blocklist.blockContact(id) : W().blocklist.unblockContact(id));
        return { id, blocked: bool(get(r, 'isBlocked')) };
      },
      async groups() {
        const t = texts();
        return shaped('group.getAllGroups', await W().group.getAllGroups(), (c) => groupSummary(c, t));
      },
      async groupInfo(gid) {
        const t = texts();
        const participants = [...new Set((await members(gid)).values())];
        const meta = get(W().chat.get(gid), 'groupMetadata');
        return {
          id: gid,
          subject: t.short(get(meta, 'subject'), 1024),
          description: t.short(get(meta, 'desc'), 4096),
          owner: wid(get(meta, 'owner')),
          created_at: seconds(get(meta, 'creation')),
          participants,
          i_am_admin: bool(await W().group.iAmAdmin(gid)),
          i_am_member: bool(await W().group.iAmMember(gid)),
        };
      },
      async groupCreate(name, ids) {
        const [ok, out] = await existing(ids);
        if (!ok.length) refuse('not_on_whatsapp', 'none of the participants is on WhatsApp');
        const r = await named(() => W().group.create(name, ok));
        const gid = wid(get(r, 'gid'));
        if (!gid) throw new Error('WhatsApp created no group');
        const results = byWid(get(r, 'participants'));
        for (const id of ok) out.push(added(id, results.get(id)));
        return { id: gid, participants: out };
      },
      async groupParticipants(gid, todo) {
        if (!bool(await named(() => W().group.iAmAdmin(gid)))) refuse('not_group_admin', `not an admin of ${gid}`);
        const out = todo.add.length ? await addTo(gid, todo.add) : [];
        for (const [action, check, fn] of STEPS) {
          if (todo[action].length) out.push(...(await change(gid, action, todo[action], check, fn)));
        }
        return out;
      },
      async groupLeave(gid) {
        if (!bool(await named(() => W().group.iAmMember(gid)))) return { id: gid, left: true, was_member: false };
        await named(() => W().group.leave(gid));
        return { id: gid, left: true, was_member: true };
      },
      async groupInvite(gid, revoke) {
        const code = await named(() => (revoke ? W().group.revokeInviteCode(gid) : W().group.getInviteCode(gid)));
        if (typeof code !== 'string' || !code || code.length > 128) throw new Error('WhatsApp gave no invite code');
        return { id: gid, code };
      },
    };
  })();
  Object.assign(api, people);
  // Not replaceable by page scripts by accident (a determined one can still lie: Python checks).
  Object.defineProperty(window, '__wamc', { value: Object.freeze(api), writable: false, configurable: false });
  waitForWPP();
})();
