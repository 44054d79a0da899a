"""Presence by subscription: a client gets presence only for the users it
subscribed to (presence_subscribe), first a snapshot, then one frame per
online/offline transition, with last_seen_at when a user goes offline."""
import time
import uuid

from parley_client import expect, parse_time


def test_snapshot_then_transitions(mp):
    a, b, c = mp.new_users(3, "pres")
    wa = mp.ws(a)
    wa.send_json({"type": "presence_subscribe", "user_ids": [b.user_id]})
    snap = wa.recv_type("presence")
    assert snap == {"type": "presence", "user_id": b.user_id, "status": "offline",
                    "last_seen_at": None}
    wb = mp.ws(b)
    on = wa.recv_type("presence", pred=lambda o: o["status"] == "online")
    assert on["user_id"] == b.user_id
    # a second device of b is not a transition: no new frame
    wb2 = mp.ws(b)
    wb2.close()
    before = time.time()
    wb.close()
    off = wa.recv_type("presence", pred=lambda o: o["status"] == "offline")
    assert off["user_id"] == b.user_id
    seen = parse_time(off["last_seen_at"])
    assert abs(seen.timestamp() - before) < 30
    # c was never subscribed to: its transitions never reach a
    wc = mp.ws(c)
    wc.close()
    wa.ping_pong()
    assert [o for o in wa.take_all("presence") if o["user_id"] == c.user_id] == []
    # REST agrees
    body = expect(a.user(b.user_id), 200)
    assert body["status"] == "offline" and body["last_seen_at"] is not None


def test_subscribe_replaces_and_validates(mp):
    a, b = mp.new_users(2, "presr")
    wa = mp.ws(a)
    wa.send_json({"type": "presence_subscribe", "user_ids": [b.user_id]})
    wa.recv_type("presence")
    wa.send_json({"type": "presence_subscribe", "user_ids": []})  # unsubscribe
    wa.ping_pong()
    wb = mp.ws(b)
    wb.close()
    wa.ping_pong()
    assert wa.take_all("presence") == []
    wa.send_json({"type": "presence_subscribe", "user_ids": ["nope"]})
    assert wa.recv_error()["code"] == "invalid_request"
    too_many = [str(uuid.uuid4()) for _ in range(1001)]
    wa.send_json({"type": "presence_subscribe", "user_ids": too_many})
    assert wa.recv_error()["code"] == "invalid_request"
    wa.ping_pong()  # still open


def test_user_online_via_rest(mp):
    a, b = mp.new_users(2, "presrest")
    wb = mp.ws(b)
    body = expect(a.user(b.user_id), 200)
    assert body["status"] == "online"
    wb.close()


def test_flapping_is_coalesced(server_factory):
    from parley_client import Parley
    srv = server_factory.start(["--presence-grace-ms", "1500"])
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "flap")
        wa = p.ws(a)
        wa.send_json({"type": "presence_subscribe", "user_ids": [b.user_id]})
        assert wa.recv_type("presence")["status"] == "offline"
        wb = p.ws(b)
        assert wa.recv_type("presence")["status"] == "online"
        for _ in range(5):  # reconnects well within the grace period
            wb.close()
            wb = p.ws(b)
        time.sleep(2.0)
        wa.ping_pong()
        assert wa.take_all("presence") == []  # no offline/online flapping
        wb.close()
        off = wa.recv_type("presence", timeout=10)
        assert off["status"] == "offline" and off["last_seen_at"]
    finally:
        p.close()


def test_conversation_presence_counts_online_members(mp):
    a, b, c, d = mp.new_users(4, "cpres")
    cid = a.group("cp", [b, c])["conversation_id"]
    body = expect(a.get("/v1/conversations/%s/presence" % cid), 200)
    assert body == {"conversation_id": cid, "member_count": 3, "online_count": 0,
                    "online_user_ids": []}
    wb1, wb2 = mp.ws(b), mp.ws(b)  # two devices count once
    wa = mp.ws(a)
    body = expect(c.get("/v1/conversations/%s/presence" % cid), 200)
    assert body["online_count"] == 2
    assert sorted(body["online_user_ids"]) == sorted([a.user_id, b.user_id])
    expect(d.get("/v1/conversations/%s/presence" % cid), 403, "not_a_member")
    expect(d.get("/v1/conversations/%s/presence" % str(uuid.uuid4())), 404, "not_found")
    wb1.close()
    wb2.close()
    wa.close()


def test_conversation_presence_ids_only_up_to_limit(server_factory):
    from parley_client import Parley
    srv = server_factory.start(["--presence-list-max-members", "2"])
    p = Parley(srv)
    try:
        a, b, c = p.new_users(3, "cpl")
        cid = a.group("cpl", [b, c])["conversation_id"]
        wb = p.ws(b)
        body = expect(a.get("/v1/conversations/%s/presence" % cid), 200)
        assert body["online_count"] == 1 and "online_user_ids" not in body
        wb.close()
    finally:
        p.close()


def test_online_during_grace(server_factory):
    """During the grace after the last session closed, the user still
    reads as online (subscribers were not told otherwise yet)."""
    from parley_client import Parley
    srv = server_factory.start(["--presence-grace-ms", "3000"])
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "grace")
        wb = p.ws(b)
        wb.close()
        assert expect(a.user(b.user_id), 200)["status"] == "online"
        wa = p.ws(a)
        wa.send_json({"type": "presence_subscribe", "user_ids": [b.user_id]})
        assert wa.recv_type("presence")["status"] == "online"
        wb = p.ws(b)  # back within the grace: nothing to announce
        wa.ping_pong()
        assert [o for o in wa.take_all("presence")] == []
    finally:
        p.close()
