"""Tokens: an open WebSocket is closed (4001) when its token expires; key
rotation by kid (`parley admin rotate-key` / `retire-key`, SIGHUP and the
file watch); and every way a token can be wrong, with tokens signed by the
server's real key (read from DATA_DIR/jwt-keys) so each check is reached
on its own, not stopped by a bad signature first."""

import base64
import hashlib
import hmac
import json
import os
import signal
import time
import uuid

import pytest

from parley_client import (Parley, expect, jwt_parts, jwt_sign, jwt_unsigned,
                           run_cli, unique_name)
from rawws import HandshakeRejected, RawWS

PW = "correct horse battery"


def _keys(data_dir):
    """[(kid, secret bytes)] from DATA_DIR/jwt-keys, signing key first."""
    out = []
    with open(os.path.join(data_dir, "jwt-keys")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                kid, hexkey = line.split()
                out.append((kid, bytes.fromhex(hexkey)))
    return out


def _reloaded(srv, start, trigger=None):
    ev = srv.wait_log(lambda o: o.get("event") == "jwt_keys_reloaded" and
                      (trigger is None or o.get("trigger") == trigger), 10, start)
    assert ev is not None, "keys not reloaded\n" + srv.log_text()
    return ev


def _me(srv, token):
    import httpx
    with httpx.Client(base_url=srv.url, timeout=30, trust_env=False) as c:
        return c.get("/v1/me", headers={"Authorization": "Bearer " + token})


# ---------------------------------------------------------------- expiry


def test_websocket_closed_when_its_token_expires(server_factory):
    srv = server_factory.start(["--token-ttl", "2", "--jwt-leeway", "0"])
    p = Parley(srv)
    try:
        a = p.new_user("exp")  # a 2 s token from POST /v1/auth/login
        _, claims, _ = jwt_parts(a.token)
        # a token minted by the admin CLI lives token-ttl of the CLI (1 day)
        r = run_cli(["admin", "token", a.username, "--data-dir", srv.data_dir])
        assert r.returncode == 0, r.stderr
        long_lived = r.stdout.strip()
        short = p.raw_ws(a.token)
        assert short.recv_json()["type"] == "hello"
        keep = p.ws(long_lived)
        code, reason, _ = short.read_close(timeout=15)
        closed_at = time.time()
        assert code == 4001 and reason == b"token expired", (code, reason)
        assert claims["exp"] <= closed_at <= claims["exp"] + 3, (claims, closed_at)
        keep.ping_pong()  # the session with a valid token is untouched
        assert srv.wait_log(lambda o: o.get("event") == "ws_close" and o.get("code") == 4001, 5)
        # and the expired token is refused everywhere now
        expect(_me(srv, a.token), 401, "unauthorized")
    finally:
        p.close()


def test_parley_listen_stops_when_its_token_expires(server_factory, tmp_path):
    srv = server_factory.start(["--token-ttl", "2", "--jwt-leeway", "0"])
    p = Parley(srv)
    try:
        a = p.new_user("cli")
        r = run_cli(["--url", srv.url, "--token", a.token, "listen"], home=tmp_path,
                    timeout=30)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "log in again" in r.stderr, r.stderr
    finally:
        p.close()


def test_leeway_keeps_a_session_open_past_exp(server_factory):
    srv = server_factory.start(["--token-ttl", "1", "--jwt-leeway", "3"])
    p = Parley(srv)
    try:
        a = p.new_user("lw")
        _, claims, _ = jwt_parts(a.token)
        ws = p.raw_ws(a.token)
        assert ws.recv_json()["type"] == "hello"
        code, reason, _ = ws.read_close(timeout=15)
        assert code == 4001, (code, reason)
        assert time.time() >= claims["exp"] + 3  # not before exp + leeway
    finally:
        p.close()


# ---------------------------------------------------------------- rotation


def test_key_rotation_and_retirement(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    try:
        a = p.new_user("rot")
        old_kid = jwt_parts(a.token)[0]["kid"]
        assert [k for k, _ in _keys(srv.data_dir)] == [old_kid]
        old_ws = p.raw_ws(a.token)
        assert old_ws.recv_json()["type"] == "hello"

        mark = len(srv.lines)
        r = run_cli(["admin", "rotate-key", "--data-dir", srv.data_dir])
        assert r.returncode == 0, r.stderr
        new_kid = r.stdout.strip()
        assert new_kid and new_kid != old_kid
        ev = _reloaded(srv, mark, "file_changed")  # no signal needed
        assert ev["signing_kid"] == new_kid and ev["keys"] == 2
        r = run_cli(["admin", "list-keys", "--data-dir", srv.data_dir])
        assert r.stdout.splitlines() == ["%s\tsigning" % new_kid, "%s\tverify" % old_kid]

        # new tokens carry the new kid; old tokens keep working
        fresh = expect(p.login(a.username, a.password), 200)["token"]
        assert jwt_parts(fresh)[0]["kid"] == new_kid
        expect(_me(srv, a.token), 200)
        expect(_me(srv, fresh), 200)
        new_ws = p.ws(fresh)
        old_ws.send_text(json.dumps({"type": "ping"}))
        assert old_ws.recv_json()["type"] == "pong"

        # the signing key cannot be retired
        r = run_cli(["admin", "retire-key", new_kid, "--data-dir", srv.data_dir])
        assert r.returncode == 1 and "signing key" in r.stderr
        r = run_cli(["admin", "retire-key", "k-nope", "--data-dir", srv.data_dir])
        assert r.returncode == 1

        # retiring the old key: its tokens stop working, its sessions close
        mark = len(srv.lines)
        r = run_cli(["admin", "retire-key", old_kid, "--data-dir", srv.data_dir])
        assert r.returncode == 0, r.stderr
        assert _reloaded(srv, mark)["keys"] == 1
        code, reason, _ = old_ws.read_close(timeout=10)
        assert code == 4001 and b"retired" in reason, (code, reason)
        expect(_me(srv, a.token), 401, "unauthorized")
        expect(_me(srv, fresh), 200)
        new_ws.ping_pong()
        # a new WebSocket with the old token is refused at the handshake
        with pytest.raises(HandshakeRejected) as ei:
            RawWS(srv.host, srv.port, token=a.token)
        assert ei.value.status == 401
    finally:
        p.close()


def test_sighup_reload_and_a_bad_file_is_ignored(server_factory):
    srv = server_factory.start()
    p = Parley(srv)
    try:
        a = p.new_user("hup")
        kid, secret = _keys(srv.data_dir)[0]
        path = os.path.join(srv.data_dir, "jwt-keys")
        # a malformed file: logged, and the keys in use stay
        mark = len(srv.lines)
        with open(path, "w") as f:
            f.write("this is not a key\n")
        assert srv.wait_log(lambda o: o.get("event") == "jwt_keys_reload_failed", 10, mark)
        expect(_me(srv, a.token), 200)
        expect(p.login(a.username, a.password), 200)
        # written by hand: a new key first; SIGHUP applies it at once
        new_secret = os.urandom(32)
        with open(path, "w") as f:
            f.write("khand %s\n%s %s\n" % (new_secret.hex(), kid, secret.hex()))
        mark = len(srv.lines)
        srv.proc.send_signal(signal.SIGHUP)
        assert _reloaded(srv, mark)["signing_kid"] == "khand"
        tok = expect(p.login(a.username, a.password), 200)["token"]
        h, c, _ = jwt_parts(tok)
        assert h["kid"] == "khand"
        expect(_me(srv, tok), 200)
        expect(_me(srv, a.token), 200)
        assert srv.alive()
    finally:
        p.close()


def test_malformed_key_file_stops_startup(tmp_path):
    """A jwt-keys file that does not parse is an error at start (exit 1,
    log backend_open_failed), never an empty or a fresh keyring."""
    import subprocess
    from parley_client import clean_env, parleyd_path
    data = tmp_path / "d"
    data.mkdir()
    for text in ("garbage\n", "", "k1 0011\n"):
        (data / "jwt-keys").write_text(text)
        r = subprocess.run([parleyd_path(), "--data-dir", str(data), "--listen",
                            "127.0.0.1:0"], env=clean_env(), capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 1, (text, r.stderr)
        assert '"event":"backend_open_failed"' in r.stderr, r.stderr
        assert (data / "jwt-keys").read_text() == text  # left as it was


# ---------------------------------------------------------------- the JWT checks


@pytest.fixture(scope="module")
def jwt_env(request, tmp_path_factory):
    from conftest import ServerFactory
    f = ServerFactory(request.node, str(tmp_path_factory.mktemp("jwt")))
    srv = f.start(["--jwt-leeway", "30"])
    p = Parley(srv)
    user = p.new_user("jwt")
    kid, key = _keys(srv.data_dir)[0]
    yield srv, user, kid, key
    p.close()
    f.stop_all()


def _claims(user, **over):
    now = int(time.time())
    c = {"iss": "parley", "aud": "parley-clients", "sub": user.user_id, "iat": now,
         "nbf": now, "exp": now + 600, "usr": user.username}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def _hs(alg, header, claims, key):
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}[alg]
    h = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    c = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    sig = hmac.new(key, (h + "." + c).encode(), digest).digest()
    return h + "." + c + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_forged_with_the_real_key_is_accepted(jwt_env):
    """The harness itself: a token built here with the server's key and
    correct claims is accepted, so the 401s below are each one check."""
    srv, user, kid, key = jwt_env
    tok = jwt_sign({"alg": "HS256", "typ": "JWT", "kid": kid}, _claims(user), key)
    assert expect(_me(srv, tok), 200)["user_id"] == user.user_id


NOW = "now"


@pytest.mark.parametrize("case", [
    "alg_none", "alg_none_empty_sig", "alg_HS512", "alg_HS384", "alg_RS256_hmac",
    "alg_ES256", "alg_lowercase", "alg_missing", "kid_missing", "kid_unknown",
    "kid_not_string", "typ_wrong", "crit", "iss_wrong", "iss_missing", "aud_wrong",
    "aud_missing", "exp_missing", "exp_past_leeway", "nbf_past_leeway",
    "exp_string", "sub_not_uuid", "sub_missing", "sig_tampered", "payload_tampered",
    "sig_truncated", "two_segments", "other_key",
])
def test_bad_tokens_are_401(jwt_env, case):
    srv, user, kid, key = jwt_env
    now = int(time.time())
    hdr = {"alg": "HS256", "typ": "JWT", "kid": kid}
    good = jwt_sign(hdr, _claims(user), key)
    h, c, s = good.split(".")
    tokens = {
        "alg_none": lambda: jwt_unsigned(dict(hdr, alg="none"), _claims(user)),
        "alg_none_empty_sig": lambda: jwt_unsigned(dict(hdr, alg="none"), _claims(user), s),
        "alg_HS512": lambda: _hs("HS512", dict(hdr, alg="HS512"), _claims(user), key),
        "alg_HS384": lambda: _hs("HS384", dict(hdr, alg="HS384"), _claims(user), key),
        # key confusion: an "RS256" token MACed with the secret as if it
        # were a public key
        "alg_RS256_hmac": lambda: jwt_sign(dict(hdr, alg="RS256"), _claims(user), key),
        "alg_ES256": lambda: jwt_sign(dict(hdr, alg="ES256"), _claims(user), key),
        "alg_lowercase": lambda: jwt_sign(dict(hdr, alg="hs256"), _claims(user), key),
        "alg_missing": lambda: jwt_sign({"typ": "JWT", "kid": kid}, _claims(user), key),
        "kid_missing": lambda: jwt_sign({"alg": "HS256", "typ": "JWT"}, _claims(user), key),
        "kid_unknown": lambda: jwt_sign(dict(hdr, kid="k00000000"), _claims(user), key),
        "kid_not_string": lambda: jwt_sign(dict(hdr, kid=[kid]), _claims(user), key),
        "typ_wrong": lambda: jwt_sign(dict(hdr, typ="JWS"), _claims(user), key),
        "crit": lambda: jwt_sign(dict(hdr, crit=["exp"]), _claims(user), key),
        "iss_wrong": lambda: jwt_sign(hdr, _claims(user, iss="someone-else"), key),
        "iss_missing": lambda: jwt_sign(hdr, _claims(user, iss=None), key),
        "aud_wrong": lambda: jwt_sign(hdr, _claims(user, aud="other-clients"), key),
        "aud_missing": lambda: jwt_sign(hdr, _claims(user, aud=None), key),
        "exp_missing": lambda: jwt_sign(hdr, _claims(user, exp=None), key),
        # the server allows 30 s of leeway (--jwt-leeway 30)
        "exp_past_leeway": lambda: jwt_sign(hdr, _claims(user, exp=now - 40), key),
        "nbf_past_leeway": lambda: jwt_sign(hdr, _claims(user, nbf=now + 40), key),
        "exp_string": lambda: jwt_sign(hdr, _claims(user, exp=str(now + 600)), key),
        "sub_not_uuid": lambda: jwt_sign(hdr, _claims(user, sub=user.username), key),
        "sub_missing": lambda: jwt_sign(hdr, _claims(user, sub=None), key),
        "sig_tampered": lambda: h + "." + c + "." + ("A" if s[0] != "A" else "B") + s[1:],
        "payload_tampered": lambda: h + "." + base64.urlsafe_b64encode(json.dumps(
            _claims(user, sub=str(uuid.uuid4()))).encode()).rstrip(b"=").decode() + "." + s,
        "sig_truncated": lambda: good[:-2],
        "two_segments": lambda: h + "." + c,
        "other_key": lambda: jwt_sign(hdr, _claims(user), os.urandom(32)),
    }
    tok = tokens[case]()
    expect(_me(srv, tok), 401, "unauthorized")
    # the WebSocket handshake applies the same verifier
    with pytest.raises(HandshakeRejected) as ei:
        RawWS(srv.host, srv.port, token=tok)
    assert ei.value.status == 401


@pytest.mark.parametrize("field,offset,ok", [
    ("exp", -25, True),   # expired 25 s ago: inside the 30 s leeway
    ("exp", -35, False),
    ("nbf", 25, True),    # valid in 25 s: inside the leeway
    ("nbf", 35, False),
])
def test_exp_nbf_leeway_edges(jwt_env, field, offset, ok):
    srv, user, kid, key = jwt_env
    now = int(time.time())
    over = {field: now + offset}
    if field == "nbf":
        over["exp"] = now + 600
    tok = jwt_sign({"alg": "HS256", "typ": "JWT", "kid": kid}, _claims(user, **over), key)
    if ok:
        expect(_me(srv, tok), 200)
    else:
        expect(_me(srv, tok), 401, "unauthorized")


def test_aud_list_and_verify_only_key(jwt_env):
    """aud may be a list holding ours; a second key in the file verifies."""
    srv, user, kid, key = jwt_env
    hdr = {"alg": "HS256", "typ": "JWT", "kid": kid}
    expect(_me(srv, jwt_sign(hdr, _claims(user, aud=["x", "parley-clients"]), key)), 200)
    expect(_me(srv, jwt_sign(hdr, _claims(user, aud=["x", "y"]), key)), 401, "unauthorized")
