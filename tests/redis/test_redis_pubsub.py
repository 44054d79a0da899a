"""The subscriber of the Redis client (pl_redis_sub) through redis-probe:
SUBSCRIBE on one server, sharded SSUBSCRIBE across the cluster's masters,
resubscribing after a Redis restart and after the channel's slot moved to
another master (Redis sends an unsolicited sunsubscribe)."""
import time
import uuid

import pytest

from conftest import cli, infra
from test_redis_client import move_slot, other_master, ports, slot_owner


def send(probe, line):
    probe.proc.stdin.write(line + "\n")
    probe.proc.stdin.flush()
    return probe._read()


def poll_until(probe, want, publish, timeout=10):
    """Polls; calls publish() until every (channel, message) in want came."""
    got = []
    deadline = time.monotonic() + timeout
    while not all(w in got for w in want):
        assert time.monotonic() < deadline, "missing %r (got %r)" % (want, got)
        if send(probe, "!subcounts")["confirmed"] > 0:
            publish()
        got += [tuple(m) for m in send(probe, "!poll 200")]
    return got


def test_single_subscribe(single_addrs, probe_factory):
    p = probe_factory(single_addrs)
    port = ports(single_addrs)[0]
    ch = "ch:" + uuid.uuid4().hex
    assert send(p, "!sub " + ch) == {"st": "ok"}
    assert send(p, "!sub " + ch) == {"st": "ok"}  # twice is once
    assert send(p, "!poll 100") == []
    got = poll_until(p, [(ch, "hello")], lambda: cli(port, "publish", ch, "hello"))
    assert got.count((ch, "hello")) >= 1
    # PUBLISH through the command client reaches it too
    q = probe_factory(single_addrs)
    assert q.cmd("PUBLISH", ch, "via-client", key=-1) == {"i": 1}
    assert [tuple(m) for m in send(p, "!poll 1000")] == [(ch, "via-client")]
    assert send(p, "!unsub " + ch) == {"st": "ok"}
    send(p, "!poll 200")
    assert q.cmd("PUBLISH", ch, "gone", key=-1) == {"i": 0}
    assert send(p, "!unsub nope") == {"st": "not_found"}


def test_cluster_sharded_subscribe(cluster_addrs, probe_factory):
    p = probe_factory(cluster_addrs)
    all_ports = ports(cluster_addrs)
    chans = ["sc:%s:%d" % (uuid.uuid4().hex, i) for i in range(12)]
    owners = {slot_owner(all_ports[0], int(cli(all_ports[0], "cluster", "keyslot", c)))[0]
              for c in chans}
    assert len(owners) >= 2  # spread over masters
    for c in chans:
        assert send(p, "!sub " + c) == {"st": "ok"}
    q = probe_factory(cluster_addrs)

    def publish():
        for c in chans:
            q.cmd("SPUBLISH", c, "m-" + c)  # routed by the channel's slot
    got = poll_until(p, [(c, "m-" + c) for c in chans], publish)
    assert set(got) == {(c, "m-" + c) for c in chans}
    assert send(p, "!subcounts") == {"resubscribes": 0, "confirmed": 12, "len": 12}
    assert q.stats()["moved"] == 0


def test_resubscribe_after_restart(single_addrs, infra_dir, probe_factory):
    p = probe_factory(single_addrs)
    port = ports(single_addrs)[0]
    ch = "rs:" + uuid.uuid4().hex
    send(p, "!sub " + ch)
    poll_until(p, [(ch, "one")], lambda: cli(port, "publish", ch, "one"))
    infra("redis.sh", "restart", infra_dir)
    got = poll_until(p, [(ch, "two")], lambda: cli(port, "publish", ch, "two"))
    assert (ch, "two") in got
    assert send(p, "!subcounts")["resubscribes"] == 1


def test_resubscribe_after_slot_moved(cluster_addrs, probe_factory):
    all_ports = ports(cluster_addrs)
    p = probe_factory(cluster_addrs)
    ch = "{mv%s}ch" % uuid.uuid4().hex
    slot = int(cli(all_ports[0], "cluster", "keyslot", ch))
    src, _ = slot_owner(all_ports[0], slot)
    dst = other_master(all_ports, src)
    send(p, "!sub " + ch)
    poll_until(p, [(ch, "before")], lambda: cli(src, "spublish", ch, "before"))
    move_slot(all_ports, src, dst, slot)
    try:
        got = poll_until(p, [(ch, "after")], lambda: cli(dst, "spublish", ch, "after"))
        assert (ch, "after") in got
        assert send(p, "!subcounts") == {"resubscribes": 1, "confirmed": 1, "len": 1}
    finally:
        move_slot(all_ports, dst, src, slot)


def wait_confirmed(probe, n, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        c = send(probe, "!subcounts")
        if c["confirmed"] == n:
            return c
        assert time.monotonic() < deadline, "confirmed %r, want %d" % (c, n)
        send(probe, "!poll 50")


@pytest.mark.parametrize("target", ["single", "cluster"])
def test_many_channels(target, single_addrs, cluster_addrs, probe_factory):
    """A gateway subscribes one channel per conversation with an online
    member: far over the old cap of 4096, found by hash, confirmed one by
    one through the state callback, and removable in any order."""
    addrs = single_addrs if target == "single" else cluster_addrs
    p = probe_factory(addrs)
    q = probe_factory(addrs)
    prefix = "many:%s:" % uuid.uuid4().hex
    n = 20000
    assert send(p, "!subn %s %d" % (prefix, n)) == {"st": "ok", "n": n}
    assert send(p, "!subn %s %d" % (prefix, n)) == {"st": "ok", "n": n}  # again: no-op
    assert wait_confirmed(p, n) == {"resubscribes": 0, "confirmed": n, "len": n}
    states = send(p, "!states")
    assert len(states) == n and all(on for _, on in states)
    assert {ch for ch, _ in states} == {prefix + str(i) for i in range(n)}
    last = prefix + str(n - 1)
    pub = "SPUBLISH" if target == "cluster" else "PUBLISH"
    got = poll_until(p, [(last, "x")], lambda: q.cmd(pub, last, "x"))
    assert (last, "x") in got
    # remove the first half: the count follows, no state callback fires,
    # and a removed channel no longer delivers
    assert send(p, "!unsubn %s %d" % (prefix, n // 2)) == {"st": "ok", "n": n // 2}
    c = send(p, "!subcounts")
    assert c["len"] == n - n // 2 and c["confirmed"] == n - n // 2
    send(p, "!poll 200")
    assert q.cmd(pub, prefix + "0", "gone") == {"i": 0}
    assert send(p, "!states") == []
    assert send(p, "!unsub " + prefix + "0") == {"st": "not_found"}


def test_state_callback_on_restart(single_addrs, infra_dir, probe_factory):
    """A Redis restart reports the loss (false) then the resubscription
    (true) of each channel: what the gateway relay repairs gaps on."""
    p = probe_factory(single_addrs)
    chans = ["st:%s:%d" % (uuid.uuid4().hex, i) for i in range(3)]
    for c in chans:
        send(p, "!sub " + c)
    wait_confirmed(p, 3)
    assert sorted(send(p, "!states")) == sorted([c, True] for c in chans)
    infra("redis.sh", "restart", infra_dir)
    states = []
    deadline = time.monotonic() + 20
    while not all([c, True] in states for c in chans):
        assert time.monotonic() < deadline, "states %r" % states
        send(p, "!poll 50")
        states += send(p, "!states")
    for c in chans:
        assert [c, False] in states and [c, True] in states
        assert states.index([c, False]) < states.index([c, True])
    assert send(p, "!subcounts")["resubscribes"] == 3
