"""Sending over REST, idempotency, content limits, history paging, read
offsets."""

import json
import uuid

import pytest

from parley_client import (assert_message_shape, expect, expect_bad_path_id, parse_time,
                           utf8_len)


@pytest.fixture
def trio(mp):
    """a (admin), b (member) in a group; c an outsider."""
    a, b, c = mp.new_users(3, "msg")
    cid = a.group("msgs", [b])["conversation_id"]
    return a, b, c, cid


def test_send_201_message_object(trio):
    a, b, c, cid = trio
    m = expect(a.send(cid, "hello world", "cm-1"), 201)
    assert_message_shape(m)
    assert m["conversation_id"] == cid
    assert m["seq"] == 1
    assert m["sender_id"] == a.user_id
    assert m["client_msg_id"] == "cm-1"
    assert m["content"] == "hello world"
    m2 = expect(b.send(cid, "second", "cm-2"), 201)
    assert m2["seq"] == 2 and m2["sender_id"] == b.user_id
    assert m2["message_id"] != m["message_id"]
    assert parse_time(m2["created_at"]) >= parse_time(m["created_at"])
    assert expect(a.conversation(cid), 200)["last_seq"] == 2


def test_same_client_msg_id_200_identical(trio):
    a, b, c, cid = trio
    first = expect(a.send(cid, "once", "dedupe-1"), 201)
    again = expect(a.send(cid, "once", "dedupe-1"), 200)
    assert again == first
    # Different content with the same id still returns the original.
    third = expect(a.send(cid, "changed", "dedupe-1"), 200)
    assert third == first
    assert [m["seq"] for m in a.history_all(cid)] == [1]
    assert expect(a.conversation(cid), 200)["last_seq"] == 1


def test_same_client_msg_id_other_sender_or_conversation_is_new(trio, mp):
    a, b, c, cid = trio
    m1 = expect(a.send(cid, "x", "shared-id"), 201)
    m2 = expect(b.send(cid, "x", "shared-id"), 201)
    assert m2["seq"] == m1["seq"] + 1 and m2["message_id"] != m1["message_id"]
    cid2 = a.group("other", [])["conversation_id"]
    m3 = expect(a.send(cid2, "x", "shared-id"), 201)
    assert m3["conversation_id"] == cid2 and m3["seq"] == 1


@pytest.mark.parametrize("content", [
    "a" * 4096,
    "\u00e9" * 2048,              # 2-byte chars: 4096 bytes
    "\u20ac" * 1365 + "a",        # 3-byte chars: 4096 bytes
    "\U0001F600" * 1024,          # 4-byte chars: 4096 bytes
])
def test_content_exactly_4096_bytes_ok(trio, content):
    a, b, c, cid = trio
    assert utf8_len(content) == 4096
    m = expect(a.send(cid, content), 201)
    assert m["content"] == content
    assert a.history_all(cid)[-1]["content"] == content


@pytest.mark.parametrize("content", [
    "a" * 4097,
    "\u00e9" * 2048 + "a",        # 2049 chars, 4097 bytes
    "\u20ac" * 1366,              # 1366 chars, 4098 bytes
    "\U0001F600" * 1025,          # 1025 chars, 4100 bytes
    "b" * 100000,
])
def test_content_over_4096_bytes_413(trio, content):
    a, b, c, cid = trio
    assert utf8_len(content) > 4096
    expect(a.send(cid, content), 413, "content_too_large")
    assert a.history_all(cid) == []


def test_content_utf8_raw_vs_escaped_json(trio):
    """The limit applies to the decoded UTF-8 bytes, whether the client
    sends the characters raw or as \\u escapes."""
    a, b, c, cid = trio
    ok = "\u00e9" * 2048
    bad = ok + "x"
    path = "/v1/conversations/%s/messages" % cid
    for ensure_ascii in (True, False):
        def body(content):
            return json.dumps({"client_msg_id": uuid.uuid4().hex, "content": content},
                              ensure_ascii=ensure_ascii).encode("utf-8")
        h = {"Content-Type": "application/json"}
        expect(a.post(path, content=body(ok), headers=h), 201)
        expect(a.post(path, content=body(bad), headers=h), 413, "content_too_large")
    # A surrogate pair escape is one 4-byte character.
    raw = b'{"client_msg_id":"sp","content":"\\ud83d\\ude00"}'
    m = expect(a.post(path, content=raw, headers={"Content-Type": "application/json"}), 201)
    assert m["content"] == "\U0001F600"


@pytest.mark.parametrize("body", [
    {"client_msg_id": "x", "content": ""},
    {"client_msg_id": "x"},
    {"content": "no id"},
    {"client_msg_id": "x", "content": 5},
    {"client_msg_id": "x", "content": None},
    {"client_msg_id": "x", "content": ["a"]},
    {"client_msg_id": 7, "content": "a"},
    {"client_msg_id": "", "content": "a"},
    {"client_msg_id": "x" * 65, "content": "a"},
    {"client_msg_id": "has space", "content": "a"},
    {"client_msg_id": "tab\there", "content": "a"},
    {"client_msg_id": "caf\u00e9", "content": "a"},
    {"client_msg_id": "del\x7f", "content": "a"},
])
def test_send_invalid_400(trio, body):
    a, b, c, cid = trio
    expect(a.post("/v1/conversations/%s/messages" % cid, body), 400, "invalid_request")
    assert a.history_all(cid) == []


def test_client_msg_id_bounds_ok(trio):
    a, b, c, cid = trio
    visible = "".join(chr(i) for i in range(0x21, 0x7F))
    for cmid in ("x", "y" * 64, visible[:64], visible[64:]):
        m = expect(a.send(cid, "ok", cmid), 201)
        assert m["client_msg_id"] == cmid


def test_content_keeps_any_unicode_and_json_specials(trio):
    a, b, c, cid = trio
    content = 'quote " backslash \\ newline \n tab \t nul-ish \u0001 emoji \U0001F680 \u2028'
    m = expect(a.send(cid, content), 201)
    assert m["content"] == content
    assert a.history_all(cid)[0]["content"] == content


# ------------------------------------------------------------- membership


def test_non_member_403_on_send_history_read(trio):
    a, b, c, cid = trio
    a.send_ok(cid, "private")
    expect(c.send(cid, "let me in"), 403, "not_a_member")
    expect(c.messages(cid), 403, "not_a_member")
    expect(c.read(cid, 1), 403, "not_a_member")
    assert len(a.history_all(cid)) == 1


def test_unknown_conversation(trio):
    a, b, c, cid = trio
    ghost = str(uuid.uuid4())
    for r in (a.send(ghost, "x"), a.messages(ghost), a.read(ghost, 1)):
        assert r.status_code in (403, 404), r.text
        assert r.json()["error"]["code"] in ("not_found", "not_a_member")
    expect_bad_path_id(a.messages("not-a-uuid"))


# ------------------------------------------------------------- history


@pytest.fixture
def ten(trio):
    a, b, c, cid = trio
    sent = [a.send_ok(cid, "m%d" % i, "ten-%d" % i) for i in range(1, 11)]
    assert [m["seq"] for m in sent] == list(range(1, 11))
    return a, cid, sent


def _page(user, cid, **params):
    body = expect(user.messages(cid, **params), 200)
    assert set(body) >= {"messages", "has_more"}
    assert isinstance(body["has_more"], bool)
    return [m["seq"] for m in body["messages"]], body["has_more"]


@pytest.mark.parametrize("params,seqs,has_more", [
    ({}, list(range(1, 11)), False),
    ({"limit": 3}, [8, 9, 10], True),
    ({"limit": 10}, list(range(1, 11)), False),
    ({"limit": 11}, list(range(1, 11)), False),
    ({"after_seq": 0, "limit": 3}, [1, 2, 3], True),
    ({"after_seq": 3, "limit": 3}, [4, 5, 6], True),
    ({"after_seq": 7, "limit": 3}, [8, 9, 10], False),
    ({"after_seq": 8, "limit": 3}, [9, 10], False),
    ({"after_seq": 10}, [], False),
    ({"after_seq": 500}, [], False),
    ({"after_seq": 0}, list(range(1, 11)), False),
    ({"before_seq": 11, "limit": 3}, [8, 9, 10], True),
    ({"before_seq": 5, "limit": 3}, [2, 3, 4], True),
    ({"before_seq": 4, "limit": 3}, [1, 2, 3], False),
    ({"before_seq": 3, "limit": 3}, [1, 2], False),
    ({"before_seq": 1}, [], False),
    ({"before_seq": 1000, "limit": 2}, [9, 10], True),
    ({"limit": 1}, [10], True),
    ({"after_seq": 9, "limit": 1}, [10], False),
])
def test_history_boundaries(ten, params, seqs, has_more):
    a, cid, sent = ten
    assert _page(a, cid, **params) == (seqs, has_more)


def test_history_objects_equal_sent(ten):
    a, cid, sent = ten
    body = expect(a.messages(cid), 200)
    assert body["messages"] == sent
    for m in body["messages"]:
        assert_message_shape(m)


def test_history_default_and_max_limit(trio, mp):
    a, b, c, cid = trio
    for i in range(210):
        a.send_ok(cid, str(i), "lim-%d" % i)
    assert _page(a, cid) == (list(range(161, 211)), True)          # default 50
    assert _page(a, cid, limit=200) == (list(range(11, 211)), True)
    assert _page(a, cid, after_seq=0, limit=200)[0] == list(range(1, 201))
    # Over the max: either rejected or clamped to 200.
    r = a.messages(cid, limit=201)
    if r.status_code == 200:
        assert len(r.json()["messages"]) == 200
    else:
        expect(r, 400, "invalid_request")
    assert [m["seq"] for m in a.history_all(cid, page=37)] == list(range(1, 211))


@pytest.mark.parametrize("q", ["limit=abc", "after_seq=xyz", "before_seq=1.5", "limit=-3",
                               "after_seq=-1"])
def test_history_bad_query_400(trio, q):
    a, b, c, cid = trio
    expect(a.get("/v1/conversations/%s/messages?%s" % (cid, q)), 400, "invalid_request")


# ------------------------------------------------------------- read offsets


def test_read_offsets_forward_only_and_unread(trio):
    a, b, c, cid = trio
    for i in range(5):
        a.send_ok(cid, str(i))
    # The sender's own sends advance the sender's read offset.
    ea = expect(a.conversation(cid), 200)
    assert (ea["last_read_seq"], ea["unread_count"]) == (5, 0)
    eb = expect(b.conversation(cid), 200)
    assert (eb["last_read_seq"], eb["unread_count"]) == (0, 5)

    assert expect(b.read(cid, 2), 200) == {"conversation_id": cid, "last_read_seq": 2}
    assert b.conv_entry(cid)["unread_count"] == 3
    # Lower seq: unchanged, returns the current value.
    assert expect(b.read(cid, 1), 200)["last_read_seq"] == 2
    assert expect(b.read(cid, 0), 200)["last_read_seq"] == 2
    assert expect(b.conversation(cid), 200)["last_read_seq"] == 2
    # Above last_seq: clamped.
    assert expect(b.read(cid, 99), 200)["last_read_seq"] == 5
    eb = expect(b.conversation(cid), 200)
    assert (eb["last_read_seq"], eb["unread_count"]) == (5, 0)
    # New messages from someone else count as unread again.
    a.send_ok(cid, "more")
    a.send_ok(cid, "more")
    entry = b.conv_entry(cid)
    assert (entry["last_seq"], entry["last_read_seq"], entry["unread_count"]) == (7, 5, 2)
    # b sends: b's offset jumps to the new last_seq.
    b.send_ok(cid, "caught up")
    entry = b.conv_entry(cid)
    assert (entry["last_read_seq"], entry["unread_count"]) == (8, 0)
    assert a.conv_entry(cid)["unread_count"] == 1


@pytest.mark.parametrize("body", [{"seq": -1}, {}, {"seq": "3"}, {"seq": 1.5}, {"seq": None}])
def test_read_invalid_400(trio, body):
    a, b, c, cid = trio
    a.send_ok(cid, "x")
    expect(b.post("/v1/conversations/%s/read" % cid, body), 400, "invalid_request")


def test_read_on_empty_conversation_clamps_to_zero(trio):
    a, b, c, cid = trio
    assert expect(b.read(cid, 10), 200)["last_read_seq"] == 0
