"""The grid over the test hosts: its keys, its topology, and one `spacegrid up` per host.

h1 runs the broker, the mirror and a register unit; h2 and h3 a register unit and
a customer unit each: every partition's copies sit on different hosts. The SQLite
database is one file that every host reaches (the namespaces share this machine's
file system; a grid over real machines would use PostgreSQL). Only pids started here
are ever signalled.
"""

import json
import os
import signal
import subprocess
import time

from chaoslib.grid import tail
from chaoslib.history import CUSTOMER, REGISTER

# Which units run where. The section shapes are the fault harness's (chaoslib.grid.SECTIONS).
HOSTS = ["h1", "h2", "h3"]
CLIENT = "client"
PLACEMENT = {REGISTER: ["h1", "h2", "h3"], CUSTOMER: ["h2", "h3"]}
SHAPES = {REGISTER: {"units": 3, "partitions": 31, "backups": 2}, CUSTOMER: {"units": 2, "partitions": 31, "backups": 1}}
PORTS = (5570, 5571, 5572)
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def units_on(host):
    """The unit names `host` runs: <section>-i runs on the section's hosts, round robin."""
    names = []
    for section, hosts in PLACEMENT.items():
        for index in range(SHAPES[section]["units"]):
            if hosts[index % len(hosts)] == host:
                names.append("%s-%d" % (section, index + 1))
    return names


def topology_text(addresses, database, keys, heartbeat_ms=250, liveness=4):
    """The topology: hosts with their addresses, the broker on h1, CURVE with `keys`."""
    broker = addresses["h1"]
    lines = ["grid: multihost", "hosts:"]
    lines += ["  %s: %s" % (host, addresses[host]) for host in HOSTS]
    lines += [
        "broker:",
        "  clients: tcp://%s:%d" % (broker, PORTS[0]),
        "  units: tcp://%s:%d" % (broker, PORTS[1]),
        "  events: tcp://%s:%d" % (broker, PORTS[2]),
        "  heartbeat: %dms" % heartbeat_ms,
        "  liveness: %d" % liveness,
        "database:",
        "  backend: sqlite",
        "  path: %s" % database,
        "  batch: 200",
        "  max_delay: 50ms",
        "sections:",
    ]
    for name, shape in SHAPES.items():
        lines += [
            "  %s:" % name,
            "    units: %d" % shape["units"],
            "    partitions: %d" % shape["partitions"],
            "    backups: %d" % shape["backups"],
            "    mode: sync",
            "    hosts: [%s]" % ", ".join(PLACEMENT[name]),
        ]
    lines += ["security:", "  mode: curve", "  keys: %s" % keys]
    return "\n".join(lines) + "\n"


def read_key_file(path):
    """{"public": ..., "secret": ...} of a key file (PROTOCOL.md 12)."""
    fields = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = (part.strip() for part in line.split("=", 1))
            fields[name] = value.strip('"')
    return fields


class HostGrid:
    """The grid: keys, topology, and each host's `spacegrid up`."""

    def __init__(self, binary, folder, network, log_level="info"):
        self.binary = binary
        self.folder = folder
        self.network = network
        self.log_level = log_level
        self.keys = os.path.join(folder, "keys")
        self.topology = os.path.join(folder, "multihost.yaml")
        self.database = os.path.join(folder, "multihost.sqlite")
        self.endpoint = "tcp://%s:%d" % (network.addresses["h1"], PORTS[0])
        self.processes = {}

    def make_keys(self):
        for name in ("grid", "mirror", "client"):
            subprocess.run([self.binary, "keys", "generate", name, "--dir", self.keys], check=True,
                           capture_output=True, stdin=subprocess.DEVNULL)

    def client_options(self):
        """pyzmq socket options of a client with the `client` key (set on the zmq.Context: every socket gets them)."""
        client = read_key_file(os.path.join(self.keys, "client.key"))
        server = read_key_file(os.path.join(self.keys, "grid.pub"))
        return {"curve_serverkey": server["public"].encode(), "curve_publickey": client["public"].encode(),
                "curve_secretkey": client["secret"].encode()}

    def write_topology(self):
        with open(self.topology, "w") as handle:
            handle.write(topology_text(self.network.addresses, self.database, self.keys))

    def out(self, host):
        return os.path.join(self.folder, "%s.out" % host)

    def start(self, host):
        """`spacegrid up --units ...` on `host` (the broker and the mirror too on h1), in its own session."""
        part = ["--units", ",".join(units_on(host))]
        if host == "h1":
            part = ["--broker", "--mirror"] + part
        arguments = self.network.exec_prefix(host) + [
            self.binary, "up", self.topology, "--run-folder", os.path.join(self.folder, host), "--log-level", self.log_level] + part
        with open(self.out(host), "ab") as out:
            self.processes[host] = subprocess.Popen(arguments, stdout=out, stderr=subprocess.STDOUT,
                                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_started(self, host, timeout=READY_TIMEOUT):
        """True once the host's `up` says its part is ready; False when it exits or the time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready in" in tail(self.out(host), 200):
                return True
            if self.processes[host].poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def alive(self, host):
        process = self.processes.get(host)
        return process is not None and process.poll() is None

    def status(self):
        """`spacegrid status --json` from the client host, or None."""
        try:
            result = subprocess.run([self.binary, "status", "--json", "--broker", self.endpoint, "--key-folder", self.keys,
                                     "--key-name", "client", "--timeout", "3000"],
                                    capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None

    def stop(self):
        """SIGTERM to every host's `up`, units' hosts first, the broker's last; SIGKILL after STOP_TIMEOUT."""
        for host in sorted(self.processes, key=lambda name: name == "h1"):
            process = self.processes[host]
            if process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tails(self, lines=20):
        parts = []
        for host in HOSTS:
            parts.append("==> %s <==\n%s" % (self.out(host), tail(self.out(host), lines)))
            logs = os.path.join(self.folder, host, "logs")
            for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
                parts.append("==> %s <==\n%s" % (os.path.join(logs, name), tail(os.path.join(logs, name), lines)))
        return "\n".join(parts)

    # What chaoslib's waits read (wait_whole, wait_mirror_idle).

    def up_alive(self):
        """Every host's `up` still runs."""
        return all(self.alive(host) for host in HOSTS)

    @property
    def process(self):
        """The first `up` that exited, else the broker host's (for messages)."""
        for host in HOSTS:
            if not self.alive(host):
                return self.processes[host]
        return self.processes["h1"]

    @property
    def up_out(self):
        return self.out("h1")
