"""Hostile and malformed input: the server answers with the right 4xx, stays
up, and its data does not change."""

import json
import random
import socket
import threading
import time

import pytest

from parley_client import Parley, assert_error, expect, expect_bad_path_id, raw_http


def _req(method, path, body=b"", headers=None, host="x"):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if body or method in ("POST", "PUT"):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _json_body(body):
    assert body, "empty body"
    return json.loads(body)


def _snapshot(a, b, cid):
    return {
        "a_me": expect(a.me(), 200),
        "a_convs": expect(a.conversations(), 200),
        "b_convs": expect(b.conversations(), 200),
        "hist": a.history_all(cid),
        "members": a.members_all(cid)[0],
    }


def _garbage_blobs(rng):
    blobs = []
    for _ in range(25):
        blobs.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))))
    for _ in range(10):
        blobs.append(b"GET / HTTP/1.1\r\n" + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048))))
    for _ in range(5):
        blobs.append(b"POST /v1/auth/login HTTP/1.1\r\nContent-Length: 20\r\n\r\n"
                     + bytes(rng.getrandbits(8) for _ in range(20)))
    blobs += [
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nNoColonHere\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\x00: y\r\n\r\n",
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"GET /v1/conversations/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /%00%ff%c0 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET " + b"/a" * 6000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n" + b"X-Long: " + b"y" * 20000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n",
        b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
        b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,   # a TLS ClientHello
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                              # HTTP/2 preface
    ]
    return blobs


def test_server_survives_garbage_and_data_unchanged(server_factory):
    srv = server_factory.start(["--header-timeout-ms", "2000"])
    p = Parley(srv)
    a, b = p.new_users(2, "bad")
    cid = a.group("precious", [b])["conversation_id"]
    for i in range(7):
        a.send_ok(cid, "keep %d" % i)
    expect(b.read(cid, 4), 200)
    before = _snapshot(a, b, cid)

    rng = random.Random(20261124)
    for blob in _garbage_blobs(rng):
        resp = raw_http(srv.host, srv.port, blob, timeout=15, shut_wr=True)
        if resp is not None:
            status = resp[0]
            assert 400 <= status < 500 or status == 505, (status, blob[:80])
        assert srv.alive(), "parleyd died on %r" % blob[:80]

    # Truncated heads, left open together, then dropped.
    socks = []
    for i in range(30):
        s = socket.create_connection((srv.host, srv.port), timeout=10)
        s.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Le"[: 10 + i])
        socks.append(s)
    expect(p.anon.get("/healthz"), 200)
    for s in socks:
        s.close()

    # Half a WebSocket frame, then gone.
    raw = p.raw_ws(a)
    raw.recv_json()
    raw.send_raw(b"\x81\xfe\xff")
    raw.close()

    assert srv.alive()
    expect(p.anon.get("/healthz"), 200)
    expect(p.login(a.username, a.password), 200)
    assert _snapshot(a, b, cid) == before
    ws = p.ws(b)
    m = a.send_ok(cid, "after the storm")
    assert ws.recv_message(cid, seq=m["seq"])["content"] == "after the storm"
    p.close()


def test_idle_partial_head_is_timed_out(server_factory):
    srv = server_factory.start(["--header-timeout-ms", "500"])
    s = socket.create_connection((srv.host, srv.port), timeout=15)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        pytest.fail("partial head not timed out within 15 s")
    finally:
        s.close()
    assert time.monotonic() - t0 < 15
    if data:
        status = int(data.split(b" ", 2)[1])
        assert status in (400, 408), data[:200]


@pytest.mark.parametrize("size,ok", [(2000, True), (20000, False)])
def test_header_size_limit(mp, size, ok):
    req = _req("GET", "/healthz", headers={"X-Pad": "p" * size})
    resp = raw_http(mp.server.host, mp.server.port, req)
    if ok:
        assert resp is not None and resp[0] == 200
    else:
        assert resp is not None, "no response to a huge head"
        assert resp[0] in (431, 400), resp[:2]


def test_header_size_limit_configured(server_factory):
    srv = server_factory.start(["--max-header", "1024"])
    big = _req("GET", "/healthz", headers={"X-Pad": "p" * 1500})
    resp = raw_http(srv.host, srv.port, big)
    assert resp is not None and resp[0] in (431, 400)
    small = _req("GET", "/healthz", headers={"X-Pad": "p" * 200})
    assert raw_http(srv.host, srv.port, small)[0] == 200


def _register_body(size):
    """A valid register body padded with spaces to exactly size bytes."""
    from parley_client import unique_name
    core = json.dumps({"username": unique_name("mb"), "password": "password123"}).encode()
    assert len(core) <= size
    return core[:-1] + b" " * (size - len(core)) + b"}"


def test_max_body_configured_boundary(server_factory):
    srv = server_factory.start(["--max-body", "1024"])
    ok = _register_body(1024)
    resp = raw_http(srv.host, srv.port, _req("POST", "/v1/auth/register", ok,
                                             {"Content-Type": "application/json"}))
    assert resp[0] == 201, resp
    big = _register_body(1025)
    resp = raw_http(srv.host, srv.port, _req("POST", "/v1/auth/register", big,
                                             {"Content-Type": "application/json"}))
    assert resp[0] == 413, resp
    assert_error(_json_body(resp[2]), "payload_too_large")


def test_default_max_body_413(mp):
    """1 MiB + 1 byte: 413 payload_too_large (the body is streamed from a
    thread so the server may answer early or after reading it)."""
    n = 1048577
    head = ("POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % n).encode()
    s = socket.create_connection((mp.server.host, mp.server.port), timeout=30)
    s.sendall(head)

    def pump():
        try:
            chunk = b" " * 65536
            left = n
            while left > 0:
                s.sendall(chunk[:left])
                left -= min(left, len(chunk))
        except OSError:
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    from rawws import read_http_response
    try:
        status, headers, body = read_http_response(s, bytearray(), time.monotonic() + 30)
    finally:
        t.join(30)
        s.close()
    assert status == 413
    assert_error(json.loads(body), "payload_too_large")


@pytest.mark.private_server("3 MiB is over nginx's own body limit (2 MiB): "
                            "nginx answers it")
def test_body_over_max_sent_whole_before_reading_gets_413_not_a_reset(mp):
    """A peer that writes its whole too-large body before it reads (as
    nginx does) must get the 413: parleyd drops the rest of the body
    until the peer closes, instead of closing with it unread, which
    resets the connection and can destroy the answer in the peer's
    buffers (nginx then said 503: seen in tests/infra/test_nginx.py)."""
    n = 3 * 1024 * 1024
    head = _req("POST", "/v1/auth/login", headers={"Content-Length": str(n)})
    head = head.replace(b"Content-Length: 0\r\n", b"")
    s = socket.create_connection((mp.server.host, mp.server.port), timeout=30)
    try:
        s.sendall(head)
        time.sleep(0.2)  # the 413 is written and the close begins
        try:
            s.sendall(b" " * n)
        except OSError as e:
            pytest.fail("connection reset while sending the body: %r" % (e,))
        s.shutdown(socket.SHUT_WR)
        from rawws import read_http_response
        try:
            status, _, body = read_http_response(s, bytearray(), time.monotonic() + 30)
        except OSError as e:
            pytest.fail("connection reset before the answer was read: %r" % (e,))
        assert status == 413
        assert_error(json.loads(body), "payload_too_large")
    finally:
        s.close()


@pytest.mark.private_server("nginx waits for the announced body before "
                            "it forwards the request")
def test_content_length_over_max_without_body(mp):
    head = _req("POST", "/v1/auth/login", headers={"Content-Length": "5000000"})
    head = head.replace(b"Content-Length: 0\r\n", b"")
    resp = raw_http(mp.server.host, mp.server.port, head)
    assert resp is not None and resp[0] == 413
    assert_error(_json_body(resp[2]), "payload_too_large")


@pytest.mark.parametrize("path", [
    "/v1/auth/register", "/v1/auth/login", "/v1/conversations",
    "/v1/conversations/{cid}/messages", "/v1/conversations/{cid}/read",
    "/v1/conversations/{cid}/members",
])
@pytest.mark.parametrize("body", [b"not json", b"{", b'{"a":', b"\xff\xfe", b"{'a':1}", b""])
def test_invalid_json_body_400(mp, path, body):
    a = mp.new_user("ij")
    cid = a.group("ij", [])["conversation_id"]
    r = a.post(path.format(cid=cid), content=body, headers={"Content-Type": "application/json"})
    expect(r, 400, "invalid_json")


@pytest.mark.parametrize("body", [b"[]", b"123", b'"str"', b"null", b"true"])
def test_non_object_json_body_400(mp, body):
    r = mp.anon.post("/v1/auth/register", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_request", "invalid_json")


@pytest.mark.private_server("nginx reads a chunked body and forwards it "
                            "with a Content-Length")
def test_chunked_body_411(mp):
    req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n")
    resp = raw_http(mp.server.host, mp.server.port, req)
    assert resp is not None and resp[0] == 411
    assert_error(_json_body(resp[2]), "invalid_request")


# ("/" is the browser client: test_web.py)
@pytest.mark.parametrize("path", ["/v1", "/v2/me", "/v1/nope", "/v1/me/extra",
                                  "/v1/conversations/a/b/c/d", "/healthz/x", "/metricsz"])
def test_unknown_path_404(mp, path):
    a = mp.new_user("np")
    expect(a.get(path), 404, "not_found")


@pytest.mark.parametrize("method,path", [
    ("POST", "/v1/me"), ("DELETE", "/v1/me"), ("GET", "/v1/auth/register"),
    ("GET", "/v1/auth/login"), ("DELETE", "/v1/conversations"), ("PUT", "/v1/conversations"),
    ("PATCH", "/v1/conversations/{cid}"), ("DELETE", "/v1/conversations/{cid}/messages"),
    ("GET", "/v1/conversations/{cid}/read"), ("POST", "/healthz"), ("POST", "/metrics"),
    ("PUT", "/v1/conversations/{cid}/members"),
])
def test_wrong_method_405(mp, method, path):
    a = mp.new_user("wm")
    cid = a.group("wm", [])["conversation_id"]
    r = a.http.request(method, path.format(cid=cid), content=b"{}" if method != "GET" else None)
    expect(r, 405, "method_not_allowed")


def test_keep_alive_and_pipelining(mp):
    s = socket.create_connection((mp.server.host, mp.server.port), timeout=10)
    from rawws import read_http_response
    buf = bytearray()
    try:
        for _ in range(3):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = read_http_response(s, buf, time.monotonic() + 10)
            assert status == 200 and json.loads(body) == {"status": "ok"}
        # Pipelined: three requests in one write, three responses in order.
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = [read_http_response(s, buf, time.monotonic() + 10) for _ in range(3)]
        assert [g[0] for g in got] == [200, 404, 200]
        assert json.loads(got[2][2]) == {"status": "ready"}
    finally:
        s.close()


def test_bad_uuid_and_query_params_400(mp):
    a = mp.new_user("bq")
    cid = a.group("bq", [])["conversation_id"]
    expect(a.get("/v1/conversations/%s/messages?limit=" % cid), 400, "invalid_request")
    expect(a.get("/v1/conversations/%s/messages?limit=1e3" % cid), 400, "invalid_request")
    expect_bad_path_id(a.get("/v1/conversations/" + cid.upper().replace("-", "")))
    expect_bad_path_id(a.remove_member(cid, "zzz"))


@pytest.mark.parametrize("q", ["after_seq=99999999999999999999999",
                               "before_seq=99999999999999999999999",
                               "limit=18446744073709551617"])
def test_history_query_int_overflow_400(mp, q):
    """An integer that does not fit 64 bits is a bad query parameter (not
    silently clamped)."""
    a = mp.new_user("ov")
    cid = a.group("ov", [])["conversation_id"]
    expect(a.get("/v1/conversations/%s/messages?%s" % (cid, q)), 400, "invalid_request")
