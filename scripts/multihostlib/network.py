"""A network of test hosts on this machine: one network namespace per host, each with
a veth whose other end sits on a bridge in a switch namespace.

Nothing is configured in the namespace the harness starts in: the bridge has no
address, and every address lives inside the namespaces created here. Every name
carries this run's prefix, so two runs never meet, and teardown deletes exactly
what was created (deleting a namespace removes its veth, and the bridge with the
switch's).
"""

import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000
INTERFACE = "eth0"


class NetworkError(RuntimeError):
    """An ip or tc command failed."""


def run(arguments, check=True):
    """Runs a command; raises NetworkError with its output when it fails (and `check`)."""
    result = subprocess.run(arguments, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise NetworkError("%s: %s" % (" ".join(arguments), (result.stderr or result.stdout).strip()))
    return result


def unsupported_reason():
    """Why this machine cannot build the network (None when it can): tries a namespace of its own."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "tc"):
        if subprocess.run(["sh", "-c", "command -v %s" % tool], capture_output=True).returncode != 0:
            return "%s is not installed (Debian's iproute2)" % tool
    probe = "sgprobe%d" % os.getpid()
    result = run(["ip", "netns", "add", probe], check=False)
    if result.returncode != 0:
        return (result.stderr or "ip netns add failed").strip()
    run(["ip", "netns", "del", probe], check=False)
    return None


class Network:
    """Hosts `names` on 10.<a>.<b>.0/24, addresses .1, .2, ... in that order."""

    def __init__(self, names, prefix=None, subnet=None):
        self.prefix = prefix or "sgmh%d" % os.getpid()
        # A /24 unlikely to be routed here: 10.213.<pid-derived>.0 (only inside our namespaces anyway).
        self.subnet = subnet or "10.213.%d" % (os.getpid() % 250 + 1)
        self.names = list(names)
        self.addresses = {name: "%s.%d" % (self.subnet, index + 1) for index, name in enumerate(self.names)}
        self.switch = self.prefix + "-sw"
        self.created = []
        self.cut = set()
        self.shaped = {}
        self.blackholes = []

    def namespace(self, host):
        return "%s-%s" % (self.prefix, host)

    def exec_prefix(self, host):
        """The command prefix that runs a program on `host`."""
        return ["ip", "netns", "exec", self.namespace(host)]

    def create(self):
        """Makes the switch and every host; on a failure, removes what it made and raises."""
        try:
            self._add_namespace(self.switch)
            run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
            run(["ip", "-n", self.switch, "link", "set", "br0", "up"])
            run(["ip", "-n", self.switch, "link", "set", "lo", "up"])
            for index, host in enumerate(self.names):
                namespace = self.namespace(host)
                self._add_namespace(namespace)
                # Interface names are at most 15 bytes: short ones, renamed inside the namespaces.
                outer, inner = "sg%dp%d" % (os.getpid() % 100000, index), "sg%dh%d" % (os.getpid() % 100000, index)
                run(["ip", "link", "add", outer, "netns", self.switch, "type", "veth", "peer", "name", inner, "netns", namespace])
                run(["ip", "-n", self.switch, "link", "set", outer, "master", "br0", "up"])
                run(["ip", "-n", namespace, "link", "set", inner, "name", INTERFACE])
                run(["ip", "-n", namespace, "addr", "add", self.addresses[host] + "/24", "dev", INTERFACE])
                run(["ip", "-n", namespace, "link", "set", INTERFACE, "up"])
                run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        except NetworkError:
            self.teardown()
            raise

    def _add_namespace(self, name):
        run(["ip", "netns", "add", name])
        self.created.append(name)

    def enter(self, host):
        """Moves this process's calling thread into `host`'s namespace (threads started later follow it)."""
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = os.open("/var/run/netns/%s" % self.namespace(host), os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise NetworkError("setns into %s: %s" % (host, os.strerror(ctypes.get_errno())))
        finally:
            os.close(fd)

    def pids(self):
        """Every process still running in our namespaces (only ours can be there)."""
        found = []
        for namespace in self.created:
            result = run(["ip", "netns", "pids", namespace], check=False)
            found += [int(pid) for pid in result.stdout.split() if pid.isdigit() and int(pid) != os.getpid()]
        return found

    # --- faults ---------------------------------------------------------------

    def cut_off(self, host):
        """`ip link set eth0 down` on the host: nothing goes in or out."""
        run(["ip", "-n", self.namespace(host), "link", "set", INTERFACE, "down"])
        self.cut.add(host)

    def reconnect(self, host):
        run(["ip", "-n", self.namespace(host), "link", "set", INTERFACE, "up"])
        self.cut.discard(host)

    def shape(self, host, delay_ms, jitter_ms, loss_percent):
        """tc netem on the host's interface: its outgoing packets delayed and lost. Returns what was done.

        A kernel built without sch_netem (this project's CI machines run one) gets the loss
        alone, from an nftables rule dropping that share of outgoing packets at random; the
        delay cannot be made without netem, and the description says so.
        """
        namespace = self.namespace(host)
        result = run(["ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev", INTERFACE, "root", "netem",
                      "delay", "%dms" % delay_ms, "%dms" % jitter_ms, "loss", "%g%%" % loss_percent], check=False)
        if result.returncode == 0:
            self.shaped[host] = "netem"
            return "netem delay %d ms ± %d ms, loss %g%%" % (delay_ms, jitter_ms, loss_percent)
        if "unknown" not in (result.stderr or ""):
            raise NetworkError("tc netem on %s: %s" % (host, result.stderr.strip()))
        per_mille = int(round(loss_percent * 10))
        for command in (["add", "table", "inet", "sgloss"],
                        ["add", "chain", "inet", "sgloss", "out", "{ type filter hook output priority 0; policy accept; }"],
                        ["add", "rule", "inet", "sgloss", "out", "oifname", INTERFACE, "numgen", "random", "mod", "1000", "<",
                         str(per_mille), "drop"]):
            run(["ip", "netns", "exec", namespace, "nft"] + command)
        self.shaped[host] = "nft"
        return "loss %g%% by nftables (this kernel has no sch_netem: no delay)" % loss_percent

    def unshape(self, host):
        how = self.shaped.pop(host, None)
        if how == "netem":
            run(["ip", "netns", "exec", self.namespace(host), "tc", "qdisc", "del", "dev", INTERFACE, "root"], check=False)
        elif how == "nft":
            run(["ip", "netns", "exec", self.namespace(host), "nft", "delete", "table", "inet", "sgloss"], check=False)

    def partition(self, one, other):
        """Blackhole routes both ways: the two hosts' packets to each other vanish, the rest flows."""
        for source, target in ((one, other), (other, one)):
            run(["ip", "-n", self.namespace(source), "route", "add", "blackhole", self.addresses[target] + "/32"])
            self.blackholes.append((source, target))

    def heal_partitions(self):
        for source, target in self.blackholes:
            run(["ip", "-n", self.namespace(source), "route", "del", "blackhole", self.addresses[target] + "/32"], check=False)
        self.blackholes = []

    def heal(self):
        """Undoes every fault still in place."""
        for host in list(self.cut):
            self.reconnect(host)
        for host in list(self.shaped):
            self.unshape(host)
        self.heal_partitions()

    def teardown(self):
        """Deletes every namespace made (their veths and the bridge go with them)."""
        for namespace in reversed(self.created):
            run(["ip", "netns", "del", namespace], check=False)
        self.created = []
