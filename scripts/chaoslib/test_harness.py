"""Offline tests of the harness around the checker: arguments, topology, status
reading, the database reader, unavailability and the report."""

import io
import json
import os
import sqlite3
import stat
import sys
import tempfile
import unittest
from contextlib import redirect_stderr

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chaoslib import cli, grid, nemesis, report  # noqa: E402
from chaoslib.history import FAIL, GET, OK, PUT, TRADE, UNKNOWN, Op  # noqa: E402

EXPECTED_TOPOLOGY = """grid: chaos
broker:
  clients: tcp://127.0.0.1:6001
  units: tcp://127.0.0.1:6002
  events: tcp://127.0.0.1:6003
  heartbeat: 100ms
  liveness: 3
database:
  backend: sqlite
  path: chaos.sqlite
  batch: 200
  max_delay: 50ms
sections:
  register:
    units: 3
    partitions: 31
    backups: 2
    mode: sync
  customer:
    units: 2
    partitions: 31
    backups: 1
    mode: sync
"""


class ArgumentTests(unittest.TestCase):
    def test_defaults(self):
        args = cli.parse_args([])
        self.assertEqual((args.seed, args.duration, args.clients, args.keep, args.json), (None, 60.0, 4, False, False))
        self.assertEqual(args.nemesis, nemesis.BASIC)
        self.assertNotIn("mixed", args.nemesis)

    def test_options(self):
        args = cli.parse_args(["--seed", "7", "--duration", "12.5", "--nemesis", "kill-broker, db-away",
                               "--clients", "2", "--binary", "/x", "--keep", "--verbose", "--json"])
        self.assertEqual((args.seed, args.duration, args.nemesis, args.clients, args.binary),
                         (7, 12.5, ["kill-broker", "db-away"], 2, "/x"))
        self.assertTrue(args.keep and args.verbose and args.json)

    def test_bad_arguments_exit_2(self):
        for argv in (["--nemesis", "kill-everything"], ["--nemesis", ""], ["--duration", "0"], ["--duration", "x"],
                     ["--clients", "0"], ["--seed", "abc"], ["--bogus"]):
            with redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as raised:
                cli.parse_args(argv)
            self.assertEqual(raised.exception.code, 2, argv)

    def test_direct_clients(self):
        self.assertEqual(cli.parse_args([]).direct, 1)
        self.assertEqual([cli.parse_args(["--clients", str(n)]).direct for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12)],
                         [1, 1, 1, 1, 2, 2, 2, 3, 3, 4])
        self.assertEqual(cli.parse_args(["--direct", "0"]).direct, 0)
        self.assertEqual(cli.parse_args(["--clients", "3", "--direct", "3"]).direct, 3)
        self.assertEqual(cli.parse_args(["--protocol", "sgc01"]).direct, 0)
        for argv in (["--direct", "-1"], ["--direct", "x"], ["--direct", "5"], ["--clients", "2", "--direct", "3"],
                     ["--protocol", "sgc01", "--direct", "1"]):
            with redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as raised:
                cli.parse_args(argv)
            self.assertEqual(raised.exception.code, 2, argv)

    def test_repository_is_the_parent_of_scripts(self):
        self.assertTrue(os.path.exists(os.path.join(cli.REPOSITORY, "scripts", "chaos")))


class TopologyTests(unittest.TestCase):
    def test_text(self):
        self.assertEqual(grid.topology_text([6001, 6002, 6003]), EXPECTED_TOPOLOGY)

    def test_free_ports_are_distinct(self):
        ports = grid.free_ports(3)
        self.assertEqual(len(set(ports)), 3)
        self.assertTrue(all(1024 < port < 65536 for port in ports))

    def test_grid_paths(self):
        g = grid.Grid("/bin/true", "/tmp/x", [1, 2, 3])
        self.assertEqual((g.endpoint, g.run_folder, g.database, g.up_out),
                         ("tcp://127.0.0.1:1", "/tmp/x/run", "/tmp/x/run/chaos.sqlite", "/tmp/x/up.out"))

    def test_find_binary_prefers_release(self):
        with tempfile.TemporaryDirectory() as repository:
            self.assertIsNone(grid.find_binary(repository))
            for flavour in ("debug", "release"):
                os.makedirs(os.path.join(repository, ".build", flavour))
                path = os.path.join(repository, ".build", flavour, "spacegrid")
                with open(path, "w") as handle:
                    handle.write("#!/bin/sh\n")
                os.chmod(path, stat.S_IRWXU)
                self.assertEqual(grid.find_binary(repository), path)
            self.assertEqual(grid.find_binary(repository, path), path)
            self.assertIsNone(grid.find_binary(repository, os.path.join(repository, "nothing")))


def status(register_in_sync=None, primary="register-1", mirror_pending=0):
    """A status of a whole grid, to be spoiled by each test."""
    def partitions(units, backups, in_sync=None):
        items = []
        for number in range(31):
            lead = units[number % len(units)]
            others = [u for u in units if u != lead][:backups]
            items.append({"partition": number, "primary": lead, "backups": others,
                          "in_sync": others if in_sync is None else in_sync(others), "epoch": 1, "sequence": 0,
                          "behind": 0, "unacked_ms": 0})
        return items
    register_units = ["register-1", "register-2", "register-3"]
    register = partitions(register_units, 2, register_in_sync)
    register[0]["primary"] = primary
    return {
        "broker_pid": 100, "ready": True,
        "sections": [
            {"name": "register", "units": [{"name": n, "pid": 200 + i} for i, n in enumerate(register_units)],
             "partitions": register},
            {"name": "customer", "units": [{"name": "customer-1", "pid": 300}, {"name": "customer-2", "pid": 301}],
             "partitions": partitions(["customer-1", "customer-2"], 1)},
        ],
        "mirror": {"pid": 400, "state": "writing", "sections": [{"name": "register", "pending_changes": mirror_pending},
                                                                {"name": "customer", "pending_changes": 0}]},
    }


class StatusTests(unittest.TestCase):
    def test_whole(self):
        self.assertEqual(grid.whole(status()), (True, ""))

    def test_not_whole(self):
        self.assertFalse(grid.whole(None)[0])
        self.assertFalse(grid.whole(dict(status(), ready=False))[0])
        self.assertIn("no primary", grid.whole(status(primary=None))[1])
        self.assertIn("in sync", grid.whole(status(register_in_sync=lambda backups: backups[:1]))[1])
        shrunk = status()
        shrunk["sections"][1]["partitions"][5]["backups"] = []
        shrunk["sections"][1]["partitions"][5]["in_sync"] = []
        self.assertIn("backups", grid.whole(shrunk)[1])

    def test_old_status_without_in_sync_uses_behind(self):
        old = status()
        for section in old["sections"]:
            for partition in section["partitions"]:
                del partition["in_sync"]
        self.assertTrue(grid.whole(old)[0])
        old["sections"][0]["partitions"][3]["behind"] = 4
        self.assertTrue(grid.whole(old)[0])
        old["sections"][0]["partitions"][3]["unacked_ms"] = 800
        self.assertFalse(grid.whole(old)[0])

    def test_leader_counts_and_most_leading(self):
        counts = grid.leader_counts(status(), "register")
        self.assertEqual(counts, {"register-1": 11, "register-2": 10, "register-3": 10})
        chosen = nemesis.Nemesis(None, None).most_leading(status(), "register")
        self.assertEqual(chosen["name"], "register-1")
        self.assertEqual(grid.leader_counts(status(), "nothing"), {})

    def test_mirror_pending(self):
        self.assertEqual(grid.mirror_pending(status()), 0)
        self.assertEqual(grid.mirror_pending(status(mirror_pending=12)), 12)
        self.assertIsNone(grid.mirror_pending(dict(status(), mirror=None)))
        self.assertIsNone(grid.mirror_pending(None))

    def test_signal_refuses_odd_pids(self):
        for pid in (None, 0, 1, os.getpid(), "12"):
            with self.assertRaises(grid.HarnessError):
                nemesis.Nemesis(None, None).signal(pid, 0)


class DatabaseTests(unittest.TestCase):
    def test_read_database(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "chaos.sqlite")
            connection = sqlite3.connect(path)
            for section in ("register", "customer", "product"):
                connection.execute("CREATE TABLE section_%s (partition INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, "
                                   "version INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (partition, key)) WITHOUT ROWID" % section)
            connection.execute("INSERT INTO section_register VALUES (3, ?, ?, ?, 0)", (b"r1", b"c-1", 5))
            connection.execute("INSERT INTO section_register VALUES (4, ?, ?, ?, 0)", (b"r2", b"c-2", -(1 << 63) + 7))
            connection.execute("INSERT INTO section_customer VALUES (1, ?, ?, ?, 0)", (b"a1", b'{"balance":1}', (1 << 32) + 1))
            connection.execute("INSERT INTO section_product VALUES (1, ?, ?, ?, 0)", (b"p", b"x", 1))
            connection.commit()
            connection.close()
            rows = grid.read_database(path)
        self.assertEqual(rows, {
            ("register", b"r1"): (b"c-1", 5),
            ("register", b"r2"): (b"c-2", (1 << 63) + 7),
            ("customer", b"a1"): (b'{"balance":1}', (1 << 32) + 1),
        })

    def test_missing_tables_are_empty_and_missing_file_is_an_error(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "empty.sqlite")
            sqlite3.connect(path).close()
            self.assertEqual(grid.read_database(path), {})
            with self.assertRaises(sqlite3.Error):
                grid.read_database(os.path.join(folder, "absent.sqlite"))
            self.assertFalse(os.path.exists(os.path.join(folder, "absent.sqlite")))


def op(kind, invoke, complete, outcome=OK, status=200, final=False):
    return Op(kind, "k", invoke=invoke, complete=complete, outcome=outcome, status=status, final=final)


class UnavailabilityTests(unittest.TestCase):
    def test_steady_service_is_short(self):
        ops = [op(PUT, t / 10, t / 10 + 0.01) for t in range(100)]
        self.assertAlmostEqual(report.longest_unavailability(ops, PUT, 0, 10), 0.01, places=6)

    def test_gap_while_requests_wait(self):
        ops = [op(PUT, 0.0, 0.1), op(PUT, 1.0, 3.5), op(PUT, 1.2, 3.6), op(PUT, 4.0, 4.1)]
        self.assertAlmostEqual(report.longest_unavailability(ops, PUT, 0, 10), 2.5)

    def test_failures_and_unknowns_do_not_end_it(self):
        ops = [op(PUT, 1.0, 2.0, FAIL, 500), op(PUT, 1.5, 16.5, UNKNOWN, 504), op(PUT, 16.0, 17.0)]
        self.assertAlmostEqual(report.longest_unavailability(ops, PUT, 0, 30), 16.0)

    def test_not_found_reads_are_served(self):
        ops = [op(GET, 0.0, 1.0, FAIL, 404), op(GET, 0.5, 1.5)]
        self.assertAlmostEqual(report.longest_unavailability(ops, GET, 0, 10), 1.0)

    def test_idle_time_is_not_unavailability(self):
        ops = [op(PUT, 0.0, 0.1), op(PUT, 5.0, 5.1)]
        self.assertAlmostEqual(report.longest_unavailability(ops, PUT, 0, 10), 0.1)

    def test_clipped_to_the_slice(self):
        ops = [op(PUT, 0.0, 10.0), op(PUT, 0.0, 0.5)]
        self.assertAlmostEqual(report.longest_unavailability(ops, PUT, 2.0, 6.0), 4.0)
        self.assertAlmostEqual(report.longest_unavailability(ops, PUT, 20.0, 30.0), 0.0)

    def test_other_kinds_and_final_reads_do_not_count(self):
        ops = [op(TRADE, 0.0, 9.0), op(GET, 0.0, 9.0, final=True)]
        self.assertEqual(report.longest_unavailability(ops, PUT, 0, 10), 0.0)
        self.assertEqual(report.longest_unavailability(ops, GET, 0, 10), 0.0)


class ReportTests(unittest.TestCase):
    def test_rows_table_and_lines(self):
        first, second = report.Slice("kill-primary", 10.0, 20.0), report.Slice("db-away", 20.0, 30.0)
        first.faults = ["f1", "f2"]
        second.faults = ["f3"]
        ops = [op(PUT, 1.0, 1.1), op(PUT, 11.0, 11.2), op(PUT, 12.0, 15.0), op(PUT, 13.0, 13.1),
               op(TRADE, 21.0, 21.5), op(GET, 40.0, 40.1, final=True)]
        violations = [{"rule": "stale-read", "key": "r1", "detail": "d", "time": 12.5},
                      {"rule": "money", "key": "a1", "detail": "d", "time": None}]
        table = report.rows([first, second], ops, violations)
        self.assertEqual(table, [
            {"nemesis": "kill-primary", "faults": 2, "operations": 3, "violations": 1, "longest_unavailability_ms": 1900},
            {"nemesis": "db-away", "faults": 1, "operations": 1, "violations": 0, "longest_unavailability_ms": 500},
            {"nemesis": "final", "faults": 0, "operations": 2, "violations": 1, "longest_unavailability_ms": 0},
        ])
        text = report.markdown_table(table)
        self.assertIn("| kill-primary | 2 | 3 | 1 | 1900 |", text)
        document = report.summary(7, 20.0, ops, 3, violations, table)
        self.assertEqual(set(document), {"seed", "duration", "operations", "faults", "violations", "per_nemesis",
                                         "longest_unavailability_ms"})
        self.assertEqual((document["operations"], document["violations"], document["longest_unavailability_ms"]), (6, 2, 1900))
        self.assertEqual(json.loads(report.summary_json(document)), document)
        self.assertEqual(report.final_line(6, 3, 2), "chaos: 6 operations, 3 faults, 2 violations")

    def test_direct_summary(self):
        ops = [Op(PUT, "r1", outcome=OK, path="direct"), Op(GET, "r1", outcome=UNKNOWN, path="direct"),
               Op(PUT, "r2", outcome=OK, path="fallback"), Op(TRADE, "a1", outcome=FAIL, path="broker")]
        figures = [{"sent_direct": 3, "sent_broker": 1, "answered_direct": 1, "fallbacks": {"421 stale_epoch": 1},
                    "table_reads": 4},
                   {"sent_direct": 2, "fallbacks": {"421 stale_epoch": 2, "moved": 1}, "conflicting_replies": 0}]
        direct = report.direct_summary(2, 4, ops, figures)
        self.assertEqual(direct["by_path"], {"direct": {"operations": 2, "ok": 1, "unknown": 1},
                                             "fallback": {"operations": 1, "ok": 1, "unknown": 0},
                                             "broker": {"operations": 1, "ok": 0, "unknown": 0}})
        self.assertEqual((direct["clients"], direct["of_clients"], direct["operations"], direct["sent_direct"],
                          direct["table_reads"], direct["fallbacks"]),
                         (2, 4, 4, 5, 4, {"421 stale_epoch": 3, "moved": 1}))
        line = report.direct_line(direct)
        self.assertTrue(line.startswith("chaos: direct path: 2 of 4 clients, 4 operations: 2 direct (1 ok, 1 unknown), "
                                        "1 sent direct then through the broker (1 ok, 0 unknown; why: 421 stale_epoch 3, moved 1)"),
                        line)
        self.assertNotIn("violations", line)  # the summary line scripts read stays the only one
        document = report.summary(7, 20.0, ops, 3, [], [], direct)
        self.assertEqual(json.loads(report.summary_json(document))["direct"]["clients"], 2)
        self.assertEqual(report.direct_line(report.direct_summary(0, 4, [], [])), "chaos: direct path: none of the 4 clients")

    def test_history_file_has_the_path(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "history.jsonl")
            report.write_history(path, [Op(PUT, "r1", value=b"v", path="fallback", complete=1.0)], 0.0)
            with open(path) as handle:
                self.assertEqual(json.loads(handle.readline())["path"], "fallback")

    def test_describe_names_the_path(self):
        self.assertNotIn("[broker]", Op(PUT, "r1", value=b"v", outcome=OK, status=200).describe())
        self.assertIn("[direct]", Op(PUT, "r1", value=b"v", outcome=OK, status=200, path="direct").describe())

    def test_slices_of_one_nemesis_add_up(self):
        slices = [report.Slice("mixed", 0.0, 5.0), report.Slice("mixed", 5.0, 9.0)]
        slices[0].faults, slices[1].faults = ["a"], ["b", "c"]
        self.assertEqual([(r["nemesis"], r["faults"]) for r in report.rows(slices, [], [])], [("mixed", 3), ("final", 0)])

    def test_fault_line(self):
        fault = nemesis.Fault("mixed", "kill-broker", "broker (pid 9)", 12.0)
        fault.description, fault.whole, fault.whole_after = "kill -9", True, 1.25
        self.assertEqual(fault.line(2.0).split(), ["10.0s", "mixed/kill-broker", "broker", "(pid", "9)", "kill", "-9;",
                                                    "whole", "again", "after", "1.2", "s"])


if __name__ == "__main__":
    unittest.main()


class ReplacedTests(unittest.TestCase):
    def test_reported_pid(self):
        whole = status()
        self.assertEqual([grid.reported_pid(whole, name) for name in ("broker", "mirror", "register-2", "customer-2", "x")],
                         [100, 400, 201, 301, None])
        self.assertIsNone(grid.reported_pid(None, "broker"))

    def test_wait_replaced(self):
        class FakeGrid:
            """Reports the old pids twice, then new ones."""
            def __init__(self):
                self.reads = 0
            def status(self):
                self.reads += 1
                current = status()
                if self.reads > 2:
                    current["broker_pid"] = 101
                    current["sections"][0]["units"][1]["pid"] = 250
                return current
            def up_alive(self):
                return True
        fake = FakeGrid()
        self.assertEqual(grid.wait_replaced(fake, [("broker", 100), ("register-2", 201)], timeout=5, interval=0), (True, ""))
        self.assertEqual(fake.reads, 3)
        ok, why = grid.wait_replaced(fake, [("mirror", 400)], timeout=0.05, interval=0.01)
        self.assertFalse(ok)
        self.assertIn("mirror (was pid 400)", why)
