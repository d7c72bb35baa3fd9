"""The grid under test: its topology, the `spacegrid up` process, its status, its database.

Only pids this module started (up) or read from the grid's own status are ever
signalled; nothing here looks processes up by name.
"""

import glob
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

from .history import CUSTOMER, REGISTER

# The sections of the chaos topology, and what a whole grid has.
SECTIONS = {
    REGISTER: {"units": 3, "partitions": 31, "backups": 2},
    CUSTOMER: {"units": 2, "partitions": 31, "backups": 1},
}

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0
STATUS_TIMEOUT = 10.0


class HarnessError(RuntimeError):
    """The harness could not do its job (grid did not start, up died...): exit 2."""


def find_binary(repository, explicit=None):
    """The spacegrid binary: --binary, else release, else debug under the repository; None when none exists."""
    if explicit:
        return os.path.abspath(explicit) if os.access(explicit, os.X_OK) else None
    for flavour in ("release", "debug"):
        path = os.path.join(repository, ".build", flavour, "spacegrid")
        if os.access(path, os.X_OK):
            return path
    return None


def free_ports(count=3):
    """`count` distinct free loopback ports: all sockets stay bound until every port is picked."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def topology_text(ports):
    """The chaos topology on the ports (clients, units, events)."""
    clients, units, events = ports
    lines = [
        "grid: chaos",
        "broker:",
        "  clients: tcp://127.0.0.1:%d" % clients,
        "  units: tcp://127.0.0.1:%d" % units,
        "  events: tcp://127.0.0.1:%d" % events,
        "  heartbeat: 100ms",
        "  liveness: 3",
        "database:",
        "  backend: sqlite",
        "  path: chaos.sqlite",
        "  batch: 200",
        "  max_delay: 50ms",
        "sections:",
    ]
    for name, shape in SECTIONS.items():
        lines += [
            "  %s:" % name,
            "    units: %d" % shape["units"],
            "    partitions: %d" % shape["partitions"],
            "    backups: %d" % shape["backups"],
            "    mode: sync",
        ]
    return "\n".join(lines) + "\n"


def tail(path, lines=20):
    """The last lines of a text file ('' when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Grid:
    """One `spacegrid up` in a folder of its own."""

    def __init__(self, binary, folder, ports=None, log_level="info"):
        self.binary = binary
        self.log_level = log_level
        self.folder = folder
        self.ports = ports or free_ports(3)
        self.endpoint = "tcp://127.0.0.1:%d" % self.ports[0]
        self.topology = os.path.join(folder, "chaos.yaml")
        self.run_folder = os.path.join(folder, "run")
        self.up_out = os.path.join(folder, "up.out")
        self.database = os.path.join(self.run_folder, "chaos.sqlite")
        self.process = None

    def start(self):
        """Writes the topology and starts `up` in its own session (a Ctrl-C reaches only us; we stop it)."""
        with open(self.topology, "w") as handle:
            handle.write(topology_text(self.ports))
        os.makedirs(self.run_folder, exist_ok=True)
        with open(self.up_out, "wb") as out:
            self.process = subprocess.Popen(
                [self.binary, "up", self.topology, "--run-folder", self.run_folder, "--log-level", self.log_level],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout=READY_TIMEOUT):
        """True once up.out says `ready in`; False on timeout or when up exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready in" in tail(self.up_out, 200):
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def up_alive(self):
        return self.process is not None and self.process.poll() is None

    def status(self):
        """`spacegrid status --json` as a dict, or None (broker unreachable, timeout, unreadable)."""
        try:
            result = subprocess.run([self.binary, "status", "--json", "--broker", self.endpoint],
                                    capture_output=True, timeout=STATUS_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None

    def stop(self):
        """SIGTERM to up (it stops units, broker and mirror in order); SIGKILL after STOP_TIMEOUT."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logs(self):
        """Every process log of the run folder, by name."""
        return sorted(glob.glob(os.path.join(self.run_folder, "logs", "*.log")))

    def log_tails(self, lines=20):
        """The tail of up.out and of each process log, for a person looking into a failure."""
        parts = ["==> %s <==\n%s" % (self.up_out, tail(self.up_out, lines))]
        for path in self.logs():
            parts.append("==> %s <==\n%s" % (path, tail(path, lines)))
        return "\n".join(parts)


# --- reading a status -------------------------------------------------------


def section_status(status, name):
    """The status of one section, or None."""
    for section in (status or {}).get("sections") or []:
        if section.get("name") == name:
            return section
    return None


def units(status, name):
    """The units of a section as reported: [{"name", "pid", ...}]."""
    section = section_status(status, name)
    return list(section.get("units") or []) if section else []


def leader_counts(status, name):
    """unit name -> partitions it leads, for every unit of the section (0 included)."""
    section = section_status(status, name)
    if section is None:
        return {}
    counts = {unit["name"]: 0 for unit in section.get("units") or []}
    for partition in section.get("partitions") or []:
        primary = partition.get("primary")
        if primary in counts:
            counts[primary] += 1
    return counts


def in_sync(partition):
    """The backups the primary counts as in sync.

    An old broker does not report `in_sync`; then the backups count as in sync when
    none is behind, or the oldest change they have not acknowledged is younger than
    half a second (under load a healthy backup is always a few changes behind).
    """
    if "in_sync" in partition:
        return list(partition.get("in_sync") or [])
    keeping_up = partition.get("behind", 0) == 0 or partition.get("unacked_ms", 0) < 500
    return list(partition.get("backups") or []) if keeping_up else []


def whole(status):
    """(True, "") when the grid is whole, else (False, why).

    Whole: ready, every partition of every section has a primary, its full number
    of backups, and every backup in sync.
    """
    if status is None:
        return False, "no status (broker unreachable)"
    if not status.get("ready"):
        return False, "not ready"
    for name, shape in SECTIONS.items():
        section = section_status(status, name)
        if section is None:
            return False, "section %s missing" % name
        partitions = section.get("partitions") or []
        if len(partitions) != shape["partitions"]:
            return False, "%s: %d partitions reported" % (name, len(partitions))
        if section.get("moves"):
            return False, "%s: %d partitions moving" % (name, len(section["moves"]))
        if any(unit.get("draining") for unit in section.get("units") or []):
            return False, "%s: units draining" % name
        for partition in partitions:
            number = partition.get("partition")
            backups = partition.get("backups") or []
            if not partition.get("primary"):
                return False, "%s partition %s has no primary" % (name, number)
            if len(backups) != shape["backups"]:
                return False, "%s partition %s has backups %s" % (name, number, backups)
            if sorted(in_sync(partition)) != sorted(backups):
                return False, "%s partition %s: in sync %s of backups %s" % (name, number, in_sync(partition), backups)
    return True, ""


def mirror_pending(status):
    """Changes the mirror has not written yet, summed over sections; None when there is no mirror report."""
    mirror = (status or {}).get("mirror")
    if not mirror or not isinstance(mirror.get("sections"), list):
        return None
    return sum(int(section.get("pending_changes", 0)) for section in mirror["sections"])


# --- the database -------------------------------------------------------------


def to_u64(version):
    """SQLite holds the u64 version's bit pattern in a signed 64-bit integer."""
    return version & 0xFFFFFFFFFFFFFFFF


def read_database(path, sections=(REGISTER, CUSTOMER)):
    """{(section, key bytes): (value bytes, version)} from the sections' tables (a missing table is empty).

    Opened read-write without creating (mode=rw): in WAL mode a reader may need
    to write the -shm file, and a missing database must be an error, not a new file.
    """
    rows = {}
    connection = sqlite3.connect("file:%s?mode=rw" % path, uri=True, timeout=30)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for section in sections:
            table = "section_%s" % section
            if table not in tables:
                continue
            for key, value, version in connection.execute("SELECT key, value, version FROM %s" % table):
                key = key.encode("utf-8") if isinstance(key, str) else bytes(key)
                value = value.encode("utf-8") if isinstance(value, str) else bytes(value)
                rows[(section, key)] = (value, to_u64(version))
    finally:
        connection.close()
    return rows


# --- waiting -------------------------------------------------------------------


def wait_whole(grid, timeout=60.0, interval=0.2):
    """Polls the status until the grid is whole: (True, seconds, "") or (False, seconds, last reason).

    Raises HarnessError when `up` itself has exited: nothing will heal then.
    """
    started = time.monotonic()
    reason = ""
    while True:
        if not grid.up_alive():
            raise HarnessError("spacegrid up exited (code %s); see %s" % (grid.process.poll(), grid.up_out))
        ok, reason = whole(grid.status())
        elapsed = time.monotonic() - started
        if ok:
            return True, elapsed, ""
        if elapsed >= timeout:
            return False, elapsed, reason
        time.sleep(interval)


def reported_pid(status, name):
    """The pid the status reports for `broker`, `mirror` or a unit name (None when absent)."""
    if status is None:
        return None
    if name == "broker":
        return status.get("broker_pid")
    if name == "mirror":
        return (status.get("mirror") or {}).get("pid")
    for section in status.get("sections") or []:
        for unit in section.get("units") or []:
            if unit.get("name") == name:
                return unit.get("pid")
    return None


def wait_replaced(grid, killed, timeout=60.0, interval=0.1):
    """Waits until every killed (name, pid) shows up again under a new pid; (True, "") or (False, who not).

    Right after a kill -9 the status still shows the dead process (the broker
    needs three missed heartbeats to notice), so "whole" means nothing until then.
    """
    deadline = time.monotonic() + timeout
    missing = list(killed)
    while True:
        status = grid.status()
        missing = [(name, pid) for name, pid in missing if reported_pid(status, name) in (None, pid)]
        if not missing:
            return True, ""
        if time.monotonic() >= deadline:
            return False, "not restarted: " + ", ".join("%s (was pid %s)" % item for item in missing)
        if not grid.up_alive():
            raise HarnessError("spacegrid up exited (code %s); see %s" % (grid.process.poll(), grid.up_out))
        time.sleep(interval)


def wait_mirror_idle(grid, timeout=60.0, interval=0.6):
    """True once two status reads in a row, `interval` apart, show no pending change in any mirror section.

    The mirror reports every half second, so reads closer than that could see one report twice.
    """
    deadline = time.monotonic() + timeout
    idle_reads = 0
    while time.monotonic() < deadline:
        pending = mirror_pending(grid.status())
        idle_reads = idle_reads + 1 if pending == 0 else 0
        if idle_reads >= 2:
            return True
        time.sleep(interval)
    return False
