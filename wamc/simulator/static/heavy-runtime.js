/*
 * Runtime of the simulator's heavy page (`wamc simulator --weight heavy`). Not WhatsApp's code.
 *
 * wamc/simulator/heavy.py serves it inside a generated multi-megabyte bundle (/heavy.js): this
 * file's functions, then thousands of generated modules registered with __d (the way WhatsApp
 * Web's bundles register theirs), then a call to heavyMain(config). heavyMain requires every
 * module (V8 parses and compiles them, their classes and long-lived objects stay on the heap),
 * then keeps a whole account — ~300 chats and ~20,000 messages — in IndexedDB (seeded once per
 * profile, deterministically) and in memory, renders the chat list, and appends every message
 * the page's MsgStore announces (incoming or sent) to the model and to IndexedDB.
 * It reports what it holds to the simulator (POST /sim/heavy/report; GET /control/heavy).
 * It is independent of whatsapp.js: it only listens to its modules (window.__simWA).
 */

const __defs = new Map();
const __cache = new Map();
const __kept = [];

/** Register a module (WhatsApp Web's bundles call their loader the same way). */
function __d(name, deps, factory) {
  __defs.set(name, { deps, factory });
}

/** Require a module: run its factory once, with its dependencies first. */
function __r(name) {
  if (__cache.has(name)) return __cache.get(name);
  const def = __defs.get(name);
  if (!def) throw new Error(`heavy: no module ${name}`);
  const exports = {};
  __cache.set(name, exports);
  for (const dep of def.deps) __r(dep);
  def.factory(__r, exports, __runtime);
  return exports;
}

/** What modules hand to their init(): a place to keep long-lived objects, like app singletons. */
const __runtime = {
  keep(name, value) {
    __kept.push([name, value]);
    return value;
  },
};

// ------------------------------------------------------------------ deterministic data
function heavyRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEAVY_WORDS = (
  'ok sure thanks tomorrow meeting lunch call later today price order delivery address photo ' +
  'invoice payment confirmed sorry late traffic home office weekend party birthday congrats ' +
  'please send the file document report ready yes no maybe great good morning night see you ' +
  'where when how much can we talk about project client team update schedule ticket flight'
).split(' ');

function heavySentence(rand, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(HEAVY_WORDS[Math.floor(rand() * HEAVY_WORDS.length)]);
  return out.join(' ');
}

function heavyThumb(rand, bytes) {
  // A JPEG thumbnail as WhatsApp keeps it inline in a media message: base64 text.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let s = '/9j/4AAQSkZJRgABAQ';
  for (let i = 0; i < (bytes * 4) / 3; i++) s += alphabet[Math.floor(rand() * 64)];
  return s;
}

/** The seeded account: chat and message records as they sit in IndexedDB. */
function heavySeed(cfg) {
  const rand = heavyRandom(cfg.seed);
  const chats = [];
  const messages = [];
  const t0 = 1764000000;
  for (let c = 0; c < cfg.chats; c++) {
    const group = rand() < 0.2;
    const id = group ? `1203630${String(40000 + c).padStart(11, '0')}@g.us` : `55119${String(70000000 + c)}@c.us`;
    const participants = [];
    if (group) for (let p = 0; p < 3 + Math.floor(rand() * 40); p++) participants.push(`55219${String(10000000 + Math.floor(rand() * 8e7))}@c.us`);
    chats.push({ id, name: heavySentence(rand, 2 + Math.floor(rand() * 2)), group, participants, t: 0, unreadCount: 0, muteExpiration: 0, pin: c < 3 ? c + 1 : 0, archive: rand() < 0.05, labels: rand() < 0.1 ? ['1', '4'] : [] });
  }
  for (let m = 0; m < cfg.messages; m++) {
    // Chats follow a skewed distribution: a few busy chats, a long tail.
    const chat = chats[Math.floor(Math.pow(rand(), 2.2) * chats.length)];
    const fromMe = rand() < 0.4;
    const media = rand() < cfg.mediaShare;
    const t = t0 + m * 37 + Math.floor(rand() * 30);
    const rec = {
      key: `${fromMe}_${chat.id}_3EB0${(m * 2654435761 >>> 0).toString(16).toUpperCase().padStart(8, '0')}${m}`,
      chat: chat.id,
      seq: m,
      fromMe,
      author: chat.group && !fromMe ? chat.participants[Math.floor(rand() * chat.participants.length)] : undefined,
      type: media ? (rand() < 0.8 ? 'image' : 'document') : 'chat',
      body: heavySentence(rand, 3 + Math.floor(Math.pow(rand(), 3) * 80)),
      t,
      ack: fromMe ? 1 + Math.floor(rand() * 3) : 0,
      star: rand() < 0.01,
      quoted: rand() < 0.08 ? Math.max(0, m - 1 - Math.floor(rand() * 20)) : undefined,
      reactions: rand() < 0.05 ? [['👍', 1], ['❤️', Math.floor(rand() * 3)]] : undefined,
    };
    if (media) {
      rec.mimetype = rec.type === 'image' ? 'image/jpeg' : 'application/pdf';
      rec.size = 20000 + Math.floor(rand() * 4e6);
      rec.mediaKey = heavyThumb(rand, 32);
      rec.filehash = heavyThumb(rand, 32);
      rec.directPath = `/v/t62.7118-24/${Math.floor(rand() * 1e9)}_n.enc?ccb=11-4&oh=${heavyThumb(rand, 12)}`;
      rec.thumb = heavyThumb(rand, cfg.thumbBytes);
    }
    chat.t = Math.max(chat.t, t);
    if (!fromMe && m > cfg.messages - 400) chat.unreadCount += 1;
    messages.push(rec);
  }
  return { chats, messages };
}

// ------------------------------------------------------------------ the account in memory
/** Like the real client's models: attributes, the previous ones, derived fields, listeners. */
class HeavyMsg {
  constructor(rec) {
    Object.assign(this, rec);
    this.id = { fromMe: rec.fromMe, remote: rec.chat, id: rec.key.split('_').pop(), _serialized: rec.key };
    this.attributes = { ...rec, id: this.id, isNewMsg: false, broadcast: false, isForwarded: false, forwardingScore: 0, ephemeralDuration: 0, kicNotified: false, isVcardOverMmsDocument: false, labels: [], mentionedJidList: [], groupMentions: [], links: [], pollOptions: undefined };
    this._previousAttributes = { ack: rec.ack, star: rec.star, body: rec.body };
    this._events = { 'change:ack': [], 'change:star': [] };
    this.preview = rec.type === 'chat' ? rec.body.slice(0, 60) : `📎 ${rec.type}`;
    this.renderKey = `${rec.chat}:${rec.seq}`;
  }
}

class HeavyChat {
  constructor(rec) {
    Object.assign(this, rec);
    this.msgs = [];
    this.row = null;
    this.search = `${rec.name} ${rec.id}`.toLowerCase();
  }
  get last() {
    return this.msgs[this.msgs.length - 1];
  }
}

const HeavyAccount = {
  chats: new Map(),
  byKey: new Map(),
  count: 0,
  add(rec) {
    if (this.byKey.has(rec.key)) return null;
    let chat = this.chats.get(rec.chat);
    if (!chat) {
      chat = new HeavyChat({ id: rec.chat, name: rec.chat.split('@')[0], group: false, participants: [], t: rec.t, unreadCount: 0, muteExpiration: 0, pin: 0, archive: false, labels: [] });
      this.chats.set(chat.id, chat);
    }
    const msg = new HeavyMsg(rec);
    chat.msgs.push(msg);
    chat.t = Math.max(chat.t, rec.t);
    this.byKey.set(rec.key, msg);
    this.count += 1;
    return { chat, msg };
  },
};

// ------------------------------------------------------------------ IndexedDB
const HeavyDB = {
  db: null,
  open() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open('wamc-sim-heavy', 1);
      req.onupgradeneeded = () => {
        const db = req.result;
        db.createObjectStore('meta');
        db.createObjectStore('chats', { keyPath: 'id' });
        db.createObjectStore('messages', { keyPath: 'key' }).createIndex('chat', 'chat');
      };
      req.onsuccess = () => resolve((this.db = req.result));
      req.onerror = () => reject(req.error);
    });
  },
  tx(names, mode, fn) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(names, mode, { durability: 'relaxed' });
      const out = {};
      tx.oncomplete = () => resolve(out);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('aborted'));
      fn(Object.fromEntries(names.map((n) => [n, tx.objectStore(n)])), out);
    });
  },
  get(store, key, out, name) {
    const r = store.get(key);
    r.onsuccess = () => (out[name] = r.result);
  },
};

async function heavySeedOnce(cfg) {
  const meta = await HeavyDB.tx(['meta'], 'readonly', (s, out) => {
    HeavyDB.get(s.meta, 'seeded', out, 'seeded');
    HeavyDB.get(s.meta, 'profile', out, 'profile');
  });
  if (meta.seeded === cfg.seed) return { seeded: false, profile: meta.profile };
  const { chats, messages } = heavySeed(cfg);
  const profile = meta.profile || Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  for (let i = 0; i < messages.length; i += 2000) {
    await HeavyDB.tx(['messages'], 'readwrite', (s) => {
      for (const rec of messages.slice(i, i + 2000)) s.messages.put(rec);
    });
  }
  await HeavyDB.tx(['chats', 'meta'], 'readwrite', (s) => {
    for (const c of chats) s.chats.put(c);
    s.meta.put(profile, 'profile');
    s.meta.put(cfg.seed, 'seeded');
  });
  return { seeded: true, profile };
}

async function heavyLoad() {
  const all = await HeavyDB.tx(['chats', 'messages'], 'readonly', (s, out) => {
    s.chats.getAll().onsuccess = (e) => (out.chats = e.target.result);
    s.messages.getAll().onsuccess = (e) => (out.messages = e.target.result);
  });
  for (const c of all.chats) HeavyAccount.chats.set(c.id, new HeavyChat(c));
  all.messages.sort((a, b) => a.t - b.t || a.seq - b.seq);
  for (const rec of all.messages) HeavyAccount.add(rec);
}

// ------------------------------------------------------------------ chat list
function heavyRow(chat) {
  const row = document.createElement('div');
  row.className = 'hc-row';
  row.dataset.chat = chat.id;
  const avatar = document.createElement('div');
  avatar.className = 'hc-avatar';
  avatar.textContent = (chat.name || '?').slice(0, 2).toUpperCase();
  avatar.style.background = `hsl(${(chat.id.length * 47 + chat.id.charCodeAt(5)) % 360} 45% 55%)`;
  const body = document.createElement('div');
  body.className = 'hc-body';
  const title = document.createElement('span');
  title.className = 'hc-title';
  const time = document.createElement('span');
  time.className = 'hc-time';
  const preview = document.createElement('span');
  preview.className = 'hc-preview';
  const badge = document.createElement('span');
  badge.className = 'hc-badge';
  body.append(title, time, preview, badge);
  row.append(avatar, body);
  row.addEventListener('click', () => heavyOpen(chat));
  chat.row = { row, title, time, preview, badge };
  heavyFill(chat);
  return row;
}

function heavyFill(chat) {
  const r = chat.row;
  const last = chat.last;
  r.title.textContent = chat.name || chat.id;
  r.time.textContent = new Date(chat.t * 1000).toISOString().slice(11, 16);
  r.preview.textContent = last ? `${last.fromMe ? '✓ ' : ''}${last.preview}` : '';
  r.badge.textContent = chat.unreadCount ? String(chat.unreadCount) : '';
}

function heavyOpen(chat) {
  const pane = document.getElementById('heavy-thread');
  pane.replaceChildren(
    ...chat.msgs.slice(-40).map((m) => {
      const el = document.createElement('div');
      el.className = m.fromMe ? 'hc-msg out' : 'hc-msg';
      el.textContent = m.body;
      return el;
    }),
  );
}

function heavyRender() {
  let list = document.getElementById('heavy-chats');
  if (!list) {
    const style = document.createElement('style');
    style.textContent =
      '#heavy{display:flex;gap:8px;padding:8px;font:13px system-ui}#heavy-chats{width:320px;max-height:600px;overflow:auto;background:#fff}' +
      '.hc-row{display:flex;gap:8px;padding:6px;border-bottom:1px solid #eee}.hc-avatar{width:36px;height:36px;border-radius:50%;color:#fff;display:grid;place-items:center}' +
      '.hc-body{flex:1;display:grid;grid-template-columns:1fr auto}.hc-preview{color:#667781;overflow:hidden;white-space:nowrap}.hc-badge{color:#25d366}' +
      '#heavy-thread{flex:1;max-height:600px;overflow:auto}.hc-msg{margin:2px;padding:4px;background:#fff}.hc-msg.out{background:#d9fdd3}';
    const root = document.createElement('section');
    root.id = 'heavy';
    list = document.createElement('div');
    list.id = 'heavy-chats';
    const thread = document.createElement('div');
    thread.id = 'heavy-thread';
    root.append(list, thread);
    document.head.append(style);
    document.body.append(root);
  }
  const chats = [...HeavyAccount.chats.values()].sort((a, b) => b.pin - a.pin || b.t - a.t);
  list.replaceChildren(...chats.map(heavyRow));
  if (chats.length) heavyOpen(chats[0]);
}

// ------------------------------------------------------------------ traffic and reports
async function heavyAppend(model) {
  const rec = {
    key: model.id._serialized,
    chat: model.id.remote._serialized,
    seq: HeavyAccount.count,
    fromMe: model.id.fromMe,
    type: model.type,
    body: String(model.body || ''),
    t: model.t,
    ack: model.ack,
    star: false,
  };
  const added = HeavyAccount.add(rec);
  if (!added) return;
  await HeavyDB.tx(['messages', 'chats'], 'readwrite', (s) => {
    s.messages.put(rec);
    const { msgs, row, search, ...chatRec } = added.chat;
    s.chats.put(chatRec);
  });
  const list = document.getElementById('heavy-chats');
  if (!added.chat.row) list.prepend(heavyRow(added.chat));
  else {
    if (!rec.fromMe) added.chat.unreadCount += 1;
    heavyFill(added.chat);
    list.prepend(added.chat.row.row);
  }
}

const HeavyReport = { profile: null, timer: null, loadMs: 0, seeded: false, cfg: null };

function heavyCount(store) {
  return new Promise((resolve) => {
    const r = HeavyDB.db.transaction([store], 'readonly').objectStore(store).count();
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => resolve(null);
  });
}

async function heavySendReport() {
  HeavyReport.timer = null;
  const M = window.__simWA;
  // performance.memory: bucketed (~6 % steps) and cached by Chromium (about 20 minutes) unless
  // --enable-precise-memory-info; the first read comes after the account is loaded.
  const mem = performance.memory || {};
  const report = {
    profile: HeavyReport.profile,
    phone: M && M.Conn && M.Conn.me ? M.Conn.me.user : null,
    idb_messages: await heavyCount('messages'),
    idb_chats: await heavyCount('chats'),
    model_messages: HeavyAccount.count,
    model_chats: HeavyAccount.chats.size,
    dom_nodes: document.getElementsByTagName('*').length,
    heap_used: mem.usedJSHeapSize ?? null,
    heap_total: mem.totalJSHeapSize ?? null,
    modules: __cache.size,
    kept_objects: __kept.length,
    load_ms: HeavyReport.loadMs,
    seeded: HeavyReport.seeded,
  };
  try {
    await fetch('/sim/heavy/report', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(report) });
  } catch (err) {
    console.warn('[heavy] report failed', err);
  }
}

function heavyReportSoon() {
  if (HeavyReport.loadMs === 0) return; // the first report comes once the account is loaded
  if (HeavyReport.timer === null) HeavyReport.timer = setTimeout(heavySendReport, 200);
}

/** Every message the page's MsgStore announces joins the account, after the account loaded. */
function heavyHook(loaded) {
  const M = window.__simWA;
  let chain = loaded;
  M.MsgStore.on('add', (model) => {
    chain = chain.then(() => heavyAppend(model)).then(heavyReportSoon, (err) => console.error('[heavy]', err));
  });
  M.Stream.on('change:mode', (_s, mode) => mode === 'MAIN' && heavyReportSoon());
}

function heavyMain(cfg) {
  const t0 = performance.now();
  HeavyReport.cfg = cfg;
  for (const name of __defs.keys()) __r(name);
  for (const exports of __cache.values()) if (typeof exports.init === 'function') exports.init(__runtime);
  const loaded = (async () => {
    await HeavyDB.open();
    const { seeded, profile } = await heavySeedOnce(cfg);
    HeavyReport.seeded = seeded;
    HeavyReport.profile = profile;
    await heavyLoad();
    if (document.readyState === 'loading') await new Promise((r) => document.addEventListener('DOMContentLoaded', r, { once: true }));
    heavyRender();
    HeavyReport.loadMs = Math.max(1, Math.round(performance.now() - t0));
    heavyReportSoon();
  })();
  loaded.catch((err) => console.error('[heavy] load failed', err));
  if (window.__simWA) heavyHook(loaded);
  else window.addEventListener('simwa:ready', () => heavyHook(loaded), { once: true });
}
