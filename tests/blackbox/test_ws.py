"""WebSocket protocol: upgrade and auth, Parley's frames, fan-out, errors,
heartbeat and slow consumers. RFC 6455 framing, close codes and handshake
rules are in test_ws_conformance.py."""

import concurrent.futures
import json
import time
import uuid

import pytest
from websockets.exceptions import InvalidStatus

from parley_client import (UUID_RE, Parley, WSClient, assert_message_shape, expect,
                           message_fields, parse_time)
from rawws import OP_TEXT, HandshakeRejected, encode_frame


@pytest.fixture
def pair(mp):
    """a and b in a group; returns (a, b, cid)."""
    a, b = mp.new_users(2, "ws")
    cid = a.group("ws", [b])["conversation_id"]
    return a, b, cid


# ------------------------------------------------------------- upgrade


def test_hello_with_header_token(mp):
    a = mp.new_user("hello")
    ws = mp.ws(a, via="header")
    h = ws.hello
    assert h["type"] == "hello"
    assert h["user_id"] == a.user_id
    assert isinstance(h["session_id"], str) and h["session_id"]
    assert h["heartbeat_interval_ms"] == 30000


def test_hello_with_query_token(mp):
    a = mp.new_user("hello")
    ws = mp.ws(a, via="query")
    assert ws.hello["user_id"] == a.user_id
    ws.ping_pong()


def test_sessions_are_distinct(mp):
    a = mp.new_user("sess")
    s1 = mp.ws(a).hello["session_id"]
    s2 = mp.ws(a).hello["session_id"]
    assert s1 != s2


@pytest.mark.parametrize("token", [None, "garbage", "a.b.c"])
@pytest.mark.parametrize("via", ["header", "query"])
def test_bad_token_http_401_no_upgrade(mp, token, via):
    if token is None and via == "query":
        pytest.skip("same as header without token")
    with pytest.raises(InvalidStatus) as ei:
        WSClient(mp.ws_url, token, via=via)
    resp = ei.value.response
    assert resp.status_code == 401
    body = json.loads(resp.body)
    assert body["error"]["code"] == "unauthorized"


def test_bad_token_raw_401(mp):
    a = mp.new_user("raw")
    h, p, s = a.token.split(".")
    forged = "%s.%s.%s" % (h, p, s[:-2] + ("AA" if s[-2:] != "AA" else "BB"))
    with pytest.raises(HandshakeRejected) as ei:
        mp.raw_ws(forged)
    assert ei.value.status == 401
    assert ei.value.headers.get("content-type", "").startswith("application/json")
    assert json.loads(ei.value.body)["error"]["code"] == "unauthorized"
    assert "sec-websocket-accept" not in ei.value.headers


# ------------------------------------------------------------- send/ack/fan-out


def test_send_ack_and_fanout_to_every_connection(mp, pair):
    a, b, cid = pair
    a1 = mp.ws(a)
    a2 = mp.ws(a)          # the sender's other device
    b1 = mp.ws(b)
    cmid = a1.send_msg(cid, "hi there")
    ack = a1.recv_type("ack", pred=lambda o: o["client_msg_id"] == cmid)
    assert set(ack) >= {"type", "client_msg_id", "conversation_id", "seq", "message_id", "created_at"}
    assert ack["conversation_id"] == cid and ack["seq"] == 1
    assert UUID_RE.match(ack["message_id"])
    parse_time(ack["created_at"])
    got = []
    for conn in (a1, a2, b1):
        m = conn.recv_message(cid, seq=1)
        assert_message_shape(m)
        got.append(message_fields(m))
    expected = {"conversation_id": cid, "seq": 1, "message_id": ack["message_id"],
                "sender_id": a.user_id, "client_msg_id": cmid, "content": "hi there",
                "created_at": ack["created_at"]}
    assert got == [expected] * 3
    hist = expect(b.messages(cid), 200)["messages"]
    assert hist == [expected]


def test_rest_send_reaches_ws(mp, pair):
    a, b, cid = pair
    b1 = mp.ws(b)
    b1.ping_pong()  # subscribed once hello is out; ping just proves liveness
    m = a.send_ok(cid, "via rest")
    got = b1.recv_message(cid, seq=m["seq"])
    assert message_fields(got) == m


def test_resend_same_client_msg_id_same_ack_stored_once(mp, pair):
    a, b, cid = pair
    a1 = mp.ws(a)
    ack1 = a1.send_and_ack(cid, "once", "ws-dedupe")
    ack2 = a1.send_and_ack(cid, "once", "ws-dedupe")
    assert (ack2["seq"], ack2["message_id"]) == (ack1["seq"], ack1["message_id"])
    # Also over another connection and over REST.
    a2 = mp.ws(a)
    ack3 = a2.send_and_ack(cid, "once", "ws-dedupe")
    assert (ack3["seq"], ack3["message_id"]) == (ack1["seq"], ack1["message_id"])
    rest = expect(a.send(cid, "once", "ws-dedupe"), 200)
    assert rest["message_id"] == ack1["message_id"]
    hist = a.history_all(cid)
    assert [m["client_msg_id"] for m in hist] == ["ws-dedupe"]


def test_pipelined_sends_acked_in_order(mp, pair):
    a, b, cid = pair
    a1 = mp.ws(a)
    cmids = [a1.send_msg(cid, "p%d" % i) for i in range(20)]
    seqs = [a1.recv_type("ack", pred=lambda o, c=c: o["client_msg_id"] == c)["seq"] for c in cmids]
    assert seqs == list(range(1, 21))


def test_subscribed_to_conversations_created_later(mp):
    a, b, c = mp.new_users(3, "later")
    b1 = mp.ws(b)
    c1 = mp.ws(c)
    cid = a.group("created after hello", [b])["conversation_id"]
    m = a.send_ok(cid, "can you hear me")
    assert b1.recv_message(cid, seq=1)["content"] == "can you hear me"
    # Joined later.
    expect(a.add_members(cid, [c.user_id]), 200)
    m = a.send_ok(cid, "and you?")
    assert c1.recv_message(cid, seq=m["seq"])["content"] == "and you?"
    d = a.direct(c)["conversation_id"]
    m = a.send_ok(d, "direct")
    assert c1.recv_message(d, seq=1)["message_id"] == m["message_id"]


def test_typing_reaches_other_member_not_stored(mp, pair):
    a, b, cid = pair
    a1 = mp.ws(a)
    b1 = mp.ws(b)
    a1.send_json({"type": "typing", "conversation_id": cid})
    t = b1.recv_type("typing")
    assert t["conversation_id"] == cid and t["user_id"] == a.user_id
    assert expect(a.conversation(cid), 200)["last_seq"] == 0
    assert a.history_all(cid) == []


def test_read_frame_stored_and_broadcast(mp, pair):
    a, b, cid = pair
    for i in range(3):
        a.send_ok(cid, str(i))
    a1 = mp.ws(a)
    b1 = mp.ws(b)
    b2 = mp.ws(b)          # the reader's other device
    b1.send_json({"type": "read", "conversation_id": cid, "seq": 2})
    for conn in (a1, b2):
        r = conn.recv_type("read", pred=lambda o: o.get("seq") == 2)
        assert r["conversation_id"] == cid and r["user_id"] == b.user_id
    entry = expect(b.conversation(cid), 200)
    assert (entry["last_read_seq"], entry["unread_count"]) == (2, 1)
    # Backwards read: stored offset unchanged.
    b1.send_json({"type": "read", "conversation_id": cid, "seq": 1})
    b1.ping_pong()
    b1.send_json({"type": "read", "conversation_id": cid, "seq": 3})
    a1.recv_type("read", pred=lambda o: o.get("seq") == 3)
    assert expect(b.conversation(cid), 200)["last_read_seq"] == 3


def test_ping_pong(mp):
    a = mp.new_user("ping")
    ws = mp.ws(a)
    for _ in range(3):
        assert ws.ping_pong() == {"type": "pong"}


# ------------------------------------------------------------- error frames


@pytest.mark.parametrize("text", ["not json", "{", '{"type":', "[1,2]", "42", '"ping"', "null",
                                  ""])
def test_invalid_json_error_keeps_connection(mp, text):
    a = mp.new_user("ij")
    ws = mp.ws(a)
    ws.send_text(text)
    err = ws.recv_type("error")
    assert err["code"] == "invalid_json", err
    assert isinstance(err["message"], str)
    ws.ping_pong()


def test_unknown_type(mp):
    a = mp.new_user("ut")
    ws = mp.ws(a)
    ws.send_json({"type": "teleport"})
    assert ws.recv_type("error")["code"] == "unknown_type"
    ws.send_json({"type": "ack"})    # a server->client type from a client
    assert ws.recv_type("error")["code"] in ("unknown_type", "invalid_request")
    ws.ping_pong()


def test_missing_type(mp):
    a = mp.new_user("mt")
    ws = mp.ws(a)
    ws.send_json({"conversation_id": str(uuid.uuid4())})
    assert ws.recv_type("error")["code"] in ("invalid_request", "unknown_type")
    ws.send_json({"type": 5})
    assert ws.recv_type("error")["code"] in ("invalid_request", "unknown_type")
    ws.ping_pong()


@pytest.mark.parametrize("frame", [
    {"type": "send", "client_msg_id": "x", "content": "no conversation"},
    {"type": "send", "conversation_id": "CID", "content": "no id"},
    {"type": "send", "conversation_id": "CID", "client_msg_id": "x"},
    {"type": "send", "conversation_id": "CID", "client_msg_id": "x", "content": ""},
    {"type": "send", "conversation_id": "CID", "client_msg_id": "x", "content": 12},
    {"type": "send", "conversation_id": "not-a-uuid", "client_msg_id": "x", "content": "a"},
    {"type": "send", "conversation_id": "CID", "client_msg_id": "x" * 65, "content": "a"},
    {"type": "send", "conversation_id": "CID", "client_msg_id": "sp ace", "content": "a"},
    {"type": "typing"},
    {"type": "read", "conversation_id": "CID"},
    {"type": "read", "conversation_id": "CID", "seq": -1},
    {"type": "read", "conversation_id": "CID", "seq": "1"},
])
def test_missing_or_bad_fields_invalid_request(mp, pair, frame):
    a, b, cid = pair
    ws = mp.ws(a)
    frame = {k: (cid if v == "CID" else v) for k, v in frame.items()}
    ws.send_json(frame)
    err = ws.recv_type("error")
    assert err["code"] == "invalid_request", err
    ws.ping_pong()
    assert a.history_all(cid) == []


def test_content_too_large_error_with_client_msg_id(mp, pair):
    a, b, cid = pair
    ws = mp.ws(a)
    ws.send_msg(cid, "\u00e9" * 2048, "fits")
    assert ws.recv_type("ack", pred=lambda o: o["client_msg_id"] == "fits")["seq"] == 1
    ws.send_msg(cid, "\u00e9" * 2048 + "x", "too-big")
    err = ws.recv_type("error")
    assert err["code"] == "content_too_large" and err["client_msg_id"] == "too-big"
    ws.ping_pong()
    assert len(a.history_all(cid)) == 1


def test_invalid_sends_do_not_use_up_the_send_rate(server_factory):
    """Decoding and validation come before the rate limit: refused frames
    cost nothing, the burst is still there for the valid ones."""
    srv = server_factory.start(["--send-rate", "1", "--send-burst", "2"])
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "rinv")
        cid = a.group("rinv", [b])["conversation_id"]
        ws = p.ws(a)
        for i in range(5):
            ws.send_json({"type": "send", "conversation_id": cid,
                          "client_msg_id": "bad-%d" % i, "content": ""})
            assert ws.recv_type("error")["code"] == "invalid_request"
        ws.send_msg(cid, "x" * 4097, "big")
        assert ws.recv_type("error")["code"] == "content_too_large"
        assert [ws.send_and_ack(cid, "ok %d" % i)["seq"] for i in range(2)] == [1, 2]
        ws.send_msg(cid, "third", "third")
        assert ws.recv_type("error")["code"] == "rate_limited"
    finally:
        p.close()


def test_not_a_member_error(mp, pair):
    a, b, cid = pair
    c = mp.new_user("outsider")
    ws = mp.ws(c)
    ws.send_msg(cid, "sneaky", "nm-1")
    err = ws.recv_type("error")
    assert err["code"] == "not_a_member" and err["client_msg_id"] == "nm-1"
    ws.send_json({"type": "read", "conversation_id": cid, "seq": 1})
    assert ws.recv_type("error")["code"] == "not_a_member"
    ws.ping_pong()
    assert a.history_all(cid) == []


def test_unknown_conversation_error(mp):
    a = mp.new_user("uc")
    ws = mp.ws(a)
    ws.send_msg(str(uuid.uuid4()), "void", "uc-1")
    err = ws.recv_type("error")
    assert err["code"] in ("not_found", "not_a_member") and err["client_msg_id"] == "uc-1"
    ws.ping_pong()


def test_no_delivery_after_leaving(mp, pair):
    a, b, cid = pair
    b1 = mp.ws(b)
    a.send_ok(cid, "before")
    b1.recv_message(cid, seq=1)
    assert b.remove_member(cid, b.user_id).status_code == 204
    a.send_ok(cid, "after")
    # A later message in another conversation proves b1 has processed past seq 2.
    other = a.direct(b)["conversation_id"]
    a.send_ok(other, "marker")
    b1.recv_message(other, seq=1)
    assert not [o for o in b1.inbox if o.get("type") == "message" and o.get("seq") == 2
                and o.get("conversation_id") == cid]


# ------------------------------------------------------------- raw frames
# RFC 6455 framing, close codes and the handshake are covered group by group
# in test_ws_conformance.py; here only what is about Parley's frames.


def _raw(mp):
    return mp.raw_ws(mp.new_user("raw"))


def _hello(raw):
    h = raw.recv_json()
    assert h["type"] == "hello"
    return h


def test_raw_frame_exactly_64k_accepted(mp):
    """A 65536-byte text frame is within max-frame: the server answers
    (error frame: the content is not a valid message), no close."""
    a, b = mp.new_users(2, "big")
    cid = a.group("big", [b])["conversation_id"]
    c = mp.raw_ws(a)
    _hello(c)
    body = json.dumps({"type": "send", "conversation_id": cid, "client_msg_id": "big",
                       "content": ""})
    pad = 65536 - len(body)
    payload = (body[:-2] + "x" * pad + '"}').encode()
    assert len(payload) == 65536
    c.send_frame(OP_TEXT, payload)
    err = c.recv_json()
    assert err["type"] == "error" and err["code"] == "content_too_large"
    c.send_text('{"type":"ping"}')
    assert c.recv_json() == {"type": "pong"}


def test_websockets_lib_binary_closes_1003(mp):
    a = mp.new_user("bin")
    ws = mp.ws(a)
    ws.conn.send(b"\x00\x01")
    assert ws.wait_closed() == 1003


def test_raw_garbage_after_upgrade_does_not_hurt_others(mp, pair):
    a, b, cid = pair
    b1 = mp.ws(b)
    c = mp.raw_ws(a)
    _hello(c)
    c.send_raw(encode_frame(OP_TEXT, b"x", mask=False) + b"\x00" * 100, ignore_errors=True)
    c.read_close()
    m = a.send_ok(cid, "still fine")
    assert b1.recv_message(cid, seq=m["seq"])["content"] == "still fine"


# ------------------------------------------------------------- heartbeat / slow consumer


def test_heartbeat_timeout_closes_1008(server_factory):
    srv = server_factory.start(["--heartbeat-ms", "300"])
    p = Parley(srv)
    try:
        u = p.new_user("hb")
        c = p.raw_ws(u)
        h = c.recv_json()
        assert h["heartbeat_interval_ms"] == 300
        # Send nothing: closed after 2 x 300 ms (generous bound).
        code, _, _ = c.read_close(timeout=15)
        assert code == 1008
        # An active client survives several intervals.
        ws = p.ws(u)
        for _ in range(8):
            ws.ping_pong()
            time.sleep(0.15)
        ws.ping_pong()
    finally:
        p.close()


def test_slow_consumer_closed_1008(server_factory):
    # A long heartbeat: the slow client never writes (a write after the
    # server's close would draw a RST and lose the close frame in flight).
    srv = server_factory.start(["--outbound-limit", "65536", "--sqlite-synchronous", "normal",
                                "--heartbeat-ms", "600000"])
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "slow")
        cid = a.group("flood", [b])["conversation_id"]
        slow = p.raw_ws(b, rcvbuf=4096)       # never reads until the end
        fast = p.ws(b)                        # b's other device keeps reading
        # REST senders: a WebSocket sender would get its own echo and could
        # itself be a slow consumer while it is busy writing.
        senders = [p.user_from_token(a.token) for _ in range(4)]
        content = "z" * 4000
        total = 3000                          # 3000 x 4 KB = 12 MB

        def send(i):
            senders[i % 4].send_ok(cid, content, "flood-%d" % i)

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(send, range(total)))
        code, _, frames = slow.read_close(timeout=60)
        assert code == 1008
        assert len([f for f in frames if f.opcode == OP_TEXT]) < total
        # The fast connection of the same user got everything and is open.
        last = fast.recv_message(cid, seq=total, timeout=60)
        assert last["client_msg_id"].startswith("flood-")
        fast.ping_pong()
    finally:
        p.close()


def test_ws_close_by_client_then_reconnect(mp, pair):
    a, b, cid = pair
    ws = mp.ws(a)
    ws.close()
    ws2 = mp.ws(a)
    ack = ws2.send_and_ack(cid, "again")
    assert ack["seq"] == 1


def test_ws_path_other_methods_405(mp):
    a = mp.new_user("wsm")
    r = a.post("/v1/ws", {})
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_origin_allow_list(server_factory):
    """Upgrades carrying an Origin must name an allowed one (403 otherwise);
    clients that send no Origin (not browsers) are allowed."""
    import socket
    from parley_client import Parley
    srv = server_factory.start(["--allowed-origins",
                                "https://chat.example.com, http://127.0.0.1:8080"])
    p = Parley(srv)
    try:
        a = p.new_user("orig")

        def upgrade(origin):
            s = socket.create_connection((srv.host, srv.port), timeout=10)
            req = ("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n%s\r\n"
                   % (a.token, ("Origin: %s\r\n" % origin) if origin else ""))
            s.sendall(req.encode())
            head = s.recv(4096).decode(errors="replace")
            s.close()
            return int(head.split()[1])

        assert upgrade("https://evil.example") == 403
        assert upgrade("https://chat.example.com") == 101
        assert upgrade("http://127.0.0.1:8080") == 101
        assert upgrade(None) == 101
    finally:
        p.close()
