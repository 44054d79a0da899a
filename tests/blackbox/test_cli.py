"""The `parley` command-line client against a real parleyd."""

import os
import queue
import subprocess
import threading
import time

from parley_client import (UUID_ANY_RE, Api, User, clean_env, expect, jwt_parts, parley_path,
                           parse_user_lines, run_cli, unique_name)

PW = "cli password 123"


def _api(url, token):
    return User(url, None, None, token)


def _ok(r):
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout[-2000:],
                                                                   r.stderr[-2000:])
    return r


def _token_file(home):
    return os.path.join(str(home), ".config", "parley", "token")


def _cli_user(server, tmp_path, tag):
    """Register + login through the CLI; returns (name, home, token)."""
    name = unique_name(tag)
    home = tmp_path / ("home-" + name)
    home.mkdir()
    _ok(run_cli(["--url", server.url, "register", name, "--password", PW], home=home))
    _ok(run_cli(["--url", server.url, "login", name], home=home, env={"PARLEY_PASSWORD": PW}))
    with open(_token_file(home)) as f:
        token = f.read().strip()
    return name, home, token


def test_register_and_login_write_token(server, tmp_path):
    name, home, token = _cli_user(server, tmp_path, "cli")
    me = expect(_api(server.url, token).me(), 200)
    assert me["username"] == name
    _, claims, _ = jwt_parts(token)
    assert claims["usr"] == name


def test_register_password_from_env_and_login_flag(server, tmp_path):
    name = unique_name("env")
    home = tmp_path / "h"
    home.mkdir()
    _ok(run_cli(["register", name], home=home,
                env={"PARLEY_URL": server.url, "PARLEY_PASSWORD": PW}))
    _ok(run_cli(["login", name, "--password", PW], home=home, env={"PARLEY_URL": server.url}))
    assert os.path.exists(_token_file(home))
    expect(Api(server.url).login(name, PW), 200)


def test_login_wrong_password_fails(server, tmp_path):
    name, home, _ = _cli_user(server, tmp_path, "bad")
    r = run_cli(["--url", server.url, "login", name, "--password", "wrong password"], home=home)
    assert r.returncode != 0
    r = run_cli(["--url", server.url, "register", name, "--password", PW], home=home)
    assert r.returncode != 0, "registering a taken name must fail"


def test_create_send_history_conversations(server, tmp_path):
    a, home_a, tok_a = _cli_user(server, tmp_path, "ca")
    b, home_b, tok_b = _cli_user(server, tmp_path, "cb")
    c, home_c, tok_c = _cli_user(server, tmp_path, "cc")
    url = ["--url", server.url]

    r = _ok(run_cli(url + ["create", "direct", b], home=home_a))
    ids = UUID_ANY_RE.findall(r.stdout)
    assert ids, "create direct printed no conversation id: %r" % r.stdout
    direct = ids[0]
    api_b = _api(server.url, tok_b)
    convs = expect(api_b.conversations(), 200)["conversations"]
    assert [x["conversation_id"] for x in convs] == [direct]
    assert convs[0]["type"] == "direct"

    r = _ok(run_cli(url + ["create", "group", "cli-group", b, c], home=home_a))
    group = UUID_ANY_RE.findall(r.stdout)[0]
    g = expect(_api(server.url, tok_c).conversation(group), 200)
    assert g["type"] == "group" and g["name"] == "cli-group" and g["member_count"] == 3

    _ok(run_cli(url + ["send", group, "hello", "from", "the", "cli"], home=home_a))
    _ok(run_cli(url + ["send", group, "second line"], home=home_b, env={}))
    _ok(run_cli(["send", group, "third"], home=home_c,
                env={"PARLEY_URL": server.url, "PARLEY_TOKEN": tok_c}))
    hist = expect(api_b.messages(group), 200)["messages"]
    assert [m["content"] for m in hist] == ["hello from the cli", "second line", "third"]

    r = _ok(run_cli(url + ["history", group], home=home_c))
    out = r.stdout
    assert "hello from the cli" in out and "second line" in out and "third" in out
    assert out.index("hello from the cli") < out.index("second line") < out.index("third")
    r = _ok(run_cli(url + ["history", group, "--limit", "1"], home=home_c))
    assert "third" in r.stdout and "hello from the cli" not in r.stdout
    r = _ok(run_cli(url + ["history", group, "--after", "1"], home=home_c))
    assert "second line" in r.stdout and "hello from the cli" not in r.stdout
    r = _ok(run_cli(url + ["history", group, "--before", "2"], home=home_c))
    assert "hello from the cli" in r.stdout and "second line" not in r.stdout

    r = _ok(run_cli(url + ["conversations"], home=home_b))
    assert direct in r.stdout and group in r.stdout


def test_token_flag_overrides_file(server, tmp_path):
    a, home_a, tok_a = _cli_user(server, tmp_path, "tf")
    b, home_b, tok_b = _cli_user(server, tmp_path, "tg")
    r = _ok(run_cli(["--url", server.url, "--token", tok_b, "create", "group", "by-b"], home=home_a))
    gid = UUID_ANY_RE.findall(r.stdout)[0]
    assert expect(_api(server.url, tok_b).conversation(gid), 200)["role"] == "admin"
    expect(_api(server.url, tok_a).conversation(gid), 403, "not_a_member")


def test_cli_errors_exit_nonzero(server, tmp_path):
    a, home_a, _ = _cli_user(server, tmp_path, "ce")
    url = ["--url", server.url]
    assert run_cli(url + ["send", "00000000-0000-4000-8000-000000000000", "x"], home=home_a).returncode != 0
    assert run_cli(url + ["create", "direct", unique_name("ghost")], home=home_a).returncode != 0
    assert run_cli(url + ["no-such-command"], home=home_a).returncode != 0
    empty = tmp_path / "empty-home"
    empty.mkdir()
    assert run_cli(url + ["conversations"], home=empty).returncode != 0  # no token anywhere


def test_listen_receives_message(server, tmp_path):
    a, home_a, tok_a = _cli_user(server, tmp_path, "la")
    b, home_b, tok_b = _cli_user(server, tmp_path, "lb")
    api_a = _api(server.url, tok_a)
    me_b = expect(_api(server.url, tok_b).me(), 200)
    cid = expect(api_a.create_direct(me_b["user_id"]), 201)["conversation_id"]

    env = clean_env({"HOME": str(home_b)})
    env.pop("XDG_CONFIG_HOME", None)
    proc = subprocess.Popen([parley_path(), "--url", server.url, "listen"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=reader, daemon=True).start()
    try:
        # listen may need a moment to connect: resend until a line shows up.
        deadline = time.monotonic() + 20
        sent = []
        got = None
        while got is None and time.monotonic() < deadline:
            text = "ping from a #%d" % len(sent)
            expect(api_a.send(cid, text), 201)
            sent.append(text)
            try:
                while True:
                    line = lines.get(timeout=1.0)
                    if any(s in line for s in sent):
                        got = line
                        break
            except queue.Empty:
                pass
            assert proc.poll() is None, "parley listen exited: %s" % proc.stderr.read()
        assert got is not None, "parley listen printed nothing for %r" % sent
        # Once connected, the next message arrives as its own line.
        expect(api_a.send(cid, "the real one"), 201)
        deadline = time.monotonic() + 10
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if "the real one" in line:
                break
        assert "\n" not in line.rstrip("\n")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_admin_create_users_1000_fast_and_tokens_work(server):
    prefix = unique_name("adm")[:10]
    t0 = time.monotonic()
    r = run_cli(["admin", "create-users", "--count", "1000", "--prefix", prefix,
                 "--data-dir", server.data_dir], timeout=60)
    elapsed = time.monotonic() - t0
    _ok(r)
    assert elapsed < 10, "create-users --count 1000 took %.1fs" % elapsed
    rows = parse_user_lines(r.stdout)
    assert len(rows) == 1000
    assert len({uid for uid, _, _ in rows}) == 1000
    assert len({name.lower() for _, name, _ in rows}) == 1000
    for uid, name, tok in rows:
        assert name.startswith(prefix), name
    api = Api(server.url)
    for uid, name, tok in rows:
        r = api.get("/v1/me", headers={"Authorization": "Bearer " + tok})
        body = expect(r, 200)
        assert (body["user_id"], body["username"]) == (uid, name)
    # They are real users: visible by name.
    first = _api(server.url, rows[0][2])
    assert expect(first.user_by_name(rows[-1][1]), 200)["user_id"] == rows[-1][0]


def test_admin_token(server, tmp_path):
    name = unique_name("tok")
    api = Api(server.url)
    reg = expect(api.register(name, PW), 201)
    r = _ok(run_cli(["admin", "token", name, "--data-dir", server.data_dir]))
    token = r.stdout.strip().split()[-1]
    me = expect(_api(server.url, token).me(), 200)
    assert me["user_id"] == reg["user_id"]
    r = run_cli(["admin", "token", unique_name("nobody"), "--data-dir", server.data_dir])
    assert r.returncode != 0


def test_admin_create_users_then_group_and_send(server, tmp_path):
    r = _ok(run_cli(["admin", "create-users", "--count", "3", "--prefix", unique_name("g")[:8],
                     "--data-dir", server.data_dir]))
    rows = parse_user_lines(r.stdout)
    (u1, n1, t1), (u2, n2, t2), (u3, n3, t3) = rows
    home = tmp_path / "h1"
    home.mkdir()
    r = _ok(run_cli(["--url", server.url, "--token", t1, "create", "group", "admins", n2, n3],
                    home=home))
    gid = UUID_ANY_RE.findall(r.stdout)[0]
    _ok(run_cli(["send", gid, "made by admin users"], home=home,
                env={"PARLEY_URL": server.url, "PARLEY_TOKEN": t3}))
    hist = expect(_api(server.url, t2).messages(gid), 200)["messages"]
    assert [(m["sender_id"], m["content"]) for m in hist] == [(u3, "made by admin users")]


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_listen_resumes_without_gaps_across_a_restart(server_factory, tmp_path):
    """`parley listen` survives a server restart (close 1001, reconnect with
    backoff) and prints every message exactly once, in seq order, also the
    ones sent while it was reconnecting (filled from history)."""
    port = _free_port()
    data = str(tmp_path / "data")

    def start():
        return server_factory.start(
            ["--listen", "127.0.0.1:%d" % port, "--data-dir", data, "--argon-opslimit", "1",
             "--argon-memlimit", "8388608", "--log-level", "debug"], base_args=False,
            data_dir=data)

    srv = start()
    a, home_a, tok_a = _cli_user(srv, tmp_path, "ra")
    b, home_b, tok_b = _cli_user(srv, tmp_path, "rb")
    api_a = _api(srv.url, tok_a)
    cid = expect(api_a.create_direct(expect(_api(srv.url, tok_b).me(), 200)["user_id"]),
                 201)["conversation_id"]
    env = clean_env({"HOME": str(home_b)})
    env.pop("XDG_CONFIG_HOME", None)
    proc = subprocess.Popen([parley_path(), "--url", srv.url, "listen", cid], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines, errs = queue.Queue(), queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [errs.put(l) for l in proc.stderr], daemon=True).start()
    deadline = time.monotonic() + 30  # subscribed: later messages are new
    while "listening" not in errs.get(timeout=max(0.1, deadline - time.monotonic())):
        pass

    def wait_for(text, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            printed.append(line)
            if text in line:
                return

    printed = []
    try:
        expect(api_a.send(cid, "first"), 201)  # listen prints it live or from history
        wait_for("first")
        srv.stop()          # listen sees close 1001 and backs off
        srv = start()       # same port, same data
        api_a = _api(srv.url, tok_a)
        for i in range(5):  # sent while listen is reconnecting
            expect(api_a.send(cid, "during %d" % i), 201)
        wait_for("during 4")
        expect(api_a.send(cid, "after"), 201)
        wait_for("after")
        seqs = [int(l.split("#")[1].split()[0]) for l in printed if "#" in l]
        assert seqs == list(range(1, 8)), printed
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
