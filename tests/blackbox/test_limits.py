"""Per-address connection limits (max-connections-per-ip, conn-rate-per-ip),
the client address behind trusted proxies (trusted-proxies with
X-Forwarded-For / X-Real-IP) and the bound on the limit table.

Clients pick their source address in 127.0.0.0/8 (every address there is
local on Linux), so one test can be several "clients"."""

import json
import socket
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from parley_client import Parley, assert_error
from rawws import read_http_response

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def _conn(srv, src="127.0.0.1"):
    s = socket.create_connection((srv.host, srv.port), timeout=10,
                                 source_address=(src, 0))
    return s


def _request(sock, data=HEALTHZ, timeout=10):
    """Send one request on sock; (status, headers, body) or None if the
    server closed without an answer."""
    try:
        sock.sendall(data)
    except OSError:
        pass  # a refused connection may already be closed for writing
    buf = bytearray()
    try:
        return read_http_response(sock, buf, time.monotonic() + timeout)
    except (ConnectionError, OSError) as e:
        if isinstance(e, TimeoutError):
            raise
        return None


def _get(srv, src="127.0.0.1", headers=None, keep=False):
    """GET /healthz from src with extra header lines; returns (status,
    headers, body[, socket])."""
    extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
    s = _conn(srv, src)
    r = _request(s, ("GET /healthz HTTP/1.1\r\nHost: x\r\n%s\r\n" % extra).encode())
    if keep:
        return r, s
    s.close()
    return r


def _ws(srv, headers=None):
    return ws_connect(srv.ws_url, additional_headers=headers or {}, open_timeout=10,
                      proxy=None, legacy=True)


def _assert_429(r, code="too_many_requests"):
    assert r is not None, "closed without an answer"
    status, headers, body = r
    assert status == (503 if code == "overloaded" else 429), (status, body)
    assert headers.get("content-type", "").startswith("application/json")
    assert int(headers["retry-after"]) >= 1, headers
    assert headers.get("connection") == "close"
    assert_error(json.loads(body), code)
    return int(headers["retry-after"])


def _metric(srv, name, src="127.0.0.250", xff=None):
    s = _conn(srv, src)
    extra = "X-Forwarded-For: %s\r\n" % xff if xff else ""
    r = _request(s, ("GET /metrics HTTP/1.1\r\nHost: x\r\n%s\r\n" % extra).encode())
    s.close()
    assert r is not None and r[0] == 200, r
    for line in r[2].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric %s" % name)


def _eventually(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.1)


# ---------------------------------------------------------------- per address


def test_max_connections_per_ip_429_then_free_again(server_factory):
    srv = server_factory.start(["--max-connections-per-ip", "3",
                                "--conn-rate-per-ip", "0"])
    held = [_conn(srv) for _ in range(3)]
    try:
        for s in held:  # each is served (and stays open)
            assert _request(s)[0] == 200
        r = _get(srv)
        _assert_429(r)
        assert b"too many open connections" in r[2]
        # another address is not affected
        assert _get(srv, "127.0.0.2")[0] == 200
        # a WebSocket client sees the same refusal at its handshake
        with pytest.raises(InvalidStatus) as ei:
            _ws(srv)
        assert ei.value.response.status_code == 429
        # closing one frees its place
        held.pop().close()
        assert _eventually(lambda: _get(srv)[0] == 200), "place not freed"
        assert _metric(srv, "parley_connections_refused_total") >= 2
    finally:
        for s in held:
            s.close()


def test_refused_handshakes_get_429_under_concurrency(server_factory):
    """Refused WebSocket handshakes, 4 at a time: every client reads the
    429 (none sees a reset because the server answered before reading its
    request and closed)."""
    import concurrent.futures
    srv = server_factory.start(["--max-connections-per-ip", "1",
                                "--conn-rate-per-ip", "0"])
    held = _conn(srv)
    try:
        assert _request(held)[0] == 200

        def attempt(_):
            try:
                _ws(srv).close()
                return "upgraded"
            except InvalidStatus as e:
                return e.response.status_code
            except Exception as e:  # noqa: BLE001 - reported below
                return repr(e)

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            got = list(ex.map(attempt, range(200)))
        assert got == [429] * 200, [g for g in got if g != 429][:5]
    finally:
        held.close()


def test_connection_rate_per_ip_429_with_retry_after(server_factory):
    srv = server_factory.start(["--max-connections-per-ip", "0",
                                "--conn-rate-per-ip", "1", "--conn-burst-per-ip", "4"])
    for _ in range(4):  # the burst
        assert _get(srv)[0] == 200
    r = _get(srv)
    retry = _assert_429(r)
    assert b"too many new connections" in r[2]
    # one token per second; rounded up, so a refill that is a hair over a
    # second away (timer granularity under load) reads 2
    assert 1 <= retry <= 2
    assert _get(srv, "127.0.0.3")[0] == 200  # other addresses unaffected
    time.sleep(retry + 0.1)
    # the budget refilled by about one connection per second slept (the
    # sleep is at least retry s): some pass, then it is 429 again
    passed = 0
    r = _get(srv)
    while r[0] == 200:
        passed += 1
        assert passed <= retry + 1, "the rate limit no longer applies"
        r = _get(srv)
    assert passed >= 1
    _assert_429(r)


def test_limits_off_with_zero(server_factory):
    srv = server_factory.start(["--max-connections-per-ip", "0",
                                "--conn-rate-per-ip", "0"])
    socks = [_conn(srv) for _ in range(40)]
    try:
        for s in socks:
            assert _request(s)[0] == 200
    finally:
        for s in socks:
            s.close()


def test_global_max_connections_closes_without_answer(server_factory):
    """Over max-connections (all addresses together) a new connection is
    closed at accept, with no answer; a place frees when one closes."""
    srv = server_factory.start(["--max-connections", "5",
                                "--max-connections-per-ip", "0", "--conn-rate-per-ip", "0"])
    held = [_conn(srv, "127.0.0.%d" % (10 + i)) for i in range(5)]
    try:
        for s in held:
            assert _request(s)[0] == 200
        assert _get(srv, "127.0.0.20") is None
        held.pop().close()
        assert _eventually(lambda: _get(srv, "127.0.0.21") is not None)
    finally:
        for s in held:
            s.close()


def test_defaults_allow_a_burst_of_connections(server_factory):
    """The defaults (1000 open, 50/s after a burst of 500) let one address
    open 300 connections at once and keep them."""
    srv = server_factory.start()
    socks = []
    try:
        for _ in range(300):
            socks.append(_conn(srv))
        for s in socks[::30]:
            assert _request(s)[0] == 200
    finally:
        for s in socks:
            s.close()


# ---------------------------------------------------------------- trusted proxies


def test_trusted_proxy_counts_the_forwarded_client(server_factory):
    srv = server_factory.start(["--trusted-proxies", "127.0.0.1, 10.9.0.0/16",
                                "--max-connections-per-ip", "2",
                                "--conn-rate-per-ip", "0"])
    held = []
    try:
        # through the proxy (127.0.0.1): two connections of 203.0.113.7 ...
        for _ in range(2):
            r, s = _get(srv, headers={"X-Forwarded-For": "203.0.113.7"}, keep=True)
            assert r[0] == 200
            held.append(s)
        # ... the third is refused, with the JSON error, after its request
        _assert_429(_get(srv, headers={"X-Forwarded-For": "203.0.113.7"}))
        # the proxy itself is not limited: other clients get through it
        for i in range(5):
            r, s = _get(srv, headers={"X-Forwarded-For": "203.0.113.%d" % (20 + i)},
                        keep=True)
            assert r[0] == 200
            held.append(s)
        # X-Real-IP when there is no X-Forwarded-For
        for _ in range(2):
            r, s = _get(srv, headers={"X-Real-IP": "198.51.100.4"}, keep=True)
            assert r[0] == 200
            held.append(s)
        _assert_429(_get(srv, headers={"X-Real-IP": "198.51.100.4"}))
        # a client-supplied entry left of what the proxy appended is not
        # believed; trusted hops on the right are skipped
        _assert_429(_get(srv, headers={"X-Forwarded-For":
                                       "198.51.100.99, 203.0.113.7, 10.9.1.1"}))
        # IPv6 clients are counted by /64
        for i in range(2):
            r, s = _get(srv, headers={"X-Forwarded-For": "2001:db8:1:2::%d" % (i + 1)},
                        keep=True)
            assert r[0] == 200
            held.append(s)
        _assert_429(_get(srv, headers={"X-Forwarded-For": "2001:db8:1:2:ffff::9"}))
        # no forwarding header: the proxy's own address is the client
        for _ in range(2):
            r, s = _get(srv, keep=True)
            assert r[0] == 200
            held.append(s)
        _assert_429(_get(srv))
    finally:
        for s in held:
            s.close()


def test_untrusted_peer_cannot_spoof_x_forwarded_for(server_factory):
    srv = server_factory.start(["--trusted-proxies", "127.0.0.1",
                                "--max-connections-per-ip", "2",
                                "--conn-rate-per-ip", "0"])
    held = []
    try:
        for i in range(2):
            r, s = _get(srv, "127.0.0.5", {"X-Forwarded-For": "203.0.113.%d" % i},
                        keep=True)
            assert r[0] == 200
            held.append(s)
        # a fresh X-Forwarded-For does not make 127.0.0.5 a new client
        _assert_429(_get(srv, "127.0.0.5", {"X-Forwarded-For": "203.0.113.99",
                                            "X-Real-IP": "203.0.113.98"}))
    finally:
        for s in held:
            s.close()


def test_websocket_through_trusted_proxy_counted_per_client(server_factory):
    srv = server_factory.start(["--trusted-proxies", "127.0.0.1",
                                "--max-connections-per-ip", "1",
                                "--conn-rate-per-ip", "0"])
    p = Parley(srv)
    try:
        u = p.new_user("px")
        hdr = {"Authorization": "Bearer " + u.token, "X-Forwarded-For": "192.0.2.33"}
        ws = _ws(srv, hdr)
        try:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            with pytest.raises(InvalidStatus) as ei:
                _ws(srv, hdr)
            assert ei.value.response.status_code == 429
            assert "retry-after" in {k.lower() for k in ei.value.response.headers.keys()}
            hdr2 = dict(hdr, **{"X-Forwarded-For": "192.0.2.34"})
            ws2 = _ws(srv, hdr2)
            assert json.loads(ws2.recv(timeout=10))["type"] == "hello"
            ws2.close()
        finally:
            ws.close()
    finally:
        p.close()


LIMIT_OPTIONS = {  # name: default, as --help must show them
    "trusted-proxies": "none", "max-connections-per-ip": "1000",
    "conn-rate-per-ip": "50", "conn-burst-per-ip": "500", "limit-table-size": "65536",
    "auth-window": "600", "login-failures-per-user": "10", "login-failures-per-ip": "100",
    "register-per-ip": "20", "jwt-leeway": "5",
}


def _parleyd(args, tmp_path):
    import subprocess
    from parley_client import clean_env, parleyd_path
    return subprocess.run([parleyd_path(), "--data-dir", str(tmp_path), "--listen",
                           "127.0.0.1:0"] + args, env=clean_env(), capture_output=True,
                          text=True, timeout=10)


def test_help_lists_limit_options(tmp_path):
    out = _parleyd(["--help"], tmp_path).stdout
    for name, default in LIMIT_OPTIONS.items():
        assert "--%s VALUE  [PARLEY_%s] (default: %s)" % (
            name, name.upper().replace("-", "_"), default) in out, name


@pytest.mark.parametrize("args", [
    ["--trusted-proxies", "10.0.0.0/33"], ["--trusted-proxies", "not-an-ip"],
    ["--trusted-proxies", "10.0.0.1,"], ["--trusted-proxies", "::/129"],
    ["--trusted-proxies", ""], ["--max-connections-per-ip", "-1"],
    ["--conn-burst-per-ip", "0"], ["--limit-table-size", "1000"],
    ["--auth-window", "0"], ["--jwt-leeway", "301"], ["--register-per-ip", "x"],
])
def test_limit_options_are_validated(tmp_path, args):
    r = _parleyd(args, tmp_path)
    assert r.returncode == 2, (args, r.stderr)
    assert args[0][2:] in r.stderr, r.stderr


# ---------------------------------------------------------------- the table


def test_limit_table_is_bounded_and_expires(server_factory):
    """5,000 forwarded client addresses through a trusted proxy, with a
    table of 1,024 entries: the table stays at its bound (evicting
    addresses that hold only rate state), an address with open
    connections keeps its count, and entries expire once their buckets
    have refilled."""
    srv = server_factory.start(["--trusted-proxies", "127.0.0.1",
                                "--header-timeout-ms", "600000",  # keep `held`
                                "--limit-table-size", "1024",
                                "--max-connections-per-ip", "2",
                                "--conn-rate-per-ip", "1", "--conn-burst-per-ip", "3"])

    def metric(name):  # one fixed client address, at most one poll a second
        time.sleep(1.0)
        return _metric(srv, name, "127.0.0.1", "192.0.2.250")

    held = []
    for _ in range(2):
        r, s = _get(srv, headers={"X-Forwarded-For": "203.0.113.1"}, keep=True)
        assert r[0] == 200
        held.append(s)
    try:
        for i in range(5000):
            ip = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
            assert _get(srv, headers={"X-Forwarded-For": ip})[0] == 200
        assert metric("parley_limit_evictions_total") > 0
        entries = metric("parley_limit_entries")
        assert 0 < entries <= 1024, entries
        # the address with open connections was never evicted
        _assert_429(_get(srv, headers={"X-Forwarded-For": "203.0.113.1"}))
    finally:
        for s in held:
            s.close()
    # every bucket refills within 3 s; a sweep of the table takes 4 s
    assert _eventually(lambda: metric("parley_limit_entries") <= 3, 30), \
        metric("parley_limit_entries")
