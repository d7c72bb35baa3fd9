"""The network faults, each: inject, hold, heal, then wait (up to 60 s) for the grid to be whole.

- cut-host: a host's interface down for 2 to 6 s (`ip link set eth0 down`), then up.
  The broker's host now and then: the broker then loses every other host at once.
- netem: every grid host's outgoing packets delayed 20 ms ± 5 ms and 1% lost
  (`tc qdisc ... netem`), for 10 to 20 s, the grid serving all along. On a kernel
  without sch_netem, the 1% loss alone, by nftables (network.Network.shape).
- partition-broker: blackhole routes between the broker's host and one other host,
  both ways, for 2 to 6 s; the other hosts still reach both.
"""

import time

from chaoslib.grid import wait_whole
from chaoslib.nemesis import WHOLE_TIMEOUT, Fault

from .grid import HOSTS

KINDS = ["cut-host", "netem", "partition-broker"]


def hold_range(kind):
    """How long a fault of `kind` lasts, in seconds (low, high)."""
    return (10.0, 20.0) if kind == "netem" else (2.0, 6.0)


class NetworkNemesis:
    """Injects network faults into the grid's hosts, with a seeded random generator."""

    def __init__(self, grid, network, rng, log=None):
        self.grid = grid
        self.network = network
        self.rng = rng
        self.log = log or (lambda text: None)
        self.rounds = 0

    def run(self, kind):
        """One fault of `kind`; returns its Fault (healed and waited for)."""
        self.rounds += 1
        hold = self.rng.uniform(*hold_range(kind))
        if kind == "cut-host":
            # The broker's host every third time; a unit host otherwise.
            host = "h1" if self.rounds % 3 == 0 else self.rng.choice(HOSTS[1:])
            fault = Fault(kind, kind, host, time.monotonic())
            self.network.cut_off(host)
            time.sleep(hold)
            self.network.reconnect(host)
            fault.description = "interface down %.1f s" % hold
        elif kind == "netem":
            fault = Fault(kind, kind, "all hosts", time.monotonic())
            done = [self.network.shape(host, 20, 5, 1) for host in HOSTS]
            time.sleep(hold)
            for host in HOSTS:
                self.network.unshape(host)
            fault.description = "%s for %.1f s" % (done[0], hold)
        elif kind == "partition-broker":
            other = self.rng.choice(HOSTS[1:])
            fault = Fault(kind, kind, "h1 | %s" % other, time.monotonic())
            self.network.partition("h1", other)
            time.sleep(hold)
            self.network.heal_partitions()
            fault.description = "blackholed both ways %.1f s" % hold
        else:
            raise ValueError("unknown fault %r" % kind)
        fault.whole, fault.whole_after, fault.reason = wait_whole(self.grid, timeout=WHOLE_TIMEOUT)
        return fault

    def cleanup(self):
        self.network.heal()
