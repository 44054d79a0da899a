"""Interop: a scripted session with the Node `ws` library, a WebSocket
client independent of ours and of Python's websockets (which the rest of
the suite uses). tests/interop/ws_session.mjs does the session; this test
starts parleyd (port 0, temporary data dir), runs it, and checks its
result against the server's own record over REST.

Node and tests/interop/node_modules come from `scripts/deps.sh test`
(`npm ci` against the committed package-lock.json)."""

import json
import os
import shutil
import subprocess

from parley_client import REPO, Parley, expect

INTEROP = os.path.join(REPO, "tests", "interop")


def _node():
    node = shutil.which("node")
    assert node, "node not found: run scripts/deps.sh test"
    ws_pkg = os.path.join(INTEROP, "node_modules", "ws", "package.json")
    assert os.path.exists(ws_pkg), \
        "tests/interop/node_modules missing: run scripts/deps.sh test (npm ci)"
    with open(ws_pkg) as f:
        version = json.load(f)["version"]
    with open(os.path.join(INTEROP, "package.json")) as f:
        assert json.load(f)["dependencies"]["ws"] == version, \
            "installed ws %s is not the pinned one: run scripts/deps.sh test" % version
    return node


def test_node_ws_session(server):
    node = _node()
    p = Parley(server)
    try:
        alice, bob = p.new_user("nodea"), p.new_user("nodeb")
        r = subprocess.run([node, os.path.join(INTEROP, "ws_session.mjs"), server.url,
                            alice.username, alice.password, bob.username],
                           cwd=INTEROP, capture_output=True, text=True, timeout=90)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        assert r.returncode == 0 and lines, \
            "node session failed (%d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
        out = json.loads(lines[-1])
        assert out["ok"] is True and out["close_code"] == 1000
        assert out["extensions"] == ""          # permessage-deflate declined
        assert out["seqs"] == [1, 2]
        assert out["heartbeat_interval_ms"] == 30000
        # The server stored exactly what the library sent, fragments joined.
        hist = expect(bob.messages(out["conversation_id"]), 200)["messages"]
        assert [(m["client_msg_id"], m["content"], m["sender_id"]) for m in hist] == [
            ("node-1", "hello from node ws", alice.user_id),
            ("node-2", "fragments: h\u00e9llo \u20ac \U0001f600", alice.user_id)]
        # The session ended with a clean close handshake, not a drop.
        assert server.wait_log(lambda o: o.get("event") == "ws_close" and o.get("code") == 1000,
                               10) is not None
    finally:
        p.close()
