"""The delivery checker of tests/faults/checker.py: first proof that it can
fail (its Recorder fed synthetic events with each kind of fault), then real
runs against parleyd: clean, SIGKILL mid-load and SIGTERM mid-load with a
restart on the same port and data dir. After a fault the checker's clients
reconnect, resume and resend; no acked message may be lost, duplicated,
gapped or reordered, and history must hold each exactly once."""

import asyncio
import os
import sys
import time

import pytest

from parley_client import REPO, parley_path, store_env, unique_name

sys.path.insert(0, os.path.join(REPO, "tests", "faults"))
import checker as ck  # noqa: E402

# ------------------------------------------------------------ the recorder

A, B = "user-a", "user-b"
CID = "conv-1"


def _msg(seq, cmid=None, mid=None):
    return {"seq": seq, "client_msg_id": cmid or "c%d" % seq,
            "message_id": mid or "m%d" % seq}


def _rec(n=3, devices=(("a0", A), ("b0", B), ("b1", B))):
    """A recorder with one conversation of A and B where A sent and got
    acks for seqs 1..n; no deliveries yet."""
    r = ck.Recorder()
    r.add_conversation(CID, "direct", [A, B])
    for dev, user in devices:
        r.add_device(dev, user)
        r.session_start(dev)
    for s in range(1, n + 1):
        r.sent("c%d" % s, CID, A)
        r.ack("c%d" % s, CID, s, "m%d" % s)
    return r


def _deliver_all(r, seqs, devs=("a0", "b0", "b1")):
    for d in devs:
        for s in seqs:
            r.live(d, CID, s, "m%d" % s, "c%d" % s)


def _finish(r, history):
    r.mark_final()
    r.set_history(CID, history)
    return r.report()


def _only(rep, **want):
    """Every failure count is zero except those in want (exact values)."""
    got = {k: getattr(rep, k) for k in ck.FAILURE_COUNTS
           + ("unacked", "rejected", "lost_deliveries")}
    for k, v in got.items():
        assert v == want.get(k, 0), "%s: %d, wanted %d\n%s" % (
            k, v, want.get(k, 0), rep.summary())


def test_recorder_clean_run_is_clean():
    r = _rec(3)
    _deliver_all(r, [1, 2, 3])
    rep = _finish(r, [_msg(s) for s in (1, 2, 3)])
    _only(rep)
    assert rep.acked == 3 and rep.clean()
    rep.assert_clean()


def test_recorder_sync_overlap_and_resume_are_not_duplicates():
    """A page overlapping live frames of the same session, and a resume
    from the last contiguous seq after a reconnect, are legitimate."""
    r = _rec(5)
    _deliver_all(r, [1, 2], devs=("a0", "b1"))
    r.page("a0", CID, 0, [_msg(1), _msg(2)])  # overlaps live 1 and 2
    r.live("b0", CID, 1, "m1", "c1")
    r.session_end("b0")                   # 2..4 stored while b0 is away
    r.session_start("b0")                 # resume from contig 1
    r.live("b0", CID, 5, "m5", "c5")      # stored after hello
    r.page("b0", CID, 1, [_msg(s) for s in (2, 3, 4, 5)])
    _deliver_all(r, [3, 4, 5], devs=("a0", "b1"))
    rep = _finish(r, [_msg(s) for s in range(1, 6)])
    _only(rep)
    assert rep.reconnects == 1


def test_recorder_reports_gap_in_live_stream():
    r = _rec(4)
    _deliver_all(r, [1, 2, 3, 4], devs=("a0", "b1"))
    for s in (1, 2, 4):                   # b0 skipped 3 while connected
        r.live("b0", CID, s, "m%d" % s, "c%d" % s)
    rep = _finish(r, [_msg(s) for s in (1, 2, 3, 4)])
    _only(rep, live_gaps=1, lost=1, lost_deliveries=1, gaps=1)
    with pytest.raises(AssertionError) as e:
        rep.assert_clean()
    assert "live_gaps=1" in str(e.value) and "lost=1" in str(e.value)
    assert "b0" in str(e.value)


def test_recorder_final_sync_fills_gap_but_still_lost():
    """Seq 3 reaches b0 only through the final sync: not a gap any more,
    but lost (the delivery path never brought it)."""
    r = _rec(3)
    _deliver_all(r, [1, 2, 3], devs=("a0", "b1"))
    _deliver_all(r, [1, 2], devs=("b0",))
    r.mark_final()
    r.page("b0", CID, 2, [_msg(3)], "final")
    r.set_history(CID, [_msg(s) for s in (1, 2, 3)])
    _only(r.report(), lost=1, lost_deliveries=1)


def test_recorder_reports_duplicates():
    r = _rec(3)
    _deliver_all(r, [1, 2, 3])
    r.live("b1", CID, 3, "m3", "c3")              # same session
    r.session_end("b0")
    r.session_start("b0")
    r.live("b0", CID, 2, "m2", "c2")              # re-pushed after reconnect
    r.page("a0", CID, 1, [_msg(1), _msg(2)])      # at/below after_seq
    r.page("a0", CID, 0, [_msg(2), _msg(2)])      # repeated in one page
    rep = _finish(r, [_msg(s) for s in (1, 2, 3)])
    _only(rep, duplicates=4)
    assert "live seq 3 again" in rep.summary()


def test_recorder_reports_reorder():
    r = _rec(3)
    _deliver_all(r, [1, 2, 3], devs=("a0", "b1"))
    for s in (1, 3, 2):
        r.live("b0", CID, s, "m%d" % s, "c%d" % s)
    r.page("b1", CID, 0, [_msg(2), _msg(1)])      # page not ascending
    rep = _finish(r, [_msg(s) for s in (1, 2, 3)])
    # 1 -> 3 skips 2 (a live gap), 2 after 3 is the reorder.
    _only(rep, reorders=2, live_gaps=1)


def test_recorder_reports_lost_acked_message():
    r = _rec(3)
    _deliver_all(r, [1, 2, 3], devs=("a0", "b0"))
    _deliver_all(r, [1, 2], devs=("b1",))         # b1 never got 3
    rep = _finish(r, [_msg(s) for s in (1, 2, 3)])
    _only(rep, lost=1, lost_deliveries=1, gaps=1)
    assert rep.conversations[0].lost == 1
    assert "acked seq 3" in rep.summary()


def test_recorder_reports_acked_message_missing_from_history():
    r = _rec(3)
    _deliver_all(r, [1, 2, 3])
    rep = _finish(r, [_msg(1), _msg(2)])
    _only(rep, history_missing=1)
    r2 = _rec(2)                                  # history never fetched
    _deliver_all(r2, [1, 2])
    _only(r2.report(), history_missing=2)


def test_recorder_reports_client_msg_id_stored_twice():
    r = _rec(3)
    _deliver_all(r, [1, 2, 3])
    for d in ("a0", "b0", "b1"):
        r.live(d, CID, 4, "m4", "c2")
    rep = _finish(r, [_msg(1), _msg(2), _msg(3),
                      _msg(4, cmid="c2", mid="m4")])
    # c2 is at seqs 2 and 4, and its ack (seq 2) disagrees with seq 4.
    _only(rep, stored_twice=1, conflicting_acks=1)
    assert "client_msg_id c2 at seqs [2, 4]" in rep.summary()


def test_recorder_reports_conflicting_resend_ack():
    r = _rec(2)
    r.sent("c2", CID, A)                           # resend
    r.ack("c2", CID, 2, "m2")                      # matches the first
    r.sent("c1", CID, A)
    r.ack("c1", CID, 7, "m7")                      # a different seq
    _deliver_all(r, [1, 2])
    rep = _finish(r, [_msg(1), _msg(2)])
    _only(rep, conflicting_acks=1)
    assert "c1 acked as seq 7" in rep.summary()
    assert rep.resend_acks_matched == 1 and rep.resent == 2


def test_recorder_reports_history_gap_and_seq_conflict():
    r = _rec(2)
    _deliver_all(r, [1, 2])
    r.mark_final()
    for d in ("a0", "b0", "b1"):                  # the final sync
        r.page(d, CID, 2, [_msg(4, cmid="x", mid="y")], "final")
    rep = _finish(r, [_msg(1), _msg(2), _msg(4, cmid="x", mid="y")])
    _only(rep, history_gaps=1, gaps=3)            # 3 missing on 3 devices
    r2 = _rec(2)
    _deliver_all(r2, [1, 2])
    r2.live("b0", CID, 3, "m3", "c3")
    rep2 = _finish(r2, [_msg(1), _msg(2), _msg(3, mid="other")])
    _only(rep2, seq_conflicts=1, gaps=2)


def test_recorder_unacked_rejected_and_empty_runs_fail():
    r = _rec(1)
    _deliver_all(r, [1])
    r.sent("never", CID, A)
    r.sent("bad", CID, A)
    r.reject("bad", "content_too_large")
    rep = _finish(r, [_msg(1)])
    assert rep.failures() == {"unacked": 1, "rejected": 1}
    with pytest.raises(AssertionError, match="unacked=1"):
        rep.assert_clean()
    empty = ck.Recorder()
    empty.add_conversation(CID, "direct", [A, B])
    assert empty.report().failures() == {"no_acks": 1}
    r3 = _rec(1)
    _deliver_all(r3, [1])
    r3.session_end("b1")                          # down at the end
    assert _finish(r3, [_msg(1)]).failures() == {"devices_down": 1}


# ------------------------------------------------------------ real runs


USERS = 8


def _config(srv, **kw):
    cfg = dict(url=srv.url, rate=100, duration=3.0, seed=7, users=USERS,
               data_dir=srv.data_dir, parley_bin=parley_path(),
               backoff_cap=0.5, drain_timeout=40,
               cli_env=store_env(srv.data_dir))
    cfg.update(kw)
    users = cfg.pop("users")
    return ck.Config(**cfg), users


def _run(srv, fault=None, **kw):
    """Run the checker against srv; fault(checker) runs concurrently."""
    cfg, users = _config(srv, **kw)

    async def main():
        accts = await ck.accounts_from_cli(cfg, users, unique_name("ck")[:12])
        c = ck.Checker(cfg, accts)
        await c.setup()
        task = asyncio.create_task(c.run())
        if fault is not None:
            try:
                await fault(c)
            except BaseException:
                task.cancel()
                raise
        return await task

    return asyncio.run(main())


def _restart_same_port(factory, srv, kill):
    """Stop srv (SIGKILL or SIGTERM asserting exit 0) and start parleyd
    again on the same port and data dir, as an operator would."""
    args = list(srv.extra_args) + ["--listen", "127.0.0.1:%d" % srv.port]
    for attempt in range(5):
        try:
            return factory.restart(srv, kill=kill, extra_args=args)
        except AssertionError:
            if attempt == 4:
                raise
            time.sleep(0.3)   # the port can be briefly taken by a client


def _fault(factory, srv, kill, at=1.5, down=0.5):
    async def fault(c):
        await asyncio.sleep(at)
        acked_before = len(c.rec.acks)
        if kill:
            await asyncio.to_thread(srv.kill)
        else:
            # SIGTERM: the stop itself asserts exit 0 after the drain.
            await asyncio.to_thread(srv.stop)
        await asyncio.sleep(down)
        new = await asyncio.to_thread(_restart_same_port, factory, srv, kill)
        assert new.port == srv.port
        assert acked_before > 0, "nothing acked before the fault"
    return fault


def _assert_survived(rep):
    print(rep.summary())
    rep.assert_clean()
    assert rep.reconnects >= rep.devices, "every device must have reconnected"
    assert rep.acked >= 200


def test_checker_clean_run(server):
    rep = _run(server, duration=3.0)
    print(rep.summary())
    rep.assert_clean()
    assert rep.reconnects == 0 and rep.acked >= 250
    # The idempotency probe ran: resent ids were answered with their
    # original seq and message_id.
    assert rep.resent > 0 and rep.resend_acks_matched > 0
    assert {c.kind for c in rep.conversations} == {"direct", "group"}
    assert rep.devices > USERS                    # some users have two
    assert all(c.last_seq > 0 for c in rep.conversations)


def test_checker_survives_sigkill(server_factory):
    srv = server_factory.start()
    rep = _run(srv, fault=_fault(server_factory, srv, kill=True), duration=5.0)
    _assert_survived(rep)


def test_checker_survives_sigterm_rest_resume(server_factory):
    srv = server_factory.start()
    rep = _run(srv, fault=_fault(server_factory, srv, kill=False),
               duration=5.0, resume="rest")
    _assert_survived(rep)


def test_checker_command_line(server):
    """The operators' entry point prints the counts and exits 0 when clean."""
    import subprocess
    r = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "faults", "checker.py"),
         "--url", server.url, "--data-dir", server.data_dir,
         "--parley", parley_path(), "--users", "4", "--rate", "40",
         "--duration", "1", "--seed", "3"],
        capture_output=True, text=True, timeout=120,
        env=dict({k: v for k, v in os.environ.items()
                  if not k.startswith("PARLEY_")},
                 **store_env(server.data_dir)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checker: CLEAN" in r.stdout
    assert "lost 0  duplicates 0" in r.stdout


def test_checker_catches_injected_loss_and_duplicate(server):
    """End to end, the checker is not blind: one live frame dropped and
    one delivered twice on the client side (as a faulty server would)
    are reported, and the dropped one is recovered by the gap-filling
    sync, so it is a live gap but not lost."""
    async def fault(c):
        real = c.rec.live
        calls = {"n": 0}

        def live(dev, cid, seq, mid, cmid):
            calls["n"] += 1
            if calls["n"] == 30:
                return False               # never arrived
            if calls["n"] == 60:
                real(dev, cid, seq, mid, cmid)
            return real(dev, cid, seq, mid, cmid)
        c.rec.live = live

    rep = _run(server, fault=fault, duration=3.0)
    print(rep.summary())
    assert rep.failures() == {"duplicates": 1, "live_gaps": 1}, rep.summary()
    assert rep.lost == 0 and rep.gaps == 0


def test_checker_clean_under_rate_limit(server_factory):
    """Sends refused with rate_limited are retried after retry_after_ms
    with the same id; nothing is lost or stored twice."""
    srv = server_factory.start(["--send-rate", "4", "--send-burst", "2"])
    rep = _run(srv, duration=2.0, rate=60, echo_resend=0.1)
    print(rep.summary())
    rep.assert_clean()
    assert rep.errors.get("rate_limited", 0) > 0
