"""`scripts/multihost-test`: arguments, and one run from start to finish.

A run: check that namespaces can be made, build the network, make the keys and
the topology, start each host's part (h1 first: broker, mirror, a unit), move this
process into the client host, open the accounts, start the workload, inject the
faults in turn for --duration seconds, stop the workload, wait for a whole grid and
an idle mirror, read every key through the grid and from the database, check,
report. Teardown (always, Ctrl-C included): heal the network, stop every `up` by
pid, kill whatever is left in our namespaces, delete them.
"""

import argparse
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

import zmq

from chaoslib import checker, report
from chaoslib.cli import positive, count
from chaoslib.client import GIVE_UP_AFTER, Connection, Worker, final_reads, open_accounts
from chaoslib.grid import HarnessError, find_binary, read_database, wait_mirror_idle, wait_whole
from chaoslib.history import ACCOUNTS, CUSTOMER, INITIAL_BALANCE, REGISTER, REGISTER_KEYS

from . import network as net
from .faults import KINDS, NetworkNemesis
from .grid import CLIENT, HOSTS, HostGrid

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOWN_VIOLATIONS = 20
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
    return args


def say(text):
    print(text, file=sys.stderr, flush=True)


class Run:
    def __init__(self, args, seed):
        self.args = args
        self.seed = seed
        self.rng = random.Random(seed)
        self.t0 = time.monotonic()
        self.folder = None
        self.network = None
        self.grid = None
        self.context = None
        self.workers = []
        self.nemesis = None
        self.history = []

    def log(self, text):
        say("%8.1fs  %s" % (time.monotonic() - self.t0, text))

    def debug(self, text):
        if self.args.verbose:
            self.log(text)

    def start(self):
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
        self.grid = HostGrid(binary, self.folder, self.network)
        self.grid.make_keys()
        self.grid.write_topology()
        self.log("starting h1 (broker, mirror, units) in %s" % self.folder)
        self.grid.start("h1")
        # The broker's host first: the other hosts' units join it.
        for host in HOSTS[1:]:
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

    def run(self):
        self.start()
        self.context = zmq.Context()
        for option, value in self.grid.client_options().items():
            setattr(self.context, option, value)   # every socket of this context is a CURVE client with the client key
        self.nemesis = NetworkNemesis(self.grid, self.network, self.rng, log=self.log)
        connection = Connection(self.context, self.grid.endpoint, "multihost-%d-setup" % self.seed, random.Random(self.seed + 1))
        try:
            initial = open_accounts(connection, self.history, INITIAL_BALANCE, time.monotonic() + 60)
        except RuntimeError as error:
            raise HarnessError(str(error))
        finally:
            connection.close()
        self.log("%d accounts open; %d clients (%d direct) start" % (len(initial), self.args.clients, self.args.direct))
        started = time.monotonic()
        for index in range(self.args.clients):
            worker = Worker(self.context, self.grid.endpoint, "multihost-%d-%d" % (self.seed, index), self.seed,
                            log=self.debug, direct=index >= self.args.clients - self.args.direct)
            worker.start()
            self.workers.append(worker)
        slices = self.run_faults(started)
        self.log("faults done; stopping the workload")
        for worker in self.workers:
            worker.stopping.set()
        for worker in self.workers:
            worker.join(GIVE_UP_AFTER + 10)
        self.check_workers()
        slices[-1].end = time.monotonic()
        ok, seconds, reason = wait_whole(self.grid)
        if not ok:
            self.log("warning: the grid is not whole %.0f s after the last fault (%s)" % (seconds, reason))
        if not wait_mirror_idle(self.grid):
            self.log("warning: the mirror still had changes to write after 60 s")
        self.log("reading every key through the grid and from the database")
        connection = Connection(self.context, self.grid.endpoint, "multihost-%d-final" % self.seed, random.Random(self.seed + 2))
        try:
            final_reads(connection, self.history, time.monotonic() + 300)
        finally:
            connection.close()
        unreadable = None
        try:
            database = read_database(self.grid.database)
        except sqlite3.Error as error:
            database, unreadable = None, checker.violation("database", "-", "could not read %s: %s" % (self.grid.database, error))
        ops = sorted(self.history + [op for worker in self.workers for op in worker.history], key=lambda op: op.invoke)
        expected = [(REGISTER, key) for key in REGISTER_KEYS] + [(CUSTOMER, key) for key in ACCOUNTS]
        violations = checker.check_all(ops, initial, database, expected, self.t0)
        if unreadable:
            violations.append(unreadable)
        return self.print_report(slices, ops, violations)

    def check_workers(self):
        for worker in self.workers:
            if worker.error is not None:
                raise HarnessError("client %s failed: %r" % (worker.client_id, worker.error))

    def run_faults(self, start):
        """Each fault kind in turn, for its share of the duration."""
        share = self.args.duration / len(self.args.faults)
        slices = []
        for kind in self.args.faults:
            current = report.Slice(kind, start if not slices else time.monotonic())
            if slices:
                slices[-1].end = current.start
            slices.append(current)
            end = current.start + share
            self.log("%s for %.0f s" % (kind, share))
            while True:
                time.sleep(self.rng.uniform(0.5, 2.0))
                fault = self.nemesis.run(kind)
                current.faults.append(fault)
                say(fault.line(self.t0))
                self.check_workers()
                if time.monotonic() + 0.5 >= end:
                    break
        return slices

    def print_report(self, slices, ops, violations):
        faults = sum(len(item.faults) for item in slices)
        for number, found in enumerate(violations[:SHOWN_VIOLATIONS], 1):
            print(report.format_violation(number, found))
        if len(violations) > SHOWN_VIOLATIONS:
            print("... and %d more violations" % (len(violations) - SHOWN_VIOLATIONS))
        if violations and self.args.verbose:
            say(self.grid.log_tails(20))
        if self.args.keep:
            report.write_history(os.path.join(self.folder, "history.jsonl"), ops, self.t0)
            report.write_violations(os.path.join(self.folder, "violations.json"), violations, self.t0)
        table = report.rows(slices, ops, violations)
        print(report.markdown_table(table).replace("| nemesis |", "| fault |", 1))
        if self.args.json:
            print(report.summary_json(report.summary(self.seed, self.args.duration, ops, faults, violations, table)))
        print("multihost: %d operations, %d faults, %d violations" % (len(ops), faults, len(violations)), flush=True)
        return 1 if violations else 0

    def cleanup(self):
        """Heals and stops everything this run made; removes the folder unless --keep."""
        for worker in self.workers:
            worker.aborting.set()
        for worker in self.workers:
            worker.join(5)
        if self.network is not None:
            self.network.heal()
        if self.grid is not None:
            self.grid.stop()
        if self.network is not None:
            # Anything still in our namespaces is ours (a child of an `up` that was killed): by pid.
            for pid in self.network.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.network.teardown()
        if self.context is not None and not any(worker.is_alive() for worker in self.workers):
            self.context.term()
        if self.folder is not None:
            if self.args.keep:
                say("multihost: run folder %s" % self.folder)
            else:
                shutil.rmtree(self.folder, ignore_errors=True)


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
