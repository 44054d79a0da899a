"""presence=redis through the real parleyd: what the memory backend cannot
do. last_seen survives a parleyd restart; the state is rebuilt after Redis
lost its data; a killed gateway's users go offline once its claim expires
(reaped by a live gateway, which announces it); a clean stop leaves nothing
behind. Each runs on the single server and on the 3-master cluster."""
import subprocess
import time

import pytest

from conftest import cli, infra
from parley_client import Parley, expect, parse_time

FAST = ["--presence-ttl-ms", "2000", "--presence-refresh-ms", "400",
        "--presence-grace-ms", "200"]


@pytest.fixture(params=["single", "cluster"])
def redis_addrs(request, single_addrs, cluster_addrs):
    return single_addrs if request.param == "single" else cluster_addrs


def redis_args(addrs, *extra):
    return ["--presence", "redis", "--redis-addrs", addrs] + FAST + list(extra)


def rcli(addrs, *args):
    """redis-cli against the server or cluster (-c follows redirects)."""
    port = addrs.split(",")[0].rsplit(":", 1)[1]
    out = subprocess.run(["redis-cli", "-c", "-h", "127.0.0.1", "-p", port] + list(args),
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def gateways_of(addrs, user_id):
    """The gateways claiming user_id, as stored in Redis."""
    out = rcli(addrs, "zrange", "pl:on:{%s}" % user_id, "0", "-1")
    return [g for g in out.splitlines() if g]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def status(user, other_id):
    return expect(user.user(other_id), 200)


def test_last_seen_survives_restart(server_factory, redis_addrs):
    srv = server_factory.start(redis_args(redis_addrs))
    p = Parley(srv)
    a, b = p.new_users(2, "rls")
    wb = p.ws(b)
    wait_for(lambda: gateways_of(redis_addrs, b.user_id), 5, "the claim in Redis")
    before = time.time()
    wb.close()
    body = wait_for(lambda: (lambda o: o if o["status"] == "offline" else None)(
        status(a, b.user_id)), 5, "offline")
    seen = body["last_seen_at"]
    assert abs(parse_time(seen).timestamp() - before) < 5
    assert gateways_of(redis_addrs, b.user_id) == []
    p.close()
    srv2 = server_factory.restart(srv)
    p2 = Parley(srv2)
    try:
        a2 = p2.user_from_token(a.token)
        body = status(a2, b.user_id)
        assert body["status"] == "offline" and body["last_seen_at"] == seen
    finally:
        p2.close()
    # the memory backend forgets: the contrast that makes this test mean it
    srv3 = server_factory.restart(srv2, extra_args=[])
    p3 = Parley(srv3)
    try:
        assert status(p3.user_from_token(a.token), b.user_id)["last_seen_at"] is None
    finally:
        p3.close()


def test_rebuilt_after_redis_restart(server_factory, redis_addrs, infra_dir):
    srv = server_factory.start(redis_args(redis_addrs))
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "rreb")
        wb = p.ws(b)
        gws = wait_for(lambda: gateways_of(redis_addrs, b.user_id), 5, "the claim")
        assert len(gws) == 1
        sentinel = "sentinel:{%s}" % b.user_id
        assert rcli(redis_addrs, "set", sentinel, "1") == "OK"
        script = "redis-cluster.sh" if "," in redis_addrs else "redis.sh"
        infra(script, "restart", infra_dir)
        t0 = time.monotonic()
        # the data is gone (the claim may already be back: parleyd may have
        # rebuilt it while the script waited for the cluster to settle)
        assert rcli(redis_addrs, "exists", sentinel) == "0"
        # rebuilt from the live connection within about one refresh period
        assert wait_for(lambda: gateways_of(redis_addrs, b.user_id), 10,
                        "the rebuild") == gws
        assert time.monotonic() - t0 < 5.0  # refresh + reconnect backoff
        assert rcli(redis_addrs, "zscore", "pl:gws", gws[0]) != ""
        wb.ping_pong()  # the session itself never noticed
        assert status(a, b.user_id)["status"] == "online"
        wb.close()
        wait_for(lambda: gateways_of(redis_addrs, b.user_id) == [], 5, "the disconnect")
        wait_for(lambda: status(a, b.user_id)["status"] == "offline", 5, "offline")
    finally:
        p.close()


def test_killed_gateway_users_go_offline(server_factory, redis_addrs):
    srv = server_factory.start(redis_args(redis_addrs))
    p = Parley(srv)
    a, b = p.new_users(2, "rkill")
    p.ws(b)
    dead_gw = wait_for(lambda: gateways_of(redis_addrs, b.user_id), 5, "the claim")[0]
    killed_at = time.time()
    srv.kill()
    p.close()
    # a new process (a new gateway id) on the same data: b's claim from the
    # dead gateway is still in Redis, so b reads as online until it expires
    srv2 = server_factory.restart(srv, kill=True)
    p2 = Parley(srv2)
    try:
        a2 = p2.user_from_token(a.token)
        assert status(a2, b.user_id)["status"] == "online"
        wa = p2.ws(a2)
        wa.send_json({"type": "presence_subscribe", "user_ids": [b.user_id]})
        assert wa.recv_type("presence")["status"] == "online"
        # within TTL (2 s) + a refresh: reaped by the live gateway, announced
        off = wa.recv_type("presence", timeout=10)
        assert off["status"] == "offline" and off["user_id"] == b.user_id
        assert time.time() - killed_at < 6
        # last seen: the dead gateway's last heartbeat, before the kill
        assert parse_time(off["last_seen_at"]).timestamp() <= killed_at + 0.5
        assert status(a2, b.user_id)["status"] == "offline"
        assert gateways_of(redis_addrs, b.user_id) == []
        assert rcli(redis_addrs, "zscore", "pl:gws", dead_gw) == ""
        assert rcli(redis_addrs, "exists", "pl:gwu:{%s}" % dead_gw) == "0"
        srv2.wait_log(lambda o: o.get("event") == "presence_gateway_reaped"
                      and o.get("gateway") == dead_gw, 1)
    finally:
        p2.close()


def test_two_gateways_share_presence(server_factory, redis_addrs):
    """Two processes on one data dir stand in for two gateways: a user
    connected to both stays online until the last connection closes."""
    srv = server_factory.start(redis_args(redis_addrs))
    p = Parley(srv)
    try:
        a, b = p.new_users(2, "rtwo")
        wb1 = p.ws(b)
        g1 = wait_for(lambda: gateways_of(redis_addrs, b.user_id), 5, "the claim")
        # the second gateway process: its own id, same Redis
        srv2 = server_factory.start(redis_args(redis_addrs), data_dir=srv.data_dir)
        p2 = Parley(srv2)
        try:
            wb2 = p2.ws(p2.user_from_token(b.token))
            both = wait_for(lambda: (lambda g: g if len(g) == 2 else None)(
                gateways_of(redis_addrs, b.user_id)), 5, "two claims")
            assert g1[0] in both
            wa = p.ws(a)
            wa.send_json({"type": "presence_subscribe", "user_ids": [b.user_id]})
            assert wa.recv_type("presence")["status"] == "online"
            wb1.close()  # still connected on the other gateway: no event
            wait_for(lambda: len(gateways_of(redis_addrs, b.user_id)) == 1, 5, "one claim")
            time.sleep(0.5)
            wa.ping_pong()
            assert wa.take_all("presence") == []
            assert status(a, b.user_id)["status"] == "online"
            wb2.close()  # the last one: gateway 1 is not told by a loop,
            wait_for(lambda: gateways_of(redis_addrs, b.user_id) == [], 5, "no claim")
            # ...the transition happened on gateway 2 (its bus is its own),
            # and both read offline from Redis
            assert status(a, b.user_id)["status"] == "offline"
        finally:
            p2.close()
    finally:
        p.close()


def test_clean_stop_leaves_no_gateway(server_factory, redis_addrs):
    srv = server_factory.start(redis_args(redis_addrs))
    p = Parley(srv)
    a, = p.new_users(1, "rstop")
    p.ws(a)
    gw = wait_for(lambda: gateways_of(redis_addrs, a.user_id), 5, "the claim")[0]
    assert rcli(redis_addrs, "zscore", "pl:gws", gw) != ""
    p.close()
    srv.stop()  # SIGTERM: WebSockets closed with 1001, presence flushed
    assert gateways_of(redis_addrs, a.user_id) == []
    assert rcli(redis_addrs, "zscore", "pl:gws", gw) == ""
    assert rcli(redis_addrs, "get", "pl:seen:{%s}" % a.user_id) != ""


def test_redis_down_degrades_to_local(server_factory, infra_dir, single_addrs):
    """Redis unreachable: parleyd keeps serving; presence falls back to what
    this gateway knows, and catches up when Redis is back."""
    infra("redis.sh", "down", infra_dir)
    try:
        srv = server_factory.start(redis_args(single_addrs))
        p = Parley(srv)
        a, b = p.new_users(2, "rdown")
        p.ws(b)
        assert status(a, b.user_id)["status"] == "online"  # local knowledge
    finally:
        infra("redis.sh", "up", infra_dir)
    try:
        # the next refresh (after the client's reconnect backoff) sends it
        wait_for(lambda: gateways_of(single_addrs, b.user_id), 10, "catch-up")
        assert srv.wait_log(lambda o: o.get("event") == "redis_connect_failed", 1)
    finally:
        p.close()
