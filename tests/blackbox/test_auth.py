"""Registration, login, tokens, /v1/me, user lookup."""

import concurrent.futures
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from parley_client import (B64URL_RE, UUID_RE, Api, assert_error, b64url, expect,
                           expect_bad_path_id, raw_http,
                           jwt_parts, jwt_sign, jwt_unsigned, parse_time, unique_name)

PW = "correct horse battery"


def test_register_201_shape(mp):
    name = unique_name("Reg")
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    body = expect(mp.register(name, PW), 201)
    assert set(body) >= {"user_id", "username", "created_at"}
    assert UUID_RE.match(body["user_id"])
    assert body["username"] == name
    created = parse_time(body["created_at"])
    assert before <= created <= datetime.now(timezone.utc) + timedelta(seconds=5)
    for k in body:
        assert "pass" not in k.lower() and "hash" not in k.lower(), body


def test_register_taken_409(mp):
    name = unique_name("taken")
    expect(mp.register(name, PW), 201)
    expect(mp.register(name, PW), 409, "username_taken")
    expect(mp.register(name, "another password"), 409, "username_taken")


def test_register_taken_different_case_409(mp):
    name = unique_name("CaSe")
    expect(mp.register(name, PW), 201)
    expect(mp.register(name.upper(), PW), 409, "username_taken")
    expect(mp.register(name.lower(), PW), 409, "username_taken")


def test_register_concurrent_same_name_exactly_one_wins(mp):
    name = unique_name("race")
    apis = [mp.api() for _ in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda a: a.register(name, PW).status_code, apis))
    assert sorted(codes) == [201] + [409] * 7, codes


@pytest.mark.parametrize("username", [
    "ab", "a" * 33, "has space", "slash/no", "semi;colon", "at@sign", "ünïcode",
    "tab\tname", "", "new\nline", "quote\"x",
])
def test_register_bad_username_400(mp, username):
    expect(mp.register(username, PW), 400, "invalid_request")


@pytest.mark.parametrize("length", [3, 32])
def test_register_username_length_bounds_ok(mp, length):
    name = (uuid.uuid4().hex * 2)[:length]
    r = mp.register(name, PW)
    # A 3-char random name could collide with another test's only by chance.
    assert r.status_code in (201, 409), r.text
    if r.status_code == 201:
        assert r.json()["username"] == name


def test_register_all_allowed_chars(mp):
    name = "A.b-c_9" + uuid.uuid4().hex[:8]
    assert expect(mp.register(name, PW), 201)["username"] == name


@pytest.mark.parametrize("password", [
    "", "1234567", "\u00e9\u00e9\u00e9a",           # 7 bytes (UTF-8)
    "x" * 1025, "\u00e9" * 512 + "a",                # 1025 bytes
])
def test_register_bad_password_400(mp, password):
    expect(mp.register(unique_name("pw"), password), 400, "invalid_request")


@pytest.mark.parametrize("password", ["12345678", "\u00e9" * 4, "x" * 1024, "\u00e9" * 512])
def test_register_password_bounds_ok(mp, password):
    name = unique_name("pwok")
    expect(mp.register(name, password), 201)
    expect(mp.login(name, password), 200)


@pytest.mark.parametrize("body", [
    {"username": "nopassword"},
    {"password": "no username at all"},
    {"username": 12345, "password": PW},
    {"username": "okname", "password": 12345678},
    {"username": None, "password": PW},
    {},
])
def test_register_missing_or_wrong_typed_fields_400(mp, body):
    expect(mp.anon.post("/v1/auth/register", body), 400, "invalid_request")


def test_login_200_shape(mp):
    name = unique_name("login")
    reg = expect(mp.register(name, PW), 201)
    t0 = time.time()
    body = expect(mp.login(name, PW), 200)
    assert set(body) >= {"token", "token_type", "expires_at", "user_id"}
    assert body["token_type"] == "Bearer"
    assert body["user_id"] == reg["user_id"]
    parts = body["token"].split(".")
    assert len(parts) == 3 and all(B64URL_RE.match(p) for p in parts), body["token"]
    exp = parse_time(body["expires_at"])
    assert exp > datetime.now(timezone.utc)
    header, claims, _ = jwt_parts(body["token"])
    assert header["alg"] == "HS256" and header["typ"] == "JWT" and "kid" in header
    assert claims["iss"] == "parley"
    assert claims["aud"] in ("parley-clients", ["parley-clients"])
    assert claims["sub"] == reg["user_id"]
    assert claims["usr"] == name
    assert claims["exp"] - claims["iat"] == 86400  # default token-ttl
    assert claims["nbf"] <= claims["iat"] + 1
    assert abs(claims["iat"] - t0) < 120
    assert abs(exp.timestamp() - claims["exp"]) < 1.5


def test_login_wrong_password_401(mp):
    name = unique_name("wp")
    expect(mp.register(name, PW), 201)
    expect(mp.login(name, PW + "x"), 401, "invalid_credentials")
    r = mp.login(name, "")
    assert r.status_code in (400, 401)


def test_login_unknown_user_401(mp):
    expect(mp.login(unique_name("ghost"), PW), 401, "invalid_credentials")


def test_login_malformed_400(mp):
    expect(mp.anon.post("/v1/auth/login", {"username": "x"}), 400, "invalid_request")


def test_me(mp):
    u = mp.new_user("me")
    body = expect(u.me(), 200)
    assert body["user_id"] == u.user_id
    assert body["username"] == u.username
    parse_time(body["created_at"])


def test_two_logins_both_valid(mp):
    u = mp.new_user("two")
    t2 = expect(mp.login(u.username, u.password), 200)["token"]
    expect(u.me(), 200)
    expect(Api(mp.url, t2).me(), 200)


# ------------------------------------------------------------- bad tokens


def _me_with_header(mp, value):
    headers = {} if value is None else {"Authorization": value}
    return mp.anon.get("/v1/me", headers=headers)


def _flip(s, i):
    c = s[i]
    return s[:i] + ("A" if c != "A" else "B") + s[i + 1:]


def test_no_token_401(mp):
    expect(_me_with_header(mp, None), 401, "unauthorized")


@pytest.mark.parametrize("value", [
    "Bearer", "Bearer ", "Bearer garbage", "Bearer a.b.c", "Bearer ...", "Basic dXNlcjpwYXNz",
    "bearer", "Bearer " + "x" * 5000,
])
def test_garbage_token_401(mp, value):
    # Raw socket: httpx refuses some of these header values.
    req = ("GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n" % value).encode()
    status, headers, body = raw_http(mp.server.host, mp.server.port, req)
    assert status == 401, body
    assert_error(json.loads(body), "unauthorized")


def test_flipped_signature_byte_401(mp):
    u = mp.new_user("flip")
    h, p, s = u.token.split(".")
    for i in (0, len(s) // 2, len(s) - 2):
        expect(_me_with_header(mp, "Bearer %s.%s.%s" % (h, p, _flip(s, i))), 401, "unauthorized")
    # Tampered payload with the original signature.
    _, claims, _ = jwt_parts(u.token)
    other = mp.new_user("victim")
    claims["sub"] = other.user_id
    claims["usr"] = other.username
    forged = h + "." + b64url(json.dumps(claims).encode()) + "." + s
    expect(_me_with_header(mp, "Bearer " + forged), 401, "unauthorized")
    # Sanity: the untouched token still works.
    expect(u.me(), 200)


def test_alg_none_401(mp):
    u = mp.new_user("none")
    header, claims, sig = jwt_parts(u.token)
    for alg in ("none", "None", "NONE"):
        h2 = dict(header, alg=alg)
        expect(_me_with_header(mp, "Bearer " + jwt_unsigned(h2, claims)), 401, "unauthorized")
        expect(_me_with_header(mp, "Bearer " + jwt_unsigned(h2, claims, sig)), 401, "unauthorized")
    # Header without alg, and an HS512 claim with a HS256 signature.
    h3 = {k: v for k, v in header.items() if k != "alg"}
    expect(_me_with_header(mp, "Bearer " + jwt_unsigned(h3, claims, sig)), 401, "unauthorized")
    expect(_me_with_header(mp, "Bearer " + jwt_unsigned(dict(header, alg="HS512"), claims, sig)),
           401, "unauthorized")


def test_wrong_key_tokens_401(mp):
    u = mp.new_user("wk")
    header, claims, _ = jwt_parts(u.token)
    key = b"definitely-not-the-server-key-0123456789"
    now = int(time.time())
    valid_times = dict(claims, iat=now, nbf=now, exp=now + 3600)
    expired = dict(claims, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    for c in (valid_times, expired):
        expect(_me_with_header(mp, "Bearer " + jwt_sign(header, c, key)), 401, "unauthorized")
    # Empty HMAC key.
    expect(_me_with_header(mp, "Bearer " + jwt_sign(header, valid_times, b"")), 401, "unauthorized")


@pytest.mark.private_server("two servers with different keys")
def test_token_from_another_server_401(mp, server):
    """A genuine token of a different parleyd (its own key) is forged here."""
    other = Api(server.url)
    name = unique_name("xs")
    expect(other.register(name, PW), 201)
    tok = expect(other.login(name, PW), 200)["token"]
    expect(Api(server.url, tok).me(), 200)
    expect(_me_with_header(mp, "Bearer " + tok), 401, "unauthorized")
    other.close()


def test_expired_token_401(server_factory):
    """A genuine token past exp is refused. A clock-skew leeway of up to
    5 s is tolerated (parleyd uses one), so this waits a few seconds."""
    srv = server_factory.start(["--token-ttl", "1"])
    api = Api(srv.url)
    name = unique_name("exp")
    expect(api.register(name, PW), 201)
    body = expect(api.login(name, PW), 200)
    _, claims, _ = jwt_parts(body["token"])
    assert claims["exp"] - claims["iat"] == 1
    user = Api(srv.url, body["token"])
    while time.time() < claims["exp"] + 1.5:
        time.sleep(0.2)
    while True:
        r = user.me()
        if r.status_code != 200 or time.time() > claims["exp"] + 20:
            break
        time.sleep(0.5)
    expect(r, 401, "unauthorized")
    api.close()
    user.close()


def test_every_v1_endpoint_requires_token(mp):
    cid = str(uuid.uuid4())
    uid = str(uuid.uuid4())
    calls = [
        ("GET", "/v1/me", None),
        ("GET", "/v1/users/" + uid, None),
        ("GET", "/v1/users?username=someone", None),
        ("GET", "/v1/conversations", None),
        ("POST", "/v1/conversations", {"type": "group", "name": "x", "member_ids": []}),
        ("GET", "/v1/conversations/" + cid, None),
        ("POST", "/v1/conversations/%s/members" % cid, {"user_ids": []}),
        ("DELETE", "/v1/conversations/%s/members/%s" % (cid, uid), None),
        ("GET", "/v1/conversations/%s/members" % cid, None),
        ("GET", "/v1/conversations/%s/messages" % cid, None),
        ("POST", "/v1/conversations/%s/messages" % cid, {"client_msg_id": "a", "content": "b"}),
        ("POST", "/v1/conversations/%s/read" % cid, {"seq": 1}),
    ]
    for method, path, body in calls:
        r = mp.anon.http.request(method, path, json=body)
        expect(r, 401, "unauthorized")


# ------------------------------------------------------------- users


def test_get_user_by_id_and_name(mp):
    a = mp.new_user("look")
    b = mp.new_user("Target")
    body = expect(a.user(b.user_id), 200)
    assert body["user_id"] == b.user_id and body["username"] == b.username
    parse_time(body["created_at"])
    assert body["status"] in ("online", "offline")
    assert body["last_seen_at"] is None or parse_time(body["last_seen_at"])
    by_name = expect(a.user_by_name(b.username.upper()), 200)
    assert by_name["user_id"] == b.user_id and by_name["username"] == b.username
    by_name = expect(a.user_by_name(b.username.lower()), 200)
    assert by_name["user_id"] == b.user_id


def test_get_user_unknown_404(mp):
    a = mp.new_user("look")
    expect(a.user(str(uuid.uuid4())), 404, "not_found")
    expect(a.user_by_name(unique_name("nobody")), 404, "not_found")


def test_get_user_bad_uuid(mp):
    a = mp.new_user("look")
    expect_bad_path_id(a.user("not-a-uuid"))


def test_presence_online_then_offline(mp):
    a = mp.new_user("pres")
    b = mp.new_user("pres")
    assert expect(a.user(b.user_id), 200)["status"] == "offline"
    ws = mp.ws(b)
    ws.ping_pong()
    deadline = time.monotonic() + 10
    while expect(a.user(b.user_id), 200)["status"] != "online":
        assert time.monotonic() < deadline, "b never shown online"
        time.sleep(0.05)
    ws.close()
    deadline = time.monotonic() + 15
    while True:
        body = expect(a.user(b.user_id), 200)
        if body["status"] == "offline":
            break
        assert time.monotonic() < deadline, "b never shown offline after disconnect"
        time.sleep(0.1)
    assert body["last_seen_at"] is not None
    parse_time(body["last_seen_at"])
