"""store = postgres only (PARLEY_TEST_STORE=postgres, see scripts/test.sh):
several parleyd on one database (concurrent migrations, shared data, the
conflict fence between two writers of one conversation), and parleyd
riding out a PostgreSQL restart and crash (scripts/infra/postgres.sh on a
private server, so the shared one other tests use is never touched)."""

import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from parley_client import (REPO, Parley, ParleyServer, User, expect, pg_bin,
                           pg_dsn_with_schema, store_kind, unique_name)

pytestmark = pytest.mark.skipif(store_kind() != "postgres",
                                reason="PARLEY_TEST_STORE is not postgres")

SCRIPT = os.path.join(REPO, "scripts", "infra", "postgres.sh")


def _pg(cmd, pgdir):
    r = subprocess.run([SCRIPT, cmd, pgdir], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "postgres.sh %s: %s%s" % (cmd, r.stdout, r.stderr)


def _dsn(pgdir):
    with open(os.path.join(pgdir, "postgres", "env")) as f:
        line = f.read().strip()
    assert line.startswith("PARLEY_PG_DSN=") and " " not in line, line
    return line[len("PARLEY_PG_DSN="):]


@pytest.fixture
def private_pg():
    """A PostgreSQL of this test's own (up, yielded as its dir), removed at
    teardown. Under /tmp with a searchable dir: the server runs as the
    postgres user when the tests run as root."""
    pgdir = tempfile.mkdtemp(prefix="parley-pg-")
    os.chmod(pgdir, 0o755)
    try:
        _pg("up", pgdir)
        yield pgdir
    finally:
        subprocess.run([SCRIPT, "down", pgdir], capture_output=True, timeout=120)
        shutil.rmtree(pgdir, ignore_errors=True)


def _fresh_schema_env():
    dsn = os.environ["PARLEY_TEST_PG_DSN"]
    schema = "bbx_" + unique_name("")[:20]
    subprocess.run([pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c",
                    "CREATE SCHEMA " + schema], check=True, capture_output=True, timeout=30)
    return {"PARLEY_STORE": "postgres",
            "PARLEY_PG_DSN": pg_dsn_with_schema(dsn, schema)}


def _next_reply(ws, cmid, deadline):
    """The next ack or error frame for cmid (other frames stay queued)."""
    def mine(o):
        return o.get("type") in ("ack", "error") and o.get("client_msg_id") == cmid
    while True:
        for i, o in enumerate(ws.inbox):
            if mine(o):
                return ws.inbox.pop(i)
        ws.inbox.append(ws._read(max(0.05, deadline - time.monotonic())))


def _send_until_acked(ws, cid, content, cmid, timeout=30.0):
    """Sends (and resends the same client_msg_id after an error frame)
    until acked; returns (ack, codes of the errors seen)."""
    deadline = time.monotonic() + timeout
    errors = []
    while time.monotonic() < deadline:
        ws.send_msg(cid, content, cmid)
        o = _next_reply(ws, cmid, deadline)
        if o["type"] == "ack":
            return o, errors
        errors.append(o["code"])
        time.sleep(0.2)
    raise AssertionError("%r not acked within %.0fs; errors %r" % (cmid, timeout, errors))


def _assert_history(user, cid, cmids):
    hist = user.history_all(cid)
    assert [m["seq"] for m in hist] == list(range(1, len(hist) + 1))
    got = [m["client_msg_id"] for m in hist]
    assert sorted(got) == sorted(cmids), "stored %r, acked %r" % (got, cmids)


# ------------------------------------------------------------ several servers


def test_servers_start_together_share_data_and_fence(server_factory):
    env = _fresh_schema_env()
    servers = [None] * 3
    errors = []

    def start(i):
        try:
            servers[i] = server_factory.start(env=env)
        except AssertionError as e:  # reported below, not lost in the thread
            errors.append(str(e))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors  # the migrations ran once, nobody failed

    pa, pb = Parley(servers[0]), Parley(servers[1])
    try:
        a = pa.new_user("multi")
        b = pa.new_user("multi")
        # Registered on one server, logs in on another (its own JWT key).
        tok = expect(pb.login(b.username, b.password), 200)["token"]
        b_on_b = pb.user_from_token(tok)
        cid = a.group("shared", [b])["conversation_id"]
        assert b_on_b.conv_entry(cid) is not None

        # Two messaging pipelines, one conversation: each caches the next
        # seq, so the second writer collides with the first (the fence) and
        # must re-read instead of overwriting or duplicating.
        wa, wb = pa.ws(a), pb.ws(b_on_b)
        acked = [wa.send_and_ack(cid, "from a 1")["client_msg_id"]]
        acked.append(wb.send_and_ack(cid, "from b 1")["client_msg_id"])
        ack, _ = _send_until_acked(wa, cid, "from a 2", "a-2")
        acked.append(ack["client_msg_id"])
        ack, _ = _send_until_acked(wb, cid, "from b 2", "b-2")
        acked.append(ack["client_msg_id"])
        _assert_history(a, cid, acked)
        # The conversation list on the other server sees every message.
        assert b_on_b.conv_entry(cid)["last_seq"] == 4
    finally:
        pa.close()
        pb.close()


# ------------------------------------------------------------ losing the server


def test_parleyd_rides_out_postgres_restart_and_crash(server_factory, private_pg):
    srv = server_factory.start(env={"PARLEY_STORE": "postgres",
                                    "PARLEY_PG_DSN": _dsn(private_pg),
                                    "PARLEY_PG_CONNECT_TIMEOUT_MS": "2000"})
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "pgr")
        cid = a.group("restart", [b])["conversation_id"]
        ws = p.ws(a)
        acked = [ws.send_and_ack(cid, "before %d" % i)["client_msg_id"] for i in range(5)]

        # A clean restart between two sends: the idle connections are
        # noticed dead before use, so the next send just works.
        _pg("restart", private_pg)
        acked.append(ws.send_and_ack(cid, "after restart", "after-restart",
                                     timeout=15)["client_msg_id"])
        expect(a.conversations(), 200)

        # A crash: while the server is down, sends and reads fail with an
        # error (never a hang or a crash of parleyd) ...
        _pg("kill", private_pg)
        ws.send_msg(cid, "while down", "while-down")
        err = ws.recv_type("error", timeout=20,
                           pred=lambda o: o.get("client_msg_id") == "while-down")
        assert err["code"] in ("overloaded", "internal"), err
        r = a.conversations()
        assert r.status_code in (500, 503), r.text
        assert srv.alive()
        # ... and once it is back, they work again: the same send is
        # stored exactly once.
        _pg("up", private_pg)
        ack, _ = _send_until_acked(ws, cid, "while down", "while-down")
        acked.append(ack["client_msg_id"])
        acked.append(ws.send_and_ack(cid, "after crash", "after-crash")["client_msg_id"])
        _assert_history(a, cid, acked)
        b2 = User(srv.url, b.user_id, b.username, b.token)
        assert b2.conv_entry(cid)["unread_count"] == len(acked)
        b2.close()
        assert any(o.get("event") == "store_reconnected" for o in srv.log_objects())
    finally:
        p.close()
    srv.stop()  # exits 0 after all that


def test_parleyd_start_fails_cleanly_without_postgres(tmp_path):
    """No server at the DSN: parleyd exits non-zero with a log line instead
    of listening with a store it cannot use."""
    with pytest.raises(AssertionError, match="did not log listening"):
        ParleyServer(str(tmp_path / "d"), str(tmp_path / "cwd"),
                     env={"PARLEY_STORE": "postgres",
                          "PARLEY_PG_DSN": "host=127.0.0.1 port=1 dbname=x user=x"},
                     start_timeout=5)
