/*
 * Fake WhatsApp Web served by the wamc simulator (wamc/simulator). Not WhatsApp's code.
 *
 * Like the real web client it keeps its device identity, its login and its chat history in the
 * browser profile's IndexedDB, plus the last logged-in user in localStorage ('last-wid-md'); a
 * login counts only with both. Chromium writes localStorage to disk lazily (seconds later, or at
 * a graceful shutdown), so a browser SIGKILLed right after linking loses the login, as a real
 * session is lost or corrupted by a browser killed mid-write. It talks to "WhatsApp's servers" (here the simulator, over a
 * same-origin WebSocket at /sim/ws) and exposes its internal modules — on window.__simWA, the
 * way the real client's modules sit in its module loader — for the fake wa-js (wa-js.js) to
 * wrap. Each module is an event emitter; `simwa:ready` is dispatched on window once they exist.
 */
(() => {
  'use strict';

  const VERSION = '2.3000.0-sim';
  const DB_NAME = 'wamc-sim-whatsapp';
  const LAST_WID = 'last-wid-md'; // localStorage: the user this device was last logged in as
  const ACK = Object.freeze({ FAILED: -1, CLOCK: 0, SENT: 1, RECEIVED: 2, READ: 3, PLAYED: 4 });
  const SEND_TIMEOUT_MS = 30000;
  const now = () => Math.floor(Date.now() / 1000);

  // ------------------------------------------------------------------ helpers
  class Emitter {
    constructor() {
      Object.defineProperty(this, '_listeners', { value: new Map() });
    }
    on(name, fn) {
      if (!this._listeners.has(name)) this._listeners.set(name, []);
      this._listeners.get(name).push(fn);
      return this;
    }
    off(name, fn) {
      const list = this._listeners.get(name) || [];
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
      return this;
    }
    once(name, fn) {
      const wrapper = (...args) => {
        this.off(name, wrapper);
        fn(...args);
      };
      return this.on(name, wrapper);
    }
    emit(name, ...args) {
      for (const fn of [...(this._listeners.get(name) || [])]) {
        try {
          fn(...args);
        } catch (err) {
          console.error('[whatsapp] listener failed', name, err);
        }
      }
    }
  }

  function randomBytes(n) {
    return crypto.getRandomValues(new Uint8Array(n));
  }
  function b64(bytes) {
    return btoa(String.fromCharCode(...bytes));
  }
  function hex(bytes) {
    return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  }
  function newKeys() {
    return { static: b64(randomBytes(32)), identity: b64(randomBytes(32)), secret: b64(randomBytes(32)) };
  }

  // ------------------------------------------------------------------ models
  const WID_RE = /^([0-9A-Za-z.+-]+)@(c\.us|g\.us|lid|broadcast|newsletter|s\.whatsapp\.net)$/;

  class Wid {
    constructor(serialized) {
      const m = WID_RE.exec(serialized);
      if (!m) throw new Error(`invalid wid: ${serialized}`);
      this.server = m[2] === 's.whatsapp.net' ? 'c.us' : m[2];
      this.user = m[1];
      this._serialized = `${this.user}@${this.server}`;
    }
    toString() {
      return this._serialized;
    }
    toJSON() {
      return this._serialized;
    }
    equals(other) {
      return other != null && String(other._serialized || other) === this._serialized;
    }
    isUser() {
      return this.server === 'c.us' || this.server === 'lid';
    }
    isGroup() {
      return this.server === 'g.us';
    }
    isLid() {
      return this.server === 'lid';
    }
    /** Wid, '<digits>', '<user>@<server>' or {_serialized} -> Wid, or null when invalid. */
    static parse(value) {
      if (value instanceof Wid) return value;
      let s = value != null && typeof value === 'object' ? value._serialized : value;
      if (typeof s !== 'string') return null;
      s = s.trim();
      if (/^\+?\d+$/.test(s)) s = `${s.replace('+', '')}@c.us`;
      const m = WID_RE.exec(s);
      if (!m || (m[2] === 'c.us' && !/^\d{5,20}$/.test(m[1]))) return null;
      return new Wid(s);
    }
  }

  class MsgKey {
    constructor({ fromMe, remote, id, participant }) {
      this.fromMe = !!fromMe;
      this.remote = Wid.parse(remote);
      this.id = id;
      this.participant = participant ? Wid.parse(participant) : undefined;
      this._serialized = `${this.fromMe}_${this.remote._serialized}_${id}`;
    }
    toString() {
      return this._serialized;
    }
    equals(other) {
      return other != null && String(other._serialized || other) === this._serialized;
    }
    static fromString(s) {
      const m = /^(true|false)_([^_]+)_([^_]+)$/.exec(String(s));
      return m ? new MsgKey({ fromMe: m[1] === 'true', remote: m[2], id: m[3] }) : null;
    }
    static newId() {
      return `3EB0${hex(randomBytes(8)).toUpperCase()}`;
    }
  }

  // What a message carries beyond its text (replies, locations, contact cards, polls,
  // notifications), as WhatsApp Web's MsgModel names it; kept in IndexedDB with the message.
  const MSG_EXTRAS = [
    'quotedStanzaID', 'quotedParticipant', 'quotedRemoteJid', 'lat', 'lng', 'loc', 'clientUrl',
    'vcardFormattedName', 'vcardList', 'pollName', 'pollOptions', 'pollSelectableOptionsCount',
    'subtype', 'recipients', 'mimetype', 'mentionedJidList', 'isForwarded', 'forwardingScore',
  ];
  const WID_EXTRAS = new Set(['quotedParticipant', 'quotedRemoteJid']);
  function extrasOf(rec) {
    const out = {};
    for (const k of MSG_EXTRAS) {
      if (rec[k] === undefined || rec[k] === null) continue;
      if (k === 'mentionedJidList') out[k] = [...rec[k]].map((w) => String((w && w._serialized) || w));
      else out[k] = WID_EXTRAS.has(k) ? String(rec[k]) : rec[k];
    }
    return out;
  }

  class MsgModel {
    constructor(rec, isNewMsg = false) {
      this.id = new MsgKey({ fromMe: rec.fromMe, remote: rec.remote, id: rec.id });
      this.rowId = rec.rowId;
      this.type = rec.type || 'chat';
      this.body = rec.body;
      this.t = rec.t;
      this.from = Wid.parse(rec.from);
      this.to = Wid.parse(rec.to);
      this.author = undefined;
      this.self = rec.fromMe ? 'out' : 'in';
      this.ack = rec.ack;
      this.isNewMsg = isNewMsg;
      this.notifyName = rec.notifyName || '';
      this.latestEditMsgKey = rec.editKey ? MsgKey.fromString(rec.editKey) : undefined;
      this.latestEditSenderTimestampMs = rec.editedAtMs || undefined;
      this.star = false;
      this.isForwarded = false;
      this.broadcast = false;
      for (const [k, v] of Object.entries(extrasOf(rec))) {
        if (k === 'mentionedJidList') this[k] = v.map((w) => Wid.parse(w)).filter(Boolean);
        else this[k] = WID_EXTRAS.has(k) ? Wid.parse(v) : v;
      }
      Object.assign(this, pickMedia(rec));
    }
    /** What a reply to this message carries (WhatsApp's msgContextInfo). */
    msgContextInfo(chatWid) {
      const info = {
        quotedStanzaID: this.id.id,
        quotedParticipant: this.id.fromMe ? Conn.me : this.from,
      };
      if (!this.id.remote.equals(chatWid)) info.quotedRemoteJid = this.id.remote;
      return info;
    }
    get chat() {
      return ChatStore.get(this.id.remote);
    }
    serialize() {
      return { ...this };
    }
    toRecord() {
      return {
        key: this.id._serialized,
        id: this.id.id,
        fromMe: this.id.fromMe,
        remote: this.id.remote._serialized,
        rowId: this.rowId,
        type: this.type,
        body: this.body,
        t: this.t,
        from: this.from._serialized,
        to: this.to._serialized,
        ack: this.ack,
        notifyName: this.notifyName,
        editKey: this.latestEditMsgKey ? this.latestEditMsgKey._serialized : undefined,
        editedAtMs: this.latestEditSenderTimestampMs,
        ...extrasOf(this),
        ...pickMedia(this),
      };
    }
  }

  // --- media (issue 11): a media message's fields, as WhatsApp Web's MsgModel has them. Its body
  // is a base64 JPEG thumbnail (images), its text the caption; the file sits on the media server
  // (the simulator's /sim/media) under directPath.
  const MEDIA_KEYS = ['mimetype', 'filename', 'size', 'caption', 'filehash', 'directPath'];
  function pickMedia(source) {
    const out = {};
    for (const k of MEDIA_KEYS) if (source && source[k] !== undefined) out[k] = source[k];
    return out;
  }
  async function sha256Base64(blob) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
    let text = '';
    for (let i = 0; i < digest.length; i += 1) text += String.fromCharCode(digest[i]);
    return btoa(text);
  }
  async function thumbnail(blob) {
    try {
      const bitmap = await createImageBitmap(blob);
      const scale = Math.min(1, 64 / Math.max(bitmap.width, bitmap.height));
      const canvas = new OffscreenCanvas(Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale)));
      canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.5 });
      return await blobBase64(jpeg);
    } catch (err) {
      return '';
    }
  }
  function blobBase64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(',', 2)[1] || '');
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }
  /** Upload to the media server, then send like a text: [Promise<MsgModel>, Promise<result>]. */
  function sendMedia(chatWid, blob, { type, mimetype, filename, caption, messageId } = {}) {
    const uploaded = (async () => {
      if (!Store.login) throw new Error('not logged in');
      const r = await fetch('/sim/media', { method: 'POST', body: blob, headers: { 'Content-Type': 'application/octet-stream' } });
      if (!r.ok) throw new Error(`media upload failed: HTTP ${r.status}`);
      const { direct_path: directPath } = await r.json();
      const body = type === 'image' || type === 'sticker' ? await thumbnail(blob) : '';
      const fields = { type, mimetype, filename, caption: caption || undefined, size: blob.size, filehash: await sha256Base64(blob), directPath };
      return { body, fields };
    })();
    const pair = uploaded.then(({ body, fields }) => sendMsg(chatWid, { ...fields, body }, { messageId }));
    return [pair.then((p) => p[0]), pair.then((p) => p[1])];
  }
  async function downloadMedia(msg) {
    const r = await fetch(`/sim/media/${encodeURIComponent(msg.directPath)}`, { cache: 'no-store' });
    if (!r.ok) throw new Error(`media download failed: HTTP ${r.status}`);
    return r.blob();
  }

  class ChatModel {
    constructor(rec) {
      this.id = Wid.parse(rec.id);
      this.name = rec.name;
      this.formattedTitle = rec.name || (this.id.server === 'c.us' ? `+${this.id.user}` : this.id.user);
      this.t = rec.t || 0;
      this.unreadCount = rec.unreadCount || 0;
      this.archive = !!rec.archive;
      this.isUser = this.id.isUser();
      this.isGroup = this.id.isGroup();
      this.isReadOnly = false;
      this.pin = 0;
      this.muteExpiration = 0;
    }
    get msgs() {
      return MsgStore.forChat(this.id);
    }
    serialize() {
      return { ...this };
    }
    toRecord() {
      const { name, t, unreadCount, archive } = this;
      return { id: this.id._serialized, name, t, unreadCount, archive };
    }
  }

  class Collection extends Emitter {
    constructor() {
      super();
      Object.defineProperty(this, '_models', { value: new Map() });
    }
    get(id) {
      return id == null ? undefined : this._models.get(String(id._serialized || id));
    }
    getModelsArray() {
      return [...this._models.values()];
    }
    get length() {
      return this._models.size;
    }
    add(model, { silent = false } = {}) {
      this._models.set(model.id._serialized, model);
      if (!silent) this.emit('add', model);
    }
    remove(id) {
      this._models.delete(String(id._serialized || id));
    }
    reset() {
      this._models.clear();
    }
  }

  const ChatStore = new Collection();
  const MsgStore = new Collection();
  const PresenceStore = new Emitter(); // 'change:chatstate.type' (presence of a contact)
  const ReactionStore = new Emitter(); // 'add' (records as the server sends them)
  const PollVoteStore = new Emitter(); // 'upsert' (votes on our polls, as the server sends them)
  const CallStore = new Emitter(); // 'incoming' (a call offer)
  const byChat = new Map(); // chat id -> MsgModel[] sorted by (t, rowId)
  MsgStore.forChat = (wid) => byChat.get(String(wid._serialized || wid)) || [];
  const baseAdd = MsgStore.add.bind(MsgStore);
  MsgStore.add = (model, opts) => {
    const chatId = model.id.remote._serialized;
    const list = byChat.get(chatId) || [];
    byChat.set(chatId, list);
    list.push(model);
    const n = list.length;
    if (n > 1 && (list[n - 2].t > model.t || (list[n - 2].t === model.t && list[n - 2].rowId > model.rowId))) {
      list.sort((a, b) => a.t - b.t || a.rowId - b.rowId);
    }
    baseAdd(model, opts);
  };
  const baseRemove = MsgStore.remove.bind(MsgStore);
  MsgStore.remove = (model) => {
    const list = byChat.get(model.id.remote._serialized) || [];
    const i = list.indexOf(model);
    if (i >= 0) list.splice(i, 1);
    baseRemove(model.id);
  };
  const baseReset = MsgStore.reset.bind(MsgStore);
  MsgStore.reset = () => {
    byChat.clear();
    baseReset();
  };

  // ------------------------------------------------------------------ IndexedDB
  const DB = {
    db: null,
    open() {
      return new Promise((resolve, reject) => {
        const req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = () => {
          const db = req.result;
          db.createObjectStore('meta');
          db.createObjectStore('chats', { keyPath: 'id' });
          db.createObjectStore('messages', { keyPath: 'key' });
        };
        req.onsuccess = () => resolve((this.db = req.result));
        req.onerror = () => reject(req.error);
        req.onblocked = () => reject(new Error('IndexedDB blocked'));
      });
    },
    /** Run fn(stores) in one readwrite transaction; resolves once it is committed. */
    write(names, fn, durability = 'default') {
      return new Promise((resolve, reject) => {
        const tx = this.db.transaction(names, 'readwrite', { durability });
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
        fn(Object.fromEntries(names.map((n) => [n, tx.objectStore(n)])));
      });
    },
    readAll() {
      return new Promise((resolve, reject) => {
        const tx = this.db.transaction(['meta', 'chats', 'messages'], 'readonly');
        const out = {};
        const get = (store, key, name) => {
          const r = key === undefined ? tx.objectStore(store).getAll() : tx.objectStore(store).get(key);
          r.onsuccess = () => (out[name] = r.result);
        };
        get('meta', 'device', 'device');
        get('meta', 'login', 'login');
        get('meta', 'lidpn', 'lidpn');
        get('chats', undefined, 'chats');
        get('messages', undefined, 'messages');
        tx.oncomplete = () => resolve(out);
        tx.onerror = () => reject(tx.error);
      });
    },
  };

  const Store = { device: null, login: null, rowId: 0 };

  /** What this device learnt of LID <-> phone number (kept in IndexedDB, like the real cache). */
  const LidPnCache = {
    lidToPn: new Map(),
    pnToLid: new Map(),
    /** Remember a pair; true when it is new. */
    add(lid, pn) {
      if (this.lidToPn.get(lid) === pn) return false;
      this.lidToPn.set(lid, pn);
      this.pnToLid.set(pn, lid);
      return true;
    },
    getPhoneNumber(wid) {
      const pn = this.lidToPn.get(String(wid._serialized || wid));
      return pn ? Wid.parse(pn) : undefined;
    },
    getCurrentLid(wid) {
      const lid = this.pnToLid.get(String(wid._serialized || wid));
      return lid ? Wid.parse(lid) : undefined;
    },
    toRecord() {
      return [...this.lidToPn.entries()];
    },
    reset() {
      this.lidToPn.clear();
      this.pnToLid.clear();
    },
  };

  // ------------------------------------------------------------------ connection state
  const Conn = Object.assign(new Emitter(), {
    ref: null,
    keys: null,
    connected: false,
    me: null,
    platform: 'android',
    editWindow: 15 * 60, // seconds a sent text stays editable (the server says, at welcome)
  });
  const Stream = Object.assign(new Emitter(), { mode: 'OFFLINE', info: 'OPENING' });
  const NetworkStatus = Object.assign(new Emitter(), { online: false });
  const Socket = Object.assign(new Emitter(), {
    state: 'OPENING',
    /** Take the session back after a conflict ("use here"). */
    takeover() {
      return Server.call('takeover').then(() => true);
    },
    logout() {
      if (!Server.post({ t: 'logout' })) queue(() => logout('user_initiated'));
    },
  });
  const Cmd = Object.assign(new Emitter(), {
    isMainLoaded: false,
    keepAlive: false,
    refreshQR() {
      Server.post({ t: 'qr_refresh' });
    },
  });

  function setRef(ref) {
    if (Conn.ref === ref) return;
    Conn.ref = ref;
    Conn.emit('change:ref', Conn, ref);
    render();
  }
  function setSocketState(state) {
    if (Socket.state === state) return;
    Socket.state = state;
    Socket.emit('change:state', Socket, state);
  }
  function setStream(mode, info) {
    if (Stream.info !== info) {
      Stream.info = info;
      Stream.emit('change:info', Stream, info);
    }
    if (Stream.mode !== mode) {
      Stream.mode = mode;
      Stream.emit('change:mode', Stream, mode);
      Server.post({ t: 'state', mode });
    }
    render();
  }
  function setOnline(online) {
    if (NetworkStatus.online === online) return;
    NetworkStatus.online = online;
    NetworkStatus.emit('change:online', NetworkStatus, online);
  }

  // ------------------------------------------------------------------ server link
  let inbox = Promise.resolve();
  /** Server messages (and local state changes that race with them) run one at a time, in order. */
  function queue(fn) {
    inbox = inbox.then(fn).catch((err) => console.error('[whatsapp]', err));
    return inbox;
  }

  const Server = {
    ws: null,
    rid: 0,
    calls: new Map(),
    retry: 200,
    connect() {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${scheme}://${location.host}/sim/ws`);
      this.ws = ws;
      ws.onopen = () => {
        this.retry = 200;
        this.post(helloMessage());
        this.post({ t: 'state', mode: Stream.mode });
      };
      ws.onmessage = (event) => {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        queue(() => onServer(msg));
      };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.ws = null;
        for (const call of this.calls.values()) call.reject(new Error('connection to WhatsApp lost'));
        this.calls.clear();
        queue(onDisconnected);
        setTimeout(() => this.connect(), this.retry);
        this.retry = Math.min(this.retry * 2, 3000);
      };
    },
    get open() {
      return !!this.ws && this.ws.readyState === WebSocket.OPEN;
    },
    post(msg) {
      if (!this.open) return false;
      this.ws.send(JSON.stringify(msg));
      return true;
    },
    call(type, params = {}, timeout = 15000) {
      return new Promise((resolve, reject) => {
        if (!this.open) return reject(new Error('not connected to WhatsApp'));
        const rid = ++this.rid;
        const timer = setTimeout(() => {
          this.calls.delete(rid);
          reject(new Error(`${type}: no answer from WhatsApp`));
        }, timeout);
        const done = (fn) => (value) => {
          clearTimeout(timer);
          this.calls.delete(rid);
          fn(value);
        };
        this.calls.set(rid, { resolve: done(resolve), reject: done(reject) });
        this.post({ ...params, t: type, rid });
      });
    },
  };

  function helloMessage() {
    return {
      t: 'hello',
      device_id: Store.device.id,
      keys: Store.device.keys,
      phone: Store.login ? Store.login.phone : null,
    };
  }

  async function onServer(msg) {
    switch (msg.t) {
      case 'qr':
        return showQr(msg.ref);
      case 'qr_idle':
        setSocketState('UNPAIRED_IDLE');
        return setRef(null);
      case 'paired':
        return paired(msg.phone);
      case 'welcome':
        if (typeof msg.edit_window === 'number') Conn.editWindow = msg.edit_window;
        return enterMain(msg);
      case 'config':
        if (typeof msg.edit_window === 'number') Conn.editWindow = msg.edit_window;
        return undefined;
      case 'msg':
        return receive([msg.msg], true);
      case 'ack':
        return applyAck(msg.chat, msg.ids, msg.ack);
      case 'directory':
      case 'group_action':
      case 'revoke':
      case 'edit':
      case 'reaction':
      case 'poll_vote':
      case 'presence':
      case 'call':
        return Store.login ? applyUpdate(msg) : undefined;
      case 'logout':
        return logout(msg.reason);
      case 'conflict':
        setSocketState('CONFLICT');
        setStream('CONFLICT', undefined);
        return setOnline(false);
      case 'page_emit':
        onPageEmit(msg); // not queued behind itself: the page keeps receiving meanwhile
        return undefined;
      case 'res': {
        const call = Server.calls.get(msg.rid);
        if (call) (msg.error ? call.reject(new Error(msg.error)) : call.resolve(msg.result));
        return undefined;
      }
      default:
        return undefined;
    }
  }

  function onDisconnected() {
    setRef(null);
    setOnline(false);
    setSocketState(Store.login ? 'TIMEOUT' : 'OPENING');
    setStream('OFFLINE', Store.login ? 'CONNECTING' : 'OPENING');
  }

  function showQr(ref) {
    if (Store.login) return;
    setSocketState('UNPAIRED');
    setStream('QR', undefined);
    setRef(ref);
  }

  async function paired(phone) {
    const login = { phone, since: now() };
    await DB.write(['meta'], (s) => s.meta.put(login, 'login'), 'strict');
    localStorage.setItem(LAST_WID, `${phone}@c.us`);
    Store.login = login;
    Conn.me = new Wid(`${phone}@c.us`);
    Conn.connected = true;
    setSocketState('PAIRING');
    setRef(null);
  }

  async function enterMain({ phone, history, acks, updates, directory }) {
    if (!Store.login || Store.login.phone !== phone) return;
    Conn.me = new Wid(`${phone}@c.us`);
    Conn.connected = true;
    setSocketState('CONNECTED');
    setStream('SYNCING', Cmd.isMainLoaded ? 'RESUMING' : 'SYNCING');
    await receive(history, false);
    if (!Cmd.isMainLoaded) {
      Cmd.isMainLoaded = true;
      Cmd.emit('main_loaded');
    }
    if (directory) People.applyDirectory(directory);
    setStream('MAIN', 'NORMAL');
    setOnline(true);
    const groups = new Map();
    for (const a of acks || []) {
      const k = `${a.chat}|${a.ack}`;
      if (!groups.has(k)) groups.set(k, { chat: a.chat, ack: a.ack, ids: [] });
      groups.get(k).ids.push(a.id);
    }
    for (const g of groups.values()) await applyAck(g.chat, g.ids, g.ack);
    for (const u of updates || []) await applyUpdate(u);
    for (const m of MsgStore.getModelsArray()) if (m.id.fromMe && m.ack === ACK.CLOCK) transmit(m);
  }

  /** Forget the login and what came with it; new device keys (the old ones are unlinked). */
  async function wipeLogin() {
    Store.device.keys = newKeys();
    await DB.write(
      ['meta', 'chats', 'messages'],
      (s) => {
        s.meta.delete('login');
        s.meta.delete('lidpn');
        s.meta.put(Store.device, 'device');
        s.chats.clear();
        s.messages.clear();
      },
      'strict',
    );
    localStorage.removeItem(LAST_WID);
    Store.login = null;
  }

  async function logout(reason) {
    await wipeLogin();
    Conn.keys = Store.device.keys;
    Conn.me = null;
    Conn.connected = false;
    ChatStore.reset();
    MsgStore.reset();
    LidPnCache.reset();
    for (const [key, pending] of pendingSends) pending(ACK.FAILED, key);
    setRef(null);
    setOnline(false);
    Cmd.isMainLoaded = false;
    Cmd.emit('logout_reason', reason || 'user_initiated');
    Cmd.emit('logout');
    setSocketState('OPENING');
    setStream('QR', undefined);
    Server.post(helloMessage());
  }

  // ------------------------------------------------------------------ messages
  /** Store messages from the server; live ones are announced (MsgStore 'add'), history is not. */
  async function receive(list, live) {
    const models = [];
    const touched = new Map();
    const created = [];
    const unreadBefore = new Map();
    let learnt = false;
    for (const m of list || []) {
      if (m.pn && /@lid$/.test(m.from)) learnt = LidPnCache.add(m.from, m.pn) || learnt;
      const key = `false_${m.from}_${m.id}`;
      if (MsgStore.get(key) || models.some((x) => x.id._serialized === key)) continue;
      const model = new MsgModel(
        { ...m, fromMe: false, remote: m.from, ack: ACK.SENT, rowId: ++Store.rowId },
        live,
      );
      models.push(model);
      let chat = ChatStore.get(m.from) || touched.get(m.from);
      if (!chat) {
        chat = new ChatModel({ id: m.from, t: m.t });
        created.push(chat);
      }
      touched.set(m.from, chat);
      if (!unreadBefore.has(chat)) unreadBefore.set(chat, chat.unreadCount);
      chat.t = Math.max(chat.t, m.t);
      chat.unreadCount += 1;
    }
    if (models.length || learnt) {
      await DB.write(['messages', 'chats', 'meta'], (s) => {
        for (const x of models) s.messages.put(x.toRecord());
        for (const c of touched.values()) s.chats.put(c.toRecord());
        if (learnt) s.meta.put(LidPnCache.toRecord(), 'lidpn');
      });
    }
    if (models.length) {
      for (const c of created) ChatStore.add(c, { silent: !live });
      for (const x of models) MsgStore.add(x, { silent: !live });
      for (const [c, before] of unreadBefore) unreadChanged(c, before);
      render();
    }
    const ids = (list || []).map((m) => m.id);
    if (ids.length) Server.post({ t: 'stored', ids });
  }

  const pendingSends = new Map(); // msg key -> (ack, key) => void

  function transmit(model) {
    const rec = model.toRecord();
    const { id, to, body, type } = rec;
    Server.post({ t: 'send', id, to, body, type, extra: extrasOf(rec), ...pickMedia(model) });
  }

  /** Like the real addAndSendMsgToChat: [Promise<MsgModel>, Promise<SendMsgResultObject>]. */
  function sendText(chatWid, body, opts = {}) {
    return sendMsg(chatWid, { type: 'chat', body }, opts);
  }

  /** What a forwarded copy of `msg` carries: its content, not its reply context or mentions. */
  const NOT_FORWARDED = ['quotedStanzaID', 'quotedParticipant', 'quotedRemoteJid', 'mentionedJidList', 'isForwarded', 'forwardingScore'];
  function forwardFields(msg) {
    const extras = extrasOf(msg);
    for (const k of NOT_FORWARDED) delete extras[k];
    return { type: msg.type, body: msg.body, ...extras, ...pickMedia(msg) };
  }

  /** Any kind: `fields` = {type, body, …MSG_EXTRAS, …media fields}; `quoted` = the replied-to
   * MsgModel. */
  function sendMsg(chatWid, fields, { messageId, quoted } = {}) {
    const stored = (async () => {
      if (!Store.login) throw new Error('not logged in');
      let id = MsgKey.newId();
      if (messageId) id = messageId.id || (MsgKey.fromString(messageId) || { id: messageId }).id;
      const t = now();
      const model = new MsgModel(
        {
          id,
          fromMe: true,
          remote: chatWid._serialized,
          from: Conn.me._serialized,
          to: chatWid._serialized,
          body: fields.body || '',
          ...extrasOf(fields),
          ...(quoted ? extrasOf(quoted.msgContextInfo(chatWid)) : {}),
          type: fields.type || 'chat',
          t,
          ack: ACK.CLOCK,
          rowId: ++Store.rowId,
          ...pickMedia(fields),
        },
        true,
      );
      if (MsgStore.get(model.id)) throw new Error(`message id ${id} already used`);
      let chat = ChatStore.get(chatWid);
      const isNew = !chat;
      if (isNew) chat = new ChatModel({ id: chatWid._serialized, t });
      chat.t = t;
      await DB.write(['messages', 'chats'], (s) => {
        s.messages.put(model.toRecord());
        s.chats.put(chat.toRecord());
      });
      if (isNew) ChatStore.add(chat);
      MsgStore.add(model);
      render();
      return model;
    })();
    const result = stored.then(
      (model) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => settle(ACK.CLOCK), SEND_TIMEOUT_MS);
          const settle = (ack) => {
            clearTimeout(timer);
            pendingSends.delete(model.id._serialized);
            const messageSendResult =
              ack >= ACK.SENT ? 'OK' : ack === ACK.CLOCK ? 'ERROR_NETWORK' : 'ERROR_UNKNOWN';
            resolve({ messageSendResult, t: model.t });
          };
          pendingSends.set(model.id._serialized, settle);
          transmit(model);
        }),
    );
    return [stored, result];
  }

  async function applyAck(chat, ids, ack) {
    const changed = [];
    for (const id of ids || []) {
      const msg = MsgStore.get(`true_${chat}_${id}`);
      if (!msg) continue;
      if (ack > msg.ack || (ack === ACK.FAILED && msg.ack <= ACK.SENT)) {
        msg.ack = ack;
        changed.push(msg);
      }
      const pending = pendingSends.get(msg.id._serialized);
      if (pending && msg.ack !== ACK.CLOCK) pending(msg.ack);
    }
    if (!changed.length) return;
    await DB.write(['messages'], (s) => changed.forEach((m) => s.messages.put(m.toRecord())));
    for (const m of changed) MsgStore.emit('change:ack', m, ack);
    if (ack !== ACK.SENT) {
      const wid = Wid.parse(chat);
      MsgStore.emit('receipt', { ack, chat: wid, sender: wid, ids: changed.map((m) => m.id) });
    }
    render();
  }

  function unreadChanged(chat, before) {
    if (chat.unreadCount !== before) ChatStore.emit('change:unreadCount', chat, chat.unreadCount, before);
  }

  /** Changes a contact makes to the chat (revoke, edit, reaction) and ephemeral news. */
  async function applyUpdate(u) {
    switch (u.t) {
      case 'revoke': {
        const msg = MsgStore.get(`false_${u.chat}_${u.ref}`);
        if (msg && msg.type !== 'revoked') {
          msg.type = 'revoked';
          msg.body = '';
          await DB.write(['messages'], (s) => s.messages.put(msg.toRecord()));
          render();
        }
        // Like the server's protocol message, announced whether or not the target is here.
        const from = Wid.parse(u.chat);
        MsgStore.emit('protocol', {
          id: new MsgKey({ fromMe: false, remote: from, id: u.id }),
          type: 'protocol',
          subtype: 'revoke',
          protocolMessageKey: new MsgKey({ fromMe: false, remote: from, id: u.ref }),
          from,
          to: Conn.me,
          author: undefined,
          t: u.at,
          isNewMsg: true,
        });
        return;
      }
      case 'edit': {
        const msg = MsgStore.get(`false_${u.chat}_${u.ref}`);
        if (!msg || msg.type === 'revoked') return;
        msg.body = u.body;
        msg.latestEditMsgKey = new MsgKey({ fromMe: false, remote: u.chat, id: MsgKey.newId() });
        msg.latestEditSenderTimestampMs = u.at * 1000;
        await DB.write(['messages'], (s) => s.messages.put(msg.toRecord()));
        MsgStore.emit('change:latestEditMsgKey', msg, msg.latestEditMsgKey);
        render();
        return;
      }
      case 'reaction': {
        const parent = MsgStore.get(u.key);
        ReactionStore.emit('add', [
          {
            id: `false_${u.from}_${u.id}`,
            parentMsgKey: u.key,
            reactionText: u.reaction,
            senderUserJid: u.from,
            orphan: parent ? 0 : 1,
            orphanReason: parent ? null : 'parent_missing',
            read: false,
            timestamp: u.at_ms,
          },
        ]);
        return;
      }
      case 'presence': {
        const chat = ChatStore.get(u.from);
        if (!chat) return; // presence is only subscribed for chats this device has
        PresenceStore.emit('change:chatstate.type', {
          id: chat.id,
          isOnline: u.state !== 'unavailable',
          isGroup: false,
          isUser: true,
          hasData: true,
          chatstate: { type: u.state },
        });
        return;
      }
      case 'poll_vote':
        PollVoteStore.emit('upsert', [
          { parentMsgKey: u.key, sender: u.from, selectedOptionLocalIds: u.selected, senderTimestampMs: u.at_ms },
        ]);
        return;
      case 'call':
        CallStore.emit('incoming', { id: u.id, isGroup: false, isVideo: !!u.is_video, offerTime: u.at, peerJid: u.from, outgoing: false });
        return;
      case 'directory':
        return People.applyDirectory(u);
      case 'group_action':
        return People.applyGroupAction(u);
      default:
        return;
    }
  }

  // ------------------------------------------------------------------ own actions on messages
  /** React to a message ('' removes): the server is told, the page shows it at once. */
  async function react(msg, text) {
    await Server.call('react', { key: msg.id._serialized, reaction: text });
    ReactionStore.emit('add', [
      {
        id: `true_${msg.id.remote._serialized}_${MsgKey.newId()}`,
        parentMsgKey: msg.id._serialized,
        reactionText: text,
        senderUserJid: Conn.me._serialized,
        orphan: 0,
        orphanReason: null,
        read: true,
        timestamp: Date.now(),
      },
    ]);
    return 'OK';
  }

  /** Edit a text we sent: the server checks the window too; the page updates the message. */
  async function editOwn(msg, body) {
    await Server.call('edit_own', { key: msg.id._serialized, body });
    msg.body = body;
    msg.latestEditMsgKey = new MsgKey({ fromMe: true, remote: msg.id.remote, id: MsgKey.newId() });
    msg.latestEditSenderTimestampMs = Date.now();
    await DB.write(['messages'], (s) => s.messages.put(msg.toRecord()));
    MsgStore.emit('change:latestEditMsgKey', msg, msg.latestEditMsgKey);
    render();
    return msg.latestEditMsgKey;
  }

  /** Delete a message we sent for everyone: it stays in the chat as "this message was deleted". */
  async function revokeOwn(msg) {
    await Server.call('revoke_own', { key: msg.id._serialized });
    msg.type = 'revoked';
    msg.body = '';
    await DB.write(['messages'], (s) => s.messages.put(msg.toRecord()));
    render();
  }

  /** Delete a message on this device only (the server keeps a note for the phone's sync). */
  async function deleteLocal(msg) {
    MsgStore.remove(msg);
    await DB.write(['messages'], (s) => s.messages.delete(msg.id._serialized));
    Server.post({ t: 'delete_for_me', key: msg.id._serialized });
    render();
  }

  /** Our chat state (typing…, recording…, paused) in a chat, as the contact will see it. */
  function chatState(chat, state) {
    Server.post({ t: 'chatstate', chat: chat.id._serialized, state });
    return Promise.resolve();
  }

  async function markRead(chatWid) {
    const chat = ChatStore.get(chatWid);
    if (!chat) throw new Error(`Chat not found for ${chatWid}`);
    const n = chat.unreadCount;
    if (n > 0) {
      const unread = MsgStore.forChat(chat.id).filter((m) => !m.id.fromMe).slice(-n);
      chat.unreadCount = 0;
      await DB.write(['chats'], (s) => s.chats.put(chat.toRecord()));
      unreadChanged(chat, n);
      Server.post({ t: 'read', chat: chat.id._serialized, ids: unread.map((m) => m.id.id) });
      render();
    }
    return { wid: chat.id, unreadCount: 0 };
  }

  // ------------------------------------------------------------------ people and groups
  /*
   * Contacts, the block list and groups come from the server: the account's whole directory at
   * welcome and after every change (`directory`); a group change also comes as a `group_action`,
   * the notification the real client hands to updateDBForGroupAction (GroupActions 'action').
   */
  const People = (() => {
    class ContactModel {
      constructor(rec) {
        this.id = Wid.parse(rec.id);
        this.name = rec.name || undefined;
        this.shortName = rec.name ? rec.name.split(' ')[0] : undefined;
        this.pushname = rec.pushname || undefined;
        this.isBusiness = !!rec.isBusiness;
        this.verifiedName = rec.isBusiness ? rec.pushname || undefined : undefined;
        this.isMyContact = !!rec.isMyContact;
        this.isUser = true;
        this.isGroup = false;
        this.isWAContact = true;
      }
      get formattedName() {
        return this.name || this.pushname || `+${this.id.user}`;
      }
    }
    class ParticipantModel {
      constructor(p) {
        this.id = Wid.parse(p.id);
        this.isSuperAdmin = !!p.isSuperAdmin;
        this.isAdmin = !!p.isAdmin || this.isSuperAdmin;
      }
    }
    class ParticipantCollection extends Collection {
      mine() {
        return Conn.me ? this.get(Conn.me) : undefined;
      }
      iAmMember() {
        return !!this.mine();
      }
      iAmAdmin() {
        return !!this.mine() && this.mine().isAdmin;
      }
      iAmSuperAdmin() {
        return !!this.mine() && this.mine().isSuperAdmin;
      }
      canAdd(p) {
        return this.iAmAdmin() && !this.get(p.id);
      }
      canRemove(p) {
        const m = this.get(p.id);
        return this.iAmAdmin() && !!m && !m.isSuperAdmin;
      }
      canPromote(p) {
        const m = this.get(p.id);
        return this.iAmAdmin() && !!m && !m.isAdmin;
      }
      canDemote(p) {
        const m = this.get(p.id);
        return this.iAmAdmin() && !!m && m.isAdmin && !m.isSuperAdmin;
      }
    }
    class GroupMetadata {
      constructor(rec) {
        this.id = Wid.parse(rec.id);
        this.participants = new ParticipantCollection();
        this.pastParticipants = new Collection();
        this.update(rec);
      }
      update(rec) {
        this.subject = rec.subject;
        this.desc = rec.desc || undefined;
        this.owner = rec.owner ? Wid.parse(rec.owner) : undefined;
        this.creation = rec.creation;
        this.memberAddMode = 'admin_add';
        this.groupType = 'DEFAULT';
        this.stale = false;
        this.participants.reset();
        for (const p of rec.participants || []) this.participants.add(new ParticipantModel(p), { silent: true });
      }
    }
    const ContactStore = new Collection();
    const BlocklistStore = new Collection();
    const GroupMetadataStore = new Collection();
    GroupMetadataStore.find = async (id) => {
      const meta = GroupMetadataStore.get(id);
      if (!meta) throw new Error(`group ${id} not found`);
      return meta;
    };
    const GroupActions = new Emitter(); // 'action' (notification, {action, participants})
    Object.defineProperty(ChatModel.prototype, 'groupMetadata', {
      get() {
        return this.isGroup ? GroupMetadataStore.get(this.id) : undefined;
      },
    });

    /** The group's metadata and chat, made or brought up to date. */
    function applyGroup(rec) {
      let meta = GroupMetadataStore.get(rec.id);
      if (meta) meta.update(rec);
      else GroupMetadataStore.add((meta = new GroupMetadata(rec)), { silent: true });
      const chat = ChatStore.get(rec.id);
      if (chat) {
        chat.name = chat.formattedTitle = rec.subject;
      } else {
        ChatStore.add(new ChatModel({ id: rec.id, name: rec.subject, t: rec.creation }));
      }
      render();
      return meta;
    }
    function setBlocked(ids) {
      BlocklistStore.reset();
      for (const id of ids || []) BlocklistStore.add({ id: Wid.parse(id) }, { silent: true });
    }
    function applyDirectory(d) {
      ContactStore.reset();
      for (const c of d.contacts || []) ContactStore.add(new ContactModel(c), { silent: true });
      setBlocked(d.blocked);
      for (const g of d.groups || []) applyGroup(g);
    }
    function applyGroupAction(u) {
      const meta = applyGroup(u.group);
      const notification = { chatId: meta.id, author: Wid.parse(u.author) || undefined, pushname: u.author_push_name || undefined };
      GroupActions.emit('action', notification, { action: u.action, participants: (u.participants || []).map((p) => Wid.parse(p)) });
    }
    Cmd.on('logout', () => {
      ContactStore.reset();
      BlocklistStore.reset();
      GroupMetadataStore.reset();
    });

    const Groups = {
      async create(subject, wids) {
        const r = await Server.call('group_create', { subject, participants: wids.map(String) });
        applyGroup(r.group);
        return { gid: Wid.parse(r.gid), participants: r.participants };
      },
      async change(gid, action, wids) {
        const r = await Server.call('group_change', { gid: String(gid), action, participants: wids.map(String) });
        applyGroup(r.group);
        return { status: 200, participants: r.participants };
      },
      async leave(gid) {
        applyGroup((await Server.call('group_leave', { gid: String(gid) })).group);
        return { status: 200 };
      },
      async inviteCode(gid, revoke) {
        return (await Server.call('group_invite', { gid: String(gid), revoke: !!revoke })).code;
      },
    };
    const Blocklist = {
      async set(wid, blocked) {
        setBlocked((await Server.call('block', { id: String(wid), blocked: !!blocked })).blocked);
      },
    };
    const ProfilePicThumbStore = {
      async find(wid) {
        const r = await Server.call('profile_pic', { id: String(wid) });
        return r ? { id: Wid.parse(r.id), imgFull: r.imgFull, img: r.img, tag: r.tag } : undefined;
      },
    };
    return {
      applyDirectory,
      applyGroupAction,
      modules: {
        ContactModel, ParticipantModel, GroupMetadata, ContactStore, BlocklistStore, GroupMetadataStore,
        GroupActions, Groups, Blocklist, ProfilePicThumbStore,
      },
    };
  })();

  // ------------------------------------------------------------------ hostile page (tests)
  /*
   * POST /control/page-emit makes this page emit WPP events with any payload, through wa-js's
   * listeners (what the page's own code could do) or by calling the `__wamcEmit` binding itself,
   * plus named presets for what JSON cannot carry (throwing getters, NaN, cycles, 8 MB bodies,
   * a frame calling the binding). The report counts listener calls that threw.
   */
  const MB = 1024 * 1024;
  const CHAT = '5511955550000@c.us';
  let hostileSeq = 0;
  function hostileKey(fromMe = false) {
    const id = `3EB0BAD${(++hostileSeq).toString(16).toUpperCase().padStart(8, '0')}`;
    return { fromMe, remote: CHAT, id, _serialized: `${fromMe}_${CHAT}_${id}` };
  }
  function hostileMsg(extra = {}) {
    const to = Conn.me ? Conn.me._serialized : '5511900000000@c.us';
    return { id: hostileKey(), from: CHAT, to, body: 'hostile', type: 'chat', t: now(), ack: 1, ...extra };
  }
  function throwing() {
    return new Proxy({}, {
      get() { throw new Error('getter says no'); },
      has() { throw new Error('has says no'); },
      ownKeys() { throw new Error('ownKeys says no'); },
      getPrototypeOf() { throw new Error('prototype says no'); },
    });
  }
  function withThrowingGetter(obj, key) {
    Object.defineProperty(obj, key, { get() { throw new Error(`${key} getter says no`); }, enumerable: true });
    return obj;
  }
  function nested(depth) {
    let v = { x: 1 };
    for (let i = 0; i < depth; i += 1) v = i % 2 ? { v } : [v];
    return v;
  }
  function cyclic() {
    const o = { _serialized: null, id: null };
    o.id = o;
    o.remote = o;
    o._serialized = o;
    return o;
  }
  const WPP_EVENTS = [
    'chat.new_message', 'chat.msg_ack_change', 'chat.msg_revoke', 'chat.msg_edited',
    'chat.new_reaction', 'chat.unread_count_changed', 'chat.presence_change', 'call.incoming_call',
    'chat.poll_response', 'conn.auth_code_change', 'conn.main_loaded', 'conn.stream_mode_changed', 'conn.logout_reason',
    'conn.backend_event',
  ];
  const HOSTILE_PRESETS = {
    /** Every event kind with every kind of garbage as its whole payload. */
    garbage_payloads: () => {
      const out = [];
      const junk = [null, undefined, 0, NaN, -Infinity, '', 'abc', true, [], [1, 'x'], {}, throwing(),
        cyclic(), nested(5000), Symbol('s'), () => 1, 10n ** 30n, new Date(NaN)];
      for (const name of WPP_EVENTS) for (const j of junk) out.push([name, j]);
      return out;
    },
    /** Plausible shapes whose fields have the wrong types. */
    wrong_types: () => {
      const k = hostileKey();
      return [
        ['chat.new_message', hostileMsg({ id: 42 })],
        ['chat.new_message', hostileMsg({ id: { _serialized: 42, remote: [] } })],
        ['chat.new_message', hostileMsg({ body: { toString() { throw new Error('no'); } } })],
        ['chat.new_message', hostileMsg({ t: 'yesterday', ack: 'read', type: { x: 1 }, from: 7, to: [] })],
        ['chat.new_message', hostileMsg({ id: { ...hostileKey(), _serialized: 'x'.repeat(100000) } })],
        ['chat.msg_ack_change', { ack: 'abc', chat: CHAT, ids: [k] }],
        ['chat.msg_ack_change', { ack: 99, chat: CHAT, ids: [k] }],
        ['chat.msg_ack_change', { ack: 3, chat: 12, ids: 'false_x_y' }],
        ['chat.msg_ack_change', { ack: 3, chat: CHAT, ids: [null, 5, {}, throwing()] }],
        ['chat.msg_revoke', { refId: 'not a key object', from: 5, author: {} }],
        ['chat.msg_revoke', { refId: { _serialized: [] } }],
        ['chat.msg_edited', { msg: 'text', id: 5 }],
        ['chat.msg_edited', { msg: { id: k, body: 123456, latestEditSenderTimestampMs: 'later' } }],
        ['chat.new_reaction', { msgId: k, reactionText: { a: 1 }, timestamp: 'now', sender: 9 }],
        ['chat.new_reaction', { msgId: 12345 }],
        ['chat.poll_response', { msgId: k, selectedOptions: 'Pizza', sender: 9, timestamp: 'now' }],
        ['chat.poll_response', { msgId: k, selectedOptions: [null, 5, { name: {} }, throwing(), { name: 'x'.repeat(5000) }] }],
        ['chat.unread_count_changed', { chat: { id: CHAT, unreadCount: 'abc' } }],
        ['chat.unread_count_changed', { chat: { id: CHAT }, unreadCount: -5 }],
        ['chat.unread_count_changed', { chat: { id: CHAT }, unreadCount: NaN }],
        ['chat.unread_count_changed', { chat: 'abc', unreadCount: 3 }],
        ['chat.presence_change', { id: CHAT, state: { x: 1 }, isOnline: 'maybe', participants: 'all' }],
        ['chat.presence_change', { id: CHAT, participants: [null, 1, { id: 5 }, throwing(), { id: CHAT, state: [] }] }],
        ['call.incoming_call', { id: { x: 1 }, sender: 5, isVideo: 'yes', offerTime: 'soon' }],
        ['call.incoming_call', { id: NaN }],
        ['conn.logout_reason', { reason: 'object' }],
        ['conn.backend_event', ['storage_initialization_error']],
      ];
    },
    /** Fields that are null or missing everywhere. */
    nulls: () => [
      ['chat.new_message', { id: null, from: null, to: null, body: null, t: null }],
      ['chat.new_message', { id: { remote: null, id: null, _serialized: null } }],
      ['chat.msg_ack_change', { ack: null, chat: null, ids: null }],
      ['chat.msg_revoke', { refId: null }],
      ['chat.msg_edited', { msg: null }],
      ['chat.new_reaction', { msgId: null, id: null }],
      ['chat.unread_count_changed', { chat: null, unreadCount: null }],
      ['chat.presence_change', { id: null, participants: null }],
      ['call.incoming_call', { id: null }],
      ['conn.logout_reason', null],
      ['conn.backend_event', null],
    ],
    /** Getters and Proxies that throw, inside otherwise plausible events. */
    throwing_getters: () => [
      ['chat.new_message', withThrowingGetter(hostileMsg(), 'body')],
      ['chat.new_message', withThrowingGetter(hostileMsg(), 'id')],
      ['chat.new_message', hostileMsg({ id: throwing() })],
      ['chat.msg_ack_change', withThrowingGetter({ chat: CHAT, ids: [hostileKey()] }, 'ack')],
      ['chat.msg_revoke', { refId: throwing() }],
      ['chat.msg_edited', { msg: withThrowingGetter(hostileMsg(), 'latestEditSenderTimestampMs') }],
      ['chat.new_reaction', { msgId: hostileKey(), id: throwing(), sender: throwing() }],
      ['chat.poll_response', { msgId: throwing(), selectedOptions: throwing() }],
      ['chat.unread_count_changed', { chat: throwing() }],
      ['chat.presence_change', withThrowingGetter({ id: CHAT }, 'participants')],
      ['call.incoming_call', withThrowingGetter({ id: 'CALL1' }, 'sender')],
      ['conn.logout_reason', { toString() { throw new Error('no'); } }],
      ['conn.backend_event', throwing()],
    ],
    /** NaN and infinities where numbers go. */
    nan: () => [
      ['chat.new_message', hostileMsg({ t: NaN, ack: Infinity })],
      ['chat.msg_ack_change', { ack: NaN, chat: CHAT, ids: [hostileKey()] }],
      ['chat.new_reaction', { msgId: hostileKey(), timestamp: -Infinity, reactionText: NaN }],
      ['chat.unread_count_changed', { chat: { id: CHAT }, unreadCount: Infinity }],
      ['call.incoming_call', { id: 'CALL2', offerTime: NaN }],
    ],
    /** Cycles and very deep nesting in every field. */
    cycles: () => [
      ['chat.new_message', cyclic()],
      ['chat.new_message', hostileMsg({ id: cyclic(), body: nested(10000) })],
      ['chat.msg_ack_change', { ack: 2, chat: cyclic(), ids: [cyclic(), nested(10000)] }],
      ['chat.presence_change', { id: CHAT, participants: [cyclic(), nested(10000)] }],
    ],
    /** An 8 MB body (kept, cut at 64 KiB) in a new message and in an edit. */
    huge_body: () => {
      const big = 'é'.repeat(4 * MB); // 8 MB of UTF-8
      const msg = hostileMsg({ body: big });
      return [
        ['chat.new_message', msg],
        ['chat.msg_edited', { msg: { ...hostileMsg({ body: big }), id: msg.id }, id: msg.id._serialized }],
      ];
    },
    /** Valid new messages, `count` of them at once. */
    flood: (count) => Array.from({ length: count || 1000 }, (_, i) => ['chat.new_message', hostileMsg({ body: `flood ${i}` })]),
  };
  /** Calls the binding directly, bypassing the bridge: what a page script can always do. */
  function bindingGarbage() {
    const big = 'x'.repeat(8 * MB);
    const key = hostileKey()._serialized;
    return [
      ['message', { id: key, chat_id: CHAT, body: big, timestamp: 'now', ack: 'x', from_me: 'yes' }],
      ['message', { id: 5, chat_id: null }],
      ['message', 'not an object'],
      ['message', [1, 2, 3]],
      ['ack', { ack: 'abc', ids: key }],
      ['ack', { ack: 3, ids: [5, null] }],
      ['unread', { chat_id: CHAT, unread: 'abc' }],
      ['unread', { chat_id: CHAT, unread: 1e300 }],
      ['presence', { chat_id: CHAT, participants: [[[[['deep']]]]], state: 7 }],
      ['call', { id: {}, timestamp: 'soon' }],
      ['revoke', { id: null }],
      ['edit', { id: key, body: { nested: true } }],
      ['reaction', { id: [], reaction: 5 }],
      ['snapshot', { ready: 'yes', authenticated: [], qr: { x: 1 }, mode: 5, me: 7 }],
      ['logout_reason', { reason: ['x'] }],
      ['backend_event', { event: null }],
      ['bridge_error', 'x'],
      ['no_such_event', {}],
      [42, {}],
      [null, null],
    ];
  }
  async function frameCallsBinding(payload) {
    const frame = document.createElement('iframe');
    frame.src = '/sim/frame';
    frame.style.display = 'none';
    const loaded = new Promise((resolve) => frame.addEventListener('load', resolve, { once: true }));
    document.body.append(frame);
    await loaded;
    const fn = frame.contentWindow.__wamcEmit;
    if (typeof fn !== 'function') return false;
    await fn('message', payload);
    return true;
  }
  async function pageEmit(spec) {
    const report = { emitted: 0, escaped: 0, listeners: {}, binding_calls: 0, binding_errors: 0, errors: [] };
    const W = window.WPP;
    const fire = (name, payload) => {
      const fns = W && typeof W.listeners === 'function' ? W.listeners(name) : [];
      report.listeners[name] = fns.length;
      report.emitted += 1;
      for (const fn of fns) {
        try {
          const r = fn(payload);
          if (r && typeof r.catch === 'function') r.catch(() => { report.escaped += 1; });
        } catch (err) {
          report.escaped += 1;
          if (report.errors.length < 10) report.errors.push(`${name}: ${err}`);
        }
      }
    };
    const call = async (name, payload) => {
      report.binding_calls += 1;
      try {
        await window.__wamcEmit(name, payload);
      } catch (err) {
        report.binding_errors += 1;
      }
    };
    for (const e of spec.events || []) {
      if (spec.via === 'binding') await call(e.name, e.data);
      else fire(e.name, e.data);
    }
    for (const preset of spec.presets || []) {
      if (preset === 'binding_garbage') {
        for (const [name, payload] of bindingGarbage()) await call(name, payload);
      } else if (preset === 'iframe_binding') {
        report.iframe_binding = await frameCallsBinding({ ...(spec.frame_message || {}) });
      } else if (HOSTILE_PRESETS[preset]) {
        for (const [name, payload] of HOSTILE_PRESETS[preset](spec.count)) fire(name, payload);
      } else {
        report.errors.push(`unknown preset ${preset}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 0)); // let async listeners settle
    return report;
  }
  async function onPageEmit(msg) {
    let report;
    try {
      report = await pageEmit(msg.spec || {});
    } catch (err) {
      report = { error: String(err) };
    }
    Server.post({ t: 'page_emit_done', nonce: msg.nonce, report });
  }

  // ------------------------------------------------------------------ UI
  let renderTimer = null;
  let activeChat = null;
  function render() {
    if (renderTimer === null) renderTimer = setTimeout(draw, 50);
  }
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) el.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c != null) el.append(c);
    return el;
  }
  function draw() {
    renderTimer = null;
    const app = document.getElementById('app');
    const status = document.getElementById('status');
    if (!app || !status) return;
    const who = Store.login ? `+${Store.login.phone}` : 'not linked';
    status.textContent = `${who} · ${Stream.mode}${NetworkStatus.online ? ' · online' : ''}`;
    if (!Store.login) {
      const auth = Conn.ref ? [Conn.ref, Conn.keys.static, Conn.keys.identity, Conn.keys.secret].join(',') : null;
      app.replaceChildren(
        h(
          'div',
          { class: 'card', id: 'login' },
          h('h2', {}, 'Use WhatsApp on your computer'),
          auth
            ? [h('p', {}, 'Scan this code with your phone (or POST it to /control/scan):'), h('div', { class: 'qr', id: 'qr', 'data-ref': auth }, auth)]
            : Socket.state === 'UNPAIRED_IDLE'
              ? h('button', { id: 'reload-qr', onclick: () => Cmd.refreshQR() }, 'Click to reload QR code')
              : h('p', {}, 'Connecting…'),
        ),
      );
      return;
    }
    const chats = ChatStore.getModelsArray().sort((a, b) => b.t - a.t);
    if (!activeChat && chats.length) activeChat = chats[0].id._serialized;
    const msgs = activeChat ? MsgStore.forChat(activeChat).slice(-100) : [];
    const ui = layout(app);
    sync(ui.chats, chats.map(chatRow));
    sync(ui.list, msgs.map(msgRow));
    ui.form.hidden = !activeChat;
    ui.empty.hidden = Boolean(activeChat);
  }
  // The chat list and the thread keep their elements between draws, keyed by what they show:
  // a new message adds one row and moves one chat, as in WhatsApp Web's own (virtualised) lists,
  // instead of rebuilding a hundred rows per event.
  let view = null;
  const chatRows = new Map();
  const msgRows = new Map();
  function layout(app) {
    if (view && view.root.parentNode === app) return view;
    const input = h('input', { name: 'body', placeholder: 'Type a message', autocomplete: 'off' });
    const form = h(
      'form',
      {
        onsubmit: (event) => {
          event.preventDefault();
          if (input.value && activeChat) sendText(Wid.parse(activeChat), input.value)[0].catch(console.error);
          input.value = '';
        },
      },
      input,
      h('button', { type: 'submit' }, 'Send'),
    );
    const chats = h('div', { class: 'chats' });
    const list = h('div', { class: 'messages' });
    const empty = h('p', {}, 'No chats yet.');
    const root = h('div', { class: 'layout' }, chats, h('div', { class: 'thread' }, list, form, empty));
    app.replaceChildren(root);
    view = { root, chats, list, form, empty };
    return view;
  }
  function keyed(cache, key, sig, build) {
    const hit = cache.get(key);
    if (hit && hit.sig === sig) return hit.el;
    const el = build();
    cache.set(key, { sig, el });
    return el;
  }
  function chatRow(c) {
    const id = c.id._serialized;
    const active = id === activeChat;
    return keyed(chatRows, id, `${c.formattedTitle}|${c.unreadCount}|${active}`, () =>
      h(
        'button',
        {
          class: active ? 'chat active' : 'chat',
          onclick: () => {
            activeChat = id;
            draw();
          },
        },
        c.formattedTitle,
        c.unreadCount ? h('span', { class: 'unread' }, String(c.unreadCount)) : null,
      ),
    );
  }
  function msgRow(m) {
    const sig = `${m.type}|${m.body}|${m.ack}|${Boolean(m.latestEditMsgKey)}`;
    return keyed(msgRows, m.id._serialized, sig, () =>
      h(
        'div',
        { class: m.id.fromMe ? 'msg out' : 'msg' },
        m.type === 'revoked' ? h('em', {}, 'This message was deleted') : m.body,
        h('div', { class: 'meta' }, `${new Date(m.t * 1000).toLocaleTimeString()}${m.latestEditMsgKey ? ' · edited' : ''}${m.id.fromMe ? ` · ack ${m.ack}` : ''}`),
      ),
    );
  }
  /** Make ``parent``'s children exactly ``nodes``, moving only what changed. */
  function sync(parent, nodes) {
    const want = new Set(nodes);
    for (const child of [...parent.children]) if (!want.has(child)) child.remove();
    nodes.forEach((node, i) => {
      const at = parent.children[i];
      if (at !== node) parent.insertBefore(node, at || null);
    });
    for (const cache of [chatRows, msgRows]) {
      if (cache.size > 2000) for (const [k, v] of cache) if (!v.el.isConnected) cache.delete(k);
    }
  }

  // ------------------------------------------------------------------ boot
  const modules = {
    VERSION,
    ACK,
    Wid,
    MsgKey,
    MsgModel,
    ChatModel,
    Conn,
    Stream,
    Socket,
    Cmd,
    NetworkStatus,
    ChatStore,
    MsgStore,
    PresenceStore,
    ReactionStore,
    PollVoteStore,
    CallStore,
    LidPnCache,
    Chats: { markRead },
    Msgs: { sendText, sendMsg, react, editOwn, revokeOwn, deleteLocal, sendMedia, downloadMedia, forwardFields },
    ChatPresence: {
      markComposing: (chat) => chatState(chat, 'composing'),
      markRecording: (chat) => chatState(chat, 'recording'),
      markPaused: (chat) => chatState(chat, 'paused'),
    },
    Contacts: {
      /** Is this number on WhatsApp? (a server query) */
      queryExists: (wid) => Server.call('exists', { phone: wid.user }).then((r) => !!r.exists),
      /** The LID of a phone number, asked of the server (and remembered); undefined if none. */
      async queryLid(wid) {
        const r = await Server.call('pn_lid', { id: wid._serialized });
        if (!r || !r.lid) return undefined;
        if (LidPnCache.add(r.lid, wid._serialized)) {
          await DB.write(['meta'], (s) => s.meta.put(LidPnCache.toRecord(), 'lidpn'));
        }
        return Wid.parse(r.lid);
      },
    },
    LinkCode: {
      request: (phone) => Server.call('link_code', { phone }).then((r) => r.code),
    },
  };
  Object.assign(modules, People.modules); // contacts, block list, groups

  function expose() {
    window.Debug = { VERSION };
    window.__simWA = modules;
    window.dispatchEvent(new Event('simwa:ready'));
  }

  async function boot() {
    try {
      await DB.open();
      const saved = await DB.readAll();
      Store.device = saved.device;
      if (!Store.device) {
        Store.device = { id: hex(randomBytes(16)), keys: newKeys() };
        await DB.write(['meta'], (s) => s.meta.put(Store.device, 'device'), 'strict');
      }
      Store.login = saved.login || null;
      if (Store.login && localStorage.getItem(LAST_WID) !== `${Store.login.phone}@c.us`) {
        // The profile's two halves disagree (the browser died before localStorage reached the
        // disk): like WhatsApp Web, start over as an unlinked device.
        console.warn('[whatsapp] login incomplete in this profile: starting unlinked');
        await wipeLogin();
        saved.lidpn = saved.chats = saved.messages = null;
      }
      for (const [lid, pn] of saved.lidpn || []) LidPnCache.add(lid, pn);
      for (const c of saved.chats || []) ChatStore.add(new ChatModel(c), { silent: true });
      const records = (saved.messages || []).sort((a, b) => a.t - b.t || a.rowId - b.rowId);
      for (const r of records) {
        MsgStore.add(new MsgModel(r), { silent: true });
        Store.rowId = Math.max(Store.rowId, r.rowId || 0);
      }
    } catch (err) {
      console.error('[whatsapp] storage initialization failed', err);
      expose();
      Cmd.emit('storage_error', err);
      document.getElementById('app').textContent = `Storage error: ${err}`;
      return;
    }
    Conn.keys = Store.device.keys;
    if (Store.login) {
      Conn.me = new Wid(`${Store.login.phone}@c.us`);
      Conn.connected = true;
    }
    // Booted, not yet connected: a linked device shows "loading your chats", a new one the QR screen.
    Stream.mode = Store.login ? 'SYNCING' : 'QR';
    expose();
    render();
    Server.connect();
  }

  boot();
})();
