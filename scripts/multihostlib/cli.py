"""`scripts/multihost-test`: arguments, and one run from start to finish.

A run is the fault harness's (scripts/chaos, chaoslib.cli.Run) with another grid
and other faults: check that namespaces can be made, build the network, make the
keys and the topology, start each host's part (h1 first: broker, mirror, a unit),
move this process into the client host, then as chaos does: open the accounts,
start the workload, inject the faults in turn for --duration seconds, stop the
workload, wait for a whole grid and an idle mirror, read every key through the
grid and from the database, check, report. Teardown (always, Ctrl-C included): heal the network, stop every `up` by
pid, kill whatever is left in our namespaces, delete them.
"""

import argparse
import os
import random
import signal
import sys
import tempfile

import zmq

from chaoslib.cli import Run as ChaosRun
from chaoslib.cli import count, positive
from chaoslib.grid import HarnessError, find_binary, wait_whole

from . import network as net
from .faults import KINDS, NetworkNemesis
from .grid import CLIENT, HOSTS, HostGrid

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DURATION = 150.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="multihost-test",
        description="SpaceGrid over network namespaces (three grid hosts and a client host, CURVE on), "
                    "with network faults and the history checker. Needs root.")
    parser.add_argument("--duration", type=positive(float), default=DEFAULT_DURATION,
                        help="seconds of faults (default %d: a whole run within five minutes)" % DEFAULT_DURATION)
    parser.add_argument("--seed", type=int, help="random seed (default: random; printed first)")
    parser.add_argument("--clients", type=positive(int), default=4, help="workload clients (default 4)")
    parser.add_argument("--direct", type=count, default=1, help="how many of them use the direct path (default 1)")
    parser.add_argument("--faults", default=",".join(KINDS), help="fault kinds, comma-separated (default: %s)" % ",".join(KINDS))
    parser.add_argument("--binary", help="the spacegrid binary (default: .build/release, then .build/debug)")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (its path is printed)")
    parser.add_argument("--verbose", action="store_true", help="more progress; log tails on a violation")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    parser.add_argument("--log-level", default="info", choices=["trace", "debug", "info", "notice", "warning", "error"],
                        help="the grid processes' log level (default info)")
    parser.add_argument("--skip-if-unsupported", action="store_true",
                        help="exit 0 with a 'skipped' line when this machine cannot create network namespaces")
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.faults.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if not kinds or unknown:
        parser.error("unknown fault %s; choose from %s" % (", ".join(unknown) or "''", ", ".join(KINDS)))
    args.faults = kinds
    if args.direct > args.clients:
        parser.error("--direct %d is more than --clients %d" % (args.direct, args.clients))
    # What the fault harness's run reads.
    args.nemesis = kinds
    args.protocol = "sgc02"
    return args


def say(text):
    print(text, file=sys.stderr, flush=True)


class Run(ChaosRun):
    """The fault harness's run (chaoslib.cli.Run) over network namespaces, with network faults."""

    name = "multihost"

    def __init__(self, args, seed):
        super().__init__(args, seed)
        self.network = None

    def start_grid(self):
        binary = find_binary(REPOSITORY, self.args.binary)
        if binary is None:
            raise HarnessError("no spacegrid binary; build it or pass --binary")
        self.folder = tempfile.mkdtemp(prefix="spacegrid-multihost-")
        os.chmod(self.folder, 0o755)
        self.network = net.Network(HOSTS + [CLIENT])
        self.log("network: %s on %s.0/24 (%s)" % (", ".join("%s %s" % (host, self.network.addresses[host]) for host in HOSTS + [CLIENT]),
                                                  self.network.subnet, self.network.prefix))
        try:
            self.network.create()
        except net.NetworkError as error:
            raise HarnessError("cannot build the network: %s" % error)
        self.grid = HostGrid(binary, self.folder, self.network, log_level=self.args.log_level)
        self.grid.make_keys()
        self.grid.write_topology()
        self.log("starting h1 (broker, mirror, units), then h2 and h3, in %s" % self.folder)
        # The broker's host first: the other hosts' units join it.
        for host in HOSTS:
            self.grid.start(host)
        for host in HOSTS:
            if not self.grid.wait_started(host):
                say(self.grid.log_tails(30))
                raise HarnessError("%s's part did not start (see %s)" % (host, self.grid.out(host)))
        # From here this process is the client host: its sockets, and the status commands it runs.
        self.network.enter(CLIENT)
        ok, seconds, reason = wait_whole(self.grid, timeout=90)
        if not ok:
            raise HarnessError("the grid is not whole %.0f s after starting (%s)" % (seconds, reason))
        self.log("grid whole over %s, CURVE on" % ", ".join(HOSTS))

    def make_context(self):
        """Every socket of this context is a CURVE client with the `client` key."""
        context = zmq.Context()
        for option, value in self.grid.client_options().items():
            setattr(context, option, value)
        return context

    def make_nemesis(self):
        return NetworkNemesis(self.grid, self.network, self.rng, log=self.log)

    def cleanup(self):
        """Heals the network and stops every host's `up` first (they need the network to stop in
        order), then what the fault harness cleans up, then whatever is left in our namespaces
        (by pid), then the namespaces."""
        if self.network is not None:
            self.network.heal()
        for worker in self.workers:
            worker.aborting.set()
        if self.grid is not None:
            self.grid.stop()
        super().cleanup()
        if self.network is not None:
            for pid in self.network.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.network.teardown()


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    reason = net.unsupported_reason()
    if reason is not None:
        print("multihost: skipped: cannot create network namespaces (%s)" % reason, flush=True)
        return 0 if args.skip_if_unsupported else 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000_000)
    print("multihost: seed %d (repeat with --seed %d)" % (seed, seed), flush=True)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run = Run(args, seed)
    try:
        return run.run()
    except HarnessError as error:
        say("multihost: error: %s" % error)
        if run.grid is not None and args.verbose:
            say(run.grid.log_tails(30))
        return 2
    except KeyboardInterrupt:
        say("multihost: interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        run.cleanup()
