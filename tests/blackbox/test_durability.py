"""Crash safety: every acked message survives SIGKILL; resends after a
crash are stored exactly once; state and keys survive restarts."""

from parley_client import Api, Parley, User, expect


def _user_on(srv, u):
    return User(srv.url, u.user_id, u.username, u.token, u.password)


def test_acked_messages_survive_sigkill(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    a, b = p.new_users(2, "dur")
    cid = a.group("durable", [b])["conversation_id"]
    ws = p.ws(a)
    cmids = [ws.send_msg(cid, "durable %d" % i, "d-%d" % i) for i in range(200)]
    acks = [ws.recv_type("ack", timeout=60, pred=lambda o, c=c: o["client_msg_id"] == c)
            for c in cmids]
    srv.kill()
    p.close()

    srv2 = server_factory.restart(srv, kill=True)
    a2 = _user_on(srv2, a)
    try:
        hist = a2.history_all(cid)
        stored = {m["client_msg_id"]: m for m in hist}
        for ack in acks:
            m = stored.get(ack["client_msg_id"])
            assert m is not None, "acked message lost: %r" % ack
            assert (m["seq"], m["message_id"], m["created_at"]) == \
                (ack["seq"], ack["message_id"], ack["created_at"])
            assert m["content"] == "durable %s" % ack["client_msg_id"][2:]
        assert [m["seq"] for m in hist] == list(range(1, len(hist) + 1))
        # The sequence continues after the restart.
        m = a2.send_ok(cid, "after restart")
        assert m["seq"] == len(hist) + 1
    finally:
        a2.close()


def test_unacked_resend_after_crash_stored_once(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    a, b = p.new_users(2, "crash")
    cid = a.group("crash", [b])["conversation_id"]
    a.send_ok(cid, "baseline", "base")
    ws = p.ws(a)
    # Fire sends and crash before reading any ack.
    cmids = [ws.send_msg(cid, "maybe %d" % i, "m-%d" % i) for i in range(50)]
    srv.kill()
    p.close()

    srv2 = server_factory.restart(srv, kill=True)
    p2 = Parley(srv2)
    try:
        a2 = p2.user_from_token(a.token)
        ws2 = p2.ws(a2)
        for i, c in enumerate(cmids):
            ws2.send_msg(cid, "maybe %d" % i, c)
        acks = {c: ws2.recv_type("ack", timeout=60, pred=lambda o, c=c: o["client_msg_id"] == c)
                for c in cmids}
        hist = a2.history_all(cid)
        counts = {}
        for m in hist:
            counts[m["client_msg_id"]] = counts.get(m["client_msg_id"], 0) + 1
        assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n > 1}
        assert set(counts) == set(cmids) | {"base"}
        by_id = {m["client_msg_id"]: m for m in hist}
        for c, ack in acks.items():
            assert (by_id[c]["seq"], by_id[c]["message_id"]) == (ack["seq"], ack["message_id"])
        assert [m["seq"] for m in hist] == list(range(1, len(hist) + 1))
        # Resend once more over REST: still one copy.
        expect(a2.send(cid, "maybe 0", cmids[0]), 200)
        assert len(a2.history_all(cid)) == len(hist)
    finally:
        p2.close()


def test_state_survives_clean_restart(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    a, b, c = p.new_users(3, "keep")
    cid = a.group("kept", [b, c])["conversation_id"]
    d = a.direct(b)["conversation_id"]
    for i in range(5):
        a.send_ok(cid, "k%d" % i)
    expect(b.read(cid, 3), 200)
    assert c.remove_member(cid, c.user_id).status_code == 204
    before_a = expect(a.conversations(), 200)
    before_b = expect(b.conversations(), 200)
    hist = a.history_all(cid)
    p.close()

    srv2 = server_factory.restart(srv)          # SIGTERM, exit 0 asserted
    p2 = Parley(srv2)
    try:
        # Tokens issued before the restart stay valid (persistent JWT key).
        a2 = p2.user_from_token(a.token)
        b2 = p2.user_from_token(b.token)
        c2 = p2.user_from_token(c.token)
        assert expect(a2.conversations(), 200) == before_a
        assert expect(b2.conversations(), 200) == before_b
        assert a2.history_all(cid) == hist
        expect(c2.messages(cid), 403, "not_a_member")
        # Login (password hashes persisted) and direct pair uniqueness.
        expect(p2.login(a.username, a.password), 200)
        expect(p2.register(a.username.upper(), "whatever123"), 409, "username_taken")
        assert expect(b2.create_direct(a.user_id), 200)["conversation_id"] == d
    finally:
        p2.close()


def test_bulk_users_created_while_running_survive_kill(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    users = p.bulk_users(20)
    expect(users[0].me(), 200)
    p.close()
    srv2 = server_factory.restart(srv, kill=True)
    for u in users:
        api = Api(srv2.url, u.token)
        assert expect(api.me(), 200)["user_id"] == u.user_id
        api.close()
