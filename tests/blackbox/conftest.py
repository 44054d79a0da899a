"""Fixtures: a real parleyd per test (or per module), ephemeral ports and
tmp_path only, so `pytest -n auto` is safe. On failure, the stderr log of
every server the test used is attached to the report.

PARLEY_TEST_EXTERNAL_URL=http://HOST:PORT runs the suite against a server
already running there instead (nginx in front of a cluster: scripts/
test.sh's cluster stage): `server`, `mod_server`, `parley` and `mp` are
then that server, and a test that needs a parleyd of its own (it starts
one with special flags, restarts or kills it, reads its log or its data
dir, or speaks raw bytes to parleyd's parser, which nginx would answer
itself) is skipped, saying why: through the `private_server` marker,
server_factory, or the first process-only attribute it touches.
PARLEY_TEST_EXTERNAL_LOGS (log files, space-separated) are attached to
failure reports in that mode."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from parley_client import ExternalServer, Parley, ParleyServer  # noqa: E402

EXTERNAL_URL = os.environ.get("PARLEY_TEST_EXTERNAL_URL")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "private_server(reason): the test needs a parleyd of its "
        "own; skipped against PARLEY_TEST_EXTERNAL_URL")


def pytest_collection_modifyitems(config, items):
    if not EXTERNAL_URL:
        return
    for item in items:
        m = item.get_closest_marker("private_server")
        if m is not None:
            why = m.args[0] if m.args else m.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(
                reason="needs its own parleyd: " + why))


class ServerFactory:
    def __init__(self, node, base_dir):
        self.node = node
        self.base_dir = base_dir
        self.servers = []
        self.n = 0

    def start(self, extra_args=(), env=None, data_dir=None, base_args=True, **kw):
        self.n += 1
        data_dir = data_dir or os.path.join(self.base_dir, "data%d" % self.n)
        cwd = os.path.join(self.base_dir, "cwd%d" % self.n)
        srv = ParleyServer(data_dir, cwd, extra_args, env, base_args, **kw)
        self._track(srv)
        return srv

    def _track(self, srv):
        self.servers.append(srv)
        lst = getattr(self.node, "_parley_servers", None)
        if lst is None:
            lst = []
            setattr(self.node, "_parley_servers", lst)
        lst.append(srv)

    def restart(self, srv, kill=False, extra_args=None):
        """Stop srv (SIGTERM and assert exit 0, or SIGKILL) and start a new
        parleyd on the same data dir (on a new ephemeral port)."""
        if kill:
            srv.kill()
        elif srv.alive():
            srv.stop()
        args = srv.restart_args()
        if extra_args is not None:
            args["extra_args"] = list(extra_args)
        new = ParleyServer(**args)
        self._track(new)
        return new

    def stop_all(self):
        errors = []
        for srv in self.servers:
            if srv.returncode is not None or srv.proc is None:
                continue  # stopped or killed on purpose by the test
            if srv.proc.poll() is not None:
                srv.returncode = srv.proc.returncode
                errors.append("parleyd %s exited by itself with %r\n%s"
                              % (srv.addr, srv.returncode, srv.log_text()))
                continue
            try:
                srv.stop()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def server_factory(request, tmp_path):
    if EXTERNAL_URL:
        pytest.skip("needs its own parleyd: starts, restarts or stops "
                    "servers (server_factory)")
    f = ServerFactory(request.node, str(tmp_path))
    yield f
    f.stop_all()


@pytest.fixture
def server(request):
    if EXTERNAL_URL:
        return ExternalServer(EXTERNAL_URL)
    return request.getfixturevalue("server_factory").start()


@pytest.fixture
def parley(server):
    p = Parley(server)
    yield p
    p.close()


@pytest.fixture(scope="module")
def mod_server(request, tmp_path_factory):
    """One server for a whole module (tests use unique user names)."""
    if EXTERNAL_URL:
        yield ExternalServer(EXTERNAL_URL)
        return
    base = str(tmp_path_factory.mktemp("mod"))
    f = ServerFactory(request.node, base)
    srv = f.start()
    yield srv
    f.stop_all()


@pytest.fixture
def mp(mod_server):
    """A Parley handle on the module server; its clients close per test."""
    assert mod_server.alive(), "module parleyd died earlier:\n" + mod_server.log_text()
    p = Parley(mod_server)
    yield p
    p.close()


def _servers_of(item):
    seen = []
    for srv in getattr(item, "_parley_servers", []):
        seen.append(srv)
    for val in getattr(item, "funcargs", {}).values():
        cand = []
        if isinstance(val, (ParleyServer, ExternalServer)):
            cand.append(val)
        elif isinstance(val, Parley):
            cand.append(val.server)
        elif isinstance(val, ServerFactory):
            cand.extend(val.servers)
        for srv in cand:
            if all(srv is not s for s in seen):
                seen.append(srv)
    return seen


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for i, srv in enumerate(_servers_of(item)):
        try:
            text = srv.log_text()
        except Exception as e:  # never hide the real failure
            text = "(could not read log: %r)" % (e,)
        rep.sections.append(("parleyd #%d %s stderr" % (i + 1, srv.addr), text))
