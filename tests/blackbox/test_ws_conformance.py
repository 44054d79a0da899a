"""RFC 6455 conformance of /v1/ws over raw sockets, organised like the
Autobahn|Testsuite case groups. Each test name starts with its group, so
`tests/blackbox/run.sh -k utf8` runs one group:

  handshake      RFC 6455 section 4 (request checks, 426, tokens, extensions)
  framing        1  payload lengths and encodings vs max-frame
  pingpong       2  ping/pong payloads, unsolicited pong
  rsv            3  reserved bits
  opcodes        4  reserved opcodes
  fragmentation  5  continuations, interleaved control frames
  utf8           6  invalid/valid UTF-8, split across fragments at every byte
  close          7  close codes, reasons, echo, data after close
  limits         9  message size across fragments, many fragments
  compression    12/13  permessage-deflate is never negotiated

Every expected close code is the one in docs/PROTOCOL.md section 5. Text
frames carry {"type":"ping"} (padded with JSON whitespace to a length) so a
frame the server accepts is answered with {"type":"pong"}.
"""

import base64
import json
import os
import socket
import time

import pytest
from websockets.sync.client import connect as ws_connect

from conftest import ServerFactory

NGINX_UPGRADES = pytest.mark.private_server(
    "nginx sets Upgrade and Connection itself for /v1/ws")
from parley_client import Parley
from rawws import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                   RawWS, accept_key, close_payload, decode_frame, encode_frame,
                   parse_close_payload, read_http_response)

PING = b'{"type":"ping"}'
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def srv(mod_server):
    """(server, token) with the defaults: max-frame 65536."""
    p = Parley(mod_server)
    tok = p.new_user("conf").token
    yield mod_server, tok
    p.close()


@pytest.fixture(scope="module")
def small(request, tmp_path_factory):
    """(server, token) with --max-frame 1024 (the smallest allowed)."""
    f = ServerFactory(request.node, str(tmp_path_factory.mktemp("small")))
    s = f.start(["--max-frame", "1024"])
    p = Parley(s)
    tok = p.new_user("confsmall").token
    yield s, tok
    p.close()
    f.stop_all()


@pytest.fixture
def opened():
    """opened(srv) -> a RawWS past hello; closed at teardown."""
    conns = []

    def make(server_token, **kw):
        s, tok = server_token
        c = RawWS(s.host, s.port, token=tok, **kw)
        conns.append(c)
        h = c.recv_json()
        assert h["type"] == "hello"
        return c

    yield make
    for c in conns:
        c.close()


# ------------------------------------------------------------------ helpers


def padded_ping(n):
    """{"type":"ping"} followed by JSON whitespace up to exactly n bytes."""
    assert n >= len(PING)
    return PING + b" " * (n - len(PING))


def server_frame(c, timeout=10.0):
    f = c.recv_frame(timeout)
    assert f is not None, "EOF where a frame was expected"
    # Server frames are never masked and never use reserved bits.
    assert f.masked == 0 and f.rsv == 0, f
    return f


def expect_pong(c):
    f = server_frame(c)
    assert f.opcode == OP_TEXT and f.fin == 1, f
    assert json.loads(f.payload) == {"type": "pong"}


def expect_error(c, code):
    f = server_frame(c)
    assert f.opcode == OP_TEXT, f
    o = json.loads(f.payload)
    assert o["type"] == "error" and o["code"] == code, o


def expect_close(c, code, timeout=10.0):
    """The next frames up to the server's close; asserts its code and that
    nothing but the frames listed before it came first."""
    got, reason, seen = c.read_close(timeout)
    assert got == code, "close code %r (reason %r), wanted %r" % (got, reason, code)
    return seen


def alive(c):
    c.send_frame(OP_TEXT, PING)
    expect_pong(c)


def fragments(payload, cuts, opcode=OP_TEXT):
    """Frames carrying payload split at the byte offsets in cuts."""
    bounds = [0] + list(cuts) + [len(payload)]
    out = b""
    for i in range(len(bounds) - 1):
        out += encode_frame(opcode if i == 0 else OP_CONT,
                            payload[bounds[i]:bounds[i + 1]],
                            fin=(i == len(bounds) - 2))
    return out


# ================================================================ handshake


def upgrade(server_token, method="GET", version="HTTP/1.1", path="/v1/ws",
            set_headers=None, drop=(), with_token=True, extra=b"", timeout=10.0):
    """Sends one handshake request; returns (sock, buf, status, headers, body).
    set_headers: {name: value} replacing or adding headers (names as sent)."""
    s, tok = server_token
    headers = [("Host", "%s:%d" % (s.host, s.port)), ("Upgrade", "websocket"),
               ("Connection", "Upgrade"), ("Sec-WebSocket-Key", RFC_KEY),
               ("Sec-WebSocket-Version", "13")]
    if with_token:
        headers.append(("Authorization", "Bearer " + tok))
    drop_l = {d.lower() for d in drop} | {k.lower() for k in (set_headers or {})}
    headers = [(k, v) for k, v in headers if k.lower() not in drop_l]
    headers += list((set_headers or {}).items())
    head = "%s %s %s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % kv for kv in headers) + "\r\n"
    sock = socket.create_connection((s.host, s.port), timeout=timeout)
    sock.sendall(head.encode("latin-1") + extra)
    buf = bytearray()
    status, hdrs, body = read_http_response(sock, buf, time.monotonic() + timeout)
    return sock, buf, status, hdrs, body


def refused(server_token, status, **kw):
    sock, _, got, hdrs, body = upgrade(server_token, **kw)
    sock.close()
    assert got == status, (got, hdrs, body)
    assert "sec-websocket-accept" not in hdrs
    if status != 101:
        assert json.loads(body)["error"]["code"] in ("invalid_request", "method_not_allowed")
    return hdrs, body


def test_handshake_rfc_example_key_and_response_headers(srv):
    sock, _, status, hdrs, _ = upgrade(srv)
    sock.close()
    assert status == 101
    assert hdrs["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert hdrs["upgrade"].lower() == "websocket"
    assert "upgrade" in [t.strip().lower() for t in hdrs["connection"].split(",")]
    # Nothing was offered, so nothing is selected.
    assert "sec-websocket-extensions" not in hdrs
    assert "sec-websocket-protocol" not in hdrs


def test_handshake_subprotocol_offer_not_selected(srv):
    sock, _, status, hdrs, _ = upgrade(
        srv, set_headers={"Sec-WebSocket-Protocol": "chat, superchat"})
    sock.close()
    assert status == 101
    assert "sec-websocket-protocol" not in hdrs


@pytest.mark.parametrize("headers", [
    {"upgrade": "websocket", "connection": "upgrade"},
    {"UPGRADE": "WebSocket", "CONNECTION": "UPGRADE"},
    {"Upgrade": "WEBSOCKET", "Connection": "keep-alive, Upgrade"},
    {"Upgrade": "websocket", "Connection": "Upgrade,keep-alive"},
    {"Upgrade": "websocket", "Connection": "  keep-alive ,\tupgrade  "},
    {"sec-websocket-key": RFC_KEY, "sec-websocket-version": "13"},
], ids=["lower", "upper", "mixed-list", "list-no-space", "list-whitespace", "lower-sec"])
def test_handshake_header_names_and_tokens_case_insensitive(srv, headers):
    sock, buf, status, hdrs, _ = upgrade(srv, set_headers=headers)
    try:
        assert status == 101, hdrs
        assert hdrs["sec-websocket-accept"] == accept_key(RFC_KEY)
        hello = decode_frame(buf) or None
        while hello is None:
            buf += sock.recv(65536)
            hello = decode_frame(buf)
        assert json.loads(hello[0].payload)["type"] == "hello"
    finally:
        sock.close()


@pytest.mark.parametrize("kw", [
    {"drop": ["Upgrade"]},
    {"set_headers": {"Upgrade": "h2c"}},
    {"set_headers": {"Upgrade": "websocket2"}},
    # nginx sends its own Upgrade/Connection pair (HTTP/1.1) upstream:
    # these become valid upgrades on the way to parleyd
    pytest.param({"drop": ["Connection"]}, marks=NGINX_UPGRADES),
    pytest.param({"set_headers": {"Connection": "keep-alive"}}, marks=NGINX_UPGRADES),
    pytest.param({"set_headers": {"Connection": "upgraded"}}, marks=NGINX_UPGRADES),
    pytest.param({"version": "HTTP/1.0"}, marks=NGINX_UPGRADES),
], ids=["no-upgrade", "upgrade-h2c", "upgrade-other", "no-connection",
        "connection-keepalive", "connection-not-token", "http10"])
def test_handshake_not_an_upgrade_400(srv, kw):
    refused(srv, 400, **kw)


@pytest.mark.parametrize("key", [
    None, "", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=",
    "dGhlIHNhbXBsZSBub25j!Q==", "dGhlIHNhbXBsZSBub25jZQ===",
    base64.b64encode(b"x" * 15).decode(), base64.b64encode(b"x" * 17).decode(),
    base64.b64encode(b"x" * 20).decode(),
], ids=["missing", "empty", "short", "no-pad", "one-pad", "bad-char", "extra-pad",
        "15-bytes", "17-bytes", "20-bytes"])
@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_handshake_bad_key_400_before_auth(srv, key, with_token):
    """A malformed request is 400 whether or not the token is good: the
    request is checked before the token (PROTOCOL.md 3.1)."""
    kw = {"drop": ["Sec-WebSocket-Key"]} if key is None else \
        {"set_headers": {"Sec-WebSocket-Key": key}}
    refused(srv, 400, with_token=with_token, **kw)


def test_handshake_missing_version_400(srv):
    refused(srv, 400, drop=["Sec-WebSocket-Version"])


@pytest.mark.private_server("checks that parleyd closes the connection "
                            "after the 426; nginx keeps the client's open")
@pytest.mark.parametrize("version", ["8", "12", "14", "13, 8", "130", "1", "0"])
def test_handshake_other_version_426_names_13(srv, version):
    sock, _, status, hdrs, body = upgrade(
        srv, set_headers={"Sec-WebSocket-Version": version})
    try:
        assert status == 426, (status, hdrs, body)
        assert hdrs["sec-websocket-version"] == "13"
        assert "sec-websocket-accept" not in hdrs
        assert json.loads(body)["error"]["code"] == "invalid_request"
        # The refused connection is closed after the answer.
        sock.settimeout(10)
        assert sock.recv(1) == b""
    finally:
        sock.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_handshake_non_get_405(srv, method):
    refused(srv, 405, method=method, set_headers={"Content-Length": "0"})


def test_handshake_and_frames_in_one_write(srv):
    """Frames pipelined behind the request are held until hello and then
    processed in order."""
    frames = encode_frame(OP_TEXT, PING) + encode_frame(OP_PING, b"early")
    sock, buf, status, _, _ = upgrade(srv, extra=frames)
    try:
        assert status == 101
        got = []
        while len(got) < 3:
            d = decode_frame(buf)
            if d is None:
                chunk = sock.recv(65536)
                assert chunk, "EOF after %r" % got
                buf += chunk
                continue
            got.append(d[0])
            del buf[:d[1]]
        assert json.loads(got[0].payload)["type"] == "hello"
        rest = sorted((f.opcode, f.payload) for f in got[1:])
        assert rest == [(OP_TEXT, b'{"type":"pong"}'), (OP_PONG, b"early")]
    finally:
        sock.close()


@pytest.mark.parametrize("opcode,payload", [
    (OP_TEXT, PING), (OP_PING, b"p"), (OP_CLOSE, close_payload(1000)),
    (OP_PONG, b""), (OP_BINARY, b"b")])
def test_handshake_unmasked_client_frame_1002(srv, opened, opcode, payload):
    c = opened(srv)
    c.send_frame(opcode, payload, mask=False)
    seen = expect_close(c, 1002)
    assert not [f for f in seen if f.opcode == OP_TEXT]


def test_handshake_query_token_and_server_frames_unmasked(srv, opened):
    s, tok = srv
    c = RawWS(s.host, s.port, path="/v1/ws?access_token=" + tok)
    try:
        f = server_frame(c)
        assert f.opcode == OP_TEXT and f.fin == 1
        assert json.loads(f.payload)["type"] == "hello"
    finally:
        c.close()


# ================================================================ 1 framing


@pytest.mark.parametrize("n", [15, 125, 126, 127, 128, 65535, 65536])
def test_framing_text_lengths_up_to_max_frame(srv, opened, n):
    """Lengths around the 7/16/64-bit encodings; 65536 = max-frame."""
    c = opened(srv)
    c.send_frame(OP_TEXT, padded_ping(n))
    expect_pong(c)


def test_framing_empty_text_is_an_error_frame_not_a_close(srv, opened):
    c = opened(srv)
    c.send_frame(OP_TEXT, b"")
    expect_error(c, "invalid_json")
    alive(c)


@pytest.mark.parametrize("n", [0, 125, 126, 127, 65535, 65536])
def test_framing_binary_any_length_1003(srv, opened, n):
    c = opened(srv)
    c.send_frame(OP_BINARY, os.urandom(n))
    expect_close(c, 1003)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_framing_over_max_frame_1009(srv, opened, opcode):
    c = opened(srv)
    c.send_frame(opcode, b"x" * 65537, ignore_errors=True)
    expect_close(c, 1009)


@pytest.mark.parametrize("length", [65537, 1 << 32, (1 << 63) - 1])
def test_framing_announced_length_over_max_1009_without_body(srv, opened, length):
    """The announced length is refused before any payload is buffered."""
    c = opened(srv)
    c.send_frame(OP_TEXT, b"", length=length)
    expect_close(c, 1009)


def test_framing_64bit_length_top_bit_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_TEXT, b"", length=(1 << 63) + 5)
    expect_close(c, 1002)


@pytest.mark.parametrize("n,form", [(0, 16), (5, 16), (125, 16), (5, 64), (200, 64),
                                    (65535, 64)])
def test_framing_non_minimal_length_1002(srv, opened, n, form):
    c = opened(srv)
    c.send_frame(OP_TEXT, padded_ping(max(n, 15))[:n], len_form=form)
    expect_close(c, 1002)


@pytest.mark.parametrize("n,ok", [(1024, True), (1025, False)])
def test_framing_configured_max_frame(small, opened, n, ok):
    c = opened(small)
    c.send_frame(OP_TEXT, padded_ping(n), ignore_errors=True)
    if ok:
        expect_pong(c)
        alive(c)
    else:
        expect_close(c, 1009)


def test_framing_byte_by_byte(srv, opened):
    """Every frame split at every byte by the network still parses."""
    c = opened(srv)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = encode_frame(OP_TEXT, padded_ping(300)) + encode_frame(OP_PING, b"bb")
    for i in range(len(data)):
        c.send_raw(data[i:i + 1])
        if i < 20:
            time.sleep(0.002)  # the header really arrives in pieces
    expect_pong(c)
    f = server_frame(c)
    assert (f.opcode, f.payload) == (OP_PONG, b"bb")


def test_framing_many_frames_in_one_write(srv, opened):
    c = opened(srv)
    c.send_raw(b"".join(encode_frame(OP_TEXT, padded_ping(15 + i)) for i in range(200)))
    for _ in range(200):
        expect_pong(c)


# ================================================================ 2 ping/pong


@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125)), b"\xff" * 125,
                                     b"\x00" * 125], ids=["empty", "text", "binary-125",
                                                          "ff-125", "zero-125"])
def test_pingpong_pong_echoes_payload(srv, opened, payload):
    c = opened(srv)
    c.send_frame(OP_PING, payload)
    f = server_frame(c)
    assert (f.opcode, f.fin, f.payload) == (OP_PONG, 1, payload)


def test_pingpong_over_125_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_PING, b"x" * 126)
    expect_close(c, 1002)


def test_pingpong_125_in_16bit_form_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_PING, b"x" * 125, len_form=16)
    expect_close(c, 1002)


@pytest.mark.parametrize("payload", [b"", b"unsolicited", b"y" * 125])
def test_pingpong_unsolicited_pong_ignored(srv, opened, payload):
    c = opened(srv)
    c.send_frame(OP_PONG, payload)
    alive(c)  # the next server frame is the pong to our text ping


def test_pingpong_long_pong_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_PONG, b"z" * 126)
    expect_close(c, 1002)


def test_pingpong_ten_pings_answered_in_order(srv, opened):
    c = opened(srv)
    c.send_raw(b"".join(encode_frame(OP_PING, b"p%d" % i) for i in range(10)))
    for i in range(10):
        f = server_frame(c)
        assert (f.opcode, f.payload) == (OP_PONG, b"p%d" % i)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG])
def test_pingpong_fragmented_control_1002(srv, opened, opcode):
    c = opened(srv)
    c.send_frame(opcode, b"a", fin=False)
    c.send_frame(OP_CONT, b"b", ignore_errors=True)
    expect_close(c, 1002)


# ================================================================ 3 reserved bits


@pytest.mark.parametrize("rsv", range(1, 8))
def test_rsv_text_1002(srv, opened, rsv):
    c = opened(srv)
    c.send_frame(OP_TEXT, PING, rsv=rsv)
    seen = expect_close(c, 1002)
    assert not [f for f in seen if f.opcode == OP_TEXT]


@pytest.mark.parametrize("opcode,payload", [(OP_PING, b"x"), (OP_PONG, b""),
                                            (OP_CLOSE, close_payload(1000)),
                                            (OP_BINARY, b"b")])
@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_rsv_other_opcodes_1002(srv, opened, opcode, payload, rsv):
    c = opened(srv)
    c.send_frame(opcode, payload, rsv=rsv)
    expect_close(c, 1002)


def test_rsv_on_continuation_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_TEXT, PING[:5], fin=False)
    c.send_frame(OP_CONT, PING[5:], rsv=2)
    expect_close(c, 1002)


def test_rsv_after_valid_frame_then_ping_not_answered(srv, opened):
    """Autobahn 3.2: the valid frame is answered; the bad one fails the
    connection and the ping behind it is never answered."""
    c = opened(srv)
    c.send_raw(encode_frame(OP_TEXT, PING) + encode_frame(OP_TEXT, PING, rsv=2) +
               encode_frame(OP_PING, b"late"))
    seen = expect_close(c, 1002)
    assert [(f.opcode, f.payload) for f in seen] == [(OP_TEXT, b'{"type":"pong"}')]


# ================================================================ 4 opcodes


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
@pytest.mark.parametrize("payload", [b"", b"reserved"])
def test_opcodes_reserved_1002(srv, opened, opcode, payload):
    c = opened(srv)
    c.send_frame(opcode, payload)
    expect_close(c, 1002)


@pytest.mark.parametrize("opcode", [3, 0xB])
def test_opcodes_reserved_after_valid_frame(srv, opened, opcode):
    c = opened(srv)
    c.send_raw(encode_frame(OP_TEXT, PING) + encode_frame(opcode, b"x") +
               encode_frame(OP_PING, b"late"))
    seen = expect_close(c, 1002)
    assert [f.opcode for f in seen] == [OP_TEXT]


@pytest.mark.parametrize("opcode", [3, 0xB])
def test_opcodes_reserved_inside_fragmented_message(srv, opened, opcode):
    c = opened(srv)
    c.send_frame(OP_TEXT, PING[:4], fin=False)
    c.send_frame(opcode, b"")
    expect_close(c, 1002)


# ================================================================ 5 fragmentation


@pytest.mark.parametrize("cuts", [[1], [7], [14], [1, 2, 3], list(range(1, 15)),
                                  [0], [15], [0, 0, 5, 5, 15, 15]],
                         ids=["1", "7", "14", "three", "every-byte", "empty-first",
                              "empty-last", "empty-middles"])
def test_fragmentation_text_reassembled(srv, opened, cuts):
    c = opened(srv)
    c.send_raw(fragments(PING, cuts))
    expect_pong(c)
    alive(c)


def test_fragmentation_control_frames_interleaved(srv, opened):
    c = opened(srv)
    frames = b""
    for i, ch in enumerate(PING):
        frames += encode_frame(OP_TEXT if i == 0 else OP_CONT, bytes([ch]),
                               fin=(i == len(PING) - 1))
        if i < len(PING) - 1:
            frames += encode_frame(OP_PING, b"%d" % i) + encode_frame(OP_PONG, b"u")
    c.send_raw(frames)
    pongs = [server_frame(c) for _ in range(len(PING))]
    assert [f.payload for f in pongs[:-1]] == [b"%d" % i for i in range(len(PING) - 1)]
    assert all(f.opcode == OP_PONG for f in pongs[:-1])
    assert pongs[-1].opcode == OP_TEXT and json.loads(pongs[-1].payload) == {"type": "pong"}


@pytest.mark.parametrize("fin", [True, False])
def test_fragmentation_continuation_without_start_1002(srv, opened, fin):
    c = opened(srv)
    c.send_frame(OP_CONT, PING, fin=fin)
    expect_close(c, 1002)


def test_fragmentation_continuation_after_complete_message_1002(srv, opened):
    c = opened(srv)
    c.send_raw(fragments(PING, [5]) + encode_frame(OP_CONT, b" "))
    seen = expect_close(c, 1002)
    assert [f.opcode for f in seen] == [OP_TEXT]


@pytest.mark.parametrize("second", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("fin", [True, False])
def test_fragmentation_new_data_frame_mid_message_1002(srv, opened, second, fin):
    """A text or binary frame where a continuation is due is a framing
    error (1002), even a binary one (which alone would be 1003)."""
    c = opened(srv)
    c.send_frame(OP_TEXT, PING[:5], fin=False)
    c.send_frame(second, PING[5:], fin=fin)
    expect_close(c, 1002)


def test_fragmentation_fragmented_close_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_CLOSE, close_payload(1000), fin=False)
    expect_close(c, 1002)


def test_fragmentation_binary_start_1003(srv, opened):
    c = opened(srv)
    c.send_frame(OP_BINARY, b"ab", fin=False)
    expect_close(c, 1003)


def test_fragmentation_close_mid_message_echoed(srv, opened):
    c = opened(srv)
    c.send_frame(OP_TEXT, PING[:5], fin=False)
    c.send_frame(OP_CLOSE, close_payload(1000, "bye"))
    seen = expect_close(c, 1000)
    assert seen == []


# ================================================================ 6 UTF-8


def ping_with(raw):
    """{"type":"ping","x":"<raw bytes>"}: valid JSON when raw is valid UTF-8."""
    return b'{"type":"ping","x":"' + raw + b'"}'


INVALID_UTF8 = [
    ("lone-cont-80", b"\x80"), ("lone-cont-bf", b"\xbf"),
    ("cont-run", b"\x80\xbf\x80\xbf"), ("start-then-space", b"\xc0 "),
    ("start-e0-space", b"\xe0\x80 "), ("overlong2-c0af", b"\xc0\xaf"),
    ("overlong2-c1bf", b"\xc1\xbf"), ("overlong3-e080af", b"\xe0\x80\xaf"),
    ("overlong3-max", b"\xe0\x9f\xbf"), ("overlong4", b"\xf0\x80\x80\xaf"),
    ("overlong4-max", b"\xf0\x8f\xbf\xbf"), ("overlong-nul", b"\xc0\x80"),
    ("five-byte", b"\xf8\x88\x80\x80\x80"), ("six-byte", b"\xfc\x84\x80\x80\x80\x80"),
    ("fe", b"\xfe"), ("ff", b"\xff"), ("fe-ff", b"\xfe\xfe\xff\xff"),
    ("surrogate-d800", b"\xed\xa0\x80"), ("surrogate-dbff", b"\xed\xaf\xbf"),
    ("surrogate-dc00", b"\xed\xb0\x80"), ("surrogate-dfff", b"\xed\xbf\xbf"),
    ("surrogate-pair", b"\xed\xa0\x80\xed\xb0\x80"),
    ("above-10ffff", b"\xf4\x90\x80\x80"), ("f5", b"\xf5\x80\x80\x80"),
    ("f7-max", b"\xf7\xbf\xbf\xbf"), ("truncated2", b"\xc2"),
    ("truncated3", b"\xe2\x82"), ("truncated4", b"\xf0\x9f\x98"),
    ("autobahn-6.3", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
]

VALID_EDGES = [
    ("u+007f", "\u007f"), ("u+0080", "\u0080"), ("u+07ff", "\u07ff"),
    ("u+0800", "\u0800"), ("u+d7ff", "\ud7ff"), ("u+e000", "\ue000"),
    ("u+fffd", "\ufffd"), ("u+fffe", "\ufffe"), ("u+ffff", "\uffff"),
    ("u+feff-bom", "\ufeff"), ("u+10000", "\U00010000"), ("u+10ffff", "\U0010ffff"),
    ("kosme", "\u03ba\u1f79\u03c3\u03bc\u03b5"),
]


@pytest.mark.parametrize("raw", [r for _, r in INVALID_UTF8], ids=[n for n, _ in INVALID_UTF8])
def test_utf8_invalid_single_frame_1007(srv, opened, raw):
    c = opened(srv)
    c.send_frame(OP_TEXT, ping_with(raw))
    seen = expect_close(c, 1007)
    assert seen == []


@pytest.mark.parametrize("text", [t for _, t in VALID_EDGES], ids=[n for n, _ in VALID_EDGES])
def test_utf8_valid_edge_code_points_accepted(srv, opened, text):
    c = opened(srv)
    c.send_frame(OP_TEXT, ping_with(text.encode("utf-8")))
    expect_pong(c)
    # Also split inside the character.
    payload = ping_with(text.encode("utf-8"))
    c.send_raw(fragments(payload, [len(ping_with(b"")) - 2 + 1]))
    expect_pong(c)


def test_utf8_valid_split_at_every_byte(srv, opened):
    c = opened(srv)
    payload = ping_with("\u03ba\u1f79\u03c3\u03bc\u03b5 \u20ac \U0001d11e \U0010ffff \u00e9"
                        .encode("utf-8"))
    for i in range(1, len(payload)):
        c.send_raw(fragments(payload, [i]))
        expect_pong(c)
    c.send_raw(fragments(payload, range(1, len(payload))))  # one byte per frame
    expect_pong(c)


def test_utf8_invalid_split_at_every_byte_fails_fast(srv, opened):
    """The invalid sequence is found in the fragment that completes it: when
    the first fragment already holds it, the server closes without waiting
    for the rest of the message (Autobahn 6.4)."""
    payload = ping_with(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
    bad_at = payload.index(b"\xed\xa0") + 1  # \xa0 after \xed is never valid
    for i in range(1, len(payload)):
        c = opened(srv)
        if i > bad_at:
            c.send_frame(OP_TEXT, payload[:i], fin=False)  # and nothing else
        else:
            c.send_raw(fragments(payload, [i]))
        expect_close(c, 1007)
        c.close()


@pytest.mark.parametrize("tail", [b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98"])
def test_utf8_truncated_at_message_end_1007(srv, opened, tail):
    """A sequence cut by the end of the message: the last fragment is empty."""
    c = opened(srv)
    c.send_frame(OP_TEXT, PING + tail, fin=False)
    c.send_frame(OP_CONT, b"", fin=True)
    expect_close(c, 1007)


def test_utf8_invalid_in_later_fragment_after_valid_messages(srv, opened):
    c = opened(srv)
    c.send_raw(fragments(ping_with("\u20ac".encode()), [22]))
    expect_pong(c)
    c.send_frame(OP_TEXT, b'{"type":"pi', fin=False)
    c.send_frame(OP_CONT, b'ng","x":"\xff"}')
    expect_close(c, 1007)


def test_utf8_not_json_but_valid_utf8_is_an_error_frame(srv, opened):
    c = opened(srv)
    c.send_frame(OP_TEXT, "\u00e9t\u00e9 \U0001f600".encode("utf-8"))
    expect_error(c, "invalid_json")
    alive(c)


# ================================================================ 7 close


def test_close_empty_payload_answered_1000(srv, opened):
    c = opened(srv)
    c.send_frame(OP_CLOSE, b"")
    expect_close(c, 1000)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                  1012, 1013, 1014, 3000, 3999, 4000, 4999])
def test_close_valid_code_echoed(srv, opened, code):
    c = opened(srv)
    c.send_frame(OP_CLOSE, close_payload(code, "reason"))
    f = server_frame(c)
    assert f.opcode == OP_CLOSE
    got, _ = parse_close_payload(f.payload)
    assert got == code


@pytest.mark.parametrize("code", [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000,
                                  2999, 5000, 65535])
def test_close_invalid_code_1002(srv, opened, code):
    c = opened(srv)
    c.send_frame(OP_CLOSE, close_payload(code))
    expect_close(c, 1002)


def test_close_one_byte_payload_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_CLOSE, b"\x03")
    expect_close(c, 1002)


def test_close_max_reason_123_bytes_echoed(srv, opened):
    c = opened(srv)
    c.send_frame(OP_CLOSE, close_payload(1000, "r" * 123))
    expect_close(c, 1000)


def test_close_payload_126_bytes_1002(srv, opened):
    c = opened(srv)
    c.send_frame(OP_CLOSE, close_payload(1000, "r" * 124))
    expect_close(c, 1002)


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xed\xa0\x80", b"\xc0\xaf", b"cut\xe2\x82"])
def test_close_reason_invalid_utf8_1007(srv, opened, reason):
    c = opened(srv)
    c.send_frame(OP_CLOSE, close_payload(1000, reason))
    expect_close(c, 1007)


def test_close_reason_valid_utf8_echoed(srv, opened):
    c = opened(srv)
    c.send_frame(OP_CLOSE, close_payload(4001, "\u03ba\u1f79\u03c3\u03bc\u03b5 \U0001f600"))
    expect_close(c, 4001)


def test_close_data_after_close_ignored_and_tcp_closed(srv, opened):
    """After the close handshake starts the server reads nothing more: the
    text ping and ping behind the close are never answered, and the server
    ends the TCP connection by itself (the client here never closes it)."""
    c = opened(srv)
    c.send_raw(encode_frame(OP_CLOSE, close_payload(1000)) + encode_frame(OP_TEXT, PING) +
               encode_frame(OP_PING, b"late"))
    f = server_frame(c)
    assert f.opcode == OP_CLOSE and parse_close_payload(f.payload)[0] == 1000
    assert c.recv_frame(timeout=15) is None  # EOF, with no frame after the close


def test_close_server_initiated_then_frames_ignored(srv, opened):
    """After the server's own close (here 1002) a close reply from the client
    completes the handshake; anything else it sends is ignored."""
    c = opened(srv)
    c.send_frame(0x3, b"")
    f = server_frame(c)
    assert parse_close_payload(f.payload)[0] == 1002
    c.send_raw(encode_frame(OP_PING, b"x") + encode_frame(OP_CLOSE, close_payload(1002)),
               ignore_errors=True)
    assert c.recv_frame(timeout=15) is None


# ================================================================ 9 limits


@pytest.mark.parametrize("which", ["srv", "small"])
def test_limits_message_exactly_max_across_fragments(request, opened, which):
    st = request.getfixturevalue(which)
    n = 1024 if which == "small" else 65536
    c = opened(st)
    c.send_raw(fragments(padded_ping(n), [n // 3, n // 2, n - 1]))
    expect_pong(c)
    alive(c)


@pytest.mark.parametrize("which", ["srv", "small"])
def test_limits_message_over_max_across_fragments_1009(request, opened, which):
    """Each frame is within max-frame, the message is one byte over."""
    st = request.getfixturevalue(which)
    n = 1024 if which == "small" else 65536
    c = opened(st)
    c.send_frame(OP_TEXT, padded_ping(n)[:n // 2], fin=False)
    c.send_frame(OP_CONT, b" " * (n - n // 2 + 1), fin=True, ignore_errors=True)
    expect_close(c, 1009)


def test_limits_many_one_byte_fragments(small, opened):
    c = opened(small)
    c.send_raw(fragments(padded_ping(1024), range(1, 1024)))
    expect_pong(c)


def test_limits_one_byte_fragment_past_max_1009(small, opened):
    """Fails on the fragment that crosses the limit, before the message ends."""
    c = opened(small)
    c.send_raw(fragments(padded_ping(1024), range(1, 1024))[:-7] +  # drop the fin frame
               encode_frame(OP_CONT, b" ", fin=False) + encode_frame(OP_CONT, b" ", fin=False))
    expect_close(c, 1009)


def test_limits_many_empty_fragments_then_message(small, opened):
    """Empty continuations cost no buffer: 5,000 of them are fine."""
    c = opened(small)
    c.send_raw(encode_frame(OP_TEXT, PING[:1], fin=False) +
               encode_frame(OP_CONT, b"", fin=False) * 5000 +
               encode_frame(OP_CONT, PING[1:], fin=True))
    expect_pong(c)


def test_limits_many_messages_back_to_back(small, opened):
    c = opened(small)
    batch = b"".join(fragments(padded_ping(1000), [100, 500]) for _ in range(100))
    c.send_raw(batch)
    for _ in range(100):
        expect_pong(c)


# ================================================================ 12/13 compression


@pytest.mark.parametrize("offer", [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "x-webkit-deflate-frame",
])
def test_compression_extension_not_accepted(srv, offer):
    sock, buf, status, hdrs, _ = upgrade(srv, set_headers={"Sec-WebSocket-Extensions": offer})
    try:
        assert status == 101
        assert "sec-websocket-extensions" not in hdrs
        # Without the extension RSV1 ("compressed") is a protocol error.
        sock.sendall(encode_frame(OP_TEXT, PING, rsv=4))
        deadline = time.monotonic() + 10
        frames = []
        while not frames or frames[-1].opcode != OP_CLOSE:
            d = decode_frame(buf)
            if d is None:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                assert chunk, "EOF before the close frame: %r" % frames
                buf += chunk
                continue
            frames.append(d[0])
            del buf[:d[1]]
        assert parse_close_payload(frames[-1].payload)[0] == 1002
    finally:
        sock.close()


def test_compression_library_client_falls_back_to_none(srv):
    """websockets offers permessage-deflate by default; the session works
    uncompressed."""
    s, tok = srv
    with ws_connect(s.ws_url, additional_headers={"Authorization": "Bearer " + tok},
                    compression="deflate", open_timeout=10) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"type": "ping", "pad": "x" * 2000}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}

