"""The browser client's files, served by parleyd itself (gw_static.c):
GET/HEAD on "/" and the asset paths, with types, lengths, strong ETags
(304 on If-None-Match), caching and security headers; every other path
outside /v1 stays a 404 JSON error."""

import os
import re
import socket

import pytest

from parley_client import REPO, expect

WEB = os.path.join(REPO, "web")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def web_files():
    """(url path, file path) for every file under web/."""
    out = []
    for root, _, names in os.walk(WEB):
        for n in sorted(names):
            if n.startswith(".") or n.endswith("~"):
                continue  # not embedded (cmake/embed_web.cmake): editor files
            full = os.path.join(root, n)
            rel = os.path.relpath(full, WEB).replace(os.sep, "/")
            out.append(("/" if rel == "index.html" else "/" + rel, full))
    return sorted(out)


def raw(srv, request):
    """Sends request bytes on a fresh connection; returns (status, headers
    dict with lower-case names, body) of the first response."""
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0"))
    if not request.startswith("HEAD") and int(lines[0].split()[1]) != 304:
        while len(body) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    s.close()
    return int(lines[0].split()[1]), headers, body


def test_every_file_is_served_with_its_type_and_bytes(mp):
    files = web_files()
    assert ("/", os.path.join(WEB, "index.html")) in files
    etags = set()
    for url, path in files:
        r = mp.anon.get(url)
        assert r.status_code == 200, url
        with open(path, "rb") as f:
            assert r.content == f.read(), "%s is not web/%s" % (url, os.path.relpath(path, WEB))
        ext = os.path.splitext(path)[1]
        assert r.headers["content-type"] == TYPES[ext], url
        assert r.headers["content-length"] == str(len(r.content))
        assert r.headers["cache-control"] == "no-cache"
        assert re.fullmatch(r'"[0-9a-f]{16}"', r.headers["etag"]), r.headers["etag"]
        etags.add(r.headers["etag"])
    assert len(etags) == len(files), "every file has its own ETag"


def test_the_page_references_only_served_files(mp):
    """Every src/href of index.html and every module import resolves."""
    page = mp.anon.get("/").text
    refs = set(re.findall(r'(?:src|href)="(/[^"]*)"', page))
    assert "/js/app.js" in refs and "/css/app.css" in refs
    for url, path in web_files():
        if path.endswith(".js"):
            with open(path) as f:
                for mod in re.findall(r"from '\./([a-z]+\.js)'", f.read()):
                    refs.add(os.path.dirname(url) + "/" + mod)
    for ref in sorted(refs):
        assert mp.anon.get(ref).status_code == 200, ref


def test_security_headers(mp):
    r = mp.anon.get("/")
    h = r.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"
    csp = dict(d.strip().split(" ", 1) for d in h["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    # the WebSocket of the same host, named (older browsers do not let
    # 'self' cover ws:), and nothing else
    host = "%s:%d" % (mp.server.host, mp.server.port)
    assert csp["connect-src"] == "'self' ws://%s wss://%s" % (host, host)
    assert "'unsafe-inline'" not in h["content-security-policy"]


@pytest.mark.parametrize("host", ['x"y', "a;b", "a,b", pytest.param("x/y", marks=pytest.mark.private_server(
    "nginx refuses a Host with a slash with its own 400")), "é"])
def test_a_strange_host_is_not_repeated_in_the_policy(mp, host):
    st, h, _ = raw(mp.server, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host)
    assert st == 200
    assert "connect-src 'self';" in h["content-security-policy"]
    assert host not in h["content-security-policy"]


def test_no_host_header(mp):
    st, h, body = raw(mp.server, "GET / HTTP/1.0\r\n\r\n")
    assert st == 200 and body.startswith(b"<!doctype html>")
    assert "connect-src 'self';" in h["content-security-policy"]


def test_etag_revalidation(mp):
    r = mp.anon.get("/js/app.js")
    tag = r.headers["etag"]
    assert mp.anon.get("/js/app.js").headers["etag"] == tag, "stable"
    for inm in (tag, "W/" + tag, '"0000000000000000", ' + tag, "*", '"x",' + tag):
        r2 = mp.anon.get("/js/app.js", headers={"If-None-Match": inm})
        assert r2.status_code == 304, inm
        assert r2.content == b""
        assert r2.headers["etag"] == tag
        assert r2.headers["cache-control"] == "no-cache"
        assert "content-security-policy" in r2.headers
    for inm in ('"0000000000000000"', tag[1:-1], '""', "W/", ","):
        r3 = mp.anon.get("/js/app.js", headers={"If-None-Match": inm})
        assert r3.status_code == 200, inm
        assert len(r3.content) == int(r3.headers["content-length"]) > 0
    # one file's tag does not validate another
    other = mp.anon.get("/css/app.css", headers={"If-None-Match": tag})
    assert other.status_code == 200


def test_head_has_the_headers_without_the_body(mp):
    get = mp.anon.get("/")
    st, h, body = raw(mp.server, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert st == 200
    assert body == b""
    assert h["content-length"] == str(len(get.content))
    assert h["etag"] == get.headers["etag"]
    assert h["content-type"] == "text/html; charset=utf-8"


def test_keep_alive_serves_the_next_request(mp):
    s = socket.create_connection((mp.server.host, mp.server.port), timeout=10)
    s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.count(b"HTTP/1.1 200") == 2
    assert data.endswith(b'{"status":"ok"}')


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(mp, method):
    r = mp.anon.http.request(method, "/js/app.js")
    expect(r, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/nope", "/index.html", "/js/", "/js", "/js/nope.js",
                                  "/JS/APP.JS", "/js//app.js", "/js/app.js/", "/%2F",
                                  "/js/%61pp.js",
                                  pytest.param("/../web/index.html", marks=pytest.mark.private_server(
                                      "nginx refuses a path above / with its own 400")),
                                  "//", "/v1",
                                  "/favicon.ico"])
def test_unknown_paths_are_404_json(mp, path):
    st, h, body = raw(mp.server, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % path)
    assert st == 404, path
    assert h["content-type"] == "application/json"
    assert b'"code":"not_found"' in body


def test_query_strings_are_ignored(mp):
    r = mp.anon.get("/js/app.js?v=2")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")


def test_the_api_is_unchanged_beside_the_client(mp):
    expect(mp.anon.get("/v1/me"), 401, "unauthorized")
    expect(mp.anon.get("/healthz"), 200)
    expect(mp.anon.http.head("/healthz"), 405)


def test_the_page_origin_may_open_a_websocket(mp):
    """The same-origin page's Origin passes the default allowed-origins."""
    a = mp.new_user("web")
    origin = "http://%s:%d" % (mp.server.host, mp.server.port)
    req = ("GET /v1/ws?access_token=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n"
           % (a.token, mp.server.host, mp.server.port, origin))
    s = socket.create_connection((mp.server.host, mp.server.port), timeout=10)
    s.sendall(req.encode())
    head = s.recv(4096).decode(errors="replace")
    s.close()
    assert head.startswith("HTTP/1.1 101"), head
