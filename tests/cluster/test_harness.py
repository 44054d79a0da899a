"""The harness itself, on whatever topology scripts/cluster.sh runs: every
instance answers /readyz on its own address, nginx routes to them, and
the per-process handles (kill -9, start, restart) work and keep the
address, so nginx's upstream list stays valid."""

import time

import httpx
import pytest

from parley_client import Api, User, WSClient, expect, unique_name

PW = "cluster-secret-1"


def new_user(url, prefix="h"):
    api = Api(url)
    name = unique_name(prefix)
    reg = expect(api.register(name, PW), 201)
    tok = expect(api.login(name, PW), 200)
    api.close()
    return User(url, reg["user_id"], name, tok["token"], PW)


def test_every_instance_is_ready(cluster):
    assert cluster.instances, "no instance in %s/instances" % cluster.dir
    for inst in cluster.instances.values():
        r = httpx.get(inst.url + "/readyz", timeout=10)
        assert r.status_code == 200 and r.json() == {"status": "ready"}, inst
        assert inst.alive(), inst
    r = httpx.get(cluster.url + "/readyz", timeout=10)
    assert r.status_code == 200


def test_chat_through_nginx(cluster):
    a, b = new_user(cluster.url), new_user(cluster.url)
    cid = a.direct(b)["conversation_id"]
    wb = WSClient(cluster.ws_url, b.token)
    wa = WSClient(cluster.ws_url, a.token)
    try:
        ack = wa.send_and_ack(cid, "hi via nginx")
        assert wb.recv_message(cid, ack["seq"])["content"] == "hi via nginx"
    finally:
        wa.close()
        wb.close()
        a.close()
        b.close()


def _wait_down(url, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=1)
        except httpx.TransportError:
            return
        time.sleep(0.1)
    raise AssertionError("%s still answers" % url)


@pytest.mark.disruptive
def test_kill_start_restart_keep_the_address(cluster):
    # the last gateway: in the split topology another one keeps serving
    inst = cluster.gateways[-1]
    pid = inst.pid()
    inst.kill()
    assert not inst.alive()
    _wait_down(inst.url)
    inst.start()
    assert inst.alive() and inst.pid() != pid
    assert httpx.get(inst.url + "/readyz", timeout=10).status_code == 200
    pid = inst.pid()
    inst.restart()
    assert inst.pid() != pid
    assert httpx.get(inst.url + "/readyz", timeout=10).status_code == 200
    # nginx still routes to it: same address, same upstream list
    u = new_user(cluster.url, "kr")
    expect(User(inst.url, u.user_id, u.username, u.token).me(), 200)
    expect(User(cluster.url, u.user_id, u.username, u.token).me(), 200)
