"""The direct path: the partition hash against the Swift vectors, SGD02 frames against
the Swift golden bytes, the route table from a status, and direct.DirectConnection
against a scripted fake grid (a broker and two units on inproc://).
"""

import json
import os
import struct
import sys
import threading
import time
import unittest

import zmq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chaoslib import client, direct, wire  # noqa: E402
from chaoslib.history import (BROKER_PATH, DIRECT_PATH, FALLBACK_PATH, GET, OK, PUT, REGISTER, TRADE,  # noqa: E402
                              UNKNOWN, Op)


class HashTests(unittest.TestCase):
    """Tests/GridCoreTests/FNV1aTests.swift and PROTOCOL.md 5.1."""

    def test_known_vectors(self):
        self.assertEqual(direct.FNV_OFFSET_BASIS, 0xcbf29ce484222325)
        self.assertEqual(direct.FNV_PRIME, 0x100000001b3)
        for key, value in (("", 0xcbf29ce484222325), ("a", 0xaf63dc4c8601ec8c), ("foobar", 0x85944171f73967e8),
                           ("42", 0x07ee7e07b4b19223), ("customer-1", 0x66030aab83c70157), ("abc", 0xe71fa2190541574b)):
            self.assertEqual(direct.fnv1a64(key), value, key)
            self.assertEqual(direct.fnv1a64(key.encode()), value, key)

    def test_utf8_bytes_not_characters(self):
        self.assertEqual(direct.fnv1a64("ü"), 0x0ac20a07b71807ea)
        self.assertEqual(direct.fnv1a64(b"\xc3\xbc"), 0x0ac20a07b71807ea)
        self.assertNotEqual(direct.fnv1a64("\u00fc"), direct.fnv1a64("u\u0308"))
        self.assertNotEqual(direct.fnv1a64("ab"), direct.fnv1a64("ba"))

    def test_partitions_modulo_271(self):
        expected = [("", 244), ("a", 49), ("foobar", 28), ("42", 150), ("customer-1", 225),
                    ("hello", 57), ("ü", 41), ("0", 125), ("1", 265), ("abc", 54)]
        for key, partition in expected:
            self.assertEqual(direct.hash_partition(key, 271), partition, key)

    def test_partitions_with_other_counts(self):
        self.assertEqual([direct.hash_partition(key, 7) for key in ("foobar", "1", "0")], [6, 1, 4])
        self.assertEqual(direct.hash_partition("anything", 1), 0)
        with self.assertRaises(ValueError):
            direct.hash_partition("k", 0)

    def test_chaos_keys_spread_over_31_partitions(self):
        partitions = {direct.hash_partition("r%d" % i, 31) for i in range(40)}
        self.assertGreater(len(partitions), 15)
        self.assertTrue(all(0 <= p < 31 for p in partitions))


class DirectWireTests(unittest.TestCase):
    """Tests/GridWireTests/ClientWireGoldenTests.swift, the SGD02 golden frames."""

    def test_direct_request_frames_carry_the_request_id_and_the_route(self):
        frames = wire.encode_direct_request(
            wire.encode_correlation(7), wire.encode_rid(5, 3, b"app-1"), wire.encode_route(141, 3),
            "customer", "put", "42", ['{"balance":100}'])
        self.assertEqual(frames, [
            bytes.fromhex("53 47 44 30 32"),
            bytes.fromhex("00 00 00 00 00 00 00 07"),
            bytes.fromhex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  61 70 70 2d 31"),
            bytes.fromhex("00 00 00 8d  00 00 00 00 00 00 00 03"),
            bytes.fromhex("63 75 73 74 6f 6d 65 72"),
            bytes.fromhex("70 75 74"),
            bytes.fromhex("34 32"),
            bytes.fromhex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d"),
        ])

    def test_direct_request_without_arguments_and_a_wide_route(self):
        frames = wire.encode_direct_request(
            b"\xab", wire.encode_rid(0x0102030405060708, 0x0102030405060707, b"c"),
            wire.encode_route(0xfedcba98, 0x1122334455667788), b"", "get", b"")
        self.assertEqual(frames, [
            b"SGD02", b"\xab",
            bytes.fromhex("01 02 03 04 05 06 07 08  01 02 03 04 05 06 07 07  63"),
            bytes.fromhex("fe dc ba 98  11 22 33 44 55 66 77 88"),
            b"", b"get", b"",
        ])

    def test_protocol_example_and_the_broker_copy(self):
        # PROTOCOL.md 1.6: the put of 1.2 to the primary of partition 150 at epoch 3.
        correlation, rid = wire.encode_correlation(7), wire.encode_rid(5, 3, b"app-1")
        route = wire.encode_route(direct.hash_partition("42", 271), 3)
        self.assertEqual(route, bytes.fromhex("00 00 00 96 00 00 00 00 00 00 00 03"))
        frames = wire.encode_direct_request(correlation, rid, route, "customer", "put", "42", ['{"balance":100}'])
        broker = wire.encode_request(correlation, rid, "customer", "put", "42", ['{"balance":100}'])
        # The same request both ways: only the header and the route differ.
        self.assertEqual(broker, [b"SGC02"] + frames[1:3] + frames[4:])

    def test_limits(self):
        with self.assertRaises(ValueError):
            wire.encode_route(1 << 32, 0)
        with self.assertRaises(ValueError):
            wire.encode_route(0, 1 << 64)
        with self.assertRaises(ValueError):
            wire.encode_direct_request(b"", b"r" * 17, bytes(12), "s", "get", "k")
        with self.assertRaises(ValueError):
            wire.encode_direct_request(b"\x01", b"r" * 17, bytes(11), "s", "get", "k")


def status_document(register_units=("register-1", "register-2"), partitions=31, primary=None, epoch=1, clients=None):
    """A `grid status` with a register section: partition p led by primary(p) (default: round robin)."""
    clients = clients or {name: "inproc://unit-%s" % name for name in register_units}
    lead = primary or (lambda number: register_units[number % len(register_units)])
    return {
        "ready": True, "broker_pid": 1,
        "sections": [
            {"name": REGISTER, "partitioning": "hash", "units": [
                {"name": name, "pid": 10 + i, "clients": clients.get(name, "")} for i, name in enumerate(register_units)],
             "partitions": [dict({"partition": n, "backups": [], "epoch": epoch if not callable(epoch) else epoch(n)},
                                 **({"primary": lead(n)} if lead(n) else {})) for n in range(partitions)]},
            {"name": "ranged", "partitioning": "range", "units": [{"name": "x", "clients": "inproc://x"}],
             "partitions": [{"partition": 0, "primary": "x", "epoch": 1, "backups": []}]},
        ],
    }


class RouteTableTests(unittest.TestCase):
    def test_routes_from_a_status(self):
        table = direct.RouteTable.from_status(status_document(epoch=lambda n: n + 1))
        self.assertEqual(set(table.sections), {REGISTER})  # range sections get no direct route
        partition, target = table.route(REGISTER, "r7")
        self.assertEqual(partition, direct.hash_partition("r7", 31))
        self.assertEqual(target, direct.Target("inproc://unit-register-%d" % (1 + partition % 2), partition + 1))
        self.assertEqual(table.target(REGISTER, partition), target)
        self.assertEqual(table.direct_partitions(), 31)
        self.assertEqual(table.endpoints(), {"inproc://unit-register-1", "inproc://unit-register-2"})
        self.assertEqual(table.route("customer", "a1"), (None, None))
        self.assertIsNone(table.target(REGISTER, 31))
        self.assertIsNone(table.target(REGISTER, None))

    def test_partitions_without_a_direct_route(self):
        document = status_document(primary=lambda n: None if n == 3 else "register-1",
                                   clients={"register-1": "inproc://u1", "register-2": ""})
        document["sections"][0]["partitions"][4]["primary"] = "register-2"   # takes no direct requests
        document["sections"][0]["partitions"][5]["primary"] = "register-9"   # not a unit of the section
        table = direct.RouteTable.from_status(document)
        self.assertEqual([table.target(REGISTER, n) for n in (3, 4, 5)], [None, None, None])
        self.assertEqual(table.target(REGISTER, 6), direct.Target("inproc://u1", 1))
        self.assertEqual(table.direct_partitions(), 28)

    def test_garbage_never_raises_more_than_value_error(self):
        with self.assertRaises(ValueError):
            direct.RouteTable.from_status([1, 2])
        for document in ({}, {"sections": 5}, {"sections": [5, None, {"name": 3}]},
                         {"sections": [{"name": "s", "partitioning": "hash", "units": "x", "partitions": [None, {"partition": "0"}]}]},
                         {"sections": [{"name": "s", "partitioning": "hash", "units": [{"name": "u", "clients": "inproc://u"}],
                                        "partitions": [{"partition": 0, "primary": "u", "epoch": -1},
                                                       {"partition": 9, "primary": "u", "epoch": 1},
                                                       {"partition": True, "primary": "u", "epoch": 1},
                                                       {"partition": 2, "primary": ["u"], "epoch": 1}]}]}):
            table = direct.RouteTable.from_status(document)
            self.assertEqual(table.direct_partitions(), 0, document)


class FakeGrid(threading.Thread):
    """A broker and two register units on inproc://, sharing one store that applies each RID once.

    `script[key]` lists what units do with successive direct requests for the key:
    "ok", "silent", "421", "503", "garbage" (an unreadable reply, then the real one),
    "late" (apply, and answer only once the same request came through the broker);
    when the list runs out, "ok". The broker always applies and answers. `status`
    is the document `grid status` returns (None: no answer, "bad": not JSON).
    """

    def __init__(self, context, name, script=None):
        super().__init__(daemon=True)
        self.broker_endpoint = "inproc://%s-broker" % name
        self.unit_endpoints = {"register-1": "inproc://%s-u1" % name, "register-2": "inproc://%s-u2" % name}
        self.broker = context.socket(zmq.ROUTER)
        self.broker.bind(self.broker_endpoint)
        self.units = {}
        for unit, endpoint in self.unit_endpoints.items():
            socket = context.socket(zmq.ROUTER)
            socket.bind(endpoint)
            self.units[socket] = unit
        self.script = script or {}
        self.status = status_document(clients=self.unit_endpoints)
        self.lock = threading.Lock()
        self.store, self.replies, self.version, self.applied = {}, {}, 0, 0
        self.direct_frames, self.broker_frames, self.status_requests = [], [], 0
        self.held = {}   # correlation -> (socket, identity) of "late" direct requests
        self.running = True

    def apply(self, rid, operation, key, arguments):
        sequence, _, client_id = wire.decode_rid(rid)
        reply = self.replies.get((client_id, sequence))
        if reply is not None:
            return reply
        if operation == b"put":
            self.version += 1
            self.applied += 1
            self.store[key] = (arguments[0], self.version)
            reply = (b"200", str(self.version).encode(), self.version)
        elif key in self.store:
            reply = (b"200",) + self.store[key]
        else:
            reply = (b"404", b'{"code":"not_found","message":""}', 0)
        if operation == b"put":
            self.replies[(client_id, sequence)] = reply
        return reply

    def answer(self, socket, identity, correlation, reply, unit):
        status, payload, version = reply
        socket.send_multipart([identity, b"SGC02", correlation, status, payload, struct.pack(">Q", version) + unit.encode()])

    def run(self):
        poller = zmq.Poller()
        poller.register(self.broker, zmq.POLLIN)
        for socket in self.units:
            poller.register(socket, zmq.POLLIN)
        while self.running:
            for socket, _ in poller.poll(20):
                frames = socket.recv_multipart()
                with self.lock:
                    if socket is self.broker:
                        self.on_broker(frames)
                    else:
                        self.on_unit(socket, frames)

    def on_broker(self, frames):
        identity, header, correlation, rid, section, operation, key = frames[:7]
        if section == b"grid":
            self.status_requests += 1
            if self.status is None:
                return
            payload = b"{not json" if self.status == "bad" else json.dumps(self.status).replace("/", "\\/").encode()
            self.broker.send_multipart([identity, b"SGC02", correlation, b"200", payload, bytes(8)])
            return
        self.broker_frames.append(frames[1:])
        self.answer(self.broker, identity, correlation, self.apply(rid, operation, key, frames[7:]), "register-1")
        held = self.held.pop(correlation, None)
        if held is not None:
            self.answer(held[0], held[1], correlation, self.apply(rid, operation, key, frames[7:]), "old-unit")

    def on_unit(self, socket, frames):
        identity, header, correlation, rid, route, section, operation, key = frames[:8]
        self.direct_frames.append(frames[1:])
        steps = self.script.get(key.decode(), [])
        step = steps.pop(0) if steps else "ok"
        if step == "silent":
            return
        if step in ("421", "503"):
            code = b"stale_epoch" if step == "421" else b"loading"
            socket.send_multipart([identity, b"SGC02", correlation, step.encode(), b'{"code":"%s","message":""}' % code, bytes(8)])
            return
        if step == "garbage":
            socket.send_multipart([identity, b"SGC02", correlation, b"2x0"])
            socket.send_multipart([identity, b"NOPE"])
        reply = self.apply(rid, operation, key, frames[8:])
        if step == "late":
            self.held[correlation] = (socket, identity)
            return
        self.answer(socket, identity, correlation, reply, self.units[socket])

    def stop(self):
        self.running = False
        self.join()
        self.broker.close(0)
        for socket in self.units:
            socket.close(0)


class DirectConnectionTests(unittest.TestCase):
    counter = 0

    def start(self, script=None, **timing):
        DirectConnectionTests.counter += 1
        self.context = zmq.Context.instance()
        self.grid = FakeGrid(self.context, "direct-%d" % DirectConnectionTests.counter, script)
        self.grid.start()
        self.addCleanup(self.grid.stop)
        settings = dict(resend_after=0.3, give_up_after=3.0, direct_wait=0.15, direct_patience=0.8,
                        refresh_every=0.05, status_timeout=0.3)
        settings.update(timing)
        self.connection = direct.DirectConnection(self.context, self.grid.broker_endpoint, "chaos-9-3", **settings)
        self.addCleanup(self.connection.close)

    def put(self, key, value=b"v"):
        return self.connection.call(Op(PUT, key, value=value), "put", [value])

    def test_put_and_get_go_straight_to_the_primary(self):
        self.start()
        self.assertEqual(self.connection.table.direct_partitions(), 31)
        put = self.put("r5", b"chaos-9-3-1")
        get = self.connection.call(Op(GET, "r5"), "get")
        self.assertEqual((put.outcome, put.version, put.path, put.attempts), (OK, 1, DIRECT_PATH, 1))
        self.assertEqual((get.outcome, get.payload, get.path), (OK, b"chaos-9-3-1", DIRECT_PATH))
        partition = direct.hash_partition("r5", 31)
        self.assertEqual(put.unit, "register-%d" % (1 + partition % 2))
        frames = self.grid.direct_frames[0]
        self.assertEqual(frames[0], b"SGD02")
        self.assertEqual(wire.decode_rid(frames[2]), (1, 1, b"chaos-9-3"))
        self.assertEqual(frames[3], wire.encode_route(partition, 1))
        self.assertEqual(frames[4:], [b"register", b"put", b"r5", b"chaos-9-3-1"])
        self.assertEqual(self.grid.broker_frames, [])
        self.assertEqual((self.connection.sent_direct, self.connection.answered_direct, self.connection.fallbacks), (2, 2, {}))

    def test_a_refusal_goes_through_the_broker_with_the_same_request(self):
        for refusal, reason in (("421", "421 stale_epoch"), ("503", "503 loading")):
            with self.subTest(refusal):
                self.start({"r1": [refusal]})
                reads = self.grid.status_requests
                put = self.put("r1")
                self.assertEqual((put.outcome, put.path, put.attempts), (OK, FALLBACK_PATH, 2))
                self.assertEqual(self.connection.fallbacks, {reason: 1})
                direct_copy, broker_copy = self.grid.direct_frames[0], self.grid.broker_frames[0]
                self.assertEqual(broker_copy, [b"SGC02", direct_copy[1], direct_copy[2]] + direct_copy[4:])
                self.assertEqual(self.grid.applied, 1)
                # The table is read again (it was stale), and the next request goes direct again.
                self.connection.call(Op(GET, "r1"), "get")
                deadline = time.monotonic() + 2
                while self.grid.status_requests == reads and time.monotonic() < deadline:
                    self.connection.poll(0.05)
                self.assertGreater(self.grid.status_requests, reads)
                self.assertEqual(self.put("r1", b"w").path, DIRECT_PATH)

    def test_silence_and_a_moved_partition_go_through_the_broker(self):
        self.start({"r2": ["silent"]})
        with self.grid.lock:
            self.grid.status = status_document(clients=self.grid.unit_endpoints, epoch=2)
        put = self.put("r2")
        self.assertEqual((put.outcome, put.path), (OK, FALLBACK_PATH))
        self.assertEqual(self.connection.fallbacks, {"moved": 1})
        self.assertEqual(self.grid.applied, 1)

    def test_silence_on_an_unchanged_table_waits_then_gives_the_broker_a_try(self):
        self.start({"r2": ["silent"]})
        started = time.monotonic()
        put = self.put("r2")
        self.assertEqual((put.outcome, put.path), (OK, FALLBACK_PATH))
        self.assertEqual(self.connection.fallbacks, {"patience": 1})
        self.assertGreaterEqual(time.monotonic() - started, 0.8)

    def test_an_unreadable_table_sends_overdue_requests_through_the_broker(self):
        self.start({"r2": ["silent"]})
        with self.grid.lock:
            self.grid.status = None  # the table cannot be read any more
        put = self.put("r2")
        self.assertEqual((put.outcome, put.status, put.path), (OK, 200, FALLBACK_PATH))  # the broker still answers
        self.assertEqual(self.connection.fallbacks, {"no route now": 1})
        self.assertGreaterEqual(self.connection.refresh_failures, 1)

    def test_given_up_on_the_direct_path(self):
        self.start({"r2": ["silent"] * 10}, give_up_after=0.4, direct_patience=10)
        put = self.put("r2")
        self.assertEqual((put.outcome, put.status, put.code, put.path), (UNKNOWN, 504, "timeout", DIRECT_PATH))
        self.assertEqual(self.connection.in_flight, 0)

    def test_no_route_goes_through_the_broker_and_asks_for_a_table(self):
        self.start()
        with self.grid.lock:
            self.grid.status = status_document(clients=self.grid.unit_endpoints, primary=lambda n: None)
        self.connection._request_table(time.monotonic())
        while self.connection.status_waiting is not None:
            self.connection.poll(0.05)
        self.assertEqual(self.connection.table.direct_partitions(), 0)
        put = self.put("r3")
        self.assertEqual((put.outcome, put.path), (OK, BROKER_PATH))
        self.assertTrue(self.connection.stale)
        with self.grid.lock:
            self.grid.status = status_document(clients=self.grid.unit_endpoints)
        deadline = time.monotonic() + 2
        while self.connection.table.direct_partitions() == 0 and time.monotonic() < deadline:
            self.connection.poll(0.05)
        self.assertEqual(self.put("r3", b"w").path, DIRECT_PATH)

    def test_bad_replies_and_a_bad_status_do_not_break_it(self):
        self.start({"r4": ["garbage"]})
        put = self.put("r4")
        self.assertEqual((put.outcome, put.path), (OK, DIRECT_PATH))
        self.assertEqual(self.connection.bad_replies, 2)
        with self.grid.lock:
            self.grid.status = "bad"
        failures = self.connection.refresh_failures
        self.connection._request_table(time.monotonic())
        while self.connection.status_waiting is not None:
            self.connection.poll(0.05)
        self.assertEqual(self.connection.refresh_failures, failures + 1)
        self.assertEqual(self.put("r4", b"w").path, BROKER_PATH)

    def test_a_late_direct_answer_counts_and_is_compared(self):
        self.start({"r6": ["late"]}, direct_patience=0.2)
        put = self.put("r6")
        self.assertEqual((put.outcome, put.path, put.version), (OK, FALLBACK_PATH, 1))
        deadline = time.monotonic() + 1
        while self.connection.late_replies == 0 and time.monotonic() < deadline:
            self.connection.poll(0.05)
        self.assertEqual(self.connection.late_replies, 1)
        self.assertEqual(self.connection.conflicting_replies, 0)
        self.assertEqual(self.grid.applied, 1)

    def test_conflicting_replies_are_counted(self):
        self.start()
        op = Op(PUT, "r1", value=b"v", outcome=OK, version=3)
        correlation = wire.encode_correlation(99)
        self.connection.recent[correlation] = op
        self.connection._late(wire.Reply(correlation, 200, b"4", 4, "u", b"SGC02"))
        self.assertEqual(self.connection.conflicting_replies, 1)
        self.assertNotIn(correlation, self.connection.recent)

    def test_floor_counts_requests_on_both_paths(self):
        self.start({"r1": ["silent"] * 50}, direct_patience=10, give_up_after=10)
        first = self.connection.submit(Op(PUT, "r1", value=b"a"), "put", [b"a"])
        self.connection.call(Op(GET, "r2"), "get")
        self.connection.call(Op(GET, "r3"), "get")
        rids = sorted(wire.decode_rid(frames[2]) for frames in self.grid.direct_frames)  # two units: any order
        self.assertEqual([(sequence, floor) for sequence, floor, _ in rids], [(1, 1), (2, 1), (3, 1)])
        self.assertIsNone(first.complete)


class DirectWorkerTests(unittest.TestCase):
    def test_a_direct_worker_runs_the_same_mix(self):
        context = zmq.Context.instance()
        grid = FakeGrid(context, "direct-worker")
        grid.status["sections"].append(dict(grid.status["sections"][0], name="customer"))
        grid.start()
        self.addCleanup(grid.stop)
        worker = client.Worker(context, grid.broker_endpoint, "chaos-3-2", seed=3, direct=True)
        worker.start()
        threading.Event().wait(0.5)
        worker.stopping.set()
        worker.join(5)
        self.assertIsNone(worker.error)
        self.assertGreater(len(worker.history), 50)
        self.assertTrue(all(op.complete is not None for op in worker.history))
        self.assertTrue(all(op.path == DIRECT_PATH for op in worker.history))
        self.assertLessEqual({PUT, GET, TRADE}, {op.kind for op in worker.history})
        self.assertGreater(worker.connection.figures()["answered_direct"], 50)


if __name__ == "__main__":
    unittest.main()
