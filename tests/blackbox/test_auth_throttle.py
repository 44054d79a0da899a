"""Login and register throttles: failed logins per username and per client
address, registrations per client address. Over a budget the answer is
429 too_many_requests with Retry-After; budgets refill over auth-window.

Clients pick their source address in 127.0.0.0/8 to be different
addresses."""

import httpx

from parley_client import assert_error, expect, unique_name

PW = "correct horse battery"


def _api(srv, src="127.0.0.1"):
    return httpx.Client(base_url=srv.url, timeout=30, trust_env=False,
                        transport=httpx.HTTPTransport(local_address=src))


def _login(api, name, pw):
    return api.post("/v1/auth/login", json={"username": name, "password": pw})


def _register(api, name, pw=PW):
    return api.post("/v1/auth/register", json={"username": name, "password": pw})


def _expect_429(r):
    assert r.status_code == 429, (r.status_code, r.text)
    assert_error(r.json(), "too_many_requests")
    retry = int(r.headers["retry-after"])
    assert retry >= 1
    return retry


def test_login_failures_per_username(server_factory):
    srv = server_factory.start(["--login-failures-per-user", "3",
                                "--login-failures-per-ip", "0", "--auth-window", "600"])
    api = _api(srv)
    try:
        name = unique_name("lf")
        other = unique_name("lo")
        expect(_register(api, name), 201)
        expect(_register(api, other), 201)
        for _ in range(3):
            expect(_login(api, name, "wrong password"), 401, "invalid_credentials")
        # the fourth attempt is not even checked: the right password too
        retry = _expect_429(_login(api, name, PW))
        assert 150 <= retry <= 201  # one failure is forgotten per 600/3 s
        # the name is matched case-insensitively, whatever the address
        _expect_429(_login(api, name.upper(), PW))
        with _api(srv, "127.0.0.2") as api2:
            _expect_429(_login(api2, name, PW))
        # other users are not affected
        expect(_login(api, other, PW), 200)
    finally:
        api.close()


def test_login_success_resets_the_username_budget(server_factory):
    # 3 failures per 3 s: one failure is forgotten every second
    srv = server_factory.start(["--login-failures-per-user", "3",
                                "--login-failures-per-ip", "0", "--auth-window", "3"])
    api = _api(srv)
    try:
        name = unique_name("lr")
        expect(_register(api, name), 201)
        for _ in range(3):
            expect(_login(api, name, "wrong password"), 401, "invalid_credentials")
        retry = _expect_429(_login(api, name, PW))
        assert retry == 1
        import time
        time.sleep(retry + 0.2)
        expect(_login(api, name, PW), 200)  # a token refilled; success
        # the success cleared the record: three failures again before 429
        for _ in range(3):
            expect(_login(api, name, "wrong password"), 401, "invalid_credentials")
        _expect_429(_login(api, name, "wrong password"))
    finally:
        api.close()


def test_login_failures_per_address(server_factory):
    srv = server_factory.start(["--login-failures-per-user", "0",
                                "--login-failures-per-ip", "4"])
    api = _api(srv, "127.0.0.3")
    api2 = _api(srv, "127.0.0.4")
    try:
        good = unique_name("lg")
        expect(_register(api2, good), 201)
        # successful logins do not use the address's budget
        for _ in range(6):
            expect(_login(api, good, PW), 200)
        # failures over different (even unknown) usernames do
        for i in range(4):
            expect(_login(api, unique_name("nobody%d" % i), PW), 401,
                   "invalid_credentials")
        r = _login(api, good, PW)
        _expect_429(r)
        assert "address" in r.json()["error"]["message"]
        # another address logs in fine
        expect(_login(api2, good, PW), 200)
    finally:
        api.close()
        api2.close()


def test_malformed_login_is_400_not_counted(server_factory):
    srv = server_factory.start(["--login-failures-per-user", "1",
                                "--login-failures-per-ip", "1"])
    api = _api(srv)
    try:
        name = unique_name("lm")
        expect(_register(api, name), 201)
        for _ in range(5):  # validated before the throttle: never counted
            expect(api.post("/v1/auth/login", json={"username": name}), 400,
                   "invalid_request")
            expect(api.post("/v1/auth/login", content=b"{"), 400, "invalid_json")
        expect(_login(api, name, PW), 200)
    finally:
        api.close()


def test_register_per_address(server_factory):
    srv = server_factory.start(["--register-per-ip", "3"])
    api = _api(srv, "127.0.0.6")
    api2 = _api(srv, "127.0.0.7")
    try:
        taken = unique_name("rt")
        expect(_register(api, taken), 201)
        expect(_register(api, taken), 409, "username_taken")  # counts too
        for _ in range(3):  # invalid requests are refused before counting
            expect(_register(api, "x"), 400, "invalid_request")
        expect(_register(api, unique_name("r3")), 201)
        r = _register(api, unique_name("r4"))
        _expect_429(r)
        assert "registrations" in r.json()["error"]["message"]
        expect(_register(api2, unique_name("r5")), 201)  # another address
        # logging in is a separate budget
        expect(_login(api, taken, PW), 200)
    finally:
        api.close()
        api2.close()


def test_throttles_count_the_forwarded_client(server_factory):
    """Behind a trusted proxy the budgets belong to the client named in
    X-Forwarded-For, not to the proxy."""
    srv = server_factory.start(["--trusted-proxies", "127.0.0.1",
                                "--register-per-ip", "1",
                                "--login-failures-per-user", "0",
                                "--login-failures-per-ip", "1"])
    api = _api(srv)
    try:
        a, b = unique_name("xa"), unique_name("xb")
        expect(api.post("/v1/auth/register", json={"username": a, "password": PW},
                        headers={"X-Forwarded-For": "198.51.100.1"}), 201)
        _expect_429(api.post("/v1/auth/register", json={"username": b, "password": PW},
                             headers={"X-Forwarded-For": "198.51.100.1"}))
        expect(api.post("/v1/auth/register", json={"username": b, "password": PW},
                        headers={"X-Forwarded-For": "198.51.100.2"}), 201)
        bad = {"username": a, "password": "wrong password"}
        expect(api.post("/v1/auth/login", json=bad,
                        headers={"X-Forwarded-For": "198.51.100.1"}), 401)
        _expect_429(api.post("/v1/auth/login", json=bad,
                             headers={"X-Forwarded-For": "198.51.100.1"}))
        expect(api.post("/v1/auth/login", json={"username": a, "password": PW},
                        headers={"X-Forwarded-For": "198.51.100.3"}), 200)
    finally:
        api.close()


def test_throttle_metrics(server_factory):
    srv = server_factory.start(["--register-per-ip", "1"])
    api = _api(srv)
    try:
        expect(_register(api, unique_name("m1")), 201)
        _expect_429(_register(api, unique_name("m2")))
        text = api.get("/metrics").text
        line = [x for x in text.splitlines() if x.startswith("parley_auth_throttled_total ")]
        assert line and float(line[0].split()[1]) == 1, line
    finally:
        api.close()
