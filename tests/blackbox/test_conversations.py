"""Direct and group conversations, listing, membership, member paging."""

import time
import uuid

import pytest

from parley_client import UUID_RE, expect, expect_bad_path_id, parse_time

CONV_KEYS = {"conversation_id", "type", "name", "created_at", "last_seq", "member_count"}
LIST_KEYS = CONV_KEYS | {"last_read_seq", "unread_count", "role"}


def _ids(convs):
    return [c["conversation_id"] for c in convs]


# ------------------------------------------------------------- direct


def test_direct_create_201_then_200_same_id_both_orders(mp):
    a, b = mp.new_users(2, "dir")
    r = a.create_direct(b.user_id)
    conv = expect(r, 201)
    assert set(conv) >= CONV_KEYS
    assert UUID_RE.match(conv["conversation_id"])
    assert conv["type"] == "direct"
    assert conv["name"] == ""
    assert conv["last_seq"] == 0
    assert conv["member_count"] == 2
    parse_time(conv["created_at"])
    again = expect(a.create_direct(b.user_id), 200)
    assert again["conversation_id"] == conv["conversation_id"]
    other_way = expect(b.create_direct(a.user_id), 200)
    assert other_way["conversation_id"] == conv["conversation_id"]
    assert other_way["type"] == "direct" and other_way["member_count"] == 2
    # Both see exactly one direct conversation with each other.
    for u in (a, b):
        convs = expect(u.conversations(), 200)["conversations"]
        assert _ids(convs) == [conv["conversation_id"]]


def test_direct_roles_are_members(mp):
    a, b = mp.new_users(2, "dir")
    conv = a.direct(b)
    for u in (a, b):
        entry = u.conv_entry(conv["conversation_id"])
        assert entry is not None and entry["type"] == "direct"


def test_direct_with_self_400(mp):
    a = mp.new_user("self")
    expect(a.create_direct(a.user_id), 400, "invalid_request")
    assert expect(a.conversations(), 200)["conversations"] == []


@pytest.mark.parametrize("n", [0, 2])
def test_direct_wrong_member_count_400(mp, n):
    a = mp.new_user("dn")
    others = mp.new_users(2, "dn")
    ids = [o.user_id for o in others[:n]]
    r = a.post("/v1/conversations", {"type": "direct", "member_ids": ids})
    expect(r, 400, "invalid_request")


def test_direct_unknown_user_404(mp):
    a = mp.new_user("dun")
    expect(a.create_direct(str(uuid.uuid4())), 404, "user_not_found")
    assert expect(a.conversations(), 200)["conversations"] == []


def test_direct_bad_uuid_400(mp):
    a = mp.new_user("dbu")
    expect(a.create_direct("not-a-uuid"), 400, "invalid_request")
    expect(a.post("/v1/conversations", {"type": "direct", "member_ids": [42]}),
           400, "invalid_request")


@pytest.mark.parametrize("body", [
    {"type": "channel", "name": "x", "member_ids": []},
    {"type": 1, "member_ids": []},
    {"member_ids": []},
    {"type": "group", "member_ids": "not-a-list"},
    {"type": "group", "name": 5, "member_ids": []},
])
def test_create_bad_body_400(mp, body):
    a = mp.new_user("bad")
    expect(a.post("/v1/conversations", body), 400, "invalid_request")


# ------------------------------------------------------------- group


def test_group_create_creator_admin(mp):
    a, b, c = mp.new_users(3, "grp")
    conv = expect(a.create_group("Team Rocket", [b.user_id, c.user_id]), 201)
    assert set(conv) >= CONV_KEYS
    assert conv["type"] == "group" and conv["name"] == "Team Rocket"
    assert conv["member_count"] == 3 and conv["last_seq"] == 0
    cid = conv["conversation_id"]
    assert a.conv_entry(cid)["role"] == "admin"
    assert b.conv_entry(cid)["role"] == "member"
    assert c.conv_entry(cid)["role"] == "member"
    members, _ = a.members_all(cid)
    roles = {m["user_id"]: m["role"] for m in members}
    assert roles == {a.user_id: "admin", b.user_id: "member", c.user_id: "member"}


def test_group_creator_in_list_and_duplicates_ignored(mp):
    a, b = mp.new_users(2, "dup")
    conv = expect(a.create_group("dups", [a.user_id, b.user_id, b.user_id, a.user_id]), 201)
    assert conv["member_count"] == 2
    assert a.conv_entry(conv["conversation_id"])["role"] == "admin"


def test_group_alone_ok(mp):
    a = mp.new_user("solo")
    conv = expect(a.create_group("just me", []), 201)
    assert conv["member_count"] == 1


@pytest.mark.parametrize("name", ["", "x" * 129, "\u00e9" * 65])  # 0, 129, 130 bytes
def test_group_bad_name_400(mp, name):
    a = mp.new_user("gn")
    expect(a.create_group(name, []), 400, "invalid_request")


@pytest.mark.parametrize("name", ["x", "x" * 128, "\u00e9" * 64, "\U0001F600" * 32])
def test_group_name_bounds_ok(mp, name):
    a = mp.new_user("gn")
    assert expect(a.create_group(name, []), 201)["name"] == name


def test_group_missing_name_400(mp):
    a = mp.new_user("gm")
    expect(a.post("/v1/conversations", {"type": "group", "member_ids": []}), 400, "invalid_request")


def test_group_unknown_member_404_nothing_created(mp):
    a, b = mp.new_users(2, "gu")
    expect(a.create_group("ghosts", [b.user_id, str(uuid.uuid4())]), 404, "user_not_found")
    assert expect(a.conversations(), 200)["conversations"] == []
    assert expect(b.conversations(), 200)["conversations"] == []


def test_group_over_1000_ids_400(mp):
    a = mp.new_user("big")
    ids = [str(uuid.uuid4()) for _ in range(1001)]
    expect(a.create_group("too many", ids), 400, "invalid_request")


# ------------------------------------------------------------- list / get


def test_list_most_recent_first_and_unread(mp):
    a, b = mp.new_users(2, "lst")
    g1 = a.group("first", [b])
    g2 = a.group("second", [b])
    g3 = a.group("third", [b])
    ids = [g1["conversation_id"], g2["conversation_id"], g3["conversation_id"]]
    # Sleeps only separate the activity times (ms resolution) for ordering.
    time.sleep(0.02)
    for _ in range(3):
        a.send_ok(ids[0], "hello")
    time.sleep(0.02)
    b.send_ok(ids[1], "hi")
    convs = expect(b.conversations(), 200)["conversations"]
    assert _ids(convs)[:2] == [ids[1], ids[0]]
    assert set(_ids(convs)) == set(ids)
    by = {c["conversation_id"]: c for c in convs}
    for c in convs:
        assert set(c) >= LIST_KEYS, c
    assert (by[ids[0]]["last_seq"], by[ids[0]]["last_read_seq"], by[ids[0]]["unread_count"]) == (3, 0, 3)
    assert (by[ids[1]]["last_seq"], by[ids[1]]["last_read_seq"], by[ids[1]]["unread_count"]) == (1, 1, 0)
    assert by[ids[2]]["unread_count"] == 0
    assert by[ids[0]]["role"] == "member"
    mine = {c["conversation_id"]: c for c in expect(a.conversations(), 200)["conversations"]}
    assert mine[ids[0]]["unread_count"] == 0 and mine[ids[0]]["last_read_seq"] == 3
    assert mine[ids[1]]["unread_count"] == 1
    assert mine[ids[0]]["role"] == "admin"
    # Activity moves a conversation to the front.
    time.sleep(0.02)
    a.send_ok(ids[2], "now me")
    assert _ids(expect(b.conversations(), 200)["conversations"])[0] == ids[2]


def test_get_conversation(mp):
    a, b, c = mp.new_users(3, "get")
    conv = a.group("getme", [b])
    cid = conv["conversation_id"]
    a.send_ok(cid, "1")
    a.send_ok(cid, "2")
    got = expect(b.conversation(cid), 200)
    assert set(got) >= LIST_KEYS
    assert got["conversation_id"] == cid and got["type"] == "group" and got["name"] == "getme"
    assert got["last_seq"] == 2 and got["last_read_seq"] == 0 and got["unread_count"] == 2
    assert got["role"] == "member" and got["member_count"] == 2
    assert got["created_at"] == conv["created_at"]
    mine = expect(a.conversation(cid), 200)
    assert mine["role"] == "admin" and mine["unread_count"] == 0
    expect(c.conversation(cid), 403, "not_a_member")
    expect(c.conversation(str(uuid.uuid4())), 404, "not_found")
    expect_bad_path_id(c.conversation("nope"))


# ------------------------------------------------------------- add members


def test_add_members_admin(mp):
    a, b, c, d = mp.new_users(4, "add")
    cid = a.group("adders", [b])["conversation_id"]
    body = expect(a.add_members(cid, [c.user_id, d.user_id]), 200)
    assert body == {"added": 2} or body["added"] == 2
    assert expect(a.conversation(cid), 200)["member_count"] == 4
    assert c.conv_entry(cid)["role"] == "member"
    expect(d.messages(cid), 200)


def test_add_members_non_admin_403_forbidden(mp):
    a, b, c = mp.new_users(3, "add")
    cid = a.group("adders", [b])["conversation_id"]
    expect(b.add_members(cid, [c.user_id]), 403, "forbidden")
    expect(c.messages(cid), 403, "not_a_member")


def test_add_members_non_member_403(mp):
    a, b, c = mp.new_users(3, "add")
    cid = a.group("adders", [b])["conversation_id"]
    expect(c.add_members(cid, [c.user_id]), 403, "not_a_member")


def test_add_members_as_admin_role(mp):
    a, b, c = mp.new_users(3, "adm")
    cid = a.group("admins", [])["conversation_id"]
    expect(a.add_members(cid, [b.user_id], role="admin"), 200)
    assert b.conv_entry(cid)["role"] == "admin"
    expect(b.add_members(cid, [c.user_id]), 200)
    assert c.conv_entry(cid)["role"] == "member"
    expect(a.add_members(cid, [c.user_id], role="owner"), 400, "invalid_request")


def test_add_members_direct_400(mp):
    a, b, c = mp.new_users(3, "add")
    cid = a.direct(b)["conversation_id"]
    expect(a.add_members(cid, [c.user_id]), 400, "invalid_request")


def test_add_members_over_1000_400(mp):
    a = mp.new_user("add")
    cid = a.group("big", [])["conversation_id"]
    expect(a.add_members(cid, [str(uuid.uuid4()) for _ in range(1001)]), 400, "invalid_request")


def test_add_members_unknown_404_nothing_added(mp):
    a, b = mp.new_users(2, "add")
    cid = a.group("atomic", [])["conversation_id"]
    expect(a.add_members(cid, [b.user_id, str(uuid.uuid4())]), 404, "user_not_found")
    assert expect(a.conversation(cid), 200)["member_count"] == 1
    expect(b.conversation(cid), 403, "not_a_member")


def test_add_members_bad_bodies_400(mp):
    a = mp.new_user("add")
    cid = a.group("bad", [])["conversation_id"]
    expect(a.post("/v1/conversations/%s/members" % cid, {}), 400, "invalid_request")
    expect(a.post("/v1/conversations/%s/members" % cid, {"user_ids": ["zzz"]}), 400, "invalid_request")


def test_add_members_unknown_conversation_404(mp):
    a, b = mp.new_users(2, "add")
    expect(a.add_members(str(uuid.uuid4()), [b.user_id]), 404, "not_found")


def test_add_exactly_1000_and_page_members(mp):
    a = mp.new_user("k")
    users = mp.bulk_users(1000)
    cid = a.group("thousand", [])["conversation_id"]
    body = expect(a.add_members(cid, [u.user_id for u in users]), 200)
    assert body["added"] == 1000
    assert expect(a.conversation(cid), 200)["member_count"] == 1001
    members, pages = a.members_all(cid, limit=1000)
    assert pages == [1000, 1]
    assert sorted(m["user_id"] for m in members) == sorted([a.user_id] + [u.user_id for u in users])


# ------------------------------------------------------------- remove


def test_remove_member_by_admin_204(mp):
    a, b, c = mp.new_users(3, "rm")
    cid = a.group("rm", [b, c])["conversation_id"]
    r = a.remove_member(cid, b.user_id)
    assert r.status_code == 204, r.text
    assert r.content == b""
    expect(b.messages(cid), 403, "not_a_member")
    expect(b.conversation(cid), 403, "not_a_member")
    assert b.conv_entry(cid) is None
    assert expect(a.conversation(cid), 200)["member_count"] == 2


def test_remove_self_leave_204(mp):
    a, b = mp.new_users(2, "rm")
    cid = a.group("leave", [b])["conversation_id"]
    assert b.remove_member(cid, b.user_id).status_code == 204
    assert b.conv_entry(cid) is None
    expect(b.send(cid, "still here?"), 403, "not_a_member")


def test_remove_other_non_admin_403(mp):
    a, b, c = mp.new_users(3, "rm")
    cid = a.group("rm", [b, c])["conversation_id"]
    expect(b.remove_member(cid, c.user_id), 403, "forbidden")
    expect(b.remove_member(cid, a.user_id), 403, "forbidden")
    assert expect(a.conversation(cid), 200)["member_count"] == 3


def test_remove_not_a_member_404(mp):
    a, b = mp.new_users(2, "rm")
    cid = a.group("rm", [])["conversation_id"]
    expect(a.remove_member(cid, b.user_id), 404, "not_found")
    expect(a.remove_member(cid, str(uuid.uuid4())), 404, "not_found")


def test_remove_by_outsider_403(mp):
    a, b, c = mp.new_users(3, "rm")
    cid = a.group("rm", [b])["conversation_id"]
    r = c.remove_member(cid, b.user_id)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] in ("forbidden", "not_a_member")


def test_rejoin_after_leave(mp):
    a, b = mp.new_users(2, "rj")
    cid = a.group("rejoin", [b])["conversation_id"]
    assert b.remove_member(cid, b.user_id).status_code == 204
    assert expect(a.add_members(cid, [b.user_id]), 200)["added"] == 1
    expect(b.messages(cid), 200)


# ------------------------------------------------------------- members paging


def test_members_paging_250_with_limit_100(mp):
    a = mp.new_user("pg")
    users = mp.bulk_users(250)
    cid = a.group("paging", [u.user_id for u in users[:120]])["conversation_id"]
    expect(a.add_members(cid, [u.user_id for u in users[120:]]), 200)
    members, pages = a.members_all(cid, limit=100)
    assert pages == [100, 100, 51]
    ids = [m["user_id"] for m in members]
    assert len(ids) == len(set(ids)) == 251
    assert set(ids) == {a.user_id} | {u.user_id for u in users}
    assert ids == sorted(ids), "members must be ordered by user_id"
    names = {u.user_id: u.username for u in users}
    names[a.user_id] = a.username
    for m in members:
        assert set(m) >= {"user_id", "username", "role", "joined_at"}
        assert m["username"] == names[m["user_id"]]
        assert m["role"] == ("admin" if m["user_id"] == a.user_id else "member")
        parse_time(m["joined_at"])
    # Default limit is 100.
    first = expect(a.members(cid), 200)
    assert len(first["members"]) == 100 and first["next_cursor"] is not None
    # A member (not only the admin) may list; outsiders may not.
    expect(users[0].members(cid, limit=5), 200)
    outsider = mp.new_user("out")
    expect(outsider.members(cid), 403, "not_a_member")


def test_members_small_single_page(mp):
    a, b = mp.new_users(2, "pg")
    cid = a.group("small", [b])["conversation_id"]
    body = expect(a.members(cid), 200)
    assert len(body["members"]) == 2 and body["next_cursor"] is None


@pytest.mark.parametrize("q", ["limit=abc", "limit=-1", "cursor=%00%01garbage"])
def test_members_bad_query_400(mp, q):
    a = mp.new_user("pq")
    cid = a.group("q", [])["conversation_id"]
    expect(a.get("/v1/conversations/%s/members?%s" % (cid, q)), 400, "invalid_request")


def test_new_member_sees_conversation_in_list(mp):
    a, b = mp.new_users(2, "see")
    cid = a.group("visible", [])["conversation_id"]
    assert b.conv_entry(cid) is None
    expect(a.add_members(cid, [b.user_id]), 200)
    entry = b.conv_entry(cid)
    assert entry is not None and entry["role"] == "member" and entry["member_count"] == 2


def test_direct_members_cannot_be_removed_400(mp):
    a, b = mp.new_users(2, "dleave")
    conv = expect(a.create_direct(b.user_id), 201)
    assert conv["member_count"] == 2
    cid = conv["conversation_id"]
    expect(b.remove_member(cid, b.user_id), 400, "invalid_request")
    expect(a.remove_member(cid, b.user_id), 400, "invalid_request")
    again = expect(b.create_direct(a.user_id), 200)
    assert again["conversation_id"] == cid and again["member_count"] == 2


def test_user_lookup_by_invalid_name_400(mp):
    a = mp.new_user("badname")
    expect(a.get("/v1/users?username=a"), 400, "invalid_request")
    expect(a.get("/v1/users?username=" + "x" * 40), 400, "invalid_request")
    expect(a.get("/v1/users?username=has%20space"), 400, "invalid_request")
    expect(a.get("/v1/users"), 400, "invalid_request")
    expect(a.get("/v1/users?username=nobody_here"), 404, "not_found")
