"""Concurrent senders in one group: gap-free sequence numbers, per
connection seq order, history equal to the acked set."""

import threading

from parley_client import expect

N_CONN = 10
PER_CONN = 50
TOTAL = N_CONN * PER_CONN


def _run(conn, cid, idx, barrier, results, errors):
    try:
        barrier.wait(30)
        cmids = []
        for i in range(PER_CONN):
            cmids.append(conn.send_msg(cid, "c%d-m%d" % (idx, i), "c%d-%d" % (idx, i)))
        acks = {}
        seen = []
        while len(acks) < PER_CONN or len(seen) < TOTAL:
            o = conn.recv_json(timeout=60)
            if o["type"] == "ack":
                acks[o["client_msg_id"]] = o
            elif o["type"] == "message" and o["conversation_id"] == cid:
                seen.append(o)
            elif o["type"] == "error":
                raise AssertionError("error frame: %r" % (o,))
        results[idx] = (cmids, acks, seen)
    except BaseException as e:  # reported by the main thread
        errors.append((idx, e))


def test_concurrent_senders_gap_free_and_ordered(mp):
    users = mp.new_users(N_CONN, "ord")
    cid = users[0].group("ordering", users[1:])["conversation_id"]
    conns = [mp.ws(u) for u in users]
    barrier = threading.Barrier(N_CONN)
    results = [None] * N_CONN
    errors = []
    threads = [threading.Thread(target=_run, args=(conns[i], cid, i, barrier, results, errors))
               for i in range(N_CONN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "sender threads hung"
    assert not errors, errors

    all_acks = {}
    for idx, (cmids, acks, seen) in enumerate(results):
        assert set(acks) == set(cmids), "connection %d missing acks" % idx
        # A connection's own sends are acked in the order it sent them.
        own = [acks[c]["seq"] for c in cmids]
        assert own == sorted(own), "connection %d: acks out of order" % idx
        for c in cmids:
            all_acks[c] = acks[c]
        seqs = [m["seq"] for m in seen]
        assert all(x < y for x, y in zip(seqs, seqs[1:])), \
            "connection %d saw seqs out of order" % idx
        assert seqs == list(range(1, TOTAL + 1)), "connection %d missed messages" % idx

    seqs = sorted(a["seq"] for a in all_acks.values())
    assert seqs == list(range(1, TOTAL + 1)), "acked seqs have gaps or duplicates"
    assert len({a["message_id"] for a in all_acks.values()}) == TOTAL

    # Every connection saw the same message for each seq.
    by_seq = {m["seq"]: m for m in results[0][2]}
    for _, _, seen in results[1:]:
        for m in seen:
            assert m == by_seq[m["seq"]]

    history = users[0].history_all(cid)
    assert [m["seq"] for m in history] == list(range(1, TOTAL + 1))
    acked = {(a["seq"], a["message_id"], a["client_msg_id"]) for a in all_acks.values()}
    stored = {(m["seq"], m["message_id"], m["client_msg_id"]) for m in history}
    assert stored == acked
    for m in history:
        idx, i = m["client_msg_id"][1:].split("-")
        assert m["content"] == "c%s-m%s" % (idx, i)
        assert m["sender_id"] == users[int(idx)].user_id
    assert expect(users[3].conversation(cid), 200)["last_seq"] == TOTAL


def test_rest_and_ws_senders_interleaved(mp):
    """REST and WebSocket sends share one sequence."""
    a, b = mp.new_users(2, "mix")
    cid = a.group("mix", [b])["conversation_id"]
    ws = mp.ws(b)
    errors = []

    def rest_sender():
        try:
            for i in range(40):
                a.send_ok(cid, "r%d" % i, "r%d" % i)
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=rest_sender)
    t.start()
    cmids = [ws.send_msg(cid, "w%d" % i, "w%d" % i) for i in range(40)]
    acks = [ws.recv_type("ack", timeout=60, pred=lambda o, c=c: o["client_msg_id"] == c)
            for c in cmids]
    t.join(120)
    assert not errors, errors
    seen = []
    while len(seen) < 80:
        seen.append(ws.recv_message(cid, timeout=60)["seq"])
    assert seen == list(range(1, 81))
    assert [x["seq"] for x in acks] == sorted(x["seq"] for x in acks)
    assert [m["seq"] for m in a.history_all(cid)] == list(range(1, 81))
