"""`scripts/chaos`: arguments, and one run from start to finish.

A run: start the grid, open the accounts, start the workload, give each nemesis
its slice of the duration, stop the workload, wait for a whole grid and an idle
mirror, read every key through the grid and from the database, check, report.
Exit 0 without violations, 1 with, 2 when the harness could not do its job,
130 when interrupted.
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

from . import checker, report, wire
from .client import GIVE_UP_AFTER, Connection, Worker, final_reads, open_accounts
from .grid import Grid, HarnessError, find_binary, read_database, wait_mirror_idle, wait_whole
from .history import ACCOUNTS, CUSTOMER, INITIAL_BALANCE, REGISTER, REGISTER_KEYS
from .nemesis import ALL, BASIC, Nemesis

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOWN_VIOLATIONS = 20


def nemesis_list(text):
    """`a,b,c` -> ["a", "b", "c"], each a known nemesis (argparse reports the bad ones)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL]
    if not names or unknown:
        raise argparse.ArgumentTypeError("unknown nemesis %s; choose from %s" % (", ".join(unknown) or "''", ", ".join(ALL)))
    return names


def positive(kind):
    """An argparse type: a number of `kind` above zero."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be above 0, got %s" % text)
        return value
    return parse


def count(text):
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more, got %s" % text)
    return value


def default_direct(clients):
    """About a third of the clients, at least one: 1 of 1..4, 2 of 5..7, 3 of 8..10..."""
    return max(1, round(clients / 3))


def parse_args(argv=None):
    """The command line; bad arguments exit 2 with a usage message."""
    parser = argparse.ArgumentParser(
        prog="chaos",
        description="Fault injection against a SpaceGrid grid, with a history checker.")
    parser.add_argument("--seed", type=int, help="random seed (default: random; printed first, to repeat a run)")
    parser.add_argument("--duration", type=positive(float), default=60.0, help="seconds of faults in all (default 60)")
    parser.add_argument("--nemesis", type=nemesis_list, default=list(BASIC),
                        help="one or several of %s, comma-separated (default: all but mixed, in turn)" % ", ".join(ALL))
    parser.add_argument("--clients", type=positive(int), default=4, help="workload clients (default 4)")
    parser.add_argument("--binary", help="the spacegrid binary (default: .build/release, then .build/debug)")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (its path is printed)")
    parser.add_argument("--verbose", action="store_true", help="more progress; log tails on a violation")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    parser.add_argument("--log-level", default="info", choices=["trace", "debug", "info", "notice", "warning", "error"],
                        help="the grid processes' log level (default info)")
    parser.add_argument("--protocol", choices=["sgc02", "sgc01"], default="sgc02",
                        help="sgc01 only to try the harness against an old binary: it has no request ids, "
                             "so a resend may apply twice and show up as a violation")
    parser.add_argument("--direct", type=count, metavar="N",
                        help="how many of the clients send over the direct path (SGD02: straight to the key's "
                             "primary unit, through the broker after a 421, a 503 or a timeout, with the same "
                             "request id); default about a third of --clients, at least 1 (1 of the default 4); "
                             "0: every client goes through the broker")
    args = parser.parse_args(argv)
    if args.direct is None:
        args.direct = 0 if args.protocol == "sgc01" else default_direct(args.clients)
    if args.direct > args.clients:
        parser.error("--direct %d is more than --clients %d" % (args.direct, args.clients))
    if args.direct and args.protocol == "sgc01":
        parser.error("--direct needs request ids: it cannot go with --protocol sgc01")
    return args


def say(text):
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


class Run:
    """One chaos run and everything it started.

    scripts/multihost-test runs the same phases over network namespaces: it overrides
    `start_grid`, `make_context` and `make_nemesis` (and `name`, which prefixes client
    ids and the summary line).
    """

    name = "chaos"

    def __init__(self, args, seed):
        self.args = args
        self.seed = seed
        self.rng = random.Random(seed)
        self.protocol = wire.SGC01 if args.protocol == "sgc01" else wire.SGC02
        self.t0 = time.monotonic()
        self.folder = None
        self.grid = None
        self.context = None
        self.workers = []
        self.nemesis = None
        self.history = []  # setup and final reads; the workers keep their own

    def log(self, text):
        say("%8.1fs  %s" % (time.monotonic() - self.t0, text))

    def debug(self, text):
        if self.args.verbose:
            self.log(text)

    # --- phases ---------------------------------------------------------------

    def start_grid(self):
        binary = find_binary(REPOSITORY, self.args.binary)
        if binary is None:
            raise HarnessError("no spacegrid binary (%s); build it or pass --binary" % (
                self.args.binary or "looked in %s/.build/{release,debug}" % REPOSITORY))
        self.folder = tempfile.mkdtemp(prefix="spacegrid-chaos-")
        self.grid = Grid(binary, self.folder, log_level=self.args.log_level)
        self.log("starting %s on %s in %s" % (binary, self.grid.endpoint, self.folder))
        self.grid.start()
        if not self.grid.wait_ready():
            say(self.grid.log_tails(30))
            if not self.grid.up_alive():
                raise HarnessError("spacegrid up exited with code %s before it was ready" % self.grid.process.poll())
            raise HarnessError("the grid did not start within 90 s")
        ok, seconds, reason = wait_whole(self.grid)
        if not ok:
            self.log("warning: the grid is not whole %.0f s after starting (%s)" % (seconds, reason))
        else:
            self.log("grid ready and whole")

    def open_accounts(self):
        connection = Connection(self.context, self.grid.endpoint, "%s-%d-setup" % (self.name, self.seed),
                                random.Random(self.seed + 1), self.protocol)
        try:
            return open_accounts(connection, self.history, INITIAL_BALANCE, time.monotonic() + 60)
        except RuntimeError as error:
            raise HarnessError(str(error))
        finally:
            connection.close()

    def start_workload(self):
        """The clients; the last --direct of them use the direct path."""
        for index in range(self.args.clients):
            worker = Worker(self.context, self.grid.endpoint, "%s-%d-%d" % (self.name, self.seed, index), self.seed,
                            self.protocol, log=self.debug, direct=index >= self.args.clients - self.args.direct)
            worker.start()
            self.workers.append(worker)

    def check_workers(self):
        for worker in self.workers:
            if worker.error is not None:
                raise HarnessError("client %s failed: %r" % (worker.client_id, worker.error))

    def run_faults(self, start):
        """Each nemesis in turn, for its share of the duration, the first from `start`; returns the slices."""
        share = self.args.duration / len(self.args.nemesis)
        slices = []
        for name in self.args.nemesis:
            current = report.Slice(name, start if not slices else time.monotonic())
            if slices:
                slices[-1].end = current.start
            slices.append(current)
            end = current.start + share
            self.log("%s for %.0f s" % (name, share))
            while True:
                time.sleep(self.rng.uniform(0.5, 2.0))
                self.debug("%s: injecting" % name)
                fault = self.nemesis.run(name)
                if fault is not None:
                    current.faults.append(fault)
                    say(fault.line(self.t0))
                self.check_workers()
                if time.monotonic() + 0.5 >= end:
                    break
        return slices

    def stop_workload(self):
        for worker in self.workers:
            worker.stopping.set()
        for worker in self.workers:
            worker.join(GIVE_UP_AFTER + 10)
        self.check_workers()
        for worker in self.workers:
            connection = worker.connection
            if connection is not None:
                self.debug("%s: %d operations, %d resends, %d 503s, %d late and %d unreadable replies%s" % (
                    worker.client_id, len(worker.history), connection.resends, connection.unavailable_replies,
                    connection.late_replies, connection.bad_replies,
                    "; direct: %s" % connection.figures() if worker.direct else ""))

    def settle(self):
        """Waits for a whole grid and an idle mirror before the final reads."""
        ok, seconds, reason = wait_whole(self.grid)
        if not ok:
            self.log("warning: the grid is not whole %.0f s after the last fault (%s)" % (seconds, reason))
        if not wait_mirror_idle(self.grid):
            self.log("warning: the mirror still had changes to write after 60 s")

    def read_end_state(self):
        connection = Connection(self.context, self.grid.endpoint, "%s-%d-final" % (self.name, self.seed),
                                random.Random(self.seed + 2), self.protocol)
        try:
            final_reads(connection, self.history, time.monotonic() + 300)
        finally:
            connection.close()
        try:
            return read_database(self.grid.database), None
        except sqlite3.Error as error:
            return None, checker.violation("database", "-", "could not read %s: %s" % (self.grid.database, error))

    # --- the whole run --------------------------------------------------------------

    def run(self):
        self.start_grid()
        self.context = self.make_context()
        self.nemesis = self.make_nemesis()
        initial = self.open_accounts()
        self.log("%d accounts open; workload of %d clients starts (%d of them direct)" % (
            len(initial), self.args.clients, self.args.direct))
        started = time.monotonic()
        self.start_workload()
        slices = self.run_faults(started)
        self.log("faults done; stopping the workload")
        self.stop_workload()
        slices[-1].end = time.monotonic()
        self.settle()
        self.log("reading every key through the grid and from the database")
        database, unreadable = self.read_end_state()
        ops = sorted(self.history + [op for worker in self.workers for op in worker.history], key=lambda op: op.invoke)
        expected = [(REGISTER, key) for key in REGISTER_KEYS] + [(CUSTOMER, key) for key in ACCOUNTS]
        violations = checker.check_all(ops, initial, database, expected, self.t0)
        if unreadable:
            violations.append(unreadable)
        return self.print_report(slices, ops, violations, self.direct_figures())

    def make_context(self):
        """The zmq.Context every client socket of the run comes from."""
        return zmq.Context()

    def make_nemesis(self):
        return Nemesis(self.grid, self.rng, log=self.log)

    def direct_figures(self):
        """The direct clients' operations by path, and their connections' counters (report.direct_summary)."""
        direct = [worker for worker in self.workers if worker.direct]
        return report.direct_summary(
            len(direct), len(self.workers), [op for worker in direct for op in worker.history],
            [worker.connection.figures() for worker in direct if worker.connection is not None])

    def print_report(self, slices, ops, violations, direct=None):
        faults = sum(len(item.faults) for item in slices)
        not_whole = sum(1 for item in slices for fault in item.faults if not fault.whole)
        if not_whole:
            say("%s: warning: %d faults left the grid not whole for 60 s" % (self.name, not_whole))
        for number, found in enumerate(violations[:SHOWN_VIOLATIONS], 1):
            print(report.format_violation(number, found))
        if len(violations) > SHOWN_VIOLATIONS:
            print("... and %d more violations" % (len(violations) - SHOWN_VIOLATIONS))
        if violations and self.args.verbose:
            say(self.grid.log_tails(20))
        if self.args.keep:
            report.write_history(os.path.join(self.folder, "history.jsonl"), ops, self.t0)
            report.write_violations(os.path.join(self.folder, "violations.json"), violations, self.t0)
            print("run folder kept: %s (history.jsonl, violations.json, up.out, run/logs)" % self.folder)
        table = report.rows(slices, ops, violations)
        if direct is not None:
            print(report.direct_line(direct, self.name))
            if direct["clients"] and not direct["by_path"]["direct"]["ok"]:
                say("%s: warning: no operation succeeded over the direct path" % self.name)
            if direct["conflicting_replies"]:
                say("%s: warning: %d writes got two replies that disagree (direct and broker); run with "
                    "--verbose to see them" % (self.name, direct["conflicting_replies"]))
        print(report.markdown_table(table))
        if self.args.json:
            print(report.summary_json(report.summary(self.seed, self.args.duration, ops, faults, violations, table,
                                                     direct)))
        print(report.final_line(len(ops), faults, len(violations), self.name), flush=True)
        return 1 if violations else 0

    def cleanup(self):
        """Stops everything this run started; removes the folder unless --keep."""
        if self.nemesis is not None:
            self.nemesis.cleanup()
        for worker in self.workers:
            worker.aborting.set()
        for worker in self.workers:
            worker.join(5)
        if self.grid is not None and self.grid.up_alive():
            say("%s: stopping the grid" % self.name)
            self.grid.stop()
        if self.context is not None and not any(worker.is_alive() for worker in self.workers):
            self.context.term()
        if self.folder is not None:
            if self.args.keep:
                say("%s: run folder %s" % (self.name, self.folder))
            else:
                shutil.rmtree(self.folder, ignore_errors=True)


def interrupt(signum, frame):
    """SIGTERM ends a run like Ctrl-C: the grid is stopped on the way out."""
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000_000)
    print("chaos: seed %d (repeat with --seed %d)" % (seed, seed), flush=True)
    signal.signal(signal.SIGTERM, interrupt)
    # Explicitly: a shell's background job inherits SIGINT ignored, and Ctrl-C must still stop the grid.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run = Run(args, seed)
    try:
        return run.run()
    except HarnessError as error:
        say("chaos: error: %s" % error)
        return 2
    except KeyboardInterrupt:
        say("chaos: interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave the grid running
        run.cleanup()
