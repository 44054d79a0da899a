"""Operations: --help, configuration precedence, health/readiness, metrics,
JSON logs, SIGTERM behaviour."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from parley_client import (TIME_RE, Api, Parley, clean_env, expect, parleyd_path)

OPTIONS = [
    "listen", "data-dir", "roles", "store", "bus", "presence", "log-level", "threads",
    "store-threads", "hash-threads", "sqlite-synchronous", "max-frame", "max-content", "max-body",
    "max-header", "outbound-limit", "heartbeat-ms", "header-timeout-ms", "max-connections",
    "token-ttl", "jwt-issuer", "jwt-audience", "send-queue", "batch-max", "argon-opslimit",
    "argon-memlimit", "shutdown-grace-ms", "pg-dsn", "pg-connect-timeout-ms", "pg-timeout-ms",
    "config",
]

METRIC_LINE = re.compile(
    r'^(?P<key>[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*,?\})?) '
    r'(?P<value>[-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|NaN|[-+]?Inf))( -?[0-9]+)?$')


def _parleyd(args, timeout=10, env=None):
    return subprocess.run([parleyd_path()] + args, capture_output=True, text=True,
                          timeout=timeout, env=clean_env(env), stdin=subprocess.DEVNULL)


def test_help_lists_every_option():
    r = _parleyd(["--help"])
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    missing = [o for o in OPTIONS if "--" + o not in text]
    assert not missing, "--help does not mention: %s\n%s" % (missing, text)


def test_unknown_option_fails(tmp_path):
    r = _parleyd(["--no-such-option", "1", "--data-dir", str(tmp_path / "d")])
    assert r.returncode != 0


@pytest.mark.parametrize("args", [
    ["--max-content", "abc"], ["--threads", "-1"], ["--log-level", "chatty"],
    ["--listen", "not-an-address"], ["--sqlite-synchronous", "sometimes"],
])
def test_bad_option_values_fail(tmp_path, args):
    r = _parleyd(["--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0"] + args)
    assert r.returncode != 0, "accepted %r" % args


def test_listen_port_in_use_fails(server, tmp_path):
    proc = subprocess.Popen([parleyd_path(), "--listen", server.addr, "--data-dir",
                             str(tmp_path / "other")], env=clean_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert server.alive()
    assert rc is not None and rc != 0, "a second parleyd started on %s" % server.addr


def test_healthz_readyz(parley):
    r = parley.anon.get("/healthz")
    assert expect(r, 200) == {"status": "ok"}
    r = parley.anon.get("/readyz")
    assert expect(r, 200) == {"status": "ready"}


def _metrics(api):
    r = api.get("/metrics")
    assert r.status_code == 200
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    values = {}
    for line in r.text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$", line) or \
                line.startswith("# "), line
            continue
        m = METRIC_LINE.match(line)
        assert m, "not Prometheus text: %r" % line
        values[m.group("key")] = float(m.group("value"))
    return r.text, values


def _metric(values, name):
    """Sum of a metric over its label sets."""
    hits = [v for k, v in values.items() if k == name or k.startswith(name + "{")]
    assert hits, "metric %s missing" % name
    return sum(hits)


@pytest.mark.private_server("reads one process's counters (behind nginx "
                            "each request may reach another instance)")
def test_metrics_prometheus(parley):
    text, values = _metrics(parley.anon)
    for name in ("parley_connections", "parley_messages_stored_total", "parley_deliveries_total"):
        _metric(values, name)
        assert "# TYPE %s " % name in text
    stored0 = _metric(values, "parley_messages_stored_total")

    a, b = parley.new_users(2, "met")
    cid = a.group("metrics", [b])["conversation_id"]
    ws_a = parley.ws(a)
    ws_b = parley.ws(b)
    for i in range(3):
        m = a.send_ok(cid, "m%d" % i)
        ws_b.recv_message(cid, seq=m["seq"])
        ws_a.recv_message(cid, seq=m["seq"])
    _, values = _metrics(parley.anon)
    assert _metric(values, "parley_messages_stored_total") >= stored0 + 3
    assert _metric(values, "parley_connections") >= 2
    assert _metric(values, "parley_deliveries_total") >= 6


def test_stderr_lines_are_json(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    u = p.new_user("log")
    p.ws(u).ping_pong()
    expect(p.anon.get("/nope"), 404)
    p.close()
    srv.stop()
    assert srv.lines, "no log output"
    levels = set()
    for line in srv.lines:
        try:
            o = json.loads(line)
        except ValueError:
            pytest.fail("stderr line is not JSON: %r" % line)
        assert isinstance(o, dict), line
        assert TIME_RE.match(o.get("ts", "")), line
        assert o.get("level") in ("debug", "info", "warn", "warning", "error", "fatal"), line
        assert isinstance(o.get("event"), str) and o["event"], line
        levels.add(o["level"])
    assert "info" in levels
    listening = [json.loads(x) for x in srv.lines if '"listening"' in x]
    assert listening and listening[0]["addr"] == srv.addr


def test_log_level_filters(server_factory):
    srv = server_factory.start(["--log-level", "info"])
    p = Parley(srv)
    p.new_user("lvl")
    p.close()
    srv.stop()
    objs = [json.loads(x) for x in srv.lines]
    assert not [o for o in objs if o.get("level") == "debug"]


def test_config_precedence_flag_env_file(server_factory, tmp_path):
    cfg = tmp_path / "parley.conf"
    cfg.write_text("heartbeat-ms = 1111\nmax-content = 10\n")
    # File only.
    srv = server_factory.start(["--config", str(cfg)])
    p = Parley(srv)
    u = p.new_user("cfg")
    assert p.ws(u).hello["heartbeat_interval_ms"] == 1111
    cid = u.group("cfg", [])["conversation_id"]
    expect(u.send(cid, "x" * 10), 201)
    expect(u.send(cid, "x" * 11), 413, "content_too_large")
    p.close()
    srv.stop()
    # Env beats file.
    srv = server_factory.start(["--config", str(cfg)],
                               env={"PARLEY_HEARTBEAT_MS": "2222", "PARLEY_MAX_CONTENT": "20"})
    p = Parley(srv)
    u = p.new_user("cfg")
    assert p.ws(u).hello["heartbeat_interval_ms"] == 2222
    cid = u.group("cfg", [])["conversation_id"]
    expect(u.send(cid, "x" * 20), 201)
    expect(u.send(cid, "x" * 21), 413, "content_too_large")
    p.close()
    srv.stop()
    # Flag beats env and file.
    srv = server_factory.start(["--config", str(cfg), "--heartbeat-ms", "3333"],
                               env={"PARLEY_HEARTBEAT_MS": "2222"})
    p = Parley(srv)
    u = p.new_user("cfg")
    assert p.ws(u).hello["heartbeat_interval_ms"] == 3333
    p.close()
    srv.stop()


def test_env_for_listen_and_data_dir(server_factory, tmp_path):
    data = tmp_path / "envdata"
    srv = server_factory.start(base_args=False,
                               env={"PARLEY_LISTEN": "127.0.0.1:0",
                                    "PARLEY_DATA_DIR": str(data),
                                    "PARLEY_ARGON_OPSLIMIT": "1",
                                    "PARLEY_ARGON_MEMLIMIT": "8388608"})
    p = Parley(srv)
    p.new_user("env")
    p.close()
    assert os.path.isdir(data) and os.listdir(data), "data dir from env not used"


def test_sigterm_closes_websockets_1001_and_exits_0(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    a, b = p.new_users(2, "term")
    cid = a.group("term", [b])["conversation_id"]
    ws = p.ws(a)
    ws2 = p.ws(b)
    ack = ws.send_and_ack(cid, "before shutdown")
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert ws.wait_closed(timeout=15) == 1001
    assert ws2.wait_closed(timeout=15) == 1001
    rc = srv.proc.wait(15)
    srv.returncode = rc
    assert rc == 0, srv.log_text()
    assert time.monotonic() - t0 < 15
    p.close()
    # The acked message is there after a restart.
    srv2 = server_factory.restart(srv)
    hist = expect(Api(srv2.url, a.token).get("/v1/conversations/%s/messages" % cid),
                  200)["messages"]
    assert [m["message_id"] for m in hist] == [ack["message_id"]]


def test_sigterm_stops_accepting(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    ws = p.ws(p.new_user("stop"))
    srv.proc.send_signal(signal.SIGTERM)
    assert ws.wait_closed(timeout=15) == 1001
    rc = srv.proc.wait(15)
    srv.returncode = rc
    assert rc == 0
    with pytest.raises(Exception):
        Api(srv.url).get("/healthz")
    p.close()


def test_sigterm_idle_exit_0(server_factory):
    srv = server_factory.start()
    srv.stop()
    assert any(json.loads(x).get("event") for x in srv.lines)
