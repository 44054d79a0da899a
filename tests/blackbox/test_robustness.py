"""Regression tests for robustness defects found in review: a full send
queue, shutdown with work in flight, HTTP pipelining and its output bound,
slow-loris and idle keep-alive timeouts, slow consumers that never read,
running out of file descriptors, the typing throttle across conversations,
and malformed ids in URL paths.

No test asserts how fast something is; bounds are on resources (RSS, CPU
seconds from /proc) or generous deadlines for things that must happen."""

import concurrent.futures
import json
import os
import select
import socket
import sys
import threading
import time
import uuid

import httpx

from parley_client import (Api, Parley, ParleyServer, assert_error, expect,
                           unique_name)
from rawws import read_http_response

MIB = 1024 * 1024


# ---------------------------------------------------------------- helpers


def _rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def _cpu_seconds(pid):
    """utime + stime of pid (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _metrics(api):
    r = api.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    values = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        values[name] = float(value)
    return values


def _metric(api, name):
    values = _metrics(api)
    assert name in values, "metric %s missing: %r" % (name, sorted(values))
    return values[name]


def _wait_metric(api, name, pred, timeout):
    """Poll /metrics until pred(value); return the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        v = _metric(api, name)
        if pred(v) or time.monotonic() > deadline:
            return v
        time.sleep(0.25)


def _healthz_eventually(url, timeout=15.0):
    """GET /healthz on a fresh connection until it answers 200."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        api = Api(url)
        try:
            r = api.get("/healthz")
            if r.status_code == 200:
                return r.json()
            last = "%d %s" % (r.status_code, r.text[:200])
        except httpx.HTTPError as e:
            last = repr(e)
        finally:
            api.close()
        time.sleep(0.2)
    raise AssertionError("GET /healthz not served within %.0fs: %s" % (timeout, last))


def _closed_by_peer(sock, timeout):
    """Wait up to timeout for EOF or reset; drains any bytes (e.g. a 408)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


# ------------------------------------------- 1. full send queue (REST)


def test_full_send_queue_rest_answers_201_or_503_and_history_matches(server_factory):
    """--send-queue 1 with 40 concurrent REST sends: each is either stored
    (201) or refused (503 overloaded), never both or neither; the refused
    request must not be touched after its queue slot was refused (this was
    a use-after-free)."""
    srv = server_factory.start(["--send-queue", "1"])
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "sq")
        cid = a.group("sendq", [b])["conversation_id"]
        acked = {}
        refused = 0
        n = 40
        for rnd in range(3):
            barrier = threading.Barrier(n)

            def send(i, rnd=rnd):
                api = Api(srv.url, a.token)
                try:
                    api.http.get("/healthz")  # connect before the barrier
                    barrier.wait(30)
                    cmid = "sq-%d-%d" % (rnd, i)
                    r = api.post("/v1/conversations/%s/messages" % cid,
                                 {"client_msg_id": cmid, "content": "c" + cmid})
                    body = r.json() if r.text else None
                    # Exactly one answer per request: the next request on
                    # this keep-alive connection gets its own answer.
                    after = api.get("/healthz")
                    assert (after.status_code, after.text) == (200, '{"status":"ok"}'), (
                        "after %s answered %d, GET /healthz on the same connection "
                        "got %d %s" % (cmid, r.status_code, after.status_code,
                                       after.text[:200]))
                    return cmid, r.status_code, body
                finally:
                    api.close()

            with concurrent.futures.ThreadPoolExecutor(n) as ex:
                results = list(ex.map(send, range(n)))
            for cmid, status, body in results:
                assert status in (201, 503), "%s: %d %r" % (cmid, status, body)
                if status == 201:
                    assert body["client_msg_id"] == cmid
                    acked[cmid] = body
                else:
                    assert_error(body, "overloaded")
                    refused += 1
            if refused:
                break  # the full-queue path was taken
        assert srv.alive(), "parleyd died:\n" + srv.log_text()
        assert acked, "no send succeeded"
        # Still serving, and the history is exactly the acked messages.
        last = a.send_ok(cid, "after the storm", "sq-after")
        hist = a.history_all(cid)
        got = {m["client_msg_id"]: m for m in hist}
        assert len(got) == len(hist), "duplicate client_msg_id in history"
        assert set(got) == set(acked) | {"sq-after"}, (
            "history differs from the 201 answers: extra %r, missing %r (%d refused)"
            % (sorted(set(got) - set(acked) - {"sq-after"}),
               sorted(set(acked) - set(got)), refused))
        for cmid, m in acked.items():
            assert got[cmid]["seq"] == m["seq"]
            assert got[cmid]["message_id"] == m["message_id"]
        assert [m["seq"] for m in hist] == list(range(1, len(hist) + 1))
        assert hist[-1]["message_id"] == last["message_id"]
    finally:
        p.close()


# ------------------------------------------- 2. shutdown with work in flight


def test_sigterm_during_slow_registrations_exits_0(server_factory):
    """SIGTERM while Argon2 hashes run and more registrations keep arriving
    on open keep-alive connections: nothing may touch the hash pool, the
    store pool or the messaging pipeline after they are stopped."""
    srv = server_factory.start(["--shutdown-grace-ms", "100", "--hash-threads", "1",
                                "--argon-opslimit", "3", "--argon-memlimit", "64m"])
    p = Parley(srv)
    a = p.new_user("sd")
    cid = a.group("shutdown")["conversation_id"]
    stop = threading.Event()
    answers = []
    lock = threading.Lock()

    def register(i):
        api = Api(srv.url)
        try:
            while not stop.is_set():
                r = api.register(unique_name("sd%d" % i), "correct horse battery")
                with lock:
                    answers.append(r.status_code)
        except httpx.HTTPError:
            pass  # the server went away
        finally:
            api.close()

    def store_and_send(i):
        api = Api(srv.url, a.token)
        try:
            for k in range(100000):
                if stop.is_set():
                    break
                api.get("/v1/conversations/%s/messages" % cid)
                api.post("/v1/conversations/%s/messages" % cid,
                         {"client_msg_id": "sd-%d-%d" % (i, k), "content": "x"})
        except httpx.HTTPError:
            pass
        finally:
            api.close()

    threads = [threading.Thread(target=register, args=(i,), daemon=True) for i in range(8)]
    threads += [threading.Thread(target=store_and_send, args=(i,), daemon=True)
                for i in range(2)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)  # the hash thread is busy, the rest wait in its queue
        with lock:
            finished = len(answers)
        srv.stop()  # SIGTERM: exit code 0 (no crash, no sanitizer report)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        p.close()
    assert finished < 8, "every registration finished before SIGTERM: nothing was in flight"


def test_sigterm_with_open_websockets_many_threads_exits_0(server_factory):
    """--threads 4 and no grace: 12 sessions of 4 users (each watching the
    others' presence) are still open and sending when the loops are torn
    down; a reaped session publishes presence to every loop, and a frame
    read late must not reach the stopped messaging pipeline."""
    srv = server_factory.start(["--threads", "4", "--shutdown-grace-ms", "0"])
    p = Parley(srv)
    stop = threading.Event()
    sender = None
    try:
        users = p.new_users(4, "sw")
        ids = [u.user_id for u in users]
        cid = users[0].group("shutdown", users[1:])["conversation_id"]
        # Raw clients never answer the server's close frame, so every
        # session is still there when the loops stop.
        socks = [p.raw_ws(u) for u in users for _ in range(3)]
        assert len(socks) == 12
        for ws in socks:
            assert ws.recv_json()["type"] == "hello"
            ws.send_text(json.dumps({"type": "presence_subscribe", "user_ids": ids}))
        for ws in socks:
            for _ in range(100):
                if ws.recv_json()["type"] == "presence":
                    break

        def keep_sending():
            k = 0
            while not stop.is_set():
                for i, ws in enumerate(socks):
                    frame = {"type": "send", "conversation_id": cid,
                             "client_msg_id": "sw-%d-%d" % (i, k), "content": "x"}
                    try:
                        ws.send_text(json.dumps(frame))
                        ws.send_text(json.dumps({"type": "typing", "conversation_id": cid}))
                    except OSError:
                        pass  # the server is gone or closed this one
                k += 1
                time.sleep(0.005)

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        time.sleep(0.3)
        srv.stop()  # SIGTERM: exit code 0 (no crash, no sanitizer report)
    finally:
        stop.set()
        if sender is not None:
            sender.join(10)
        p.close()


# ------------------------------------------- 3. pipelining and output bound


def test_pipelined_healthz_2000_in_order(server_factory):
    # A small outbound limit makes the server pause and resume reading
    # many times while it answers the pipeline.
    for args in ([], ["--outbound-limit", "4096"]):
        srv = server_factory.start(args)
        n = 2000
        req = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        sentinel = b"GET /v1/nope HTTP/1.1\r\nHost: t\r\n\r\n"
        s = socket.create_connection((srv.host, srv.port), timeout=30)
        try:
            s.sendall(req * n + sentinel)
            buf = bytearray()
            deadline = time.monotonic() + 120
            for i in range(n):
                status, headers, body = read_http_response(s, buf, deadline)
                assert status == 200 and body == b'{"status":"ok"}', (
                    "response %d of %d (args %r): %d %r" % (i + 1, n, args, status, body))
                assert headers.get("connection", "").lower() != "close"
            status, _, body = read_http_response(s, buf, deadline)
            assert status == 404 and b"not_found" in body, (
                "response %d should be the sentinel 404: %d %r" % (n + 1, status, body))
            assert not buf, "bytes after the last response: %r" % bytes(buf[:200])
            s.settimeout(0.5)
            try:
                extra = s.recv(4096)
            except socket.timeout:
                extra = None
            assert extra is None, "more than %d responses: %r" % (n + 1, extra[:200])
        finally:
            s.close()
        srv.stop()


def test_pipelining_without_reading_is_bounded(server_factory):
    """A client that pipelines requests but never reads the answers must
    not make the server queue responses without bound."""
    srv = server_factory.start()
    pid = srv.proc.pid
    _healthz_eventually(srv.url)
    rss0 = _rss_bytes(pid)
    peak = rss0
    chunk = b"GET /v1/nope HTTP/1.1\r\nHost: t\r\n\r\n" * 2000
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((srv.host, srv.port))
    s.setblocking(False)
    sent = 0
    pending = memoryview(chunk)
    try:
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            try:
                k = s.send(pending)
                sent += k
                pending = pending[k:] if k < len(pending) else memoryview(chunk)
            except BlockingIOError:
                select.select([], [s], [], 0.05)
            except (ConnectionResetError, BrokenPipeError):
                break  # closing the abuser is fine too
            peak = max(peak, _rss_bytes(pid))
        peak = max(peak, _rss_bytes(pid))
        assert srv.alive(), srv.log_text()
        grew = peak - rss0
        assert grew < 64 * MIB, (
            "RSS grew by %.1f MiB while a client pipelined %.1f MiB of requests "
            "without reading" % (grew / MIB, sent / MIB))
        # Other clients are served while the abuser is still connected.
        assert _healthz_eventually(srv.url) == {"status": "ok"}
    finally:
        s.close()
    assert _healthz_eventually(srv.url) == {"status": "ok"}


# ------------------------------------------- 4. slow-loris and idle timeouts


def test_slow_loris_head_is_cut_by_header_timeout(server_factory):
    srv = server_factory.start(["--header-timeout-ms", "1000"])
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 15:
            try:
                s.sendall(b"a")  # one byte of a head that never ends
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if _closed_by_peer(s, 0.3):
                closed = True
                break
        elapsed = time.monotonic() - t0
        assert closed and elapsed < 10, (
            "a request head trickled one byte per 300 ms was not cut "
            "(closed=%s after %.1fs)" % (closed, elapsed))
    finally:
        s.close()
    _healthz_eventually(srv.url)


def test_idle_keepalive_connection_closed_after_header_timeout(server_factory):
    srv = server_factory.start(["--header-timeout-ms", "1000"])
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    try:
        buf = bytearray()
        for _ in range(2):  # keep-alive: two requests on one connection
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, body = read_http_response(s, buf, time.monotonic() + 10)
            assert status == 200 and body == b'{"status":"ok"}'
        assert _closed_by_peer(s, 10), "idle keep-alive connection kept open for 10 s"
    finally:
        s.close()


# ------------------------------------------- 5. a slow consumer is closed


def test_slow_consumer_that_never_reads_is_really_closed(server_factory):
    srv = server_factory.start(["--outbound-limit", "65536", "--sqlite-synchronous", "normal",
                                "--heartbeat-ms", "600000"])
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "sc")
        cid = a.group("flood", [b])["conversation_id"]
        a_ws = p.ws(a)                       # the flooder's other device, reading
        assert _wait_metric(p.anon, "parley_ws_connections", lambda v: v == 1, 10) == 1
        slow = p.raw_ws(b, rcvbuf=4096)      # never reads, never writes
        assert _wait_metric(p.anon, "parley_ws_connections", lambda v: v == 2, 10) == 2
        # One REST sender at a time: the flooder's own WebSocket (a Python
        # reader) receives every message too and must keep up with it.
        sender = p.user_from_token(a.token)
        content = "z" * 4000
        sent = 0
        for _ in range(40):                  # up to 40 x 200 x 4 KB = 32 MB
            for i in range(sent, sent + 200):
                sender.send_ok(cid, content, "flood-%d" % i)
            sent += 200
            if _metric(p.anon, "parley_slow_consumer_closes_total") >= 1:
                break
        assert _metric(p.anon, "parley_slow_consumer_closes_total") >= 1, (
            "the reader that never reads was not found slow after %d messages" % sent)
        # The closing connection must go away although it never reads.
        left = _wait_metric(p.anon, "parley_ws_connections", lambda v: v <= 1, 45)
        assert left == 1, "the slow consumer is still there after 45 s (ws_connections=%r)" % left
        assert slow.expect_eof(timeout=30), "the slow consumer's TCP connection is open"
        # The flooding user's reading connection still works.
        last = a_ws.recv_message(cid, client_msg_id="flood-%d" % (sent - 1), timeout=60)
        assert last["content"] == content
        a_ws.ping_pong()
        cmid = a_ws.send_msg(cid, "still here")
        a_ws.recv_type("ack", pred=lambda o: o.get("client_msg_id") == cmid)
        a_ws.recv_message(cid, client_msg_id=cmid)
    finally:
        p.close()


# ------------------------------------------- 6. out of file descriptors


_NOFILE_EXEC = ("import os, resource, sys; n = int(sys.argv[1]); "
                "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
                "os.execv(sys.argv[2], sys.argv[2:])")


class _NofileServer(ParleyServer):
    """parleyd under a hard RLIMIT_NOFILE, set by a tiny Python wrapper
    that then execs parleyd (same pid, so /proc readings are parleyd's)."""

    def __init__(self, nofile, *args, **kw):
        self.nofile = nofile
        super().__init__(*args, **kw)

    def argv(self):
        return [sys.executable, "-c", _NOFILE_EXEC, str(self.nofile)] + super().argv()


def test_out_of_file_descriptors_does_not_spin(server_factory):
    base = server_factory.base_dir
    srv = _NofileServer(64, os.path.join(base, "nofile-data"), os.path.join(base, "nofile-cwd"))
    server_factory._track(srv)  # stopped (exit 0 asserted) and logged at teardown
    pid = srv.proc.pid
    with open("/proc/%d/limits" % pid) as f:
        assert any(line.startswith("Max open files") and line.split()[3] == "64"
                   for line in f), "the fd limit did not reach parleyd"
    socks = []
    try:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect((srv.host, srv.port))
            except OSError:
                pass  # a full backlog may refuse: the point is the pressure
            socks.append(s)
        time.sleep(0.5)
        cpu0 = _cpu_seconds(pid)
        time.sleep(2.0)
        cpu = _cpu_seconds(pid) - cpu0
        assert srv.alive(), srv.log_text()
        assert cpu < 0.5, ("parleyd used %.2f CPU seconds in 2 s with 100 connections "
                           "over its fd limit (spinning)" % cpu)
    finally:
        for s in socks:
            s.close()
    assert _healthz_eventually(srv.url) == {"status": "ok"}
    # max-connections was clamped to what the descriptors allow, and said so
    assert srv.wait_log(lambda o: o.get("event") == "max_connections_lowered"
                        and o.get("level") == "warn", 5), \
        "no max_connections_lowered warning\n" + srv.log_text()


# ------------------------------------------- 7. typing throttle


def test_typing_throttle_across_many_conversations(server):
    p = Parley(server)
    try:
        a, b = p.new_users(2, "ty")
        cids = [a.group("typing%d" % i, [b])["conversation_id"] for i in range(6)]
        ws_b = p.ws(b)
        ws_a = p.ws(a)
        ws_a.ping_pong()
        for _ in range(10):
            for cid in cids:
                ws_a.send_json({"type": "typing", "conversation_id": cid})
        ws_a.ping_pong()  # every typing frame was handled before the pong
        deadline = time.monotonic() + 2.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ws_b.inbox.append(ws_b._read(left))
            except AssertionError:
                break  # no frame before the deadline
        got = ws_b.take_all("typing")
        assert all(t["user_id"] == a.user_id for t in got), got
        per_conv = {}
        for t in got:
            assert t["conversation_id"] in cids, t
            per_conv[t["conversation_id"]] = per_conv.get(t["conversation_id"], 0) + 1
        assert 1 <= len(got) <= 5 + 6, (
            "%d typing frames from 60 sent over 6 conversations: %r" % (len(got), per_conv))
        assert max(per_conv.values()) <= 1, (
            "more than one typing frame per conversation within 3 s: %r" % per_conv)
        assert ws_a.take_all("error") == []
    finally:
        p.close()


# ------------------------------------------- 8. ids in paths


def test_malformed_path_ids_and_deep_unknown_path(mp):
    u = mp.new_user("pid")
    cases = [
        ("/v1/users/not-a-uuid", 400, "invalid_request"),
        ("/v1/conversations/not-a-uuid/messages", 400, "invalid_request"),
        ("/v1/conversations/not-a-uuid", 400, "invalid_request"),
        ("/v1/conversations/x/y/z/w", 404, "not_found"),
        ("/v1/conversations/%s/y/z/w" % uuid.uuid4(), 404, "not_found"),
        ("/v1/users/%s" % uuid.uuid4(), 404, "not_found"),  # well-formed, unknown
    ]
    for path, status, code in cases:
        # A fresh connection per case: the answer cannot be a leftover.
        api = Api(mp.url, u.token)
        try:
            expect(api.get(path), status, code)
            # Exactly one answer per request: the keep-alive connection
            # must answer the next request with its own response.
            me = api.me()
            assert me.status_code == 200, (
                "after GET %s, GET /v1/me on the same connection got %d %s"
                % (path, me.status_code, me.text[:200]))
        finally:
            api.close()
