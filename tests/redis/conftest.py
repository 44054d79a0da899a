"""Fixtures of the Redis suite (tests/redis/run.sh starts the servers with
scripts/infra/ and exports where they are):
  PARLEY_TEST_INFRA_DIR            the DIR given to redis.sh / redis-cluster.sh
  PARLEY_TEST_REDIS_ADDRS          the single server
  PARLEY_TEST_REDIS_CLUSTER_ADDRS  the 3-master cluster
The parleyd fixtures (server_factory, ...) are the black-box suite's."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BB = os.path.join(REPO, "tests", "blackbox")
sys.path.insert(0, BB)

_spec = importlib.util.spec_from_file_location("bb_conftest", os.path.join(BB, "conftest.py"))
_bb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bb)
server_factory = _bb.server_factory
pytest_runtest_makereport = _bb.pytest_runtest_makereport

from parley_client import build_dir  # noqa: E402


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.skip("%s not set: run tests/redis/run.sh" % name)
    return v


@pytest.fixture(scope="session")
def infra_dir():
    return _env("PARLEY_TEST_INFRA_DIR")


@pytest.fixture(scope="session")
def single_addrs():
    return _env("PARLEY_TEST_REDIS_ADDRS")


@pytest.fixture(scope="session")
def cluster_addrs():
    return _env("PARLEY_TEST_REDIS_CLUSTER_ADDRS")


def infra(script, cmd, dir_):
    subprocess.run([os.path.join(REPO, "scripts", "infra", script), cmd, dir_],
                   check=True, stdout=subprocess.DEVNULL)


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + [str(a) for a in args],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


class Probe:
    """build/redis-probe: our client, one JSON answer per request line."""

    def __init__(self, addrs, mode="auto"):
        self.proc = subprocess.Popen([os.path.join(build_dir(), "redis-probe"), addrs, mode],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _read(self):
        line = self.proc.stdout.readline()
        assert line, "redis-probe exited (rc=%r)" % self.proc.poll()
        return json.loads(line)

    def cmd(self, *args, key=None):
        parts = ([] if key is None else ["#%d" % key]) + [str(a).replace(" ", "\\s") for a in args]
        self.proc.stdin.write(" ".join(parts) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def batch(self, cmds):
        lines = ["!batch %d" % len(cmds)] + [" ".join(str(a) for a in c) for c in cmds]
        self.proc.stdin.write("\n".join(lines) + "\n")
        self.proc.stdin.flush()
        return [self._read() for _ in cmds]

    def stats(self):
        self.proc.stdin.write("!stats\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0


@pytest.fixture
def probe_factory():
    probes = []

    def make(addrs, mode="auto"):
        p = Probe(addrs, mode)
        probes.append(p)
        return p
    yield make
    for p in probes:
        p.close()
