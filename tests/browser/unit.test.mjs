// unit.test.mjs - the client's pure modules (no browser): the timeline
// merge that makes resuming gap-free and duplicate-free, the outbox that
// retries sends with the same client_msg_id, the backoff, and the texts
// the UI shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Timeline } from '../../web/js/timeline.js';
import { BACKOFF, backoffDelay } from '../../web/js/backoff.js';
import { ACK_TIMEOUT, Outbox } from '../../web/js/outbox.js';
import {
  errorText, passwordProblem, presenceLabel, splitNames, timeLabel, usernameProblem, utf8Length,
} from '../../web/js/format.js';

const msg = (seq) => ({ seq, content: `m${seq}`, sender_id: 'u', created_at: '' });
const seqs = (list) => list.map((m) => m.seq);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => msg(a + i));

test('timeline: the latest page, then live messages in order', () => {
  const t = new Timeline();
  assert.deepEqual(seqs(t.reset(range(51, 100))), range(51, 100).map((m) => m.seq));
  assert.equal(t.lo, 51);
  assert.equal(t.hi, 100);
  assert.equal(t.hasOlder, true);
  assert.deepEqual(seqs(t.merge(msg(101))), [101]);
  assert.equal(t.get(101).content, 'm101');
  assert.equal(t.get(50), undefined);
});

test('timeline: duplicates are dropped, from any source', () => {
  const t = new Timeline();
  t.reset(range(1, 3));
  assert.deepEqual(t.merge(msg(3)), []);
  assert.deepEqual(t.merge(msg(1)), []);
  assert.deepEqual(seqs(t.merge(msg(4))), [4]);
  assert.deepEqual(t.merge(msg(4)), []);
  assert.deepEqual(seqs(t.msgs), [1, 2, 3, 4]);
});

test('timeline: a gap holds later messages until it is filled, in order', () => {
  const t = new Timeline();
  t.reset(range(1, 2));
  assert.deepEqual(t.merge(msg(5)), []);
  assert.deepEqual(t.merge(msg(4)), []);
  assert.equal(t.hasGap, true);
  assert.equal(t.hi, 2);
  // a sync page overlapping what waits: 3 fills the gap, 4 and 5 follow
  const shown = [];
  for (const m of range(3, 6)) shown.push(...t.merge(m));
  assert.deepEqual(seqs(shown), [3, 4, 5, 6]);
  assert.equal(t.hasGap, false);
  assert.deepEqual(seqs(t.msgs), [1, 2, 3, 4, 5, 6]);
});

test('timeline: live messages before the first page wait for it', () => {
  const t = new Timeline();
  assert.deepEqual(t.merge(msg(10)), []);
  assert.deepEqual(t.merge(msg(12)), []);
  // the page ends at 10: 10 is a duplicate, 12 still waits for 11
  assert.deepEqual(seqs(t.reset(range(1, 10))), range(1, 10).map((m) => m.seq));
  assert.equal(t.hasGap, true);
  assert.deepEqual(seqs(t.merge(msg(11))), [11, 12]);
});

test('timeline: an empty conversation, then its first message', () => {
  const t = new Timeline();
  assert.deepEqual(t.reset([]), []);
  assert.equal(t.hasOlder, false);
  assert.deepEqual(seqs(t.merge(msg(1))), [1]);
  assert.equal(t.lo, 1);
});

test('timeline: scroll-back pages extend the run downwards only', () => {
  const t = new Timeline();
  t.reset(range(101, 150));
  assert.deepEqual(seqs(t.prepend(range(51, 100))), range(51, 100).map((m) => m.seq));
  assert.equal(t.lo, 51);
  // a page with a hole is cut at the hole; one above lo adds nothing
  assert.deepEqual(seqs(t.prepend([msg(10), msg(49), msg(50)])), [49, 50]);
  assert.equal(t.hasOlder, true);
  // a page that adds nothing stops the asking (no loop on a bad answer)
  assert.deepEqual(t.prepend(range(60, 70)), []);
  assert.equal(t.hasOlder, false);
  assert.deepEqual(seqs(t.prepend(range(1, 48))), range(1, 48).map((m) => m.seq));
  assert.equal(t.hasOlder, false);
  assert.deepEqual(seqs(t.msgs), range(1, 150).map((m) => m.seq));
  const u = new Timeline();
  u.reset(range(5, 6));
  assert.deepEqual(u.prepend([]), []);
  assert.equal(u.hasOlder, false);
});

test('timeline: an unordered page with a hole keeps its newest run', () => {
  const t = new Timeline();
  t.reset([msg(9), msg(7), msg(3), msg(8)]);
  assert.deepEqual(seqs(t.msgs), [7, 8, 9]);
});

test('backoff: full jitter under an exponential ceiling, capped, with a floor', () => {
  assert.equal(backoffDelay(0, () => 0.999999), BACKOFF.base - 1);
  assert.equal(backoffDelay(3, () => 0.5), 2000);
  assert.equal(backoffDelay(40, () => 0.999999), BACKOFF.cap - 1);
  assert.equal(backoffDelay(5, () => 0), BACKOFF.floor);
  const seen = new Set();
  for (let i = 0; i < 50; i += 1) seen.add(backoffDelay(4));
  assert.ok(seen.size > 10, 'jittered');
  for (const d of seen) assert.ok(d >= BACKOFF.floor && d < 8000);
});

test('format: times, last seen, sizes and input rules', () => {
  const now = new Date(2026, 10, 24, 15, 0, 0);
  assert.equal(timeLabel(new Date(2026, 10, 24, 9, 5).toISOString(), now), '09:05');
  assert.equal(timeLabel(new Date(2026, 10, 23, 22, 1).toISOString(), now), 'yesterday 22:01');
  assert.equal(timeLabel(new Date(2026, 2, 3, 8, 0).toISOString(), now), '3 Mar 08:00');
  assert.equal(timeLabel('nonsense', now), '');
  assert.equal(presenceLabel({ status: 'online', last_seen_at: null }, now), 'online');
  assert.equal(presenceLabel({ status: 'offline', last_seen_at: null }, now), 'offline');
  const ago = (s) => new Date(now - s * 1000).toISOString();
  assert.equal(presenceLabel({ status: 'offline', last_seen_at: ago(20) }, now), 'last seen just now');
  assert.equal(presenceLabel({ status: 'offline', last_seen_at: ago(600) }, now), 'last seen 10 min ago');
  assert.equal(presenceLabel({ status: 'offline', last_seen_at: ago(4 * 3600) }, now),
    'last seen today at 11:00');
  assert.equal(utf8Length('é🚀'), 6);
  assert.equal(usernameProblem('al'), usernameProblem('a b c'));
  assert.equal(usernameProblem('alice.b-c_1'), '');
  assert.notEqual(passwordProblem('short'), '');
  assert.equal(passwordProblem('long enough'), '');
  assert.deepEqual(splitNames(' bob, carol  dave,bob ;'), ['bob', 'carol', 'dave']);
  assert.equal(errorText('not_a_member'), 'You are not a member of this conversation.');
  assert.equal(errorText('invalid_request', 'username must be 3-32 characters'),
    'Username must be 3-32 characters.');
  assert.equal(errorText('user', 'our own words'), 'our own words');
  assert.equal(errorText('brand_new_code', 'server text'), 'server text');
});

// A fake clock, socket and storage for the outbox.
function outboxRig() {
  const rig = { t: 1000, online: true, wire: [], store: new Map() };
  rig.storage = { getItem: (k) => rig.store.get(k) ?? null, setItem: (k, v) => rig.store.set(k, v) };
  rig.box = new Outbox({
    storage: rig.storage,
    now: () => rig.t,
    send: (f) => rig.online && rig.wire.push(f) > 0,
  });
  rig.box.load('k');
  return rig;
}

test('outbox: stop-and-wait per conversation, resend with the same id', () => {
  const r = outboxRig();
  const a1 = r.box.add('A', 'a1');
  const a2 = r.box.add('A', 'a2');
  const b1 = r.box.add('B', 'b1');
  assert.match(a1.client_msg_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a1.client_msg_id, a2.client_msg_id);
  assert.deepEqual(r.wire.map((f) => f.content), ['a1', 'b1'], 'a2 waits for a1');
  r.box.flush();
  assert.equal(r.wire.length, 2, 'nothing resent while in flight');
  r.t += ACK_TIMEOUT + 1; // no ack: resent, same id
  r.box.flush();
  assert.deepEqual(r.wire.slice(2).map((f) => f.client_msg_id), [a1.client_msg_id, b1.client_msg_id]);
  r.box.acked({ client_msg_id: a1.client_msg_id, seq: 7 });
  assert.equal(r.wire.at(-1).content, 'a2', 'the ack lets the next one go');
  assert.equal(a1.state, 'sent');
  assert.equal(a1.ackSeq, 7);
});

test('outbox: offline entries wait; a new session resends everything in flight', () => {
  const r = outboxRig();
  r.online = false;
  const e = r.box.add('A', 'hello');
  assert.equal(r.wire.length, 0);
  assert.equal(e.sentAt, 0);
  r.online = true;
  r.box.restart();
  assert.equal(r.wire.length, 1);
  r.box.restart(); // reconnect before the ack: sent again, same id
  assert.equal(r.wire.length, 2);
  assert.equal(r.wire[0].client_msg_id, r.wire[1].client_msg_id);
});

test('outbox: rate_limited waits retry_after_ms, busy backs off, final errors stop', () => {
  const r = outboxRig();
  const e = r.box.add('A', 'x');
  assert.equal(r.box.refused({ client_msg_id: e.client_msg_id, code: 'rate_limited',
    retry_after_ms: 400 }), e);
  assert.match(e.note, /too fast/);
  r.t += 399;
  r.box.flush();
  assert.equal(r.wire.length, 1, 'not before retry_after_ms');
  r.t += 100;
  r.box.flush();
  assert.equal(r.wire.length, 2, 'resent after it');
  r.box.refused({ client_msg_id: e.client_msg_id, code: 'overloaded' });
  assert.equal(e.state, 'sending');
  assert.ok(e.retryAt > r.t);
  r.box.refused({ client_msg_id: e.client_msg_id, code: 'content_too_large' });
  assert.equal(e.state, 'failed');
  assert.equal(e.error, 'This message is too long to send.');
  r.t += 60000;
  r.box.flush();
  assert.equal(r.wire.length, 2, 'a failed entry is never resent');
  // a later message of the conversation is not blocked by a failed one
  r.box.add('A', 'next');
  assert.equal(r.wire.at(-1).content, 'next');
  assert.equal(r.box.refused({ client_msg_id: 'someone-else', code: 'overloaded' }), null);
  assert.equal(r.box.refused({ code: 'not_a_member' }), null);
});

test('outbox: an entry leaves when its stored message is shown; it survives a reload', () => {
  const r = outboxRig();
  const e = r.box.add('A', 'hi');
  r.online = false;
  r.box.add('A', 'queued');
  // a reload: acked entries are not kept (history has them), the rest are
  const again = outboxRig();
  again.store = r.store;
  again.box.load('k');
  assert.deepEqual(again.box.entries.map((x) => x.content), ['hi', 'queued']);
  r.box.acked({ client_msg_id: e.client_msg_id, seq: 3 });
  r.box.save();
  again.box.load('k');
  assert.deepEqual(again.box.entries.map((x) => x.content), ['queued']);
  // acked but not yet in the timeline: still shown as pending
  const t = new Timeline();
  t.reset(range(1, 2));
  assert.equal(r.box.settle('A', t, 'me'), false);
  t.merge({ seq: 3, sender_id: 'me', client_msg_id: 'other' });
  assert.equal(r.box.settle('A', t, 'me'), false, 'seq 3 is not this message');
  const u = new Timeline();
  u.reset([...range(1, 2), { seq: 3, sender_id: 'me', client_msg_id: e.client_msg_id }]);
  assert.equal(r.box.settle('A', u, 'me'), true);
  assert.deepEqual(r.box.forConv('A').map((x) => x.content), ['queued']);
  assert.equal(r.box.discard(r.box.entries[0].client_msg_id).content, 'queued');
  assert.deepEqual(r.box.entries, []);
});
