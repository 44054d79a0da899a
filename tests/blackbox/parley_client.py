"""Helpers for the Parley black-box suite.

ParleyServer: runs the real build/parleyd as a child process on an
ephemeral port and drains its JSON stderr log.
Parley: a test's view of one server: register/login users, bulk users via
`parley admin create-users`, WebSocket clients (closed at teardown).
User: an authenticated REST client (httpx) with one method per endpoint.
WSClient: websockets' sync client with an inbox: recv_type() returns the
next frame of a type and keeps the others for later calls.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
UUID_ANY_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 30.0
WS_TIMEOUT = 10.0


# --- PARLEY_TEST_SERVER_ARGS: extra parleyd flags for every server a test
# starts (with base_args), e.g. "--presence redis --redis-addrs H:P" to run
# a suite on another backend. A test's own extra_args come after and win.
def server_args_from_env():
    return shlex.split(os.environ.get("PARLEY_TEST_SERVER_ARGS", ""))
# --- end PARLEY_TEST_SERVER_ARGS


def build_dir():
    return os.environ.get("PARLEY_BUILD_DIR") or os.path.join(REPO, "build")


def parleyd_path():
    return os.path.join(build_dir(), "parleyd")


def parley_path():
    return os.path.join(build_dir(), "parley")


def clean_env(extra=None):
    """os.environ without PARLEY_* (so the caller's shell can't leak
    settings into the server) plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    env.update(extra or {})
    return env


# ---------------------------------------------------------------- store
# PARLEY_TEST_STORE=postgres (with PARLEY_TEST_PG_DSN, a libpq URI or
# keyword=value conninfo) runs every server - and `parley admin` on its data dir - on
# PostgreSQL: each data dir gets its own schema (named after the dir, so a
# restart on the same dir finds its data), created on first use.

_pg_schemas = set()
_pg_lock = threading.Lock()


def store_kind():
    return os.environ.get("PARLEY_TEST_STORE") or "sqlite"


def pg_bin(name):
    return os.path.join(os.environ.get("PARLEY_PG_BIN", "/usr/lib/postgresql/15/bin"), name)


def pg_schema_for(data_dir):
    digest = hashlib.sha1(os.path.abspath(str(data_dir)).encode()).hexdigest()
    return "bb_" + digest[:24]


def pg_dsn_with_schema(dsn, schema):
    """dsn (a URI or a keyword=value conninfo) working in schema."""
    if dsn.startswith(("postgresql://", "postgres://")):
        return "%s%soptions=-c%%20search_path%%3D%s" % (dsn, "&" if "?" in dsn else "?", schema)
    return "%s options='-c search_path=%s'" % (dsn, schema)


def store_env(data_dir):
    """The PARLEY_* variables that put a server on data_dir's store."""
    if store_kind() != "postgres":
        return {}
    dsn = os.environ["PARLEY_TEST_PG_DSN"]
    schema = pg_schema_for(data_dir)
    with _pg_lock:
        if schema not in _pg_schemas:
            subprocess.run([pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn,
                            "-c", "CREATE SCHEMA IF NOT EXISTS " + schema],
                           check=True, capture_output=True, timeout=30,
                           env=clean_env())
            _pg_schemas.add(schema)
    return {"PARLEY_STORE": "postgres",
            "PARLEY_PG_DSN": pg_dsn_with_schema(dsn, schema)}


def unique_name(prefix="u"):
    return (prefix + uuid.uuid4().hex)[:24]


def parse_time(s):
    assert TIME_RE.match(s), "bad time format: %r" % (s,)
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------- process


class ParleyServer:
    """One parleyd child process."""

    def __init__(self, data_dir, cwd, extra_args=(), env=None, base_args=True,
                 start_timeout=START_TIMEOUT):
        self.data_dir = str(data_dir)
        self.cwd = str(cwd)
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.base_args = base_args
        self.lines = []          # every stderr line, as text
        self.stdout_lines = []
        self.cond = threading.Condition()
        self.addr = None
        self.proc = None
        self.returncode = None
        self._start(start_timeout)

    def argv(self):
        argv = [parleyd_path()]
        if self.base_args:
            # Every test registers its users from 127.0.0.1: far more than a
            # person would (register-per-ip is an abuse guard). test_limits.py
            # and test_auth_throttle.py turn it back on where it is tested.
            argv += ["--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                     "--argon-opslimit", "1", "--argon-memlimit", "8388608",
                     "--log-level", "debug", "--register-per-ip", "0"]
            argv += server_args_from_env()
        return argv + self.extra_args

    def _start(self, timeout):
        exe = parleyd_path()
        if not os.access(exe, os.X_OK):
            raise AssertionError("parleyd not found at %s (build first or set PARLEY_BUILD_DIR)" % exe)
        os.makedirs(self.cwd, exist_ok=True)
        self.proc = subprocess.Popen(
            self.argv(), cwd=self.cwd,
            env=clean_env(dict(store_env(self.data_dir), **self.extra_env)),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.lines, True),
                         daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines, False),
                         daemon=True).start()
        ev = self.wait_log(lambda o: o.get("event") == "listening", timeout)
        if ev is None:
            alive = self.proc.poll() is None
            if alive:
                self.proc.kill()
                self.proc.wait()
            raise AssertionError("parleyd did not log listening within %.0fs (alive=%s, rc=%s)\n%s"
                                 % (timeout, alive, self.proc.returncode, self.log_text()))
        self.addr = ev["addr"]
        host, _, port = self.addr.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        assert self.port > 0, "listening addr must carry the real port: %r" % self.addr
        self.url = "http://%s:%d" % (self.host, self.port)
        self.ws_url = "ws://%s:%d/v1/ws" % (self.host, self.port)

    def _drain(self, pipe, out, notify):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                out.append(line)
                if notify:
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def log_objects(self):
        objs = []
        with self.cond:
            lines = list(self.lines)
        for line in lines:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict):
                objs.append(o)
        return objs

    def wait_log(self, pred, timeout=10.0, start=0):
        """First JSON log object (from line index start) satisfying pred,
        or None on timeout / process exit."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    try:
                        o = json.loads(self.lines[i])
                    except ValueError:
                        o = None
                    i += 1
                    if isinstance(o, dict) and pred(o):
                        return o
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if self.proc.poll() is not None and i >= len(self.lines):
                    # Exited: give the drain thread a moment for the tail.
                    self.cond.wait(min(left, 0.2))
                    if i >= len(self.lines):
                        return None
                    continue
                self.cond.wait(min(left, 0.5))

    def log_text(self, tail=400):
        with self.cond:
            lines = list(self.lines)
            out = list(self.stdout_lines)
        text = "\n".join(lines[-tail:])
        if out:
            text += "\n--- stdout ---\n" + "\n".join(out[-50:])
        return "argv: %s\n%s" % (" ".join(self.argv()), text)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; SIGKILL after timeout. Returns the exit code
        (None if it had to be killed)."""
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            return self.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.returncode = None
        return self.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and assert a clean exit (code 0 within timeout)."""
        rc = self.terminate(timeout)
        assert rc is not None, "parleyd did not exit within %.0fs of SIGTERM\n%s" % (
            timeout, self.log_text())
        assert rc == 0, "parleyd exited with %r after SIGTERM\n%s" % (rc, self.log_text())

    def kill(self):
        """SIGKILL (crash simulation)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.returncode = self.proc.returncode

    def restart_args(self):
        return dict(data_dir=self.data_dir, cwd=self.cwd, extra_args=self.extra_args,
                    env=self.extra_env, base_args=self.base_args)


class ExternalServer:
    """A server this suite did not start (PARLEY_TEST_EXTERNAL_URL, e.g.
    nginx in front of a cluster): the same url / ws_url / host / port /
    addr as a ParleyServer. Anything about the process (stop, kill, its
    log lines, its data dir...) skips the test: that needs a parleyd of
    its own."""

    def __init__(self, url):
        url = url.rstrip("/")
        assert url.startswith("http://"), "external url must be http://: %r" % url
        self.url = url
        self.addr = url[len("http://"):]
        host, _, port = self.addr.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.ws_url = "ws://%s/v1/ws" % self.addr

    def alive(self):
        return True

    def log_text(self, tail=200):
        """The tail of each PARLEY_TEST_EXTERNAL_LOGS file."""
        out = ["external server %s" % self.url]
        for path in os.environ.get("PARLEY_TEST_EXTERNAL_LOGS", "").split():
            try:
                with open(path, errors="replace") as f:
                    lines = f.read().splitlines()[-tail:]
            except OSError as e:
                lines = ["(%s)" % e]
            out.append("--- %s\n%s" % (path, "\n".join(lines)))
        return "\n".join(out)

    def __getattr__(self, name):
        import pytest
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.skip("needs its own parleyd: uses the server process "
                    "(.%s) and the suite runs against %s" % (name, self.url))


# ---------------------------------------------------------------- CLI


def run_cli(args, env=None, home=None, timeout=60, input=None):
    """Run build/parley. env: extra variables; home: HOME for the token file."""
    exe = parley_path()
    if not os.access(exe, os.X_OK):
        raise AssertionError("parley CLI not found at %s" % exe)
    extra = {}
    if "--data-dir" in args[:-1]:  # admin commands open the server's store
        extra.update(store_env(args[list(args).index("--data-dir") + 1]))
    extra.update(env or {})
    if home is not None:
        extra["HOME"] = str(home)
        extra.pop("XDG_CONFIG_HOME", None)
    e = clean_env(extra)
    if home is not None:
        e.pop("XDG_CONFIG_HOME", None)
    return subprocess.run([exe] + list(args), env=e, capture_output=True, timeout=timeout,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL,
                          text=True)


def parse_user_lines(stdout):
    """Parse `user_id\\tusername\\ttoken` lines."""
    rows = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        assert len(parts) == 3, "bad create-users line: %r" % line
        rows.append(tuple(parts))
    return rows


# ---------------------------------------------------------------- REST


def expect(resp, status, code=None):
    """Assert the HTTP status (and error code); return the decoded JSON body
    (None for an empty body)."""
    body_text = resp.text
    assert resp.status_code == status, "%s %s: expected %d, got %d: %s" % (
        resp.request.method, resp.request.url, status, resp.status_code, body_text[:500])
    body = None
    if body_text:
        ctype = resp.headers.get("content-type", "")
        assert ctype.startswith("application/json"), "content-type %r for %s" % (ctype, body_text[:200])
        body = resp.json()
    if code is not None:
        assert_error(body, code)
    return body


def assert_error(body, code):
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), \
        "not an error body: %r" % (body,)
    err = body["error"]
    assert err.get("code") == code, "expected error %r, got %r" % (code, err)
    assert isinstance(err.get("message"), str) and err["message"], "error without message: %r" % err


class Api:
    """Unauthenticated REST client."""

    def __init__(self, url, token=None):
        headers = {}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        self.http = httpx.Client(base_url=url, timeout=HTTP_TIMEOUT, trust_env=False,
                                 headers=headers)

    def close(self):
        self.http.close()

    def get(self, path, **kw):
        return self.http.get(path, **kw)

    def post(self, path, body=None, **kw):
        if body is not None:
            kw["json"] = body
        return self.http.post(path, **kw)

    def delete(self, path, **kw):
        return self.http.delete(path, **kw)

    def register(self, username, password):
        return self.post("/v1/auth/register", {"username": username, "password": password})

    def login(self, username, password):
        return self.post("/v1/auth/login", {"username": username, "password": password})

    def me(self):
        return self.get("/v1/me")


class User(Api):
    """An authenticated user."""

    def __init__(self, url, user_id, username, token, password=None):
        super().__init__(url, token)
        self.user_id = user_id
        self.username = username
        self.token = token
        self.password = password

    def __repr__(self):
        return "User(%s %s)" % (self.username, self.user_id)

    def user(self, user_id):
        return self.get("/v1/users/" + user_id)

    def user_by_name(self, name):
        return self.get("/v1/users", params={"username": name})

    def create_direct(self, other_id):
        return self.post("/v1/conversations", {"type": "direct", "member_ids": [other_id]})

    def create_group(self, name, member_ids=()):
        return self.post("/v1/conversations",
                         {"type": "group", "name": name, "member_ids": list(member_ids)})

    def conversations(self):
        return self.get("/v1/conversations")

    def conversation(self, cid):
        return self.get("/v1/conversations/" + cid)

    def add_members(self, cid, user_ids, role=None):
        body = {"user_ids": list(user_ids)}
        if role is not None:
            body["role"] = role
        return self.post("/v1/conversations/%s/members" % cid, body)

    def remove_member(self, cid, user_id):
        return self.delete("/v1/conversations/%s/members/%s" % (cid, user_id))

    def members(self, cid, cursor=None, limit=None):
        params = {}
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = limit
        return self.get("/v1/conversations/%s/members" % cid, params=params)

    def messages(self, cid, **params):
        return self.get("/v1/conversations/%s/messages" % cid, params=params)

    def send(self, cid, content, client_msg_id=None):
        if client_msg_id is None:
            client_msg_id = uuid.uuid4().hex
        return self.post("/v1/conversations/%s/messages" % cid,
                         {"client_msg_id": client_msg_id, "content": content})

    def read(self, cid, seq):
        return self.post("/v1/conversations/%s/read" % cid, {"seq": seq})

    # -- asserted shortcuts

    def group(self, name, members=()):
        """Create a group with User objects or ids; return the conversation."""
        ids = [m.user_id if isinstance(m, User) else m for m in members]
        return expect(self.create_group(name, ids), 201)

    def direct(self, other):
        r = self.create_direct(other.user_id if isinstance(other, User) else other)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def send_ok(self, cid, content, client_msg_id=None):
        return expect(self.send(cid, content, client_msg_id), 201)

    def conv_entry(self, cid):
        """This user's entry for cid in GET /v1/conversations (or None)."""
        convs = expect(self.conversations(), 200)["conversations"]
        for c in convs:
            if c["conversation_id"] == cid:
                return c
        return None

    def history_all(self, cid, page=200):
        """Every message of cid, paging forward with after_seq."""
        out = []
        after = 0
        for _ in range(100000):
            body = expect(self.messages(cid, after_seq=after, limit=page), 200)
            out.extend(body["messages"])
            if not body["has_more"]:
                break
            assert body["messages"], "has_more with an empty page"
            after = body["messages"][-1]["seq"]
        return out

    def members_all(self, cid, limit=None):
        out = []
        pages = []
        cursor = None
        for _ in range(100000):
            body = expect(self.members(cid, cursor=cursor, limit=limit), 200)
            pages.append(len(body["members"]))
            out.extend(body["members"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert isinstance(cursor, str) and cursor, "bad next_cursor %r" % (cursor,)
        return out, pages


# ---------------------------------------------------------------- WebSocket


class WSClient:
    """websockets sync client with an inbox of frames not yet consumed."""

    def __init__(self, ws_url, token=None, via="header", wait_hello=True, timeout=WS_TIMEOUT):
        headers = {}
        url = ws_url
        if token is not None:
            if via == "header":
                headers["Authorization"] = "Bearer " + token
            elif via == "query":
                url = ws_url + "?access_token=" + token
            else:
                raise ValueError(via)
        self.conn = ws_connect(url, additional_headers=headers, compression=None, proxy=None,
                               open_timeout=timeout, close_timeout=5, ping_interval=20,
                               ping_timeout=None, max_size=None, max_queue=None,
                               legacy=True)
        self.inbox = []
        self.hello = None
        if wait_hello:
            first = self.recv_json(timeout)
            assert first.get("type") == "hello", "first frame is not hello: %r" % (first,)
            self.hello = first

    def send_json(self, obj):
        self.conn.send(json.dumps(obj))

    def send_text(self, text):
        self.conn.send(text)

    def recv_json(self, timeout=WS_TIMEOUT):
        """The next frame (inbox first), whatever its type."""
        if self.inbox:
            return self.inbox.pop(0)
        return self._read(timeout)

    def _read(self, timeout):
        try:
            data = self.conn.recv(timeout=timeout)
        except TimeoutError:
            raise AssertionError("no WebSocket frame within %.1fs (inbox: %r)"
                                 % (timeout, self.inbox[-5:])) from None
        assert isinstance(data, str), "binary frame from server: %r" % (data[:50],)
        obj = json.loads(data)
        assert isinstance(obj, dict) and isinstance(obj.get("type"), str), "bad frame %r" % data
        return obj

    def recv_type(self, type_, timeout=WS_TIMEOUT, pred=None):
        """Next frame of type_ (and matching pred); other frames stay in
        the inbox for later calls."""
        def ok(o):
            return o.get("type") == type_ and (pred is None or pred(o))
        for i, o in enumerate(self.inbox):
            if ok(o):
                return self.inbox.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r frame within %.1fs; other frames: %r"
                                     % (type_, timeout, self.inbox[-10:]))
            try:
                o = self._read(left)
            except AssertionError:
                raise AssertionError("no %r frame within %.1fs; other frames: %r"
                                     % (type_, timeout, self.inbox[-10:])) from None
            if ok(o):
                return o
            self.inbox.append(o)

    def take_all(self, type_, pred=None):
        """Remove and return every inbox frame of type_ (no reading)."""
        got = [o for o in self.inbox if o.get("type") == type_ and (pred is None or pred(o))]
        self.inbox = [o for o in self.inbox if not (o.get("type") == type_ and (pred is None or pred(o)))]
        return got

    def send_msg(self, cid, content, client_msg_id=None):
        cmid = client_msg_id or uuid.uuid4().hex
        self.send_json({"type": "send", "conversation_id": cid, "client_msg_id": cmid,
                        "content": content})
        return cmid

    def send_and_ack(self, cid, content, client_msg_id=None, timeout=WS_TIMEOUT):
        cmid = self.send_msg(cid, content, client_msg_id)
        return self.recv_type("ack", timeout, pred=lambda o: o.get("client_msg_id") == cmid)

    def recv_message(self, cid, seq=None, timeout=WS_TIMEOUT, client_msg_id=None):
        def pred(o):
            return (o.get("conversation_id") == cid and (seq is None or o.get("seq") == seq)
                    and (client_msg_id is None or o.get("client_msg_id") == client_msg_id))
        return self.recv_type("message", timeout, pred)

    def recv_error(self, timeout=WS_TIMEOUT):
        return self.recv_type("error", timeout)

    def ping_pong(self, timeout=WS_TIMEOUT):
        self.send_json({"type": "ping"})
        return self.recv_type("pong", timeout)

    def wait_closed(self, timeout=WS_TIMEOUT):
        """Read until the server closes; return the received close code."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection not closed within %.1fs" % timeout)
            try:
                data = self.conn.recv(timeout=left)
            except TimeoutError:
                continue
            except ConnectionClosed as e:
                return e.rcvd.code if e.rcvd is not None else None
            try:
                self.inbox.append(json.loads(data))
            except ValueError:
                pass

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


# ---------------------------------------------------------------- env


class Parley:
    """A test's handle on one running server."""

    def __init__(self, server):
        self.server = server
        self._owned = []
        self.anon = self._own(Api(server.url))

    def _own(self, obj):
        self._owned.append(obj)
        return obj

    @property
    def url(self):
        return self.server.url

    @property
    def ws_url(self):
        return self.server.ws_url

    def api(self, token=None):
        return self._own(Api(self.server.url, token))

    def register(self, username, password):
        return self.anon.register(username, password)

    def login(self, username, password):
        return self.anon.login(username, password)

    def new_user(self, prefix="u", password="correct horse battery"):
        name = unique_name(prefix)
        reg = expect(self.register(name, password), 201)
        tok = expect(self.login(name, password), 200)
        assert tok["user_id"] == reg["user_id"]
        return self._own(User(self.server.url, reg["user_id"], name, tok["token"], password))

    def new_users(self, n, prefix="u"):
        return [self.new_user(prefix) for _ in range(n)]

    def bulk_users(self, n, prefix=None, timeout=120):
        """n users via `parley admin create-users` (no Argon2 per login)."""
        if isinstance(self.server, ExternalServer):
            import pytest
            pytest.skip("needs its own parleyd: creates users with `parley "
                        "admin` on the server's data dir")
        prefix = prefix or unique_name("b")[:12]
        r = run_cli(["admin", "create-users", "--count", str(n), "--prefix", prefix,
                     "--data-dir", self.server.data_dir], timeout=timeout)
        assert r.returncode == 0, "create-users failed (%d): %s" % (r.returncode, r.stderr[-2000:])
        rows = parse_user_lines(r.stdout)
        assert len(rows) == n, "create-users printed %d lines, wanted %d" % (len(rows), n)
        return [self._own(User(self.server.url, uid, name, tok)) for uid, name, tok in rows]

    def user_from_token(self, token):
        me = expect(Api(self.server.url, token).me(), 200)
        return self._own(User(self.server.url, me["user_id"], me["username"], token))

    def ws(self, user_or_token, via="header", wait_hello=True):
        token = user_or_token.token if isinstance(user_or_token, User) else user_or_token
        return self._own(WSClient(self.server.ws_url, token, via=via, wait_hello=wait_hello))

    def raw_ws(self, user_or_token=None, **kw):
        from rawws import RawWS
        token = user_or_token.token if isinstance(user_or_token, User) else user_or_token
        return self._own(RawWS(self.server.host, self.server.port, token=token, **kw))

    def close(self):
        for o in reversed(self._owned):
            try:
                o.close()
            except Exception:
                pass
        self._owned = []


# ---------------------------------------------------------------- JWT


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def jwt_sign(header, claims, key):
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, (h + "." + p).encode("ascii"), hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


def jwt_unsigned(header, claims, signature=""):
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return h + "." + p + "." + signature


def utf8_len(s):
    return len(s.encode("utf-8"))


def assert_message_shape(m):
    assert set(m) >= {"conversation_id", "seq", "message_id", "sender_id", "client_msg_id",
                      "content", "created_at"}, "message fields: %r" % (m,)
    assert UUID_RE.match(m["conversation_id"])
    assert isinstance(m["seq"], int) and m["seq"] >= 1
    assert UUID7_RE.match(m["message_id"]), "message_id is not a UUIDv7: %r" % m["message_id"]
    assert UUID_RE.match(m["sender_id"])
    assert isinstance(m["content"], str)
    parse_time(m["created_at"])


def message_fields(m):
    """The message object fields (drops "type" of a WS frame)."""
    keys = ("conversation_id", "seq", "message_id", "sender_id", "client_msg_id", "content",
            "created_at")
    return {k: m.get(k) for k in keys}


# ---------------------------------------------------------------- raw HTTP


def raw_http(host, port, data, timeout=10.0, shut_wr=False):
    """Send raw bytes; return (status, headers, body) of the first response,
    or None if the server closed without answering."""
    import socket
    from rawws import read_http_response
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may hang up before it has read everything
        buf = bytearray()
        try:
            return read_http_response(s, buf, time.monotonic() + timeout)
        except (ConnectionError, OSError) as e:
            if isinstance(e, TimeoutError):
                raise
            return None
    finally:
        s.close()


def expect_bad_path_id(resp):
    """A malformed id in the URL path is a bad request (400 invalid_request)."""
    assert resp.status_code == 400, "%s: %d %s" % (resp.request.url, resp.status_code,
                                                 resp.text[:300])
    assert_error(resp.json(), "invalid_request")
