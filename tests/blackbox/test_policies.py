"""Event policies for large conversations: read receipts go to the other
members only up to read-receipts-max-members (above it, to the reader's own
devices); typing is dropped above typing-max-members."""
import time

from parley_client import Parley


def test_read_receipts_private_above_limit(server_factory):
    srv = server_factory.start(["--read-receipts-max-members", "2"])
    p = Parley(srv)
    try:
        a, b, c = p.new_users(3, "rr")
        big = a.group("big", [b, c])["conversation_id"]       # 3 members > 2
        small = a.direct(b)["conversation_id"]                # 2 members
        wa, wa2, wb = p.ws(a), p.ws(a), p.ws(b)
        for cid in (big, small):
            b.send_ok(cid, "hi")
        wa.send_json({"type": "read", "conversation_id": big, "seq": 1})
        own = wa2.recv_type("read", pred=lambda o: o["conversation_id"] == big)
        assert own["user_id"] == a.user_id and own["seq"] == 1
        wa.send_json({"type": "read", "conversation_id": small, "seq": 1})
        got = wb.recv_type("read")  # the small one reaches b ...
        assert got["conversation_id"] == small
        wb.ping_pong()
        # ... the big one never did
        assert [o for o in wb.take_all("read") if o["conversation_id"] == big] == []
    finally:
        p.close()


def test_read_receipts_shared_below_limit(mp):
    a, b = mp.new_users(2, "rrs")
    cid = a.group("g", [b])["conversation_id"]
    wb = mp.ws(b)
    b.send_ok(cid, "x")
    wa = mp.ws(a)
    wa.send_json({"type": "read", "conversation_id": cid, "seq": 1})
    assert wb.recv_type("read")["user_id"] == a.user_id


def test_typing_dropped_above_limit(server_factory):
    srv = server_factory.start(["--typing-max-members", "2"])
    p = Parley(srv)
    try:
        a, b, c = p.new_users(3, "ty")
        cid = a.group("big", [b, c])["conversation_id"]
        wa, wb = p.ws(a), p.ws(b)
        wa.send_json({"type": "typing", "conversation_id": cid})  # size not known yet
        wb.ping_pong()
        time.sleep(3.2)  # past the per-conversation throttle; size now known
        wa.send_json({"type": "typing", "conversation_id": cid})
        wa.ping_pong()
        time.sleep(0.3)
        wb.ping_pong()
        assert len(wb.take_all("typing")) <= 1
    finally:
        p.close()


def test_read_receipts_latest_wins_for_a_slow_reader(server_factory):
    """Read receipts queued to a connection that is not reading are
    coalesced per (user, conversation): the slow reader later gets fewer
    `read` frames than were sent, and the newest offset among them."""
    import json as _json
    srv = server_factory.start(["--outbound-limit", "64m", "--sqlite-synchronous", "normal",
                                "--heartbeat-ms", "600000"])
    p = Parley(srv)
    try:
        a, b, c = p.new_users(3, "lw")
        cid = a.group("lw", [b, c])["conversation_id"]
        slow = p.raw_ws(b, rcvbuf=4096)  # does not read until the end
        total = 400
        for i in range(total):  # ~1.6 MB of messages back up in the server
            a.send_ok(cid, "y" * 4000, "lw-%d" % i)
        wc = p.ws(c)  # c reads up, one message at a time
        for seq in range(1, total + 1):
            wc.send_json({"type": "read", "conversation_id": cid, "seq": seq})
        wc.ping_pong()
        reads, messages = [], 0
        while True:
            o = slow.recv_json(timeout=20)
            if o["type"] == "message":
                messages += 1
            elif o["type"] == "read" and o["user_id"] == c.user_id:
                reads.append(o["seq"])
                if o["seq"] == total:
                    break
        assert reads[-1] == total
        assert len(reads) < total  # superseded ones never went out
        assert reads == sorted(reads)
    finally:
        p.close()


def test_send_rate_limited_with_retry_after(server_factory):
    srv = server_factory.start(["--send-rate", "5", "--send-burst", "3"])
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "rate")
        cid = a.group("rate", [b])["conversation_id"]
        wa = p.ws(a)
        cmids = [wa.send_msg(cid, "m%d" % i) for i in range(8)]
        acks = [wa.recv_type("ack", pred=lambda o, c=c: o["client_msg_id"] == c)
                for c in cmids[:3]]
        assert [x["seq"] for x in acks] == [1, 2, 3]
        errs = [wa.recv_type("error", pred=lambda o, c=c: o.get("client_msg_id") == c)
                for c in cmids[3:]]
        assert all(e["code"] == "rate_limited" and e["retry_after_ms"] > 0 for e in errs)
        time.sleep(max(e["retry_after_ms"] for e in errs) / 1000.0 + 0.05)
        assert wa.send_and_ack(cid, "later")["seq"] == 4  # nothing refused was stored
        assert [m["seq"] for m in a.history_all(cid)] == [1, 2, 3, 4]
    finally:
        p.close()
