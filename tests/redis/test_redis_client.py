"""The Redis client (src/backends/redis*.c) against real servers through
build/redis-probe: commands and pipelines on one server and on the
3-master cluster, MOVED after a slot migration, ASK during one, and
reconnecting after a Redis restart."""
import time
import uuid

from conftest import cli, infra


def ports(addrs):
    return [int(a.rsplit(":", 1)[1]) for a in addrs.split(",")]


def slot_owner(port, slot):
    """(port, node id) of the master serving slot, as node `port` sees it."""
    for line in cli(port, "cluster", "nodes").splitlines():
        f = line.split()
        if "master" not in f[2]:
            continue
        for rg in f[8:]:
            if rg.startswith("["):
                continue
            lo, _, hi = rg.partition("-")
            if int(lo) <= slot <= int(hi or lo):
                return int(f[1].split(":")[1].split("@")[0]), f[0]
    raise AssertionError("slot %d has no owner" % slot)


def node_id(port):
    return cli(port, "cluster", "myid")


def migrate_keys(src, dst, slot):
    for k in cli(src, "cluster", "getkeysinslot", slot, 1000).split():
        assert cli(src, "migrate", "127.0.0.1", dst, k, 0, 5000) == "OK"


def start_migration(src, dst, slot):
    assert cli(dst, "cluster", "setslot", slot, "importing", node_id(src)) == "OK"
    assert cli(src, "cluster", "setslot", slot, "migrating", node_id(dst)) == "OK"


def finish_migration(all_ports, src, dst, slot):
    dst_id = node_id(dst)
    for p in [dst, src] + [p for p in all_ports if p not in (src, dst)]:
        assert cli(p, "cluster", "setslot", slot, "node", dst_id) == "OK"


def move_slot(all_ports, src, dst, slot):
    start_migration(src, dst, slot)
    migrate_keys(src, dst, slot)
    finish_migration(all_ports, src, dst, slot)


def other_master(all_ports, port):
    return [p for p in all_ports if p != port][0]


def test_single_commands_and_pipeline(single_addrs, probe_factory):
    p = probe_factory(single_addrs)
    k = "t:" + uuid.uuid4().hex
    assert p.cmd("SET", k, "v 1") == {"ok": "OK"}
    assert p.cmd("GET", k) == {"s": "v 1"}
    assert p.cmd("GET", k + "nope") is None
    assert p.cmd("INCR", k)["err"].startswith("ERR value is not an integer")
    assert p.cmd("PING", key=-1) == {"ok": "PONG"}
    replies = p.batch([("RPUSH", k + "l", i) for i in range(100)])
    assert [r["i"] for r in replies] == list(range(1, 101))
    assert p.cmd("LLEN", k + "l") == {"i": 100}
    st = p.stats()
    assert st["cluster"] is False and st["connects"] == 1 and st["moved"] == 0


def test_cluster_routes_by_slot(cluster_addrs, probe_factory):
    p = probe_factory(cluster_addrs)
    base = uuid.uuid4().hex
    keys = ["c:%s:%d" % (base, i) for i in range(200)]
    assert all(r == {"ok": "OK"} for r in p.batch([("SET", k, k) for k in keys]))
    assert [r["s"] for r in p.batch([("GET", k) for k in keys])] == keys
    # every key landed on the node that owns its slot (no redirect needed)
    st = p.stats()
    assert st["cluster"] is True and st["moved"] == 0 and st["ask"] == 0
    assert st["connects"] == 3 and st["reconnects"] == 0  # one per master
    # keys sharing a hash tag share a slot: multi-key commands work
    tag = "{u%s}" % base
    assert p.cmd("MSET", tag + "a", 1, tag + "b", 2) == {"ok": "OK"}
    assert p.cmd("MGET", tag + "a", tag + "b") == [{"s": "1"}, {"s": "2"}]
    # a seed list with an unreachable node still works
    bad = "127.0.0.1:1," + cluster_addrs
    q = probe_factory(bad)
    assert q.cmd("GET", keys[0]) == {"s": keys[0]}


def test_moved_after_slot_migration(cluster_addrs, probe_factory):
    all_ports = ports(cluster_addrs)
    p = probe_factory(cluster_addrs)
    key = "{m%s}k" % uuid.uuid4().hex
    assert p.cmd("SET", key, "before") == {"ok": "OK"}
    slot = int(cli(all_ports[0], "cluster", "keyslot", key))
    src, _ = slot_owner(all_ports[0], slot)
    dst = other_master(all_ports, src)
    move_slot(all_ports, src, dst, slot)
    try:
        assert p.cmd("GET", key) == {"s": "before"}  # MOVED followed
        st = p.stats()
        assert st["moved"] == 1
        # the map was updated (and reloaded): no more redirects
        assert p.cmd("SET", key, "after") == {"ok": "OK"}
        assert p.batch([("GET", key), ("GET", key)]) == [{"s": "after"}] * 2
        assert p.stats()["moved"] == 1
        assert p.stats()["map_loads"] >= 2
        assert cli(dst, "get", key) == "after"  # really on the new owner
    finally:
        move_slot(all_ports, dst, src, slot)
    # moved back: one more MOVED, in a batch this time
    assert p.batch([("GET", key)]) == [{"s": "after"}]
    assert p.stats()["moved"] == 2


def test_ask_during_migration(cluster_addrs, probe_factory):
    all_ports = ports(cluster_addrs)
    p = probe_factory(cluster_addrs)
    tag = "{a%s}" % uuid.uuid4().hex
    moved_key, stay_key = tag + "moved", tag + "stays"
    assert p.batch([("SET", moved_key, 1), ("SET", stay_key, 2)]) == [{"ok": "OK"}] * 2
    slot = int(cli(all_ports[0], "cluster", "keyslot", moved_key))
    src, _ = slot_owner(all_ports[0], slot)
    dst = other_master(all_ports, src)
    start_migration(src, dst, slot)
    try:
        assert cli(src, "migrate", "127.0.0.1", dst, moved_key, 0, 5000) == "OK"
        # the source answers -ASK for a key it no longer has
        assert cli(src, "get", moved_key).startswith("ASK ")
        assert p.cmd("GET", moved_key) == {"s": "1"}
        assert p.cmd("GET", stay_key) == {"s": "2"}  # still served by src
        assert p.batch([("GET", moved_key), ("GET", stay_key)]) == [{"s": "1"}, {"s": "2"}]
        st = p.stats()
        assert st["ask"] == 2 and st["moved"] == 0
        # ASK does not change the map: the slot still routes to src
        assert p.cmd("GET", stay_key) == {"s": "2"}
        assert p.stats()["ask"] == 2
        # a new key in a migrating slot is created on the target via ASK
        assert p.cmd("SET", tag + "new", 3) == {"ok": "OK"}
        assert p.stats()["ask"] == 3
    finally:
        migrate_keys(src, dst, slot)
        finish_migration(all_ports, src, dst, slot)
        move_slot(all_ports, dst, src, slot)
    assert p.cmd("GET", tag + "new") == {"s": "3"}


def test_reconnect_after_restart(single_addrs, infra_dir, probe_factory):
    p = probe_factory(single_addrs)
    k = "r:" + uuid.uuid4().hex
    assert p.cmd("SET", k, 1) == {"ok": "OK"}
    infra("redis.sh", "restart", infra_dir)
    # the stale socket fails; the client reconnects at once, one call
    assert p.cmd("GET", k) is None  # persistence is off: the data is gone
    st = p.stats()
    assert st["connects"] == 2 and st["reconnects"] == 1 and st["io_errors"] >= 1
    infra("redis.sh", "down", infra_dir)
    try:
        t0 = time.monotonic()
        assert p.cmd("GET", k) == {"io": True}
        assert p.cmd("GET", k) == {"io": True}  # in backoff: fails fast
        assert time.monotonic() - t0 < 2.0
    finally:
        infra("redis.sh", "up", infra_dir)
    deadline = time.monotonic() + 5
    while p.cmd("SET", k, 2) != {"ok": "OK"}:
        assert time.monotonic() < deadline, "no reconnect after the backoff"
        time.sleep(0.1)
    assert p.cmd("GET", k) == {"s": "2"}


def test_cluster_node_restart(cluster_addrs, infra_dir, probe_factory):
    p = probe_factory(cluster_addrs)
    keys = ["n:%s:%d" % (uuid.uuid4().hex, i) for i in range(30)]
    assert all(r == {"ok": "OK"} for r in p.batch([("SET", k, 1) for k in keys]))
    infra("redis-cluster.sh", "restart", infra_dir)
    # every node's socket is stale; one batch reconnects them all
    assert p.batch([("GET", k) for k in keys]) == [None] * len(keys)
    st = p.stats()
    assert st["connects"] == 6 and st["reconnects"] == 3
