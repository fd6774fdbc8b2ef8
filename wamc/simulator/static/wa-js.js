/*
 * Stand-in for the @wppconnect/wa-js bundle, for the wamc WhatsApp simulator only.
 *
 * Injected the same way as the real bundle (before the page's own scripts), it defines the
 * global WPP with wa-js's names and shapes, waits for the simulator page's modules
 * (window.__simWA, announced by a `simwa:ready` event) the way wa-js waits for WhatsApp's
 * module loader, then turns their events into WPP events. Written for wamc from the public
 * API description; it contains no wa-js code.
 */
(function () {
  'use strict';
  if (typeof window === 'undefined' || (window.WPP && window.WPP.__simulated)) return;

  // ------------------------------------------------------------------ events (eventemitter2-like)
  class EventEmitter {
    constructor() {
      this._events = new Map();
      this._any = [];
      this._max = 10;
    }
    _list(name) {
      if (!this._events.has(name)) this._events.set(name, []);
      return this._events.get(name);
    }
    _add(name, fn, left, prepend) {
      if (typeof fn !== 'function') throw new TypeError('listener must be a function');
      this._list(name)[prepend ? 'unshift' : 'push']({ fn, left });
      return this;
    }
    on(name, fn) {
      return this._add(name, fn, Infinity, false);
    }
    addListener(name, fn) {
      return this.on(name, fn);
    }
    prependListener(name, fn) {
      return this._add(name, fn, Infinity, true);
    }
    many(name, times, fn) {
      return this._add(name, fn, times, false);
    }
    prependMany(name, times, fn) {
      return this._add(name, fn, times, true);
    }
    once(name, fn) {
      return this.many(name, 1, fn);
    }
    prependOnceListener(name, fn) {
      return this.prependMany(name, 1, fn);
    }
    off(name, fn) {
      const list = this._events.get(name) || [];
      const i = list.findIndex((entry) => entry.fn === fn);
      if (i >= 0) list.splice(i, 1);
      return this;
    }
    removeListener(name, fn) {
      return this.off(name, fn);
    }
    removeAllListeners(name) {
      if (name === undefined) this._events.clear();
      else this._events.delete(name);
      return this;
    }
    onAny(fn) {
      this._any.push(fn);
      return this;
    }
    prependAny(fn) {
      this._any.unshift(fn);
      return this;
    }
    offAny(fn) {
      this._any = fn ? this._any.filter((f) => f !== fn) : [];
      return this;
    }
    listenersAny() {
      return [...this._any];
    }
    listeners(name) {
      return (this._events.get(name) || []).map((entry) => entry.fn);
    }
    listenerCount(name) {
      if (name !== undefined) return this.listeners(name).length;
      let n = 0;
      for (const list of this._events.values()) n += list.length;
      return n;
    }
    hasListeners(name) {
      return name === undefined ? this.listenerCount() + this._any.length > 0 : this.listenerCount(name) > 0;
    }
    eventNames() {
      return [...this._events.keys()].filter((name) => this._events.get(name).length > 0);
    }
    setMaxListeners(n) {
      this._max = n;
    }
    getMaxListeners() {
      return this._max;
    }
    _call(fn, args) {
      try {
        return fn.apply(this, args);
      } catch (err) {
        console.error('[WPP] event listener failed', err);
        return undefined;
      }
    }
    _fire(name, args) {
      const results = [];
      for (const fn of [...this._any]) results.push(this._call(fn, [name, ...args]));
      const list = this._events.get(name) || [];
      for (const entry of [...list]) {
        if (--entry.left <= 0) this.off(name, entry.fn);
        results.push(this._call(entry.fn, args));
      }
      return results;
    }
    emit(name, ...args) {
      return this._fire(name, args).length > 0;
    }
    emitAsync(name, ...args) {
      return Promise.all(this._fire(name, args));
    }
    /** Resolves with the event's arguments (an array), like eventemitter2's waitFor. */
    waitFor(name, options) {
      const opts = typeof options === 'number' ? { timeout: options } : options || {};
      return new Promise((resolve, reject) => {
        let timer = null;
        const fn = (...args) => {
          if (opts.filter && !opts.filter(...args)) return;
          this.off(name, fn);
          clearTimeout(timer);
          resolve(args);
        };
        this.on(name, fn);
        if (opts.timeout > 0) {
          timer = setTimeout(() => {
            this.off(name, fn);
            reject(new Error(`timeout waiting for ${name}`));
          }, opts.timeout);
        }
      });
    }
  }

  class WPPError extends Error {
    constructor(code, message, extra) {
      super(message);
      this.name = 'WPPError';
      this.code = code;
      Object.assign(this, extra);
    }
  }

  const ev = new EventEmitter();
  const config = Object.assign(
    { deviceName: false, disableGoogleAnalytics: false, googleAnalyticsId: null, linkPreviewApiServers: null, poweredBy: 'WA-JS', sendStatusToDevice: false, syncAllStatus: true },
    window.WPPConfig || {},
  );

  let M = null; // the page's modules
  let mainReady = false;

  const WPP = {
    __simulated: true,
    version: '4.6.0-sim',
    supportedWhatsappWeb: '>=2.3000.0',
    license: 'Apache-2.0',
    isInjected: false,
    isReady: false,
    isFullReady: false,
    config,
    ev,
  };
  for (const name of [
    'emit', 'emitAsync', 'eventNames', 'getMaxListeners', 'hasListeners', 'listenerCount', 'listeners',
    'listenersAny', 'many', 'off', 'offAny', 'on', 'onAny', 'once', 'prependAny', 'prependListener',
    'prependMany', 'prependOnceListener', 'removeAllListeners', 'removeListener', 'setMaxListeners', 'waitFor',
  ]) {
    WPP[name] = ev[name].bind(ev);
  }

  // ------------------------------------------------------------------ loader
  function stage(flag, event) {
    return (listener, delay = 0) => {
      if (WPP[flag]) setTimeout(listener, delay);
      else ev.once(event, () => setTimeout(listener, delay));
    };
  }
  WPP.loader = {
    loaderType: 'unknown',
    get isInjected() {
      return WPP.isInjected;
    },
    get isReady() {
      return WPP.isReady;
    },
    get isFullReady() {
      return WPP.isFullReady;
    },
    onInjected: stage('isInjected', 'loader.injected'),
    onReady: stage('isReady', 'loader.ready'),
    onFullReady: stage('isFullReady', 'loader.full_ready'),
  };

  // ------------------------------------------------------------------ helpers
  function assertWid(id) {
    const wid = M.Wid.parse(id);
    if (!wid) throw new WPPError('invalid_wid', `Invalid WID value for ${id}`, { id });
    return wid;
  }
  function assertGetChat(id) {
    const chat = M.ChatStore.get(assertWid(id));
    if (!chat) throw new WPPError('chat_not_found', `Chat not found for ${id}`, { id });
    return chat;
  }
  function requireLogin() {
    if (!conn.isAuthenticated()) throw new WPPError('not_authenticated', 'WhatsApp Web is not logged in');
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ------------------------------------------------------------------ WPP.conn
  const conn = {
    isAuthenticated: () => !!(M && M.Conn.me),
    isRegistered: () => !!(M && M.Conn.me),
    isMainInit: () => !!(window.Debug && window.Debug.VERSION),
    isMainLoaded: () => !!(M && M.Cmd.isMainLoaded),
    isMainReady: () => mainReady,
    isIdle: () => !!M && M.Socket.state === 'UNPAIRED_IDLE',
    isOnline: () => !!(M && M.NetworkStatus.online),
    isMultiDevice: () => true,
    needsUpdate: () => false,
    getStreamData: () => ({ mode: M ? M.Stream.mode : undefined, info: M ? M.Stream.info : undefined }),
    getMyUserId: () => (M && M.Conn.me) || undefined,
    getMyUserWid: () => (M && M.Conn.me) || undefined,
    getMyUserLid: () => undefined,
    getPlatform: () => (M ? M.Conn.platform : undefined),
    async getAuthCode() {
      if (!M || !M.Conn.ref || M.Conn.connected || conn.isAuthenticated()) return null;
      const { ref, keys } = M.Conn;
      return {
        type: 'multidevice',
        ref,
        staticKeyPair: keys.static,
        identityKeyPair: keys.identity,
        secretKey: keys.secret,
        fullCode: [ref, keys.static, keys.identity, keys.secret].join(','),
      };
    },
    async refreshQR() {
      if (conn.isAuthenticated()) return null;
      const next = ev.waitFor('conn.auth_code_change', { filter: (code) => code !== null, timeout: 30000 });
      M.Cmd.refreshQR();
      return (await next)[0];
    },
    async logout() {
      const done = new Promise((resolve) => M.Cmd.once('logout', resolve));
      M.Socket.logout();
      await done;
      return true;
    },
    setKeepAlive(enable = true) {
      M.Cmd.keepAlive = !!enable;
      return !!enable;
    },
    async markAvailable() {
      return true;
    },
    async markUnavailable() {
      return true;
    },
    async genLinkDeviceCodeForPhoneNumber(phone, sendPushNotification = true) {
      if (conn.isAuthenticated()) {
        throw new WPPError('phone_already_connected', 'WhatsApp Web is already logged in');
      }
      void sendPushNotification;
      return M.LinkCode.request(String(phone).replace(/\D/g, ''));
    },
  };

  // ------------------------------------------------------------------ WPP.chat: media (issue 11)
  const MEDIA_MSG_TYPES = ['image', 'video', 'audio', 'ptt', 'document', 'sticker'];
  function mediaChat() {
    return {
      /** content: a data URL, Blob or File; options.type 'auto-detect' | image | video | audio | document | sticker. */
      async sendFileMessage(chatId, content, options = {}) {
        options = { createChat: false, markIsRead: true, waitForAck: true, type: 'auto-detect', ...options };
        requireLogin();
        const wid = assertWid(chatId);
        const existing = M.ChatStore.get(wid);
        if (!existing && (!wid.isUser() || !(await contact.queryExists(wid)))) {
          throw new WPPError('chat_not_found', `Chat not found for ${chatId}`, { id: chatId });
        }
        const blob = typeof content === 'string' ? await (await fetch(content)).blob() : content;
        if (!(blob instanceof Blob)) throw new WPPError('invalid_file', 'content must be a data URL, Blob or File');
        const mimetype = options.mimetype || blob.type || 'application/octet-stream';
        let type = options.type;
        if (type === 'auto-detect') {
          const main = mimetype.split('/')[0];
          type = ['image', 'video', 'audio'].includes(main) ? main : 'document';
        }
        if (type === 'audio' && options.isPtt) type = 'ptt';
        if (options.markIsRead && existing) await M.Chats.markRead(existing.id).catch(() => null);
        const filename = options.filename || blob.name || undefined;
        const [stored, result] = M.Msgs.sendMedia(wid, blob, { type, mimetype, filename, caption: options.caption, messageId: options.messageId });
        result.catch(() => null);
        const msg = await stored;
        const sendMsgResult = options.waitForAck ? await result : null;
        return { id: msg.id.toString(), ack: msg.ack, from: msg.from.toString(), to: wid.toString(), sendMsgResult };
      },
      /** The file of a media message, as a Blob. */
      async downloadMedia(id) {
        const msg = M.MsgStore.get(String((id && id._serialized) || id));
        if (!msg) throw new WPPError('msg_not_found', `Message ${id} not found`, { id });
        if (!MEDIA_MSG_TYPES.includes(msg.type) || !msg.directPath) {
          throw new WPPError('message_not_contains_media', `Message ${id} not contains media`, { id });
        }
        try {
          return await M.Msgs.downloadMedia(msg);
        } catch (err) {
          throw new WPPError('media_not_found', `The media for message ${id} was not found`, { id });
        }
      },
    };
  }

  // ------------------------------------------------------------------ WPP.chat
  const chat = {
    async list(options = {}) {
      let chats = M.ChatStore.getModelsArray().sort((a, b) => b.t - a.t);
      if (options.onlyUsers) chats = chats.filter((c) => c.isUser);
      if (options.onlyGroups) chats = chats.filter((c) => c.isGroup);
      if (options.onlyWithUnreadMessage) chats = chats.filter((c) => c.unreadCount > 0);
      if (options.onlyArchived) chats = chats.filter((c) => c.archive);
      const before = options.direction === 'before';
      if (options.id) {
        const i = chats.findIndex((c) => c.id.equals(options.id));
        if (i >= 0) chats = before ? chats.slice(0, i) : chats.slice(i + 1);
      }
      const count = options.count == null || options.count < 0 ? Infinity : options.count;
      if (count !== Infinity) chats = before ? chats.slice(Math.max(0, chats.length - count)) : chats.slice(0, count);
      return chats;
    },
    get(chatId) {
      const wid = M.Wid.parse(chatId);
      return wid ? M.ChatStore.get(wid) : undefined;
    },
    async find(chatId) {
      const found = chat.get(chatId);
      if (found) return found;
      throw new WPPError('chat_not_found', `Chat not found for ${chatId}`, { id: chatId });
    },
    /** Messages of a chat, oldest first. Without `id`, 'before' gives the latest and 'after' the oldest. */
    async getMessages(chatId, options = {}) {
      const c = assertGetChat(chatId);
      const all = M.MsgStore.forChat(c.id);
      const count = options.count == null ? 20 : options.count < 0 ? Infinity : options.count;
      if (count === 0) return [];
      const before = options.direction !== 'after';
      let list;
      if (options.id) {
        const anchor = String(options.id._serialized || options.id);
        const i = all.findIndex((m) => m.id._serialized === anchor);
        if (i < 0) return [];
        list = before ? all.slice(Math.max(0, i - count), i) : all.slice(i + 1, i + 1 + count);
      } else {
        list = before ? all.slice(Math.max(0, all.length - count)) : all.slice(0, count);
      }
      if (options.onlyUnread) {
        const unread = new Set(all.filter((m) => !m.id.fromMe).slice(-c.unreadCount || all.length));
        list = c.unreadCount > 0 ? list.filter((m) => unread.has(m)) : [];
      }
      return list;
    },
    async getMessageById(ids) {
      const one = (id) => {
        const msg = M.MsgStore.get(String((id && id._serialized) || id));
        if (!msg) throw new WPPError('msg_not_found', `Message ${id} not found`, { id });
        return msg;
      };
      return Array.isArray(ids) ? ids.map(one) : one(ids);
    },
    async sendTextMessage(chatId, content, options = {}) {
      return sendRawMessage(chatId, { type: 'chat', body: String(content) }, options);
    },
    /** {lat, lng, name?, address?, url?}: the text under the map is "name\naddress". */
    async sendLocationMessage(chatId, options = {}) {
      const loc = options.name && options.address ? `${options.name}\n${options.address}` : options.name || options.address || '';
      const lat = typeof options.lat === 'string' ? parseFloat(options.lat) : options.lat;
      const lng = typeof options.lng === 'string' ? parseFloat(options.lng) : options.lng;
      return sendRawMessage(chatId, { type: 'location', body: '', lat, lng, loc, clientUrl: options.url }, options);
    },
    /** contacts: an id, {id, name}, or a list of them; one card is a 'vcard', more a 'multi_vcard'. */
    async sendVCardContactMessage(chatId, contacts, options = {}) {
      const cards = (Array.isArray(contacts) ? contacts : [contacts]).map((c) => {
        const id = typeof c === 'object' && c && 'name' in c ? String(c.id) : String(c);
        const wid = assertWid(id);
        const name = typeof c === 'object' && c && c.name ? c.name : `+${wid.user}`;
        return { displayName: name, vcard: vcardOf(wid, name) };
      });
      const fields = cards.length === 1
        ? { type: 'vcard', body: cards[0].vcard, vcardFormattedName: cards[0].displayName }
        : { type: 'multi_vcard', body: '', vcardList: cards };
      return sendRawMessage(chatId, fields, options);
    },
    /** A poll: `choices` become pollOptions {name, localId}; selectableCount 0 = any number. */
    async sendCreatePollMessage(chatId, name, choices, options = {}) {
      const fields = {
        type: 'poll_creation',
        body: '',
        pollName: name,
        pollOptions: choices.map((choice, localId) => ({ name: choice, localId })),
        pollSelectableOptionsCount: options.selectableCount || 0,
      };
      return sendRawMessage(chatId, fields, options);
    },
    /** Forward messages (MsgModels or ids) to a chat; each copy is marked isForwarded. */
    async forwardMessages(chatId, messages, options = {}) {
      requireLogin();
      const wid = assertWid(chatId);
      if (!M.ChatStore.get(wid) && (!wid.isUser() || !(await contact.queryExists(wid)))) {
        throw new WPPError('chat_not_found', `Chat not found for ${chatId}`, { id: chatId });
      }
      const msgs = [];
      for (const m of messages) msgs.push(m instanceof M.MsgModel ? m : await chat.getMessageById(m));
      const results = [];
      for (const msg of msgs) {
        const fields = { ...M.Msgs.forwardFields(msg), isForwarded: true, forwardingScore: (msg.forwardingScore || 0) + 1 };
        if (!options.displayCaptionText && fields.caption) delete fields.caption;
        const [stored, result] = M.Msgs.sendMsg(wid, fields, {});
        result.catch(() => null);
        await stored;
        results.push(await result);
      }
      return results;
    },
    /** Deprecated in wa-js 4.6 (use forwardMessages): true once forwarded. */
    async forwardMessage(toChatId, msgId, options = {}) {
      await chat.forwardMessages(toChatId, [msgId], options);
      return true;
    },
    async sendReactionToMessage(msgId, reaction) {
      const msg = msgId instanceof M.MsgModel ? msgId : await chat.getMessageById(String(msgId));
      return { sendMsgResult: await M.Msgs.react(msg, reaction || '') };
    },
    async editMessage(msgId, newText, options = {}) {
      void options;
      const msg = await chat.getMessageById(String(msgId));
      if (!canEditMsg(msg)) throw new WPPError('edit_message_error', 'Cannot edit this message');
      const key = await M.Msgs.editOwn(msg, String(newText).trim());
      return { id: key.toString(), ack: 1, sendMsgResult: 'OK' };
    },
    async deleteMessage(chatId, ids, deleteMediaInDevice = false, revoke = false) {
      void deleteMediaInDevice;
      const c = assertGetChat(chatId);
      const single = !Array.isArray(ids);
      const msgs = await chat.getMessageById(single ? [ids] : ids);
      const out = [];
      for (const msg of msgs) {
        const isSentByMe = msg.id.fromMe;
        let isRevoked = false;
        let isDeleted = false;
        let sendMsgResult = 'OK';
        if (msg.type === 'revoked' && revoke) {
          sendMsgResult = 'ERROR_UNKNOWN';
          isRevoked = true;
        } else if (revoke && isSentByMe) {
          await M.Msgs.revokeOwn(msg);
          isRevoked = true;
        } else {
          await M.Msgs.deleteLocal(msg);
          isDeleted = !M.MsgStore.forChat(c.id).includes(msg);
        }
        out.push({ id: msg.id.toString(), sendMsgResult, isRevoked, isDeleted, isSentByMe });
      }
      return single ? out[0] : out;
    },
    async markIsComposing(chatId, duration) {
      return chatState(chatId, 'markComposing', duration);
    },
    async markIsRecording(chatId, duration) {
      return chatState(chatId, 'markRecording', duration);
    },
    async markIsPaused(chatId) {
      return chatState(chatId, 'markPaused');
    },
    getQuotedMsgKey(msg) {
      if (!msg.quotedStanzaID) throw new WPPError('message_not_have_a_reply', `Message ${msg.id} does not have a reply`, { id: msg.id });
      const remote = msg.quotedRemoteJid || msg.id.remote;
      const fromMe = !!(M.Conn.me && M.Conn.me.equals(msg.quotedParticipant));
      return new M.MsgKey({ id: msg.quotedStanzaID, fromMe, remote });
    },
    async markIsRead(chatId) {
      const c = assertGetChat(chatId);
      return M.Chats.markRead(c.id);
    },
    ...mediaChat(),
  };

  /** Like wa-js's sendRawMessage: the chat (created for a user on WhatsApp), a quoted message,
   * the send, its ack. */
  async function sendRawMessage(chatId, fields, options = {}) {
    options = { createChat: false, detectMentioned: true, linkPreview: true, markIsRead: true, waitForAck: true, ...options };
    requireLogin();
    const wid = assertWid(chatId);
    const existing = M.ChatStore.get(wid);
    if (!existing && (!wid.isUser() || !(await contact.queryExists(wid)))) {
      throw new WPPError('chat_not_found', `Chat not found for ${chatId}`, { id: chatId });
    }
    let quoted = null;
    if (options.quotedMsg) {
      quoted = options.quotedMsg;
      if (typeof quoted === 'string') quoted = M.MsgKey.fromString(quoted);
      if (quoted instanceof M.MsgKey) quoted = await chat.getMessageById(quoted.toString());
      if (!(quoted instanceof M.MsgModel)) throw new WPPError('invalid_quoted_msg', 'Invalid quotedMsg', { quotedMsg: options.quotedMsg });
      if (quoted.type === 'revoked') throw new WPPError('quoted_msg_can_not_reply', 'QuotedMsg can not reply', { quotedMsg: quoted });
    }
    if (options.mentionedList) {
      if (!Array.isArray(options.mentionedList)) {
        throw new WPPError('mentioned_list_is_not_array', 'The option mentionedList is not an array', { mentionedList: options.mentionedList });
      }
      const mentioned = options.mentionedList.map((id) => assertWid(id));
      for (const m of mentioned) {
        if (!m.isUser()) throw new WPPError('mentioned_is_not_user', 'Mentioned is not an user', { mentionedId: m.toString() });
      }
      fields = { ...fields, mentionedJidList: mentioned };
    }
    if (options.markIsRead && existing) await M.Chats.markRead(existing.id).catch(() => null);
    if (options.delay > 0) await sleep(options.delay);
    const [stored, result] = M.Msgs.sendMsg(wid, fields, { messageId: options.messageId, quoted });
    result.catch(() => null);
    const msg = await stored;
    const sendMsgResult = options.waitForAck ? await result : null;
    return { id: msg.id.toString(), ack: msg.ack, from: msg.from.toString(), to: wid.toString(), sendMsgResult };
  }
  /** WhatsApp's canEditMsg: a text we sent, within the edit window. */
  function canEditMsg(msg) {
    const age = Math.floor(Date.now() / 1000) - msg.t;
    return msg.id.fromMe && msg.type === 'chat' && age < M.Conn.editWindow;
  }
  async function chatState(chatId, fn, duration) {
    const c = assertGetChat(chatId);
    await M.ChatPresence[fn](c);
    if (duration > 0) await sleep(duration).then(() => M.ChatPresence.markPaused(c));
  }
  function vcardOf(wid, name) {
    return ['BEGIN:VCARD', 'VERSION:3.0', `N:;${name};;;`, `FN:${name}`, `TEL;type=CELL;type=VOICE;waid=${wid.user}:+${wid.user}`, 'END:VCARD'].join('\n');
  }

  // ------------------------------------------------------------------ WPP.contact
  const contact = {
    async queryExists(contactId) {
      const wid = assertWid(contactId);
      if (!wid.isUser()) return null;
      if (wid.isLid()) return { wid, biz: false };
      return (await M.Contacts.queryExists(wid)) ? { wid, biz: false } : null;
    },
    /** {lid?, phoneNumber?, contact?}, each id as {id, server, _serialized}; LIDs from the cache only. */
    async getPnLidEntry(contactId) {
      const wid = assertWid(contactId);
      if (wid.server !== 'c.us' && wid.server !== 'lid') {
        throw new WPPError('invalid_wid', `Invalid WID value for ${wid} - getPnLidEntry only supports @c.us and @lid.`, { id: contactId });
      }
      let lid;
      let pn;
      if (wid.isLid()) {
        lid = wid;
        pn = M.LidPnCache.getPhoneNumber(wid);
      } else {
        pn = wid;
        lid = M.LidPnCache.getCurrentLid(wid) || (await M.Contacts.queryLid(wid));
      }
      const plain = (w) => (w ? { id: w.user, server: w.server, _serialized: w.toString() } : undefined);
      return { lid: plain(lid), phoneNumber: plain(pn), contact: undefined };
    },
  };

  // ------------------------------------------------------------------ WPP.group, WPP.blocklist, people
  // Checked the way wa-js checks (ensureGroup, ensureGroupAndParticipants, the admin rule), with
  // its error codes, before the page's modules (M.Groups, M.Blocklist) ask the server.
  const people = (() => {
    const asList = (v) => (Array.isArray(v) ? v : [v]);
    async function ensureGroup(groupId, checkIsAdmin = false) {
      const c = assertGetChat(groupId);
      if (!c.id.isGroup()) throw new WPPError('not_a_group', `Chat ${c.id._serialized} is not a group`);
      const meta = await M.GroupMetadataStore.find(c.id);
      if (checkIsAdmin && !meta.participants.iAmAdmin() && meta.memberAddMode !== 'all_member_add') {
        throw new WPPError('group_you_are_not_admin', `You are not admin in ${c.id._serialized}`);
      }
      return c;
    }
    const findParticipant = (c, wid) => c.groupMetadata.participants.get(wid);
    async function ensureGroupAndParticipants(groupId, ids, createIfNotExists = false) {
      const groupChat = await ensureGroup(groupId, true);
      const participants = asList(ids).map(assertWid).map((wid) => {
        let p = findParticipant(groupChat, wid);
        if (!p && createIfNotExists) p = new M.ParticipantModel({ id: wid._serialized });
        if (!p) throw new WPPError('group_participant_not_found', `Group ${groupChat.id._serialized}: Participant '${wid._serialized}' not found`);
        return p;
      });
      return { groupChat, participants };
    }
    const ADD_MESSAGES = {
      200: 'OK',
      403: "Can't join this group because the number was restricted it.",
      409: "Can't join this group because the number is already a member of it.",
      421: 'Member not added, awaiting approval!',
    };
    const results = (list, withMessage) => {
      const out = {};
      for (const entry of list || []) {
        const id = Object.keys(entry)[0];
        const v = entry[id];
        const code = Number(v.code);
        out[id] = { wid: id, code, invite_code: v.invite_code, invite_code_exp: Number(v.invite_code_exp) || null };
        if (withMessage) out[id].message = ADD_MESSAGES[code] || "Can't Join., unknown error";
      }
      return out;
    };
    const checked = async (groupId, ids, can, code, what) => {
      const { groupChat, participants } = await ensureGroupAndParticipants(groupId, ids);
      if (participants.some((p) => !groupChat.groupMetadata.participants[can](p))) {
        throw new WPPError(code, `Group ${groupChat.id._serialized}: ${what}`);
      }
      return { groupChat, participants };
    };
    const change = async (groupChat, action, participants) => {
      const r = await M.Groups.change(groupChat.id, action, participants.map((p) => p.id));
      return results(r.participants, false);
    };
    const group = {
      ensureGroup,
      ensureGroupAndParticipants,
      async create(groupName, participantsIds, parentGroup) {
        requireLogin();
        const me = conn.getMyUserWid();
        const wids = [];
        for (const wid of asList(participantsIds).map(assertWid)) {
          if (me.equals(wid)) continue;
          if (M.ContactStore.get(wid)) {
            wids.push(wid);
            continue;
          }
          const found = await contact.queryExists(wid);
          if (!found) throw new WPPError('participant_not_exists', 'Participant not exists', { id: wid });
          if (!me.equals(found.wid)) wids.push(found.wid);
        }
        void parentGroup;
        const r = await M.Groups.create(groupName, wids);
        return { gid: r.gid, participants: results(r.participants, false) };
      },
      async addParticipants(groupId, ids) {
        const { groupChat, participants } = await ensureGroupAndParticipants(groupId, ids, true);
        const r = await M.Groups.change(groupChat.id, 'add', participants.map((p) => p.id));
        if (r.status >= 400) throw new WPPError('group_add_participant_error', 'Failed to add participants to the group', { groupId, participantsIds: ids });
        return results(r.participants, true);
      },
      async removeParticipants(groupId, ids) {
        const c = await ensureGroup(groupId, true);
        const valid = asList(ids).map(assertWid).filter((wid) => findParticipant(c, wid));
        if (!valid.length) throw new WPPError('not_valid_group_participants', `No valid participants found for the group ${groupId}`);
        const { groupChat, participants } = await checked(groupId, valid, 'canRemove', 'group_participant_is_not_a_group_member', 'Group participant is not a group member');
        return change(groupChat, 'remove', participants);
      },
      async promoteParticipants(groupId, ids) {
        const { groupChat, participants } = await checked(groupId, ids, 'canPromote', 'group_participant_is_already_a_group_admin', 'Group participant is already a group admin');
        return change(groupChat, 'promote', participants);
      },
      async demoteParticipants(groupId, ids) {
        const { groupChat, participants } = await checked(groupId, ids, 'canDemote', 'group_participant_is_already_not_a_group_admin', 'Group participant is already not a group admin');
        return change(groupChat, 'demote', participants);
      },
      /** The groups this account is in (the server's list, like queryAllGroups). */
      async getAllGroups() {
        return M.ChatStore.getModelsArray().filter((c) => c.isGroup && c.groupMetadata && c.groupMetadata.participants.iAmMember());
      },
      async getParticipants(groupId) {
        return (await ensureGroup(groupId)).groupMetadata.participants.getModelsArray();
      },
      async iAmAdmin(groupId) {
        return (await ensureGroup(groupId)).groupMetadata.participants.iAmAdmin();
      },
      async iAmMember(groupId) {
        return (await ensureGroup(groupId)).groupMetadata.participants.iAmMember();
      },
      async iAmSuperAdmin(groupId) {
        return (await ensureGroup(groupId)).groupMetadata.participants.iAmSuperAdmin();
      },
      async leave(groupId) {
        const c = await ensureGroup(groupId);
        return M.Groups.leave(c.id);
      },
      async getInviteCode(groupId) {
        const c = await ensureGroup(groupId, true);
        return M.Groups.inviteCode(c.id, false);
      },
      async revokeInviteCode(groupId) {
        const c = await ensureGroup(groupId, true);
        return M.Groups.inviteCode(c.id, true);
      },
    };
    const blocklist = {
      async all() {
        return M.BlocklistStore.getModelsArray().map((b) => b.id);
      },
      isBlocked(chatId) {
        return !!M.BlocklistStore.get(assertWid(chatId));
      },
      async blockContact(chatId) {
        const wid = assertWid(chatId);
        await M.Blocklist.set(wid, true);
        return { wid, isBlocked: blocklist.isBlocked(wid) };
      },
      async unblockContact(chatId) {
        const wid = assertWid(chatId);
        await M.Blocklist.set(wid, false);
        return { wid, isBlocked: blocklist.isBlocked(wid) };
      },
    };
    const serverQueryExists = contact.queryExists;
    Object.assign(contact, {
      /** The ContactStore answers first (with the business flag), as in wa-js; else the server. */
      async queryExists(contactId) {
        const wid = assertWid(contactId);
        const known = M.ContactStore && M.ContactStore.get(wid);
        return known ? { wid, biz: !!known.isBusiness } : serverQueryExists(contactId);
      },
      async list(options = {}) {
        let list = M.ContactStore.getModelsArray().slice();
        if (options.onlyMyContacts) list = list.filter((c) => c.isMyContact);
        return list;
      },
      async get(contactId) {
        return M.ContactStore.get(assertWid(contactId));
      },
      async getProfilePictureUrl(contactId, full = true) {
        const thumb = await M.ProfilePicThumbStore.find(assertWid(contactId));
        if (!thumb) return undefined;
        return full ? thumb.imgFull : thumb.img;
      },
    });
    /** Group notifications -> group.participant_changed, as wa-js wraps updateDBForGroupAction. */
    function registerGroupEvents() {
      const ACTIONS = ['add', 'remove', 'demote', 'promote'];
      M.GroupActions.on('action', (n, o) => {
        let action = o.actionType || o.action;
        if (!ACTIONS.includes(action)) return;
        queueMicrotask(() => {
          const ids = o.participants.map((p) => (p && 'id' in p ? p.id : p));
          if (action === 'add' && (o.isInvite || o.reason === 'invite')) action = 'join';
          else if (action === 'remove' && ids.some((id) => id.equals(n.author))) action = 'leave';
          ev.emit('group.participant_changed', {
            author: n.author ? n.author.toString() : undefined,
            authorPushName: n.pushname,
            groupId: n.chatId.toString(),
            action,
            operation: o.actionType || o.action,
            participants: ids.map((id) => id.toString()),
          });
        });
      });
    }
    return { group, blocklist, registerGroupEvents };
  })();

  Object.assign(WPP, { group: people.group, blocklist: people.blocklist });
  Object.assign(WPP, {
    conn,
    chat,
    contact,
    util: { WPPError, createWid: (id) => (M ? M.Wid.parse(id) || undefined : undefined) },
    whatsapp: {},
  });

  // ------------------------------------------------------------------ page events -> WPP events
  function registerEvents() {
    const { Conn, Stream, Socket, Cmd, NetworkStatus, ChatStore, MsgStore, PresenceStore, ReactionStore, CallStore } = M;
    const later = (fn) => queueMicrotask(fn);

    const emitAuthCode = async () => ev.emit('conn.auth_code_change', await conn.getAuthCode().catch(() => null));
    emitAuthCode();
    Conn.on('change:ref', emitAuthCode);

    let requireAuthSent = false;
    const onSocketState = () => {
      if (conn.isAuthenticated()) requireAuthSent = false;
      else if (!requireAuthSent && (Socket.state === 'UNPAIRED' || Socket.state === 'UNPAIRED_IDLE')) {
        requireAuthSent = true;
        ev.emit('conn.require_auth');
      }
      if (conn.isIdle()) ev.emit('conn.qrcode_idle');
    };
    onSocketState();
    Socket.on('change:state', onSocketState);

    const onMode = (mode) => {
      ev.emit('conn.stream_mode_changed', mode);
      if (!mainReady && (mode === 'MAIN' || mode === 'QR')) {
        mainReady = true; // once per page load, like wa-js
        ev.emit('conn.main_ready');
      }
    };
    onMode(Stream.mode);
    if (Stream.info) ev.emit('conn.stream_info_changed', Stream.info);
    Stream.on('change:mode', (_, mode) => onMode(mode));
    Stream.on('change:info', (_, info) => ev.emit('conn.stream_info_changed', info));

    const checkMainInit = () => {
      if (!conn.isMainInit()) return false;
      clearInterval(mainInit);
      ev.emit('conn.main_init');
      return true;
    };
    const mainInit = setInterval(checkMainInit, 100);
    checkMainInit();

    let authenticated = conn.isAuthenticated();
    const onMainLoaded = () => {
      if (!authenticated) {
        authenticated = true;
        ev.emit('conn.authenticated');
      }
      ev.emit('conn.main_loaded');
    };
    if (Cmd.isMainLoaded) onMainLoaded();
    Cmd.on('main_loaded', onMainLoaded);
    Cmd.on('logout_reason', (reason) => ev.emit('conn.logout_reason', reason));
    Cmd.on('logout', () => {
      authenticated = false;
      ev.emit('conn.logout');
    });
    Cmd.on('storage_error', () => ev.emit('conn.backend_event', 'storage_initialization_error'));
    NetworkStatus.on('change:online', (_, online) => ev.emit('conn.online', online));

    ChatStore.on('add', (c) => later(() => ev.emit('chat.new_chat', c)));
    MsgStore.on('add', (msg) => {
      if (msg.isNewMsg) later(() => ev.emit('chat.new_message', msg));
    });
    MsgStore.on('change:ack', (msg) => {
      if (msg.ack === 1) later(() => ev.emit('chat.msg_ack_change', { ack: 1, chat: msg.to, ids: [msg.id] }));
    });
    MsgStore.on('receipt', (receipt) => later(() => ev.emit('chat.msg_ack_change', receipt)));

    // Revokes arrive as protocol messages; the revoked message is refId.
    const REVOKES = ['revoke', 'sender_revoke', 'admin_revoke'];
    MsgStore.on('protocol', (m) => {
      if (m.isNewMsg && m.type === 'protocol' && REVOKES.includes(m.subtype)) {
        ev.emit('chat.msg_revoke', { author: m.author, from: m.from, id: m.id, refId: m.protocolMessageKey, to: m.to, type: m.subtype });
      }
    });
    MsgStore.on('change:latestEditMsgKey', (msg) => later(() => ev.emit('chat.msg_edited', { chat: msg.to, id: msg.id.toString(), msg })));
    // Votes on our polls (wa-js wraps upsertVotes): selectedOptions is indexed by localId;
    // votes older than this page are not announced.
    const votesSince = Date.now();
    M.PollVoteStore.on('upsert', (votes) => {
      for (const v of votes || []) {
        if (v.senderTimestampMs < votesSince) continue;
        const poll = M.MsgStore.get(v.parentMsgKey);
        if (!poll) continue;
        const selectedOptions = [];
        for (const n of v.selectedOptionLocalIds || []) {
          selectedOptions[n] = (poll.pollOptions || []).filter((o) => o.localId == n)[0];
        }
        ev.emitAsync('chat.poll_response', {
          msgId: M.MsgKey.fromString(v.parentMsgKey),
          chatId: poll.id.remote,
          selectedOptions,
          timestamp: v.senderTimestampMs,
          sender: M.Wid.parse(v.sender),
        }).catch(() => null);
      }
    });
    ReactionStore.on('add', (records) => {
      for (const r of records || []) {
        ev.emitAsync('chat.new_reaction', {
          id: M.MsgKey.fromString(r.id),
          orphan: r.orphan,
          orphanReason: r.orphanReason,
          msgId: M.MsgKey.fromString(r.parentMsgKey),
          reactionText: r.reactionText,
          read: r.read,
          sender: M.Wid.parse(r.senderUserJid),
          timestamp: r.timestamp,
        }).catch(() => null);
      }
    });
    // One timer for all chats, as in wa-js: changes of several chats within 50 ms keep the last.
    let unreadTimer = null;
    ChatStore.on('change:unreadCount', (c, unreadCount, previousUnreadCount) => {
      clearTimeout(unreadTimer);
      unreadTimer = setTimeout(() => ev.emit('chat.unread_count_changed', { chat: c, unreadCount, previousUnreadCount }), 50);
    });
    PresenceStore.on('change:chatstate.type', (p) => {
      if (!p.hasData || !p.chatstate || !p.chatstate.type) return;
      later(() => {
        const c = ChatStore.get(p.id);
        ev.emit('chat.presence_change', {
          id: p.id,
          isOnline: p.isOnline,
          isGroup: p.isGroup,
          isUser: p.isUser,
          shortName: c ? c.formattedTitle : '',
          state: p.chatstate.type,
          t: Date.now(),
          isContact: true,
        });
      });
    });
    const rang = new Set();
    CallStore.on('incoming', (call) => {
      if (!call || !call.id || rang.has(call.id) || call.outgoing) return;
      rang.add(call.id);
      setTimeout(() => {
        ev.emit('call.incoming_call', {
          id: call.id,
          isGroup: call.isGroup,
          isVideo: call.isVideo,
          offerTime: call.offerTime || Math.floor(Date.now() / 1000),
          sender: M.Wid.parse(call.peerJid),
          peerJid: call.peerJid,
        });
      }, 0);
    });
  }

  function inject() {
    if (WPP.isInjected || !window.__simWA) return;
    M = window.__simWA;
    clearInterval(poll);
    window.removeEventListener('simwa:ready', inject);
    Object.assign(WPP.whatsapp, {
      Conn: M.Conn,
      Stream: M.Stream,
      Socket: M.Socket,
      Cmd: M.Cmd,
      NetworkStatus: M.NetworkStatus,
      ChatStore: M.ChatStore,
      MsgStore: M.MsgStore,
      PresenceStore: M.PresenceStore,
      CallStore: M.CallStore,
      Wid: M.Wid,
      MsgKey: M.MsgKey,
      MsgModel: M.MsgModel,
      ChatModel: M.ChatModel,
      WidFactory: { createWid: (id) => M.Wid.parse(id) },
      enums: { ACK: M.ACK },
    });
    WPP.loader.loaderType = 'webpack';
    WPP.isInjected = true;
    ev.emit('loader.injected');
    registerEvents();
    people.registerGroupEvents();
    WPP.isReady = true;
    ev.emit('loader.ready');
    setTimeout(() => {
      WPP.isFullReady = true;
      ev.emit('loader.full_ready');
    }, 0);
  }

  window.WPP = WPP;
  window.addEventListener('simwa:ready', inject);
  const poll = setInterval(inject, 100);
  inject();
})();
