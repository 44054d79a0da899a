// unit.test.mjs - the client's pure modules (no browser): the timeline
// merge that makes resuming gap-free and duplicate-free, the backoff, and
// the texts the UI shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Timeline } from '../../web/js/timeline.js';
import { BACKOFF, backoffDelay } from '../../web/js/backoff.js';
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
