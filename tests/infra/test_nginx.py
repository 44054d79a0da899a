"""scripts/infra/nginx.sh: nginx as the ingress, over real sockets.

Against the real parleyd (REST and WebSocket through the proxy) and
against small fake upstreams that record what reaches them, to check the
routing (/v1/auth/ to the auth instances), the forwarded headers, and the
retry policy: a request that never reached a gateway is retried, a POST
that did reach one is not (it may have been stored)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "blackbox"))

from parley_client import ParleyServer, User, WSClient, expect  # noqa: E402

NGINX_SH = os.path.join(REPO, "scripts", "infra", "nginx.sh")


def nginx(cmd, d, env=None, check=True):
    e = dict(os.environ)
    for k in ("NGINX_GATEWAYS", "NGINX_AUTH", "NGINX_PORT"):
        e.pop(k, None)
    e.update(env or {})
    r = subprocess.run([NGINX_SH, cmd, str(d)], env=e, capture_output=True,
                       text=True, timeout=60)
    if check:
        assert r.returncode == 0, "nginx.sh %s: %s%s" % (cmd, r.stdout, r.stderr)
    return r


def nginx_url(d):
    with open(os.path.join(str(d), "nginx", "env")) as f:
        line = f.read().strip()
    assert line.startswith("PARLEY_URL=http://127.0.0.1:"), line
    return line.split("=", 1)[1]


def nginx_pid(d):
    with open(os.path.join(str(d), "nginx", "nginx.pid")) as f:
        return int(f.read())


@pytest.fixture
def ngx(tmp_path):
    """A directory for one nginx; stopped (kill, then down) at teardown."""
    yield tmp_path
    nginx("down", tmp_path, check=False)


class Fake:
    """A fake upstream: records (method, path, headers, body) and answers
    200 with its name, or ("drop") reads the request and closes the
    connection without answering, like a gateway dying mid-request."""

    def __init__(self, name, mode="ok"):
        self.name, self.mode, self.seen = name, mode, []
        fake = self

        class H(BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.seen.append((self.command, self.path, dict(self.headers), body))
                if fake.mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                out = json.dumps({"upstream": fake.name,
                                  "headers": dict(self.headers)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.addr = "127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def fakes():
    made = []

    def make(name, mode="ok"):
        f = Fake(name, mode)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return "127.0.0.1:%d" % port


# ---------------------------------------------------------------- parleyd


def test_rest_and_websocket_through_nginx(tmp_path, ngx):
    srv = ParleyServer(tmp_path / "data", tmp_path / "cwd")
    try:
        nginx("up", ngx, {"NGINX_GATEWAYS": "%s:%d" % (srv.host, srv.port)})
        url = nginx_url(ngx)
        ws_url = url.replace("http://", "ws://") + "/v1/ws"
        api = httpx.Client(base_url=url, timeout=30)
        users = []
        for name in ("ngx_a_" + uuid.uuid4().hex[:8], "ngx_b_" + uuid.uuid4().hex[:8]):
            reg = expect(api.post("/v1/auth/register",
                                  json={"username": name, "password": "pw-secret-1"}), 201)
            tok = expect(api.post("/v1/auth/login",
                                  json={"username": name, "password": "pw-secret-1"}), 200)
            users.append(User(url, reg["user_id"], name, tok["token"]))
        a, b = users
        cid = expect(a.create_direct(b.user_id), 201)["conversation_id"]
        wa = WSClient(ws_url, a.token)
        wb = WSClient(ws_url, b.token, via="query")
        try:
            ack = wa.send_and_ack(cid, "hello through nginx")
            got = wb.recv_type("message")
            assert got["content"] == "hello through nginx"
            assert got["seq"] == ack["seq"]
            m = expect(b.send(cid, "and back over REST"), 201)
            assert wa.recv_type("message", pred=lambda o: o["seq"] == m["seq"])
            wa.send_json({"type": "ping"})
            assert wa.recv_type("pong")
        finally:
            wa.conn.close()
            wb.conn.close()
        r = api.get("/v1/nope")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert api.get("/healthz").json() == {"status": "ok"}
        # the contract's JSON 413 comes from parleyd, not an nginx page
        r = api.post("/v1/auth/login", content=b"x" * (1024 * 1024 + 10),
                     headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        api.close()
        # b's WebSocket carried its token in the query string: not logged
        with open(os.path.join(str(ngx), "nginx", "access.log")) as f:
            log = f.read()
        assert '"GET /v1/ws"' in log
        assert b.token not in log and "access_token" not in log
    finally:
        srv.stop()


# ---------------------------------------------------------------- routing


def test_routes_and_forwarded_headers(ngx, fakes):
    gw, auth = fakes("gw"), fakes("auth")
    nginx("up", ngx, {"NGINX_GATEWAYS": gw.addr, "NGINX_AUTH": auth.addr})
    with httpx.Client(base_url=nginx_url(ngx), timeout=10) as c:
        for path, want in (("/v1/auth/login", "auth"), ("/v1/me", "gw"),
                           ("/", "gw"), ("/index.html", "gw"), ("/v1/ws", "gw")):
            r = c.get(path, headers={"X-Forwarded-For": "10.9.9.9"})
            assert r.status_code == 200, (path, r.text)
            body = r.json()
            assert body["upstream"] == want, path
            h = {k.lower(): v for k, v in body["headers"].items()}
            assert h["x-real-ip"] == "127.0.0.1"
            # appended to what the client sent, so the chain is kept
            assert h["x-forwarded-for"] == "10.9.9.9, 127.0.0.1"
            assert h["host"] == nginx_url(ngx)[len("http://"):]
            # plain requests: no Upgrade, keep-alive pool to the upstream
            assert "upgrade" not in h
            assert h.get("connection", "") == ""


def test_websocket_upgrade_headers_reach_the_gateway(ngx, fakes):
    gw = fakes("gw")
    nginx("up", ngx, {"NGINX_GATEWAYS": gw.addr})
    with httpx.Client(base_url=nginx_url(ngx), timeout=10) as c:
        c.get("/v1/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                 "Sec-WebSocket-Version": "13",
                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    h = {k.lower(): v for k, v in gw.seen[-1][2].items()}
    assert h["upgrade"] == "websocket"
    assert h["connection"].lower() == "upgrade"
    assert h["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="


def test_no_gateway_answers_json_503(ngx):
    nginx("up", ngx, {"NGINX_GATEWAYS": closed_port()})
    r = httpx.get(nginx_url(ngx) + "/v1/me", timeout=10)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "overloaded"


# ---------------------------------------------------------------- retries


def test_refused_connection_is_retried_even_for_post(ngx, fakes):
    """Nothing reached the dead gateway, so resending cannot duplicate."""
    good = fakes("good")
    nginx("up", ngx, {"NGINX_GATEWAYS": "%s %s" % (closed_port(), good.addr)})
    with httpx.Client(base_url=nginx_url(ngx), timeout=10) as c:
        for i in range(6):
            r = c.post("/v1/conversations/x/messages", json={"i": i})
            assert r.status_code == 200 and r.json()["upstream"] == "good"
    assert len(good.seen) == 6


def test_post_that_reached_a_gateway_is_not_retried(ngx, fakes):
    """A gateway that took the request and died may have stored it: nginx
    answers 503 and the client retries with its client_msg_id."""
    bad, good = fakes("bad", "drop"), fakes("good")
    nginx("up", ngx, {"NGINX_GATEWAYS": "%s %s" % (bad.addr, good.addr)})
    codes = {}
    with httpx.Client(base_url=nginx_url(ngx), timeout=10) as c:
        for i in range(8):
            r = c.post("/v1/conversations/x/messages", json={"i": i})
            codes[i] = r.status_code
    posts = {}
    for f in (bad, good):
        for method, _, _, body in f.seen:
            assert method == "POST"
            posts.setdefault(json.loads(body)["i"], []).append(f.name)
    assert sorted(posts) == list(range(8))
    assert all(len(v) == 1 for v in posts.values()), posts  # never sent twice
    dropped = [i for i, v in posts.items() if v == ["bad"]]
    assert dropped, "the dropping gateway got no POST: the test proves nothing"
    assert all(codes[i] == 503 for i in dropped)
    assert all(codes[i] == 200 for i in posts if i not in dropped)


def test_get_that_reached_a_gateway_is_retried(ngx, fakes):
    bad, good = fakes("bad", "drop"), fakes("good")
    nginx("up", ngx, {"NGINX_GATEWAYS": "%s %s" % (bad.addr, good.addr)})
    with httpx.Client(base_url=nginx_url(ngx), timeout=10) as c:
        for i in range(6):
            r = c.get("/v1/conversations/x/messages?after_seq=%d" % i)
            assert r.status_code == 200 and r.json()["upstream"] == "good"
    assert bad.seen, "the dropping gateway got no GET: the test proves nothing"
    # every GET the bad one dropped was answered by the good one
    assert len(good.seen) == 6


# ---------------------------------------------------------------- script


def error_log(d):
    try:
        with open(os.path.join(str(d), "nginx", "error.log")) as f:
            return f.read()[-6000:]
    except OSError as e:
        return "(no error.log: %s)" % e


def served_by(url, want, d, wait=15.0):
    """The upstream answering GET url/; polls up to wait seconds for want,
    and fails with nginx's error.log (which records every SIGHUP, worker
    start and exit) if another one still answers."""
    deadline = time.monotonic() + wait
    while True:
        got = httpx.get(url + "/", timeout=5).json()["upstream"]
        if got == want:
            return got
        if time.monotonic() >= deadline:
            pytest.fail("%s answered instead of %s; error.log:\n%s"
                        % (got, want, error_log(d)), pytrace=False)
        time.sleep(0.05)


def test_reload_refused_keeps_serving(ngx, fakes):
    """A config that passes `nginx -t` but that the master cannot apply (its
    port taken by another process: -t ignores a busy port) fails the reload
    with error.log, and the old workers keep serving."""
    one, two = fakes("one"), fakes("two")
    nginx("up", ngx, {"NGINX_GATEWAYS": one.addr})
    url = nginx_url(ngx)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    ports = os.path.join(str(ngx), "nginx", "ports")
    with open(ports) as f:
        saved = f.read()
    with open(ports, "w") as f:
        f.write("PORT=%d\n" % busy.getsockname()[1])
    try:
        r = nginx("reload", ngx, {"NGINX_GATEWAYS": two.addr}, check=False)
    finally:
        busy.close()
        with open(ports, "w") as f:
            f.write(saved)
    assert r.returncode != 0
    assert "reload refused" in r.stderr and "[emerg]" in r.stderr, r.stderr
    assert served_by(url, "one", ngx, wait=0) == "one"
    # the config on disk is the one running: a restart serves "one" too
    nginx("restart", ngx)
    assert served_by(url, "one", ngx) == "one"


def test_script_interface(ngx, fakes):
    one, two = fakes("one"), fakes("two")
    nginx("up", ngx, {"NGINX_GATEWAYS": one.addr})
    url, pid = nginx_url(ngx), nginx_pid(ngx)
    assert nginx("status", ngx).returncode == 0
    nginx("up", ngx)  # running: a no-op
    assert nginx_pid(ngx) == pid
    # reload: new upstreams, same master, same port; it returns once the
    # new workers serve, so the first request after it sees them
    nginx("reload", ngx, {"NGINX_GATEWAYS": two.addr})
    assert nginx_pid(ngx) == pid
    assert served_by(url, "two", ngx, wait=0) == "two"
    # and again at once (the master is in its loop: no lost SIGHUP)
    nginx("reload", ngx, {"NGINX_GATEWAYS": one.addr})
    assert served_by(url, "one", ngx, wait=0) == "one"
    nginx("reload", ngx, {"NGINX_GATEWAYS": two.addr})
    assert served_by(url, "two", ngx, wait=0) == "two"
    # restart keeps the address and the upstreams file
    nginx("restart", ngx)
    assert nginx_url(ngx) == url and nginx_pid(ngx) != pid
    assert served_by(url, "two", ngx) == "two"
    # kill: master and workers are gone (nothing answers on the port)
    nginx("kill", ngx)
    assert nginx("status", ngx, check=False).returncode != 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=5)
    nginx("up", ngx)
    assert nginx_url(ngx) == url
    nginx("down", ngx)
    assert nginx("status", ngx, check=False).returncode != 0


def test_bad_upstreams_are_refused(ngx):
    r = nginx("up", ngx, check=False)
    assert r.returncode != 0 and "no upstreams" in r.stderr
    r = nginx("up", ngx, {"NGINX_GATEWAYS": "127.0.0.1:80;evil"}, check=False)
    assert r.returncode != 0 and "bad address" in r.stderr
