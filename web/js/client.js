// client.js - the client's state model and the v1 client algorithm
// (PROTOCOL.md §7): conversations, their message timelines, the outbox of
// unsent messages, presence, typing and read receipts. No DOM here: the
// UI (app.js) listens to the events below and renders.
//
// Events: "session" (logged in or out), "list" (the conversation list
// changed), "conv" {id} (a conversation's header, typing, seen or outbox
// changed), "messages" {id, kind: "reset"|"append"|"prepend", msgs},
// "users" (names learned), "status" {state, retryAt} (the connection),
// "notice" {text} (something the user should read), "closed" {id} (the
// open conversation went away).

import { Api, ApiError } from './api.js';
import { Connection } from './conn.js';
import { Timeline } from './timeline.js';
import { backoffDelay } from './backoff.js';
import { Outbox } from './outbox.js';
import { UserError, errorText, usernameProblem } from './format.js';

const SESSION_KEY = 'parley.session';
const OUTBOX_KEY = 'parley.outbox.';
const PAGE = 50; // messages per history page
const SYNC_LIMIT = 200; // messages per `sync` page (the maximum)
const GAP_RELOAD = 1000; // a larger gap reloads the latest page instead
const SYNC_TIMEOUT = 10000;
const TYPING_SHOW = 6000; // "typing…" stays this long after a frame
const TYPING_EVERY = 3000; // the server forwards one per 3 s anyway
const TASKS_AT_ONCE = 4; // background REST requests in flight
function bump(map, key, seq) {
  if ((map.get(key) || 0) < seq) {
    map.set(key, seq);
    return true;
  }
  return false;
}

export class ChatClient extends EventTarget {
  constructor({ storage = sessionStorage, origin = location.origin } = {}) {
    super();
    this.storage = storage;
    this.api = new Api(origin);
    this.api.onUnauthorized = () => this.logout(errorText('unauthorized'));
    this.conn = new Connection(origin.replace(/^http/, 'ws') + '/v1/ws');
    this.conn.addEventListener('hello', () => this.onHello());
    this.conn.addEventListener('frame', (e) => this.onFrame(e.detail));
    this.conn.addEventListener('state', (e) => {
      // presence is only known while connected: no stale "online"
      if (e.detail.state !== 'online' && this.presence.size) {
        this.presence.clear();
        this.emit('list');
        if (this.openId) this.emit('conv', { id: this.openId });
      }
      this.emit('status', e.detail);
    });
    this.conn.addEventListener('failed', () => this.checkSession());
    this.reset();
    this.tick = null;
  }

  reset() {
    this.me = null; // {user_id, username}
    this.session = null; // {token, expires_at, user_id, username}
    this.convs = new Map(); // id -> conversation record (see addConv)
    this.order = []; // conversation ids, most recently active first
    this.users = new Map(); // user id -> username
    this.presence = new Map(); // user id -> {status, last_seen_at}
    this.outbox = new Outbox({ storage: this.storage, send: (f) => this.conn.send(f) });
    this.openId = null;
    this.syncQ = [];
    this.syncing = null; // the conversation whose `sync` is in flight
    this.syncTimer = null;
    this.presenceKey = null;
    this.tasks = [];
    this.running = 0;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  notice(text) {
    this.emit('notice', { text });
  }

  // --- session ---------------------------------------------------------

  // Resumes a session kept in storage (survives a reload, not a new tab).
  restore() {
    let s = null;
    try {
      s = JSON.parse(this.storage.getItem(SESSION_KEY) || 'null');
    } catch (e) {
      s = null;
    }
    if (!s || !s.token || Date.parse(s.expires_at) <= Date.now()) return false;
    this.begin(s);
    return true;
  }

  async register(username, password) {
    await this.api.register(username, password);
    return this.login(username, password);
  }

  async login(username, password) {
    const r = await this.api.login(username, password);
    this.api.token = r.token;
    const who = await this.api.me();
    this.begin({ token: r.token, expires_at: r.expires_at, user_id: r.user_id,
      username: who.username });
  }

  begin(s) {
    this.reset();
    this.session = s;
    this.me = { user_id: s.user_id, username: s.username };
    this.users.set(s.user_id, s.username);
    this.storage.setItem(SESSION_KEY, JSON.stringify(s));
    this.api.token = s.token;
    this.outbox.load(OUTBOX_KEY + s.user_id);
    this.conn.start(s.token);
    clearInterval(this.tick);
    this.tick = setInterval(() => this.onTick(), 1000);
    this.emit('session');
  }

  logout(why) {
    if (!this.session) return;
    this.conn.stop();
    clearInterval(this.tick);
    clearTimeout(this.syncTimer);
    this.storage.removeItem(SESSION_KEY);
    this.api.token = null;
    this.reset();
    this.emit('session', { why });
  }

  // A connection closed before its hello: an expired token shows as that
  // in a browser (no status code), so ask REST; its 401 logs out.
  checkSession() {
    if (!this.session) return;
    if (Date.parse(this.session.expires_at) <= Date.now()) {
      this.logout(errorText('unauthorized'));
      return;
    }
    this.api.me().catch(() => {});
  }

  // --- conversations ---------------------------------------------------

  addConv(id) {
    const c = {
      id,
      type: '',
      name: '',
      created_at: '',
      last_seq: 0,
      last_read_seq: 0,
      role: 'member',
      member_count: 0,
      peer: null, // direct chats: {user_id, username}
      preview: null, // the newest message known
      tl: null, // Timeline once opened
      reads: new Map(), // other members' read offsets seen: user id -> seq
      typing: new Map(), // user id -> until (ms)
      typingSentAt: 0,
      loading: false,
      loadingOlder: false,
      membersLoaded: false,
      detailsWanted: true,
      gone: false, // no longer a member (shown until closed)
    };
    this.convs.set(id, c);
    this.order.unshift(id);
    return c;
  }

  upsert(s) {
    const c = this.convs.get(s.conversation_id) || this.addConv(s.conversation_id);
    c.type = s.type;
    c.name = s.name || '';
    c.created_at = s.created_at;
    c.last_seq = Math.max(c.last_seq, s.last_seq || 0);
    if (s.last_read_seq !== undefined) c.last_read_seq = Math.max(c.last_read_seq, s.last_read_seq);
    if (s.role) c.role = s.role;
    c.member_count = s.member_count;
    c.detailsWanted = false;
    return c;
  }

  title(c) {
    if (c.type === 'group') return c.name;
    if (c.peer) return c.peer.username;
    return c.type === 'direct' ? 'Direct chat' : 'Conversation';
  }

  unread(c) {
    return Math.max(0, c.last_seq - c.last_read_seq);
  }

  list() {
    return this.order.map((id) => this.convs.get(id)).filter(Boolean);
  }

  toFront(c) {
    const i = this.order.indexOf(c.id);
    if (i > 0) {
      this.order.splice(i, 1);
      this.order.unshift(c.id);
    }
  }

  remove(id) {
    this.convs.delete(id);
    this.order = this.order.filter((x) => x !== id);
    this.outbox.dropConversation(id);
    if (this.openId === id) {
      this.openId = null;
      this.emit('closed', { id });
    }
  }

  async refreshList() {
    const data = await this.api.conversations();
    const seen = new Set();
    const order = [];
    for (const s of data.conversations) {
      const c = this.upsert(s);
      seen.add(c.id);
      order.push(c.id);
      this.want(c);
    }
    // only the 1000 most recently active are listed: never drop past that
    const complete = data.conversations.length < 1000;
    for (const id of [...this.convs.keys()]) {
      const c = this.convs.get(id);
      if (seen.has(id)) continue;
      if (!complete || c.detailsWanted) {
        order.push(id);
      } else if (this.openId === id) {
        // left or removed: the open chat stays readable until closed
        order.push(id);
        if (!c.gone) this.notice(`You are no longer a member of ${this.title(c)}.`);
        c.gone = true;
        this.emit('conv', { id });
      } else {
        this.notice(`You are no longer a member of ${this.title(c)}.`);
        this.remove(id);
      }
    }
    this.order = order;
    this.emit('list');
  }

  // Queues the background reads a conversation still needs.
  want(c) {
    if (c.detailsWanted) this.task(() => this.fetchDetails(c));
    if (c.type === 'direct' && !c.peer) this.task(() => this.fetchPeer(c));
    if (!c.tl && c.last_seq > 0 && (!c.preview || c.preview.seq < c.last_seq)) {
      this.task(() => this.fetchPreview(c));
    }
  }

  async fetchDetails(c) {
    if (!this.convs.has(c.id)) return;
    const s = await this.api.conversation(c.id);
    this.upsert(s);
    this.want(c);
    this.emit('list');
    this.emit('conv', { id: c.id });
  }

  async fetchPeer(c) {
    if (!this.convs.has(c.id) || c.peer) return;
    const r = await this.api.members(c.id);
    for (const m of r.members) this.users.set(m.user_id, m.username);
    const p = r.members.find((m) => m.user_id !== this.me.user_id);
    if (p) c.peer = { user_id: p.user_id, username: p.username };
    this.subscribePresence();
    this.emit('list');
    this.emit('conv', { id: c.id });
  }

  async fetchPreview(c) {
    if (!this.convs.has(c.id) || c.tl) return;
    const r = await this.api.messages(c.id, { limit: 1 });
    for (const m of r.messages) this.note(c, m);
    this.emit('list');
  }

  async loadMembers(c) {
    const out = [];
    let cursor = null;
    for (let page = 0; page < 10; page += 1) {
      const r = await this.api.members(c.id, cursor);
      out.push(...r.members);
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    for (const m of out) this.users.set(m.user_id, m.username);
    c.membersLoaded = true;
    this.emit('users');
    return out;
  }

  // Runs background REST reads a few at a time; a failure is retried
  // with the next refresh (every hello), not in a loop.
  task(fn) {
    this.tasks.push(fn);
    this.pump();
  }

  pump() {
    while (this.running < TASKS_AT_ONCE && this.tasks.length) {
      const fn = this.tasks.shift();
      this.running += 1;
      Promise.resolve()
        .then(fn)
        .catch((e) => console.warn('parley: background request failed', e))
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }

  resolveUser(id) {
    if (this.users.has(id)) return;
    this.users.set(id, null); // asked once
    this.task(async () => {
      const u = await this.api.user(id);
      this.users.set(id, u.username);
      this.emit('users');
    });
  }

  userName(id) {
    return this.users.get(id) || 'someone';
  }

  // --- the connection --------------------------------------------------

  async onHello() {
    this.presenceKey = null; // a new connection starts with no subscriptions
    this.syncQ = [];
    this.syncing = null;
    clearTimeout(this.syncTimer);
    this.outbox.restart(); // resend all, same ids
    try {
      await this.refreshList();
    } catch (e) {
      if (e instanceof ApiError && e.code !== 'unauthorized') {
        setTimeout(() => this.conn.open && this.onHello(), 2000);
      }
      return;
    }
    for (const c of this.convs.values()) this.catchUp(c);
    this.subscribePresence();
    const open = this.convs.get(this.openId);
    if (open) this.markRead(open);
  }

  // After a reconnect: fill the timeline's gap from history (sync pages),
  // or start over from the latest page when the gap is very large.
  catchUp(c) {
    if (!c.tl) return;
    if (!c.tl.loaded) {
      if (!c.loading) this.loadLatest(c);
      return;
    }
    if (c.last_seq - c.tl.hi > GAP_RELOAD) {
      c.tl = new Timeline();
      this.loadLatest(c);
    } else if (c.last_seq > c.tl.hi || c.tl.hasGap) {
      this.enqueueSync(c.id);
    }
  }

  onFrame(f) {
    switch (f.type) {
      case 'message':
        this.ingest(f);
        break;
      case 'synced':
        this.onSynced(f);
        break;
      case 'ack':
        this.onAck(f);
        break;
      case 'error':
        this.onError(f);
        break;
      case 'typing':
        this.onTyping(f);
        break;
      case 'read':
        this.onRead(f);
        break;
      case 'presence':
        this.presence.set(f.user_id, { status: f.status, last_seen_at: f.last_seen_at });
        this.emit('list');
        for (const c of this.convs.values()) {
          if (c.peer && c.peer.user_id === f.user_id) this.emit('conv', { id: c.id });
        }
        break;
      default:
        break;
    }
  }

  // What every message tells, whichever way it came: the conversation's
  // last seq and preview, and that its sender has read up to it (a
  // sender's own send moves their read offset, PROTOCOL.md §6).
  note(c, m) {
    c.last_seq = Math.max(c.last_seq, m.seq);
    if (!c.preview || m.seq >= c.preview.seq) c.preview = m;
    if (this.me && m.sender_id === this.me.user_id) {
      c.last_read_seq = Math.max(c.last_read_seq, m.seq);
    } else {
      bump(c.reads, m.sender_id, m.seq);
    }
    this.resolveUser(m.sender_id);
  }

  // A live `message` frame or a message of a `synced` page.
  ingest(m) {
    let c = this.convs.get(m.conversation_id);
    const isNew = !c;
    if (!c) c = this.addConv(m.conversation_id); // added to a conversation
    const newest = !c.preview || m.seq > c.preview.seq;
    this.note(c, m);
    if (c.typing.delete(m.sender_id)) this.emit('conv', { id: c.id });
    if (newest) this.toFront(c);
    if (c.tl) {
      const shown = c.tl.merge(m);
      if (shown.length) this.shown(c, shown, 'append');
      if (c.tl.hasGap) this.enqueueSync(c.id);
    }
    if (isNew) this.want(c);
    if (this.openId === c.id) this.markRead(c);
    this.emit('list');
  }

  shown(c, msgs, kind) {
    this.settle(c);
    this.emit('messages', { id: c.id, kind, msgs });
  }

  // --- history ---------------------------------------------------------

  enqueueSync(id, first = false) {
    if (this.syncing === id || this.syncQ.includes(id)) return;
    if (first) this.syncQ.unshift(id);
    else this.syncQ.push(id);
    this.pumpSync();
  }

  // One `sync` in flight at a time: its `error` answer names no
  // conversation, so only then is it clear which one failed.
  pumpSync() {
    while (!this.syncing && this.syncQ.length && this.conn.open) {
      const id = this.syncQ.shift();
      const c = this.convs.get(id);
      if (!c || !c.tl || !c.tl.loaded) continue;
      const ok = this.conn.send({ type: 'sync', conversation_id: id, after_seq: c.tl.hi,
        limit: SYNC_LIMIT });
      if (!ok) return;
      this.syncing = id;
      clearTimeout(this.syncTimer);
      this.syncTimer = setTimeout(() => {
        this.syncing = null;
        this.enqueueSync(id);
      }, SYNC_TIMEOUT);
    }
  }

  onSynced(f) {
    for (const m of f.messages) this.ingest(m);
    const c = this.convs.get(f.conversation_id);
    if (this.syncing === f.conversation_id) {
      this.syncing = null;
      clearTimeout(this.syncTimer);
    }
    if (c && c.tl && f.has_more) this.enqueueSync(c.id, true);
    this.pumpSync();
  }

  async loadLatest(c) {
    if (c.loading) return;
    c.loading = true;
    try {
      const r = await this.api.messages(c.id, { limit: PAGE });
      for (const m of r.messages) this.note(c, m);
      const shown = c.tl.reset(r.messages);
      this.shown(c, shown, 'reset');
      if (c.tl.hasGap || c.last_seq > c.tl.hi) this.enqueueSync(c.id);
      this.markRead(c);
      this.emit('list');
    } catch (e) {
      if (e.code === 'not_a_member' || e.code === 'not_found') {
        this.notice(errorText(e.code));
      } else if (e.code !== 'unauthorized') {
        this.notice(`Could not load messages: ${errorText(e.code, e.message)}`);
      }
    } finally {
      c.loading = false;
    }
  }

  async loadOlder(id) {
    const c = this.convs.get(id);
    if (!c || !c.tl || !c.tl.loaded || !c.tl.hasOlder || c.loadingOlder) return;
    c.loadingOlder = true;
    try {
      const r = await this.api.messages(c.id, { before_seq: c.tl.lo, limit: PAGE });
      const older = c.tl.prepend(r.messages);
      for (const m of older) this.note(c, m);
      this.emit('messages', { id: c.id, kind: 'prepend', msgs: older });
    } catch (e) {
      this.notice(`Could not load older messages: ${errorText(e.code, e.message)}`);
    } finally {
      c.loadingOlder = false;
    }
  }

  open(id) {
    const c = this.convs.get(id);
    if (!c) return;
    this.openId = id;
    if (!c.tl) {
      c.tl = new Timeline();
      this.loadLatest(c);
    }
    if (c.type === 'group' && !c.membersLoaded) {
      c.membersLoaded = true;
      this.loadMembers(c).catch(() => {
        c.membersLoaded = false;
      });
    }
    this.markRead(c);
    this.emit('list');
  }

  close() {
    const c = this.convs.get(this.openId);
    this.openId = null;
    if (c && c.gone) {
      this.remove(c.id);
      this.emit('list');
    }
  }

  // Marks what the open conversation shows as read, while the page is
  // visible (someone is looking at it).
  markRead(c) {
    if (this.openId !== c.id || !c.tl || !c.tl.loaded) return;
    if (typeof document !== 'undefined' && document.visibilityState === 'hidden') return;
    const seq = c.tl.hi;
    if (seq <= c.last_read_seq) return;
    if (this.conn.send({ type: 'read', conversation_id: c.id, seq })) {
      c.last_read_seq = seq;
      this.emit('list');
    }
  }

  // --- sending ---------------------------------------------------------

  send(id, content) {
    const e = this.outbox.add(id, content);
    this.emit('conv', { id });
    return e;
  }

  pending(id) {
    return this.outbox.forConv(id);
  }

  onAck(a) {
    const c = this.convs.get(a.conversation_id);
    if (c) {
      c.last_seq = Math.max(c.last_seq, a.seq);
      c.last_read_seq = Math.max(c.last_read_seq, a.seq);
    }
    if (this.outbox.acked(a) && c) {
      if (c.tl && c.tl.hasGap) this.enqueueSync(c.id);
      this.settle(c);
      this.emit('conv', { id: c.id });
    }
  }

  settle(c) {
    if (this.outbox.settle(c.id, c.tl, this.me && this.me.user_id)) {
      this.emit('conv', { id: c.id });
    }
  }

  onError(f) {
    const e = this.outbox.refused(f);
    if (!e) {
      this.onOtherError(f);
      return;
    }
    if (e.state === 'failed') {
      this.notice(`Message not sent: ${e.error}`);
      if (f.code === 'not_a_member' || f.code === 'not_found') {
        this.refreshList().catch(() => {}); // marks the conversation gone
      }
    }
    this.emit('conv', { id: e.conversation_id });
  }

  // An error frame without a client_msg_id: a sync, typing, read or
  // presence_subscribe was refused. Only a sync matters; it is retried.
  onOtherError(f) {
    if (!this.syncing) {
      console.warn('parley: error frame', f);
      return;
    }
    const id = this.syncing;
    this.syncing = null;
    clearTimeout(this.syncTimer);
    if (f.code === 'overloaded' || f.code === 'internal') {
      setTimeout(() => this.enqueueSync(id), backoffDelay(2));
    }
    this.pumpSync();
  }

  discard(cmid) {
    const e = this.outbox.discard(cmid);
    if (e) this.emit('conv', { id: e.conversation_id });
  }

  // --- typing, reads, presence -------------------------------------------

  typing(id) {
    const c = this.convs.get(id);
    const now = Date.now();
    if (!c || now - c.typingSentAt < TYPING_EVERY) return;
    if (this.conn.send({ type: 'typing', conversation_id: id })) c.typingSentAt = now;
  }

  onTyping(f) {
    const c = this.convs.get(f.conversation_id);
    if (!c || (this.me && f.user_id === this.me.user_id)) return;
    c.typing.set(f.user_id, Date.now() + TYPING_SHOW);
    this.resolveUser(f.user_id);
    this.emit('conv', { id: c.id });
    this.emit('list');
  }

  typers(c) {
    const now = Date.now();
    return [...c.typing].filter(([, until]) => until > now).map(([u]) => this.userName(u));
  }

  onRead(f) {
    const c = this.convs.get(f.conversation_id);
    if (!c) return;
    if (this.me && f.user_id === this.me.user_id) {
      c.last_read_seq = Math.max(c.last_read_seq, f.seq); // another device
      this.emit('list');
    } else if (bump(c.reads, f.user_id, f.seq)) {
      this.resolveUser(f.user_id);
      this.emit('conv', { id: c.id });
    }
  }

  // Who has seen my message at seq (other members whose read offset, or
  // whose own later message, reached it).
  seenBy(c, seq) {
    return [...c.reads].filter(([, s]) => s >= seq).map(([u]) => u);
  }

  subscribePresence() {
    const ids = [...new Set(this.list().filter((c) => c.peer).map((c) => c.peer.user_id))]
      .slice(0, 1000);
    const key = ids.slice().sort().join(',');
    if (key === this.presenceKey) return;
    if (this.conn.send({ type: 'presence_subscribe', user_ids: ids })) this.presenceKey = key;
  }

  onTick() {
    this.outbox.flush();
    const now = Date.now();
    for (const c of this.convs.values()) {
      let changed = false;
      for (const [u, until] of c.typing) {
        if (until <= now) {
          c.typing.delete(u);
          changed = true;
        }
      }
      if (changed) {
        this.emit('conv', { id: c.id });
        this.emit('list');
      }
    }
  }

  // --- actions that create things ----------------------------------------

  async findUser(name) {
    const problem = usernameProblem(name);
    if (problem) throw new UserError(problem);
    try {
      return await this.api.userByName(name);
    } catch (e) {
      if (e.code === 'not_found') {
        throw new UserError(`No user is called “${name}”.`);
      }
      throw e;
    }
  }

  async startDirect(name) {
    const u = await this.findUser(name);
    if (u.user_id === this.me.user_id) {
      throw new UserError('That is you: pick someone else.');
    }
    const s = await this.api.createDirect(u.user_id);
    const c = this.upsert({ ...s, role: 'member' });
    c.peer = { user_id: u.user_id, username: u.username };
    this.users.set(u.user_id, u.username);
    this.presence.set(u.user_id, { status: u.status, last_seen_at: u.last_seen_at });
    this.toFront(c);
    this.subscribePresence();
    this.want(c);
    this.emit('list');
    return c.id;
  }

  async createGroup(name, names) {
    const users = await Promise.all(names.map((n) => this.findUser(n)));
    const ids = users.map((u) => u.user_id).filter((id) => id !== this.me.user_id);
    for (const u of users) this.users.set(u.user_id, u.username);
    const s = await this.api.createGroup(name, ids);
    const c = this.upsert({ ...s, role: 'admin', last_read_seq: 0 });
    this.toFront(c);
    this.emit('list');
    return c.id;
  }

  async addMembers(id, names) {
    const users = await Promise.all(names.map((n) => this.findUser(n)));
    for (const u of users) this.users.set(u.user_id, u.username);
    const r = await this.api.addMembers(id, users.map((u) => u.user_id));
    const c = this.convs.get(id);
    if (c) c.member_count += r.added;
    this.emit('conv', { id });
    return r.added;
  }

  async removeMember(id, userId) {
    await this.api.removeMember(id, userId);
    const c = this.convs.get(id);
    if (!c) return;
    if (userId === this.me.user_id) {
      this.remove(id);
    } else {
      c.member_count = Math.max(0, c.member_count - 1);
      c.reads.delete(userId);
      this.emit('conv', { id });
    }
    this.emit('list');
  }
}
