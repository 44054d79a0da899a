"""Resume after a disconnect through the `sync` frame: one `synced` frame
per page of history after a seq, in seq order, members only."""
import uuid

import pytest


@pytest.fixture
def pair(mp):
    """a and b in a group; returns (a, b, cid)."""
    a, b = mp.new_users(2, "sync")
    cid = a.group("sync", [b])["conversation_id"]
    return a, b, cid


def test_sync_pages_after_seq(mp, pair):
    a, b, cid = pair
    for i in range(5):
        a.send_ok(cid, "m%d" % i)
    wb = mp.ws(b)
    wb.send_json({"type": "sync", "conversation_id": cid, "after_seq": 2})
    page = wb.recv_type("synced")
    assert page["conversation_id"] == cid and page["after_seq"] == 2
    assert [m["seq"] for m in page["messages"]] == [3, 4, 5]
    assert page["messages"][0]["content"] == "m2" and page["has_more"] is False
    wb.send_json({"type": "sync", "conversation_id": cid, "after_seq": 0, "limit": 2})
    page = wb.recv_type("synced")
    assert [m["seq"] for m in page["messages"]] == [1, 2] and page["has_more"] is True
    wb.send_json({"type": "sync", "conversation_id": cid, "after_seq": 5})
    page = wb.recv_type("synced")
    assert page["messages"] == [] and page["has_more"] is False


def test_resume_after_disconnect_no_gap(mp, pair):
    a, b, cid = pair
    wb = mp.ws(b)
    a.send_ok(cid, "before")
    last = wb.recv_message(cid, seq=1)["seq"]
    wb.close()
    for i in range(30):  # sent while b is offline
        a.send_ok(cid, "offline %d" % i)
    wb = mp.ws(b)
    got, after, more = [], last, True
    while more:
        wb.send_json({"type": "sync", "conversation_id": cid, "after_seq": after, "limit": 7})
        page = wb.recv_type("synced")
        got += [m["seq"] for m in page["messages"]]
        after = got[-1] if got else after
        more = page["has_more"]
    assert got == list(range(2, 32))


def test_sync_bad_input_and_non_member(mp, pair):
    a, b, cid = pair
    c = mp.new_user("syncx")
    wc = mp.ws(c)
    wc.send_json({"type": "sync", "conversation_id": cid, "after_seq": 0})
    assert wc.recv_error()["code"] == "not_a_member"
    wc.send_json({"type": "sync", "conversation_id": str(uuid.uuid4()), "after_seq": 0})
    assert wc.recv_error()["code"] == "not_found"
    for bad in ({"conversation_id": cid}, {"conversation_id": cid, "after_seq": -1},
                {"conversation_id": "x", "after_seq": 0},
                {"conversation_id": cid, "after_seq": 0, "limit": 201},
                {"conversation_id": cid, "after_seq": 0, "limit": "5"}):
        wc.send_json(dict(bad, type="sync"))
        assert wc.recv_error()["code"] == "invalid_request"
    wc.ping_pong()


def test_sync_page_is_bounded_by_bytes(mp, pair):
    """200 messages of 4096 '"' (8 KiB each as JSON) do not fit one page:
    the page stops early with has_more, and the connection stays open."""
    a, b, cid = pair
    for i in range(200):
        a.send_ok(cid, '"' * 4096, "big-%d" % i)
    wb = mp.ws(b)
    after, got = 0, []
    while True:
        wb.send_json({"type": "sync", "conversation_id": cid, "after_seq": after})
        page = wb.recv_type("synced", timeout=30)
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs and seqs[0] == after + 1
        got += seqs
        after = seqs[-1]
        if not page["has_more"]:
            break
        assert len(seqs) < 200
    assert got == list(range(1, 201))
    wb.ping_pong()
