"""Handles on a cluster started by scripts/cluster.sh (the same process
table as `make cluster`): nginx's URL, each instance's direct URL, pid,
log, and kill -9 / stop / start / restart through the script.

    c = Cluster.up(dir)          # scripts/cluster.sh up DIR (ephemeral ports)
    c = Cluster.attach(dir)      # one already up (PARLEY_TEST_CLUSTER_DIR)
    c.url, c.ws_url              # through nginx
    c.gateways[0].url            # one gateway, directly
    c["msg1"].kill()             # SIGKILL; .start() brings it back
    c.down()
"""

import os
import signal
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLUSTER_SH = os.path.join(REPO, "scripts", "cluster.sh")

# What every test parleyd runs with: fast password hashing (as the
# black-box suite's servers), and no per-address limits, since every
# client of a shared cluster is 127.0.0.1 (tests of the limits start
# their own server).
TEST_PARLEYD_ARGS = ("--argon-opslimit 1 --argon-memlimit 8388608 "
                     "--log-level debug --register-per-ip 0 "
                     "--conn-rate-per-ip 0 --max-connections-per-ip 0 "
                     "--login-failures-per-ip 0")


def script_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.setdefault("BUILD", os.environ.get("PARLEY_BUILD_DIR")
                   or os.path.join(REPO, "build"))
    env.setdefault("CLUSTER_PORT", "0")
    env.setdefault("PARLEYD_ARGS", TEST_PARLEYD_ARGS)
    # test brokers start often and move little data (scripts/infra-test.sh)
    env.setdefault("KAFKA_JVM_OPTS", "-XX:TieredStopAtLevel=1")
    env.update(extra or {})
    return env


def run_script(*args, env=None, timeout=300):
    r = subprocess.run([CLUSTER_SH] + [str(a) for a in args], env=script_env(env),
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("scripts/cluster.sh %s failed (%d):\n%s%s"
                             % (" ".join(map(str, args)), r.returncode,
                                r.stdout[-4000:], r.stderr[-8000:]))
    return r


class Instance:
    """One parleyd of the cluster (a row of DIR/instances)."""

    def __init__(self, cluster, name, roles, addr, log):
        self.cluster, self.name, self.roles = cluster, name, roles.split(",")
        self.addr, self.log = addr, log
        self.host, _, port = addr.rpartition(":")
        self.port = int(port)
        self.url = "http://" + addr
        self.ws_url = "ws://%s/v1/ws" % addr

    def __repr__(self):
        return "Instance(%s %s %s)" % (self.name, ",".join(self.roles), self.addr)

    @property
    def pidfile(self):
        return os.path.join(self.cluster.dir, "parleyd-" + self.name, "parleyd.pid")

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip() or 0) or None
        except OSError:
            return None

    def alive(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def kill(self):
        """SIGKILL (a crash); the address is kept for start()."""
        run_script("kill", self.cluster.dir, self.name)

    def stop(self):
        """SIGTERM: parleyd drains and exits."""
        run_script("stop", self.cluster.dir, self.name)

    def start(self):
        """Start again on the same port and data; returns once /readyz is 200."""
        run_script("start", self.cluster.dir, self.name)

    def restart(self):
        run_script("restart", self.cluster.dir, self.name)

    def signal(self, sig=signal.SIGSTOP):
        os.kill(self.pid(), sig)

    def log_text(self, tail=200):
        try:
            with open(self.log, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-tail:])
        except OSError as e:
            return "(%s)" % e


class Cluster:
    def __init__(self, d, owned):
        self.dir = os.path.abspath(str(d))
        self.owned = owned
        with open(os.path.join(self.dir, "topology")) as f:
            self.topology = f.read().strip()
        with open(os.path.join(self.dir, "nginx", "env")) as f:
            line = f.read().strip()
        self.url = line.split("=", 1)[1]
        self.ws_url = self.url.replace("http://", "ws://") + "/v1/ws"
        self.instances = {}
        with open(os.path.join(self.dir, "instances")) as f:
            for row in f:
                if row.strip():
                    name, roles, addr, log = row.split()
                    self.instances[name] = Instance(self, name, roles, addr, log)

    @classmethod
    def up(cls, d, topology=None):
        env = {"CLUSTER_TOPOLOGY": topology} if topology else None
        try:
            run_script("up", d, env=env, timeout=600)
        except BaseException:
            subprocess.run([CLUSTER_SH, "down", str(d)], env=script_env(),
                           capture_output=True, timeout=120)
            raise
        return cls(d, owned=True)

    @classmethod
    def attach(cls, d):
        return cls(d, owned=False)

    def __getitem__(self, name):
        return self.instances[name]

    def with_role(self, role):
        return [i for i in self.instances.values()
                if role in i.roles or "all" in i.roles]

    @property
    def gateways(self):
        return self.with_role("gateway")

    @property
    def auth(self):
        return self.with_role("auth")[0]

    def env(self):
        """The servers' PARLEY_* lines (scripts/infra.sh env DIR)."""
        out = {}
        for svc in ("postgres", "redis-cluster", "kafka", "nginx"):
            try:
                with open(os.path.join(self.dir, svc, "env")) as f:
                    for line in f:
                        k, _, v = line.strip().partition("=")
                        if k:
                            out[k] = v
            except OSError:
                pass
        return out

    def log_text(self, tail=100):
        parts = ["cluster %s (%s) %s" % (self.dir, self.topology, self.url)]
        for i in self.instances.values():
            parts.append("--- %s %s (%s)\n%s" % (i.name, i.addr, i.log, i.log_text(tail)))
        err = os.path.join(self.dir, "nginx", "error.log")
        try:
            with open(err, errors="replace") as f:
                parts.append("--- nginx %s\n%s" % (err, "\n".join(f.read().splitlines()[-tail:])))
        except OSError:
            pass
        return "\n".join(parts)

    def down(self):
        if self.owned:
            run_script("down", self.dir, timeout=120)
