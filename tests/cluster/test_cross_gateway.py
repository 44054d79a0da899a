"""Cross-gateway delivery (docs/ARCHITECTURE.md §15, the cluster contract):
clients connected DIRECTLY to different gateways of one cluster, so every
frame between them goes gateway -> Kafka -> messaging -> Kafka -> fanout
-> Redis -> the other gateway. Users register and log in through the
auth instance (directly or via nginx). Skipped, with the reason, until
parleyd runs the role split (the `split` fixture)."""

import time
import uuid

import httpx

from parley_client import Api, User, WSClient, expect, unique_name

PW = "cluster-secret-1"
N = 25  # messages per stream: enough to see order and duplicates


def register(split, prefix="x"):
    """A user registered and logged in on the auth instance directly."""
    api = Api(split.auth.url)
    name = unique_name(prefix)
    reg = expect(api.register(name, PW), 201)
    tok = expect(api.login(name, PW), 200)
    api.close()
    return reg["user_id"], name, tok["token"]


class Env:
    """Users and connections of one test, closed at its end."""

    def __init__(self, split):
        self.split = split
        self.gw1, self.gw2 = split.gateways[0], split.gateways[1]
        self.owned = []

    def user(self, gw, prefix="x"):
        uid, name, tok = register(self.split, prefix)
        u = User(gw.url, uid, name, tok, PW)
        self.owned.append(u)
        return u

    def on(self, gw, user):
        """user as a REST client of gw (same token)."""
        u = User(gw.url, user.user_id, user.username, user.token, PW)
        self.owned.append(u)
        return u

    def ws(self, gw, user):
        w = WSClient(gw.ws_url, user.token)
        self.owned.append(w)
        return w

    def close(self):
        for o in reversed(self.owned):
            try:
                o.close()
            except Exception:
                pass


def _env(split):
    return Env(split)


def drain(ws, seconds=1.0):
    """Everything that arrives within seconds (into the inbox)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            ws.inbox.append(ws._read(left))
        except AssertionError:
            return


def assert_stream(ws, cid, acks, label):
    """ws got exactly the acked messages of cid, live, in seq order, once."""
    want = [a["seq"] for a in acks]
    got = [ws.recv_message(cid, timeout=15)["seq"] for _ in want]
    drain(ws, 1.0)
    extra = ws.take_all("message", pred=lambda o: o.get("conversation_id") == cid)
    assert got == want, "%s: got seqs %r, acked %r" % (label, got, want)
    assert not extra, "%s: duplicates or strays %r" % (label, extra)


def test_token_from_auth_is_accepted_by_both_gateways(split):
    uid, name, tok = register(split, "tk")
    for gw in split.gateways:
        me = expect(Api(gw.url, tok).me(), 200)
        assert me["user_id"] == uid and me["username"] == name
    # and through nginx
    expect(Api(split.url, tok).me(), 200)
    # the auth instance serves /v1/auth/* only
    r = httpx.get(split.auth.url + "/v1/me",
                  headers={"Authorization": "Bearer " + tok}, timeout=10)
    assert r.status_code == 404, r.text
    # a token is refused by every gateway once tampered with
    bad = tok[:-2] + ("AA" if not tok.endswith("AA") else "BB")
    for gw in split.gateways:
        expect(Api(gw.url, bad).me(), 401, "unauthorized")


def test_direct_messages_cross_gateways_in_order_once(split):
    e = _env(split)
    try:
        a, b = e.user(e.gw1, "da"), e.user(e.gw2, "db")
        cid = a.direct(b)["conversation_id"]
        wb = e.ws(e.gw2, b)
        wa = e.ws(e.gw1, a)
        acks = [wa.send_and_ack(cid, "m%d" % i, timeout=15) for i in range(N)]
        assert [x["seq"] for x in acks] == list(range(1, N + 1))
        assert_stream(wb, cid, acks, "receiver on gw2")
        # the sender's own other device on gw2 sees them too
        hist = expect(e.on(e.gw2, b).messages(cid, after_seq=0, limit=100), 200)
        assert [m["seq"] for m in hist["messages"]] == list(range(1, N + 1))
        assert [m["message_id"] for m in hist["messages"]] == \
            [x["message_id"] for x in acks]
    finally:
        e.close()


def test_group_messages_reach_members_on_both_gateways(split):
    e = _env(split)
    try:
        s = e.user(e.gw1, "gs")
        r2, r1, both = e.user(e.gw2, "g2"), e.user(e.gw1, "g1"), e.user(e.gw1, "gb")
        cid = s.group("cross", [r2, r1, both])["conversation_id"]
        devices = {"r2@gw2": e.ws(e.gw2, r2), "r1@gw1": e.ws(e.gw1, r1),
                   "both@gw1": e.ws(e.gw1, both), "both@gw2": e.ws(e.gw2, both)}
        ws = e.ws(e.gw1, s)
        acks = [ws.send_and_ack(cid, "g%d" % i, timeout=15) for i in range(N)]
        for label, w in devices.items():
            assert_stream(w, cid, acks, label)
    finally:
        e.close()


def test_rest_send_on_gw1_is_live_on_gw2(split):
    e = _env(split)
    try:
        a, b = e.user(e.gw1, "ra"), e.user(e.gw2, "rb")
        cid = a.direct(b)["conversation_id"]
        wb = e.ws(e.gw2, b)
        acks = [expect(a.send(cid, "rest %d" % i), 201) for i in range(5)]
        assert_stream(wb, cid, acks, "REST on gw1 -> WS on gw2")
    finally:
        e.close()


def test_typing_and_read_receipts_cross_gateways(split):
    e = _env(split)
    try:
        a, b = e.user(e.gw1, "ta"), e.user(e.gw2, "tb")
        cid = a.direct(b)["conversation_id"]
        wa, wb = e.ws(e.gw1, a), e.ws(e.gw2, b)
        wa.send_json({"type": "typing", "conversation_id": cid})
        t = wb.recv_type("typing", timeout=15)
        assert t["conversation_id"] == cid and t["user_id"] == a.user_id
        ack = wa.send_and_ack(cid, "read me", timeout=15)
        wb.recv_message(cid, ack["seq"], timeout=15)
        wb.send_json({"type": "read", "conversation_id": cid, "seq": ack["seq"]})
        r = wa.recv_type("read", timeout=15,
                         pred=lambda o: o.get("user_id") == b.user_id)
        assert r["conversation_id"] == cid and r["seq"] == ack["seq"]
    finally:
        e.close()


def test_presence_seen_from_the_other_gateway(split):
    e = _env(split)
    try:
        a, b = e.user(e.gw1, "pa"), e.user(e.gw2, "pb")
        a.direct(b)
        wa = e.ws(e.gw1, a)
        wa.send_json({"type": "presence_subscribe", "user_ids": [b.user_id]})
        first = wa.recv_type("presence", timeout=15,
                             pred=lambda o: o.get("user_id") == b.user_id)
        assert first["status"] == "offline"
        wb = WSClient(e.gw2.ws_url, b.token)
        on = wa.recv_type("presence", timeout=15,
                          pred=lambda o: o.get("user_id") == b.user_id
                          and o.get("status") == "online")
        assert on["last_seen_at"] is None
        wb.close()
        # offline after the grace period (presence-grace-ms, 3 s)
        off = wa.recv_type("presence", timeout=20,
                           pred=lambda o: o.get("user_id") == b.user_id
                           and o.get("status") == "offline")
        assert off["last_seen_at"]
    finally:
        e.close()


def test_member_added_while_online_elsewhere_gets_the_next_message(split):
    e = _env(split)
    try:
        a, b = e.user(e.gw1, "ma"), e.user(e.gw1, "mb")
        late = e.user(e.gw2, "ml")
        cid = a.group("late joiner", [b])["conversation_id"]
        wl = e.ws(e.gw2, late)        # online on gw2 before being a member
        wa = e.ws(e.gw1, a)
        first = wa.send_and_ack(cid, "before", timeout=15)
        expect(a.add_members(cid, [late.user_id]), 200)
        ack = wa.send_and_ack(cid, "after", timeout=15)
        got = wl.recv_message(cid, ack["seq"], timeout=15)
        assert got["content"] == "after"
        drain(wl, 1.0)
        olds = wl.take_all("message", pred=lambda o: o.get("seq") == first["seq"])
        assert not olds, "a message from before the join was pushed live"
    finally:
        e.close()


def test_resend_through_the_other_gateway_is_deduplicated(split):
    e = _env(split)
    try:
        a, b = e.user(e.gw1, "sa"), e.user(e.gw2, "sb")
        cid = a.direct(b)["conversation_id"]
        wb = e.ws(e.gw2, b)
        wa1, wa2 = e.ws(e.gw1, a), e.ws(e.gw2, a)
        cmid = str(uuid.uuid4())
        ack1 = wa1.send_and_ack(cid, "once", client_msg_id=cmid, timeout=15)
        assert isinstance(ack1["seq"], int) and ack1["seq"] >= 1
        ack2 = wa2.send_and_ack(cid, "once", client_msg_id=cmid, timeout=15)
        assert (ack2["seq"], ack2["message_id"]) == (ack1["seq"], ack1["message_id"])
        # and over REST on either gateway
        for gw in (e.gw1, e.gw2):
            r = e.on(gw, a).send(cid, "once", client_msg_id=cmid)
            assert r.status_code in (200, 201), r.text
            assert (r.json()["seq"], r.json()["message_id"]) == \
                (ack1["seq"], ack1["message_id"])
        assert_stream(wb, cid, [ack1], "receiver of a message sent 4 times")
        hist = expect(e.on(e.gw1, b).messages(cid, after_seq=0), 200)["messages"]
        assert [m["client_msg_id"] for m in hist] == [cmid]
    finally:
        e.close()
