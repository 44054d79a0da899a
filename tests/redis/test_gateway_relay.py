"""The gateway relay of cluster mode (src/roles/gw_relay.c) against a real
Redis server, through build/gateway-probe: a gateway started as if
bus=kafka, without messaging or fan-out roles, so this test plays the
fan-out role by publishing PL_CW_EVENT records (roles/cluster_wire.h) on
the channels the relay subscribes."""
import os
import socket
import struct
import time
import uuid

import parley_client
import pytest
from parley_client import Parley, WSClient, build_dir

from conftest import cli
from test_redis_client import ports

DURABLE, DROPPABLE, MEMBERSHIP, PRESENCE = 1, 2, 3, 4


def event(kind, key, payload, seq=0, exclude=None, only=None, coalesce=0):
    def u(x):
        return uuid.UUID(x).bytes if x else bytes(16)
    body = payload.encode() if isinstance(payload, str) else payload
    return (bytes([1, 3, kind]) + u(key) + u(exclude) + u(only)
            + struct.pack("<Qq", coalesce, seq) + struct.pack("<I", len(body)) + body)


def publish(port, channel, payload):
    """PUBLISH with a binary payload (redis-cli cannot send one)."""
    parts = [b"PUBLISH", channel.encode(), payload]
    cmd = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(cmd)
        reply = s.recv(64)
    assert reply.startswith(b":"), reply
    return int(reply[1:].strip())


def metric(api, name):
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("parley_" + name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no metric " + name)


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def message(cid, seq, text="m"):
    return ('{"type":"message","conversation_id":"%s","seq":%d,"message_id":"%s",'
            '"sender_id":"%s","client_msg_id":"c%d","content":"%s",'
            '"created_at":"2026-01-01T00:00:00.000Z"}'
            % (cid, seq, uuid.uuid4(), uuid.uuid4(), seq, text))


@pytest.fixture
def probe_server(server_factory, monkeypatch):
    exe = os.path.join(build_dir(), "gateway-probe")
    monkeypatch.setattr(parley_client, "parleyd_path", lambda: exe)

    def start(addrs, gateway_id):
        return server_factory.start(["--redis-addrs", addrs, "--gateway-id", gateway_id])
    return start


def test_relay_delivers_dedups_repairs_and_unsubscribes(single_addrs, probe_server):
    port = ports(single_addrs)[0]
    gid = "gw-" + uuid.uuid4().hex[:12]
    p = Parley(probe_server(single_addrs, gid))
    alice, bob = p.new_users(2)
    cid = alice.group("relay", [bob])["conversation_id"]
    chan = "pl:c:{%s}" % cid
    ws = p.ws(alice)
    # hello came only after the channels were subscribed
    subscribed = cli(port, "pubsub", "channels", "pl:*").split()
    for c in (chan, "pl:g:{%s}" % gid, "pl:presence", "pl:members"):
        assert c in subscribed
    api = p.api()
    assert metric(api, "relay_subscriptions") == 4

    assert publish(port, chan, event(DURABLE, cid, message(cid, 1), seq=1)) == 1
    assert ws.recv_message(cid, seq=1)["seq"] == 1
    publish(port, chan, event(DURABLE, cid, message(cid, 1), seq=1))  # re-publish
    publish(port, chan, event(DURABLE, cid, message(cid, 2), seq=2))
    assert ws.recv_type("message")["seq"] == 2  # not the duplicate of 1
    assert metric(api, "relay_dropped_duplicates_total") == 1
    # a jump: 3..4 are read from the store (none stored here), then 5
    publish(port, chan, event(DURABLE, cid, message(cid, 5), seq=5))
    assert ws.recv_type("message")["seq"] == 5
    assert metric(api, "relay_repairs_total") == 1
    # garbage, a bad kind and a durable record without seq are counted, not fatal
    publish(port, chan, b"\x01\x03garbage")
    publish(port, chan, event(7, cid, "{}"))
    publish(port, chan, event(DURABLE, cid, message(cid, 9), seq=0))
    publish(port, chan, b"")
    publish(port, chan, event(DROPPABLE, cid, '{"type":"typing","conversation_id":"%s",'
                              '"user_id":"%s"}' % (cid, bob.user_id)))
    assert ws.recv_type("typing")["user_id"] == bob.user_id
    assert metric(api, "relay_bad_records_total") == 4
    # a droppable event excluding alice does not reach her; one for her does
    publish(port, chan, event(DROPPABLE, cid, '{"type":"typing","x":1}', exclude=alice.user_id))
    publish(port, chan, event(DROPPABLE, cid, '{"type":"typing","x":2}', only=alice.user_id))
    assert ws.recv_type("typing").get("x") == 2
    assert metric(api, "relay_events_total") >= 5
    # an ack for a loop that does not exist is a bad record
    publish(port, "pl:g:{%s}" % gid, bytes([1, 2]) + struct.pack("<I", 99) + bytes(40))
    wait_for(lambda: metric(api, "relay_bad_records_total") == 5, what="bad ack counted")
    # the last local member leaves: the channel is unsubscribed
    ws.close()
    wait_for(lambda: chan not in cli(port, "pubsub", "channels", "pl:c:*").split(),
             what="unsubscribe")
    wait_for(lambda: metric(api, "relay_subscriptions") == 3, what="gauge")


def test_membership_event_subscribes_the_new_conversation(single_addrs, probe_server):
    port = ports(single_addrs)[0]
    p = Parley(probe_server(single_addrs, "gw-" + uuid.uuid4().hex[:12]))
    alice, bob = p.new_users(2)
    ws = p.ws(alice)
    cid = bob.group("later", [])["conversation_id"]  # alice not a member yet
    chan = "pl:c:{%s}" % cid
    assert chan not in cli(port, "pubsub", "channels", "pl:c:*").split()
    body = '{"conversation_id":"%s","user_ids":["%s"],"op":"add"}' % (cid, alice.user_id)
    publish(port, "pl:members", event(MEMBERSHIP, cid, body))
    wait_for(lambda: chan in cli(port, "pubsub", "channels", "pl:c:*").split(),
             what="subscribe after membership")
    publish(port, chan, event(DURABLE, cid, message(cid, 1), seq=1))
    assert ws.recv_message(cid, seq=1)["seq"] == 1


def test_hello_times_out_without_redis(probe_server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = "127.0.0.1:%d" % s.getsockname()[1]  # bound, never listening
    srv = probe_server(dead, "gw-dead")
    p = Parley(srv)
    alice = p.new_user()
    t0 = time.monotonic()
    ws = WSClient(srv.ws_url, alice.token, wait_hello=False)
    assert ws.wait_closed(timeout=15) == 1013
    assert 4 <= time.monotonic() - t0 < 12
    assert ws.inbox == []  # no hello
    assert metric(p.api(), "relay_hello_timeouts_total") == 1
    s.close()
