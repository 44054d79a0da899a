"""Faults under continuous send load, through nginx, against the role split:
SIGKILL a gateway, a messaging instance, a fan-out instance; restart the
Redis Cluster, the Kafka broker, PostgreSQL. Each test runs the delivery
checker (tests/faults/checker.py: users on one or two devices in direct and
group conversations, open-loop sends, reconnect + resume + resend with the
same client_msg_id) while the fault happens, and asserts the checker's
counts are all zero: nothing acked is lost, no duplicate, no gap, no
reorder, nothing stored twice (docs/ARCHITECTURE.md, "Proving delivery
under faults"). The killed process is started again afterwards, so the
tests leave the cluster whole for the next one.

Disruptive: scripts/cluster-test.sh runs them one at a time after the
others."""

import asyncio
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "faults"))

import checker as ck  # noqa: E402
from parley_client import unique_name  # noqa: E402

pytestmark = pytest.mark.disruptive

USERS = 10
RATE = 80          # messages per second, all users together
DURATION = 8.0     # seconds of load; the fault comes at FAULT_AT
FAULT_AT = 2.5


def _infra(cluster, svc, action):
    """scripts/infra/<svc>.sh ACTION DIR: the server's own script."""
    r = subprocess.run([os.path.join(REPO, "scripts", "infra", svc + ".sh"),
                        action, cluster.dir], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, "%s %s failed:\n%s%s" % (svc, action, r.stdout,
                                                       r.stderr)


def _run(cluster, fault):
    """The checker through nginx; fault() runs in a thread at FAULT_AT."""
    cfg = ck.Config(url=cluster.url, rate=RATE, duration=DURATION, seed=11,
                    backoff_cap=1.0, drain_timeout=60, drain_stall=30)

    async def main():
        accts = await ck.accounts_from_register(cluster.url, USERS,
                                                unique_name("fl")[:10])
        c = ck.Checker(cfg, accts)
        await c.setup()
        task = asyncio.create_task(c.run())
        try:
            await asyncio.sleep(FAULT_AT)
            acked = len(c.rec.acks)
            await asyncio.to_thread(fault)
        except BaseException:
            task.cancel()
            raise
        rep = await task
        assert acked > 0, "nothing was acked before the fault"
        return rep

    rep = asyncio.run(main())
    print(rep.summary())
    rep.assert_clean()
    assert rep.acked >= RATE * DURATION * 0.9, "the load did not get through"
    return rep


def _kill_and_start(inst, down_s=1.0):
    def fault():
        inst.kill()
        import time
        time.sleep(down_s)
        inst.start()
    return fault


def test_sigkill_gateway(split):
    gw = split.gateways[0]
    rep = _run(split, _kill_and_start(gw))
    assert rep.reconnects > 0, "no client was on the killed gateway"


def test_sigkill_messaging(split):
    _run(split, _kill_and_start(split.with_role("messaging")[0]))


def test_sigkill_fanout(split):
    _run(split, _kill_and_start(split.with_role("fanout")[0]))


def test_restart_redis_cluster(split):
    _run(split, lambda: _infra(split, "redis-cluster", "restart"))


def test_restart_kafka(split):
    _run(split, lambda: _infra(split, "kafka", "restart"))


def test_restart_postgres(split):
    _run(split, lambda: _infra(split, "postgres", "restart"))


def test_paused_messaging_is_fenced(split):
    """SIGSTOP a messaging instance past the group's session timeout (its
    partitions move to the other one), then SIGCONT: the zombie wakes up
    with sequencers and a batch from before; the store's fences (primary
    key on (conversation, seq), unique client_msg_id) must reject whatever
    it tries, so still nothing is duplicated, gapped or reordered."""
    import signal
    import time
    inst = split.with_role("messaging")[0]

    def fault():
        inst.signal(signal.SIGSTOP)
        try:
            time.sleep(13)  # session.timeout.ms is 10 s
        finally:
            inst.signal(signal.SIGCONT)
    _run(split, fault)
    assert inst.alive()
