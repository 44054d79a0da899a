#!/usr/bin/env python3
"""Client-side delivery checker for Parley's fault tests.

A Checker drives N users in M conversations (direct and small groups, each
user with one or two WebSocket connections, "devices") under an open-loop
send load, survives server faults (reconnect with jittered backoff,
re-authenticate, resume every conversation from its last contiguous seq,
resend every unacked message with the same client_msg_id), and records
every send, ack, delivery and error in a Recorder. At the end, after a
quiet period and a final sync of every conversation, the Recorder's
report() counts what went wrong; Report.assert_clean() raises with a
readable summary unless every count is zero.

Definitions (per conversation; docs/ARCHITECTURE.md, "Proving delivery
under faults", says the same):

- acked: distinct client_msg_ids the server acked.
- lost: acked messages that some device of a member never received, live
  or through a resume (sync/REST page), before the final sync.
- duplicates: a live `message` frame for a seq the same device already
  received live (in this session or an earlier one: a resume never
  re-pushes), or a sync/history page entry at or below the page's
  after_seq or repeated within the page. A page overlapping live frames
  is not a duplicate (the protocol says to de-duplicate those).
- live_gaps: within one session, a live frame whose seq skips over seqs
  after the previous live frame of that conversation (a connected
  subscriber was skipped).
- reorders: within one session, a live frame with a seq lower than one
  already received live in that conversation; or a page not ascending.
- gaps: after the final sync, seqs missing from a device's received set
  in 1..last (last = the highest seq in history or received).
- history_missing: acked messages not in REST history at their acked seq
  with their acked message_id.
- history_gaps: history seqs that are not exactly 1..last_seq.
- stored_twice: client_msg_ids seen at two different seqs (history or
  deliveries).
- conflicting_acks: client_msg_ids whose acks disagree with each other,
  or with the seq at which the message was delivered or stored.
- seq_conflicts: one (conversation, seq) seen with two message_ids.

Run against a server (users from `parley admin create-users` with
--data-dir, else registered over REST):

  python tests/faults/checker.py --url http://127.0.0.1:8080 \\
      --data-dir ./parley-data --users 20 --rate 200 --duration 30

Exit status: 0 clean, 1 a count is not zero, 2 the run could not be made
(set-up or history reads failed).
"""

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import random
import shutil
import sys
import time
import uuid

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# Send errors after which the message is retried with the same id.
RETRY_CODES = frozenset(("rate_limited", "overloaded", "internal"))
# Counts that must be zero in a clean run (per conversation and total).
FAILURE_COUNTS = ("lost", "duplicates", "gaps", "live_gaps", "reorders",
                  "history_missing", "history_gaps", "stored_twice",
                  "conflicting_acks", "seq_conflicts")
EXAMPLES_PER_KIND = 10
PAGE = 200


# ------------------------------------------------------------------ data


@dataclasses.dataclass
class Account:
    user_id: str
    username: str
    token: str
    password: str = None


@dataclasses.dataclass
class Config:
    url: str
    rate: float = 200.0            # new messages per second, all users
    duration: float = 30.0         # seconds of send load
    conversations: int = None      # default: as many as users
    group_share: float = 0.5       # share of group conversations
    group_size: tuple = (3, 5)     # members of a group, inclusive
    two_device_share: float = 0.5  # share of users with two connections
    resume: str = "sync"           # "sync" (WS frames) or "rest"
    echo_resend: float = 0.02      # share of acked messages resent once
    backoff_base: float = 0.1      # reconnect backoff, seconds
    backoff_cap: float = 2.0
    resend_after: float = 5.0      # resend a send unanswered this long
    drain_timeout: float = 30.0    # wait for acks and deliveries at the end
    drain_stall: float = 10.0      # ... but no longer than this without any
    settle: float = 0.5            # then wait this long for stray frames
    max_pending: int = 100000      # unacked messages, all devices
    content_bytes: int = 48
    seed: int = None
    data_dir: str = None           # for `parley admin token` re-auth
    parley_bin: str = None
    cli_env: dict = None           # extra environment for `parley admin`
                                   # (e.g. PARLEY_STORE, PARLEY_PG_DSN)


@dataclasses.dataclass
class ConversationReport:
    conversation_id: str
    kind: str
    members: int
    devices: int
    acked: int = 0
    last_seq: int = 0
    lost: int = 0
    lost_deliveries: int = 0
    duplicates: int = 0
    gaps: int = 0
    live_gaps: int = 0
    reorders: int = 0
    history_missing: int = 0
    history_gaps: int = 0
    stored_twice: int = 0
    conflicting_acks: int = 0
    seq_conflicts: int = 0


@dataclasses.dataclass
class Report:
    conversations: list
    acked: int = 0
    sent: int = 0                 # new messages sent at least once
    resent: int = 0               # sends of an id sent before
    resend_acks_matched: int = 0  # acks of a resend that matched the first
    unacked: int = 0              # messages never acked
    rejected: int = 0             # dropped after a non-retryable error
    live_frames: int = 0
    page_messages: int = 0
    sessions: int = 0
    reconnects: int = 0
    devices: int = 0
    devices_down: int = 0         # devices not connected at the end
    errors: dict = dataclasses.field(default_factory=dict)
    examples: dict = dataclasses.field(default_factory=dict)
    lost: int = 0
    lost_deliveries: int = 0
    duplicates: int = 0
    gaps: int = 0
    live_gaps: int = 0
    reorders: int = 0
    history_missing: int = 0
    history_gaps: int = 0
    stored_twice: int = 0
    conflicting_acks: int = 0
    seq_conflicts: int = 0

    def failures(self):
        """Every nonzero failure count (and no_acks when nothing was acked:
        a run that acked nothing proves nothing)."""
        out = {k: getattr(self, k) for k in FAILURE_COUNTS if getattr(self, k)}
        for k in ("unacked", "rejected", "devices_down"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        if self.acked == 0:
            out["no_acks"] = 1
        return out

    def clean(self):
        return not self.failures()

    def summary(self):
        lines = ["acked %d (sent %d, resent %d, resend acks matching the "
                 "first %d), unacked %d, rejected %d"
                 % (self.acked, self.sent, self.resent,
                    self.resend_acks_matched, self.unacked, self.rejected),
                 "deliveries: %d live frames, %d page messages; %d devices, "
                 "%d sessions, %d reconnects, %d down at the end"
                 % (self.live_frames, self.page_messages, self.devices,
                    self.sessions, self.reconnects, self.devices_down),
                 "  ".join("%s %d" % (k, getattr(self, k))
                           for k in FAILURE_COUNTS)]
        if self.errors:
            lines.append("errors: " + ", ".join(
                "%s %d" % kv for kv in sorted(self.errors.items())))
        bad = [c for c in self.conversations
               if any(getattr(c, k) for k in FAILURE_COUNTS)]
        for c in bad[:20]:
            lines.append("  %s %s (%d members, %d devices) acked %d: %s" % (
                c.kind, c.conversation_id, c.members, c.devices, c.acked,
                ", ".join("%s %d" % (k, getattr(c, k)) for k in FAILURE_COUNTS
                          if getattr(c, k))))
        for kind, ex in sorted(self.examples.items()):
            for e in ex:
                lines.append("  [%s] %s" % (kind, e))
        return "\n".join(lines)

    def assert_clean(self):
        f = self.failures()
        if f:
            raise AssertionError("delivery check failed: %s\n%s" % (
                ", ".join("%s=%d" % kv for kv in f.items()), self.summary()))

    def to_json(self):
        return dataclasses.asdict(self)


# ------------------------------------------------------------------ recorder


class DeviceLog:
    """What one device (a user's connection, across its sessions) got."""

    def __init__(self, dev, user_id):
        self.dev = dev
        self.user_id = user_id
        self.session = 0
        self.connected = False
        # conversation -> [(session, seq, source)] in arrival order
        self.arrivals = collections.defaultdict(list)
        self.got = collections.defaultdict(set)        # every seq received
        self.contig = collections.defaultdict(int)     # 1..contig all in got
        self.top = collections.defaultdict(int)        # max(got)
        self.late = collections.defaultdict(set)       # first got in final
        self.live_seen = collections.defaultdict(set)  # all sessions
        self.live_last = {}                            # this session


class Recorder:
    """Records sends, acks, deliveries, errors and history; report() counts
    the failures. Pure bookkeeping (no I/O), so tests can feed it
    synthetic events."""

    def __init__(self):
        self.convs = {}          # cid -> (kind, [user_id])
        self.devices = {}        # dev -> DeviceLog
        self.user_devices = collections.defaultdict(list)
        self.msgs = {}           # cmid -> (cid, sender)
        self.send_count = collections.Counter()
        self.acks = {}           # cmid -> (seq, message_id) of the first ack
        self.bad_acks = set()    # cmids with conflicting acks
        self.resend_acks_matched = 0
        self.rejected = {}       # cmid -> code
        self.errors = collections.Counter()
        self.ident = {}          # (cid, seq) -> (message_id, cmid)
        self.conflicted = set()  # (cid, seq) already reported
        self.top_ack = collections.defaultdict(int)    # cid -> max acked seq
        # (cid, cmid) -> seqs it was delivered or stored at
        self.cmid_seqs = collections.defaultdict(set)
        self.history = {}        # cid -> [message]
        self.ev = collections.defaultdict(collections.Counter)  # cid -> kind
        self.examples = collections.defaultdict(list)
        self.final = False
        self.down = None         # devices not connected at mark_final()
        self.live_frames = 0
        self.page_messages = 0

    # -- set-up

    def add_conversation(self, cid, kind, members):
        self.convs[cid] = (kind, list(members))

    def add_device(self, dev, user_id):
        self.devices[dev] = DeviceLog(dev, user_id)
        self.user_devices[user_id].append(dev)

    # -- sessions

    def session_start(self, dev, baseline=None):
        """A session got its hello. baseline: conversation -> the seq the
        live stream must continue from (0 for conversations known to have
        no messages yet), so that even the first live frame of the session
        is checked for gaps; without it the first frame is not."""
        d = self.devices[dev]
        d.session += 1
        d.connected = True
        d.live_last = dict(baseline or {})

    def session_end(self, dev):
        self.devices[dev].connected = False

    # -- sends and answers

    def sent(self, cmid, cid, sender):
        """A send frame (or POST) for cmid went out; resends included."""
        self.msgs.setdefault(cmid, (cid, sender))
        self.send_count[cmid] += 1

    def ack(self, cmid, cid, seq, message_id):
        first = self.acks.get(cmid)
        if first is None:
            self.acks[cmid] = (seq, message_id)
            self.msgs.setdefault(cmid, (cid, None))
            if seq > self.top_ack[cid]:
                self.top_ack[cid] = seq
            return
        if first == (seq, message_id):
            self.resend_acks_matched += 1
            return
        self.bad_acks.add(cmid)
        self._event(cid, "conflicting_acks", "%s acked as seq %s (%s), earlier "
                    "seq %s (%s)" % (cmid, seq, message_id, first[0], first[1]))

    def reject(self, cmid, code):
        self.rejected[cmid] = code

    def error(self, code):
        self.errors[code] += 1

    # -- deliveries

    def live(self, dev, cid, seq, message_id, cmid):
        """A live `message` frame. Returns True when it leaves seqs missing
        below it (the client should sync to fill them)."""
        d = self.devices[dev]
        self.live_frames += 1
        self._see(cid, seq, message_id, cmid)
        d.arrivals[cid].append((d.session, seq, "live"))
        last = d.live_last.get(cid)
        if seq in d.live_seen[cid]:
            self._event(cid, "duplicates", "%s session %d: live seq %d again"
                        % (dev, d.session, seq))
        elif last is not None and seq < last:
            self._event(cid, "reorders", "%s session %d: live seq %d after %d"
                        % (dev, d.session, seq, last))
        elif last is not None and seq > last + 1:
            self._event(cid, "live_gaps", "%s session %d: live seq %d after %d"
                        % (dev, d.session, seq, last))
        d.live_seen[cid].add(seq)
        if last is None or seq > last:
            d.live_last[cid] = seq
        hole = seq > d.top[cid] + 1
        self._deliver(d, cid, seq)
        return hole

    def page(self, dev, cid, after_seq, messages, source="sync"):
        """A page of stored messages (a `synced` frame or a REST history
        page) asked for with after_seq."""
        d = self.devices[dev]
        prev = after_seq
        seen = set()
        for m in messages:
            seq = m["seq"]
            self.page_messages += 1
            self._see(cid, seq, m.get("message_id"), m.get("client_msg_id"))
            d.arrivals[cid].append((d.session, seq, source))
            if seq <= after_seq or seq in seen:
                self._event(cid, "duplicates", "%s %s page after %d holds "
                            "seq %d again" % (dev, source, after_seq, seq))
            elif seq < prev:
                self._event(cid, "reorders", "%s %s page after %d: seq %d "
                            "after %d" % (dev, source, after_seq, seq, prev))
            seen.add(seq)
            prev = max(prev, seq)
            self._deliver(d, cid, seq)

    def mark_final(self):
        """Deliveries from now on are the final sync: they no longer count
        against `lost` but still close `gaps`. Devices not connected now
        count as down at the end."""
        self.final = True
        self.down = [d.dev for d in self.devices.values() if not d.connected]

    def set_history(self, cid, messages):
        self.history[cid] = list(messages)
        for m in messages:
            self._see(cid, m["seq"], m.get("message_id"), m.get("client_msg_id"))

    # -- queries used by the client

    def contig(self, dev, cid):
        return self.devices[dev].contig[cid]

    def acked_top(self, cid):
        """Highest acked seq in cid (0 if none)."""
        return self.top_ack[cid]

    def unacked(self):
        return [c for c in self.msgs if c not in self.acks
                and c not in self.rejected]

    # -- internals

    def _event(self, cid, kind, text):
        self.ev[cid][kind] += 1
        ex = self.examples[kind]
        if len(ex) < EXAMPLES_PER_KIND:
            ex.append("conversation %s: %s" % (cid, text))

    def _deliver(self, d, cid, seq):
        got = d.got[cid]
        if seq in got:
            return
        got.add(seq)
        if self.final:
            d.late[cid].add(seq)
        if seq > d.top[cid]:
            d.top[cid] = seq
        c = d.contig[cid]
        while c + 1 in got:
            c += 1
        d.contig[cid] = c

    def _see(self, cid, seq, message_id, cmid):
        key = (cid, seq)
        cur = (message_id, cmid)
        old = self.ident.get(key)
        if old is None:
            self.ident[key] = cur
        elif old != cur and key not in self.conflicted:
            self.conflicted.add(key)
            self._event(cid, "seq_conflicts", "seq %d seen as %s and as %s"
                        % (seq, old, cur))
        if cmid is not None:
            self.cmid_seqs[(cid, cmid)].add(seq)

    # -- the report

    def report(self):
        rep = Report(conversations=[])
        acked_by_conv = collections.defaultdict(dict)
        for cmid, (seq, mid) in self.acks.items():
            acked_by_conv[self.msgs[cmid][0]][cmid] = (seq, mid)
        ids_by_conv = collections.defaultdict(dict)
        for (cid, cmid), seqs in self.cmid_seqs.items():
            ids_by_conv[cid][cmid] = seqs
        for cid in self.convs:
            rep.conversations.append(self._conv_report(
                cid, acked_by_conv[cid], ids_by_conv[cid]))
        for k in FAILURE_COUNTS + ("lost_deliveries", "acked"):
            setattr(rep, k, sum(getattr(c, k) for c in rep.conversations))
        rep.sent = len(self.send_count)
        rep.resent = sum(n - 1 for n in self.send_count.values())
        rep.resend_acks_matched = self.resend_acks_matched
        rep.unacked = len(self.unacked())
        rep.rejected = len(self.rejected)
        rep.live_frames = self.live_frames
        rep.page_messages = self.page_messages
        rep.devices = len(self.devices)
        rep.sessions = sum(d.session for d in self.devices.values())
        rep.reconnects = sum(max(0, d.session - 1)
                             for d in self.devices.values())
        down = self.down if self.down is not None else [
            d.dev for d in self.devices.values() if not d.connected]
        rep.devices_down = len(down)
        if down:
            self.examples["devices_down"] = down[:EXAMPLES_PER_KIND]
        rep.errors = dict(self.errors)
        for cmid in self.unacked()[:EXAMPLES_PER_KIND]:
            self.examples["unacked"].append("%s in conversation %s"
                                            % (cmid, self.msgs[cmid][0]))
        rep.examples = {k: list(v) for k, v in self.examples.items() if v}
        return rep

    def _conv_report(self, cid, acked, ids):
        kind, members = self.convs[cid]
        devs = [self.devices[x] for u in members for x in self.user_devices[u]]
        cr = ConversationReport(cid, kind, len(members), len(devs))
        cr.acked = len(acked)
        for k in ("duplicates", "live_gaps", "reorders", "seq_conflicts"):
            setattr(cr, k, self.ev[cid][k])
        hist = self.history.get(cid)
        self._check_lost(cr, acked, devs)
        self._check_gaps(cr, devs, hist)
        self._check_history(cr, acked, hist)
        self._check_ids(cr, acked, ids)
        return cr

    def _check_lost(self, cr, acked, devs):
        for cmid, (seq, _) in sorted(acked.items(), key=lambda kv: kv[1]):
            missing = [d.dev for d in devs if seq not in d.got[cr.conversation_id]
                       or seq in d.late[cr.conversation_id]]
            if missing:
                cr.lost += 1
                cr.lost_deliveries += len(missing)
                self._example("lost", cr, "acked seq %d (%s) never reached %s"
                              % (seq, cmid, ", ".join(missing)))

    def _check_gaps(self, cr, devs, hist):
        cid = cr.conversation_id
        last = max((m["seq"] for m in hist or ()), default=0)
        cr.last_seq = last
        for d in devs:
            top = max(last, d.top[cid])
            missing = top - len([s for s in d.got[cid] if 1 <= s <= top])
            if missing:
                cr.gaps += missing
                self._example("gaps", cr, "%s lacks %d of seqs 1..%d (first "
                              "missing %d)" % (d.dev, missing, top,
                                               d.contig[cid] + 1))

    def _check_history(self, cr, acked, hist):
        by_seq = collections.defaultdict(list)
        for m in hist or ():
            by_seq[m["seq"]].append(m)
        for cmid, (seq, mid) in acked.items():
            if not any(m.get("client_msg_id") == cmid and
                       m.get("message_id") == mid for m in by_seq.get(seq, ())):
                cr.history_missing += 1
                self._example("history_missing", cr, "acked %s seq %d (%s) "
                              "not in history%s" % (cmid, seq, mid,
                                                    "" if hist is not None
                                                    else " (never fetched)"))
        seqs = [m["seq"] for m in hist or ()]
        want = list(range(1, len(seqs) + 1))
        if seqs != want:
            n = len(set(range(1, max(seqs) + 1)) - set(seqs)) + \
                len(seqs) - len(set(seqs))
            cr.history_gaps += max(n, 1)
            self._example("history_gaps", cr, "history seqs are not 1..%d: "
                          "%s" % (len(seqs), _ranges(seqs)))

    def _check_ids(self, cr, acked, ids):
        """ids: cmid -> every seq it was delivered or stored at."""
        for cmid, seqs in ids.items():
            if len(seqs) > 1:
                cr.stored_twice += 1
                self._example("stored_twice", cr, "client_msg_id %s at seqs "
                              "%s" % (cmid, sorted(seqs)))
        for cmid, (seq, _) in acked.items():
            other = [s for s in ids.get(cmid, ()) if s != seq]
            if cmid in self.bad_acks or other:
                cr.conflicting_acks += 1
            if other and cmid not in self.bad_acks:
                self._example("conflicting_acks", cr, "%s acked as seq %d, "
                              "seen at seq %s" % (cmid, seq, other))

    def _example(self, kind, cr, text):
        ex = self.examples[kind]
        if len(ex) < EXAMPLES_PER_KIND:
            ex.append("%s %s: %s" % (cr.kind, cr.conversation_id, text))


def _ranges(seqs):
    """A short text of a seq list: '1-5, 7, 7, 9-12'."""
    out, run = [], None
    for s in seqs:
        if run and s == run[1] + 1:
            run[1] = s
            continue
        if run:
            out.append(str(run[0]) if run[0] == run[1] else "%d-%d" % tuple(run))
        run = [s, s]
    if run:
        out.append(str(run[0]) if run[0] == run[1] else "%d-%d" % tuple(run))
    text = ", ".join(out)
    return text if len(text) < 200 else text[:200] + "..."


# ------------------------------------------------------------------ client


class Device:
    """One WebSocket connection of a user, kept up across faults."""

    def __init__(self, checker, dev, account):
        self.c = checker
        self.dev = dev
        self.acct = account
        self.convs = []          # conversation ids of the user
        self.outbox = {}         # cmid -> (cid, content); unacked, in order
        self.ws = None
        self.session = 0
        self.sendq = None        # this session's writer queue
        self.inflight = {}       # cmid -> monotonic time of its send
        self.sync_wanted = set()
        self.syncq = None
        self.sync_fut = None
        self.syncing = False
        self.task = None

    # -- the generator's entry

    def submit(self, cmid, cid, content):
        self.outbox[cmid] = (cid, content)
        if self.sendq is not None:
            self.sendq.put_nowait(cmid)

    # -- connection loop

    async def run(self):
        attempt = 0
        while not self.c.stopping:
            ws = await self._connect()
            if ws is not None:
                try:
                    if await self._hello(ws):
                        attempt = 0
                        await self._session(ws)
                except Exception as e:  # closed, reset, timeout, bad frame
                    if not self.c.stopping:
                        self.c.rec.error(_close_reason(e))
                finally:
                    await _close_quietly(ws)
            if self.c.stopping:
                break
            cap = min(self.c.cfg.backoff_cap,
                      self.c.cfg.backoff_base * 2 ** min(attempt, 16))
            attempt += 1
            await self.c.sleep(self.c.rng.uniform(0.01, max(0.01, cap)))

    async def _connect(self):
        try:
            return await ws_connect(
                self.c.ws_url, additional_headers={
                    "Authorization": "Bearer " + self.acct.token},
                open_timeout=5, ping_interval=5, ping_timeout=10,
                close_timeout=2, max_size=16 << 20, max_queue=None,
                compression=None, proxy=None)
        except InvalidStatus as e:
            code = e.response.status_code
            self.c.rec.error("connect_http_%d" % code)
            if code == 401:
                await self.c.reauth(self.acct)
        except Exception as e:  # refused, reset, timeout, bad handshake
            self.c.rec.error("connect_" + type(e).__name__)
        return None

    async def _hello(self, ws):
        raw = await asyncio.wait_for(ws.recv(), 10)
        o = json.loads(raw)
        if o.get("type") != "hello":
            self.c.rec.error("first_frame_" + str(o.get("type")))
            return False
        return True

    async def _session(self, ws):
        self.ws = ws
        self.session += 1
        self.inflight = {}
        self.sendq = asyncio.Queue()
        self.syncq = asyncio.Queue()
        self.sync_wanted = set()
        # Before the first send of the run every conversation is empty, so
        # the live stream of a session that starts then must begin at 1.
        base = None if self.c.generating else {c: 0 for c in self.convs}
        self.c.rec.session_start(self.dev, base)
        for cmid in list(self.outbox):     # resend everything unacked
            self.sendq.put_nowait(cmid)
        for cid in self.convs:             # resume every conversation
            self.want_sync(cid)
        helpers = [asyncio.create_task(self._guard(f, ws)) for f in
                   (self._writer, self._syncer, self._sweeper)]
        try:
            await self._reader()
        finally:
            self.ws = None
            self.sendq = None
            self.c.rec.session_end(self.dev)
            for t in helpers:
                t.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if self.sync_fut is not None and not self.sync_fut.done():
                self.sync_fut.cancel()

    # -- session tasks

    async def _guard(self, f, ws):
        """Run a session task; if it fails, end the session (the reader
        sees the close) so the device reconnects instead of stalling."""
        try:
            await f()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if not isinstance(e, ConnectionClosed):
                self.c.rec.error("task_%s_%s" % (f.__name__.strip("_"),
                                                 type(e).__name__))
            await _close_quietly(ws)

    async def _writer(self):
        q, ws = self.sendq, self.ws
        while True:
            item = await q.get()
            if isinstance(item, dict):
                await ws.send(json.dumps(item))
                continue
            entry = self.outbox.get(item)
            if entry is None or item in self.inflight:
                continue
            self.inflight[item] = time.monotonic()
            self.c.rec.sent(item, entry[0], self.acct.user_id)
            await ws.send(json.dumps({
                "type": "send", "conversation_id": entry[0],
                "client_msg_id": item, "content": entry[1]}))

    async def _sweeper(self):
        """Resend (same id) what got no answer within resend_after."""
        while True:
            await asyncio.sleep(1.0)
            old = time.monotonic() - self.c.cfg.resend_after
            for cmid, t in list(self.inflight.items()):
                if t < old:
                    del self.inflight[cmid]
                    self.c.rec.error("send_timeout")
                    self.sendq.put_nowait(cmid)

    def want_sync(self, cid):
        if cid not in self.sync_wanted and self.syncq is not None:
            self.sync_wanted.add(cid)
            self.syncq.put_nowait(cid)

    async def _syncer(self):
        while True:
            cid = await self.syncq.get()
            self.sync_wanted.discard(cid)
            self.syncing = True
            try:
                if self.c.cfg.resume == "rest":
                    await self._catch_up_rest(cid)
                else:
                    await self._catch_up_ws(cid)
            finally:
                self.syncing = False

    async def _catch_up_ws(self, cid):
        """sync pages from the last contiguous seq until has_more is false;
        one sync in flight at a time, so an error frame (which names no
        conversation) belongs to it."""
        tries = 0
        while True:
            after = self.c.rec.contig(self.dev, cid)
            self.sync_fut = asyncio.get_running_loop().create_future()
            self.sendq.put_nowait({"type": "sync", "conversation_id": cid,
                                   "after_seq": after, "limit": PAGE})
            try:
                page = await asyncio.wait_for(self.sync_fut, 15)
            except (RuntimeError, asyncio.TimeoutError) as e:
                self.c.rec.error("sync_" + (str(e) or "timeout"))
                tries += 1
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(tries, 6)))
                continue
            msgs = page.get("messages") or []
            self.c.rec.page(self.dev, cid, page.get("after_seq", after), msgs)
            if not page.get("has_more"):
                return

    async def _catch_up_rest(self, cid):
        tries = 0
        while True:
            after = self.c.rec.contig(self.dev, cid)
            try:
                body = await self.c.history_page(self.acct, cid, after)
            except (httpx.HTTPError, RuntimeError) as e:
                self.c.rec.error("rest_" + type(e).__name__)
                tries += 1
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(tries, 6)))
                continue
            self.c.rec.page(self.dev, cid, after, body["messages"], "rest")
            if not body["has_more"]:
                return

    async def _reader(self):
        ws = self.ws
        while True:
            o = json.loads(await ws.recv())
            t = o.get("type")
            if t == "message":
                cid = o["conversation_id"]
                if self.c.rec.live(self.dev, cid, o["seq"], o.get("message_id"),
                                   o.get("client_msg_id")):
                    self.want_sync(cid)    # seqs missing below: fill them
            elif t == "ack":
                self._on_ack(o)
            elif t == "synced":
                if self.sync_fut is not None and not self.sync_fut.done():
                    self.sync_fut.set_result(o)
            elif t == "error":
                self._on_error(o)

    def _on_ack(self, o):
        cmid = o.get("client_msg_id")
        self.c.rec.ack(cmid, o["conversation_id"], o["seq"], o.get("message_id"))
        self.inflight.pop(cmid, None)
        entry = self.outbox.pop(cmid, None)
        if entry is not None and self.c.echo_resend_due(cmid):
            self.submit(cmid, *entry)      # idempotency probe: same id again

    def _on_error(self, o):
        code = o.get("code", "?")
        self.c.rec.error(code)
        cmid = o.get("client_msg_id")
        if cmid is None:
            if self.sync_fut is not None and not self.sync_fut.done():
                self.sync_fut.set_exception(RuntimeError(code))
            return
        self.inflight.pop(cmid, None)
        if cmid not in self.outbox:
            return
        if code not in RETRY_CODES:
            self.c.rec.reject(cmid, code)
            del self.outbox[cmid]
            return
        delay = o.get("retry_after_ms", 0) / 1000.0 if code == "rate_limited" \
            else 0.1
        delay += self.c.rng.uniform(0, 0.1)
        q = self.sendq
        asyncio.get_running_loop().call_later(
            delay, lambda: q is self.sendq and q.put_nowait(cmid))

    async def close(self):
        ws = self.ws
        if ws is not None:
            await _close_quietly(ws)


def _close_reason(e):
    if isinstance(e, ConnectionClosed):
        rcvd = e.rcvd
        return "closed_%s" % (rcvd.code if rcvd is not None else "abnormal")
    return "session_" + type(e).__name__


async def _close_quietly(ws):
    try:
        await asyncio.wait_for(ws.close(), 3)
    except Exception:
        pass


# ------------------------------------------------------------------ checker


class Checker:
    """Drives the load and collects the Recorder's report.

    setup() creates the conversations; run() connects every device, sends
    for cfg.duration seconds, drains and returns report(). A test injects
    faults concurrently with run()."""

    def __init__(self, cfg, accounts):
        if len(accounts) < 2:
            raise ValueError("need at least 2 users")
        self.cfg = cfg
        self.accounts = list(accounts)
        self.rng = random.Random(cfg.seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.rec = Recorder()
        self.stopping = False
        self.devices = []
        self.by_user = collections.defaultdict(list)
        self.conv_members = {}   # cid -> [Account]
        self.http = None
        base = cfg.url.rstrip("/")
        self.ws_url = base.replace("http://", "ws://", 1).replace(
            "https://", "wss://", 1) + "/v1/ws"
        self._stop_event = None
        self._echo = set()
        self.generating = False
        self.stopping_sends = False

    # -- set-up

    async def setup(self):
        self.http = httpx.AsyncClient(base_url=self.cfg.url, timeout=10,
                                      trust_env=False)
        self._stop_event = asyncio.Event()
        for a in self.accounts:
            n = 2 if self.rng.random() < self.cfg.two_device_share else 1
            for i in range(n):
                d = Device(self, "%s/%d" % (a.username, i), a)
                self.devices.append(d)
                self.by_user[a.user_id].append(d)
                self.rec.add_device(d.dev, a.user_id)
        for kind, members in self._plan():
            cid = await self._create(kind, members)
            if cid in self.conv_members:
                continue           # a direct pair chosen twice
            self.conv_members[cid] = members
            self.rec.add_conversation(cid, kind, [m.user_id for m in members])
            for m in members:
                for d in self.by_user[m.user_id]:
                    d.convs.append(cid)

    def _plan(self):
        """(kind, members) per conversation; every user in at least one."""
        n = len(self.accounts)
        m = self.cfg.conversations or n
        groups = int(round(m * self.cfg.group_share)) if n >= 3 else 0
        order = self.accounts[:]
        self.rng.shuffle(order)
        cycle, pos, pairs, plan = order, 0, set(), []
        for i in range(m):
            kind = "group" if i < groups else "direct"
            lo, hi = self.cfg.group_size
            size = min(n, self.rng.randint(lo, hi)) if kind == "group" else 2
            members = []
            while len(members) < size:
                u = cycle[pos % n]
                pos += 1
                if u not in members:
                    members.append(u)
            if kind == "direct":
                key = frozenset(u.user_id for u in members)
                if key in pairs:
                    continue
                pairs.add(key)
            plan.append((kind, members))
        return plan

    async def _create(self, kind, members):
        body = {"type": kind, "member_ids": [u.user_id for u in members[1:]]}
        if kind == "group":
            body["name"] = "checker-" + self.run_id
        r = await self.http.post("/v1/conversations", json=body,
                                 headers=_auth(members[0].token))
        if r.status_code not in (200, 201):
            raise RuntimeError("create %s conversation: %d %s"
                               % (kind, r.status_code, r.text[:300]))
        return r.json()["conversation_id"]

    # -- run

    async def run(self):
        if self.http is None:
            await self.setup()
        for d in self.devices:
            d.task = asyncio.create_task(d.run())
        try:
            await self._connected(15.0)
            await self._generate()
            await self._drain()
            await self._final_sync()
        finally:
            await self._stop()
        return self.rec.report()

    async def _connected(self, timeout):
        """Wait (bounded) until every device has its first session."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(d.session > 0 for d in self.devices):
                return
            await asyncio.sleep(0.02)

    async def _generate(self):
        self.generating = True
        cfg = self.cfg
        convs = list(self.conv_members)
        start = time.monotonic()
        n = 0
        while True:
            now = time.monotonic() - start
            if now >= cfg.duration:
                break
            due = int(now * cfg.rate)
            while n < due:
                n += 1
                if sum(len(d.outbox) for d in self.devices) < cfg.max_pending:
                    self._new_message(self.rng.choice(convs), n)
                else:
                    self.rec.error("generator_throttled")
            await asyncio.sleep(0.005)

    def _new_message(self, cid, n):
        sender = self.rng.choice(self.conv_members[cid])
        dev = self.rng.choice(self.by_user[sender.user_id])
        cmid = "ck-%s-%d" % (self.run_id, n)
        text = "checker %s #%d " % (self.run_id, n)
        text += "x" * max(0, self.cfg.content_bytes - len(text))
        dev.submit(cmid, cid, text)

    def echo_resend_due(self, cmid):
        """Resend a share of acked messages once, with the same id: the
        answer must be the original seq and message_id."""
        if cmid in self._echo or self.stopping_sends:
            return False
        if self.rng.random() < self.cfg.echo_resend:
            self._echo.add(cmid)
            return True
        return False

    async def _drain(self):
        """Until every device is connected, has nothing unacked and holds
        every acked seq, bounded by drain_timeout; then settle."""
        self.stopping_sends = True
        now = time.monotonic()
        deadline, moved, last = now + self.cfg.drain_timeout, now, None
        while now < deadline and now - moved < self.cfg.drain_stall \
                and not self._drained():
            await asyncio.sleep(0.05)
            now = time.monotonic()
            progress = self._progress()
            if progress != last:
                moved, last = now, progress
        await asyncio.sleep(self.cfg.settle)

    def _progress(self):
        r = self.rec
        return (r.live_frames, r.page_messages, len(r.acks),
                sum(d.session for d in r.devices.values()))

    def _drained(self):
        for d in self.devices:
            if d.ws is None or d.outbox or d.inflight or d.sync_wanted \
                    or d.syncing:
                return False
        tops = {cid: self.rec.acked_top(cid) for cid in self.conv_members}
        for d in self.devices:
            for cid in d.convs:
                if self.rec.contig(d.dev, cid) < tops[cid]:
                    return False
        return True

    async def _final_sync(self):
        """REST catch-up of every conversation on every device, then each
        conversation's whole history."""
        self.rec.mark_final()
        for d in self.devices:
            for cid in d.convs:
                after = self.rec.contig(d.dev, cid)
                while True:
                    body = await self.history_page(d.acct, cid, after)
                    self.rec.page(d.dev, cid, after, body["messages"], "final")
                    if not body["has_more"] or not body["messages"]:
                        break
                    after = max(self.rec.contig(d.dev, cid),
                                body["messages"][-1]["seq"])
        for cid, members in self.conv_members.items():
            self.rec.set_history(cid, await self.history_all(members[0], cid))

    async def history_page(self, acct, cid, after):
        """One page of GET .../messages?after_seq=, retried (bounded) through
        connection errors, 401 (new token) and 5xx (a proxy's 502/504)."""
        for attempt in range(20):
            try:
                r = await self.http.get(
                    "/v1/conversations/%s/messages" % cid,
                    params={"after_seq": after, "limit": PAGE},
                    headers=_auth(acct.token))
            except httpx.TransportError as e:
                self.rec.error("rest_" + type(e).__name__)
            else:
                if r.status_code == 200:
                    return r.json()
                self.rec.error("rest_http_%d" % r.status_code)
                if r.status_code == 401:
                    await self.reauth(acct)
                elif r.status_code < 500:
                    raise RuntimeError("history %s: %d %s"
                                       % (cid, r.status_code, r.text[:200]))
            await asyncio.sleep(min(2.0, 0.05 * 2 ** attempt))
        raise RuntimeError("history %s: no answer after retries" % cid)

    async def history_all(self, acct, cid):
        out, after = [], 0
        while True:
            body = await self.history_page(acct, cid, after)
            out.extend(body["messages"])
            if not body["has_more"] or not body["messages"]:
                return out
            after = body["messages"][-1]["seq"]

    async def _stop(self):
        self.stopping = True
        self._stop_event.set()
        for d in self.devices:
            await d.close()
        tasks = [d.task for d in self.devices if d.task is not None]
        done, pending = await asyncio.wait(tasks, timeout=10) if tasks else \
            (set(), set())
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.http.aclose()

    async def sleep(self, seconds):
        """Sleeps that end early when the checker stops."""
        try:
            await asyncio.wait_for(self._stop_event.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    # -- authentication

    async def reauth(self, acct):
        """A fresh token: log in with the password, else `parley admin
        token` on the data dir."""
        try:
            if acct.password:
                r = await self.http.post("/v1/auth/login", json={
                    "username": acct.username, "password": acct.password})
                if r.status_code == 200:
                    acct.token = r.json()["token"]
                    self.rec.error("reauth_login")
                return
            if self.cfg.data_dir:
                acct.token = await admin_token(self.cfg, acct.username)
                self.rec.error("reauth_admin_token")
        except (httpx.HTTPError, RuntimeError, OSError) as e:
            self.rec.error("reauth_" + type(e).__name__)


def _auth(token):
    return {"Authorization": "Bearer " + token}


# ------------------------------------------------------------------ accounts


def parley_binary(explicit=None):
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("PARLEY_BUILD_DIR"),
              os.path.join(here, "..", "..", "build")):
        if d and os.access(os.path.join(d, "parley"), os.X_OK):
            return os.path.join(d, "parley")
    found = shutil.which("parley")
    if not found:
        raise RuntimeError("parley CLI not found (--parley PATH)")
    return found


async def _cli(cfg, args):
    env = dict(os.environ, **(cfg.cli_env or {}))
    proc = await asyncio.create_subprocess_exec(
        parley_binary(cfg.parley_bin), *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("parley %s: exit %d: %s" % (
            " ".join(args[:2]), proc.returncode, err.decode()[-500:]))
    return out.decode()


async def accounts_from_cli(cfg, n, prefix):
    """n users via `parley admin create-users` on cfg.data_dir (no Argon2
    per user; also works while parleyd runs)."""
    out = await _cli(cfg, ["admin", "create-users", "--count", str(n),
                           "--prefix", prefix, "--data-dir", cfg.data_dir])
    accts = []
    for line in out.splitlines():
        if line.strip():
            uid, name, tok = line.split("\t")
            accts.append(Account(uid, name, tok))
    if len(accts) != n:
        raise RuntimeError("create-users printed %d users, wanted %d"
                           % (len(accts), n))
    return accts


async def admin_token(cfg, username):
    out = await _cli(cfg, ["admin", "token", username, "--data-dir", cfg.data_dir])
    return out.strip()


async def accounts_from_register(url, n, prefix, password="checker-password"):
    """n users via POST /v1/auth/register and login (one Argon2 hash each
    way; a few at a time)."""
    sem = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 trust_env=False) as http:
        async def one(i):
            name = "%s%d" % (prefix, i)
            async with sem:
                r = await http.post("/v1/auth/register", json={
                    "username": name, "password": password})
                if r.status_code != 201:
                    raise RuntimeError("register %s: %d %s"
                                       % (name, r.status_code, r.text[:200]))
                r = await http.post("/v1/auth/login", json={
                    "username": name, "password": password})
                if r.status_code != 200:
                    raise RuntimeError("login %s: %d" % (name, r.status_code))
                b = r.json()
                return Account(b["user_id"], name, b["token"], password)
        return list(await asyncio.gather(*(one(i) for i in range(n))))


# ------------------------------------------------------------------ CLI


def _args(argv):
    p = argparse.ArgumentParser(
        description="Drive Parley users under continuous send load and "
        "report lost, duplicated, gapped and reordered messages.")
    p.add_argument("--url", required=True, help="server base URL")
    p.add_argument("--data-dir", help="server data dir: create users with "
                   "`parley admin create-users` (else register over REST)")
    p.add_argument("--parley", help="path of the parley CLI")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--conversations", type=int, help="default: --users")
    p.add_argument("--rate", type=float, default=200.0,
                   help="new messages per second, all users together")
    p.add_argument("--duration", type=float, default=30.0, help="seconds")
    p.add_argument("--resume", choices=("sync", "rest"), default="sync")
    p.add_argument("--drain-timeout", type=float, default=30.0)
    p.add_argument("--seed", type=int)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p.parse_args(argv)


async def _main(a):
    cfg = Config(url=a.url, rate=a.rate, duration=a.duration,
                 conversations=a.conversations, resume=a.resume,
                 drain_timeout=a.drain_timeout, seed=a.seed,
                 data_dir=a.data_dir, parley_bin=a.parley)
    prefix = "ck%s_" % uuid.uuid4().hex[:6]
    if a.data_dir:
        accounts = await accounts_from_cli(cfg, a.users, prefix)
    else:
        accounts = await accounts_from_register(a.url, a.users, prefix)
    checker = Checker(cfg, accounts)
    await checker.setup()
    return await checker.run()


def main(argv=None):
    a = _args(argv)
    try:
        rep = asyncio.run(_main(a))
    except (RuntimeError, ValueError, httpx.HTTPError, OSError) as e:
        print("checker: could not run: %s" % e, file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(rep.to_json(), indent=1))
    else:
        print(rep.summary())
    f = rep.failures()
    print("checker: %s" % ("CLEAN" if not f else "FAILED: " + ", ".join(
        "%s=%d" % kv for kv in f.items())))
    return 0 if not f else 1


if __name__ == "__main__":
    sys.exit(main())
