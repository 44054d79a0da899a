// outbox.js - messages the user sent that the server has not stored yet
// (PROTOCOL.md §7, step 4). No DOM and no socket: `send(frame)` is given
// (it returns false when there is no live session), so this is unit-tested
// in node.
//
// An entry is created once, when the user presses Send, with a fresh
// client_msg_id, and resent with that same id until acked: the server
// stores it once however often it arrives. Per conversation only the
// oldest unacked entry is on the wire (stop-and-wait), so a rate-limited
// or retried message never lands after a later one.

import { backoffDelay } from './backoff.js';
import { errorText } from './format.js';

export const ACK_TIMEOUT = 10000; // resend a send not acked by then
// refused for good: the same message would be refused the same way
export const FINAL_ERRORS = new Set(['invalid_request', 'content_too_large', 'not_a_member',
  'not_found', 'invalid_json', 'unknown_type']);

// A random UUID also outside secure contexts (plain http on a LAN).
export function uuid4() {
  if (globalThis.crypto && crypto.randomUUID) {
    try {
      return crypto.randomUUID();
    } catch (e) {
      /* not a secure context: fall through */
    }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class Outbox {
  constructor({ storage, send, now = () => Date.now() }) {
    this.storage = storage;
    this.send = send;
    this.now = now;
    this.key = null;
    this.entries = []; // in the order the user sent them
  }

  // The outbox survives a reload (same tab), so a message typed offline is
  // still sent, with its original client_msg_id, once back online.
  load(key) {
    this.key = key;
    try {
      const v = JSON.parse(this.storage.getItem(key) || '[]');
      this.entries = Array.isArray(v) ? v.filter((e) => e && e.client_msg_id) : [];
    } catch (e) {
      this.entries = [];
    }
  }

  save() {
    if (!this.key) return;
    // acked ones are stored on the server already: history shows them
    const keep = this.entries.filter((e) => e.state !== 'sent').map((e) => ({ ...e, sentAt: 0 }));
    this.storage.setItem(this.key, JSON.stringify(keep));
  }

  add(conversationId, content) {
    const e = {
      client_msg_id: uuid4(),
      conversation_id: conversationId,
      content,
      created_at: new Date(this.now()).toISOString(),
      state: 'sending', // "sending" | "sent" (acked) | "failed"
      error: '', // why it failed, for the user
      note: '', // why it waits (rate limited, busy)
      attempts: 0,
      sentAt: 0, // when last handed to the socket; 0: not in flight
      retryAt: 0,
      ackSeq: 0,
    };
    this.entries.push(e);
    this.save();
    this.flush();
    return e;
  }

  forConv(id) {
    return this.entries.filter((e) => e.conversation_id === id);
  }

  find(cmid) {
    return this.entries.find((e) => e.client_msg_id === cmid);
  }

  // A new session: nothing is in flight any more; resend all.
  restart() {
    for (const e of this.entries) e.sentAt = 0;
    this.flush();
  }

  // Puts on the wire, per conversation, the oldest entry not yet acked,
  // unless it is in flight (and not overdue) or waiting for a retry time.
  flush() {
    const now = this.now();
    const busy = new Set();
    for (const e of this.entries) {
      if (e.state !== 'sending' || busy.has(e.conversation_id)) continue;
      busy.add(e.conversation_id);
      const overdue = e.sentAt && now - e.sentAt > ACK_TIMEOUT;
      if ((e.sentAt && !overdue) || now < e.retryAt) continue;
      const ok = this.send({ type: 'send', conversation_id: e.conversation_id,
        client_msg_id: e.client_msg_id, content: e.content });
      if (!ok) return;
      e.sentAt = now;
    }
  }

  // An `ack`: the message is stored. Returns its entry (or null).
  acked(a) {
    const e = this.find(a.client_msg_id);
    if (e) {
      e.state = 'sent';
      e.ackSeq = a.seq;
      e.note = '';
    }
    this.flush(); // the conversation's next entry may go
    return e || null;
  }

  // An `error` frame with a client_msg_id of ours. Returns the entry, or
  // null if the frame is not about one (the caller handles it).
  refused(f) {
    const e = f.client_msg_id ? this.find(f.client_msg_id) : null;
    if (!e) return null;
    e.sentAt = 0;
    if (f.code === 'rate_limited') {
      e.retryAt = this.now() + (f.retry_after_ms || 1000) + Math.floor(Math.random() * 50);
      e.note = 'Sending too fast: waiting to retry';
    } else if (FINAL_ERRORS.has(f.code)) {
      e.state = 'failed';
      e.error = errorText(f.code, f.message);
      this.save();
    } else {
      e.attempts += 1;
      e.retryAt = this.now() + backoffDelay(e.attempts);
      e.note = errorText(f.code, f.message);
    }
    return e;
  }

  // Drops the entries of a conversation whose stored message the timeline
  // now shows (matched by ack seq and client_msg_id), or, without a loaded
  // timeline, every acked one. Returns true if any left.
  settle(conversationId, tl, me) {
    const loaded = tl && tl.loaded;
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => {
      if (e.conversation_id !== conversationId || e.state !== 'sent') return true;
      if (!loaded) return false;
      const m = tl.get(e.ackSeq);
      return !(m && m.sender_id === me && m.client_msg_id === e.client_msg_id);
    });
    if (this.entries.length === before) return false;
    this.save();
    return true;
  }

  discard(cmid) {
    const e = this.find(cmid);
    if (!e) return null;
    this.entries = this.entries.filter((x) => x !== e);
    this.save();
    return e;
  }

  dropConversation(id) {
    this.entries = this.entries.filter((e) => e.conversation_id !== id);
    this.save();
  }
}
