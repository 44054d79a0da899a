"""Fixtures for the cluster tests: one cluster per session, started by
scripts/cluster.sh (the process table of `make cluster`) in a temporary
directory on ephemeral ports, or the one already running in
PARLEY_TEST_CLUSTER_DIR (scripts/test.sh's cluster stage starts one and
points both tests/cluster and the black-box suite at it).

CLUSTER_TOPOLOGY (auto | cluster | single) is passed on to cluster.sh.
Under pytest-xdist each worker would start its own cluster: give
PARLEY_TEST_CLUSTER_DIR when running with -n."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "blackbox"))

from cluster import CLUSTER_SH, Cluster, script_env  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "disruptive: kills or restarts cluster processes; run "
        "alone (scripts/test.sh runs these after the others)")


@pytest.fixture(scope="session")
def cluster():
    d = os.environ.get("PARLEY_TEST_CLUSTER_DIR")
    if d:
        yield Cluster.attach(d)
        return
    # not under pytest's 0700 tmp: as root PostgreSQL runs as `postgres`,
    # which must reach its directory
    d = tempfile.mkdtemp(prefix="parley-cluster.", dir="/tmp")
    os.chmod(d, 0o711)
    try:
        c = Cluster.up(d, os.environ.get("CLUSTER_TOPOLOGY"))
        yield c
        c.down()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _why_single():
    """Why scripts/cluster.sh runs one all-roles parleyd here."""
    r = subprocess.run([CLUSTER_SH, "topology"], env=script_env(),
                       capture_output=True, text=True, timeout=60)
    return (r.stderr.strip() or "CLUSTER_TOPOLOGY=single").splitlines()[-1]


@pytest.fixture(scope="session")
def split(cluster):
    """The cluster, if it runs the role split (2 gateways at least)."""
    if cluster.topology != "cluster" or len(cluster.gateways) < 2:
        pytest.skip("needs the role split (2 gateways, messaging, fanout "
                    "on Kafka): %s" % _why_single())
    return cluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    c = getattr(item, "funcargs", {}).get("cluster") or \
        getattr(item, "funcargs", {}).get("split")
    if c is not None:
        try:
            rep.sections.append(("cluster logs", c.log_text()))
        except Exception as e:  # never hide the real failure
            rep.sections.append(("cluster logs", "(could not read: %r)" % (e,)))
