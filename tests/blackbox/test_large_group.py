"""Large groups: one group of 10,000 members (bulk-created users), 1,000 of
them connected. Every connected member receives every message exactly once
and in seq order; members who were offline catch up from history; the
member list pages through everyone; unread counts are exact."""
import asyncio
import json

import websockets

from parley_client import Api, expect, parse_user_lines, run_cli

MEMBERS = 10_000
CONNECTED = 1_000
MESSAGES = 20


def make_users(srv, n, prefix):
    r = run_cli(["admin", "create-users", "--count", str(n), "--prefix", prefix,
                 "--data-dir", srv.data_dir], timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = parse_user_lines(r.stdout)
    assert len(rows) == n
    return rows  # (user_id, username, token)


async def connect_all(url, tokens):
    conns = []
    for i in range(0, len(tokens), 100):  # in waves: no SYN storm
        batch = await asyncio.gather(*[
            websockets.connect(url, additional_headers={"Authorization": "Bearer " + t},
                               max_queue=None, open_timeout=30)
            for t in tokens[i:i + 100]])
        for ws in batch:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert hello["type"] == "hello"
        conns.extend(batch)
    return conns


async def collect(ws, cid, want, seen):
    while len(seen) < want:
        frame = json.loads(await ws.recv())
        if frame.get("type") == "message" and frame["conversation_id"] == cid:
            seen.append(frame["seq"])


async def fan_out(srv, cid, tokens, owner):
    conns = await connect_all(srv.ws_url, tokens)
    seen = [[] for _ in conns]
    tasks = [asyncio.create_task(collect(ws, cid, MESSAGES, s)) for ws, s in zip(conns, seen)]
    loop = asyncio.get_running_loop()
    for i in range(MESSAGES):
        r = await loop.run_in_executor(None, lambda i=i: owner.post(
            "/v1/conversations/%s/messages" % cid,
            {"client_msg_id": "big-%d" % i, "content": "hello crowd %d" % i}))
        expect(r, 201)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    for ws in conns:
        await ws.close()
    return seen


def test_10k_group_1k_connected(server_factory):
    # 1,000 sessions from one address within seconds: above the
    # per-address defaults (1000 open, 50/s after a burst of 500)
    srv = server_factory.start(["--sqlite-synchronous", "normal",
                                "--max-connections-per-ip", "0",
                                "--conn-rate-per-ip", "0"])
    rows = make_users(srv, MEMBERS, "crowd")
    owner = Api(srv.url, rows[0][2])
    ids = [r[0] for r in rows]
    conv = expect(owner.post("/v1/conversations", {"type": "group", "name": "crowd",
                                                   "member_ids": ids[1:1000]}), 201)
    cid = conv["conversation_id"]
    for i in range(1000, MEMBERS, 1000):
        body = expect(owner.post("/v1/conversations/%s/members" % cid,
                                 {"user_ids": ids[i:i + 1000]}), 200)
        assert body["added"] == len(ids[i:i + 1000])
    got = expect(owner.get("/v1/conversations/%s" % cid), 200)
    assert got["member_count"] == MEMBERS

    online = [r[2] for r in rows[1:CONNECTED + 1]]
    seen = asyncio.run(fan_out(srv, cid, online, owner))
    want = list(range(1, MESSAGES + 1))
    bad = [i for i, s in enumerate(seen) if s != want]
    assert not bad, "connection %d saw %r" % (bad[0], seen[bad[0]][:40])

    # an offline member catches up from history, without gaps
    late = Api(srv.url, rows[-1][2])
    page = expect(late.get("/v1/conversations/%s/messages?after_seq=0&limit=200" % cid), 200)
    assert [m["seq"] for m in page["messages"]] == want and not page["has_more"]
    # unread counts: the sender read everything, an offline member nothing
    entry = [c for c in expect(late.get("/v1/conversations"), 200)["conversations"]
             if c["conversation_id"] == cid][0]
    assert entry["unread_count"] == MESSAGES and entry["last_seq"] == MESSAGES
    mine = expect(owner.get("/v1/conversations/%s" % cid), 200)
    assert mine["unread_count"] == 0
    # the member list pages through all 10,000 exactly once
    members, cursor = [], None
    while True:
        q = "?limit=1000" + ("&cursor=" + cursor if cursor else "")
        body = expect(owner.get("/v1/conversations/%s/members%s" % (cid, q)), 200)
        members += [m["user_id"] for m in body["members"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(members) == MEMBERS and set(members) == set(ids)
    owner.close()
    late.close()


def test_100k_member_group(server_factory):
    """A 100,000-member group: bulk adds, sends (written once, whatever the
    size), member paging, and the group in members' lists with the right
    unread count."""
    import random
    n = 100_000
    srv = server_factory.start(["--sqlite-synchronous", "normal"])
    rows = make_users(srv, n, "huge")
    owner = Api(srv.url, rows[0][2])
    ids = [r[0] for r in rows]
    cid = expect(owner.post("/v1/conversations", {"type": "group", "name": "huge",
                                                  "member_ids": ids[1:1000]}), 201)["conversation_id"]
    for i in range(1000, n, 1000):
        expect(owner.post("/v1/conversations/%s/members" % cid, {"user_ids": ids[i:i + 1000]}), 200)
    for i in range(5):
        expect(owner.post("/v1/conversations/%s/messages" % cid,
                          {"client_msg_id": "h%d" % i, "content": "to everyone %d" % i}), 201)
    assert expect(owner.get("/v1/conversations/%s" % cid), 200)["member_count"] == n
    seen, cursor = 0, None
    while True:
        q = "?limit=1000" + ("&cursor=" + cursor if cursor else "")
        body = expect(owner.get("/v1/conversations/%s/members%s" % (cid, q)), 200)
        seen += len(body["members"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == n
    for uid, _, tok in random.Random(5).sample(rows[1:], 20):
        member = Api(srv.url, tok)
        entry = [c for c in expect(member.get("/v1/conversations"), 200)["conversations"]
                 if c["conversation_id"] == cid]
        assert entry and entry[0]["unread_count"] == 5 and entry[0]["member_count"] == n
        member.close()
    body = expect(owner.get("/v1/conversations/%s/presence" % cid), 200)
    assert body["member_count"] == n and "online_user_ids" not in body
    owner.close()
